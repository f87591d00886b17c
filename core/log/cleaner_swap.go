package log

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"time"

	"github.com/weirmq/weir/core/record"
)

// The swap of a cleaning pass's output for the segments it replaces is
// crash-safe: a restart finds either the old segment set or the new one,
// never a mix, never neither.
//
//  1. The pass writes its segments as <base>.{log,index,timeindex}.cleaned
//     and fsyncs them.
//  2. It renames them to .swap.
//  3. Under the log's lock it writes the swap manifest (cleaner-swap: the
//     old and the new base offsets) by tmp file, fsync and rename, and
//     fsyncs the directory. This is the commit point.
//  4. It renames the old segments' files to .deleted (they stay open for
//     readers for file.delete.delay.ms, as retention's do).
//  5. It renames the .swap files to their live names.
//  6. It removes the manifest and fsyncs the directory.
//
// Open (recoverSwap) finishes a committed swap: with a manifest present it
// deletes the old segments' live files that are still there and renames
// the remaining .swap files; the new segments are then re-read in full.
// Without one, .cleaned and .swap files are the output of a pass that did
// not commit, and are deleted with the other leftovers; the old segments
// were never touched.

// swapManifestFile names the swap manifest in a partition directory.
const swapManifestFile = "cleaner-swap"

// renameSegmentFiles renames the three files of the segment at base from
// suffix from to suffix to ("" for the live names). Missing files are
// skipped.
func renameSegmentFiles(fs FS, dir string, base int64, from, to string) error {
	for _, sfx := range []string{indexSuffix, timeIndexSuffix, logSuffix} {
		name := segmentName(dir, base, sfx)
		if err := fs.Rename(name+from, name+to); err != nil && !errors.Is(err, os.ErrNotExist) {
			return err
		}
	}
	return nil
}

// install swaps the pass's cleaned segments in for the segments they
// replace, if the log still has those segments as planned.
func (p *cleanPass) install() error {
	l := p.l
	if err := p.checkCancel(); err != nil {
		return err
	}
	for _, s := range p.outs {
		if err := renameSegmentFiles(l.fs, l.dir, s.base, cleanedSuffix, swapSuffix); err != nil {
			return err
		}
		s.suffix = swapSuffix
	}
	l.flushMu.Lock()
	defer l.flushMu.Unlock()
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.mu.closed {
		return ErrClosed
	}
	if l.mu.failed != nil {
		return l.mu.failed
	}
	if l.mu.truncations != p.plan.truncations {
		return fmt.Errorf("%w: the log was truncated", errCleanAborted)
	}
	old := p.plan.segs[:p.mapEnd]
	i := l.segmentIndex(old[0].s)
	if i < 0 || i+len(old) >= len(l.mu.segments) {
		return fmt.Errorf("%w: its segments were deleted", errCleanAborted)
	}
	for k, sv := range old {
		if l.mu.segments[i+k] != sv.s {
			return fmt.Errorf("%w: its segments were deleted", errCleanAborted)
		}
	}

	// Commit.
	rows := make([][]string, 0, len(old)+len(p.outs))
	for _, sv := range old {
		rows = append(rows, []string{"old", strconv.FormatInt(sv.s.base, 10)})
	}
	for _, s := range p.outs {
		rows = append(rows, []string{"new", strconv.FormatInt(s.base, 10)})
	}
	manifest := filepath.Join(l.dir, swapManifestFile)
	if err := writeCheckpoint(l.fs, manifest, rows); err != nil {
		if rerr := l.fs.Remove(manifest); rerr != nil && !errors.Is(rerr, os.ErrNotExist) {
			// Whether the swap committed is unknown until the next Open.
			return l.fail(fmt.Errorf("%w: writing the cleaner's swap manifest: %w; removing it: %w", ErrLogFailed, err, rerr))
		}
		return err
	}
	p.committed = true
	segs := make([]*segment, 0, len(l.mu.segments)-len(old)+len(p.outs))
	segs = append(segs, l.mu.segments[:i]...)
	segs = append(segs, p.outs...)
	segs = append(segs, l.mu.segments[i+len(old):]...)
	l.mu.segments = segs
	for _, s := range p.outs {
		s.suffix = ""
	}
	now := l.clock.Now()
	at := now.Add(time.Duration(l.mu.cfg.FileDeleteDelayMs) * time.Millisecond)
	var err error
	for _, sv := range old {
		l.mu.deleting = append(l.mu.deleting, pendingDelete{seg: sv.s, at: at})
		if err == nil {
			err = sv.s.renameAll(deletedSuffix)
		}
	}
	for _, s := range p.outs {
		if err == nil {
			err = renameSegmentFiles(l.fs, l.dir, s.base, swapSuffix, "")
		}
	}
	if err == nil {
		if err = l.fs.Remove(manifest); err == nil {
			err = l.fs.SyncDir(l.dir)
		}
	}
	if err != nil {
		// The new segments are the log now; the names on disk are put
		// right by the next Open, and nothing may change them before.
		return l.fail(fmt.Errorf("%w: finishing the cleaner's swap: %w", ErrLogFailed, err))
	}
	c := &l.mu.cleaner
	c.firstDirty = max(c.firstDirty, p.endOffset)
	c.nextHorizonMs = p.nextHorizon
	c.lastCleanMs = now.UnixMilli()
	c.retryAtMs = 0
	c.last = p.res
	return nil
}

// recoverSwap finishes a swap that committed before the last stop (see
// above) and returns the base offsets of the segments it installed, which
// Open re-reads in full. Without a manifest it does nothing.
func (l *Log) recoverSwap() (map[int64]bool, error) {
	manifest := filepath.Join(l.dir, swapManifestFile)
	entries, err := l.fs.ReadDir(l.dir)
	if err != nil {
		return nil, err
	}
	names := make(map[string]bool, len(entries))
	for _, e := range entries {
		names[e.Name()] = true
	}
	if !names[swapManifestFile] {
		return nil, nil
	}
	rows, err := readCheckpoint(l.fs, manifest, 2)
	var oldBases, newBases []int64
	for _, r := range rows {
		b, perr := strconv.ParseInt(r[1], 10, 64)
		switch {
		case perr != nil || b < 0:
			err = errors.Join(err, fmt.Errorf("bad base offset %q", r[1]))
		case r[0] == "old":
			oldBases = append(oldBases, b)
		case r[0] == "new":
			newBases = append(newBases, b)
		default:
			err = errors.Join(err, fmt.Errorf("bad entry kind %q", r[0]))
		}
	}
	if err == nil && len(newBases) == 0 {
		err = errors.New("no new segments")
	}
	if err != nil {
		l.logger.Error("the cleaner's swap manifest is unreadable; finishing the swap by offset ranges", "err", err)
		return l.recoverSwapByOffsets(names)
	}
	isNew := make(map[int64]bool, len(newBases))
	anySwap := false
	for _, b := range newBases {
		isNew[b] = true
		anySwap = anySwap || names[filepath.Base(segmentName(l.dir, b, logSuffix))+swapSuffix]
	}
	if !anySwap {
		// No new segment is waiting: either every one went live already
		// (the stop came after the last rename) or the manifest outlived
		// a swap that never completed. Either way the live files are the
		// log; deleting the old ones here could lose them.
		if err := l.fs.Remove(manifest); err != nil && !errors.Is(err, os.ErrNotExist) {
			return nil, err
		}
		if err := l.fs.SyncDir(l.dir); err != nil {
			return nil, err
		}
		l.logger.Warn("removed a log cleaner swap manifest with no segment left to install")
		return isNew, nil // re-scanned at open, whichever they are
	}
	for _, b := range oldBases {
		for _, sfx := range []string{logSuffix, indexSuffix, timeIndexSuffix} {
			live := filepath.Base(segmentName(l.dir, b, sfx))
			// A live file at an old base is old unless the new segment
			// at that base already took its name.
			if names[live] && (!isNew[b] || names[live+swapSuffix]) {
				if err := l.fs.Remove(filepath.Join(l.dir, live)); err != nil && !errors.Is(err, os.ErrNotExist) {
					return nil, err
				}
			}
		}
	}
	for _, b := range newBases {
		if err := renameSegmentFiles(l.fs, l.dir, b, swapSuffix, ""); err != nil {
			return nil, err
		}
	}
	if err := l.fs.SyncDir(l.dir); err != nil {
		return nil, err
	}
	if err := l.fs.Remove(manifest); err != nil {
		return nil, err
	}
	if err := l.fs.SyncDir(l.dir); err != nil {
		return nil, err
	}
	l.logger.Warn("finished a log cleaner swap interrupted by the last stop", "old_segments", len(oldBases), "new_segments", len(newBases))
	return isNew, nil
}

// recoverSwapByOffsets finishes a committed swap whose manifest cannot be
// read, as Kafka does: each .swap segment replaces the live segments whose
// base offsets fall inside its offset range.
func (l *Log) recoverSwapByOffsets(names map[string]bool) (map[int64]bool, error) {
	installed := map[int64]bool{}
	var lives []int64
	for name := range names {
		if b, ok := parseBase(name, logSuffix); ok {
			lives = append(lives, b)
		}
	}
	for name := range names {
		if b, ok := parseBase(name, logSuffix+swapSuffix); ok {
			next, err := l.swapEndOffset(b)
			if err != nil {
				return nil, err
			}
			for _, lb := range lives {
				if lb >= b && lb < next {
					if err := (&segment{fs: l.fs, dir: l.dir, base: lb}).removeFiles(""); err != nil {
						return nil, err
					}
				}
			}
		}
	}
	for name := range names {
		for _, sfx := range []string{logSuffix, indexSuffix, timeIndexSuffix} {
			if b, ok := parseBase(name, sfx+swapSuffix); ok {
				if err := l.fs.Rename(filepath.Join(l.dir, name), segmentName(l.dir, b, sfx)); err != nil {
					return nil, err
				}
				installed[b] = true
			}
		}
	}
	if err := l.fs.SyncDir(l.dir); err != nil {
		return nil, err
	}
	if err := l.fs.Remove(filepath.Join(l.dir, swapManifestFile)); err != nil {
		return nil, err
	}
	return installed, l.fs.SyncDir(l.dir)
}

// swapEndOffset walks the batch headers of a .log.swap file and returns the
// offset after its last whole batch.
func (l *Log) swapEndOffset(base int64) (int64, error) {
	f, err := l.fs.OpenFile(segmentName(l.dir, base, logSuffix)+swapSuffix, os.O_RDONLY, 0)
	if err != nil {
		return 0, err
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return 0, err
	}
	s := &segment{log: f, base: base}
	next := base + 1
	var buf [record.HeaderSize]byte
	for pos := int64(0); pos < st.Size(); {
		h, err := s.readHeaderAt(pos, &buf)
		if err != nil || pos+int64(h.Size()) > st.Size() {
			break
		}
		next = h.NextOffset()
		pos += int64(h.Size())
	}
	return next, nil
}
