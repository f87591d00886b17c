package partition

import (
	"context"
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

// Config is the part of a topic's configuration the partition applies on
// top of its log's.
type Config struct {
	LogAppendTime        bool  // message.timestamp.type = LogAppendTime
	TimestampBeforeMaxMs int64 // message.timestamp.before.max.ms
	TimestampAfterMaxMs  int64 // message.timestamp.after.max.ms
}

// Options for Open.
type Options struct {
	Config      Config
	LeaderEpoch int32
	Logger      *slog.Logger // nil: slog.Default()
	Now         func() time.Time
}

// Partition is one replica of one partition. It is safe for concurrent use.
// Create it with Open; Close it before closing its log.
type Partition struct {
	topic  string
	index  int32
	log    *log.Log
	logger *slog.Logger
	now    func() time.Time

	// appendMu serialises appends, so the producer-state check and the
	// append it guards are one step. Lock order: appendMu, then mu.
	appendMu  sync.Mutex
	producers producerStates // guarded by appendMu

	mu struct {
		sync.Mutex
		cfg           Config
		leaderEpoch   int32
		highWatermark int64
		waiters       map[*Waiter]struct{}
		closed        bool
	}
}

// Open wraps an opened log as the leader replica (the only kind until the
// cluster issue), rebuilding producer state from the log's batch headers.
// On one node every record in the log was acknowledged or is safe to
// expose, so the HW starts at the log end offset.
func Open(topic string, index int32, l *log.Log, opts Options) (*Partition, error) {
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	p := &Partition{topic: topic, index: index, log: l, now: opts.Now, producers: producerStates{},
		logger: opts.Logger.With("topic", topic, "partition", index)}
	p.mu.cfg = opts.Config
	p.mu.leaderEpoch = max(opts.LeaderEpoch, l.LatestEpoch())
	p.mu.highWatermark = l.LogEndOffset()
	p.mu.waiters = map[*Waiter]struct{}{}
	if err := p.loadProducerState(); err != nil {
		return nil, fmt.Errorf("rebuilding producer state of %s-%d: %w", topic, index, err)
	}
	return p, nil
}

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
	p.mu.Unlock()
}

// LeaderEpoch returns the current leader epoch.
func (p *Partition) LeaderEpoch() int32 {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.mu.leaderEpoch
}

// HighWatermark returns the HW: consumers read below it.
func (p *Partition) HighWatermark() int64 {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.mu.highWatermark
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
	Duplicate      bool // a retried idempotent batch: nothing was written
}

// AppendAsLeader appends one produce request's records for this partition:
// exactly one v2 batch, as Kafka requires of Produce v3 and later. It checks
// the idempotent producer's epoch and sequence first: a retry of one of the
// producer's last five batches is answered with the original offsets and
// not written again. records is modified in place (offsets, epoch, and the
// timestamp for LogAppendTime topics) and not retained.
//
// Errors: ErrInvalidRecord, ErrInvalidTimestamp, the producer-state errors,
// and the log's (log.ErrInvalidBatch, log.ErrRecordTooLarge, I/O errors).
func (p *Partition) AppendAsLeader(records []byte) (AppendResult, error) {
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
	p.mu.Lock()
	cfg, epoch := p.mu.cfg, p.mu.leaderEpoch
	p.mu.Unlock()
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

	p.appendMu.Lock()
	defer p.appendMu.Unlock()
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
	p.advanceHighWatermark()
	return res, nil
}

// advanceHighWatermark moves the HW to the minimum LEO of the in-sync
// replicas — on one node, the leader's own — and wakes waiters.
func (p *Partition) advanceHighWatermark() {
	leo := p.log.LogEndOffset()
	p.mu.Lock()
	defer p.mu.Unlock()
	if leo <= p.mu.highWatermark {
		return
	}
	p.mu.highWatermark = leo
	for w := range p.mu.waiters {
		w.notify()
	}
}

// ReadResult is a fetch's view of the partition.
type ReadResult struct {
	log.ReadResult
	HighWatermark    int64
	LastStableOffset int64
	LogStartOffset   int64
}

// Read reads from offset up to the HW (a consumer) or the LEO (a replica,
// when the cluster issue lands), at most maxBytes except that the first
// batch is returned whole. Errors are the log's: log.ErrOffsetOutOfRange
// for an offset outside [log start, LEO].
func (p *Partition) Read(offset, maxBytes int64) (ReadResult, error) {
	hw := p.HighWatermark()
	res := ReadResult{HighWatermark: hw, LastStableOffset: hw, LogStartOffset: p.log.LogStartOffset()}
	rr, err := p.log.Read(offset, hw, maxBytes)
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

// A Waiter is woken when the HW of any partition it watches moves. One
// waiter serves one request (a long-poll fetch across many partitions, or
// an acks=all produce); it is not safe to share between requests.
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

// Watch registers w to be woken when the HW moves, until Unwatch.
func (p *Partition) Watch(w *Waiter) {
	p.mu.Lock()
	p.mu.waiters[w] = struct{}{}
	p.mu.Unlock()
}

// Unwatch stops waking w.
func (p *Partition) Unwatch(w *Waiter) {
	p.mu.Lock()
	delete(p.mu.waiters, w)
	p.mu.Unlock()
}

// WaitHighWatermark blocks until the HW is above offset (the acks=all wait),
// ctx ends (its error is returned), or the partition closes.
func (p *Partition) WaitHighWatermark(ctx context.Context, offset int64) error {
	w := NewWaiter()
	p.Watch(w)
	defer p.Unwatch(w)
	for {
		p.mu.Lock()
		hw, closed := p.mu.highWatermark, p.mu.closed
		p.mu.Unlock()
		if hw > offset {
			return nil
		}
		if closed {
			return errors.New("partition closed")
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-w.C():
		}
	}
}

// Close wakes every waiter (they see the partition closed), stops accepting
// work, and saves the producer state so the next Open need not scan the
// log for it. It does not close the log; call it before the log closes.
func (p *Partition) Close() {
	p.mu.Lock()
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
