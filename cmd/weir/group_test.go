package main

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// groupFixture is a topic with two partitions, p0 holding a b c d e
// (offsets 0-4) and p1 holding x y z (0-2), where d, e, y and z were
// produced at least 20ms after a, b, c and x; dAt is d's timestamp.
type groupFixture struct {
	seeds string
	topic string
	dAt   int64
}

func newGroupFixture(t *testing.T) groupFixture {
	t.Helper()
	seeds, _ := testCluster(t)
	topic := createTopic(t, seeds, "groups", 2)
	mustWeir(t, seeds, "a\nb\nc\n", "produce", topic, "--partition", "0")
	mustWeir(t, seeds, "x\n", "produce", topic, "--partition", "1")
	time.Sleep(20 * time.Millisecond)
	mustWeir(t, seeds, "d\ne\n", "produce", topic, "--partition", "0")
	mustWeir(t, seeds, "y\nz\n", "produce", topic, "--partition", "1")
	d := consumedJSON(t, seeds, topic, 1, "--partition", "0", "--from", "3")
	return groupFixture{seeds: seeds, topic: topic, dAt: d[0].Timestamp}
}

// joinAndCommit joins group as a consumer of topic, commits the given
// offsets (partition → offset) as that member, and returns a function that
// closes the client, which leaves the group. The client is closed when the
// test ends at the latest.
func joinAndCommit(t *testing.T, seeds, group, topic string, commits map[int32]int64) (leave func()) {
	t.Helper()
	assigned := make(chan struct{}, 1)
	cl, err := kgo.NewClient(
		kgo.SeedBrokers(strings.Split(seeds, ",")...),
		kgo.ClientID("weir-group-test"),
		kgo.ConsumerGroup(group),
		kgo.ConsumeTopics(topic),
		kgo.DisableAutoCommit(),
		kgo.OnPartitionsAssigned(func(context.Context, *kgo.Client, map[string][]int32) {
			select {
			case assigned <- struct{}{}:
			default:
			}
		}),
	)
	if err != nil {
		t.Fatal(err)
	}
	var once sync.Once
	leave = func() { once.Do(cl.Close) }
	t.Cleanup(leave)
	select {
	case <-assigned:
	case <-time.After(30 * time.Second):
		t.Fatalf("joining group %s: no partitions assigned after 30s", group)
	}
	offsets := map[string]map[int32]kgo.EpochOffset{topic: {}}
	for p, o := range commits {
		offsets[topic][p] = kgo.EpochOffset{Epoch: -1, Offset: o}
	}
	ctx, cancel := context.WithTimeout(t.Context(), 20*time.Second)
	defer cancel()
	var cerr error
	cl.CommitOffsetsSync(ctx, offsets, func(_ *kgo.Client, _ *kmsg.OffsetCommitRequest, resp *kmsg.OffsetCommitResponse, err error) {
		cerr = err
		for _, rt := range resp.Topics {
			for _, rp := range rt.Partitions {
				if e := kerr.ErrorForCode(rp.ErrorCode); e != nil && cerr == nil {
					cerr = fmt.Errorf("partition %d: %w", rp.Partition, e)
				}
			}
		}
	})
	if cerr != nil {
		t.Fatalf("committing %v for group %s: %v", commits, group, cerr)
	}
	return leave
}

// describeJSON runs `group describe --format json` for one group.
func describeJSON(t *testing.T, seeds, group string) groupDescription {
	t.Helper()
	out := mustWeir(t, seeds, "", "group", "describe", group, "--format", "json")
	var ds []groupDescription
	if err := json.Unmarshal([]byte(out), &ds); err != nil || len(ds) != 1 {
		t.Fatalf("describe --format json printed %q: %v", out, err)
	}
	return ds[0]
}

// committed returns the group's committed offsets of topic as "p=o"
// strings, sorted.
func committed(t *testing.T, seeds, group, topic string) []string {
	t.Helper()
	var got []string
	for _, o := range describeJSON(t, seeds, group).Offsets {
		if o.Topic == topic && o.Committed != nil {
			got = append(got, fmt.Sprintf("%d=%d", o.Partition, *o.Committed))
		}
	}
	slices.Sort(got)
	return got
}

// offsetRows returns the rows of a table of `group describe` or
// `group reset-offsets` whose first field is topic, each as its fields.
func offsetRows(out, topic string) [][]string {
	var rows [][]string
	for _, line := range strings.Split(out, "\n") {
		if f := strings.Fields(line); len(f) > 0 && f[0] == topic {
			rows = append(rows, f)
		}
	}
	return rows
}

func TestGroupDescribeShowsCommittedOffsetsLagAndMembers(t *testing.T) {
	fx := newGroupFixture(t)
	group := uniqueTopic(t, "described")
	leave := joinAndCommit(t, fx.seeds, group, fx.topic, map[int32]int64{0: 3})

	// Active: one member owns both partitions.
	out := mustWeir(t, fx.seeds, "", "group", "describe", group)
	for _, want := range []string{"Group: " + group, "State: Stable", "Protocol type: consumer", "Members: 1",
		"weir-group-test", fx.topic + ":0,1", "Total lag: 5"} {
		if !strings.Contains(out, want) {
			t.Fatalf("describe of the active group lacks %q:\n%s", want, out)
		}
	}
	d := describeJSON(t, fx.seeds, group)
	if len(d.Members) != 1 || d.Members[0].ClientID != "weir-group-test" || d.Members[0].InstanceID != nil ||
		len(d.Members[0].Assignment) != 1 || !slices.Equal(d.Members[0].Assignment[0].Partitions, []int32{0, 1}) {
		t.Fatalf("describe --format json members: %+v", d.Members)
	}
	for _, o := range d.Offsets {
		if o.MemberID == nil || *o.MemberID != d.Members[0].MemberID {
			t.Fatalf("partition %d not shown as assigned to %s: %+v", o.Partition, d.Members[0].MemberID, o)
		}
	}

	// Empty: the committed offsets stay, no member.
	leave()
	eventually(t, func() string {
		if d := describeJSON(t, fx.seeds, group); d.State != "Empty" {
			return "group state " + d.State + " after its member left, want Empty"
		}
		return ""
	})
	out = mustWeir(t, fx.seeds, "", "group", "describe", group)
	// TOPIC PARTITION COMMITTED LOG-END LAG MEMBER-ID
	rows := offsetRows(out, fx.topic)
	want := [][]string{{fx.topic, "0", "3", "5", "2", "-"}, {fx.topic, "1", "-", "3", "3", "-"}}
	if !slices.EqualFunc(rows, want, slices.Equal) {
		t.Fatalf("offset rows %q, want %q:\n%s", rows, want, out)
	}
	if !strings.Contains(out, "State: Empty") || !strings.Contains(out, "Members: 0") || !strings.Contains(out, "Total lag: 5\n") {
		t.Fatalf("describe of the empty group:\n%s", out)
	}
	d = describeJSON(t, fx.seeds, group)
	if d.TotalLag != 5 || len(d.Members) != 0 || len(d.Offsets) != 2 {
		t.Fatalf("describe --format json: %+v", d)
	}
	if o := d.Offsets[0]; *o.Committed != 3 || *o.LogEnd != 5 || *o.Lag != 2 || o.MemberID != nil {
		t.Fatalf("partition 0: %+v", o)
	}
	if o := d.Offsets[1]; o.Committed != nil || *o.LogEnd != 3 || *o.Lag != 3 {
		t.Fatalf("partition 1: %+v", o)
	}
}

func TestGroupDescribeReportsMissingGroups(t *testing.T) {
	fx := newGroupFixture(t)
	group := uniqueTopic(t, "present")
	joinAndCommit(t, fx.seeds, group, fx.topic, map[int32]int64{1: 2})()
	missing := uniqueTopic(t, "missing")

	wantError(t, runWeir(t, fx.seeds, "", "group", "describe", missing), "GROUP_ID_NOT_FOUND", missing)
	r := runWeir(t, fx.seeds, "", "group", "describe", group, missing)
	wantError(t, r, "GROUP_ID_NOT_FOUND", missing)
	if !strings.Contains(r.stdout, "Group: "+group) || strings.Contains(r.stdout, missing) {
		t.Fatalf("describe of a present and a missing group printed:\n%s", r.stdout)
	}
	r = runWeir(t, fx.seeds, "", "group", "describe", missing, "--format", "json")
	if r.err == nil || strings.TrimSpace(r.stdout) != "[]" {
		t.Fatalf("describe --format json of a missing group: %v, printed %q", r.err, r.stdout)
	}
}

func TestGroupListFiltersByState(t *testing.T) {
	fx := newGroupFixture(t)
	empty := uniqueTopic(t, "empty")
	joinAndCommit(t, fx.seeds, empty, fx.topic, map[int32]int64{0: 1})()
	stable := uniqueTopic(t, "stable")
	joinAndCommit(t, fx.seeds, stable, fx.topic, map[int32]int64{0: 1})

	eventually(t, func() string {
		out := mustWeir(t, fx.seeds, "", "group", "list")
		e, s := listRow(out, empty), listRow(out, stable)
		if len(e) != 4 || e[1] != "Empty" || e[2] != "consumer" || len(s) != 4 || s[1] != "Stable" {
			return "group list, want " + empty + " Empty consumer and " + stable + " Stable:\n" + out
		}
		return ""
	})
	out := mustWeir(t, fx.seeds, "", "group", "list", "--state", "empty")
	if listRow(out, empty) == nil || listRow(out, stable) != nil {
		t.Fatalf("group list --state empty:\n%s", out)
	}
	out = mustWeir(t, fx.seeds, "", "group", "list", "--state", "Stable,PreparingRebalance")
	if listRow(out, empty) != nil || listRow(out, stable) == nil {
		t.Fatalf("group list --state Stable,PreparingRebalance:\n%s", out)
	}

	out = mustWeir(t, fx.seeds, "", "group", "list", "--format", "json", "--state", "Empty", "--state", "Stable")
	var gs []listedGroup
	if err := json.Unmarshal([]byte(out), &gs); err != nil {
		t.Fatalf("group list --format json printed %q: %v", out, err)
	}
	states := map[string]string{}
	for _, g := range gs {
		states[g.Group] = g.State + "/" + g.ProtocolType
	}
	if states[empty] != "Empty/consumer" || states[stable] != "Stable/consumer" {
		t.Fatalf("group list --format json: %+v", gs)
	}
}

func TestGroupResetOffsetsEveryMode(t *testing.T) {
	fx := newGroupFixture(t)
	group := uniqueTopic(t, "reset")
	joinAndCommit(t, fx.seeds, group, fx.topic, map[int32]int64{0: 3})()
	reset := func(args ...string) result {
		return runWeir(t, fx.seeds, "", append([]string{"group", "reset-offsets", group, "--topic", fx.topic}, args...)...)
	}
	// consumedFrom checks that a new member of the group reads exactly the
	// records at want ("p/o"), and then commits past them.
	consumedFrom := func(want ...string) {
		t.Helper()
		var got []string
		for _, r := range consumedJSON(t, fx.seeds, fx.topic, len(want), "--group", group) {
			got = append(got, fmt.Sprintf("%d/%d", r.Partition, r.Offset))
		}
		slices.Sort(got)
		if !slices.Equal(got, want) {
			t.Fatalf("the group then consumed %q, want %q", got, want)
		}
	}

	for _, tc := range []struct {
		name     string
		args     []string
		before   []string   // committed offsets before, "p=o"
		plan     [][]string // PARTITION CURRENT NEW [NOTE...]
		after    []string
		consumed []string // what a new member then reads
	}{{
		name: "to-earliest", args: []string{"--to-earliest"},
		before:   []string{"0=3"},
		plan:     [][]string{{"0", "3", "0"}, {"1", "-", "0"}},
		after:    []string{"0=0", "1=0"},
		consumed: []string{"0/0", "0/1", "0/2", "0/3", "0/4", "1/0", "1/1", "1/2"},
	}, {
		name: "to-offset", args: []string{"--to-offset", "2"},
		before:   []string{"0=5", "1=3"},
		plan:     [][]string{{"0", "5", "2"}, {"1", "3", "2"}},
		after:    []string{"0=2", "1=2"},
		consumed: []string{"0/2", "0/3", "0/4", "1/2"},
	}, {
		name: "to-timestamp", args: []string{"--to-timestamp", strconv.FormatInt(fx.dAt, 10)},
		before:   []string{"0=5", "1=3"},
		plan:     [][]string{{"0", "5", "3"}, {"1", "3", "1"}},
		after:    []string{"0=3", "1=1"},
		consumed: []string{"0/3", "0/4", "1/1", "1/2"},
	}, {
		name: "shift-by one partition", args: []string{"--shift-by", "-2", "--partition", "0"},
		before:   []string{"0=5", "1=3"},
		plan:     [][]string{{"0", "5", "3"}},
		after:    []string{"0=3", "1=3"},
		consumed: []string{"0/3", "0/4"},
	}, {
		name: "shift-by clamped", args: []string{"--shift-by", "-100"},
		before: []string{"0=5", "1=3"},
		plan: [][]string{{"0", "5", "0", "(-95", "is", "before", "the", "log", "start:", "clamped)"},
			{"1", "3", "0", "(-97", "is", "before", "the", "log", "start:", "clamped)"}},
		after:    []string{"0=0", "1=0"},
		consumed: []string{"0/0", "0/1", "0/2", "0/3", "0/4", "1/0", "1/1", "1/2"},
	}, {
		name: "to-offset clamped", args: []string{"--to-offset", "4"},
		before:   []string{"0=5", "1=3"},
		plan:     [][]string{{"0", "5", "4"}, {"1", "3", "3", "(4", "is", "past", "the", "log", "end:", "clamped)"}},
		after:    []string{"0=4", "1=3"},
		consumed: []string{"0/4"},
	}, {
		name: "to-latest", args: []string{"--to-latest"},
		before: []string{"0=5", "1=3"},
		plan:   [][]string{{"0", "5", "5"}, {"1", "3", "3"}},
		after:  []string{"0=5", "1=3"},
	}} {
		t.Run(tc.name, func(t *testing.T) {
			if got := committed(t, fx.seeds, group, fx.topic); !slices.Equal(got, tc.before) {
				t.Fatalf("committed before: %q, want %q", got, tc.before)
			}
			var want [][]string
			for _, p := range tc.plan {
				want = append(want, append([]string{fx.topic}, p...))
			}
			// The dry run prints the plan and changes nothing.
			r := reset(tc.args...)
			if r.err != nil {
				t.Fatalf("dry run: %v\n%s", r.err, r.stderr)
			}
			if got := offsetRows(r.stdout, fx.topic); !slices.EqualFunc(got, want, slices.Equal) {
				t.Fatalf("dry run plan %q, want %q:\n%s", got, want, r.stdout)
			}
			if !strings.Contains(r.stderr, "dry run: nothing was committed") {
				t.Fatalf("dry run stderr: %q", r.stderr)
			}
			if got := committed(t, fx.seeds, group, fx.topic); !slices.Equal(got, tc.before) {
				t.Fatalf("committed after the dry run: %q, want unchanged %q", got, tc.before)
			}
			// --execute commits the same plan.
			r = reset(append(tc.args, "--execute")...)
			if r.err != nil {
				t.Fatalf("--execute: %v\n%s", r.err, r.stderr)
			}
			if got := offsetRows(r.stdout, fx.topic); !slices.EqualFunc(got, want, slices.Equal) {
				t.Fatalf("--execute plan %q, want %q:\n%s", got, want, r.stdout)
			}
			if got := committed(t, fx.seeds, group, fx.topic); !slices.Equal(got, tc.after) {
				t.Fatalf("committed after --execute: %q, want %q", got, tc.after)
			}
			if tc.consumed != nil {
				consumedFrom(tc.consumed...)
			}
		})
	}
	// After --to-latest the group reads only what is produced afterwards.
	mustWeir(t, fx.seeds, "f\n", "produce", fx.topic, "--partition", "0")
	consumedFrom("0/5")
}

func TestGroupResetOffsetsShiftByNeedsACommittedOffset(t *testing.T) {
	fx := newGroupFixture(t)
	group := uniqueTopic(t, "fresh")
	r := runWeir(t, fx.seeds, "", "group", "reset-offsets", group, "--topic", fx.topic, "--shift-by", "1")
	wantError(t, r, "partition 0 has no committed offset to shift")
	// A group that does not exist yet is created by --execute.
	mustWeir(t, fx.seeds, "", "group", "reset-offsets", group, "--topic", fx.topic, "--partition", "1", "--to-offset", "1", "--execute")
	if got := committed(t, fx.seeds, group, fx.topic); !slices.Equal(got, []string{"1=1"}) {
		t.Fatalf("committed %q, want [1=1]", got)
	}
	t.Cleanup(func() { runWeir(t, fx.seeds, "", "group", "delete", group, "--if-exists") })
	missing := uniqueTopic(t, "missing")
	wantError(t, runWeir(t, fx.seeds, "", "group", "reset-offsets", group, "--topic", missing, "--to-earliest"),
		"UNKNOWN_TOPIC_OR_PARTITION", missing)
	wantError(t, runWeir(t, fx.seeds, "", "group", "reset-offsets", group, "--topic", fx.topic, "--partition", "5", "--to-earliest"),
		"no partition 5", "UNKNOWN_TOPIC_OR_PARTITION")
}

func TestGroupWithActiveMembersCannotBeResetOrDeleted(t *testing.T) {
	fx := newGroupFixture(t)
	group := uniqueTopic(t, "active")
	leave := joinAndCommit(t, fx.seeds, group, fx.topic, map[int32]int64{0: 1})
	before := []string{"0=1"}

	r := runWeir(t, fx.seeds, "", "group", "reset-offsets", group, "--topic", fx.topic, "--to-earliest", "--execute")
	wantError(t, r, "is Stable with 1 active member", "stop its consumers")
	if r.stdout != "" {
		t.Fatalf("a refused --execute printed a plan:\n%s", r.stdout)
	}
	r = runWeir(t, fx.seeds, "", "group", "reset-offsets", group, "--topic", fx.topic, "--to-latest")
	if r.err != nil || !strings.Contains(r.stderr, "--execute will refuse") {
		t.Fatalf("dry run of an active group: %v, stderr %q", r.err, r.stderr)
	}
	if got := committed(t, fx.seeds, group, fx.topic); !slices.Equal(got, before) {
		t.Fatalf("committed %q, want unchanged %q", got, before)
	}
	wantError(t, runWeir(t, fx.seeds, "", "group", "delete", group), "NON_EMPTY_GROUP", "active members", group)

	leave()
	eventually(t, func() string {
		r := runWeir(t, fx.seeds, "", "group", "delete", group)
		if r.err != nil || !strings.Contains(r.stdout, "deleted group "+group) {
			return fmt.Sprintf("delete after the member left: %v, printed %q", r.err, r.stdout)
		}
		return ""
	})
	if out := mustWeir(t, fx.seeds, "", "group", "list"); listRow(out, group) != nil {
		t.Fatalf("group list still shows the deleted group:\n%s", out)
	}
	wantError(t, runWeir(t, fx.seeds, "", "group", "describe", group), "GROUP_ID_NOT_FOUND")
	wantError(t, runWeir(t, fx.seeds, "", "group", "delete", group), "GROUP_ID_NOT_FOUND", group)
	mustWeir(t, fx.seeds, "", "group", "delete", group, "--if-exists")
}

func TestGroupUsageMistakesPrintTheUsage(t *testing.T) {
	seeds, _ := testCluster(t)
	for _, args := range [][]string{
		{"group", "nosuchcommand"},
		{"group", "list", "--state", "Sleeping"},
		{"group", "list", "--format", "xml"},
		{"group", "list", "extra"},
		{"group", "describe"},
		{"group", "describe", "g", "--format", "yaml"},
		{"group", "delete"},
		{"group", "reset-offsets", "g", "--topic", "t"},
		{"group", "reset-offsets", "g", "--topic", "t", "--to-earliest", "--to-latest"},
		{"group", "reset-offsets", "g", "--topic", "t", "--to-offset", "3", "--shift-by", "1"},
		{"group", "reset-offsets", "g", "--to-earliest"},
		{"group", "reset-offsets", "--topic", "t", "--to-earliest"},
		{"group", "reset-offsets", "g", "--topic", "t", "--to-offset", "-1"},
		{"group", "reset-offsets", "g", "--topic", "t", "--to-timestamp", "-5"},
		{"group", "reset-offsets", "g", "--topic", "t", "--to-earliest", "--partition", "-2"},
	} {
		r := runWeir(t, seeds, "", args...)
		if r.err == nil {
			t.Errorf("weir %s: succeeded, want a usage error", strings.Join(args, " "))
			continue
		}
		if !strings.Contains(r.stderr, "Usage:") {
			t.Errorf("weir %s: %v; no usage on stderr:\n%s", strings.Join(args, " "), r.err, r.stderr)
		}
	}
}

func TestPlanReset(t *testing.T) {
	ps := []partitionState{
		{partition: 0, committed: 7, logStart: 2, logEnd: 10, atTime: 6},
		{partition: 1, committed: -1, logStart: 0, logEnd: 4, atTime: 4},
	}
	for _, tc := range []struct {
		target resetTarget
		want   []resetRow
		err    string
	}{
		{target: resetTarget{kind: resetToEarliest}, want: []resetRow{{0, 7, 2, ""}, {1, -1, 0, ""}}},
		{target: resetTarget{kind: resetToLatest}, want: []resetRow{{0, 7, 10, ""}, {1, -1, 4, ""}}},
		{target: resetTarget{kind: resetToTimestamp, value: 1}, want: []resetRow{{0, 7, 6, ""}, {1, -1, 4, ""}}},
		{target: resetTarget{kind: resetToOffset, value: 3}, want: []resetRow{{0, 7, 3, ""}, {1, -1, 3, ""}}},
		{target: resetTarget{kind: resetToOffset, value: 1}, want: []resetRow{
			{0, 7, 2, "1 is before the log start: clamped"}, {1, -1, 1, ""}}},
		{target: resetTarget{kind: resetToOffset, value: 11}, want: []resetRow{
			{0, 7, 10, "11 is past the log end: clamped"}, {1, -1, 4, "11 is past the log end: clamped"}}},
		{target: resetTarget{kind: resetShiftBy, value: 1}, err: "partition 1 has no committed offset"},
	} {
		got, err := planReset(tc.target, ps)
		if tc.err != "" {
			if err == nil || !strings.Contains(err.Error(), tc.err) {
				t.Errorf("%+v: error %v, want %q", tc.target, err, tc.err)
			}
			continue
		}
		if err != nil || !slices.Equal(got, tc.want) {
			t.Errorf("%+v: %+v, %v; want %+v", tc.target, got, err, tc.want)
		}
	}
	shift := []partitionState{{partition: 0, committed: 5, logStart: 0, logEnd: 8}}
	for _, tc := range []struct {
		by   int64
		want resetRow
	}{
		{2, resetRow{0, 5, 7, ""}},
		{-5, resetRow{0, 5, 0, ""}},
		{-6, resetRow{0, 5, 0, "-1 is before the log start: clamped"}},
		{1 << 62, resetRow{0, 5, 8, fmt.Sprintf("%d is past the log end: clamped", int64(5+1<<62))}},
		{9223372036854775807, resetRow{0, 5, 8, "9223372036854775807 is past the log end: clamped"}},
	} {
		got, err := planReset(resetTarget{kind: resetShiftBy, value: tc.by}, shift)
		if err != nil || len(got) != 1 || got[0] != tc.want {
			t.Errorf("--shift-by %d: %+v, %v; want %+v", tc.by, got, err, tc.want)
		}
	}
}
