package main

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/weirmq/weir/examples/internal/weirtest"
	"github.com/weirmq/weir/sdk"
)

// The weir binary and the example's plugin, built once in TestMain.
var weirBin, pinningBin string

func TestMain(m *testing.M) {
	weirtest.Main(m, "assignor", func(dir, weir string) error {
		weirBin, pinningBin = weir, filepath.Join(dir, "pinning")
		return weirtest.BuildCommand(".", pinningBin)
	})
}

// The README's configuration: pinning is every classic group's assignor
// (weir.group.assignor), and KIP-848 members may ask for it by name.
const pinningConfig = `
[broker]
"weir.group.assignor"              = "pinning"
"group.initial.rebalance.delay.ms" = 0

[[plugins]]
name    = "pinning"
kind    = "assignor"
command = %q

[plugins.config.pins]
"pin-a" = [0, 1]
"pin-b" = [2]
`

// TestPinningAssignorLogic checks the assignor natively, without Weir.
func TestPinningAssignorLogic(t *testing.T) {
	a := &pinning{pins: map[string][]int32{"pin-a": {0, 1, 9}, "pin-b": {1, 2}}}
	in := sdk.AssignInput{
		Members: []sdk.GroupMember{
			{MemberID: "z", Topics: []string{"jobs", "other"}},
			{MemberID: "y", InstanceID: "pin-b", Topics: []string{"jobs"}},
			{MemberID: "x", InstanceID: "pin-a", Topics: []string{"jobs", "other"}},
		},
		Topics: map[string]sdk.TopicMetadata{"jobs": {Partitions: 5}, "other": {Partitions: 3}},
	}
	res, err := a.Assign(context.Background(), in)
	if err != nil {
		t.Fatal(err)
	}
	if err := res.Check(in); err != nil {
		t.Fatal(err)
	}
	// pin-a takes 0 and 1 (9 does not exist); pin-b's 1 is taken, so it
	// has 2; z, the one member without pins, gets the rest.
	want := sdk.Assignment{
		"x": {"jobs": {0, 1}, "other": {0, 1}},
		"y": {"jobs": {2}},
		"z": {"jobs": {3, 4}, "other": {2}},
	}
	if fmt.Sprint(res) != fmt.Sprint(want) {
		t.Errorf("assigned %v, want %v", res, want)
	}
}

// TestPinningAssignorThroughWeir follows the README: test the binary with
// `weir plugin test`, run Weir with it, and watch a classic group
// (franz-go static members, weir.group.assignor) and a KIP-848 group
// (members asking for the assignor by name) get the pinned partitions.
func TestPinningAssignorThroughWeir(t *testing.T) {
	dir := t.TempDir()
	group := filepath.Join(dir, "group.json")
	os.WriteFile(group, []byte(`{"members": [
		{"member_id": "m1", "instance_id": "pin-a", "topics": ["jobs"]},
		{"member_id": "m2", "instance_id": "pin-b", "topics": ["jobs"]},
		{"member_id": "m3", "topics": ["jobs"]}],
		"topics": {"jobs": {"partitions": 4}}}`), 0o644)
	out := (&weirtest.Node{Weir: weirBin}).MustRun(t, "", "plugin", "test", "--command", pinningBin,
		"--config", `{"pins": {"pin-a": [0, 1], "pin-b": [2]}}`, "--input", group)
	for _, want := range []string{"m1      pin-a     jobs   [0 1]", "m2      pin-b     jobs   [2]", "m3      -         jobs   [3]"} {
		if !strings.Contains(out, want) {
			t.Errorf("weir plugin test: no %q in\n%s", want, out)
		}
	}

	node := weirtest.StartIn(t, weirBin, dir, fmt.Sprintf(pinningConfig, pinningBin))
	node.MustRun(t, "", "topic", "create", "jobs", "--partitions", "4")
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()

	// The group config weir.assignor names it too (a name the broker does
	// not have is refused), here the same as the broker default.
	cl0 := node.Client(t)
	if code := setGroupAssignor(ctx, t, cl0, "reports", "pinning"); code != 0 {
		t.Fatalf("weir.assignor=pinning: %v", kerr.ErrorForCode(code))
	}
	if code := setGroupAssignor(ctx, t, cl0, "reports", "nope"); code != kerr.InvalidConfig.Code {
		t.Fatalf("weir.assignor=nope: %v, want INVALID_CONFIG", kerr.ErrorForCode(code))
	}

	// Classic group: the client-side balancer is franz-go's, but the
	// coordinator hands out the pinning assignor's answer.
	for _, id := range []string{"pin-a", "pin-b", ""} {
		opts := []kgo.Opt{kgo.ConsumerGroup("reports"), kgo.ConsumeTopics("jobs")}
		if id != "" {
			opts = append(opts, kgo.InstanceID(id))
		}
		cl := node.Client(t, opts...)
		go func() {
			for ctx.Err() == nil {
				cl.PollFetches(ctx)
			}
		}()
	}
	adm := node.Admin(t)
	want := map[string]string{"pin-a": "[0 1]", "pin-b": "[2]", "": "[3]"}
	var last string
	for {
		if got := classicAssignment(ctx, adm, "reports"); fmt.Sprint(got) == fmt.Sprint(want) {
			break
		} else if last = fmt.Sprint(got); ctx.Err() != nil {
			t.Fatalf("classic group: assignment %s, want %v\nnode log:\n%s", last, want, node.Log())
		}
		time.Sleep(100 * time.Millisecond)
	}

	// KIP-848 group: members name the assignor in their heartbeats. pin-a
	// is away, so its partitions go to the member without pins.
	topics, err := adm.ListTopics(ctx, "jobs")
	if err != nil {
		t.Fatal(err)
	}
	topicID := topics["jobs"].ID
	members := []*member848{{id: "m-b", instance: "pin-b"}, {id: "m-free"}}
	want848 := map[string]string{"m-b": "[2]", "m-free": "[0 1 3]"}
	cl := node.Client(t)
	for {
		got := map[string]string{}
		for _, m := range members {
			m.heartbeat(ctx, t, cl, topicID)
			got[m.id] = fmt.Sprint(m.owned)
		}
		if fmt.Sprint(got) == fmt.Sprint(want848) {
			break
		}
		if ctx.Err() != nil {
			t.Fatalf("KIP-848 group: assignment %v, want %v\nnode log:\n%s", got, want848, node.Log())
		}
		time.Sleep(50 * time.Millisecond)
	}

	if out := node.MustRun(t, "", "plugin", "list"); !strings.Contains(out, "pinning  assignor  command  closed") {
		t.Errorf("weir plugin list:\n%s", out)
	}
}

// setGroupAssignor sets the group config weir.assignor (Kafka's GROUP
// config resource) and returns the error code.
func setGroupAssignor(ctx context.Context, t *testing.T, cl *kgo.Client, group, assignor string) int16 {
	t.Helper()
	req := kmsg.NewPtrIncrementalAlterConfigsRequest()
	r := kmsg.NewIncrementalAlterConfigsRequestResource()
	r.ResourceType, r.ResourceName = kmsg.ConfigResourceTypeGroupConfig, group
	c := kmsg.NewIncrementalAlterConfigsRequestResourceConfig()
	c.Name, c.Op, c.Value = "weir.assignor", kmsg.IncrementalAlterConfigOpSet, &assignor
	r.Configs = append(r.Configs, c)
	req.Resources = append(req.Resources, r)
	resp, err := req.RequestWith(ctx, cl)
	if err != nil || len(resp.Resources) != 1 {
		t.Fatalf("IncrementalAlterConfigs: %v", err)
	}
	return resp.Resources[0].ErrorCode
}

// classicAssignment maps each member's instance id ("" for a dynamic
// member) to its partitions of jobs, once the group is stable.
func classicAssignment(ctx context.Context, adm *kadm.Client, group string) map[string]string {
	described, err := adm.DescribeGroups(ctx, group)
	if err != nil {
		return nil
	}
	g := described[group]
	if g.Err != nil || g.State != "Stable" {
		return nil
	}
	out := map[string]string{}
	for _, m := range g.Members {
		ca, ok := m.Assigned.AsConsumer()
		if !ok {
			return nil
		}
		var parts []int32
		for _, tp := range ca.Topics {
			if tp.Topic == "jobs" {
				parts = append(parts, tp.Partitions...)
			}
		}
		slices.Sort(parts)
		id := ""
		if m.InstanceID != nil {
			id = *m.InstanceID
		}
		out[id] = fmt.Sprint(parts)
	}
	return out
}

// member848 is a KIP-848 member driven by hand: it asks for the pinning
// assignor and owns whatever it was last assigned.
type member848 struct {
	id, instance string
	epoch        int32
	owned        []int32
}

func (m *member848) heartbeat(ctx context.Context, t *testing.T, cl *kgo.Client, topicID [16]byte) {
	t.Helper()
	req := kmsg.NewPtrConsumerGroupHeartbeatRequest()
	req.Group, req.MemberID, req.MemberEpoch = "live", m.id, m.epoch
	req.RebalanceTimeoutMillis = 30_000
	req.SubscribedTopicNames = []string{"jobs"}
	assignor := "pinning"
	req.ServerAssignor = &assignor
	if m.instance != "" {
		req.InstanceID = &m.instance
	}
	req.Topics = []kmsg.ConsumerGroupHeartbeatRequestTopic{}
	if len(m.owned) > 0 {
		req.Topics = append(req.Topics, kmsg.ConsumerGroupHeartbeatRequestTopic{TopicID: topicID, Partitions: m.owned})
	}
	resp, err := req.RequestWith(ctx, cl)
	if err != nil {
		t.Fatalf("heartbeat of %s: %v", m.id, err)
	}
	if err := kerr.ErrorForCode(resp.ErrorCode); err != nil {
		if kerr.IsRetriable(err) {
			return // the coordinator is loading; heartbeat again
		}
		t.Fatalf("heartbeat of %s: %v: %v", m.id, err, resp.ErrorMessage)
	}
	m.epoch = resp.MemberEpoch
	if resp.Assignment != nil {
		m.owned = nil
		for _, tp := range resp.Assignment.Topics {
			if tp.TopicID == topicID {
				m.owned = slices.Sorted(slices.Values(tp.Partitions))
			}
		}
	}
}
