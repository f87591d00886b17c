package log

import (
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/weirmq/weir/core/record"
)

// Files the Manager keeps in the data directory.
const (
	cleanShutdownFile      = ".clean-shutdown"
	recoveryPointFile      = "recovery-point-offset-checkpoint"
	logStartOffsetFile     = "log-start-offset-checkpoint"
	cleanerOffsetFile      = "cleaner-offset-checkpoint"
	defaultMaintenanceTick = time.Second
)

// TopicPartition names a partition.
type TopicPartition struct {
	Topic     string
	Partition int32
}

func (tp TopicPartition) String() string { return tp.Topic + "-" + strconv.Itoa(int(tp.Partition)) }

// ParseTopicPartition parses a partition directory name, "<topic>-<n>".
func ParseTopicPartition(name string) (TopicPartition, bool) {
	i := strings.LastIndexByte(name, '-')
	if i <= 0 {
		return TopicPartition{}, false
	}
	p, err := strconv.ParseInt(name[i+1:], 10, 32)
	if err != nil || p < 0 || strconv.FormatInt(p, 10) != name[i+1:] {
		return TopicPartition{}, false
	}
	return TopicPartition{Topic: name[:i], Partition: int32(p)}, true
}

// ManagerOptions configure a Manager. Zero values take the defaults noted.
type ManagerOptions struct {
	FS     FS                 // OSFS
	Clock  Clock              // SystemClock
	Logger *slog.Logger       // slog.Default()
	Codecs record.CodecSource // none

	RetentionCheckInterval  time.Duration // log.retention.check.interval.ms; 5m
	FlushCheckInterval      time.Duration // log.flush.scheduler.interval.ms; 1s
	CheckpointInterval      time.Duration // log.flush.offset.checkpoint.interval.ms; 1m
	DisableBackgroundWorker bool          // tests drive retention, flushes and cleaning themselves

	// The log cleaner. Retention runs in its own worker whatever the
	// thread count.
	CleanerThreads          int           // log.cleaner.threads; 0: compaction only through CleanLog
	CleanerBackoff          time.Duration // log.cleaner.backoff.ms; 15s
	CleanerIOBytesPerSecond float64       // log.cleaner.io.max.bytes.per.second, all threads together; 0: unlimited
	CleanerMaxKeys          int           // most distinct keys one pass maps (about 48 bytes each); 2Mi
	// CompactionFilters resolves weir.compaction.filter (an *sdk.Registry).
	// nil: a topic naming a filter is compacted by key only, with a warning.
	CompactionFilters CompactionFilters

	// CleanLimitFromOwner: a log opened by OpenLog is not cleaned at all
	// until its owner calls SetCleanLimit (the broker's partition sets it
	// to its high watermark as soon as it opens), so that no pass can
	// compact records above the HW in between. false: logs are cleanable
	// up to their active segment from the start (tools and tests).
	CleanLimitFromOwner bool
}

// Manager owns a data directory: the partition logs in it, the
// clean-shutdown marker and the data-directory checkpoints (recovery
// points, log start offsets, cleaner offsets), a background goroutine for
// time-based flushes and checkpoints, and the log cleaner: a retention
// worker and log.cleaner.threads compaction threads (cleaner_manager.go).
//
// A Manager is safe for concurrent use. It must be created with OpenManager
// and closed with Close.
type Manager struct {
	dir    string
	opts   ManagerOptions
	logger *slog.Logger

	// What the previous run left, read once at open.
	cleanShutdown  bool
	recoveryPoints map[TopicPartition]int64
	logStarts      map[TopicPartition]int64
	cleanerOffsets map[TopicPartition]int64

	cleaner cleanerRuntime

	mu struct {
		sync.Mutex
		logs   map[TopicPartition]*Log
		closed bool
	}
	stop chan struct{}
	done chan struct{}
}

// OpenManager opens dir (creating it), reads the checkpoints and the
// clean-shutdown marker, and removes the marker so that a crash from now on
// is seen as unclean. Logs are opened, and recovered if need be, by
// OpenLog.
func OpenManager(dir string, opts ManagerOptions) (*Manager, error) {
	if opts.FS == nil {
		opts.FS = OSFS{}
	}
	if opts.Clock == nil {
		opts.Clock = SystemClock{}
	}
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	if opts.RetentionCheckInterval <= 0 {
		opts.RetentionCheckInterval = 5 * time.Minute
	}
	if opts.FlushCheckInterval <= 0 {
		opts.FlushCheckInterval = time.Second
	}
	if opts.CheckpointInterval <= 0 {
		opts.CheckpointInterval = time.Minute
	}
	m := &Manager{dir: dir, opts: opts, logger: opts.Logger, stop: make(chan struct{}), done: make(chan struct{})}
	m.mu.logs = make(map[TopicPartition]*Log)
	if err := opts.FS.MkdirAll(dir, 0o755); err != nil {
		return nil, err
	}
	marker := filepath.Join(dir, cleanShutdownFile)
	if f, err := opts.FS.OpenFile(marker, os.O_RDONLY, 0); err == nil {
		f.Close()
		m.cleanShutdown = true
	}
	var err error
	if m.recoveryPoints, err = m.readOffsets(recoveryPointFile); err != nil {
		m.logger.Warn("ignoring unreadable checkpoint; every log will be recovered in full", "err", err)
		m.cleanShutdown = false
	}
	if m.logStarts, err = m.readOffsets(logStartOffsetFile); err != nil {
		m.logger.Warn("ignoring unreadable checkpoint; log start offsets fall back to the first segment", "err", err)
	}
	if m.cleanerOffsets, err = m.readOffsets(cleanerOffsetFile); err != nil {
		m.logger.Warn("ignoring unreadable checkpoint; compacted logs are cleaned from their start", "err", err)
	}
	if err := opts.FS.Remove(marker); err != nil && !errors.Is(err, os.ErrNotExist) {
		return nil, err
	}
	if err := opts.FS.SyncDir(dir); err != nil {
		return nil, err
	}
	m.cleaner.throttle = newThrottler(opts.CleanerIOBytesPerSecond)
	if !opts.DisableBackgroundWorker {
		go m.loop()
		m.startCleaner()
	} else {
		close(m.done)
	}
	return m, nil
}

// CleanShutdown reports whether the previous run shut down cleanly.
func (m *Manager) CleanShutdown() bool { return m.cleanShutdown }

func (m *Manager) readOffsets(name string) (map[TopicPartition]int64, error) {
	rows, err := readCheckpoint(m.opts.FS, filepath.Join(m.dir, name), 3)
	if err != nil {
		return map[TopicPartition]int64{}, err
	}
	out := make(map[TopicPartition]int64, len(rows))
	for _, r := range rows {
		p, err1 := strconv.ParseInt(r[1], 10, 32)
		o, err2 := strconv.ParseInt(r[2], 10, 64)
		if err1 != nil || err2 != nil || p < 0 || o < 0 {
			return map[TopicPartition]int64{}, fmt.Errorf("checkpoint %s: bad entry %q", name, strings.Join(r, " "))
		}
		out[TopicPartition{Topic: r[0], Partition: int32(p)}] = o
	}
	return out, nil
}

// Partitions lists the partition directories present on disk.
func (m *Manager) Partitions() ([]TopicPartition, error) {
	entries, err := m.opts.FS.ReadDir(m.dir)
	if err != nil {
		return nil, err
	}
	var out []TopicPartition
	for _, e := range entries {
		if tp, ok := ParseTopicPartition(e.Name()); ok && e.IsDir() {
			out = append(out, tp)
		}
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].Topic != out[j].Topic {
			return out[i].Topic < out[j].Topic
		}
		return out[i].Partition < out[j].Partition
	})
	return out, nil
}

// OpenLog returns the log of tp, opening (and recovering) or creating it
// with cfg on first use. A log already open keeps its configuration; use
// Log.SetConfig to change it.
func (m *Manager) OpenLog(tp TopicPartition, cfg Config) (*Log, error) {
	if tp.Topic == "" || tp.Partition < 0 || strings.ContainsAny(tp.Topic, "/\\") || tp.Topic == "." || tp.Topic == ".." {
		return nil, fmt.Errorf("invalid partition %q", tp)
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.mu.closed {
		return nil, ErrClosed
	}
	if l, ok := m.mu.logs[tp]; ok {
		return l, nil
	}
	l, err := Open(filepath.Join(m.dir, tp.String()), cfg, Options{
		FS:               m.opts.FS,
		Clock:            m.opts.Clock,
		Logger:           m.logger.With("topic", tp.Topic, "partition", tp.Partition),
		Codecs:           m.opts.Codecs,
		CleanShutdown:    m.cleanShutdown,
		RecoveryPoint:    m.recoveryPoints[tp],
		LogStartOffset:   m.logStarts[tp],
		FirstDirtyOffset: m.cleanerOffsets[tp],
	})
	if err != nil {
		return nil, err
	}
	if m.opts.CleanLimitFromOwner {
		l.SetCleanLimit(0) // before any cleaner thread can see it
	}
	m.mu.logs[tp] = l
	return l, nil
}

// Log returns the open log of tp, or nil.
func (m *Manager) Log(tp TopicPartition) *Log {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.mu.logs[tp]
}

// DeleteLog closes tp's log and removes its directory.
func (m *Manager) DeleteLog(tp TopicPartition) error {
	m.mu.Lock()
	l := m.mu.logs[tp]
	delete(m.mu.logs, tp)
	// A topic created again under the name starts afresh, not at the
	// deleted one's offsets, and checkpoints stop listing it.
	delete(m.recoveryPoints, tp)
	delete(m.logStarts, tp)
	delete(m.cleanerOffsets, tp)
	m.mu.Unlock()
	if l == nil {
		dir := filepath.Join(m.dir, tp.String())
		if _, err := m.opts.FS.ReadDir(dir); errors.Is(err, os.ErrNotExist) {
			return nil
		}
		return removeAll(m.opts.FS, dir)
	}
	return l.Delete()
}

func (m *Manager) logs() []*Log {
	m.mu.Lock()
	defer m.mu.Unlock()
	out := make([]*Log, 0, len(m.mu.logs))
	for _, l := range m.mu.logs {
		out = append(out, l)
	}
	return out
}

// Checkpoint writes every open log's recovery point and log start offset.
func (m *Manager) Checkpoint() error {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.checkpointLocked()
}

func (m *Manager) checkpointLocked() error {
	// Offsets of logs not opened this run are carried over unchanged.
	rps := make(map[TopicPartition]int64, len(m.recoveryPoints))
	starts := make(map[TopicPartition]int64, len(m.logStarts))
	for tp, o := range m.recoveryPoints {
		rps[tp] = o
	}
	for tp, o := range m.logStarts {
		starts[tp] = o
	}
	for tp, l := range m.mu.logs {
		rps[tp] = l.RecoveryPoint()
		starts[tp] = l.LogStartOffset()
	}
	return errors.Join(
		writeCheckpoint(m.opts.FS, filepath.Join(m.dir, recoveryPointFile), offsetRows(rps)),
		writeCheckpoint(m.opts.FS, filepath.Join(m.dir, logStartOffsetFile), offsetRows(starts)),
		m.writeCleanerOffsetsLocked(),
	)
}

// writeCleanerOffsetsLocked writes every log's first dirty offset (Kafka's
// cleaner-offset-checkpoint). The caller holds m.mu.
func (m *Manager) writeCleanerOffsetsLocked() error {
	offsets := make(map[TopicPartition]int64, len(m.cleanerOffsets))
	for tp, o := range m.cleanerOffsets {
		offsets[tp] = o
	}
	for tp, l := range m.mu.logs {
		if o := l.firstDirtyOffset(); o > 0 {
			offsets[tp] = o
		} else {
			delete(offsets, tp)
		}
	}
	return writeCheckpoint(m.opts.FS, filepath.Join(m.dir, cleanerOffsetFile), offsetRows(offsets))
}

func offsetRows(offsets map[TopicPartition]int64) [][]string {
	rows := make([][]string, 0, len(offsets))
	for tp, o := range offsets {
		rows = append(rows, []string{tp.Topic, strconv.Itoa(int(tp.Partition)), strconv.FormatInt(o, 10)})
	}
	sort.Slice(rows, func(i, j int) bool { return strings.Join(rows[i], " ") < strings.Join(rows[j], " ") })
	return rows
}

// EnforceRetention runs retention on every open log (see
// Log.EnforceRetention). A log the cleaner is working on is skipped: the
// cleaner runs retention on it when its pass ends. Errors are logged, not
// returned: one bad partition must not stop the others.
func (m *Manager) EnforceRetention() {
	for _, l := range m.logs() {
		if !l.cleanMu.TryLock() {
			continue
		}
		m.retain(l)
		l.cleanMu.Unlock()
	}
}

// retain runs retention on l; the caller holds l.cleanMu.
func (m *Manager) retain(l *Log) {
	if n, err := l.EnforceRetention(); err != nil {
		if !errors.Is(err, ErrClosed) {
			l.logger.Warn("retention", "err", err)
		}
	} else if n > 0 {
		l.logger.Info("retention deleted segments", "segments", n, "log_start_offset", l.LogStartOffset())
	}
	l.ReapDeleted()
}

// FlushDue flushes every log whose flush.ms has passed.
func (m *Manager) FlushDue() {
	for _, l := range m.logs() {
		if err := l.FlushIfDue(); err != nil {
			l.logger.Warn("flush", "err", err)
		}
	}
}

func (m *Manager) loop() {
	defer close(m.done)
	flush := time.NewTicker(m.opts.FlushCheckInterval)
	checkpoint := time.NewTicker(m.opts.CheckpointInterval)
	defer flush.Stop()
	defer checkpoint.Stop()
	for {
		select {
		case <-m.stop:
			return
		case <-flush.C:
			m.FlushDue()
		case <-checkpoint.C:
			if err := m.Checkpoint(); err != nil {
				m.logger.Warn("writing checkpoints", "err", err)
			}
		}
	}
}

// Close stops the background goroutines (a cleaning pass in progress is
// abandoned and its output removed), closes every log (flushing it),
// writes the checkpoints and, if all of that succeeded, the clean-shutdown
// marker that lets the next start skip recovery.
func (m *Manager) Close() error {
	m.mu.Lock()
	if m.mu.closed {
		m.mu.Unlock()
		return nil
	}
	m.mu.closed = true
	m.mu.Unlock()
	if !m.opts.DisableBackgroundWorker {
		close(m.stop)
	}
	<-m.done
	m.stopCleaner()

	m.mu.Lock()
	defer m.mu.Unlock()
	var errs []error
	for _, l := range m.mu.logs {
		if err := l.Close(); err != nil {
			errs = append(errs, fmt.Errorf("closing %s: %w", l.dir, err))
		}
	}
	// Close flushed every log: its recovery point is its end.
	errs = append(errs, m.checkpointLocked())
	if err := errors.Join(errs...); err != nil {
		return err
	}
	f, err := m.opts.FS.OpenFile(filepath.Join(m.dir, cleanShutdownFile), os.O_RDWR|os.O_CREATE|os.O_TRUNC, 0o644)
	if err != nil {
		return err
	}
	err = errors.Join(f.Sync(), f.Close(), m.opts.FS.SyncDir(m.dir))
	return err
}
