package log

import (
	"context"
	"errors"
	"fmt"
	"math"
	"sort"
	"sync"
	"sync/atomic"
	"time"
)

// This file holds the Manager's side of the log cleaner: the retention
// worker, the compaction threads that pick the dirtiest log and clean it,
// the shared I/O throttle, and the cleaner's statistics.

// cleanerRuntime is the Manager's cleaner: its goroutines and counters.
type cleanerRuntime struct {
	cancel   context.CancelFunc
	wg       sync.WaitGroup
	throttle *throttler

	passes, failures        atomic.Int64
	bytesRead, bytesWritten atomic.Int64
	recordsRemoved          atomic.Int64
	passNanos               atomic.Int64
	lastPassNanos           atomic.Int64
	maxPassNanos            atomic.Int64
}

// startCleaner starts the retention worker and the compaction threads.
// stopCleaner stops them and waits.
func (m *Manager) startCleaner() {
	ctx, cancel := context.WithCancel(context.Background())
	m.cleaner.cancel = cancel
	m.cleaner.wg.Add(1)
	go m.retentionWorker(ctx)
	for range m.opts.CleanerThreads {
		m.cleaner.wg.Add(1)
		go m.cleanerThread(ctx)
	}
}

func (m *Manager) stopCleaner() {
	if m.cleaner.cancel != nil {
		m.cleaner.cancel()
	}
	m.cleaner.wg.Wait()
}

// retentionWorker enforces retention every log.retention.check.interval.ms.
func (m *Manager) retentionWorker(ctx context.Context) {
	defer m.cleaner.wg.Done()
	t := time.NewTicker(m.opts.RetentionCheckInterval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			m.EnforceRetention()
		}
	}
}

// cleanerThread cleans the dirtiest log, again and again, resting
// log.cleaner.backoff.ms whenever no log is due.
func (m *Manager) cleanerThread(ctx context.Context) {
	defer m.cleaner.wg.Done()
	env := m.newCleanEnv()
	backoff := m.cleanerBackoff()
	for {
		_, _, cleaned, err := m.cleanDirtiest(ctx, env)
		if ctx.Err() != nil {
			return
		}
		if cleaned && err == nil {
			continue
		}
		t := time.NewTimer(backoff)
		select {
		case <-ctx.Done():
			t.Stop()
			return
		case <-t.C:
		}
	}
}

func (m *Manager) cleanerBackoff() time.Duration {
	if m.opts.CleanerBackoff > 0 {
		return m.opts.CleanerBackoff
	}
	return 15 * time.Second
}

func (m *Manager) newCleanEnv() *cleanEnv {
	return newCleanEnv(m.opts.CleanerMaxKeys, m.opts.CompactionFilters, m.cleaner.throttle, m.logger)
}

// CleanDirtiest runs one cleaning pass over the compacted log most in need
// of it: one whose max.compaction.lag.ms has passed first, then the
// highest dirty ratio at or above min.cleanable.dirty.ratio, then one with
// a tombstone whose delete horizon has passed. Logs another pass is
// cleaning are skipped. ok=false means no log was due. It is what the
// cleaner threads run; tests and benchmarks call it directly. Safe for
// concurrent use.
func (m *Manager) CleanDirtiest(ctx context.Context) (tp TopicPartition, res CleanResult, ok bool, err error) {
	return m.cleanDirtiest(ctx, m.newCleanEnv())
}

func (m *Manager) cleanDirtiest(ctx context.Context, env *cleanEnv) (TopicPartition, CleanResult, bool, error) {
	type candidate struct {
		tp TopicPartition
		l  *Log
		st cleanStatus
	}
	nowMs := m.opts.Clock.Now().UnixMilli()
	var cands []candidate
	for tp, l := range m.openLogs() {
		if st := l.cleanStatus(nowMs); st.due(nowMs) {
			cands = append(cands, candidate{tp, l, st})
		}
	}
	sort.Slice(cands, func(i, j int) bool {
		a, b := cands[i].st, cands[j].st
		if a.overdue != b.overdue {
			return a.overdue
		}
		return a.ratio > b.ratio
	})
	for _, c := range cands {
		if !c.l.cleanMu.TryLock() {
			continue
		}
		res, err := m.cleanLocked(ctx, env, c.tp, c.l, false)
		c.l.cleanMu.Unlock()
		if errors.Is(err, errNothingToClean) {
			continue // another thread got there first
		}
		if err == nil {
			m.checkpointCleaner()
		}
		return c.tp, res, true, err
	}
	return TopicPartition{}, CleanResult{}, false, nil
}

// CleanLog runs one cleaning pass over tp's log now, whatever its dirty
// ratio, and returns what it did; with nothing cleanable (only an active
// segment, or everything younger than min.compaction.lag.ms) it returns a
// zero CleanResult. Errors: ErrNotCompacted if the log's cleanup.policy
// lacks compact, an error naming tp if its log is not open, corruption
// (ErrCorruptLog) and I/O errors. It waits for a pass already cleaning the
// log. Safe for concurrent use.
func (m *Manager) CleanLog(ctx context.Context, tp TopicPartition) (CleanResult, error) {
	l := m.Log(tp)
	if l == nil {
		return CleanResult{}, fmt.Errorf("clean %s: the log is not open", tp)
	}
	l.cleanMu.Lock()
	res, err := m.cleanLocked(ctx, m.newCleanEnv(), tp, l, true)
	l.cleanMu.Unlock()
	if errors.Is(err, errNothingToClean) {
		return CleanResult{}, nil
	}
	if err != nil {
		return res, fmt.Errorf("clean %s: %w", tp, err)
	}
	m.checkpointCleaner()
	return res, nil
}

// checkpointCleaner writes the cleaner checkpoint after a pass, so a
// restart does not clean again what is clean. The caller holds no log's
// cleanMu: Close holds m.mu while it waits for those.
func (m *Manager) checkpointCleaner() {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.mu.closed {
		return // Close writes it
	}
	if err := m.writeCleanerOffsetsLocked(); err != nil {
		m.logger.Warn("writing the cleaner checkpoint", "err", err)
	}
}

// cleanLocked runs a pass over l, whose cleanMu the caller holds, and then
// retention if its policy includes delete (the cleaner owns compact,delete
// logs while it works on them, as Kafka's does).
func (m *Manager) cleanLocked(ctx context.Context, env *cleanEnv, tp TopicPartition, l *Log, force bool) (CleanResult, error) {
	env.topic, env.partition = tp.Topic, tp.Partition
	res, err := l.clean(ctx, env, force)
	if errors.Is(err, errNothingToClean) || errors.Is(err, ErrNotCompacted) {
		return res, err
	}
	c := &m.cleaner
	c.bytesRead.Add(res.BytesRead)
	c.bytesWritten.Add(res.BytesWritten)
	if err != nil {
		c.failures.Add(1)
		if !errors.Is(err, errCleanAborted) && !errors.Is(err, ErrClosed) && ctx.Err() == nil {
			l.logger.Warn("log cleaning failed", "err", err)
			l.mu.Lock()
			l.mu.cleaner.retryAtMs = m.opts.Clock.Now().Add(m.cleanerBackoff()).UnixMilli()
			l.mu.Unlock()
		}
		return res, err
	}
	c.passes.Add(1)
	c.recordsRemoved.Add(res.RecordsRemoved)
	d := res.Duration.Nanoseconds()
	c.passNanos.Add(d)
	c.lastPassNanos.Store(d)
	for {
		old := c.maxPassNanos.Load()
		if d <= old || c.maxPassNanos.CompareAndSwap(old, d) {
			break
		}
	}
	if l.Config().CleanupDelete {
		m.retain(l)
	}
	return res, nil
}

// openLogs snapshots the open logs with their partitions.
func (m *Manager) openLogs() map[TopicPartition]*Log {
	m.mu.Lock()
	defer m.mu.Unlock()
	out := make(map[TopicPartition]*Log, len(m.mu.logs))
	for tp, l := range m.mu.logs {
		out[tp] = l
	}
	return out
}

func (l *Log) firstDirtyOffset() int64 {
	l.mu.RLock()
	defer l.mu.RUnlock()
	return l.mu.cleaner.firstDirty
}

// CleanerStats is a snapshot of the log cleaner's work since the Manager
// opened, and of every open log's cleaning state.
type CleanerStats struct {
	Passes, Failures        int64 // passes that finished, passes that failed or were abandoned
	BytesRead, BytesWritten int64 // by all passes
	RecordsRemoved          int64
	PassTime                time.Duration // all finished passes together
	LastPassTime            time.Duration
	MaxPassTime             time.Duration
	Partitions              []PartitionCleanerState // every open log, by topic and partition
}

// PartitionCleanerState is one log's cleaning state. DirtyRatio is
// DirtyBytes over CleanBytes+DirtyBytes: the share of the cleanable section
// (the log start to the first uncleanable offset) not yet compacted.
type PartitionCleanerState struct {
	Topic                  string  `json:"topic"`
	Partition              int32   `json:"partition"`
	Compact                bool    `json:"compact"`
	Delete                 bool    `json:"delete"`
	LogStartOffset         int64   `json:"log_start_offset"`
	FirstDirtyOffset       int64   `json:"first_dirty_offset"`
	FirstUncleanableOffset int64   `json:"first_uncleanable_offset"`
	CleanBytes             int64   `json:"clean_bytes"`
	DirtyBytes             int64   `json:"dirty_bytes"`
	DirtyRatio             float64 `json:"dirty_ratio"`
	// LagMs is the age of the oldest record not yet compacted (by its
	// batch's timestamp): how far the cleaner is behind. 0 when nothing is
	// dirty.
	LagMs         int64  `json:"lag_ms"`
	LastCleanedMs int64  `json:"last_cleaned_ms"` // Unix ms of the last pass; 0 for never
	Uncleanable   string `json:"uncleanable,omitempty"`
}

// CleanerStats returns the cleaner's counters and every open log's state.
// Safe for concurrent use.
func (m *Manager) CleanerStats() CleanerStats {
	c := &m.cleaner
	return CleanerStats{
		Passes: c.passes.Load(), Failures: c.failures.Load(),
		BytesRead: c.bytesRead.Load(), BytesWritten: c.bytesWritten.Load(),
		RecordsRemoved: c.recordsRemoved.Load(),
		PassTime:       time.Duration(c.passNanos.Load()),
		LastPassTime:   time.Duration(c.lastPassNanos.Load()),
		MaxPassTime:    time.Duration(c.maxPassNanos.Load()),
		Partitions:     m.CleanerStatus(""),
	}
}

// CleanerStatus returns the cleaning state of the open logs of topic (of
// every topic for ""), sorted by topic and partition; nil when there are
// none. Safe for concurrent use.
func (m *Manager) CleanerStatus(topic string) []PartitionCleanerState {
	nowMs := m.opts.Clock.Now().UnixMilli()
	var out []PartitionCleanerState
	for tp, l := range m.openLogs() {
		if topic != "" && tp.Topic != topic {
			continue
		}
		st := l.cleanStatus(nowMs)
		ps := PartitionCleanerState{
			Topic: tp.Topic, Partition: tp.Partition, Compact: st.compact, Delete: st.delete,
			LogStartOffset: st.logStart, FirstDirtyOffset: st.firstDirty, FirstUncleanableOffset: st.uncleanOff,
			CleanBytes: st.cleanBytes, DirtyBytes: st.dirtyBytes, DirtyRatio: st.ratio,
			LagMs: st.lagMs, LastCleanedMs: st.lastCleanMs,
		}
		if st.uncleanable != nil {
			ps.Uncleanable = st.uncleanable.Error()
		}
		out = append(out, ps)
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].Topic != out[j].Topic {
			return out[i].Topic < out[j].Topic
		}
		return out[i].Partition < out[j].Partition
	})
	return out
}

// throttler holds all cleaner threads together to a byte rate
// (log.cleaner.io.max.bytes.per.second), counting reads and writes. A nil
// throttler does not throttle. Safe for concurrent use.
type throttler struct {
	rate float64 // bytes per second
	mu   sync.Mutex
	next time.Time // when the bytes reserved so far have been paid for
}

// throttleSlack is how far ahead of the rate a burst may run unslowed.
const throttleSlack = 10 * time.Millisecond

func newThrottler(rate float64) *throttler {
	if rate <= 0 || math.IsInf(rate, 0) || math.IsNaN(rate) || rate > 1e15 {
		return nil
	}
	return &throttler{rate: rate}
}

// wait sleeps until n more bytes fit the rate, or ctx ends.
func (t *throttler) wait(ctx context.Context, n int64) error {
	if t == nil || n <= 0 {
		return nil
	}
	t.mu.Lock()
	now := time.Now()
	if t.next.Before(now) {
		t.next = now
	}
	t.next = t.next.Add(time.Duration(float64(n) / t.rate * float64(time.Second)))
	d := t.next.Sub(now) - throttleSlack
	t.mu.Unlock()
	if d <= 0 {
		return nil
	}
	timer := time.NewTimer(d)
	defer timer.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-timer.C:
		return nil
	}
}
