package partition

import (
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/weirmq/weir/core/log"
	"github.com/weirmq/weir/core/record"
)

// Errors of the append path, besides the log's and the producer-state ones.
var (
	// ErrInvalidRecord: the request breaks a rule of the produce path
	// (INVALID_RECORD), such as more than one batch per partition.
	ErrInvalidRecord = errors.New("invalid record")
	// ErrInvalidTimestamp: a CreateTime timestamp outside
	// message.timestamp.before/after.max.ms (INVALID_TIMESTAMP).
	ErrInvalidTimestamp = errors.New("invalid timestamp")
)

// Config is the part of a topic's (and broker's) configuration the
// partition applies on top of its log's.
type Config struct {
	LogAppendTime        bool  // message.timestamp.type = LogAppendTime
	TimestampBeforeMaxMs int64 // message.timestamp.before.max.ms
	TimestampAfterMaxMs  int64 // message.timestamp.after.max.ms
	MinInsyncReplicas    int   // min.insync.replicas: acks=all needs an ISR this large; 0 counts as 1
	ReplicaLagTimeMaxMs  int64 // replica.lag.time.max.ms: a follower behind for longer leaves the ISR; 0 means 30000
}

// Options for Open.
type Options struct {
	Config Config
	// LocalID is this broker's id: the replica the partition is.
	LocalID int32
	// HighWatermark is where the HW starts (from the HW checkpoint): it is
	// kept within [log start offset, LEO]; -1 means unknown (the log
	// start offset). A leader alone in its ISR moves it to its LEO at
	// once; otherwise it moves as followers report their positions.
	HighWatermark int64
	Logger        *slog.Logger // nil: slog.Default()
	Now           func() time.Time
	// OnISRChange is called, without the partition's locks held, when the
	// leader has an ISR change for the controller (PendingISRChange). It
	// must not block; the broker queues the partition for its sender.
	OnISRChange func(*Partition)
	// OnISRChanged is called, without locks, when a committed ISR change
	// took effect: shrinks and expansions, for the metrics.
	OnISRChanged func(shrinks, expands int)
}

// Partition is one replica of one partition: its log and the replication
// state around it (replica_state.go), driven by the broker: MakeLeader and
// MakeFollower from the metadata, AppendAsLeader from produce requests,
// FollowerFetch and ReadToLogEnd from followers' fetches, AppendAsFollower
// and the truncation methods from this broker's replica fetcher, Tick from
// a timer, and the ISR-change methods from the sender that talks to the
// controller.
//
// A Partition is safe for concurrent use. Create it with Open; Close it
// before closing its log.
type Partition struct {
	topic  string
	index  int32
	log    *log.Log
	logger *slog.Logger
	now    func() time.Time
	hooks  Options // OnISRChange, OnISRChanged

	// appendMu serialises writes to the log — appends as leader or
	// follower, truncations — with the role changes, so that the role an
	// append checked is the role it writes under, and the producer-state
	// check and the append it guards are one step. Lock order: appendMu,
	// then mu.
	appendMu  sync.Mutex
	producers producerStates // guarded by appendMu

	mu struct {
		sync.Mutex
		cfg     Config
		state   *replicaState
		waiters map[*Waiter]bool // value: also woken by appends (replica long polls)
		closed  bool
	}
}

// Open wraps an opened log as a replica that does not know its role yet
// (requests for it get ErrNotLeaderOrFollower until MakeLeader or
// MakeFollower), rebuilding producer state from the log's batch headers.
func Open(topic string, index int32, l *log.Log, opts Options) (*Partition, error) {
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	p := &Partition{topic: topic, index: index, log: l, now: opts.Now, producers: producerStates{}, hooks: opts,
		logger: opts.Logger.With("topic", topic, "partition", index)}
	p.mu.cfg = opts.Config
	hw := max(opts.HighWatermark, l.LogStartOffset())
	p.mu.state = newReplicaState(opts.LocalID, hw, l.LogEndOffset(), lagMaxMs(opts.Config))
	p.mu.waiters = map[*Waiter]bool{}
	if err := p.loadProducerState(); err != nil {
		return nil, fmt.Errorf("rebuilding producer state of %s-%d: %w", topic, index, err)
	}
	l.SetCleanLimit(p.HighWatermark())
	return p, nil
}

func lagMaxMs(cfg Config) int64 {
	if cfg.ReplicaLagTimeMaxMs <= 0 {
		return 30000
	}
	return cfg.ReplicaLagTimeMaxMs
}

func minISR(cfg Config) int { return max(cfg.MinInsyncReplicas, 1) }

// Topic returns the partition's topic name.
func (p *Partition) Topic() string { return p.topic }

// Index returns the partition number.
func (p *Partition) Index() int32 { return p.index }

// Log returns the partition's log.
func (p *Partition) Log() *log.Log { return p.log }

// SetConfig changes the partition's configuration.
func (p *Partition) SetConfig(cfg Config) {
	p.mu.Lock()
	p.mu.cfg = cfg
	p.mu.state.lagMaxMs = lagMaxMs(cfg)
	p.mu.Unlock()
}

// LeaderEpoch returns the current leader epoch (-1 before the replica is
// told its role).
func (p *Partition) LeaderEpoch() int32 {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.mu.state.leaderEpoch
}

// HighWatermark returns the HW: consumers read below it.
func (p *Partition) HighWatermark() int64 {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.mu.state.hw
}

// LogEndOffset returns the LEO.
func (p *Partition) LogEndOffset() int64 { return p.log.LogEndOffset() }

// LogStartOffset returns the log start offset.
func (p *Partition) LogStartOffset() int64 { return p.log.LogStartOffset() }

// AppendResult is the outcome of AppendAsLeader.
type AppendResult struct {
	BaseOffset     int64 // offset of the batch's first record
	LastOffset     int64
	LogAppendTime  int64 // the broker's timestamp for LogAppendTime topics, else -1
	LogStartOffset int64
	Duplicate      bool  // a retried idempotent batch: nothing was written
	LeaderEpoch    int32 // the leader epoch it was appended in, for WaitForAcks
}

// AppendAsLeader appends one produce request's records for this partition:
// exactly one v2 batch, as Kafka requires of Produce v3 and later. It checks
// the idempotent producer's epoch and sequence first: a retry of one of the
// producer's last five batches is answered with the original offsets and
// not written again. With requiredAcks -1 (all) it first checks that the
// ISR has min.insync.replicas members; wait for the replication with
// WaitForAcks. records is modified in place (offsets, epoch, and the
// timestamp for LogAppendTime topics) and not retained.
//
// Errors: ErrNotLeaderOrFollower (not the leader, or closed),
// ErrNotEnoughReplicas, ErrInvalidRecord, ErrInvalidTimestamp, the
// producer-state errors, and the log's (log.ErrInvalidBatch,
// log.ErrRecordTooLarge, I/O errors).
func (p *Partition) AppendAsLeader(records []byte, requiredAcks int16) (AppendResult, error) {
	res := AppendResult{BaseOffset: -1, LastOffset: -1, LogAppendTime: -1}
	batch, rest, err := record.NextBatch(records)
	if err != nil {
		return res, fmt.Errorf("%w: %w", log.ErrInvalidBatch, err)
	}
	if len(rest) > 0 {
		return res, fmt.Errorf("%w: a produce request must carry exactly one record batch per partition", ErrInvalidRecord)
	}
	h, err := record.Validate(batch)
	if err != nil {
		return res, fmt.Errorf("%w: %w", log.ErrInvalidBatch, err)
	}

	p.appendMu.Lock()
	defer p.appendMu.Unlock()
	p.mu.Lock()
	cfg, epoch, closed := p.mu.cfg, p.mu.state.leaderEpoch, p.mu.closed
	err = p.mu.state.checkLeaderEpoch(-1, true)
	if err == nil && requiredAcks == -1 {
		err = p.mu.state.checkMinISR(minISR(cfg))
	}
	p.mu.Unlock()
	switch {
	case closed:
		return res, ErrClosed
	case err != nil:
		return res, err
	}
	res.LeaderEpoch = epoch
	now := p.now().UnixMilli()
	if cfg.LogAppendTime {
		record.SetLogAppendTime(batch, now)
		res.LogAppendTime = now
	} else if !h.Attributes.Control() {
		if (h.BaseTimestamp < now && now-h.BaseTimestamp > cfg.TimestampBeforeMaxMs) ||
			(h.MaxTimestamp > now && h.MaxTimestamp-now > cfg.TimestampAfterMaxMs) {
			return res, fmt.Errorf("%w: batch timestamps %d..%d are outside the allowed range around %d", ErrInvalidTimestamp, h.BaseTimestamp, h.MaxTimestamp, now)
		}
	}

	dup, err := p.producers.check(h)
	if err != nil {
		return res, err
	}
	if dup != nil {
		res.BaseOffset, res.LastOffset, res.Duplicate = dup.firstOffset, dup.lastOffset, true
		res.LogStartOffset = p.log.LogStartOffset()
		return res, nil
	}
	info, err := p.log.AppendAsLeader(batch, epoch)
	if err != nil {
		return res, err
	}
	h.BaseOffset = info.FirstOffset
	p.producers.record(h)
	res.BaseOffset, res.LastOffset = info.FirstOffset, info.LastOffset
	res.LogStartOffset = p.log.LogStartOffset()
	p.mu.Lock()
	eff := p.mu.state.localAppend(p.log.LogEndOffset())
	p.mu.Unlock()
	p.apply(eff, true)
	return res, nil
}

// apply carries out a state-machine event's effects: waiters woken (all of
// them when the HW or the role moved; those watching appends when the log
// grew), an ISR change handed to the sender, metrics. Callers hold no
// partition lock.
func (p *Partition) apply(eff effects, appended bool) {
	if eff.hwMoved || eff.roleChanged {
		// The cleaner compacts only below the HW: a record above it may
		// still be truncated by a leader change, and must not remove the
		// older value of its key.
		p.log.SetCleanLimit(p.HighWatermark())
	}
	if eff.hwMoved || eff.roleChanged || appended {
		p.mu.Lock()
		for w, appends := range p.mu.waiters {
			if eff.hwMoved || eff.roleChanged || appends {
				w.notify()
			}
		}
		p.mu.Unlock()
	}
	if eff.propose != nil && p.hooks.OnISRChange != nil {
		p.hooks.OnISRChange(p)
	}
	if eff.shrinks+eff.expands > 0 {
		if p.hooks.OnISRChanged != nil {
			p.hooks.OnISRChanged(eff.shrinks, eff.expands)
		}
		p.logger.Info("ISR changed", "isr", p.Leadership().ISR, "leader_epoch", p.LeaderEpoch())
	}
}

// ReadResult is a fetch's view of the partition.
type ReadResult struct {
	log.ReadResult
	HighWatermark    int64
	LastStableOffset int64
	LogStartOffset   int64
}

// Read reads from offset up to the HW, as consumers do, at most maxBytes
// except that the first batch is returned whole. The caller checks the
// role first (CheckLeaderEpoch). Errors are the log's:
// log.ErrOffsetOutOfRange for an offset outside [log start, LEO].
func (p *Partition) Read(offset, maxBytes int64) (ReadResult, error) {
	hw := p.HighWatermark()
	return p.read(offset, hw, hw, maxBytes)
}

// ReadToLogEnd reads as Read does but up to the LEO, as a follower's fetch
// does; the result still carries the HW for the follower to take.
func (p *Partition) ReadToLogEnd(offset, maxBytes int64) (ReadResult, error) {
	return p.read(offset, p.log.LogEndOffset(), p.HighWatermark(), maxBytes)
}

func (p *Partition) read(offset, upTo, hw, maxBytes int64) (ReadResult, error) {
	res := ReadResult{HighWatermark: hw, LastStableOffset: hw, LogStartOffset: p.log.LogStartOffset()}
	rr, err := p.log.Read(offset, upTo, maxBytes)
	res.ReadResult = rr
	return res, err
}

// Producers returns the producers the partition has state for.
func (p *Partition) Producers() []ProducerInfo {
	p.appendMu.Lock()
	defer p.appendMu.Unlock()
	out := make([]ProducerInfo, 0, len(p.producers))
	for id, e := range p.producers {
		info := ProducerInfo{ProducerID: id, ProducerEpoch: e.epoch, LastSequence: -1, LastTimestamp: e.lastTimestamp}
		if b, ok := e.last(); ok {
			info.LastSequence = b.lastSeq
		}
		out = append(out, info)
	}
	return out
}

// A Waiter is woken when the HW of any partition it watches moves (or
// its role changes; or, for WatchAppends, its log grows). One waiter
// serves one request (a long-poll fetch across many partitions, or an
// acks=all produce); it is not safe to share between requests.
type Waiter struct {
	c chan struct{}
}

// NewWaiter returns a Waiter.
func NewWaiter() *Waiter { return &Waiter{c: make(chan struct{}, 1)} }

// C is signalled (at most one pending signal) when a watched HW moves.
func (w *Waiter) C() <-chan struct{} { return w.c }

func (w *Waiter) notify() {
	select {
	case w.c <- struct{}{}:
	default:
	}
}

// Watch registers w to be woken when the HW moves or the role changes,
// until Unwatch.
func (p *Partition) Watch(w *Waiter) {
	p.mu.Lock()
	p.mu.waiters[w] = false
	p.mu.Unlock()
}

// WatchAppends registers w as Watch does, and also to be woken by every
// append: a follower's long poll reads up to the LEO.
func (p *Partition) WatchAppends(w *Waiter) {
	p.mu.Lock()
	p.mu.waiters[w] = true
	p.mu.Unlock()
}

// Unwatch stops waking w.
func (p *Partition) Unwatch(w *Waiter) {
	p.mu.Lock()
	delete(p.mu.waiters, w)
	p.mu.Unlock()
}

// Close wakes every waiter (they see the partition closed), stops accepting
// work, and saves the producer state so the next Open need not scan the
// log for it. It does not close the log; call it before the log closes.
// Closing twice is harmless.
func (p *Partition) Close() {
	p.mu.Lock()
	if p.mu.closed {
		p.mu.Unlock()
		return
	}
	p.mu.closed = true
	for w := range p.mu.waiters {
		w.notify()
	}
	p.mu.Unlock()
	p.appendMu.Lock()
	defer p.appendMu.Unlock()
	if err := p.writeSnapshot(); err != nil {
		p.logger.Warn("saving producer state; the next start scans the log instead", "err", err)
	}
}

// Closed reports whether Close was called.
func (p *Partition) Closed() bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.mu.closed
}
