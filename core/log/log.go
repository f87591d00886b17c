package log

import (
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/weirmq/weir/core/config"
	"github.com/weirmq/weir/core/record"
)

// Config is the part of a topic's configuration the log obeys. Field names
// follow Kafka's topic config names; DefaultConfig holds Kafka's defaults.
type Config struct {
	SegmentBytes       int64 // segment.bytes: roll when the active segment would exceed it
	SegmentMs          int64 // segment.ms: roll when the active segment is this old
	SegmentJitterMs    int64 // segment.jitter.ms: random reduction of segment.ms per segment
	SegmentIndexBytes  int64 // segment.index.bytes: pre-allocated size of each index
	IndexIntervalBytes int64 // index.interval.bytes: log bytes between index entries
	RetentionMs        int64 // retention.ms: -1 keeps forever
	RetentionBytes     int64 // retention.bytes: -1 keeps any size
	FlushMessages      int64 // flush.messages: fsync after this many records
	FlushMs            int64 // flush.ms: fsync when the oldest unflushed write is this old
	MaxMessageBytes    int64 // max.message.bytes: largest batch a leader accepts
	FileDeleteDelayMs  int64 // file.delete.delay.ms: how long deleted segments stay readable

	// cleanup.policy: Delete applies retention.ms and retention.bytes,
	// Compact has the log cleaner keep the latest record of each key. Both
	// may be set ("compact,delete"); with neither, nothing but DeleteRecords
	// removes data.
	CleanupDelete  bool
	CleanupCompact bool

	DeleteRetentionMs      int64   // delete.retention.ms: how long a cleaned tombstone stays
	MinCleanableDirtyRatio float64 // min.cleanable.dirty.ratio: dirty share that makes a log worth cleaning
	MinCompactionLagMs     int64   // min.compaction.lag.ms: records younger than this are not cleaned
	MaxCompactionLagMs     int64   // max.compaction.lag.ms: dirty records older than this force a clean
	CompactionFilter       string  // weir.compaction.filter: "" for none
}

// DefaultConfig returns the topic defaults of the config table (Kafka's).
func DefaultConfig() Config { return ConfigFromTopic(config.TopicDefaults()) }

// ConfigFromTopic picks the log's settings out of a resolved topic config.
func ConfigFromTopic(t config.Topic) Config {
	return Config{
		SegmentBytes:       t.SegmentBytes,
		SegmentMs:          t.SegmentMs,
		SegmentJitterMs:    t.SegmentJitterMs,
		SegmentIndexBytes:  int64(t.SegmentIndexBytes),
		IndexIntervalBytes: int64(t.IndexIntervalBytes),
		RetentionMs:        t.RetentionMs,
		RetentionBytes:     t.RetentionBytes,
		FlushMessages:      t.FlushMessages,
		FlushMs:            t.FlushMs,
		MaxMessageBytes:    int64(t.MaxMessageBytes),
		FileDeleteDelayMs:  t.FileDeleteDelayMs,

		CleanupDelete:          t.CleanupPolicy.Delete,
		CleanupCompact:         t.CleanupPolicy.Compact,
		DeleteRetentionMs:      t.DeleteRetentionMs,
		MinCleanableDirtyRatio: t.MinCleanableDirtyRatio,
		MinCompactionLagMs:     t.MinCompactionLagMs,
		MaxCompactionLagMs:     t.MaxCompactionLagMs,
		CompactionFilter:       t.WeirCompactionFilter,
	}
}

// Options are the log's collaborators and the state the caller kept for it
// (normally the Manager, from its checkpoint files).
type Options struct {
	FS     FS           // nil: OSFS
	Clock  Clock        // nil: SystemClock
	Logger *slog.Logger // nil: slog.Default()
	// Codecs decompress batches where the log must look inside them (finding
	// an offset by timestamp). nil: compressed batches are treated as a whole.
	Codecs record.CodecSource

	// CleanShutdown says the previous process wrote its clean-shutdown
	// marker: segments are loaded without re-reading every batch.
	CleanShutdown bool
	// RecoveryPoint is the offset below which everything was flushed before
	// the last stop; after an unclean stop every segment from the one holding
	// it onwards is re-scanned. 0 re-scans everything.
	RecoveryPoint int64
	// LogStartOffset from the checkpoint; it never goes below the first
	// segment's base offset.
	LogStartOffset int64
	// FirstDirtyOffset from the cleaner's checkpoint: everything below it
	// was compacted by an earlier cleaning pass. 0 treats the whole log as
	// dirty.
	FirstDirtyOffset int64
}

// AppendInfo describes what an append wrote.
type AppendInfo struct {
	FirstOffset          int64 // base offset of the first batch
	LastOffset           int64 // last offset of the last batch
	MaxTimestamp         int64 // largest batch max timestamp, -1 for none
	OffsetOfMaxTimestamp int64
	Batches              int
	Records              int64
	Bytes                int64
}

// Slice is a byte range of a segment file holding whole batches, for
// sending with sendfile. File stays open at least file.delete.delay.ms after
// the segment is deleted, so a reader may use it for that long.
type Slice struct {
	File File
	Pos  int64
	Len  int64
}

// ReadResult is the answer to Read.
type ReadResult struct {
	Slices      []Slice // at most one per segment, in offset order
	Bytes       int64   // total length of the slices
	FirstOffset int64   // base offset of the first batch returned; -1 if none
	NextOffset  int64   // where the next read should start
}

// Log is one partition's log: an ordered list of segments, the last of
// which (the active segment) takes appends.
//
// A Log is safe for concurrent use: appends and structural changes are
// serialised, reads run in parallel with each other. It must be created
// with Open and closed with Close.
type Log struct {
	dir    string
	fs     FS
	clock  Clock
	logger *slog.Logger
	codecs record.CodecSource

	// cleanMu is held by a cleaning pass of this log, and by retention
	// when the cleaner runs it, for the whole pass; closing is closed when
	// Close starts, so a pass gives up early. Lock order: cleanMu, flushMu,
	// mu.
	cleanMu   sync.Mutex
	closing   chan struct{}
	closeOnce sync.Once
	// cleanLimit bounds the cleaner: see SetCleanLimit.
	cleanLimit atomic.Int64

	flushMu sync.Mutex // serialises Flush; taken before mu, never while holding it

	mu struct {
		sync.RWMutex
		cfg            Config
		segments       []*segment // sorted by base offset; never empty while open
		logStartOffset int64
		recoveryPoint  int64
		unflushed      int64 // records appended since the last flush
		lastFlush      time.Time
		epochs         *epochCache
		deleting       []pendingDelete
		failed         error
		closed         bool
		// truncations counts truncations: a cleaning pass that saw another
		// count does not install its output.
		truncations uint64
		cleaner     cleanerState
	}
}

type pendingDelete struct {
	seg *segment
	at  time.Time
}

// Open opens the log in dir, creating dir and an empty segment if needed,
// and recovers it: segments past the recovery point (all of them after an
// unclean stop with no checkpoint) are re-read batch by batch; the log is
// truncated at the first invalid byte and everything after it dropped;
// indexes that are missing or fail their check are rebuilt; leftover
// files of interrupted operations are deleted. Corruption never makes Open
// fail — only I/O errors do.
func Open(dir string, cfg Config, opts Options) (*Log, error) {
	if opts.FS == nil {
		opts.FS = OSFS{}
	}
	if opts.Clock == nil {
		opts.Clock = SystemClock{}
	}
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	l := &Log{dir: dir, fs: opts.FS, clock: opts.Clock, logger: opts.Logger.With("dir", dir), codecs: opts.Codecs,
		closing: make(chan struct{})}
	l.mu.cfg = cfg
	l.mu.lastFlush = l.clock.Now()
	l.mu.cleaner = newCleanerState(opts.FirstDirtyOffset)
	l.cleanLimit.Store(math.MaxInt64)
	if err := l.fs.MkdirAll(dir, 0o755); err != nil {
		return nil, err
	}
	if err := l.load(opts); err != nil {
		for _, s := range l.mu.segments {
			s.close()
		}
		return nil, fmt.Errorf("open log %s: %w", dir, err)
	}
	return l, nil
}

func (l *Log) nowMs() int64 { return l.clock.Now().UnixMilli() }

// load scans dir, deletes leftovers and opens the segments.
func (l *Log) load(opts Options) error {
	// A cleaning pass that committed its swap before the stop is finished
	// first; one that did not is undone below with the other leftovers.
	installed, err := l.recoverSwap()
	if err != nil {
		return err
	}
	entries, err := l.fs.ReadDir(l.dir)
	if err != nil {
		return err
	}
	var bases []int64
	logs := map[int64]bool{}
	for _, e := range entries {
		name := e.Name()
		if e.IsDir() {
			continue
		}
		switch {
		case strings.HasSuffix(name, deletedSuffix), strings.HasSuffix(name, cleanedSuffix),
			strings.HasSuffix(name, swapSuffix), strings.HasSuffix(name, ".tmp"):
			// Deletions that did not finish, and the output of operations
			// that did not commit: the live files are the truth.
			l.logger.Info("removing leftover file", "file", name)
			if err := l.fs.Remove(filepath.Join(l.dir, name)); err != nil && !errors.Is(err, os.ErrNotExist) {
				return err
			}
		case strings.HasSuffix(name, logSuffix):
			base, ok := parseBase(name, logSuffix)
			if !ok {
				continue
			}
			bases = append(bases, base)
			logs[base] = true
		}
	}
	// Index files whose .log is gone are orphans.
	for _, e := range entries {
		name := e.Name()
		for _, sfx := range []string{indexSuffix, timeIndexSuffix} {
			if base, ok := parseBase(name, sfx); ok && !logs[base] {
				l.logger.Info("removing orphan index", "file", name)
				if err := l.fs.Remove(filepath.Join(l.dir, name)); err != nil && !errors.Is(err, os.ErrNotExist) {
					return err
				}
			}
		}
	}
	sort.Slice(bases, func(i, j int) bool { return bases[i] < bases[j] })

	cfg := l.mu.cfg
	var prev *segment
	for i, base := range bases {
		s, err := openSegmentFile(l.fs, l.dir, base, l.nowMs())
		if err != nil {
			return err
		}
		active := i == len(bases)-1
		// A segment must start at or after the previous one's end; one that
		// overlaps is the product of corruption, and so is everything after.
		if prev != nil && base < prev.next {
			l.logger.Warn("segment overlaps its predecessor; dropping it and all later segments",
				"segment", base, "previous_end", prev.next)
			s.close()
			for _, b := range bases[i:] {
				if err := (&segment{fs: l.fs, dir: l.dir, base: b}).removeFiles(""); err != nil {
					return err
				}
			}
			break
		}
		needsRecovery := (!opts.CleanShutdown && (active || bases[i+1] > opts.RecoveryPoint)) || installed[base]
		if !needsRecovery {
			if err := s.load(active, cfg.SegmentIndexBytes); err != nil {
				if !errors.Is(err, errNeedsRecovery) {
					s.close()
					return err
				}
				l.logger.Warn("segment failed its check; recovering it", "segment", base, "err", err)
				needsRecovery = true
			}
		}
		if needsRecovery {
			truncated, err := s.recover(active, cfg.SegmentIndexBytes, cfg.IndexIntervalBytes, l.maxBatchOnDisk(cfg))
			if err != nil {
				s.close()
				return err
			}
			if truncated > 0 {
				l.logger.Warn("truncated invalid bytes at the end of a segment", "segment", base, "bytes", truncated, "log_end_offset", s.next)
				if !active {
					// Nothing after the first bad byte is served.
					l.mu.segments = append(l.mu.segments, s)
					for _, b := range bases[i+1:] {
						l.logger.Warn("removing segment after corruption", "segment", b)
						if err := (&segment{fs: l.fs, dir: l.dir, base: b}).removeFiles(""); err != nil {
							return err
						}
					}
					if err := s.makeWritable(cfg.SegmentIndexBytes); err != nil {
						return err
					}
					prev = nil
					break
				}
			}
		}
		l.mu.segments = append(l.mu.segments, s)
		prev = s
	}
	if len(l.mu.segments) == 0 {
		start := max(opts.LogStartOffset, 0)
		s, err := createSegment(l.fs, l.dir, start, cfg.SegmentIndexBytes, l.nowMs())
		if err != nil {
			return err
		}
		l.mu.segments = append(l.mu.segments, s)
	}
	first := l.mu.segments[0]
	l.mu.logStartOffset = max(opts.LogStartOffset, first.base)
	if leo := l.logEndOffsetLocked(); l.mu.logStartOffset > leo {
		l.mu.logStartOffset = leo
	}
	l.mu.recoveryPoint = l.logEndOffsetLocked()
	l.mu.cleaner.firstDirty = min(max(l.mu.cleaner.firstDirty, 0), l.logEndOffsetLocked())
	epochs, err := openEpochCache(l.fs, l.dir)
	if err != nil {
		return err
	}
	l.mu.epochs = epochs
	if err := epochs.truncateFromEnd(l.logEndOffsetLocked()); err != nil {
		return err
	}
	return epochs.truncateFromStart(l.mu.logStartOffset)
}

// maxBatchOnDisk bounds a batch read during recovery: nothing larger than a
// segment could have been written.
func (l *Log) maxBatchOnDisk(cfg Config) int64 {
	return max(cfg.SegmentBytes, cfg.MaxMessageBytes, 1<<20) + record.LogOverhead
}

func parseBase(name, suffix string) (int64, bool) {
	s, ok := strings.CutSuffix(name, suffix)
	if !ok || len(s) != 20 {
		return 0, false
	}
	n, err := strconv.ParseInt(s, 10, 64)
	return n, err == nil && n >= 0
}

func (l *Log) active() *segment { return l.mu.segments[len(l.mu.segments)-1] }

func (l *Log) logEndOffsetLocked() int64 { return l.active().next }

// LogEndOffset returns the offset the next appended record will get (LEO).
func (l *Log) LogEndOffset() int64 {
	l.mu.RLock()
	defer l.mu.RUnlock()
	return l.logEndOffsetLocked()
}

// LogStartOffset returns the first offset a reader may ask for.
func (l *Log) LogStartOffset() int64 {
	l.mu.RLock()
	defer l.mu.RUnlock()
	return l.mu.logStartOffset
}

// RecoveryPoint returns the offset below which the log is known flushed.
func (l *Log) RecoveryPoint() int64 {
	l.mu.RLock()
	defer l.mu.RUnlock()
	return l.mu.recoveryPoint
}

// Size returns the total bytes of all segments.
func (l *Log) Size() int64 {
	l.mu.RLock()
	defer l.mu.RUnlock()
	var n int64
	for _, s := range l.mu.segments {
		n += s.size
	}
	return n
}

// NumSegments returns how many segments the log has.
func (l *Log) NumSegments() int {
	l.mu.RLock()
	defer l.mu.RUnlock()
	return len(l.mu.segments)
}

// Dir returns the log's directory.
func (l *Log) Dir() string { return l.dir }

// Config returns the log's current configuration.
func (l *Log) Config() Config {
	l.mu.RLock()
	defer l.mu.RUnlock()
	return l.mu.cfg
}

// SetConfig changes the configuration at run time; it applies from the
// next append (sizes) or maintenance pass (retention, flush).
func (l *Log) SetConfig(cfg Config) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.mu.cfg = cfg
}

func (l *Log) checkWritable() error {
	if l.mu.closed {
		return ErrClosed
	}
	return l.mu.failed
}

// AppendAsLeader appends the batches in records (one or more, as a produce
// request carries them), assigning offsets from the log end offset by
// rewriting each batch's base offset in place and stamping leaderEpoch as
// its partition leader epoch. records is modified and not retained.
//
// Every batch is validated before any is written: one bad batch fails the
// whole append with ErrInvalidBatch (or ErrRecordTooLarge) and nothing is
// written. An I/O error part-way through leaves the batches before it
// appended; the error is returned with the AppendInfo of what was written.
func (l *Log) AppendAsLeader(records []byte, leaderEpoch int32) (AppendInfo, error) {
	return l.append(records, true, leaderEpoch)
}

// AppendAsFollower appends batches fetched from the leader verbatim: their
// offsets must start at or after the log end offset and increase
// (ErrNonMonotonicOffsets otherwise). Validation and errors are as for
// AppendAsLeader, except that max.message.bytes is not enforced — the
// leader accepted the batches.
func (l *Log) AppendAsFollower(records []byte) (AppendInfo, error) {
	return l.append(records, false, -1)
}

func (l *Log) append(records []byte, asLeader bool, leaderEpoch int32) (AppendInfo, error) {
	info := AppendInfo{FirstOffset: -1, LastOffset: -1, MaxTimestamp: -1, OffsetOfMaxTimestamp: -1}
	l.mu.Lock()
	defer l.mu.Unlock()
	if err := l.checkWritable(); err != nil {
		return info, err
	}
	cfg := &l.mu.cfg

	// Pass 1: validate everything.
	next := l.logEndOffsetLocked()
	for rest := records; len(rest) > 0; {
		batch, r, err := record.NextBatch(rest)
		if err != nil {
			return info, fmt.Errorf("%w: %w", ErrInvalidBatch, err)
		}
		rest = r
		h, err := record.Validate(batch)
		if err != nil {
			return info, fmt.Errorf("%w: %w", ErrInvalidBatch, err)
		}
		if int64(len(batch)) > cfg.SegmentBytes || (asLeader && int64(len(batch)) > cfg.MaxMessageBytes) {
			return info, fmt.Errorf("%w: %d bytes (max.message.bytes %d, segment.bytes %d)",
				ErrRecordTooLarge, len(batch), cfg.MaxMessageBytes, cfg.SegmentBytes)
		}
		if asLeader {
			if int64(h.NumRecords) != int64(h.LastOffsetDelta)+1 {
				return info, fmt.Errorf("%w: %d records but last offset delta %d", ErrInvalidBatch, h.NumRecords, h.LastOffsetDelta)
			}
		} else {
			if h.BaseOffset < next {
				return info, fmt.Errorf("%w: batch at offset %d, log end offset %d", ErrNonMonotonicOffsets, h.BaseOffset, next)
			}
			next = h.NextOffset()
		}
	}

	// Pass 2: write.
	nowMs := l.nowMs()
	for rest := records; len(rest) > 0; {
		batch, r, _ := record.NextBatch(rest)
		rest = r
		if asLeader {
			record.SetBaseOffset(batch, l.logEndOffsetLocked())
			record.SetPartitionLeaderEpoch(batch, leaderEpoch)
		}
		h, _ := record.ReadHeader(batch)
		if err := l.maybeRoll(h, nowMs); err != nil {
			return info, l.fail(err)
		}
		if err := l.mu.epochs.assign(h.PartitionLeaderEpoch, h.BaseOffset); err != nil {
			return info, l.fail(err)
		}
		if err := l.active().append(batch, h, cfg.IndexIntervalBytes, nowMs); err != nil {
			return info, l.fail(err)
		}
		if info.FirstOffset < 0 {
			info.FirstOffset = h.BaseOffset
		}
		info.LastOffset = h.LastOffset()
		if h.MaxTimestamp > info.MaxTimestamp {
			info.MaxTimestamp, info.OffsetOfMaxTimestamp = h.MaxTimestamp, h.LastOffset()
		}
		info.Batches++
		info.Records += int64(h.NumRecords)
		info.Bytes += int64(len(batch))
	}
	l.mu.unflushed += info.Records
	if l.mu.unflushed >= cfg.FlushMessages {
		// flush.messages is met: sync now, under the lock, as Kafka does.
		if err := l.flushLocked(); err != nil {
			return info, l.fail(err)
		}
	}
	return info, nil
}

// fail records a failure that leaves the log's state uncertain. Errors that
// were cleanly undone (a short write truncated back) do not fence the log.
func (l *Log) fail(err error) error {
	if errors.Is(err, ErrLogFailed) {
		l.mu.failed = err
		l.logger.Error("log fenced after I/O error", "err", err)
	}
	return err
}

// maybeRoll starts a new active segment if the batch does not fit the
// current one, or the current one is older than segment.ms.
func (l *Log) maybeRoll(h record.Header, nowMs int64) error {
	s := l.active()
	cfg := &l.mu.cfg
	segmentMs := cfg.SegmentMs
	if cfg.CleanupCompact && cfg.MaxCompactionLagMs > 0 {
		// The active segment is never cleaned: roll it in time for
		// max.compaction.lag.ms to be kept, as Kafka does.
		segmentMs = min(segmentMs, cfg.MaxCompactionLagMs)
	}
	if s.canHold(h, cfg.SegmentBytes) && (s.empty() || nowMs-s.rollBase < segmentMs-l.jitter(s, segmentMs)) {
		return nil
	}
	if s.empty() {
		// An empty segment that cannot take the batch (its base is too far
		// below the offsets) is replaced rather than left empty.
		if err := l.replaceEmptyActive(h.BaseOffset); err != nil {
			return err
		}
		return nil
	}
	return l.rollLocked(h.BaseOffset)
}

// jitter is segment.jitter.ms spread deterministically per segment, less
// than the roll time segmentMs in force (which max.compaction.lag.ms may
// shorten), so the threshold never goes negative.
func (l *Log) jitter(s *segment, segmentMs int64) int64 {
	j := l.mu.cfg.SegmentJitterMs
	if j <= 0 {
		return 0
	}
	return int64(uint64(s.base)*0x9E3779B97F4A7C15%uint64(j)) % max(segmentMs, 1)
}

// rollLocked finishes the active segment and starts one at base.
func (l *Log) rollLocked(base int64) error {
	old := l.active()
	if err := old.roll(); err != nil {
		return fmt.Errorf("%w: rolling segment %d: %v", ErrLogFailed, old.base, err)
	}
	s, err := createSegment(l.fs, l.dir, base, l.mu.cfg.SegmentIndexBytes, l.nowMs())
	if err != nil {
		return err
	}
	l.mu.segments = append(l.mu.segments, s)
	l.logger.Debug("rolled segment", "segment", base)
	return nil
}

func (l *Log) replaceEmptyActive(base int64) error {
	old := l.active()
	if err := old.close(); err != nil {
		return err
	}
	if err := old.removeFiles(""); err != nil {
		return err
	}
	s, err := createSegment(l.fs, l.dir, base, l.mu.cfg.SegmentIndexBytes, l.nowMs())
	if err != nil {
		return fmt.Errorf("%w: replacing empty segment: %v", ErrLogFailed, err)
	}
	l.mu.segments[len(l.mu.segments)-1] = s
	return nil
}

// Roll starts a new active segment at the log end offset, unless the active
// segment is empty.
func (l *Log) Roll() error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if err := l.checkWritable(); err != nil {
		return err
	}
	if l.active().empty() {
		return nil
	}
	return l.fail(l.rollLocked(l.logEndOffsetLocked()))
}

// segmentFor returns the index of the last segment whose base is <= offset.
func (l *Log) segmentFor(offset int64) int {
	segs := l.mu.segments
	i := sort.Search(len(segs), func(i int) bool { return segs[i].base > offset })
	return max(i-1, 0)
}

// Read returns the whole batches starting with the one that holds offset,
// up to (not including) any batch with an offset at or above maxOffset (the
// high watermark for consumers, the log end offset for followers), and up
// to maxBytes — except that the first batch is returned whole even if it is
// larger, so a consumer can always make progress. Reading at the log end
// offset returns no slices and no error. An offset below the log start
// offset or above the log end offset returns ErrOffsetOutOfRange.
//
// The returned slices point into segment files; see Slice for how long they
// stay valid. Read is safe to call concurrently with appends.
func (l *Log) Read(offset, maxOffset int64, maxBytes int64) (ReadResult, error) {
	res := ReadResult{FirstOffset: -1, NextOffset: offset}
	l.mu.RLock()
	defer l.mu.RUnlock()
	if l.mu.closed {
		return res, ErrClosed
	}
	leo := l.logEndOffsetLocked()
	if offset < l.mu.logStartOffset || offset > leo {
		return res, fmt.Errorf("%w: offset %d, log start %d, log end %d", ErrOffsetOutOfRange, offset, l.mu.logStartOffset, leo)
	}
	maxOffset = min(maxOffset, leo)
	var buf [record.HeaderSize]byte
	for i := l.segmentFor(offset); i < len(l.mu.segments) && offset < maxOffset; i++ {
		s := l.mu.segments[i]
		pos, h, ok, err := s.findPosition(offset, &buf)
		if err != nil {
			return res, err
		}
		if !ok {
			continue // offset is past this segment's end (a gap): try the next
		}
		start := pos
		end := s.size
		// After the first batch, jump through the index to the last indexed
		// batch that surely fits, then walk headers from there: the walk is
		// a pread per batch, the jump a binary search.
		jumped, jumpFrom, jumpNext, jumpBase := false, int64(0), int64(0), int64(-1)
		for pos < end {
			if pos != start {
				if h, err = s.readHeaderAt(pos, &buf); err != nil || (jumpBase >= 0 && h.BaseOffset != jumpBase) {
					if jumpBase >= 0 {
						// The index entry we jumped by lies: walk instead.
						s.indexSuspect.Store(true)
						pos, res.NextOffset, jumpBase = jumpFrom, jumpNext, -1
						continue
					}
					return res, fmt.Errorf("%w: %s at position %d: %v", ErrCorruptLog, s.log.Name(), pos, err)
				}
				jumpBase = -1
			}
			size := int64(h.Size())
			if h.LastOffset() >= maxOffset || (res.Bytes+pos-start+size > maxBytes && (res.Bytes > 0 || pos > start)) {
				end = pos
				break
			}
			if res.FirstOffset < 0 {
				res.FirstOffset = h.BaseOffset
			}
			pos += size
			res.NextOffset = h.NextOffset()
			if !jumped && !s.indexSuspect.Load() {
				jumped = true
				if eOff, ePos, ok := s.index.floorWithin(start+maxBytes-res.Bytes, maxOffset); ok && ePos > pos {
					jumpFrom, jumpNext, jumpBase = pos, res.NextOffset, eOff
					pos, res.NextOffset = ePos, eOff
				}
			}
		}
		if pos > start {
			res.Slices = append(res.Slices, Slice{File: s.log, Pos: start, Len: pos - start})
			res.Bytes += pos - start
		}
		if pos < s.size {
			break // stopped inside this segment: full, or at maxOffset
		}
		offset = res.NextOffset
	}
	return res, nil
}

// OffsetForTimestamp returns the offset and timestamp of the first record
// whose timestamp is >= ts (Kafka's ListOffsets by timestamp). ok=false
// means every record is older.
func (l *Log) OffsetForTimestamp(ts int64) (offset, timestamp int64, ok bool, err error) {
	l.mu.RLock()
	defer l.mu.RUnlock()
	if l.mu.closed {
		return 0, 0, false, ErrClosed
	}
	var buf [record.HeaderSize]byte
	for _, s := range l.mu.segments {
		if maxTS, _ := s.checkedMaxTimestamp(); maxTS < ts || s.next <= l.mu.logStartOffset {
			continue
		}
		from := s.base
		if s.timeIndexTrusted() {
			from, _ = s.timeIndex.lookupBelow(ts)
		}
		from = max(from, l.mu.logStartOffset)
		pos, h, found, err := s.findPosition(from, &buf)
		if err != nil {
			return 0, 0, false, err
		}
		for found && pos < s.size {
			if h.MaxTimestamp >= ts {
				off, rts, err := l.firstRecordAtOrAfter(s, pos, h, ts)
				if err != nil {
					return 0, 0, false, err
				}
				return max(off, l.mu.logStartOffset), rts, true, nil
			}
			pos += int64(h.Size())
			if pos >= s.size {
				break
			}
			if h, err = s.readHeaderAt(pos, &buf); err != nil {
				return 0, 0, false, fmt.Errorf("%w: %s at position %d: %v", ErrCorruptLog, s.log.Name(), pos, err)
			}
		}
	}
	return 0, 0, false, nil
}

// firstRecordAtOrAfter looks inside the batch at pos for the first record
// whose timestamp is >= ts. Without a codec for a compressed batch it
// answers with the batch's base offset and max timestamp.
func (l *Log) firstRecordAtOrAfter(s *segment, pos int64, h record.Header, ts int64) (int64, int64, error) {
	if h.Attributes.LogAppendTime() || h.Attributes.Control() {
		return h.BaseOffset, h.MaxTimestamp, nil
	}
	if h.Attributes.Compression() != 0 && l.codecs == nil {
		return h.BaseOffset, h.MaxTimestamp, nil
	}
	batch := make([]byte, h.Size())
	if _, err := s.log.ReadAt(batch, pos); err != nil && !errors.Is(err, io.EOF) {
		return 0, 0, err
	}
	it, err := record.NewIterator(batch, l.codecs, int(l.maxBatchOnDisk(l.mu.cfg))*4)
	if err != nil {
		return 0, 0, fmt.Errorf("%w: batch at offset %d: %v", ErrCorruptLog, h.BaseOffset, err)
	}
	for {
		r, ok := it.Next()
		if !ok {
			break
		}
		if r.Timestamp >= ts {
			return r.Offset, r.Timestamp, nil
		}
	}
	if err := it.Err(); err != nil {
		return 0, 0, fmt.Errorf("%w: batch at offset %d: %v", ErrCorruptLog, h.BaseOffset, err)
	}
	return h.BaseOffset, h.MaxTimestamp, nil
}

// MaxTimestamp returns the largest timestamp in the log and the offset of
// the first record that has it (ListOffsets' MAX_TIMESTAMP, KIP-734; the
// record, not its batch, as Kafka answers since KAFKA-16310). ok=false for
// an empty log.
func (l *Log) MaxTimestamp() (timestamp, offset int64, ok bool, err error) {
	l.mu.RLock()
	defer l.mu.RUnlock()
	timestamp, offset = -1, -1
	var in *segment
	for _, s := range l.mu.segments {
		if ts, off := s.checkedMaxTimestamp(); ts > timestamp && s.next > l.mu.logStartOffset {
			timestamp, offset, in = ts, off, s
		}
	}
	if in == nil {
		return -1, -1, false, nil
	}
	// offset is the last offset of the batch holding the maximum; look
	// inside it for the record.
	var buf [record.HeaderSize]byte
	pos, h, found, err := in.findPosition(offset, &buf)
	if err != nil {
		return -1, -1, false, err
	}
	if found && h.MaxTimestamp == timestamp {
		if off, _, err := l.firstRecordAtOrAfter(in, pos, h, timestamp); err == nil {
			offset = max(off, l.mu.logStartOffset)
		}
	}
	return timestamp, offset, true, nil
}

// ScanBatches calls fn with the header of every batch from the one holding
// from to the log end, in offset order, until fn returns false. It reads
// only headers (one pread each); it holds the log's read lock throughout,
// so it is meant for start-up work such as rebuilding producer state.
//
// fn sees each header as it is on disk: a batch the cleaner thinned or
// emptied has fewer records than LastOffsetDelta+1, but keeps its
// BaseSequence and LastOffsetDelta, from which a producer's last sequence
// is derived (as Kafka does).
func (l *Log) ScanBatches(from int64, fn func(record.Header) bool) error {
	l.mu.RLock()
	defer l.mu.RUnlock()
	if l.mu.closed {
		return ErrClosed
	}
	from = max(from, l.mu.logStartOffset)
	var buf [record.HeaderSize]byte
	for i := l.segmentFor(from); i < len(l.mu.segments); i++ {
		s := l.mu.segments[i]
		pos, h, ok, err := s.findPosition(from, &buf)
		if err != nil {
			return err
		}
		for ok && pos < s.size {
			if !fn(h) {
				return nil
			}
			pos += int64(h.Size())
			if pos >= s.size {
				break
			}
			if h, err = s.readHeaderAt(pos, &buf); err != nil {
				return fmt.Errorf("%w: %s at position %d: %v", ErrCorruptLog, s.log.Name(), pos, err)
			}
		}
	}
	return nil
}
