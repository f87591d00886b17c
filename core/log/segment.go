package log

import (
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"

	"github.com/weirmq/weir/core/record"
)

// File name suffixes of a segment's files.
const (
	logSuffix       = ".log"
	indexSuffix     = ".index"
	timeIndexSuffix = ".timeindex"
	deletedSuffix   = ".deleted"
	cleanedSuffix   = ".cleaned"
	swapSuffix      = ".swap"
)

// segmentName is the 20-digit, zero-padded base offset Kafka names files by.
func segmentName(dir string, base int64, suffix string) string {
	return filepath.Join(dir, fmt.Sprintf("%020d%s", base, suffix))
}

// segment is one .log file with its two indexes. All mutation happens under
// the owning Log's write lock; reads under its read lock.
type segment struct {
	fs   FS
	dir  string
	base int64
	// suffix is appended to the names of the segment's files while the
	// cleaner builds it (".cleaned"); it is "" for a live segment. Only
	// file creation uses it: the cleaner renames the files itself.
	suffix string

	log  File
	size int64 // bytes of whole batches in the .log file
	next int64 // offset after the last batch: the segment's log end offset

	index     offsetIndex
	timeIndex timeIndex

	// indexSuspect is set when a lookup found an offset index entry that
	// does not name the batch at its position; lookups in this segment then
	// scan from the start. Indexes are only checked structurally at load
	// (checking every entry would read the whole log), so this is where a
	// corrupt but well-formed index is caught.
	indexSuspect atomic.Bool
	// timeIndexCheck verifies the time index against the log once, before
	// the first timestamp lookup in the segment trusts it.
	timeIndexCheck struct {
		sync.Mutex
		state          int8  // 0 unchecked, 1 good, -1 bad: ignore the time index
		maxTS, maxOff  int64 // the largest timestamp found by the check's scan
		scannedThrough int64 // the segment size the scan covered
	}

	bytesSinceIndex int64
	maxTimestamp    int64 // largest batch max timestamp so far, -1 for none
	offsetOfMaxTS   int64
	// rollBase is when segment.ms starts counting (Unix ms): the broker's
	// clock at the first append, or for a segment found on disk its first
	// batch's timestamp (if plausible) — not the client's record timestamp,
	// which would make a producer replaying old data roll every batch.
	rollBase int64
}

func (s *segment) empty() bool { return s.size == 0 }

// createSegment makes a new, empty active segment at base.
func createSegment(fs FS, dir string, base int64, indexBytes int64, nowMs int64) (*segment, error) {
	return createSegmentFiles(fs, dir, base, "", indexBytes, nowMs)
}

// createSegmentFiles makes a new, empty, writable segment at base whose
// files carry suffix after their usual names ("" for a live segment).
func createSegmentFiles(fs FS, dir string, base int64, suffix string, indexBytes int64, nowMs int64) (*segment, error) {
	name := segmentName(dir, base, logSuffix) + suffix
	f, err := fs.OpenFile(name, os.O_RDWR|os.O_CREATE|os.O_TRUNC, 0o644)
	if err != nil {
		return nil, err
	}
	s := &segment{fs: fs, dir: dir, base: base, suffix: suffix, log: f, next: base, maxTimestamp: -1, offsetOfMaxTS: base, rollBase: nowMs}
	// A leftover index from a deleted segment at this base would be wrong.
	for _, sfx := range []string{indexSuffix, timeIndexSuffix} {
		if err := fs.Remove(segmentName(dir, base, sfx) + suffix); err != nil && !errors.Is(err, os.ErrNotExist) {
			f.Close()
			return nil, err
		}
	}
	if err := s.openIndexes(true, indexBytes); err != nil {
		f.Close()
		return nil, err
	}
	return s, nil
}

// openSegmentFile opens an existing segment's .log; its indexes and offsets
// are set up by load or recover.
func openSegmentFile(fs FS, dir string, base int64, nowMs int64) (*segment, error) {
	f, err := fs.OpenFile(segmentName(dir, base, logSuffix), os.O_RDWR, 0o644)
	if err != nil {
		return nil, err
	}
	st, err := f.Stat()
	if err != nil {
		f.Close()
		return nil, err
	}
	return &segment{fs: fs, dir: dir, base: base, log: f, size: st.Size(), next: base, maxTimestamp: -1, offsetOfMaxTS: base, rollBase: nowMs}, nil
}

func (s *segment) openIndexes(writable bool, indexBytes int64) error {
	oi, err := openMmapFile(s.fs, segmentName(s.dir, s.base, indexSuffix)+s.suffix, offsetEntrySize, writable, indexBytes)
	if err != nil {
		return err
	}
	ti, err := openMmapFile(s.fs, segmentName(s.dir, s.base, timeIndexSuffix)+s.suffix, timeEntrySize, writable, indexBytes)
	if err != nil {
		oi.close()
		return err
	}
	s.index = offsetIndex{mmapFile: oi, base: s.base}
	s.timeIndex = timeIndex{mmapFile: ti, base: s.base}
	return nil
}

// readHeaderAt reads and parses the batch header at pos. io.EOF means pos is
// the end of the file; record errors mean garbage at pos.
func (s *segment) readHeaderAt(pos int64, buf *[record.HeaderSize]byte) (record.Header, error) {
	n, err := s.log.ReadAt(buf[:], pos)
	if n < record.HeaderSize {
		if n == 0 && (err == nil || errors.Is(err, io.EOF)) {
			return record.Header{}, io.EOF
		}
		if err != nil && !errors.Is(err, io.EOF) {
			return record.Header{}, err
		}
		return record.Header{}, fmt.Errorf("%w: %d bytes at position %d", record.ErrTruncated, n, pos)
	}
	return record.ReadHeader(buf[:])
}

// load opens the indexes of a segment that needs no recovery, checks them,
// and finds the segment's next offset by walking the batch headers after the
// last index entry. An index that fails its check is rebuilt from the log;
// a tail that does not parse sends the caller to recovery (errNeedsRecovery).
func (s *segment) load(writable bool, indexBytes int64) error {
	if err := s.openIndexes(false, indexBytes); err != nil {
		return err
	}
	if err := s.index.check(s.size); err != nil {
		return fmt.Errorf("%w: %v", errNeedsRecovery, err)
	}
	pos := int64(0)
	if s.index.entries > 0 {
		_, pos = s.index.at(s.index.entries - 1)
	}
	var buf [record.HeaderSize]byte
	for first := s.index.entries > 0; pos < s.size; first = false {
		h, err := s.readHeaderAt(pos, &buf)
		if err != nil || pos+int64(h.Size()) > s.size || h.BaseOffset < s.next {
			return fmt.Errorf("%w: batch header at position %d: %v", errNeedsRecovery, pos, err)
		}
		if first {
			if off, _ := s.index.at(s.index.entries - 1); off != h.BaseOffset {
				return fmt.Errorf("%w: last index entry names offset %d, the batch there is at %d", errNeedsRecovery, off, h.BaseOffset)
			}
		}
		s.next = h.NextOffset()
		s.bytesSinceIndex += int64(h.Size())
		pos += int64(h.Size())
	}
	if s.size > 0 {
		h, err := s.readHeaderAt(0, &buf)
		if err != nil {
			return fmt.Errorf("%w: first batch header: %v", errNeedsRecovery, err)
		}
		s.setLoadedRollBase(h)
	}
	if err := s.timeIndex.check(s.next); err != nil {
		return fmt.Errorf("%w: %v", errNeedsRecovery, err)
	}
	if ts, off, ok := s.timeIndex.last(); ok {
		s.maxTimestamp, s.offsetOfMaxTS = ts, off
	}
	// The time index holds the max timestamp only up to its last entry; the
	// batches after the last offset index entry may hold a larger one.
	if err := s.scanTailTimestamps(); err != nil {
		return fmt.Errorf("%w: %v", errNeedsRecovery, err)
	}
	if writable {
		return s.makeWritable(indexBytes)
	}
	return nil
}

// scanTailTimestamps folds the batches after the last offset index entry
// into maxTimestamp.
func (s *segment) scanTailTimestamps() error {
	pos := int64(0)
	if s.index.entries > 0 {
		_, pos = s.index.at(s.index.entries - 1)
	}
	var buf [record.HeaderSize]byte
	for pos < s.size {
		h, err := s.readHeaderAt(pos, &buf)
		if err != nil {
			return err
		}
		if h.MaxTimestamp > s.maxTimestamp {
			s.maxTimestamp, s.offsetOfMaxTS = h.MaxTimestamp, h.LastOffset()
		}
		pos += int64(h.Size())
	}
	return nil
}

func (s *segment) makeWritable(indexBytes int64) error {
	if err := s.index.reopenWritable(indexBytes); err != nil {
		return err
	}
	return s.timeIndex.reopenWritable(indexBytes)
}

// errNeedsRecovery says a segment that was expected to be clean is not.
var errNeedsRecovery = errors.New("segment needs recovery")

// recover rebuilds the segment's indexes by reading every batch and checking
// its CRC, and truncates the .log at the first byte that is not part of a
// whole valid batch whose offsets follow on from the previous one. It
// returns the number of bytes truncated.
func (s *segment) recover(writable bool, indexBytes, indexInterval int64, maxBatch int64) (truncated int64, err error) {
	if s.index.mmapFile == nil {
		// Recreate the indexes from scratch: whatever they held is suspect.
		for _, suffix := range []string{indexSuffix, timeIndexSuffix} {
			if err := s.fs.Remove(segmentName(s.dir, s.base, suffix)); err != nil && !errors.Is(err, os.ErrNotExist) {
				return 0, err
			}
		}
		if err := s.openIndexes(true, indexBytes); err != nil {
			return 0, err
		}
	} else {
		s.index.truncateEntries(0)
		s.timeIndex.truncateEntries(0)
		if !s.index.writable {
			if err := s.makeWritable(indexBytes); err != nil {
				return 0, err
			}
		}
	}
	s.next, s.maxTimestamp, s.offsetOfMaxTS, s.bytesSinceIndex = s.base, -1, s.base, 0

	var hbuf [record.HeaderSize]byte
	var body []byte
	pos := int64(0)
	for pos < s.size {
		h, err := s.readHeaderAt(pos, &hbuf)
		if err != nil {
			if errors.Is(err, io.EOF) || isRecordError(err) {
				break
			}
			return 0, err
		}
		size := int64(h.Size())
		// A full index is not a reason to stop: a segment the cleaner
		// merged may need more entries than segment.index.bytes holds now;
		// lookups past the last entry scan.
		if size > maxBatch || pos+size > s.size || h.BaseOffset < s.next ||
			h.LastOffset()-s.base > math.MaxUint32 {
			break
		}
		if cap(body) < int(size) {
			body = make([]byte, size)
		}
		body = body[:size]
		if _, err := s.log.ReadAt(body, pos); err != nil {
			return 0, err
		}
		if _, err := record.Validate(body); err != nil {
			break
		}
		if pos == 0 {
			s.setLoadedRollBase(h)
		}
		s.indexBatch(h, pos, indexInterval)
		s.next = h.NextOffset()
		pos += size
	}
	if pos < s.size {
		truncated = s.size - pos
		if err := s.log.Truncate(pos); err != nil {
			return 0, err
		}
		s.size = pos
	}
	if !writable {
		if err := s.roll(); err != nil {
			return truncated, err
		}
	}
	return truncated, nil
}

// setLoadedRollBase starts segment.ms at the first batch's timestamp when it
// is plausible (not in the future of the load time), else at load time.
func (s *segment) setLoadedRollBase(first record.Header) {
	if first.MaxTimestamp > 0 && first.MaxTimestamp < s.rollBase {
		s.rollBase = first.MaxTimestamp
	}
}

func isRecordError(err error) bool {
	return errors.Is(err, record.ErrCorrupt) || errors.Is(err, record.ErrTruncated) ||
		errors.Is(err, record.ErrUnsupportedMagic) || errors.Is(err, record.ErrTooLarge)
}

// indexBatch records a batch just written at pos in the indexes.
func (s *segment) indexBatch(h record.Header, pos, indexInterval int64) {
	if h.MaxTimestamp > s.maxTimestamp {
		s.maxTimestamp, s.offsetOfMaxTS = h.MaxTimestamp, h.LastOffset()
	}
	if s.bytesSinceIndex >= indexInterval || s.index.entries == 0 {
		if !s.index.full() {
			s.index.append(h.BaseOffset, pos)
		}
		s.appendTimeEntry()
		s.bytesSinceIndex = 0
	}
	s.bytesSinceIndex += int64(h.Size())
}

// appendTimeEntry adds (max timestamp so far, its offset) if it moved.
func (s *segment) appendTimeEntry() {
	if s.timeIndex.full() || s.maxTimestamp < 0 {
		return
	}
	if ts, _, ok := s.timeIndex.last(); ok && ts >= s.maxTimestamp {
		return
	}
	s.timeIndex.append(s.maxTimestamp, s.offsetOfMaxTS)
}

// canHold reports whether the batch fits this segment without a roll.
func (s *segment) canHold(h record.Header, segmentBytes int64) bool {
	if s.empty() {
		return h.LastOffset()-s.base <= math.MaxUint32
	}
	return s.size+int64(h.Size()) <= segmentBytes &&
		h.LastOffset()-s.base <= math.MaxUint32 &&
		!s.index.full() && !s.timeIndex.full()
}

// append writes one batch (already validated, offsets assigned) at the end
// of the segment. A failed or short write is undone by truncating back; if
// even that fails the error says so and the caller must fence the log.
func (s *segment) append(batch []byte, h record.Header, indexInterval, nowMs int64) error {
	n, err := s.log.WriteAt(batch, s.size)
	if err == nil && n < len(batch) {
		err = io.ErrShortWrite
	}
	if err != nil {
		if terr := s.log.Truncate(s.size); terr != nil {
			return fmt.Errorf("%w: write: %v; truncating the torn tail: %v", ErrLogFailed, err, terr)
		}
		return err
	}
	if s.empty() {
		s.rollBase = nowMs
	}
	s.indexBatch(h, s.size, indexInterval)
	s.size += int64(len(batch))
	s.next = h.NextOffset()
	return nil
}

// findPosition returns the position and header of the first batch whose
// last offset is >= offset, starting from the index's hint. ok=false means
// no such batch in this segment.
func (s *segment) findPosition(offset int64, buf *[record.HeaderSize]byte) (pos int64, h record.Header, ok bool, err error) {
	var hint int64
	if !s.indexSuspect.Load() {
		hint, pos = s.index.lookup(offset)
	}
	for first := pos > 0; pos < s.size; first = false {
		h, err = s.readHeaderAt(pos, buf)
		if first && (err != nil || h.BaseOffset != hint) {
			// The index entry lies. Distrust the index and scan.
			s.indexSuspect.Store(true)
			pos = 0
			continue
		}
		if err != nil {
			return 0, h, false, fmt.Errorf("%w: %s at position %d: %v", ErrCorruptLog, s.log.Name(), pos, err)
		}
		if h.LastOffset() >= offset {
			return pos, h, true, nil
		}
		pos += int64(h.Size())
	}
	return 0, h, false, nil
}

// timeIndexTrusted reports whether the time index agrees with the log,
// checking it the first time it is asked: every entry must be a point where
// the running maximum timestamp rose, with that timestamp and the offset of
// the batch that set it. Callers hold the log's lock (so no append runs).
func (s *segment) timeIndexTrusted() bool {
	s.timeIndexCheck.Lock()
	defer s.timeIndexCheck.Unlock()
	if s.timeIndexCheck.state != 0 {
		return s.timeIndexCheck.state > 0
	}
	var buf [record.HeaderSize]byte
	maxTS, maxOff := int64(-1), s.base
	i := 0
	good := true
	for pos := int64(0); pos < s.size; {
		h, err := s.readHeaderAt(pos, &buf)
		if err != nil {
			good = false
			break
		}
		if h.MaxTimestamp > maxTS {
			maxTS, maxOff = h.MaxTimestamp, h.LastOffset()
		}
		for good && i < s.timeIndex.entries {
			ts, off := s.timeIndex.at(i)
			if off > h.LastOffset() {
				break
			}
			good = off == maxOff && ts == maxTS
			i++
		}
		pos += int64(h.Size())
	}
	c := &s.timeIndexCheck
	c.maxTS, c.maxOff, c.scannedThrough = maxTS, maxOff, s.size
	c.state = 1
	if !good || i != s.timeIndex.entries {
		c.state = -1
	}
	return c.state > 0
}

// checkedMaxTimestamp returns the segment's largest timestamp and its
// offset, not trusting a time index that failed its check: then it is the
// check's scan, plus whatever was appended since.
func (s *segment) checkedMaxTimestamp() (int64, int64) {
	if s.timeIndexTrusted() {
		return s.maxTimestamp, s.offsetOfMaxTS
	}
	c := &s.timeIndexCheck
	c.Lock()
	defer c.Unlock()
	if s.size > c.scannedThrough && s.maxTimestamp > c.maxTS {
		return s.maxTimestamp, s.offsetOfMaxTS
	}
	return c.maxTS, c.maxOff
}

// truncateTo drops every batch that holds an offset >= offset. The segment
// then ends at the start of the first such batch.
func (s *segment) truncateTo(offset int64) error {
	var buf [record.HeaderSize]byte
	pos, h, ok, err := s.findPosition(offset, &buf)
	if err != nil {
		return err
	}
	if !ok {
		return nil
	}
	if err := s.log.Truncate(pos); err != nil {
		return err
	}
	s.size = pos
	s.next = h.BaseOffset
	if pos == 0 {
		s.next = s.base
	}
	s.index.truncateTo(s.next)
	s.timeIndex.truncateTo(s.next)
	s.maxTimestamp, s.offsetOfMaxTS = -1, s.base
	if ts, off, ok := s.timeIndex.last(); ok {
		s.maxTimestamp, s.offsetOfMaxTS = ts, off
	}
	s.bytesSinceIndex = 0
	if s.index.entries > 0 {
		_, last := s.index.at(s.index.entries - 1)
		s.bytesSinceIndex = s.size - last
	}
	return s.scanTailTimestamps()
}

// roll finishes the segment: a final time-index entry so timestamp lookups
// see its largest timestamp, then both indexes trimmed and remapped
// read-only.
func (s *segment) roll() error {
	if s.timeIndex.writable {
		s.appendTimeEntry()
	}
	if err := s.index.trim(); err != nil {
		return err
	}
	return s.timeIndex.trim()
}

func (s *segment) sync() error {
	if err := s.log.Sync(); err != nil {
		return err
	}
	if err := s.index.sync(); err != nil {
		return err
	}
	return s.timeIndex.sync()
}

func (s *segment) close() error {
	var errs []error
	if s.index.mmapFile != nil {
		errs = append(errs, s.index.close())
	}
	if s.timeIndex.mmapFile != nil {
		errs = append(errs, s.timeIndex.close())
	}
	errs = append(errs, s.log.Close())
	return errors.Join(errs...)
}

// renameTo gives all three files a new suffix appended to their names.
func (s *segment) renameAll(suffix string) error {
	for _, sfx := range []string{logSuffix, indexSuffix, timeIndexSuffix} {
		name := segmentName(s.dir, s.base, sfx)
		if err := s.fs.Rename(name, name+suffix); err != nil && !errors.Is(err, os.ErrNotExist) {
			return err
		}
	}
	return nil
}

// removeFiles deletes the segment's files, under their live names plus suffix.
func (s *segment) removeFiles(suffix string) error {
	var errs []error
	for _, sfx := range []string{logSuffix, indexSuffix, timeIndexSuffix} {
		if err := s.fs.Remove(segmentName(s.dir, s.base, sfx) + suffix); err != nil && !errors.Is(err, os.ErrNotExist) {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}
