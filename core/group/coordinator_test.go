package group

import (
	"context"
	"errors"
	"log/slog"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// Coordinator tests: requests through the public API over a storage in
// memory, with a manual clock. Parked requests run in goroutines; the
// tests wait until they are parked (polling the group, never sleeping).

type fixture struct {
	t     *testing.T
	clock *manualClock
	store *memStorage
	cfg   Config
	c     *Coordinator
}

func newFixture(t *testing.T, store *memStorage) *fixture {
	t.Helper()
	return newFixtureWith(t, store, nil)
}

// newFixtureWith is newFixture with the coordinator's options adjusted
// by tweak (when not nil).
func newFixtureWith(t *testing.T, store *memStorage, tweak func(*Options)) *fixture {
	t.Helper()
	if store == nil {
		store = &memStorage{}
	}
	f := &fixture{t: t, clock: newManualClock(), store: store, cfg: testConfig()}
	opts := Options{
		Config:     func() Config { return f.cfg },
		Partitions: func() int32 { return 1 },
		Clock:      f.clock,
		Logger:     slog.New(slog.DiscardHandler),
	}
	if tweak != nil {
		tweak(&opts)
	}
	f.c = Open(opts)
	t.Cleanup(f.c.Close)
	if err := f.c.Load(context.Background(), 0, store); err != nil {
		t.Fatal(err)
	}
	return f
}

// group runs fn on a group under the shard's lock (nil if none).
func (f *fixture) group(id string, fn func(g *group)) {
	f.c.mu.Lock()
	sh := f.c.mu.shards[0]
	f.c.mu.Unlock()
	sh.mu.Lock()
	defer sh.mu.Unlock()
	fn(sh.mu.groups[id])
}

func (f *fixture) parked(id string) int {
	n := 0
	f.group(id, func(g *group) {
		if g != nil {
			for _, m := range g.members {
				if m.join != nil || m.sync != nil {
					n++
				}
			}
		}
	})
	return n
}

func joinReq(group, member, instance string, version int16) *kmsg.JoinGroupRequest {
	req := kmsg.NewPtrJoinGroupRequest()
	req.Version, req.Group, req.MemberID = version, group, member
	if instance != "" {
		req.InstanceID = &instance
	}
	req.SessionTimeoutMillis, req.RebalanceTimeoutMillis = 10_000, 30_000
	req.ProtocolType = "consumer"
	req.Protocols = []kmsg.JoinGroupRequestProtocol{{Name: "range", Metadata: consumerMeta("orders")}}
	return req
}

// joinAsync joins in a goroutine, coming back with the member id when
// the coordinator asks for one (KIP-394), as clients do.
func (f *fixture) joinAsync(req *kmsg.JoinGroupRequest) chan *kmsg.JoinGroupResponse {
	ch := make(chan *kmsg.JoinGroupResponse, 1)
	go func() {
		client := Client{ID: "c", Host: "/127.0.0.1"}
		resp := f.c.JoinGroup(context.Background(), req, client)
		if resp.ErrorCode == kerr.MemberIDRequired.Code {
			again := *req
			again.MemberID = resp.MemberID
			resp = f.c.JoinGroup(context.Background(), &again, client)
		}
		ch <- resp
	}()
	return ch
}

func (f *fixture) syncAsync(group, member string, gen int32, assign map[string]string) chan *kmsg.SyncGroupResponse {
	req := kmsg.NewPtrSyncGroupRequest()
	req.Version, req.Group, req.MemberID, req.Generation = 5, group, member, gen
	for id, a := range assign {
		req.GroupAssignment = append(req.GroupAssignment, kmsg.SyncGroupRequestGroupAssignment{MemberID: id, MemberAssignment: []byte(a)})
	}
	ch := make(chan *kmsg.SyncGroupResponse, 1)
	go func() { ch <- f.c.SyncGroup(context.Background(), req) }()
	return ch
}

func (f *fixture) heartbeat(group, member string, gen int32) int16 {
	req := kmsg.NewPtrHeartbeatRequest()
	req.Version, req.Group, req.MemberID, req.Generation = 4, group, member, gen
	return f.c.Heartbeat(context.Background(), req).ErrorCode
}

func (f *fixture) commit(group, member string, gen int32, version int16, offsets map[string]int64) []*kerr.Error {
	r := &CommitRequest{Version: version, Group: group, MemberID: member, Generation: gen, RetentionMs: -1}
	for topic, off := range offsets {
		r.Offsets = append(r.Offsets, OffsetCommit{Topic: topic, Partition: 0, Offset: off, LeaderEpoch: -1})
	}
	f.c.CommitOffsets(context.Background(), r)
	var errs []*kerr.Error
	for _, o := range r.Offsets {
		errs = append(errs, o.Err)
	}
	return errs
}

func (f *fixture) fetch(group, topic string) int64 {
	got, err := f.c.FetchOffsets(group, []OffsetFetchTopic{{Topic: topic, Partitions: []int32{0}}}, true)
	if err != nil {
		f.t.Fatalf("fetch offsets: %v", err)
	}
	return got[0].Offset
}

func recv[T any](t *testing.T, ch chan T) T {
	t.Helper()
	select {
	case v := <-ch:
		return v
	case <-time.After(10 * time.Second):
		t.Fatal("no answer")
	}
	var zero T
	return zero
}

// stable forms a stable two-member group through the API and returns the
// leader's and the follower's ids and the generation.
func (f *fixture) stable(group string) (leader, follower string, gen int32) {
	t := f.t
	f.cfg.InitialRebalanceDelay = time.Second
	ja := f.joinAsync(joinReq(group, "", "", 5))
	jb := f.joinAsync(joinReq(group, "", "", 5))
	waitFor(t, "both joins parked", func() bool { return f.parked(group) == 2 })
	// The second member came during the delay, which is extended once.
	f.clock.Advance(2 * time.Second)
	ra, rb := recv(t, ja), recv(t, jb)
	if ra.ErrorCode != 0 || rb.ErrorCode != 0 || ra.Generation != 1 || ra.LeaderID != rb.LeaderID {
		t.Fatalf("joins: %+v / %+v", ra, rb)
	}
	leader, follower = ra.MemberID, rb.MemberID
	if rb.LeaderID == rb.MemberID {
		leader, follower = follower, leader
	}
	sf := f.syncAsync(group, follower, 1, nil)
	waitFor(t, "follower's sync parked", func() bool { return f.parked(group) == 1 })
	sl := f.syncAsync(group, leader, 1, map[string]string{leader: "L", follower: "F"})
	if got := recv(t, sf); got.ErrorCode != 0 || string(got.MemberAssignment) != "F" {
		t.Fatalf("follower's sync: %+v", got)
	}
	if got := recv(t, sl); got.ErrorCode != 0 || string(got.MemberAssignment) != "L" || *got.Protocol != "range" {
		t.Fatalf("leader's sync: %+v", got)
	}
	return leader, follower, 1
}

func TestCoordinatorRebalanceAndStorage(t *testing.T) {
	f := newFixture(t, nil)
	leader, follower, gen := f.stable("g")
	// The assignment is in the log, in Kafka's format.
	recs := f.store.records(t)
	if len(recs) != 1 {
		t.Fatalf("%d records after the first generation, want 1", len(recs))
	}
	var key kmsg.GroupMetadataKey
	var val kmsg.GroupMetadataValue
	if err := key.ReadFrom(recs[0].Key); err != nil || key.Version != 2 || key.Group != "g" {
		t.Fatalf("group key %+v: %v", key, err)
	}
	if err := val.ReadFrom(recs[0].Value); err != nil || val.Generation != gen || len(val.Members) != 2 || *val.Leader != leader {
		t.Fatalf("group value %+v: %v", val, err)
	}

	// A parked join does not hold up the other member's heartbeats.
	jc := f.joinAsync(joinReq("g", "", "", 3))
	waitFor(t, "third member parked", func() bool { return f.parked("g") == 1 })
	if code := f.heartbeat("g", follower, gen); code != kerr.RebalanceInProgress.Code {
		t.Fatalf("heartbeat during the rebalance: %v", kerr.ErrorForCode(code))
	}
	// Commits of the current generation are accepted during the
	// rebalance (eager consumers commit before they rejoin).
	if errs := f.commit("g", follower, gen, 8, map[string]int64{"orders": 42}); errs[0] != nil {
		t.Fatalf("commit during the rebalance: %v", errs[0])
	}
	ja := f.joinAsync(joinReq("g", leader, "", 5))
	jb := f.joinAsync(joinReq("g", follower, "", 5))
	for _, ch := range []chan *kmsg.JoinGroupResponse{ja, jb, jc} {
		if got := recv(t, ch); got.ErrorCode != 0 || got.Generation != 2 {
			t.Fatalf("rejoin: %+v", got)
		}
	}
	if got := f.fetch("g", "orders"); got != 42 {
		t.Fatalf("committed offset %d, want 42", got)
	}
	if errs := f.commit("g", follower, 1, 8, map[string]int64{"orders": 43}); errs[0] != kerr.IllegalGeneration {
		t.Fatalf("commit of an old generation: %v", errs[0])
	}
	if errs := f.commit("g", follower, 2, 8, map[string]int64{"orders": 43}); errs[0] != kerr.RebalanceInProgress {
		t.Fatalf("commit before the sync: %v", errs[0])
	}
}

func TestCoordinatorLoadRebuildsState(t *testing.T) {
	f := newFixture(t, nil)
	leader, follower, gen := f.stable("g")
	if errs := f.commit("g", leader, gen, 8, map[string]int64{"orders": 7, "payments": 9}); errs[0] != nil || errs[1] != nil {
		t.Fatalf("commit: %v", errs)
	}
	if errs := f.commit("simple", "", -1, 8, map[string]int64{"orders": 3}); errs[0] != nil {
		t.Fatalf("simple commit: %v", errs[0])
	}
	if errs := f.commit("gone", "", -1, 8, map[string]int64{"orders": 1}); errs[0] != nil {
		t.Fatalf("simple commit: %v", errs[0])
	}
	if err := f.c.DeleteGroup(context.Background(), "gone"); err != nil {
		t.Fatalf("delete group: %v", err)
	}
	f.c.Close()

	// A new coordinator reads the partition back.
	g := newFixture(t, f.store)
	d := g.c.DescribeGroup("g", 5)
	if d.ErrorCode != 0 || d.State != "Stable" || d.Protocol != "range" || len(d.Members) != 2 {
		t.Fatalf("reloaded group: %+v", d)
	}
	if code := g.heartbeat("g", follower, gen); code != 0 {
		t.Fatalf("heartbeat after the reload: %v", kerr.ErrorForCode(code))
	}
	for topic, want := range map[string]int64{"orders": 7, "payments": 9} {
		if got := g.fetch("g", topic); got != want {
			t.Fatalf("%s: offset %d after the reload, want %d", topic, got, want)
		}
	}
	if got := g.fetch("simple", "orders"); got != 3 {
		t.Fatalf("simple group's offset %d, want 3", got)
	}
	if got := g.fetch("gone", "orders"); got != -1 {
		t.Fatalf("deleted group's offset %d, want -1", got)
	}
	if d := g.c.DescribeGroup("gone", 6); d.ErrorCode != kerr.GroupIDNotFound.Code {
		t.Fatalf("deleted group: %+v", d)
	}
	// Members that do not come back are removed when their sessions end,
	// and the group is written empty.
	g.clock.Advance(10 * time.Second)
	g.clock.Advance(30 * time.Second)
	if d := g.c.DescribeGroup("g", 5); d.State != "Empty" {
		t.Fatalf("state %s after the members' sessions ended", d.State)
	}
	recs := g.store.records(t)
	var last kmsg.GroupMetadataValue
	if err := last.ReadFrom(recs[len(recs)-1].Value); err != nil || len(last.Members) != 0 || last.Generation != gen+1 {
		t.Fatalf("last record %+v: %v", last, err)
	}
}

func TestCoordinatorOffsetExpiry(t *testing.T) {
	f := newFixture(t, nil)
	f.commit("simple", "", -1, 8, map[string]int64{"orders": 5})
	f.clock.Advance(30 * time.Minute)
	f.commit("simple", "", -1, 8, map[string]int64{"payments": 6})
	// The first commit expires an hour after it was made; the check runs
	// every minute.
	f.clock.Advance(31 * time.Minute)
	if got := f.fetch("simple", "orders"); got != -1 {
		t.Fatalf("orders: %d, want expired", got)
	}
	if got := f.fetch("simple", "payments"); got != 6 {
		t.Fatalf("payments: %d, want 6", got)
	}
	f.clock.Advance(30 * time.Minute)
	f.group("simple", func(g *group) {
		if g != nil {
			t.Fatal("a group with no offsets left is still there")
		}
	})
	recs := f.store.records(t)
	tombstones := 0
	for _, r := range recs {
		if r.Value == nil {
			tombstones++
		}
	}
	if tombstones != 3 {
		t.Fatalf("%d tombstones, want 3 (two offsets and the group)", tombstones)
	}

	// An empty consumer group's offsets count from when it became empty.
	leader, follower, gen := f.stable("g")
	f.commit("g", leader, gen, 8, map[string]int64{"orders": 1})
	for range 50 * 60 / 9 { // 50 minutes of a live group
		f.clock.Advance(9 * time.Second)
		for _, id := range []string{leader, follower} {
			if code := f.heartbeat("g", id, gen); code != 0 {
				t.Fatalf("heartbeat: %v", kerr.ErrorForCode(code))
			}
		}
	}
	if got := f.fetch("g", "orders"); got != 1 {
		t.Fatalf("offset of a live group: %d", got)
	}
	f.c.LeaveGroup(context.Background(), "g", []kmsg.LeaveGroupRequestMember{{MemberID: leader}, {MemberID: follower}})
	f.clock.Advance(50 * time.Minute)
	if got := f.fetch("g", "orders"); got != 1 {
		t.Fatalf("offset of a group empty for 50 minutes: %d", got)
	}
	f.clock.Advance(11 * time.Minute)
	if got := f.fetch("g", "orders"); got != -1 {
		t.Fatalf("offset of a group empty for over an hour: %d", got)
	}
}

func TestCoordinatorCommitChecks(t *testing.T) {
	f := newFixture(t, nil)
	if errs := f.commit("nogroup", "m", 1, 8, map[string]int64{"t": 1}); errs[0] != kerr.IllegalGeneration {
		t.Errorf("v8 commit to an unknown group: %v", errs[0])
	}
	if errs := f.commit("nogroup", "m", 1, 9, map[string]int64{"t": 1}); errs[0] != kerr.GroupIDNotFound {
		t.Errorf("v9 commit to an unknown group: %v", errs[0])
	}
	leader, _, gen := f.stable("g")
	if errs := f.commit("g", "", -1, 8, map[string]int64{"t": 1}); errs[0] != kerr.UnknownMemberID {
		t.Errorf("simple commit to a group with members: %v", errs[0])
	}
	if errs := f.commit("g", "stranger", gen, 8, map[string]int64{"t": 1}); errs[0] != kerr.UnknownMemberID {
		t.Errorf("commit from a stranger: %v", errs[0])
	}
	big := string(make([]byte, 5000))
	r := &CommitRequest{Version: 8, Group: "g", MemberID: leader, Generation: gen, RetentionMs: -1, Offsets: []OffsetCommit{
		{Topic: "t", Offset: 1, Metadata: &big},
		{Topic: "u", Offset: 2},
		{Topic: "v", Offset: 3, Err: kerr.UnknownTopicOrPartition},
	}}
	f.c.CommitOffsets(context.Background(), r)
	if r.Offsets[0].Err != kerr.OffsetMetadataTooLarge || r.Offsets[1].Err != nil || r.Offsets[2].Err != kerr.UnknownTopicOrPartition {
		t.Errorf("per-partition answers: %v %v %v", r.Offsets[0].Err, r.Offsets[1].Err, r.Offsets[2].Err)
	}
	if f.fetch("g", "t") != -1 || f.fetch("g", "u") != 2 || f.fetch("g", "v") != -1 {
		t.Error("a refused partition was committed, or an accepted one was not")
	}
	// A failed write commits nothing and is not a retriable lie.
	f.store.fail = ErrBatchTooLarge
	if errs := f.commit("g", leader, gen, 8, map[string]int64{"u": 9}); errs[0] != kerr.InvalidCommitOffsetSize {
		t.Errorf("commit whose write failed: %v", errs[0])
	}
	if f.fetch("g", "u") != 2 {
		t.Error("a failed commit changed the offset")
	}
}

func TestCoordinatorDeleteGroupsAndOffsets(t *testing.T) {
	f := newFixture(t, nil)
	ctx := context.Background()
	leader, follower, gen := f.stable("g")
	f.commit("g", leader, gen, 8, map[string]int64{"orders": 1, "other": 2})
	if err := f.c.DeleteGroup(ctx, "g"); err != kerr.NonEmptyGroup {
		t.Errorf("delete a group with members: %v", err)
	}
	if err := f.c.DeleteGroup(ctx, "nosuch"); err != kerr.GroupIDNotFound {
		t.Errorf("delete an unknown group: %v", err)
	}
	parts := []OffsetDelete{{Topic: "orders"}, {Topic: "other"}, {Topic: "never"}}
	if err := f.c.DeleteOffsets(ctx, "g", parts); err != nil {
		t.Fatalf("delete offsets: %v", err)
	}
	if parts[0].Err != kerr.GroupSubscribedToTopic || parts[1].Err != nil || parts[2].Err != nil {
		t.Errorf("offset delete answers: %v %v %v", parts[0].Err, parts[1].Err, parts[2].Err)
	}
	if f.fetch("g", "orders") != 1 || f.fetch("g", "other") != -1 {
		t.Error("offset delete removed the wrong offsets")
	}
	if err := f.c.DeleteOffsets(ctx, "nosuch", []OffsetDelete{{Topic: "t"}}); err != kerr.GroupIDNotFound {
		t.Errorf("offset delete of an unknown group: %v", err)
	}
	_, errs := f.c.LeaveGroup(ctx, "g", []kmsg.LeaveGroupRequestMember{{MemberID: leader}, {MemberID: follower}, {MemberID: "x"}})
	if errs[0].ErrorCode != 0 || errs[1].ErrorCode != 0 || errs[2].ErrorCode != kerr.UnknownMemberID.Code {
		t.Errorf("leave answers: %+v", errs)
	}
	if err := f.c.DeleteGroup(ctx, "g"); err != nil {
		t.Fatalf("delete an empty group: %v", err)
	}
	if got, _ := f.c.ListGroups(nil, nil); len(got) != 0 {
		t.Errorf("groups left: %+v", got)
	}
}

func TestCoordinatorListAndDescribe(t *testing.T) {
	f := newFixture(t, nil)
	f.stable("a")
	f.commit("b", "", -1, 8, map[string]int64{"t": 1})
	all, err := f.c.ListGroups(nil, nil)
	if err != nil || len(all) != 2 || all[0].GroupState != "Stable" || all[1].GroupState != "Empty" || all[1].ProtocolType != "" {
		t.Fatalf("list: %+v, %v", all, err)
	}
	if got, _ := f.c.ListGroups([]string{"stable"}, nil); len(got) != 1 || got[0].Group != "a" {
		t.Errorf("list stable: %+v", got)
	}
	if got, _ := f.c.ListGroups(nil, []string{"consumer"}); len(got) != 0 {
		t.Errorf("list of KIP-848 groups: %+v", got)
	}
	d := f.c.DescribeGroup("a", 5)
	if d.State != "Stable" || d.ProtocolType != "consumer" || len(d.Members) != 2 || len(d.Members[0].MemberAssignment) == 0 || d.Members[0].ClientHost != "/127.0.0.1" {
		t.Errorf("describe: %+v", d)
	}
	if d := f.c.DescribeGroup("nosuch", 5); d.ErrorCode != 0 || d.State != "Dead" {
		t.Errorf("describe unknown (v5): %+v", d)
	}
}

// gatedStorage blocks reads until released, to observe a load in
// progress.
type gatedStorage struct {
	*memStorage
	gate chan struct{}
}

func (s gatedStorage) ReadBatches(ctx context.Context, fn func([]byte) error) error {
	select {
	case <-s.gate:
	case <-ctx.Done():
		return ctx.Err()
	}
	return s.memStorage.ReadBatches(ctx, fn)
}

func TestCoordinatorLoadAndUnload(t *testing.T) {
	f := newFixture(t, nil)
	f.cfg.InitialRebalanceDelay = time.Minute
	j := f.joinAsync(joinReq("g", "", "", 5))
	waitFor(t, "join parked", func() bool { return f.parked("g") == 1 })
	f.c.Unload(0)
	if got := recv(t, j); got.ErrorCode != kerr.NotCoordinator.Code {
		t.Fatalf("parked join after unload: %v", kerr.ErrorForCode(got.ErrorCode))
	}
	if got := f.c.JoinGroup(context.Background(), joinReq("g", "", "", 5), Client{}); got.ErrorCode != kerr.NotCoordinator.Code {
		t.Fatalf("join after unload: %v", kerr.ErrorForCode(got.ErrorCode))
	}

	// Loading marks the partition at once; Load, later, reads it.
	f.c.Loading(0)
	if got := f.c.JoinGroup(context.Background(), joinReq("g", "", "", 5), Client{}); got.ErrorCode != kerr.CoordinatorLoadInProgress.Code {
		t.Fatalf("join after Loading: %v", kerr.ErrorForCode(got.ErrorCode))
	}
	gs := gatedStorage{f.store, make(chan struct{})}
	loaded := make(chan error, 1)
	go func() { loaded <- f.c.Load(context.Background(), 0, gs) }()
	if got := f.c.JoinGroup(context.Background(), joinReq("g", "", "", 5), Client{}); got.ErrorCode != kerr.CoordinatorLoadInProgress.Code {
		t.Fatalf("join while loading: %v", kerr.ErrorForCode(got.ErrorCode))
	}
	if code := f.heartbeat("g", "m", 1); code != 0 {
		t.Fatalf("heartbeat while loading: %v (Kafka answers success)", kerr.ErrorForCode(code))
	}
	close(gs.gate)
	if err := <-loaded; err != nil {
		t.Fatal(err)
	}
	if code := f.heartbeat("g", "m", 1); code != kerr.UnknownMemberID.Code {
		t.Fatalf("heartbeat after the load: %v", kerr.ErrorForCode(code))
	}

	// Unloading during a load ends it.
	gs = gatedStorage{f.store, make(chan struct{})}
	go func() { loaded <- f.c.Load(context.Background(), 0, gs) }()
	waitFor(t, "second load registered", func() bool {
		f.c.mu.Lock()
		sh := f.c.mu.shards[0]
		f.c.mu.Unlock()
		if sh == nil {
			return false
		}
		sh.mu.Lock()
		defer sh.mu.Unlock()
		return sh.mu.claimed && !sh.mu.loaded
	})
	f.c.Unload(0)
	if err := <-loaded; !errors.Is(err, ErrClosed) {
		t.Fatalf("load cut short by unload: %v", err)
	}
}

func TestCoordinatorSyncWriteFailure(t *testing.T) {
	f := newFixture(t, nil)
	f.cfg.InitialRebalanceDelay = time.Second
	ja := f.joinAsync(joinReq("g", "", "", 5))
	jb := f.joinAsync(joinReq("g", "", "", 5))
	waitFor(t, "joins parked", func() bool { return f.parked("g") == 2 })
	// The second member came during the delay, which is extended once.
	f.clock.Advance(2 * time.Second)
	ra, rb := recv(t, ja), recv(t, jb)
	leader, follower := ra.MemberID, rb.MemberID
	if ra.LeaderID != leader {
		leader, follower = follower, leader
	}
	sf := f.syncAsync("g", follower, 1, nil)
	waitFor(t, "follower parked", func() bool { return f.parked("g") == 1 })
	f.store.fail = ErrNotLeader
	sl := f.syncAsync("g", leader, 1, map[string]string{leader: "L", follower: "F"})
	if got := recv(t, sl); got.ErrorCode != kerr.NotCoordinator.Code {
		t.Fatalf("leader's sync when the write fails: %v", kerr.ErrorForCode(got.ErrorCode))
	}
	if got := recv(t, sf); got.ErrorCode != kerr.NotCoordinator.Code {
		t.Fatalf("follower's sync when the write fails: %v", kerr.ErrorForCode(got.ErrorCode))
	}
	if d := f.c.DescribeGroup("g", 5); d.State != "PreparingRebalance" {
		t.Fatalf("state after a failed write: %s", d.State)
	}
}

func TestPartitionFor(t *testing.T) {
	for _, c := range []struct {
		s    string
		hash int32
	}{
		{"", 0},
		{"a", 97},
		{"hello", 99162322},
		{"my-group", -1906497762},
		{"polygenelubricants", -1 << 31},
		{"\U0001F600", 1772899},
		{"é", 233},
	} {
		if got := javaStringHash(c.s); got != c.hash {
			t.Errorf("hash(%q) = %d, want %d", c.s, got, c.hash)
		}
	}
	if got := PartitionFor("polygenelubricants", 50); got != 0 {
		t.Errorf("PartitionFor of a MinInt32 hash = %d, want 0", got)
	}
	if got := PartitionFor("a", 50); got != 47 {
		t.Errorf("PartitionFor(a, 50) = %d, want 47", got)
	}
	if got := PartitionFor("hello", 7); got != 99162322%7 {
		t.Errorf("PartitionFor(hello, 7) = %d", got)
	}
}
