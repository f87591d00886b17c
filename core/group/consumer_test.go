package group

import (
	"context"
	"fmt"
	"log/slog"
	"maps"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/weirmq/weir/assignors"
	"github.com/weirmq/weir/core/record"
	"github.com/weirmq/weir/sdk"
)

// KIP-848 tests: ConsumerGroupHeartbeat through the Coordinator, over a
// storage in memory, a manual clock, fake topics and the real built-in
// assignors. Simulated members behave as KIP-848 clients do: they take
// new partitions at once and give up revoked ones when they choose to,
// reporting what they own in each heartbeat.

// fakeTopics is a cluster's topics; each change makes a new version.
type fakeTopics struct {
	mu      sync.Mutex
	version int64
	byName  map[string]TopicInfo
}

func newFakeTopics() *fakeTopics { return &fakeTopics{byName: map[string]TopicInfo{}} }

// set creates the topic or changes its partition count.
func (f *fakeTopics) set(name string, partitions int32) TopicInfo {
	f.mu.Lock()
	defer f.mu.Unlock()
	t, ok := f.byName[name]
	if !ok {
		t = TopicInfo{Name: name}
		copy(t.ID[:], fmt.Sprintf("id-%s-%d", name, f.version))
	}
	t.Partitions = partitions
	f.byName[name] = t
	f.version++
	return t
}

func (f *fakeTopics) remove(name string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	delete(f.byName, name)
	f.version++
}

func (f *fakeTopics) id(name string) [16]byte {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.byName[name].ID
}

func (f *fakeTopics) snapshot() Topics {
	f.mu.Lock()
	defer f.mu.Unlock()
	s := topicsSnapshot{version: f.version, byName: maps.Clone(f.byName), byID: map[[16]byte]TopicInfo{}}
	for _, t := range f.byName {
		s.byID[t.ID] = t
	}
	return s
}

type topicsSnapshot struct {
	version int64
	byName  map[string]TopicInfo
	byID    map[[16]byte]TopicInfo
}

func (s topicsSnapshot) Version() int64                          { return s.version }
func (s topicsSnapshot) Topic(n string) (TopicInfo, bool)        { t, ok := s.byName[n]; return t, ok }
func (s topicsSnapshot) TopicByID(id [16]byte) (TopicInfo, bool) { t, ok := s.byID[id]; return t, ok }
func (s topicsSnapshot) Names() []string                         { return slices.Sorted(maps.Keys(s.byName)) }

// cfix is a coordinator serving KIP-848 groups.
type cfix struct {
	t      *testing.T
	clock  *manualClock
	store  *memStorage
	topics *fakeTopics
	cfg    Config
	reg    *sdk.Registry
	c      *Coordinator
}

func newCFix(t *testing.T, store *memStorage, topics *fakeTopics) *cfix {
	t.Helper()
	if store == nil {
		store = &memStorage{}
	}
	if topics == nil {
		topics = newFakeTopics()
	}
	reg := sdk.NewRegistry()
	if err := assignors.Register(reg); err != nil {
		t.Fatal(err)
	}
	f := &cfix{t: t, clock: newManualClock(), store: store, topics: topics, cfg: testConfig(), reg: reg}
	f.cfg.ConsumerSessionTimeout = 45 * time.Second
	f.open()
	return f
}

// open opens a coordinator over the fixture's storage and loads it.
func (f *cfix) open() {
	f.t.Helper()
	f.c = Open(Options{
		Config:     func() Config { return f.cfg },
		Partitions: func() int32 { return 1 },
		Clock:      f.clock,
		Logger:     slog.New(slog.DiscardHandler),
		Topics:     f.topics.snapshot,
		Assignors:  f.reg,
	})
	f.t.Cleanup(f.c.Close)
	if err := f.c.Load(context.Background(), 0, f.store); err != nil {
		f.t.Fatal(err)
	}
}

func (f *cfix) consumer(id string, fn func(cg *consumerGroup)) {
	f.c.mu.Lock()
	sh := f.c.mu.shards[0]
	f.c.mu.Unlock()
	sh.mu.Lock()
	defer sh.mu.Unlock()
	g := sh.mu.groups[id]
	if g == nil || g.consumer == nil {
		fn(nil)
		return
	}
	fn(g.consumer)
}

func (f *cfix) describe(group string) kmsg.ConsumerGroupDescribeResponseGroup {
	return f.c.ConsumerGroupDescribe(group, 1)
}

// client is a simulated KIP-848 member. owned is what it consumes: it
// takes newly assigned partitions at once; revoked ones it keeps until
// it acks (at once when autoAck).
type client struct {
	f        *cfix
	group    string
	id       string
	instance string
	assignor string
	topics   []string
	regex    string
	epoch    int32
	owned    map[partKey]bool
	latest   map[partKey]bool // the last assignment it was given
	autoAck  bool
	lastErr  *kerr.Error

	// When its last heartbeat succeeded, and since when it has not
	// revoked what it was told to: a correct client gives up its
	// partitions when its session or its rebalance timeout has run out
	// (selfFence), for the coordinator gives them to others then.
	lastOK, revokeSince time.Time
}

func (f *cfix) newClient(group, id string, topics ...string) *client {
	return &client{f: f, group: group, id: id, topics: topics, owned: map[partKey]bool{}, autoAck: true}
}

func (c *client) request(epoch int32, full bool) *kmsg.ConsumerGroupHeartbeatRequest {
	req := kmsg.NewPtrConsumerGroupHeartbeatRequest()
	req.Version, req.Group, req.MemberID, req.MemberEpoch = 1, c.group, c.id, epoch
	if !full {
		return req
	}
	if c.instance != "" {
		req.InstanceID = stringPtr(c.instance)
	}
	req.RebalanceTimeoutMillis = 30_000
	if c.regex != "" {
		req.SubscribedTopicRegex = stringPtr(c.regex)
	} else {
		req.SubscribedTopicNames = append([]string{}, c.topics...)
	}
	if c.assignor != "" {
		req.ServerAssignor = stringPtr(c.assignor)
	}
	req.Topics = []kmsg.ConsumerGroupHeartbeatRequestTopic{}
	for _, tp := range groupByTopic(slices.Collect(maps.Keys(c.owned))) {
		req.Topics = append(req.Topics, kmsg.ConsumerGroupHeartbeatRequestTopic{TopicID: tp.id, Partitions: tp.partitions})
	}
	return req
}

func (c *client) send(req *kmsg.ConsumerGroupHeartbeatRequest) *kmsg.ConsumerGroupHeartbeatResponse {
	resp := c.f.c.ConsumerGroupHeartbeat(context.Background(), req, Client{ID: "cl", Host: "/127.0.0.1"})
	c.lastErr = kerr.TypedErrorForCode(resp.ErrorCode)
	if resp.ErrorCode != 0 {
		return resp
	}
	now := c.f.clock.Now()
	if req.MemberEpoch >= 0 {
		c.lastOK = now
	}
	if resp.MemberID != nil {
		c.id = *resp.MemberID
	}
	c.epoch = resp.MemberEpoch
	if resp.Assignment != nil {
		c.latest = map[partKey]bool{}
		for _, t := range resp.Assignment.Topics {
			for _, p := range t.Partitions {
				c.latest[partKey{t.TopicID, p}] = true
				c.owned[partKey{t.TopicID, p}] = true // new partitions: consumed at once
			}
		}
		if c.autoAck {
			c.ack()
		} else if c.revokeSince.IsZero() && len(c.owned) > len(c.latest) {
			c.revokeSince = now
		}
	}
	return resp
}

// ack gives up what the last assignment revoked.
func (c *client) ack() {
	if c.latest != nil {
		maps.DeleteFunc(c.owned, func(p partKey, _ bool) bool { return !c.latest[p] })
	}
	c.revokeSince = time.Time{}
}

// selfFence drops the client's partitions if its session or rebalance
// timeout has run out.
func (c *client) selfFence() {
	now := c.f.clock.Now()
	if !now.Before(c.lastOK.Add(c.f.cfg.ConsumerSessionTimeout)) ||
		(!c.revokeSince.IsZero() && !now.Before(c.revokeSince.Add(30*time.Second))) {
		c.owned, c.latest, c.revokeSince = map[partKey]bool{}, nil, time.Time{}
	}
}

func (c *client) join() *kmsg.ConsumerGroupHeartbeatResponse {
	c.owned, c.latest, c.revokeSince = map[partKey]bool{}, nil, time.Time{}
	return c.send(c.request(joinEpoch, true))
}

// beat is a full heartbeat (what the member owns, every field).
func (c *client) beat() *kmsg.ConsumerGroupHeartbeatResponse { return c.send(c.request(c.epoch, true)) }

// keepalive is a heartbeat with nothing but the member and its epoch.
func (c *client) keepalive() *kmsg.ConsumerGroupHeartbeatResponse {
	return c.send(c.request(c.epoch, false))
}

func (c *client) leave() *kmsg.ConsumerGroupHeartbeatResponse {
	c.owned = map[partKey]bool{}
	epoch := int32(leaveEpoch)
	if c.instance != "" {
		epoch = staticLeaveEpoch
	}
	req := c.request(epoch, false)
	if c.instance != "" {
		req.InstanceID = stringPtr(c.instance)
	}
	return c.send(req)
}

func (c *client) mustOK(what string, resp *kmsg.ConsumerGroupHeartbeatResponse) *kmsg.ConsumerGroupHeartbeatResponse {
	c.f.t.Helper()
	if resp.ErrorCode != 0 {
		msg := ""
		if resp.ErrorMessage != nil {
			msg = *resp.ErrorMessage
		}
		c.f.t.Fatalf("%s (%s): %v %s", what, c.id, kerr.ErrorForCode(resp.ErrorCode), msg)
	}
	return resp
}

// parts is what the client owns of a topic, sorted.
func (c *client) parts(topic [16]byte) []int32 {
	var out []int32
	for p := range c.owned {
		if p.topic == topic {
			out = append(out, p.partition)
		}
	}
	slices.Sort(out)
	return out
}

// checkOwners checks the coordinator's bookkeeping: a partition's owner
// is the one member holding it.
func (f *cfix) checkOwners(what, group string) {
	f.t.Helper()
	f.consumer(group, func(cg *consumerGroup) {
		if cg == nil {
			return
		}
		held := map[partKey]string{}
		for id, m := range cg.members {
			for p := range m.assigned {
				if other, dup := held[p]; dup {
					f.t.Fatalf("%s: %v held by %s and %s", what, p, other, id)
				}
				held[p] = id
			}
			for p := range m.revoking {
				if other, dup := held[p]; dup {
					f.t.Fatalf("%s: %v held by %s and %s (revoking)", what, p, other, id)
				}
				held[p] = id
			}
		}
		if !maps.Equal(held, cg.owners) {
			f.t.Fatalf("%s: owners %v, members hold %v", what, cg.owners, held)
		}
	})
}

// checkDisjoint fails if two clients consume the same partition.
func checkDisjoint(t *testing.T, what string, clients ...*client) {
	t.Helper()
	seen := map[partKey]string{}
	for _, c := range clients {
		for p := range c.owned {
			if other, ok := seen[p]; ok {
				t.Fatalf("%s: partition %d of %x consumed by both %s and %s", what, p.partition, p.topic[:6], other, c.id)
			}
			seen[p] = c.id
		}
	}
}

func TestConsumerJoinGetsTargetAssignment(t *testing.T) {
	f := newCFix(t, nil, nil)
	topic := f.topics.set("orders", 6)
	a := f.newClient("g", "member-a", "orders")
	resp := a.mustOK("join", a.join())
	if resp.MemberEpoch != 1 || resp.Assignment == nil || resp.HeartbeatIntervalMillis != 5000 {
		t.Fatalf("join: epoch %d, assignment %v, interval %d", resp.MemberEpoch, resp.Assignment, resp.HeartbeatIntervalMillis)
	}
	if got := a.parts(topic.ID); !slices.Equal(got, []int32{0, 1, 2, 3, 4, 5}) {
		t.Fatalf("the only member got %v", got)
	}
	d := f.describe("g")
	if d.ErrorCode != 0 || d.State != "Stable" || d.Epoch != 1 || d.AssignmentEpoch != 1 || d.AssignorName != "uniform" || len(d.Members) != 1 {
		t.Fatalf("describe: %+v", d)
	}
	if m := d.Members[0]; m.MemberEpoch != 1 || m.MemberType != 1 || len(m.Assignment.TopicPartitions) != 1 || m.Assignment.TopicPartitions[0].Topic != "orders" {
		t.Fatalf("described member: %+v", m)
	}
	// A keepalive changes nothing and carries no assignment.
	if resp := a.mustOK("keepalive", a.keepalive()); resp.Assignment != nil || resp.MemberEpoch != 1 {
		t.Fatalf("keepalive: %+v", resp)
	}
	// v0: the coordinator makes the member id.
	req := kmsg.NewPtrConsumerGroupHeartbeatRequest()
	req.Version, req.Group, req.RebalanceTimeoutMillis = 0, "g0", 30_000
	req.SubscribedTopicNames, req.Topics = []string{"orders"}, []kmsg.ConsumerGroupHeartbeatRequestTopic{}
	resp = f.c.ConsumerGroupHeartbeat(context.Background(), req, Client{})
	if resp.ErrorCode != 0 || resp.MemberID == nil || *resp.MemberID == "" || resp.MemberEpoch != 1 {
		t.Fatalf("v0 join: %+v", resp)
	}
}

func TestConsumerInvalidRequests(t *testing.T) {
	f := newCFix(t, nil, nil)
	f.topics.set("orders", 1)
	for _, c := range []struct {
		name string
		edit func(*kmsg.ConsumerGroupHeartbeatRequest)
		want *kerr.Error
	}{
		{"no group", func(r *kmsg.ConsumerGroupHeartbeatRequest) { r.Group = "" }, kerr.InvalidRequest},
		{"v1 without member id", func(r *kmsg.ConsumerGroupHeartbeatRequest) { r.MemberID = "" }, kerr.InvalidRequest},
		{"join without rebalance timeout", func(r *kmsg.ConsumerGroupHeartbeatRequest) { r.RebalanceTimeoutMillis = -1 }, kerr.InvalidRequest},
		{"join owning partitions", func(r *kmsg.ConsumerGroupHeartbeatRequest) {
			r.Topics = []kmsg.ConsumerGroupHeartbeatRequestTopic{{Partitions: []int32{0}}}
		}, kerr.InvalidRequest},
		{"join without subscription", func(r *kmsg.ConsumerGroupHeartbeatRequest) { r.SubscribedTopicNames = nil }, kerr.InvalidRequest},
		{"empty instance id", func(r *kmsg.ConsumerGroupHeartbeatRequest) { r.InstanceID = stringPtr("") }, kerr.InvalidRequest},
		{"epoch -3", func(r *kmsg.ConsumerGroupHeartbeatRequest) { r.MemberEpoch = -3 }, kerr.InvalidRequest},
		{"unknown assignor", func(r *kmsg.ConsumerGroupHeartbeatRequest) { r.ServerAssignor = stringPtr("nope") }, kerr.UnsupportedAssignor},
		{"bad regex", func(r *kmsg.ConsumerGroupHeartbeatRequest) {
			r.SubscribedTopicNames, r.SubscribedTopicRegex = nil, stringPtr("(")
		}, kerr.InvalidRegularExpression},
		{"unknown member", func(r *kmsg.ConsumerGroupHeartbeatRequest) { r.MemberEpoch = 3 }, kerr.UnknownMemberID},
	} {
		req := f.newClient("g", "m", "orders").request(joinEpoch, true)
		c.edit(req)
		resp := f.c.ConsumerGroupHeartbeat(context.Background(), req, Client{})
		if got := kerr.TypedErrorForCode(resp.ErrorCode); got != c.want {
			t.Errorf("%s: got %v, want %v", c.name, got, c.want)
		}
		if resp.ErrorMessage == nil && c.want != kerr.UnknownMemberID {
			t.Errorf("%s: no error message", c.name)
		}
	}
	f.consumer("g", func(cg *consumerGroup) {
		if cg != nil {
			t.Fatalf("refused requests left a group with %d members", len(cg.members))
		}
	})
}

// TestConsumerRevokeBeforeReassign: a partition moving from one member
// to another is first revoked from its owner, and given to the other
// only once the owner says it no longer owns it.
func TestConsumerRevokeBeforeReassign(t *testing.T) {
	f := newCFix(t, nil, nil)
	topic := f.topics.set("orders", 4)
	a := f.newClient("g", "a", "orders")
	a.mustOK("a joins", a.join())
	a.autoAck = false
	b := f.newClient("g", "b", "orders")
	resp := b.mustOK("b joins", b.join())
	if resp.MemberEpoch != 2 || len(b.owned) != 0 {
		t.Fatalf("b joined with epoch %d and %v; a still holds everything", resp.MemberEpoch, b.owned)
	}
	if d := f.describe("g"); d.State != "Reconciling" || d.Epoch != 2 || d.AssignmentEpoch != 2 {
		t.Fatalf("describe: %s epoch %d/%d", d.State, d.Epoch, d.AssignmentEpoch)
	}
	// a is told to revoke two partitions; its epoch stays.
	resp = a.mustOK("a heartbeats", a.beat())
	if resp.MemberEpoch != 1 || resp.Assignment == nil || len(a.latest) != 2 || len(a.owned) != 4 {
		t.Fatalf("a: epoch %d, assignment %v, owns %v", resp.MemberEpoch, a.latest, a.owned)
	}
	// Until a gives them up, b gets nothing, whatever a and b send.
	for range 3 {
		a.mustOK("a keeps", a.beat())
		a.mustOK("a keepalive", a.keepalive())
		b.mustOK("b waits", b.beat())
		checkDisjoint(t, "while a revokes", a, b)
		if len(b.owned) != 0 {
			t.Fatalf("b got %v before a revoked", b.owned)
		}
	}
	a.ack()
	resp = a.mustOK("a acks", a.beat())
	if resp.MemberEpoch != 2 || len(a.owned) != 2 {
		t.Fatalf("a after revoking: epoch %d, owns %v", resp.MemberEpoch, a.owned)
	}
	resp = b.mustOK("b gets its partitions", b.beat())
	checkDisjoint(t, "after", a, b)
	if resp.MemberEpoch != 2 || len(b.owned) != 2 || resp.Assignment == nil {
		t.Fatalf("b: epoch %d, owns %v", resp.MemberEpoch, b.owned)
	}
	if got := append(a.parts(topic.ID), b.parts(topic.ID)...); len(got) != 4 {
		t.Fatalf("partitions held: %v", got)
	}
	if d := f.describe("g"); d.State != "Stable" {
		t.Fatalf("describe: %s", d.State)
	}
}

// TestConsumerSkipsRevocationAlreadyDone: a member that reports it no
// longer owns a partition when told of the new target releases it at
// once.
func TestConsumerSkipsRevocationAlreadyDone(t *testing.T) {
	f := newCFix(t, nil, nil)
	f.topics.set("orders", 2)
	a := f.newClient("g", "a", "orders")
	a.mustOK("a joins", a.join())
	b := f.newClient("g", "b", "orders")
	b.mustOK("b joins", b.join())
	a.mustOK("a revokes", a.beat()) // told, acks at once (autoAck)
	a.mustOK("a acks", a.beat())
	b.mustOK("b", b.beat())
	checkDisjoint(t, "", a, b)
	if len(a.owned) != 1 || len(b.owned) != 1 || a.epoch != 2 || b.epoch != 2 {
		t.Fatalf("a %v@%d, b %v@%d", a.owned, a.epoch, b.owned, b.epoch)
	}
}

func TestConsumerFencing(t *testing.T) {
	f := newCFix(t, nil, nil)
	f.topics.set("orders", 4)
	a := f.newClient("g", "a", "orders")
	a.mustOK("join", a.join())
	b := f.newClient("g", "b", "orders")
	b.mustOK("join", b.join())
	a.mustOK("a", a.beat())
	a.mustOK("a", a.beat()) // now at epoch 2

	send := func(epoch int32, owned []int32, want *kerr.Error) {
		t.Helper()
		req := a.request(epoch, true)
		req.Topics = nil
		if owned != nil {
			req.Topics = []kmsg.ConsumerGroupHeartbeatRequestTopic{{TopicID: f.topics.id("orders"), Partitions: owned}}
		}
		resp := f.c.ConsumerGroupHeartbeat(context.Background(), req, Client{})
		if got := kerr.TypedErrorForCode(resp.ErrorCode); got != want {
			t.Fatalf("epoch %d owning %v: got %v, want %v", epoch, owned, got, want)
		}
	}
	mine := a.parts(f.topics.id("orders"))
	send(3, mine, kerr.FencedMemberEpoch)                  // ahead
	send(0+1, []int32{0, 1, 2, 3}, kerr.FencedMemberEpoch) // previous epoch, but owns more than it has
	send(1, nil, kerr.FencedMemberEpoch)                   // previous epoch, ownership unknown
	send(1, mine, nil)                                     // previous epoch, a subset: the answer was lost
	send(2, mine, nil)
	// An unknown member, and an instance id held by another member.
	c := f.newClient("g", "ghost", "orders")
	c.epoch = 2
	if c.beat(); c.lastErr != kerr.UnknownMemberID {
		t.Fatalf("unknown member: %v", c.lastErr)
	}
	s1 := f.newClient("g", "s1", "orders")
	s1.instance = "inst"
	s1.mustOK("static join", s1.join())
	s2 := f.newClient("g", "s2", "orders")
	s2.instance = "inst"
	if s2.join(); s2.lastErr != kerr.UnreleasedInstanceID {
		t.Fatalf("second member with the instance id: %v", s2.lastErr)
	}
	s2.epoch = s1.epoch
	if s2.beat(); s2.lastErr != kerr.FencedInstanceID {
		t.Fatalf("heartbeat with another member's instance id: %v", s2.lastErr)
	}
	// A fenced member joins again with its id and epoch 0 and starts over.
	a.autoAck = true
	a.mustOK("rejoin", a.join())
	if a.epoch == 0 || len(a.owned) == 0 {
		t.Fatalf("rejoined member: epoch %d, owns %v", a.epoch, a.owned)
	}
}

func TestConsumerSessionTimeout(t *testing.T) {
	f := newCFix(t, nil, nil)
	f.topics.set("orders", 4)
	a, b := f.newClient("g", "a", "orders"), f.newClient("g", "b", "orders")
	a.mustOK("a", a.join())
	b.mustOK("b", b.join())
	for range 3 {
		a.mustOK("a", a.beat())
		b.mustOK("b", b.beat())
	}
	if len(a.owned) != 2 || len(b.owned) != 2 {
		t.Fatalf("a %v, b %v", a.owned, b.owned)
	}
	// b goes quiet; a keeps heartbeating.
	for range 5 {
		f.clock.Advance(10 * time.Second)
		a.mustOK("a", a.beat())
	}
	if len(a.owned) != 4 {
		t.Fatalf("after b's session ended a owns %v", a.owned)
	}
	if b.beat(); b.lastErr != kerr.UnknownMemberID {
		t.Fatalf("b after its session: %v", b.lastErr)
	}
	d := f.describe("g")
	if len(d.Members) != 1 || d.Epoch != 3 || d.State != "Stable" {
		t.Fatalf("describe: %+v", d)
	}
	if !slices.ContainsFunc(f.store.records(t), func(r record.Record) bool { return isCurrentTombstone(r, "b") }) {
		t.Fatal("no tombstone for b's assignment")
	}
}

// TestConsumerRebalanceTimeout: a member that does not revoke within its
// rebalance timeout is removed, and its partitions go to the others.
func TestConsumerRebalanceTimeout(t *testing.T) {
	f := newCFix(t, nil, nil)
	f.topics.set("orders", 2)
	a := f.newClient("g", "a", "orders")
	a.mustOK("a", a.join())
	a.autoAck = false
	b := f.newClient("g", "b", "orders")
	b.mustOK("b", b.join())
	a.mustOK("a told to revoke", a.beat())
	for range 4 { // a heartbeats but never revokes
		f.clock.Advance(10 * time.Second)
		b.mustOK("b", b.beat())
		a.beat()
	}
	if a.lastErr != kerr.UnknownMemberID {
		t.Fatalf("a after its rebalance timeout: %v", a.lastErr)
	}
	b.mustOK("b", b.beat())
	if len(b.owned) != 2 {
		t.Fatalf("b owns %v", b.owned)
	}
}

func TestConsumerLeave(t *testing.T) {
	f := newCFix(t, nil, nil)
	topic := f.topics.set("orders", 4)
	a, b := f.newClient("g", "a", "orders"), f.newClient("g", "b", "orders")
	a.mustOK("a", a.join())
	b.mustOK("b", b.join())
	for range 2 {
		a.mustOK("a", a.beat())
		b.mustOK("b", b.beat())
	}
	resp := b.mustOK("b leaves", b.leave())
	if resp.MemberEpoch != leaveEpoch || resp.MemberID == nil || *resp.MemberID != "b" {
		t.Fatalf("leave: %+v", resp)
	}
	a.mustOK("a", a.beat())
	if got := a.parts(topic.ID); len(got) != 4 {
		t.Fatalf("a owns %v after b left", got)
	}
	if b.leave(); b.lastErr != kerr.UnknownMemberID {
		t.Fatalf("leaving twice: %v", b.lastErr)
	}
	a.mustOK("a leaves", a.leave())
	if d := f.describe("g"); d.State != "Empty" || len(d.Members) != 0 {
		t.Fatalf("after everyone left: %+v", d)
	}
}

// TestConsumerStaticRejoin: a static member that leaves with epoch -2
// keeps its partitions; its next incarnation (a new member id, the same
// instance id) takes them back without a new group epoch.
func TestConsumerStaticRejoin(t *testing.T) {
	f := newCFix(t, nil, nil)
	topic := f.topics.set("orders", 4)
	a, b := f.newClient("g", "a", "orders"), f.newClient("g", "b1", "orders")
	a.instance, b.instance = "ia", "ib"
	a.mustOK("a", a.join())
	b.mustOK("b", b.join())
	for range 2 {
		a.mustOK("a", a.beat())
		b.mustOK("b", b.beat())
	}
	before, epoch := b.parts(topic.ID), f.describe("g").Epoch
	if resp := b.mustOK("b leaves for now", b.leave()); resp.MemberEpoch != staticLeaveEpoch {
		t.Fatalf("static leave answered epoch %d", resp.MemberEpoch)
	}
	a.mustOK("a", a.beat())
	if len(a.owned) != 2 {
		t.Fatalf("a took b's partitions while b was away: %v", a.owned)
	}
	b2 := f.newClient("g", "b2", "orders")
	b2.instance = "ib"
	resp := b2.mustOK("b returns", b2.join())
	if got := b2.parts(topic.ID); !slices.Equal(got, before) || resp.MemberEpoch != epoch {
		t.Fatalf("returning static member: %v at epoch %d, had %v at %d", got, resp.MemberEpoch, before, epoch)
	}
	if d := f.describe("g"); d.Epoch != epoch || len(d.Members) != 2 {
		t.Fatalf("describe: %+v", d)
	}
	// The old member id is gone.
	b.epoch = epoch
	if b.beat(); b.lastErr != kerr.FencedInstanceID {
		t.Fatalf("old incarnation: %v", b.lastErr)
	}
	// Away too long: the session ends, the partitions move.
	b2.mustOK("b2 leaves for now", b2.leave())
	for range 6 {
		f.clock.Advance(10 * time.Second)
		a.mustOK("a", a.beat())
	}
	if len(a.owned) != 4 {
		t.Fatalf("a owns %v after b's session ended", a.owned)
	}
}

// TestConsumerAssignorSelection: "range" and "uniform" lay out the same
// group differently; an unknown assignor is refused.
func TestConsumerAssignorSelection(t *testing.T) {
	for _, c := range []struct {
		assignor string
		want     [2]int // partitions of the first and second member
	}{
		{"range", [2]int{4, 2}},   // per topic: 2 and 1 of each 3-partition topic
		{"uniform", [2]int{3, 3}}, // balanced over the group
		{"", [2]int{3, 3}},        // the default
	} {
		t.Run(c.assignor, func(t *testing.T) {
			f := newCFix(t, nil, nil)
			f.topics.set("t1", 3)
			f.topics.set("t2", 3)
			a, b := f.newClient("g", "a", "t1", "t2"), f.newClient("g", "b", "t1", "t2")
			a.assignor, b.assignor = c.assignor, c.assignor
			a.mustOK("a", a.join())
			b.mustOK("b", b.join())
			for range 3 {
				a.mustOK("a", a.beat())
				b.mustOK("b", b.beat())
			}
			checkDisjoint(t, "", a, b)
			if got := [2]int{len(a.owned), len(b.owned)}; got != c.want {
				t.Fatalf("%q: members own %v partitions, want %v", c.assignor, got, c.want)
			}
			want := c.assignor
			if want == "" {
				want = "uniform"
			}
			if d := f.describe("g"); d.AssignorName != want {
				t.Fatalf("assignor %q", d.AssignorName)
			}
		})
	}
}

// TestConsumerMetadataChange: new partitions and new topics matching a
// regular expression bump the group epoch and are assigned.
func TestConsumerMetadataChange(t *testing.T) {
	f := newCFix(t, nil, nil)
	f.topics.set("orders", 2)
	a := f.newClient("g", "a", "orders")
	a.mustOK("a", a.join())
	r := f.newClient("g", "r")
	r.regex = "log-.*"
	r.mustOK("r", r.join())
	if len(r.owned) != 0 {
		t.Fatalf("the regex member got %v with no matching topic", r.owned)
	}
	f.topics.set("orders", 3)
	f.topics.set("log-1", 2)
	f.topics.set("xlog-1", 2)
	a.mustOK("a", a.beat())
	r.mustOK("r", r.beat())
	if len(a.owned) != 3 || len(r.owned) != 2 {
		t.Fatalf("after the topics changed: a %v, r %v", a.owned, r.owned)
	}
	for p := range r.owned {
		if p.topic != f.topics.id("log-1") {
			t.Fatalf("regex member owns a partition of %x", p.topic)
		}
	}
	d := f.describe("g")
	if d.Epoch != 3 || d.State != "Stable" {
		t.Fatalf("describe: epoch %d %s", d.Epoch, d.State)
	}
	// A deleted topic is revoked.
	f.topics.remove("log-1")
	r.mustOK("r", r.beat())
	r.mustOK("r", r.beat())
	if len(r.owned) != 0 {
		t.Fatalf("r still owns %v of a deleted topic", r.owned)
	}
}

// TestConsumerGroupRestart: a coordinator that loads the partition again
// has the members, their epochs and assignments: they carry on.
func TestConsumerGroupRestart(t *testing.T) {
	store := &memStorage{}
	topics := newFakeTopics()
	topic := topics.set("orders", 4)
	f := newCFix(t, store, topics)
	a, b := f.newClient("g", "a", "orders"), f.newClient("g", "b", "orders")
	a.instance = "ia"
	a.assignor = "range"
	a.mustOK("a", a.join())
	b.mustOK("b", b.join())
	a.autoAck = false
	a.mustOK("a", a.beat()) // a is revoking when the coordinator stops
	before := f.describe("g")

	f.c.Close()
	f.open()
	after := f.describe("g")
	if after.Epoch != before.Epoch || after.AssignmentEpoch != before.AssignmentEpoch || after.State != before.State ||
		after.AssignorName != "range" || len(after.Members) != 2 {
		t.Fatalf("after the restart: %+v\nbefore: %+v", after, before)
	}
	for i := range before.Members {
		bm, am := before.Members[i], after.Members[i]
		if bm.MemberID != am.MemberID || bm.MemberEpoch != am.MemberEpoch || fmt.Sprint(bm.Assignment) != fmt.Sprint(am.Assignment) ||
			fmt.Sprint(bm.TargetAssignment) != fmt.Sprint(am.TargetAssignment) || (bm.InstanceID == nil) != (am.InstanceID == nil) ||
			(bm.InstanceID != nil && *bm.InstanceID != *am.InstanceID) {
			t.Fatalf("member %d: %+v, was %+v", i, am, bm)
		}
	}
	// The members carry on where they were: a finishes revoking, b gets
	// its partitions.
	a.ack()
	a.mustOK("a", a.beat())
	b.mustOK("b", b.beat())
	checkDisjoint(t, "", a, b)
	if len(a.parts(topic.ID))+len(b.parts(topic.ID)) != 4 || a.epoch != 2 || b.epoch != 2 {
		t.Fatalf("a %v@%d, b %v@%d", a.owned, a.epoch, b.owned, b.epoch)
	}
	// A member that was removed before the restart stays removed.
	b.mustOK("b leaves", b.leave())
	f.c.Close()
	f.open()
	if d := f.describe("g"); len(d.Members) != 1 || d.Members[0].MemberID != "a" {
		t.Fatalf("after b left and a restart: %+v", d)
	}
}

func TestConsumerOffsetCommitEpochs(t *testing.T) {
	f := newCFix(t, nil, nil)
	topic := f.topics.set("orders", 2)
	a := f.newClient("g", "a", "orders")
	a.mustOK("a", a.join()) // epoch 1: both partitions
	b := f.newClient("g", "b", "orders")
	b.mustOK("b", b.join())
	a.mustOK("a", a.beat())
	a.mustOK("a", a.beat()) // epoch 2: one partition, held since epoch 1
	b.mustOK("b", b.beat()) // epoch 2: the other, held since epoch 2
	commit := func(member string, epoch int32, version int16, partition int32) *kerr.Error {
		r := &CommitRequest{Version: version, Group: "g", MemberID: member, Generation: epoch, RetentionMs: -1,
			Offsets: []OffsetCommit{{Topic: "orders", TopicID: topic.ID, Partition: partition, Offset: 5, LeaderEpoch: -1}}}
		f.c.CommitOffsets(context.Background(), r)
		return r.Offsets[0].Err
	}
	pa, pb := a.parts(topic.ID)[0], b.parts(topic.ID)[0]
	for _, c := range []struct {
		name      string
		member    string
		epoch     int32
		version   int16
		partition int32
		want      *kerr.Error
	}{
		{"current epoch", "a", 2, 9, pa, nil},
		{"older epoch, held since then", "a", 1, 9, pa, nil},
		{"older epoch, held only since", "b", 1, 9, pb, kerr.StaleMemberEpoch},
		{"newer epoch", "a", 3, 9, pa, kerr.StaleMemberEpoch},
		{"unknown member", "zz", 2, 9, pa, kerr.UnknownMemberID},
		{"old OffsetCommit", "a", 2, 8, pa, kerr.UnsupportedVersion},
		{"no member while the group has members", "", -1, 9, pa, kerr.UnknownMemberID},
	} {
		if got := commit(c.member, c.epoch, c.version, c.partition); got != c.want {
			t.Errorf("%s: got %v, want %v", c.name, got, c.want)
		}
	}
	if err := f.c.ValidateOffsetFetch("g", stringPtr("a"), 2); err != nil {
		t.Errorf("fetch at the current epoch: %v", err)
	}
	if err := f.c.ValidateOffsetFetch("g", stringPtr("a"), 1); err != kerr.StaleMemberEpoch {
		t.Errorf("fetch at an old epoch: %v", err)
	}
	if err := f.c.ValidateOffsetFetch("g", stringPtr("zz"), 1); err != kerr.UnknownMemberID {
		t.Errorf("fetch from an unknown member: %v", err)
	}
	if err := f.c.ValidateOffsetFetch("g", nil, -1); err != nil {
		t.Errorf("fetch without a member: %v", err)
	}
	a.mustOK("a leaves", a.leave())
	b.mustOK("b leaves", b.leave())
	if got := commit("", -1, 9, 0); got != nil {
		t.Errorf("admin commit to the empty group: %v", got)
	}
	offs, _ := f.c.FetchOffsets("g", nil, false)
	if len(offs) != 1+min(int(pa), 1) { // pa committed, and partition 0 by the admin
		t.Fatalf("offsets: %+v", offs)
	}
}

// TestConsumerAndClassicGroups: a group is of one type; an empty group of
// one type becomes the other, keeping its offsets.
func TestConsumerAndClassicGroups(t *testing.T) {
	f := newCFix(t, nil, nil)
	topic := f.topics.set("orders", 2)
	ctx := context.Background()

	// A classic group with a member refuses KIP-848 members.
	cj := f.c.JoinGroup(ctx, joinReq("classic", "", "", 3), Client{ID: "c"})
	if cj.ErrorCode != 0 {
		t.Fatalf("classic join: %v", kerr.ErrorForCode(cj.ErrorCode))
	}
	x := f.newClient("classic", "x", "orders")
	if x.join(); x.lastErr != kerr.GroupIDNotFound {
		t.Fatalf("KIP-848 join of a classic group: %v", x.lastErr)
	}
	// A consumer group with a member refuses classic members and is
	// described as Kafka 4 describes it through DescribeGroups.
	a := f.newClient("g", "a", "orders")
	a.mustOK("a", a.join())
	if r := f.c.JoinGroup(ctx, joinReq("g", "", "", 3), Client{}); r.ErrorCode != kerr.InconsistentGroupProtocol.Code {
		t.Fatalf("classic join of a consumer group: %v", kerr.ErrorForCode(r.ErrorCode))
	}
	if d := f.c.DescribeGroup("g", 6); d.State != "Dead" || d.ErrorCode != kerr.GroupIDNotFound.Code {
		t.Fatalf("DescribeGroups v6: %+v", d)
	}
	if d := f.c.DescribeGroup("g", 5); d.State != "Dead" || d.ErrorCode != 0 {
		t.Fatalf("DescribeGroups v5: %+v", d)
	}
	if d := f.c.ConsumerGroupDescribe("classic", 1); d.ErrorCode != kerr.GroupIDNotFound.Code {
		t.Fatalf("ConsumerGroupDescribe of a classic group: %+v", d)
	}
	listed, _ := f.c.ListGroups(nil, []string{"consumer"})
	if len(listed) != 1 || listed[0].Group != "g" || listed[0].GroupType != "consumer" || listed[0].GroupState != "Stable" || listed[0].ProtocolType != "consumer" {
		t.Fatalf("ListGroups consumer: %+v", listed)
	}
	if listed, _ = f.c.ListGroups([]string{"stable"}, nil); len(listed) != 1 {
		t.Fatalf("ListGroups Stable: %+v", listed)
	}
	if err := f.c.DeleteGroup(ctx, "g"); err != kerr.NonEmptyGroup {
		t.Fatalf("deleting a consumer group with members: %v", err)
	}

	// Empty, with offsets: it becomes a classic group, and back.
	r := &CommitRequest{Version: 9, Group: "g", MemberID: "a", Generation: a.epoch, RetentionMs: -1,
		Offsets: []OffsetCommit{{Topic: "orders", TopicID: topic.ID, Partition: 0, Offset: 7, LeaderEpoch: -1}}}
	f.c.CommitOffsets(ctx, r)
	if r.Offsets[0].Err != nil {
		t.Fatal(r.Offsets[0].Err)
	}
	a.mustOK("a leaves", a.leave())
	joinClassic := func() *kmsg.JoinGroupResponse {
		t.Helper()
		done := make(chan *kmsg.JoinGroupResponse, 1)
		go func() { done <- f.c.JoinGroup(ctx, joinReq("g", "", "", 3), Client{}) }()
		select {
		case r := <-done:
			return r
		case <-time.After(10 * time.Second):
			t.Fatal("classic join did not answer")
		}
		return nil
	}
	cr := joinClassic()
	if cr.ErrorCode != 0 {
		t.Fatalf("classic join of an empty consumer group: %v", kerr.ErrorForCode(cr.ErrorCode))
	}
	if d := f.c.DescribeGroup("g", 6); d.ErrorCode != 0 || d.ProtocolType != "consumer" {
		t.Fatalf("after the change: %+v", d)
	}
	if offs, _ := f.c.FetchOffsets("g", nil, false); len(offs) != 1 || offs[0].Offset != 7 {
		t.Fatalf("offsets after the change: %+v", offs)
	}
	// The records of the consumer group are gone from the log.
	f.c.Close()
	f.open()
	if d := f.c.ConsumerGroupDescribe("g", 1); d.ErrorCode != kerr.GroupIDNotFound.Code {
		t.Fatalf("consumer group back after a restart: %+v", d)
	}
	if d := f.c.DescribeGroup("g", 6); d.ErrorCode != 0 {
		t.Fatalf("classic group after a restart: %+v", d)
	}
	// The classic member leaves; a KIP-848 member turns it back.
	f.c.LeaveGroup(ctx, "g", []kmsg.LeaveGroupRequestMember{{MemberID: cr.MemberID}})
	b := f.newClient("g", "b", "orders")
	b.mustOK("b", b.join())
	if offs, _ := f.c.FetchOffsets("g", nil, false); len(offs) != 1 || offs[0].Offset != 7 {
		t.Fatalf("offsets after changing back: %+v", offs)
	}
	f.c.Close()
	f.open()
	if d := f.c.DescribeGroup("g", 6); d.ErrorCode != kerr.GroupIDNotFound.Code {
		t.Fatalf("classic group back after a restart: %+v", d)
	}
	if d := f.c.ConsumerGroupDescribe("g", 1); d.ErrorCode != 0 || len(d.Members) != 1 {
		t.Fatalf("consumer group after a restart: %+v", d)
	}
	b.mustOK("b leaves", b.leave())
	if err := f.c.DeleteGroup(ctx, "g"); err != nil {
		t.Fatalf("deleting the empty consumer group: %v", err)
	}
	f.c.Close()
	f.open()
	if d := f.c.ConsumerGroupDescribe("g", 1); d.ErrorCode != kerr.GroupIDNotFound.Code {
		t.Fatalf("deleted group after a restart: %+v", d)
	}
}

func isCurrentTombstone(r record.Record, member string) bool {
	version, _, m, err := readCGKey(r.Key)
	return err == nil && version == cgCurrentKeyVersion && m == member && r.Value == nil
}
