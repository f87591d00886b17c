package partition

import (
	"context"
	"errors"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/weirmq/weir/core/log"
)

// Partition-level replication tests: real logs on disk, the driver's
// methods called as the broker and its replica fetcher call them, time
// from an injected clock.

type fakeClock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *fakeClock) advance(d time.Duration) {
	c.mu.Lock()
	c.now = c.now.Add(d)
	c.mu.Unlock()
}

// replica opens a partition for broker id over a fresh log.
func replica(t *testing.T, id int32, clock *fakeClock, cfg Config) *Partition {
	t.Helper()
	l := openLog(t, t.TempDir())
	t.Cleanup(func() { l.Close() })
	p, err := Open("t", 0, l, Options{LocalID: id, Config: cfg, Logger: quiet, Now: clock.Now, HighWatermark: -1})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(p.Close)
	return p
}

// fetchOnce plays one round of follower f's fetcher against leader l at
// leader epoch epoch: the divergence walk if asked, then one fetch.
func fetchOnce(t *testing.T, l, f *Partition, id int32, epoch int32, truncate bool) {
	t.Helper()
	for truncate {
		latest := f.LatestEpoch()
		if latest < 0 {
			if err := f.TruncateTo(epoch, f.HighWatermark()); err != nil {
				t.Fatal(err)
			}
			break
		}
		off, done := f.TruncationOffset(l.EndOffsetForEpoch(latest))
		if err := f.TruncateTo(epoch, off); err != nil {
			t.Fatal(err)
		}
		truncate = !done
	}
	div, err := l.FollowerFetch(id, f.LogEndOffset(), f.LatestEpoch())
	if err != nil {
		t.Fatalf("follower %d fetch: %v", id, err)
	}
	if div != nil {
		off, _ := f.TruncationOffset(*div)
		if err := f.TruncateTo(epoch, off); err != nil {
			t.Fatal(err)
		}
		return
	}
	res, err := l.ReadToLogEnd(f.LogEndOffset(), 1<<20)
	if err != nil {
		t.Fatal(err)
	}
	for _, sl := range res.Slices {
		buf := make([]byte, sl.Len)
		if _, err := sl.File.ReadAt(buf, sl.Pos); err != nil {
			t.Fatal(err)
		}
		if _, err := f.AppendAsFollower(epoch, buf); err != nil {
			t.Fatalf("follower %d append: %v", id, err)
		}
	}
	f.SetLeaderHighWatermark(epoch, res.HighWatermark)
}

// logBytes returns the whole log of p.
func logBytes(t *testing.T, p *Partition) []byte {
	t.Helper()
	res, err := p.Log().Read(p.LogStartOffset(), p.LogEndOffset(), 1<<30)
	if err != nil {
		t.Fatal(err)
	}
	var out []byte
	for _, sl := range res.Slices {
		buf := make([]byte, sl.Len)
		sl.File.ReadAt(buf, sl.Pos)
		out = append(out, buf...)
	}
	return out
}

func leadership(leader, epoch, pe int32, isr ...int32) Leadership {
	return Leadership{Leader: leader, LeaderEpoch: epoch, PartitionEpoch: pe, Replicas: []int32{1, 2, 3}, ISR: isr}
}

func appendN(t *testing.T, p *Partition, n int, acks int16) AppendResult {
	t.Helper()
	var res AppendResult
	for i := 0; i < n; i++ {
		var err error
		if res, err = p.AppendAsLeader(batch(t, batchOpts{noProdID: true, ts: time.Now().UnixMilli()}), acks); err != nil {
			t.Fatal(err)
		}
	}
	return res
}

// TestKIP279WithRealLogs: the follower's latest epoch is one the new
// leader never had; the walk of OffsetForLeaderEpoch answers truncates it
// to where the logs part, and replication makes the logs byte-identical.
func TestKIP279WithRealLogs(t *testing.T) {
	clock := &fakeClock{now: time.Unix(1_700_000_000, 0)}
	cfg := lenient()
	a, b := replica(t, 1, clock, cfg), replica(t, 2, clock, cfg)

	// Epoch 1: a leads, b replicates offsets 0-1; a writes 2 alone.
	mustStart(t)(a.MakeLeader(leadership(1, 1, 1, 1, 2)))
	mustStart(t)(b.MakeFollower(leadership(1, 1, 1, 1, 2)))
	appendN(t, a, 2, 1)
	fetchOnce(t, a, b, 2, 1, true)
	appendN(t, a, 1, 1)
	// Epoch 2: b leads (a away) and writes 2-3.
	mustStart(t)(b.MakeLeader(leadership(2, 2, 2, 2)))
	appendN(t, b, 2, 1)
	// Epoch 3: a leads again (b away), writing offset 3 in epoch 3.
	mustStart(t)(a.MakeLeader(leadership(1, 3, 3, 1)))
	appendN(t, a, 1, 1)
	if got := a.Log().EpochEntries(); !slices.Equal(got, []log.EpochEntry{{Epoch: 1, StartOffset: 0}, {Epoch: 3, StartOffset: 3}}) {
		t.Fatalf("a's epochs %v", got)
	}
	if got := b.Log().EpochEntries(); !slices.Equal(got, []log.EpochEntry{{Epoch: 1, StartOffset: 0}, {Epoch: 2, StartOffset: 2}}) {
		t.Fatalf("b's epochs %v", got)
	}

	// b follows a in epoch 3: asks where epoch 2 ends; a has no epoch 2
	// and answers epoch 1 ending at 3; b's epoch 1 ends at 2: truncate to 2.
	mustStart(t)(b.MakeFollower(leadership(1, 3, 4, 1)))
	if e := a.EndOffsetForEpoch(2); e != (EpochEndOffset{1, 3}) {
		t.Fatalf("a's answer for epoch 2: %+v", e)
	}
	if off, done := b.TruncationOffset(a.EndOffsetForEpoch(2)); off != 2 || !done {
		t.Fatalf("b's decision: truncate to %d (done %t), want 2", off, done)
	}
	fetchOnce(t, a, b, 2, 3, true)
	if !slices.Equal(logBytes(t, a), logBytes(t, b)) {
		t.Fatalf("logs differ after replication:\na %v\nb %v", a.Log().EpochEntries(), b.Log().EpochEntries())
	}
	if got := b.Log().EpochEntries(); !slices.Equal(got, []log.EpochEntry{{Epoch: 1, StartOffset: 0}, {Epoch: 3, StartOffset: 3}}) {
		t.Fatalf("b's epochs after replication %v", got)
	}
}

// mustStart returns a check that a MakeLeader or MakeFollower started a
// new term: mustStart(t)(p.MakeLeader(st)).
func mustStart(t *testing.T) func(bool, error) {
	return func(started bool, err error) {
		t.Helper()
		if err != nil || !started {
			t.Fatalf("leadership change: started %t, err %v", started, err)
		}
	}
}

// TestAcksAllWaitsForTheISRAndHonoursMinISR drives an acks=all write
// through follower fetches, an ISR shrink committed by the controller and
// min.insync.replicas.
func TestAcksAllWaitsForTheISRAndHonoursMinISR(t *testing.T) {
	clock := &fakeClock{now: time.Unix(1_700_000_000, 0)}
	cfg := lenient()
	cfg.MinInsyncReplicas, cfg.ReplicaLagTimeMaxMs = 2, 1000
	var proposals []*ISRChange
	var mu sync.Mutex
	l := openLog(t, t.TempDir())
	defer l.Close()
	a, err := Open("t", 0, l, Options{LocalID: 1, Config: cfg, Logger: quiet, Now: clock.Now, HighWatermark: -1,
		OnISRChange: func(p *Partition) { mu.Lock(); proposals = append(proposals, p.PendingISRChange()); mu.Unlock() }})
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	b, c := replica(t, 2, clock, cfg), replica(t, 3, clock, cfg)
	st := leadership(1, 1, 1, 1, 2, 3)
	mustStart(t)(a.MakeLeader(st))
	mustStart(t)(b.MakeFollower(st))
	mustStart(t)(c.MakeFollower(st))

	res := appendN(t, a, 1, -1)
	done := make(chan error, 1)
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		defer cancel()
		done <- a.WaitForAcks(ctx, res)
	}()
	fetchOnce(t, a, b, 2, 1, true)
	fetchOnce(t, a, c, 3, 1, true)
	select {
	case err := <-done:
		t.Fatalf("acknowledged before the followers reported their positions: %v", err)
	default:
	}
	fetchOnce(t, a, b, 2, 1, false)
	fetchOnce(t, a, c, 3, 1, false)
	if err := <-done; err != nil {
		t.Fatalf("WaitForAcks: %v", err)
	}

	// c stops fetching. Past replica.lag.time.max.ms the leader proposes
	// the ISR without it; until the controller commits, acks=all waits for c.
	res = appendN(t, a, 1, -1)
	fetchOnce(t, a, b, 2, 1, false)
	fetchOnce(t, a, b, 2, 1, false)
	clock.advance(1500 * time.Millisecond)
	a.Tick()
	mu.Lock()
	if len(proposals) != 1 || !slices.Equal(proposals[0].ISR, []int32{1, 2}) {
		t.Fatalf("proposals %v", proposals)
	}
	change := proposals[0]
	mu.Unlock()
	if hw := a.HighWatermark(); hw != 1 {
		t.Fatalf("HW %d while the shrink is in flight, want 1", hw)
	}
	a.ISRChangeCommitted(change, 2)
	if hw, isr := a.HighWatermark(), a.Leadership().ISR; hw != 2 || !slices.Equal(isr, []int32{1, 2}) {
		t.Fatalf("after the commit: HW %d ISR %v", hw, isr)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if err := a.WaitForAcks(ctx, res); err != nil {
		t.Fatalf("WaitForAcks with two in the ISR: %v", err)
	}

	// b falls behind too: the ISR becomes the leader alone. A write
	// appended before the shrink fails after it; the next one is refused.
	res = appendN(t, a, 1, -1)
	clock.advance(1500 * time.Millisecond)
	a.Tick()
	a.ISRChangeCommitted(a.PendingISRChange(), 3)
	if err := a.WaitForAcks(ctx, res); !errors.Is(err, ErrNotEnoughReplicasAfterAppend) {
		t.Fatalf("WaitForAcks after the ISR fell below min.insync.replicas: %v", err)
	}
	leo := a.LogEndOffset()
	if _, err := a.AppendAsLeader(batch(t, batchOpts{noProdID: true, ts: time.Now().UnixMilli()}), -1); !errors.Is(err, ErrNotEnoughReplicas) {
		t.Fatalf("acks=all append with the ISR [1]: %v", err)
	}
	if a.LogEndOffset() != leo {
		t.Fatal("a refused write was appended")
	}
	if _, err := a.AppendAsLeader(batch(t, batchOpts{noProdID: true, ts: time.Now().UnixMilli()}), 1); err != nil {
		t.Fatalf("acks=1 append: %v", err)
	}
}

// TestLeadershipIsFencedByEpoch: stale metadata is ignored, writes of an
// old term are refused, and an acks=all wait fails when leadership moves.
func TestLeadershipIsFencedByEpoch(t *testing.T) {
	clock := &fakeClock{now: time.Unix(1_700_000_000, 0)}
	a := replica(t, 1, clock, lenient())
	if _, err := a.AppendAsLeader(batch(t, batchOpts{noProdID: true, ts: time.Now().UnixMilli()}), 1); !errors.Is(err, ErrNotLeaderOrFollower) {
		t.Fatalf("append before any leadership: %v", err)
	}
	mustStart(t)(a.MakeLeader(leadership(1, 5, 7, 1, 2)))
	if _, err := a.MakeLeader(leadership(1, 4, 9, 1, 2)); !errors.Is(err, ErrStaleLeadership) {
		t.Fatalf("older leader epoch: %v", err)
	}
	if _, err := a.MakeFollower(leadership(2, 5, 6, 1, 2)); !errors.Is(err, ErrStaleLeadership) {
		t.Fatalf("older partition epoch: %v", err)
	}
	if started, err := a.MakeLeader(leadership(1, 5, 7, 1, 2)); started || err != nil {
		t.Fatalf("the same leadership again: started %t, %v", started, err)
	}
	for _, tc := range []struct {
		epoch  int32
		leader bool
		want   error
	}{{5, true, nil}, {-1, true, nil}, {4, true, ErrFencedLeaderEpoch}, {6, true, ErrUnknownLeaderEpoch}} {
		if err := a.CheckLeaderEpoch(tc.epoch, tc.leader); !errors.Is(err, tc.want) || (tc.want == nil && err != nil) {
			t.Errorf("CheckLeaderEpoch(%d): %v, want %v", tc.epoch, err, tc.want)
		}
	}
	res := appendN(t, a, 1, -1) // waits for 2, which never fetches
	done := make(chan error, 1)
	go func() { done <- a.WaitForAcks(context.Background(), res) }()

	mustStart(t)(a.MakeFollower(leadership(2, 6, 8, 1, 2)))
	if err := <-done; !errors.Is(err, ErrNotLeaderOrFollower) {
		t.Fatalf("acks=all wait across a leader change: %v", err)
	}
	if _, err := a.AppendAsLeader(batch(t, batchOpts{noProdID: true, ts: time.Now().UnixMilli()}), 1); !errors.Is(err, ErrNotLeaderOrFollower) {
		t.Fatalf("append as a follower: %v", err)
	}
	if err := a.CheckLeaderEpoch(6, true); !errors.Is(err, ErrNotLeaderOrFollower) {
		t.Fatalf("CheckLeaderEpoch on a follower: %v", err)
	}
	// A fetch response of the old epoch, or a truncation, is refused.
	other := replica(t, 2, clock, lenient())
	mustStart(t)(other.MakeLeader(leadership(2, 6, 8, 2)))
	appendN(t, other, 1, 1)
	if _, err := a.AppendAsFollower(5, logBytes(t, other)); !errors.Is(err, ErrFencedLeaderEpoch) {
		t.Fatalf("follower append of an old epoch: %v", err)
	}
	if err := a.TruncateTo(5, 0); !errors.Is(err, ErrFencedLeaderEpoch) {
		t.Fatalf("truncation in an old epoch: %v", err)
	}
	if err := a.TruncateTo(6, 0); err != nil || a.LogEndOffset() != 0 {
		t.Fatalf("truncation in the current epoch: %v, LEO %d", err, a.LogEndOffset())
	}
	if _, err := a.AppendAsFollower(6, logBytes(t, other)); err != nil {
		t.Fatalf("follower append: %v", err)
	}
	if !slices.Equal(logBytes(t, a), logBytes(t, other)) {
		t.Fatal("the follower's log is not the leader's bytes")
	}
	a.Close()
	if _, err := a.MakeLeader(leadership(1, 9, 9, 1)); !errors.Is(err, ErrClosed) {
		t.Fatalf("MakeLeader after Close: %v", err)
	}
}

// TestHighWatermarkStartsFromTheCheckpoint: Open takes the checkpointed HW,
// kept within [log start, LEO]; a leader alone in its ISR moves it to its
// LEO at once, one with followers waits for them.
func TestHighWatermarkStartsFromTheCheckpoint(t *testing.T) {
	dir := t.TempDir()
	l := openLog(t, dir)
	defer l.Close()
	p, _ := openLeader(l, Options{Config: lenient(), Logger: quiet})
	appendN(t, p, 10, 1)
	p.Close()
	for _, tc := range []struct{ cp, want int64 }{{4, 4}, {50, 10}, {-1, 0}} {
		p, err := Open("t", 0, l, Options{LocalID: 2, Config: lenient(), Logger: quiet, HighWatermark: tc.cp})
		if err != nil {
			t.Fatal(err)
		}
		if hw := p.HighWatermark(); hw != tc.want {
			t.Errorf("checkpoint %d: HW %d, want %d", tc.cp, hw, tc.want)
		}
		if _, err := p.MakeLeader(Leadership{Leader: 2, LeaderEpoch: 1, Replicas: []int32{2, 3}, ISR: []int32{2, 3}}); err != nil {
			t.Fatal(err)
		}
		if hw := p.HighWatermark(); hw != tc.want {
			t.Errorf("checkpoint %d, leader with a follower: HW %d, want %d until it reports", tc.cp, hw, tc.want)
		}
		p.Close()
	}
	p, _ = Open("t", 0, l, Options{LocalID: 2, Config: lenient(), Logger: quiet, HighWatermark: 3})
	defer p.Close()
	if _, err := p.MakeLeader(Leadership{Leader: 2, LeaderEpoch: 1, Replicas: []int32{2}, ISR: []int32{2}}); err != nil {
		t.Fatal(err)
	}
	if hw := p.HighWatermark(); hw != 10 {
		t.Fatalf("a leader alone in its ISR: HW %d, want its LEO 10", hw)
	}
}

// TestProducerStateFollowsReplication: a follower keeps the idempotent
// producers' state from the batches it replicates, and rebuilds it when it
// truncates, so that as the next leader it deduplicates retries of what it
// kept and accepts again what it truncated.
func TestProducerStateFollowsReplication(t *testing.T) {
	clock := &fakeClock{now: time.Unix(1_700_000_000, 0)}
	a, b := replica(t, 1, clock, lenient()), replica(t, 2, clock, lenient())
	mustStart(t)(a.MakeLeader(leadership(1, 1, 1, 1, 2)))
	mustStart(t)(b.MakeFollower(leadership(1, 1, 1, 1, 2)))
	for seq := int32(0); seq < 6; seq += 2 {
		if _, err := a.AppendAsLeader(batch(t, batchOpts{pid: 9, seq: seq, records: 2}), 1); err != nil {
			t.Fatal(err)
		}
	}
	fetchOnce(t, a, b, 2, 1, true) // b has seq 0-5 (offsets 0-5)
	if _, err := a.AppendAsLeader(batch(t, batchOpts{pid: 9, seq: 6, records: 2}), 1); err != nil {
		t.Fatal(err)
	}
	fetchOnce(t, a, b, 2, 1, false) // and 6-7
	// b truncates its last batch (as if the leader had not had it) and
	// then leads.
	if err := b.TruncateTo(1, 6); err != nil {
		t.Fatal(err)
	}
	mustStart(t)(b.MakeLeader(leadership(2, 2, 2, 2)))
	if r, err := b.AppendAsLeader(batch(t, batchOpts{pid: 9, seq: 4, records: 2}), 1); err != nil || !r.Duplicate || r.BaseOffset != 4 {
		t.Fatalf("retry of a kept batch: %+v %v", r, err)
	}
	if r, err := b.AppendAsLeader(batch(t, batchOpts{pid: 9, seq: 6, records: 2}), 1); err != nil || r.Duplicate || r.BaseOffset != 6 {
		t.Fatalf("retry of a truncated batch: %+v %v", r, err)
	}
}
