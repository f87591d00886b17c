package group

import (
	"context"
	"log/slog"
	"maps"
	"reflect"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/weirmq/weir/assignors"
	"github.com/weirmq/weir/sdk"
)

// Server-side assignment of classic groups: the state machine with an
// assignor configured, and the coordinator handing the assignor's answer
// out in SyncGroup whatever the leader sent.

// subscription is a ConsumerMemberMetadata at version v subscribing to
// topics, with the fields of later versions: owned partitions (v1+), the
// generation (v2+) and the rack (v3+; "" for none).
func subscription(v int16, generation int32, rack string, owned map[string][]int32, userData []byte, topics ...string) []byte {
	m := kmsg.NewConsumerMemberMetadata()
	m.Version, m.Topics, m.UserData, m.Generation = v, topics, userData, generation
	for _, t := range slices.Sorted(maps.Keys(owned)) {
		m.OwnedPartitions = append(m.OwnedPartitions, kmsg.ConsumerMemberMetadataOwnedPartition{Topic: t, Partitions: owned[t]})
	}
	if rack != "" {
		m.Rack = &rack
	}
	return m.AppendTo(nil)
}

// assignedTo decodes a member's ConsumerMemberAssignment: its version and
// partitions by topic.
func assignedTo(t *testing.T, b []byte) (int16, map[string][]int32) {
	t.Helper()
	var a kmsg.ConsumerMemberAssignment
	if err := a.ReadFrom(b); err != nil {
		t.Fatalf("assignment %q does not decode: %v", b, err)
	}
	out := map[string][]int32{}
	for _, tp := range a.Topics {
		out[tp.Topic] = append(out[tp.Topic], tp.Partitions...)
	}
	return a.Version, out
}

// spyAssignor records what it is asked and answers with inner.
type spyAssignor struct {
	name  string
	inner sdk.Assignor
	mu    sync.Mutex
	last  sdk.AssignInput
	calls int
}

func (s *spyAssignor) Name() string { return s.name }

func (s *spyAssignor) Assign(ctx context.Context, in sdk.AssignInput) (sdk.Assignment, error) {
	s.mu.Lock()
	s.last, s.calls = in, s.calls+1
	s.mu.Unlock()
	return s.inner.Assign(ctx, in)
}

func (s *spyAssignor) member(t *testing.T, id string) sdk.GroupMember {
	t.Helper()
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, m := range s.last.Members {
		if m.MemberID == id {
			return m
		}
	}
	t.Fatalf("the assignor was not told of member %s: %+v", id, s.last.Members)
	return sdk.GroupMember{}
}

// greedyAssignor breaks the contract: every member gets partition 0 of
// every topic it subscribes to.
type greedyAssignor struct{}

func (greedyAssignor) Name() string { return "greedy" }

func (greedyAssignor) Assign(_ context.Context, in sdk.AssignInput) (sdk.Assignment, error) {
	out := sdk.Assignment{}
	for _, m := range in.Members {
		out[m.MemberID] = sdk.TopicPartitions{}
		for _, t := range m.Topics {
			out[m.MemberID][t] = []int32{0}
		}
	}
	return out, nil
}

// serverSide gives the state machine server-side assignment: the group's
// assignor is *name (read at each rebalance), the built-ins and extra are
// registered, and topics exist with the partition counts given.
func (s *sm) serverSide(name *string, topics map[string]int32, extra ...sdk.Assignor) {
	s.t.Helper()
	reg := sdk.NewRegistry()
	if err := assignors.Register(reg); err != nil {
		s.t.Fatal(err)
	}
	for _, a := range extra {
		if err := reg.RegisterAssignor(a); err != nil {
			s.t.Fatal(err)
		}
	}
	ft := newFakeTopics()
	for n, p := range topics {
		ft.set(n, p)
	}
	s.assign = &assignEnv{ctx: context.Background(), assignor: func(string) string { return *name }, assignors: reg, topics: ft.snapshot}
}

// joinAs is a join of a consumer member with one protocol and its
// metadata.
func (s *sm) joinAs(memberID, protocol string, meta []byte) (joinResult, chan joinResult) {
	s.t.Helper()
	r := s.joinReq(memberID, "")
	r.protocols = []kmsg.JoinGroupRequestProtocol{{Name: protocol, Metadata: meta}}
	return s.join(r)
}

// rebalance has every member rejoin (the leader first, which starts the
// rebalance in a stable group) with the metadata meta gives it, then
// sync.
func (s *sm) rebalance(ids []string, protocol string, meta func(id string) []byte) {
	s.t.Helper()
	var waits []chan joinResult
	for _, id := range ids {
		_, w := s.joinAs(id, protocol, meta(id))
		waits = append(waits, w)
	}
	for _, w := range waits {
		if r := answered(s.t, w); r.err != nil {
			s.t.Fatalf("rejoin: %v", r.err)
		}
	}
	s.syncAll(ids)
}

// TestClassicServerSideAssignmentOverridesLeader: a two-member group with
// weir.assignor=range gets range's layout although the leader gives
// itself every partition; without the config the leader's assignment
// stands again, and with an unknown assignor too (logged once).
func TestClassicServerSideAssignmentOverridesLeader(t *testing.T) {
	topics := newFakeTopics()
	topics.set("orders", 4)
	reg := sdk.NewRegistry()
	if err := assignors.Register(reg); err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	assignor := "range"
	logs := &recordingHandler{}
	f := newFixtureWith(t, nil, func(o *Options) {
		o.Topics, o.Assignors = topics.snapshot, reg
		o.ClassicAssignor = func(group string) string {
			mu.Lock()
			defer mu.Unlock()
			if group != "g" {
				t.Errorf("assignor asked for group %q", group)
			}
			return assignor
		}
		o.Logger = slog.New(logs)
	})
	setAssignor := func(name string) {
		mu.Lock()
		defer mu.Unlock()
		assignor = name
	}
	f.cfg.InitialRebalanceDelay = time.Second
	req := func(member string) *kmsg.JoinGroupRequest {
		r := joinReq("g", member, "", 5)
		r.Protocols = []kmsg.JoinGroupRequestProtocol{{Name: "roundrobin", Metadata: subscription(1, -1, "", nil, nil, "orders")}}
		return r
	}
	everything := kmsg.NewConsumerMemberAssignment()
	everything.Version = 1
	everything.Topics = []kmsg.ConsumerMemberAssignmentTopic{{Topic: "orders", Partitions: []int32{0, 1, 2, 3}}}
	nothing := kmsg.NewConsumerMemberAssignment()
	nothing.Version = 1
	leaderTakesAll := func(leader, follower string) map[string]string {
		return map[string]string{leader: string(everything.AppendTo(nil)), follower: string(nothing.AppendTo(nil))}
	}

	ja, jb := f.joinAsync(req("")), f.joinAsync(req(""))
	waitFor(t, "both joins parked", func() bool { return f.parked("g") == 2 })
	f.clock.Advance(2 * time.Second)
	ra, rb := recv(t, ja), recv(t, jb)
	if ra.ErrorCode != 0 || rb.ErrorCode != 0 || ra.Generation != 1 {
		t.Fatalf("joins: %+v / %+v", ra, rb)
	}
	leader, follower := ra.MemberID, rb.MemberID
	if rb.LeaderID == rb.MemberID {
		leader, follower = follower, leader
	}
	sf := f.syncAsync("g", follower, 1, nil)
	waitFor(t, "follower's sync parked", func() bool { return f.parked("g") == 1 })
	sl := f.syncAsync("g", leader, 1, leaderTakesAll(leader, follower))
	got := map[string][]byte{leader: recv(t, sl).MemberAssignment, follower: recv(t, sf).MemberAssignment}

	// Range orders dynamic members by member id.
	first, second := min(leader, follower), max(leader, follower)
	want := map[string]map[string][]int32{first: {"orders": {0, 1}}, second: {"orders": {2, 3}}}
	for id, b := range got {
		v, parts := assignedTo(t, b)
		if v != 1 || !reflect.DeepEqual(parts, want[id]) {
			t.Errorf("member %s got v%d %v, want v1 %v (range)", id, v, parts, want[id])
		}
	}
	// The log and DescribeGroups have the assignment handed out.
	recs := f.store.records(t)
	var val kmsg.GroupMetadataValue
	if err := val.ReadFrom(recs[len(recs)-1].Value); err != nil {
		t.Fatal(err)
	}
	for _, m := range val.Members {
		if string(m.Assignment) != string(got[m.MemberID]) {
			t.Errorf("stored assignment of %s is not the one handed out", m.MemberID)
		}
	}
	d := f.c.DescribeGroup("g", 5)
	for _, m := range d.Members {
		if string(m.MemberAssignment) != string(got[m.MemberID]) {
			t.Errorf("described assignment of %s is not the one handed out", m.MemberID)
		}
	}

	// rebalance has both members rejoin and the leader give itself
	// everything; it returns what each got.
	gen := int32(1)
	rebalance := func() map[string][]byte {
		t.Helper()
		gen++
		jl := f.joinAsync(req(leader))
		waitFor(t, "leader's rejoin parked", func() bool { return f.parked("g") == 1 })
		jf := f.joinAsync(req(follower))
		if rl, rf := recv(t, jl), recv(t, jf); rl.Generation != gen || rf.Generation != gen || rl.LeaderID != leader {
			t.Fatalf("rejoins: %+v / %+v", rl, rf)
		}
		sf := f.syncAsync("g", follower, gen, nil)
		waitFor(t, "follower's sync parked", func() bool { return f.parked("g") == 1 })
		sl := f.syncAsync("g", leader, gen, leaderTakesAll(leader, follower))
		return map[string][]byte{leader: recv(t, sl).MemberAssignment, follower: recv(t, sf).MemberAssignment}
	}
	leadersOwn := func(what string, got map[string][]byte) {
		t.Helper()
		if string(got[leader]) != string(everything.AppendTo(nil)) || string(got[follower]) != string(nothing.AppendTo(nil)) {
			t.Errorf("%s: the members did not get the leader's assignment", what)
		}
	}

	setAssignor("")
	leadersOwn("without weir.assignor", rebalance())
	if n := logs.count("server-side assignment failed"); n != 0 {
		t.Errorf("%d failures logged", n)
	}
	setAssignor("nope")
	leadersOwn("with an unknown assignor", rebalance())
	leadersOwn("with an unknown assignor again", rebalance())
	if n := logs.count("server-side assignment failed"); n != 1 {
		t.Errorf("the failure was logged %d times, want once", n)
	}
}

// recordingHandler is a slog.Handler that keeps the messages logged.
type recordingHandler struct {
	mu   sync.Mutex
	msgs []string
}

func (h *recordingHandler) Enabled(context.Context, slog.Level) bool { return true }
func (h *recordingHandler) WithAttrs([]slog.Attr) slog.Handler       { return h }
func (h *recordingHandler) WithGroup(string) slog.Handler            { return h }

func (h *recordingHandler) Handle(_ context.Context, r slog.Record) error {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.msgs = append(h.msgs, r.Message)
	return nil
}

func (h *recordingHandler) count(prefix string) int {
	h.mu.Lock()
	defer h.mu.Unlock()
	n := 0
	for _, m := range h.msgs {
		if strings.HasPrefix(m, prefix) {
			n++
		}
	}
	return n
}

// TestClassicServerSideInput: the assignor is told what each member's
// subscription says, at every version, and an eager member's last
// assignment stands for what it owned; each member's assignment comes
// back at its subscription's version.
func TestClassicServerSideInput(t *testing.T) {
	s := newSM(t)
	spy := &spyAssignor{name: "spy", inner: assignors.NewRange()}
	name := "spy"
	s.serverSide(&name, map[string]int32{"t": 4, "other": 2}, spy)
	metaA := subscription(3, 7, "r1", map[string][]int32{"t": {1}}, []byte("ud"), "t", "missing")
	metaB := subscription(0, -1, "", nil, nil, "t")

	_, wa := s.joinAs("", "roundrobin", metaA)
	a := answered(t, wa).memberID
	s.syncAll([]string{a})
	_, wb := s.joinAs("", "roundrobin", metaB)
	_, wa = s.joinAs(a, "roundrobin", metaA)
	b := answered(t, wb).memberID
	answered(t, wa)
	if a > b {
		t.Fatalf("member ids %s, %s: the test expects the first to sort first", a, b)
	}
	s.syncAll([]string{a, b})
	meta := func(id string) []byte {
		if id == a {
			return metaA
		}
		return metaB
	}

	ma := spy.member(t, a)
	wantA := sdk.GroupMember{MemberID: a, Rack: "r1", Topics: []string{"t", "missing"}, UserData: []byte("ud"),
		Owned: sdk.TopicPartitions{"t": {1}}, Generation: 7}
	if !reflect.DeepEqual(ma, wantA) {
		t.Errorf("member A as the assignor saw it:\n got %+v\nwant %+v", ma, wantA)
	}
	if mb := spy.member(t, b); mb.Owned != nil || mb.Generation != -1 || mb.Rack != "" || !slices.Equal(mb.Topics, []string{"t"}) {
		t.Errorf("member B (new, v0) as the assignor saw it: %+v", mb)
	}
	spy.mu.Lock()
	if want := map[string]sdk.TopicMetadata{"t": {Partitions: 4}}; !reflect.DeepEqual(spy.last.Topics, want) {
		t.Errorf("topics %+v, want %+v (only those subscribed to that exist)", spy.last.Topics, want)
	}
	spy.mu.Unlock()
	va, pa := assignedTo(t, s.g.members[a].assignment)
	vb, pb := assignedTo(t, s.g.members[b].assignment)
	if va != 3 || vb != 0 {
		t.Errorf("assignment versions %d and %d, want 3 and 0 (the subscriptions')", va, vb)
	}
	if !reflect.DeepEqual(pa, map[string][]int32{"t": {0, 1}}) || !reflect.DeepEqual(pb, map[string][]int32{"t": {2, 3}}) {
		t.Errorf("assignments %v and %v, want range's", pa, pb)
	}

	// Another rebalance: B, eager with a v0 subscription, owned what it
	// was given last generation.
	s.rebalance([]string{a, b}, "roundrobin", meta)
	if mb := spy.member(t, b); !reflect.DeepEqual(mb.Owned, sdk.TopicPartitions{"t": {2, 3}}) || mb.Generation != s.g.generation-1 {
		t.Errorf("eager member B as the assignor saw it: owned %v in generation %d; want [2 3] in %d", mb.Owned, mb.Generation, s.g.generation-1)
	}
}

// TestClassicServerSideCooperative: with a cooperative protocol, a
// partition the assignor moves is given to nobody while its owner still
// lists it; once the owner has revoked it and rejoined, the next
// rebalance hands it out.
func TestClassicServerSideCooperative(t *testing.T) {
	s := newSM(t)
	name := "uniform" // sticky, but not cooperative itself
	s.serverSide(&name, map[string]int32{"t": 4})
	owned := map[string]map[string][]int32{}
	meta := func(id string) []byte { return subscription(2, s.g.generation, "", owned[id], nil, "t") }
	parts := func(id string) []int32 {
		_, p := assignedTo(t, s.g.members[id].assignment)
		return p["t"]
	}

	_, wa := s.joinAs("", cooperativeProtocol, meta(""))
	a := answered(t, wa).memberID
	s.syncAll([]string{a})
	if got := parts(a); !slices.Equal(got, []int32{0, 1, 2, 3}) {
		t.Fatalf("the only member got %v", got)
	}
	owned[a] = map[string][]int32{"t": parts(a)}

	// B joins; A rejoins still owning everything.
	_, wb := s.joinAs("", cooperativeProtocol, meta(""))
	_, wa = s.joinAs(a, cooperativeProtocol, meta(a))
	b := answered(t, wb).memberID
	answered(t, wa)
	s.syncAll([]string{a, b})
	keep, gotB := parts(a), parts(b)
	if len(keep) != 2 || len(gotB) != 0 {
		t.Fatalf("first cooperative round: A %v, B %v; want A keeping 2 and B nothing yet", keep, gotB)
	}

	// A revokes the other two and rejoins; B still owns nothing.
	owned[a] = map[string][]int32{"t": keep}
	s.rebalance([]string{a, b}, cooperativeProtocol, meta)
	if !slices.Equal(parts(a), keep) || len(parts(b)) != 2 {
		t.Fatalf("second round: A %v (kept %v), B %v", parts(a), keep, parts(b))
	}
	if all := slices.Sorted(slices.Values(append(parts(a), parts(b)...))); !slices.Equal(all, []int32{0, 1, 2, 3}) {
		t.Fatalf("after two rounds %v are assigned", all)
	}

	// An eager protocol with the same claims: the moves are direct.
	s2 := newSM(t)
	s2.serverSide(&name, map[string]int32{"t": 4})
	_, wa = s2.joinAs("", "range", subscription(1, -1, "", nil, nil, "t"))
	a = answered(t, wa).memberID
	s2.syncAll([]string{a})
	_, wb = s2.joinAs("", "range", subscription(1, -1, "", nil, nil, "t"))
	_, wa = s2.joinAs(a, "range", subscription(1, 1, "", map[string][]int32{"t": {0, 1, 2, 3}}, nil, "t"))
	b = answered(t, wb).memberID
	answered(t, wa)
	s2.syncAll([]string{a, b})
	_, pa := assignedTo(t, s2.g.members[a].assignment)
	_, pb := assignedTo(t, s2.g.members[b].assignment)
	if len(pa["t"]) != 2 || len(pb["t"]) != 2 {
		t.Fatalf("eager group: A %v, B %v; want two each at once", pa, pb)
	}
}

// TestClassicServerSideFallback: whatever goes wrong, the leader's
// assignment is handed out, and the failure is reported once until an
// assignment succeeds again; groups of other protocol types are never
// assigned by the coordinator.
func TestClassicServerSideFallback(t *testing.T) {
	s := newSM(t)
	name := "nope"
	s.serverSide(&name, map[string]int32{"t": 4}, greedyAssignor{})
	ids := s.stableGroup(2)
	leaders := func(what string) {
		t.Helper()
		for _, id := range ids {
			if got := string(s.g.members[id].assignment); got != "a-"+id {
				t.Errorf("%s: member %s got %q, not the leader's assignment", what, id, got)
			}
		}
	}
	failure := func(what, assignor string) {
		t.Helper()
		if f := s.g.assignFailure; f == nil || f.assignor != assignor {
			t.Errorf("%s: failure %+v, want one of assignor %q", what, f, assignor)
		}
		s.g.assignFailure = nil // the shard logs it
	}
	meta := func(string) []byte { return consumerMeta("t") }
	leaders("unknown assignor")
	failure("unknown assignor", "nope")
	s.rebalance(ids, "range", meta)
	leaders("unknown assignor again")
	if s.g.assignFailure != nil {
		t.Errorf("the failure is reported again: %v", s.g.assignFailure.err)
	}

	name = "range"
	s.rebalance(ids, "range", meta)
	if s.g.serverAssignor != "range" || s.g.assignFailure != nil {
		t.Fatalf("range: assignor %q, failure %+v", s.g.serverAssignor, s.g.assignFailure)
	}
	name = "greedy" // its answer fails Check
	s.rebalance(ids, "range", meta)
	leaders("an assignment that fails Check")
	failure("an assignment that fails Check", "greedy")

	name = "range"
	s.rebalance(ids, "range", meta) // succeeds: the next failure is reported
	if s.g.serverAssignor != "range" {
		t.Fatal("range did not assign")
	}
	s.rebalance(ids, "range", func(id string) []byte {
		if id == ids[1] {
			return []byte{0xff} // not a subscription
		}
		return meta(id)
	})
	leaders("a subscription that does not decode")
	failure("a subscription that does not decode", "range")

	// Kafka Connect's groups (and any protocol type but consumer) are the
	// leader's to assign.
	c := newSM(t)
	c.serverSide(&name, map[string]int32{"t": 4})
	r := c.joinReq("", "")
	r.protocolType = "connect"
	_, w := c.join(r)
	id := answered(t, w).memberID
	if c.g.serverAssignment != nil || c.g.assignFailure != nil {
		t.Fatalf("a connect group was assigned by the coordinator: %v, %+v", c.g.serverAssignment, c.g.assignFailure)
	}
	c.syncAll([]string{id})
	if got := string(c.g.members[id].assignment); got != "a-"+id {
		t.Fatalf("connect member got %q", got)
	}
}
