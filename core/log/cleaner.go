package log

import (
	"context"
	"errors"
	"fmt"
	"hash/maphash"
	"log/slog"
	"math"
	"time"

	"github.com/weirmq/weir/core/record"
	"github.com/weirmq/weir/sdk"
)

// This file holds the log cleaner's pass over one log (Kafka's log
// compaction): plan the cleanable section, map every key of its dirty part
// to its latest offset, rewrite the segments keeping only what survives,
// and swap the result in. cleaner_rewrite.go does the rewriting,
// cleaner_swap.go the crash-safe swap, cleaner_manager.go the threads that
// pick logs.
//
// A pass holds the log's cleanMu throughout and its lock only to plan and
// to install. Between the two it reads segment files without the lock:
// the segments it cleans are never the active one, so appends do not touch
// them; retention deleting one, or a truncation, makes the install find the
// segment list changed and give the pass up.

// CompactionFilters finds the compaction filter a topic names in
// weir.compaction.filter. *sdk.Registry satisfies it.
type CompactionFilters interface {
	CompactionFilter(name string) (sdk.CompactionFilter, bool)
}

// CleanResult describes one cleaning pass over one log.
type CleanResult struct {
	// FirstDirtyOffset is where the dirty section started; EndOffset is
	// where the pass stopped mapping keys, the next pass's first dirty
	// offset. Everything from the log start up to EndOffset was rewritten.
	FirstDirtyOffset int64
	EndOffset        int64

	SegmentsBefore, SegmentsAfter int
	BytesBefore, BytesAfter       int64 // sizes of the rewritten section
	BytesRead, BytesWritten       int64 // I/O of the pass, mapping included

	RecordsRead       int64
	RecordsRemoved    int64 // older values of a key, expired tombstones, filter drops, keyless records
	TombstonesRemoved int64 // tombstones whose delete horizon had passed
	KeylessRemoved    int64 // records without a key, which a compacted log cannot hold
	EmptyBatchesKept  int64 // batches emptied but kept for their producer's last sequence
	UnreadableBatches int64 // batches kept whole because they could not be decoded

	FilterDropped, FilterRewritten int64
	FilterErrors, FilterDeclined   int64 // chunks kept whole

	Duration time.Duration
}

// Errors of a cleaning pass that are not failures of the log.
var (
	// errNothingToClean: the log has no segment the cleaner may clean, or
	// (for a pass that is not forced) nothing worth cleaning.
	errNothingToClean = errors.New("nothing to clean")
	// errCleanAborted: the log changed under the pass (a truncation,
	// retention) or is closing; the pass's output was discarded.
	errCleanAborted = errors.New("cleaning pass abandoned")
)

// cleanerState is what a log keeps about its cleaning, guarded by Log.mu.
type cleanerState struct {
	firstDirty int64 // everything below was compacted by an earlier pass
	// nextHorizonMs is the earliest delete horizon among the tombstones the
	// last pass kept: once the clock passes it, the log is worth cleaning
	// again whatever its dirty ratio (KIP-534). MaxInt64 for none, and after
	// a restart (the next pass learns it again).
	nextHorizonMs int64
	lastCleanMs   int64 // clock time the last pass finished; 0 for never
	last          CleanResult
	// uncleanable is the corruption a pass found; the log is not picked
	// again until it is reopened or truncated.
	uncleanable error
	retryAtMs   int64 // after a failed pass: not picked before this
}

func newCleanerState(firstDirty int64) cleanerState {
	return cleanerState{firstDirty: firstDirty, nextHorizonMs: math.MaxInt64}
}

// truncated notes a truncation to offset: the data above it is gone.
func (c *cleanerState) truncated(offset int64) {
	c.firstDirty = min(c.firstDirty, offset)
	c.uncleanable = nil
}

// segView is a segment as a pass saw it when it planned.
type segView struct {
	s           *segment
	size, next  int64
	idxEntries  int
	timeEntries int
}

func viewOf(s *segment) segView {
	return segView{s: s, size: s.size, next: s.next, idxEntries: s.index.entries, timeEntries: s.timeIndex.entries}
}

// SetCleanLimit bounds what the log cleaner may compact: no segment holding
// an offset at or above offset is cleaned. The partition sets it to its
// high watermark as that moves, so that no record is removed in favour of
// a newer one that a leader change could still truncate (Kafka cleans
// below the last stable offset). Until it is called the only bound is the
// active segment. Safe for concurrent use.
func (l *Log) SetCleanLimit(offset int64) { l.cleanLimit.Store(offset) }

// cleanableLocked finds a log's cleanable section: the segments from the
// one holding the log start offset up to (not including) the first
// uncleanable one — the active segment, one holding offsets at or above
// the clean limit, or one holding records younger than
// min.compaction.lag.ms. dirty is the first of them holding
// offsets at or above the first dirty offset. The caller holds l.mu.
func (l *Log) cleanableLocked(nowMs int64) (start, dirty, end int, firstDirty int64) {
	cfg := &l.mu.cfg
	segs := l.mu.segments
	firstDirty = max(l.mu.cleaner.firstDirty, l.mu.logStartOffset)
	start = l.segmentFor(l.mu.logStartOffset)
	end = start
	limit := l.cleanLimit.Load()
	for end < len(segs)-1 {
		if segs[end].next > limit {
			break
		}
		if cfg.MinCompactionLagMs > 0 {
			if maxTS, _ := segs[end].checkedMaxTimestamp(); maxTS > nowMs-cfg.MinCompactionLagMs {
				break
			}
		}
		end++
	}
	dirty = start
	for dirty < end && segs[dirty].base < firstDirty && segs[dirty].next <= firstDirty {
		dirty++
	}
	return start, dirty, end, firstDirty
}

// cleanStatus is a log's cleaning state, for picking a log and for stats.
type cleanStatus struct {
	compact, delete        bool
	logStart               int64
	firstDirty, uncleanOff int64 // first dirty and first uncleanable offsets
	cleanBytes, dirtyBytes int64
	ratio                  float64
	lagMs                  int64 // age of the oldest dirty batch; 0 when nothing is dirty
	cleanable              bool  // there is a segment the cleaner may rewrite
	overdue                bool  // max.compaction.lag.ms has passed for a dirty record
	horizonDue             bool  // a kept tombstone's delete horizon has passed
	minRatio               float64
	lastCleanMs            int64
	uncleanable            error
	retryAtMs              int64
}

// due reports whether the cleaner should pick the log now.
func (st cleanStatus) due(nowMs int64) bool {
	if !st.compact || !st.cleanable || st.uncleanable != nil || nowMs < st.retryAtMs {
		return false
	}
	return (st.dirtyBytes > 0 && (st.ratio >= st.minRatio || st.overdue)) || st.horizonDue
}

func (l *Log) cleanStatus(nowMs int64) cleanStatus {
	l.mu.RLock()
	defer l.mu.RUnlock()
	cfg := &l.mu.cfg
	st := cleanStatus{
		compact: cfg.CleanupCompact, delete: cfg.CleanupDelete, logStart: l.mu.logStartOffset,
		minRatio: cfg.MinCleanableDirtyRatio, lastCleanMs: l.mu.cleaner.lastCleanMs,
		uncleanable: l.mu.cleaner.uncleanable, retryAtMs: l.mu.cleaner.retryAtMs,
	}
	if l.mu.closed {
		return st
	}
	start, dirty, end, firstDirty := l.cleanableLocked(nowMs)
	segs := l.mu.segments
	st.firstDirty, st.uncleanOff = firstDirty, segs[end].base
	st.cleanable = end > start
	for i := start; i < end; i++ {
		if i < dirty {
			st.cleanBytes += segs[i].size
		} else {
			st.dirtyBytes += segs[i].size
		}
	}
	if total := st.cleanBytes + st.dirtyBytes; total > 0 {
		st.ratio = float64(st.dirtyBytes) / float64(total)
	}
	if dirty < end && segs[dirty].size > 0 {
		var buf [record.HeaderSize]byte
		if h, err := segs[dirty].readHeaderAt(0, &buf); err == nil && h.MaxTimestamp > 0 {
			st.lagMs = max(nowMs-h.MaxTimestamp, 0)
			st.overdue = cfg.MaxCompactionLagMs > 0 && st.lagMs > cfg.MaxCompactionLagMs
		}
	}
	st.horizonDue = nowMs >= l.mu.cleaner.nextHorizonMs
	return st
}

// cleanEnv is what a pass needs from its cleaner thread. A cleanEnv is
// used by one pass at a time; its map and buffers are reused.
type cleanEnv struct {
	topic     string
	partition int32
	filters   CompactionFilters
	throttle  *throttler
	maxKeys   int
	logger    *slog.Logger

	seed1, seed2 maphash.Seed
	offsets      map[keyHash]int64
	producers    map[int64]int64
}

type keyHash [2]uint64

func newCleanEnv(maxKeys int, filters CompactionFilters, throttle *throttler, logger *slog.Logger) *cleanEnv {
	if maxKeys <= 0 {
		maxKeys = defaultCleanerMaxKeys
	}
	return &cleanEnv{
		filters: filters, throttle: throttle, maxKeys: maxKeys, logger: logger,
		seed1: maphash.MakeSeed(), seed2: maphash.MakeSeed(),
		offsets: map[keyHash]int64{}, producers: map[int64]int64{},
	}
}

func (e *cleanEnv) hash(key []byte) keyHash {
	return keyHash{maphash.Bytes(e.seed1, key), maphash.Bytes(e.seed2, key)}
}

// defaultCleanerMaxKeys bounds the keys one pass maps (about 100 MiB of
// map): a dirty section with more distinct keys is cleaned over several
// passes, as Kafka's dedupe buffer does.
const defaultCleanerMaxKeys = 2 << 20

// cleanPlan is the part of the log a pass works on, as it was when the pass
// started.
type cleanPlan struct {
	cfg         Config
	nowMs       int64
	truncations uint64
	firstDirty  int64
	segs        []segView // the cleanable segments, oldest first
	dirty       int       // index in segs of the first dirty segment
	tail        []segView // the later segments, the active one last
}

// plan snapshots the cleanable section. Unless force is set it returns
// errNothingToClean when the log is not due for cleaning.
func (l *Log) plan(force bool) (*cleanPlan, error) {
	nowMs := l.nowMs()
	if !force {
		if st := l.cleanStatus(nowMs); !st.due(nowMs) {
			return nil, errNothingToClean
		}
	}
	l.mu.RLock()
	defer l.mu.RUnlock()
	if l.mu.closed {
		return nil, ErrClosed
	}
	if l.mu.failed != nil {
		return nil, l.mu.failed
	}
	if !l.mu.cfg.CleanupCompact {
		return nil, ErrNotCompacted
	}
	start, dirty, end, firstDirty := l.cleanableLocked(nowMs)
	if end == start {
		return nil, errNothingToClean
	}
	p := &cleanPlan{cfg: l.mu.cfg, nowMs: nowMs, truncations: l.mu.truncations, firstDirty: firstDirty, dirty: dirty - start}
	for _, s := range l.mu.segments[start:end] {
		p.segs = append(p.segs, viewOf(s))
	}
	for _, s := range l.mu.segments[end:] {
		p.tail = append(p.tail, viewOf(s))
	}
	return p, nil
}

// clean runs one cleaning pass. The caller holds l.cleanMu. force cleans
// even when the log is not due (any dirty ratio, or nothing dirty at all:
// the pass then still drops expired tombstones). On error nothing changed
// in the log, except that an I/O error after the swap committed fences it
// (ErrLogFailed) so that the next Open finishes the swap.
func (l *Log) clean(ctx context.Context, env *cleanEnv, force bool) (CleanResult, error) {
	t0 := time.Now()
	plan, err := l.plan(force)
	if err != nil {
		return CleanResult{}, err
	}
	// Closing the log cancels the pass's context too, so that a filter
	// waiting on it returns.
	ctx, cancel := context.WithCancel(ctx)
	watched := make(chan struct{})
	go func() {
		defer close(watched)
		select {
		case <-l.closing:
			cancel()
		case <-ctx.Done():
		}
	}()
	defer func() {
		cancel()
		<-watched
	}()
	p := newCleanPass(ctx, l, env, plan)
	defer p.release()
	if err := p.buildOffsetMap(); err != nil {
		return p.res, p.failed(err)
	}
	for _, g := range groupSegments(plan.segs[:p.mapEnd], plan.cfg) {
		if err := p.cleanGroup(g); err != nil {
			return p.res, p.failed(err)
		}
	}
	p.res.Duration = time.Since(t0)
	if err := p.install(); err != nil {
		return p.res, p.failed(err)
	}
	l.ReapDeleted() // the replaced segments, if file.delete.delay.ms is 0
	if p.res.FilterErrors > 0 {
		l.logger.Warn("compaction filter failed; its chunks were kept whole",
			"filter", plan.cfg.CompactionFilter, "chunks", p.res.FilterErrors, "err", p.filterErr)
	}
	l.logger.Info("cleaned log", "first_dirty_offset", p.res.FirstDirtyOffset, "end_offset", p.res.EndOffset,
		"segments_before", p.res.SegmentsBefore, "segments_after", p.res.SegmentsAfter,
		"bytes_before", p.res.BytesBefore, "bytes_after", p.res.BytesAfter,
		"records_removed", p.res.RecordsRemoved, "duration", p.res.Duration)
	return p.res, nil
}

// failed records a pass's failure on the log and returns it: corruption
// makes the log uncleanable until reopened, other failures delay the next
// attempt. The pass's output is removed by release.
func (p *cleanPass) failed(err error) error {
	l := p.l
	if p.committed || errors.Is(err, errCleanAborted) || errors.Is(err, ErrClosed) || p.ctx.Err() != nil {
		return err
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.mu.truncations != p.plan.truncations || l.segmentIndex(p.plan.segs[0].s) < 0 {
		// What failed was reading segments a truncation or retention
		// deleted under the pass.
		return fmt.Errorf("%w: the log changed: %w", errCleanAborted, err)
	}
	if errors.Is(err, ErrCorruptLog) {
		l.mu.cleaner.uncleanable = err
		l.logger.Error("log cleaner found corruption; the partition is not cleaned until it is reopened", "err", err)
	}
	return err
}

// segmentIndex returns s's index in the log's segments, or -1. The caller
// holds l.mu.
func (l *Log) segmentIndex(s *segment) int {
	for i, x := range l.mu.segments {
		if x == s {
			return i
		}
	}
	return -1
}

// groupSegments splits the segments to rewrite into runs that each become
// one cleaned segment: consecutive segments whose sizes add up to at most
// segment.bytes, whose index entries fit one index of segment.index.bytes,
// and whose offsets fit the index's 32-bit relative offsets. Small
// segments left by earlier passes are merged this way.
func groupSegments(segs []segView, cfg Config) [][]segView {
	var groups [][]segView
	for i := 0; i < len(segs); {
		base := segs[i].s.base
		size, idx, tidx := segs[i].size, int64(segs[i].idxEntries)*offsetEntrySize, int64(segs[i].timeEntries)*timeEntrySize
		j := i + 1
		for ; j < len(segs); j++ {
			s := segs[j]
			if size+s.size > cfg.SegmentBytes ||
				idx+int64(s.idxEntries)*offsetEntrySize > cfg.SegmentIndexBytes ||
				tidx+int64(s.timeEntries)*timeEntrySize > cfg.SegmentIndexBytes ||
				max(s.next, s.s.base+1)-1-base > math.MaxInt32 {
				break
			}
			size += s.size
			idx += int64(s.idxEntries) * offsetEntrySize
			tidx += int64(s.timeEntries) * timeEntrySize
		}
		groups = append(groups, segs[i:j])
		i = j
	}
	return groups
}

// buildOffsetMap maps every key of the dirty section to the offset of its
// latest record, segment by segment, stopping after a segment once the map
// holds env.maxKeys keys; it notes the last data batch of every producer
// in the whole log (those batches are kept, if only empty, for idempotence).
func (p *cleanPass) buildOffsetMap() error {
	env, plan := p.env, p.plan
	clear(env.offsets)
	clear(env.producers)
	for _, sv := range plan.segs[:plan.dirty] {
		if err := p.scanProducers(sv); err != nil {
			return err
		}
	}
	p.mapEnd = plan.dirty
	for i := plan.dirty; i < len(plan.segs); i++ {
		if i > plan.dirty && len(env.offsets) >= env.maxKeys {
			break
		}
		if err := p.mapSegment(plan.segs[i]); err != nil {
			return err
		}
		p.mapEnd = i + 1
	}
	for _, sv := range plan.segs[p.mapEnd:] {
		if err := p.scanProducers(sv); err != nil {
			return err
		}
	}
	for _, sv := range plan.tail {
		if err := p.scanProducers(sv); err != nil {
			return err
		}
	}
	p.res.FirstDirtyOffset = plan.firstDirty
	if p.mapEnd < len(plan.segs) {
		p.endOffset = plan.segs[p.mapEnd].s.base
	} else {
		p.endOffset = plan.tail[0].s.base
	}
	p.res.EndOffset = p.endOffset
	p.res.SegmentsBefore = p.mapEnd
	for _, sv := range plan.segs[:p.mapEnd] {
		p.res.BytesBefore += sv.size
	}
	return nil
}

func (p *cleanPass) noteProducer(h record.Header) {
	if h.ProducerID >= 0 && !h.Attributes.Control() {
		p.env.producers[h.ProducerID] = h.BaseOffset
	}
}

func (p *cleanPass) scanProducers(sv segView) error {
	sc := p.scanner(sv, true)
	for n := 1; ; n++ {
		_, h, err := sc.next()
		if err != nil {
			return eofIsNil(err)
		}
		p.noteProducer(h)
		if n%64 == 0 { // Close must not wait for a whole-log scan
			if err := p.checkCancel(); err != nil {
				return err
			}
		}
	}
}

func (p *cleanPass) mapSegment(sv segView) error {
	sc := p.scanner(sv, false)
	for n := 0; ; n++ {
		if n%64 == 0 {
			if err := p.checkCancel(); err != nil {
				return err
			}
		}
		batch, h, err := sc.next()
		if err != nil {
			return eofIsNil(err)
		}
		p.noteProducer(h)
		if h.Attributes.Control() || h.Attributes.Transactional() {
			continue // kept whole; their keys must not remove other records
		}
		if err := p.it.Reset(batch, p.l.codecs, p.maxDecoded); err != nil {
			continue // kept whole when rewritten; its keys remove nothing
		}
		// Record the batch's keys only if the whole batch decodes.
		n0 := len(p.keys)
		for r, ok := p.it.Next(); ok; r, ok = p.it.Next() {
			if r.Key != nil {
				p.keys = append(p.keys, keyAt{p.env.hash(r.Key), r.Offset})
			}
		}
		if p.it.Err() == nil {
			for _, k := range p.keys[n0:] {
				p.env.offsets[k.h] = k.offset
			}
		}
		p.keys = p.keys[:0]
	}
}

type keyAt struct {
	h      keyHash
	offset int64
}

func eofIsNil(err error) error {
	if errors.Is(err, errScanEOF) {
		return nil
	}
	return err
}

// checkCancel reports whether the pass must stop: its context ended or the
// log is closing.
func (p *cleanPass) checkCancel() error {
	select {
	case <-p.l.closing:
		return fmt.Errorf("%w: the log is closing", errCleanAborted)
	default:
		return p.ctx.Err()
	}
}
