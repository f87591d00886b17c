package group

import (
	"context"
	"fmt"
	"runtime"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/weirmq/weir/core/record"
)

// manualClock is a Clock that moves only when a test calls Advance, which
// runs the timers that fall due in the test's goroutine, in time order.
type manualClock struct {
	mu     sync.Mutex
	now    time.Time
	timers []*manualTimer
}

type manualTimer struct {
	c     *manualClock
	at    time.Time
	f     func()
	done  bool
	order int
}

var t0 = time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)

func newManualClock() *manualClock { return &manualClock{now: t0} }

func (c *manualClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *manualClock) AfterFunc(d time.Duration, f func()) Timer {
	c.mu.Lock()
	defer c.mu.Unlock()
	t := &manualTimer{c: c, at: c.now.Add(d), f: f, order: len(c.timers)}
	c.timers = append(c.timers, t)
	return t
}

func (t *manualTimer) Stop() bool {
	t.c.mu.Lock()
	defer t.c.mu.Unlock()
	was := !t.done
	t.done = true
	return was
}

// Advance moves time forward by d, firing due timers one at a time.
func (c *manualClock) Advance(d time.Duration) {
	c.mu.Lock()
	target := c.now.Add(d)
	c.mu.Unlock()
	for {
		c.mu.Lock()
		var next *manualTimer
		for _, t := range c.timers {
			if !t.done && !t.at.After(target) && (next == nil || t.at.Before(next.at)) {
				next = t
			}
		}
		if next == nil {
			c.now = target
			c.timers = slices.DeleteFunc(c.timers, func(t *manualTimer) bool { return t.done })
			c.mu.Unlock()
			return
		}
		next.done = true
		if next.at.After(c.now) {
			c.now = next.at
		}
		c.mu.Unlock()
		next.f()
	}
}

// memStorage is a Storage in memory: batches with offsets assigned.
type memStorage struct {
	mu      sync.Mutex
	batches [][]byte
	next    int64
	fail    error // returned by the next Append
}

func (s *memStorage) Append(_ context.Context, batch []byte) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := s.fail; err != nil {
		s.fail = nil
		return err
	}
	b := slices.Clone(batch)
	h, err := record.Validate(b)
	if err != nil {
		return err
	}
	record.SetBaseOffset(b, s.next)
	s.next += int64(h.LastOffsetDelta) + 1
	s.batches = append(s.batches, b)
	return nil
}

func (s *memStorage) ReadBatches(ctx context.Context, fn func([]byte) error) error {
	s.mu.Lock()
	batches := slices.Clone(s.batches)
	s.mu.Unlock()
	for _, b := range batches {
		if err := fn(b); err != nil {
			return err
		}
	}
	return nil
}

// records returns every record written, in order.
func (s *memStorage) records(t *testing.T) []record.Record {
	t.Helper()
	var out []record.Record
	s.ReadBatches(context.Background(), func(b []byte) error {
		it, err := record.NewIterator(b, nil, 0)
		if err != nil {
			t.Fatal(err)
		}
		for r, ok := it.Next(); ok; r, ok = it.Next() {
			out = append(out, r.Clone())
		}
		return it.Err()
	})
	return out
}

// testConfig is a configuration with short timeouts and no initial delay.
func testConfig() Config {
	cfg := DefaultConfig()
	cfg.MinSessionTimeout = time.Second
	cfg.InitialRebalanceDelay = 0
	cfg.OffsetsRetention = time.Hour
	cfg.OffsetsRetentionCheckInterval = time.Minute
	return cfg
}

// consumerMeta is consumer-protocol member metadata subscribing to topics.
func consumerMeta(topics ...string) []byte {
	m := kmsg.NewConsumerMemberMetadata()
	m.Topics = topics
	return m.AppendTo(nil)
}

func protocols(names ...string) []kmsg.JoinGroupRequestProtocol {
	var out []kmsg.JoinGroupRequestProtocol
	for _, n := range names {
		out = append(out, kmsg.JoinGroupRequestProtocol{Name: n, Metadata: consumerMeta("t")})
	}
	return out
}

// sm drives a group's state machine directly: no coordinator, no
// goroutines, time moved by hand.
type sm struct {
	t      *testing.T
	g      *group
	now    time.Time
	cfg    Config
	assign *assignEnv // server-side assignment; nil for none
	ids    int
}

func newSM(t *testing.T) *sm {
	return &sm{t: t, g: newGroup("g", t0), now: t0, cfg: testConfig()}
}

func (s *sm) env() env { return env{now: s.now, cfg: &s.cfg, assign: s.assign} }

// advance moves time and runs what is due.
func (s *sm) advance(d time.Duration) {
	s.now = s.now.Add(d)
	s.g.advance(s.env())
}

// joinReq is a v5 join (no KIP-394 round trip) of a consumer member with
// a 10s session and 30s rebalance timeout.
func (s *sm) joinReq(memberID, instance string, protos ...string) *joinRequest {
	s.ids++
	if len(protos) == 0 {
		protos = []string{"range"}
	}
	return &joinRequest{
		version: 3, memberID: memberID, instanceID: instance, clientID: "c", clientHost: "/127.0.0.1",
		protocolType: "consumer", protocols: protocols(protos...),
		sessionTimeout: 10 * time.Second, rebalanceTimeout: 30 * time.Second,
		newMemberID: fmt.Sprintf("m%d", s.ids),
	}
}

func (s *sm) join(r *joinRequest) (joinResult, chan joinResult) {
	s.t.Helper()
	res, wait, _ := s.g.join(s.env(), r)
	s.g.advance(s.env())
	return res, wait
}

// answered returns the answer on a join channel, failing if there is none
// yet.
func answered[T any](t *testing.T, ch chan T) T {
	t.Helper()
	select {
	case r := <-ch:
		return r
	default:
		t.Fatal("no answer yet")
	}
	var zero T
	return zero
}

func unanswered[T any](t *testing.T, ch chan T) {
	t.Helper()
	select {
	case r := <-ch:
		t.Fatalf("answered early: %+v", r)
	default:
	}
}

func wantErr(t *testing.T, what string, got, want *kerr.Error) {
	t.Helper()
	if got != want {
		t.Errorf("%s: got %v, want %v", what, got, want)
	}
}

// stableGroup forms a stable group of n dynamic members (the first is the
// leader) and returns their ids.
func (s *sm) stableGroup(n int, protos ...string) []string {
	s.t.Helper()
	var waits []chan joinResult
	for i := 0; i < n; i++ {
		_, w := s.join(s.joinReq("", "", protos...))
		waits = append(waits, w)
	}
	if n > 1 {
		// The first join completed a generation on its own; the others
		// started a rebalance the first member must rejoin.
		first := answered(s.t, waits[0])
		_, waits[0] = s.join(s.joinReq(first.memberID, "", protos...))
	}
	var ids []string
	for _, w := range waits {
		r := answered(s.t, w)
		if r.err != nil {
			s.t.Fatalf("join: %v", r.err)
		}
		ids = append(ids, r.memberID)
	}
	s.syncAll(ids)
	return ids
}

// syncAll syncs every member (the leader with an assignment naming each
// member) and checks the group is stable.
func (s *sm) syncAll(ids []string) {
	s.t.Helper()
	var in []kmsg.SyncGroupRequestGroupAssignment
	for _, id := range ids {
		in = append(in, kmsg.SyncGroupRequestGroupAssignment{MemberID: id, MemberAssignment: []byte("a-" + id)})
	}
	var waits []chan syncResult
	for _, id := range ids {
		res, w, leader := s.g.sync(s.env(), &syncRequest{memberID: id, generation: s.g.generation})
		if res.err != nil {
			s.t.Fatalf("sync %s: %v", id, res.err)
		}
		if leader {
			s.g.completeSync(s.env(), s.g.assignments(in), nil)
		}
		if w != nil {
			waits = append(waits, w)
		}
	}
	for _, w := range waits {
		if r := answered(s.t, w); r.err != nil {
			s.t.Fatalf("sync: %v", r.err)
		}
	}
	if s.g.state != stateStable {
		s.t.Fatalf("state %v after sync, want Stable", s.g.state)
	}
}

// waitFor polls cond (yielding the processor in between) until it holds,
// for goroutines that park on the coordinator.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		runtime.Gosched()
	}
}
