package log

import (
	"errors"
	"fmt"
	"time"
)

// This file holds the operations that change the log other than appends:
// retention, record deletion, truncation, flushing and closing.

// EnforceRetention deletes segments wholly below the log start offset and,
// when cleanup.policy includes delete, whole segments that retention.ms or
// retention.bytes no longer keep; the log start offset advances to the
// first remaining segment. Time retention looks at a segment's largest
// timestamp (a segment the cleaner emptied has none, and goes with the
// next segment that has records); when it would delete every segment the
// active one is rolled
// first, so the log keeps an empty active segment at its end offset. It
// returns how many segments it deleted.
func (l *Log) EnforceRetention() (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if err := l.checkWritable(); err != nil {
		return 0, err
	}
	cfg := l.mu.cfg
	now := l.clock.Now()
	nowMs := now.UnixMilli()

	n := 0 // segments[:n] go
	segs := l.mu.segments
	// Below the log start offset (DeleteRecords moved it).
	for n < len(segs)-1 && segs[n+1].base <= l.mu.logStartOffset {
		n++
	}
	if cfg.CleanupDelete && cfg.RetentionMs >= 0 {
		for n < len(segs) {
			// Segments the cleaner emptied have no timestamp: they go with
			// the next segment that holds records, if it goes.
			j := n
			for j < len(segs)-1 && segs[j].empty() {
				j++
			}
			s := segs[j]
			// A corrupt time index must not get data deleted early.
			maxTS, _ := s.checkedMaxTimestamp()
			if s.empty() || maxTS < 0 || nowMs-maxTS <= cfg.RetentionMs {
				break
			}
			n = j + 1
		}
	}
	if cfg.CleanupDelete && cfg.RetentionBytes >= 0 {
		var total int64
		for _, s := range segs[n:] {
			total += s.size
		}
		for n < len(segs)-1 && total-segs[n].size >= cfg.RetentionBytes && total > cfg.RetentionBytes {
			total -= segs[n].size
			n++
		}
	}
	if n == 0 {
		return 0, nil
	}
	if n == len(segs) {
		if err := l.rollLocked(l.logEndOffsetLocked()); err != nil {
			return 0, l.fail(err)
		}
	}
	return n, l.deleteOldestLocked(n, now)
}

// deleteOldestLocked removes the n oldest segments and advances the log
// start offset past them.
func (l *Log) deleteOldestLocked(n int, now time.Time) error {
	gone := l.mu.segments[:n]
	l.mu.segments = append([]*segment(nil), l.mu.segments[n:]...)
	l.mu.logStartOffset = max(l.mu.logStartOffset, l.mu.segments[0].base)
	if err := l.mu.epochs.truncateFromStart(l.mu.logStartOffset); err != nil {
		return l.fail(fmt.Errorf("%w: %v", ErrLogFailed, err))
	}
	return l.scheduleDelete(gone, now)
}

// scheduleDelete renames segments to .deleted and closes and removes them
// after file.delete.delay.ms, so readers holding their files finish first.
// A crash in between leaves .deleted files that Open removes.
func (l *Log) scheduleDelete(segs []*segment, now time.Time) error {
	var errs []error
	at := now.Add(time.Duration(l.mu.cfg.FileDeleteDelayMs) * time.Millisecond)
	for _, s := range segs {
		l.logger.Info("deleting segment", "segment", s.base, "log_start_offset", l.mu.logStartOffset)
		if err := s.renameAll(deletedSuffix); err != nil {
			errs = append(errs, err)
		}
		l.mu.deleting = append(l.mu.deleting, pendingDelete{seg: s, at: at})
	}
	l.reapLocked(now)
	return errors.Join(errs...)
}

// ReapDeleted closes and removes deleted segments whose delay has passed.
// The files are closed and removed outside the log's lock, so appends do
// not wait for the file system.
func (l *Log) ReapDeleted() {
	l.mu.Lock()
	due := l.takeDueLocked(l.clock.Now())
	l.mu.Unlock()
	l.removeDeleted(due)
}

func (l *Log) reapLocked(now time.Time) { l.removeDeleted(l.takeDueLocked(now)) }

// takeDueLocked removes from the deleting list the segments whose delay
// has passed, and returns them.
func (l *Log) takeDueLocked(now time.Time) []*segment {
	var due []*segment
	keep := l.mu.deleting[:0]
	for _, d := range l.mu.deleting {
		if now.Before(d.at) {
			keep = append(keep, d)
			continue
		}
		due = append(due, d.seg)
	}
	clear(l.mu.deleting[len(keep):])
	l.mu.deleting = keep
	return due
}

func (l *Log) removeDeleted(segs []*segment) {
	for _, s := range segs {
		if err := errors.Join(s.close(), s.removeFiles(deletedSuffix)); err != nil {
			l.logger.Warn("removing deleted segment", "segment", s.base, "err", err)
		}
	}
}

// DeleteRecordsBefore makes offset the new log start offset (Kafka's
// DeleteRecords) and deletes the segments wholly below it. It never moves
// the log start offset backwards; an offset above the log end offset is
// ErrOffsetOutOfRange. It returns the new log start offset.
func (l *Log) DeleteRecordsBefore(offset int64) (int64, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if err := l.checkWritable(); err != nil {
		return 0, err
	}
	leo := l.logEndOffsetLocked()
	if offset > leo || offset < 0 {
		return l.mu.logStartOffset, fmt.Errorf("%w: delete before %d, log end %d", ErrOffsetOutOfRange, offset, leo)
	}
	if offset <= l.mu.logStartOffset {
		return l.mu.logStartOffset, nil
	}
	l.mu.logStartOffset = offset
	segs := l.mu.segments
	n := 0
	for n < len(segs)-1 && segs[n+1].base <= offset {
		n++
	}
	if n == 0 {
		return offset, l.mu.epochs.truncateFromStart(offset)
	}
	return offset, l.deleteOldestLocked(n, l.clock.Now())
}

// TruncateTo removes every batch holding an offset >= offset, so the log end
// offset becomes offset (or the start of the batch holding it, if offset is
// inside a batch). A follower does this before fetching from a new leader.
// Truncating at or above the log end offset does nothing; truncating below
// the log start offset empties the log and restarts it at offset.
func (l *Log) TruncateTo(offset int64) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if err := l.checkWritable(); err != nil {
		return err
	}
	if offset >= l.logEndOffsetLocked() {
		return nil
	}
	if offset < l.mu.logStartOffset {
		return l.truncateFullyLocked(offset)
	}
	segs := l.mu.segments
	i := l.segmentFor(offset)
	if segs[i].base >= offset && i > 0 {
		// offset is a segment boundary: the previous segment becomes active.
		i--
	}
	gone := append([]*segment(nil), segs[i+1:]...)
	keep := segs[:i+1]
	s := keep[i]
	if err := s.truncateTo(offset); err != nil {
		return l.fail(fmt.Errorf("%w: truncating segment %d: %v", ErrLogFailed, s.base, err))
	}
	if !s.index.writable {
		if err := s.makeWritable(l.mu.cfg.SegmentIndexBytes); err != nil {
			return l.fail(fmt.Errorf("%w: reopening segment %d: %v", ErrLogFailed, s.base, err))
		}
	}
	l.mu.segments = keep
	l.mu.truncations++
	l.mu.cleaner.truncated(l.logEndOffsetLocked())
	l.mu.recoveryPoint = min(l.mu.recoveryPoint, l.logEndOffsetLocked())
	if err := l.mu.epochs.truncateFromEnd(l.logEndOffsetLocked()); err != nil {
		return l.fail(fmt.Errorf("%w: %v", ErrLogFailed, err))
	}
	l.logger.Info("truncated log", "offset", offset, "log_end_offset", l.logEndOffsetLocked())
	return l.scheduleDelete(gone, l.clock.Now())
}

// TruncateFullyAndStartAt deletes every segment and restarts the log empty
// at offset, which becomes both the log start and log end offset. A follower
// whose log ends below the leader's log start offset does this.
func (l *Log) TruncateFullyAndStartAt(offset int64) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if err := l.checkWritable(); err != nil {
		return err
	}
	return l.truncateFullyLocked(offset)
}

func (l *Log) truncateFullyLocked(offset int64) error {
	// The old segments are renamed away before the new one is created: one
	// of them may have the same base offset.
	if err := l.scheduleDelete(l.mu.segments, l.clock.Now()); err != nil {
		return l.fail(fmt.Errorf("%w: %v", ErrLogFailed, err))
	}
	s, err := createSegment(l.fs, l.dir, offset, l.mu.cfg.SegmentIndexBytes, l.nowMs())
	if err != nil {
		return l.fail(fmt.Errorf("%w: %v", ErrLogFailed, err))
	}
	l.mu.segments = []*segment{s}
	l.mu.logStartOffset = offset
	l.mu.recoveryPoint = offset
	l.mu.truncations++
	l.mu.cleaner.truncated(offset)
	l.mu.cleaner.firstDirty = offset
	if err := l.mu.epochs.clear(); err != nil {
		return l.fail(fmt.Errorf("%w: %v", ErrLogFailed, err))
	}
	return nil
}

// Flush fsyncs every segment written since the last flush and moves the
// recovery point to the log end offset it saw. Appends continue while it
// syncs.
func (l *Log) Flush() error {
	l.flushMu.Lock()
	defer l.flushMu.Unlock()
	l.mu.Lock()
	if err := l.checkWritable(); err != nil {
		l.mu.Unlock()
		return err
	}
	leo := l.logEndOffsetLocked()
	segs := append([]*segment(nil), l.mu.segments[l.segmentFor(l.mu.recoveryPoint):]...)
	l.mu.unflushed = 0
	l.mu.lastFlush = l.clock.Now()
	l.mu.Unlock()

	for _, s := range segs {
		if err := s.sync(); err != nil {
			return err
		}
	}
	if err := l.fs.SyncDir(l.dir); err != nil {
		return err
	}
	l.mu.Lock()
	l.mu.recoveryPoint = max(l.mu.recoveryPoint, min(leo, l.logEndOffsetLocked()))
	l.mu.Unlock()
	return nil
}

// flushLocked syncs while holding the lock (flush.messages).
func (l *Log) flushLocked() error {
	for _, s := range l.mu.segments[l.segmentFor(l.mu.recoveryPoint):] {
		if err := s.sync(); err != nil {
			return err
		}
	}
	l.mu.unflushed = 0
	l.mu.lastFlush = l.clock.Now()
	l.mu.recoveryPoint = l.logEndOffsetLocked()
	return nil
}

// FlushIfDue flushes when flush.ms has passed since the last flush and
// something is unflushed.
func (l *Log) FlushIfDue() error {
	l.mu.RLock()
	due := l.mu.unflushed > 0 && l.clock.Now().Sub(l.mu.lastFlush) >= time.Duration(l.mu.cfg.FlushMs)*time.Millisecond
	l.mu.RUnlock()
	if !due {
		return nil
	}
	return l.Flush()
}

// Close flushes the log and closes every file, including segments waiting
// for deletion (which are removed). The indexes are trimmed, so a clean
// reopen needs no recovery. A cleaning pass in progress is abandoned (its
// output removed) before the log closes. Close is idempotent.
func (l *Log) Close() error {
	l.closeOnce.Do(func() { close(l.closing) })
	l.cleanMu.Lock()
	defer l.cleanMu.Unlock()
	l.flushMu.Lock()
	defer l.flushMu.Unlock()
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.mu.closed {
		return nil
	}
	var errs []error
	if l.mu.failed == nil {
		errs = append(errs, l.flushLocked())
	}
	for _, s := range l.mu.segments {
		errs = append(errs, s.close())
	}
	l.mu.closed = true
	for i := range l.mu.deleting {
		l.mu.deleting[i].at = time.Time{}
	}
	l.reapLocked(l.clock.Now())
	return errors.Join(errs...)
}

// Delete closes the log and removes its directory.
func (l *Log) Delete() error {
	if err := l.Close(); err != nil {
		l.logger.Warn("closing log before delete", "err", err)
	}
	return removeAll(l.fs, l.dir)
}

func removeAll(fs FS, dir string) error {
	entries, err := fs.ReadDir(dir)
	if err != nil {
		return err
	}
	var errs []error
	for _, e := range entries {
		errs = append(errs, fs.Remove(dir+"/"+e.Name()))
	}
	errs = append(errs, fs.Remove(dir))
	return errors.Join(errs...)
}
