package group

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"slices"
	"sync"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"

	"github.com/weirmq/weir/core/record"
)

// Options configure a Coordinator.
type Options struct {
	// Config returns the configuration for the next request; nil means
	// DefaultConfig.
	Config func() Config
	// Partitions returns the partition count of __consumer_offsets, which
	// places groups (PartitionFor). Required.
	Partitions func() int32
	Clock      Clock              // nil: SystemClock
	Codecs     record.CodecSource // for batches others wrote compressed; may be nil
	Logger     *slog.Logger       // nil: slog.Default()

	// KIP-848 consumer groups (weir: KIP-848). Topics returns the
	// cluster's topics as of the request (nil, or a nil Topics: none);
	// Assignors finds server assignors by name (nil: none, and every
	// ConsumerGroupHeartbeat join fails with UNSUPPORTED_ASSIGNOR).
	Topics    func() Topics
	Assignors Assignors

	// ClassicAssignor names the assignor the coordinator runs for a
	// classic group of protocol type "consumer" (weir: its weir.assignor
	// group config, else the broker's weir.group.assignor), found in
	// Assignors, with partition counts from Topics: "" leaves the
	// assignment to the group's leader, as in Kafka. nil: every group is
	// assigned by its leader. It is called at the end of a rebalance's
	// join phase with a shard's lock held, and must not call the
	// Coordinator.
	ClassicAssignor func(group string) string
}

// Coordinator is the group coordinator of one node: the groups of the
// __consumer_offsets partitions it has loaded. It is safe for concurrent
// use. Create it with Open; Close stops it.
//
// Locking: each loaded partition is a shard with two locks, taken in this
// order: writeMu, held across a write to the partition (and the state
// change that goes with it), so that the log's order is the order in which
// the state changed; and mu, which guards the shard's groups and is never
// held while waiting — a JoinGroup or SyncGroup that has to wait parks on
// a channel outside it. Coordinator.mu (the shard table) comes before a
// shard's mu and is never taken while holding one.
type Coordinator struct {
	opts   Options
	clock  Clock
	logger *slog.Logger

	// lifetime ends at Close; background writes (after a timer) use it.
	lifetime context.Context
	stop     context.CancelFunc
	wg       sync.WaitGroup // timer callbacks in flight

	assign *assignEnv // server-side assignment of classic groups; never changes

	mu struct {
		sync.Mutex
		shards map[int32]*shard
		closed bool
	}
}

// Open returns a coordinator with no partitions loaded.
func Open(opts Options) *Coordinator {
	if opts.Config == nil {
		opts.Config = DefaultConfig
	}
	if opts.Clock == nil {
		opts.Clock = SystemClock{}
	}
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	c := &Coordinator{opts: opts, clock: opts.Clock, logger: opts.Logger}
	c.lifetime, c.stop = context.WithCancel(context.Background())
	c.assign = &assignEnv{ctx: c.lifetime, assignor: opts.ClassicAssignor, assignors: opts.Assignors, topics: c.topics}
	c.mu.shards = map[int32]*shard{}
	return c
}

// Close unloads every partition — parked requests are answered with
// NOT_COORDINATOR — and waits for timer callbacks in flight.
func (c *Coordinator) Close() {
	c.mu.Lock()
	if c.mu.closed {
		c.mu.Unlock()
		return
	}
	c.mu.closed = true
	shards := slices.Collect(maps.Values(c.mu.shards))
	clear(c.mu.shards)
	c.mu.Unlock()
	for _, sh := range shards {
		sh.close()
	}
	c.stop()
	c.wg.Wait()
}

// Loading marks partition as about to be loaded: from now on requests for
// its groups get COORDINATOR_LOAD_IN_PROGRESS rather than NOT_COORDINATOR.
// Call it where the decision to load is taken, then Load (typically in a
// goroutine); Load marks the partition itself if Loading was not called.
// A partition loaded already is replaced (its parked requests answered
// with NOT_COORDINATOR).
func (c *Coordinator) Loading(partition int32) {
	c.replaceShard(partition, nil)
}

// Load makes the coordinator the owner of the groups placed on partition
// of __consumer_offsets, rebuilding them from its records; until it
// returns, their requests get COORDINATOR_LOAD_IN_PROGRESS. A partition
// loaded already is replaced. Load blocks while it reads; it returns
// ErrClosed (closed or unloaded meanwhile, or ctx ended), or the storage's
// error, in which case the partition stays unloaded.
func (c *Coordinator) Load(ctx context.Context, partition int32, s Storage) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	sh := c.replaceShard(partition, func(sh *shard) bool {
		sh.mu.Lock()
		defer sh.mu.Unlock()
		if sh.mu.claimed {
			return false // another Load has it
		}
		sh.mu.claimed, sh.store, sh.mu.cancel = true, s, cancel
		return true
	})
	if sh == nil {
		return ErrClosed
	}

	start := time.Now()
	st, err := replay(ctx, s, c.opts.Codecs, c.logger)
	if err != nil {
		c.unload(partition, sh)
		if ctx.Err() != nil {
			return ErrClosed
		}
		return fmt.Errorf("loading groups of %s-%d: %w", OffsetsTopic, partition, err)
	}
	sh.mu.Lock()
	defer sh.mu.Unlock()
	if sh.mu.closed {
		return ErrClosed
	}
	e := c.env()
	sh.mu.groups = st.groups(e)
	sh.mu.loaded = true
	for _, g := range sh.mu.groups {
		g.loggedGen = g.generation
		if g.consumer != nil { // weir: KIP-848
			g.loggedGen = g.consumer.assignmentEpoch
		}
		sh.settle(e, g)
	}
	sh.armExpiry(e)
	level := slog.LevelInfo
	if len(sh.mu.groups) == 0 {
		level = slog.LevelDebug
	}
	c.logger.Log(ctx, level, "loaded groups", "topic", OffsetsTopic, "partition", partition,
		"groups", len(sh.mu.groups), "took", time.Since(start))
	return nil
}

// replaceShard installs a new, loading shard for partition, unless claim
// accepts the one there (a shard Loading made ready for Load). It returns
// the shard, or nil after Close.
func (c *Coordinator) replaceShard(partition int32, claim func(*shard) bool) *shard {
	c.mu.Lock()
	if c.mu.closed {
		c.mu.Unlock()
		return nil
	}
	old := c.mu.shards[partition]
	if old != nil && claim != nil && claim(old) {
		c.mu.Unlock()
		return old
	}
	sh := &shard{c: c, partition: partition}
	sh.mu.groups = map[string]*group{}
	if claim != nil {
		claim(sh)
	}
	c.mu.shards[partition] = sh
	c.mu.Unlock()
	if old != nil {
		old.close()
	}
	return sh
}

// Unload drops the groups of partition (this node no longer leads it, or
// the topic is gone): parked requests are answered with NOT_COORDINATOR,
// later ones get NOT_COORDINATOR until it is loaded again.
func (c *Coordinator) Unload(partition int32) {
	c.mu.Lock()
	sh := c.mu.shards[partition]
	delete(c.mu.shards, partition)
	c.mu.Unlock()
	if sh != nil {
		sh.close()
	}
}

func (c *Coordinator) unload(partition int32, sh *shard) {
	c.mu.Lock()
	if c.mu.shards[partition] == sh {
		delete(c.mu.shards, partition)
	}
	c.mu.Unlock()
	sh.close()
}

// enter registers a timer callback with the coordinator; false after Close.
func (c *Coordinator) enter() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.mu.closed {
		return false
	}
	c.wg.Add(1)
	return true
}

func (c *Coordinator) env() env {
	cfg := c.opts.Config()
	return env{now: c.clock.Now(), cfg: &cfg, assign: c.assign}
}

// shardFor returns the loaded shard of the group's partition, locked, or
// the error to answer: NOT_COORDINATOR if this node does not coordinate
// the group, COORDINATOR_LOAD_IN_PROGRESS while it loads.
func (c *Coordinator) shardFor(groupID string) (*shard, *kerr.Error) {
	n := c.opts.Partitions()
	if n <= 0 {
		return nil, kerr.CoordinatorNotAvailable
	}
	c.mu.Lock()
	sh, closed := c.mu.shards[PartitionFor(groupID, n)], c.mu.closed
	c.mu.Unlock()
	switch {
	case closed:
		return nil, kerr.CoordinatorNotAvailable
	case sh == nil:
		return nil, kerr.NotCoordinator
	}
	sh.mu.Lock()
	switch {
	case sh.mu.closed:
		sh.mu.Unlock()
		return nil, kerr.NotCoordinator
	case !sh.mu.loaded:
		sh.mu.Unlock()
		return nil, kerr.CoordinatorLoadInProgress
	}
	return sh, nil
}

// shard is one loaded partition of __consumer_offsets and its groups.
type shard struct {
	c         *Coordinator
	partition int32
	store     Storage // set (under mu) by Load before loaded

	writeMu sync.Mutex // held across a write; taken before mu
	mu      struct {
		sync.Mutex
		claimed bool               // a Load is reading the partition
		loaded  bool               // its groups are ready
		closed  bool               // unloaded
		cancel  context.CancelFunc // ends the Load
		groups  map[string]*group
		expiry  Timer
	}
}

// close answers every parked request with NOT_COORDINATOR and stops the
// timers.
func (sh *shard) close() {
	sh.mu.Lock()
	defer sh.mu.Unlock()
	if sh.mu.cancel != nil {
		sh.mu.cancel()
	}
	sh.mu.closed = true
	for _, g := range sh.mu.groups {
		sh.stopTimer(g)
		for _, m := range g.members {
			m.answerJoin(joinResult{err: kerr.NotCoordinator, memberID: m.id, generation: -1})
			m.answerSync(syncResult{err: kerr.NotCoordinator})
		}
	}
	if sh.mu.expiry != nil {
		sh.mu.expiry.Stop()
	}
	sh.mu.groups = nil
}

// current reports whether g is still the shard's group of its name.
func (sh *shard) current(g *group) bool {
	return !sh.mu.closed && sh.mu.groups[g.id] == g
}

// settle finishes a step on g: what is due happens, a group with nothing
// in it that never reached the log is forgotten, and the timer is armed
// for the next deadline.
func (sh *shard) settle(e env, g *group) {
	g.advance(e)
	if cg := g.consumer; cg != nil { // weir: KIP-848
		if cg.assignmentEpoch != g.loggedGen {
			g.loggedGen = cg.assignmentEpoch
			sh.c.logger.Info("consumer group assigned", "group", g.id, "group_epoch", cg.epoch,
				"assignment_epoch", cg.assignmentEpoch, "members", len(cg.members))
		}
	} else {
		if f := g.assignFailure; f != nil {
			g.assignFailure = nil
			sh.c.logger.Warn("server-side assignment failed; the group's leader assigns until it succeeds",
				"group", g.id, "assignor", f.assignor, "generation", g.generation, "err", f.err)
		}
		if g.generation != g.loggedGen {
			g.loggedGen = g.generation
			args := []any{"group", g.id, "generation", g.generation, "state", g.state.String(),
				"members", len(g.members), "protocol", g.protocol, "leader", g.leader}
			if g.serverAssignor != "" {
				args = append(args, "assignor", g.serverAssignor)
			}
			sh.c.logger.Info("group rebalanced", args...)
		}
	}
	if g.idle() && g.generation == 0 && !g.needsWrite() && (g.consumer == nil || g.consumer.epoch == 0) {
		sh.forget(g)
		return
	}
	sh.arm(g, e.now)
}

func (sh *shard) forget(g *group) {
	sh.stopTimer(g)
	if sh.mu.groups[g.id] == g {
		delete(sh.mu.groups, g.id)
	}
}

func (sh *shard) stopTimer(g *group) {
	if g.timer != nil {
		g.timer.Stop()
		g.timer = nil
	}
	g.timerAt = time.Time{}
}

func (sh *shard) arm(g *group, now time.Time) {
	next := g.nextDeadline()
	if next.Equal(g.timerAt) && (g.timer != nil) == !next.IsZero() {
		return
	}
	sh.stopTimer(g)
	if next.IsZero() {
		return
	}
	timer := new(Timer)
	g.timerAt = next
	*timer = sh.c.clock.AfterFunc(next.Sub(now), func() { sh.fire(g, timer) })
	g.timer = *timer
}

// fire runs g's due deadlines from a timer, and writes what they left
// unwritten.
func (sh *shard) fire(g *group, timer *Timer) {
	c := sh.c
	if !c.enter() {
		return
	}
	defer c.wg.Done()
	sh.mu.Lock()
	if !sh.current(g) {
		sh.mu.Unlock()
		return
	}
	if g.timer == *timer {
		g.timer, g.timerAt = nil, time.Time{}
	}
	sh.settle(c.env(), g)
	write := g.needsWrite()
	sh.mu.Unlock()
	if write {
		sh.writeGroup(c.lifetime, g)
	}
}

// writeGroup writes g's unwritten records, if it has any: classic group
// metadata, or a consumer group's dirty records. Once it returns, what g
// had to write when it was called is in the log, or the error says it may
// not be (a consumer group's records are then written again by the next
// write).
func (sh *shard) writeGroup(ctx context.Context, g *group) error {
	sh.writeMu.Lock()
	defer sh.writeMu.Unlock()
	sh.mu.Lock()
	if !sh.current(g) || !g.needsWrite() {
		sh.mu.Unlock()
		return nil
	}
	recs, restore := g.takeRecords()
	now := sh.c.clock.Now()
	sh.mu.Unlock()
	err := sh.append(ctx, now, recs)
	if err != nil {
		sh.mu.Lock()
		if sh.current(g) {
			restore()
		}
		sh.mu.Unlock()
		sh.c.logger.Warn("writing group metadata failed", "group", g.id, "records", len(recs), "err", err)
	}
	return err
}

func (sh *shard) append(ctx context.Context, now time.Time, recs []kv) error {
	batch, err := buildBatch(now, recs)
	if err != nil {
		return fmt.Errorf("%w: %w", ErrBatchTooLarge, err)
	}
	return sh.store.Append(ctx, batch)
}

// storeError is the code for a failed write: for an offset commit
// (commit) or for group metadata, as Kafka maps them.
func storeError(err error, commit bool) *kerr.Error {
	switch {
	case errors.Is(err, ErrBatchTooLarge) && commit:
		return kerr.InvalidCommitOffsetSize
	case errors.Is(err, ErrBatchTooLarge):
		return kerr.UnknownServerError
	case errors.Is(err, ErrNotLeader):
		return kerr.NotCoordinator
	}
	return kerr.CoordinatorNotAvailable
}

// armExpiry schedules the next pass over expired offsets.
func (sh *shard) armExpiry(e env) {
	d := e.cfg.OffsetsRetentionCheckInterval
	if d <= 0 {
		d = DefaultConfig().OffsetsRetentionCheckInterval
	}
	sh.mu.expiry = sh.c.clock.AfterFunc(d, sh.expire)
}

// expire removes the offsets that outlived offsets.retention.minutes and
// the empty groups left with none, writing tombstones for them.
func (sh *shard) expire() {
	c := sh.c
	if !c.enter() {
		return
	}
	defer c.wg.Done()
	sh.writeMu.Lock()
	defer sh.writeMu.Unlock()
	sh.mu.Lock()
	if sh.mu.closed {
		sh.mu.Unlock()
		return
	}
	e := c.env()
	var (
		recs    []kv
		dead    []*group
		expired int
	)
	for _, id := range slices.Sorted(maps.Keys(sh.mu.groups)) {
		g := sh.mu.groups[id]
		for _, k := range g.expiredOffsets(e.now, e.cfg.OffsetsRetention) {
			recs = append(recs, kv{key: offsetKey(g.id, k)})
			delete(g.offsets, k)
			expired++
		}
		if g.idle() {
			g.setState(stateDead, e.now)
			g.unwritten = nil
			recs = append(recs, g.deleteRecords()...) // weir: KIP-848 groups have their own
			dead = append(dead, g)
		}
	}
	sh.armExpiry(e)
	sh.mu.Unlock()
	if len(recs) == 0 {
		return
	}
	if err := sh.append(c.lifetime, e.now, recs); err != nil {
		c.logger.Warn("writing tombstones of expired offsets failed", "partition", sh.partition, "err", err)
	}
	sh.mu.Lock()
	defer sh.mu.Unlock()
	for _, g := range dead {
		if sh.current(g) {
			sh.forget(g)
		}
	}
	if expired > 0 || len(dead) > 0 {
		c.logger.Info("expired offsets", "partition", sh.partition, "offsets", expired, "groups", len(dead))
	}
}

// newMemberID is a fresh member id: the client id (or the instance id of
// a static member) and a random UUID, as Kafka makes them.
func newMemberID(prefix string) string {
	var u [16]byte
	_, _ = rand.Read(u[:])
	u[6] = u[6]&0x0f | 0x40
	u[8] = u[8]&0x3f | 0x80
	return fmt.Sprintf("%s-%x-%x-%x-%x-%x", prefix, u[0:4], u[4:6], u[6:8], u[8:10], u[10:])
}
