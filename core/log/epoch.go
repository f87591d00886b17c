package log

import (
	"fmt"
	"path/filepath"
	"strconv"
)

// epochFileName is the per-partition leader epoch checkpoint.
const epochFileName = "leader-epoch-checkpoint"

// EpochEntry says: from StartOffset on, batches were written by the leader
// of Epoch.
type EpochEntry struct {
	Epoch       int32
	StartOffset int64
}

// epochCache is the leader-epoch → start-offset history of a log (KIP-101),
// persisted in leader-epoch-checkpoint whenever it changes (rarely: once per
// leader change). It is guarded by the owning Log's lock.
type epochCache struct {
	fs      FS
	path    string
	entries []EpochEntry // epochs and start offsets strictly increasing
}

func openEpochCache(fs FS, dir string) (*epochCache, error) {
	c := &epochCache{fs: fs, path: filepath.Join(dir, epochFileName)}
	rows, err := readCheckpoint(fs, c.path, 2)
	if err != nil {
		// A corrupt epoch file costs only precision in truncation decisions,
		// which then fall back to the high watermark; start empty.
		return c, nil
	}
	for _, r := range rows {
		e, err1 := strconv.ParseInt(r[0], 10, 32)
		o, err2 := strconv.ParseInt(r[1], 10, 64)
		if err1 != nil || err2 != nil {
			return c, nil
		}
		c.entries = append(c.entries, EpochEntry{Epoch: int32(e), StartOffset: o})
	}
	// Keep only a strictly increasing prefix.
	for i := 1; i < len(c.entries); i++ {
		if c.entries[i].Epoch <= c.entries[i-1].Epoch || c.entries[i].StartOffset < c.entries[i-1].StartOffset {
			c.entries = c.entries[:i]
			break
		}
	}
	return c, nil
}

func (c *epochCache) persist() error {
	rows := make([][]string, len(c.entries))
	for i, e := range c.entries {
		rows[i] = []string{strconv.Itoa(int(e.Epoch)), strconv.FormatInt(e.StartOffset, 10)}
	}
	return writeCheckpoint(c.fs, c.path, rows)
}

// latest returns the newest entry, or ok=false.
func (c *epochCache) latest() (EpochEntry, bool) {
	if len(c.entries) == 0 {
		return EpochEntry{}, false
	}
	return c.entries[len(c.entries)-1], true
}

// assign records that epoch starts at offset, if epoch is newer than the
// latest one. Batches without an epoch (-1) change nothing.
func (c *epochCache) assign(epoch int32, offset int64) error {
	if epoch < 0 {
		return nil
	}
	if l, ok := c.latest(); ok && epoch <= l.Epoch {
		return nil
	}
	c.entries = append(c.entries, EpochEntry{Epoch: epoch, StartOffset: offset})
	return c.persist()
}

// truncateFromEnd drops entries starting at or after offset (the log was
// truncated to end there).
func (c *epochCache) truncateFromEnd(offset int64) error {
	n := len(c.entries)
	for n > 0 && c.entries[n-1].StartOffset >= offset {
		n--
	}
	if n == len(c.entries) {
		return nil
	}
	c.entries = c.entries[:n]
	return c.persist()
}

// truncateFromStart forgets history below offset (the log start moved): the
// last entry starting below it is kept, moved up to offset.
func (c *epochCache) truncateFromStart(offset int64) error {
	i := 0
	for i < len(c.entries) && c.entries[i].StartOffset < offset {
		i++
	}
	if i == 0 {
		return nil
	}
	keep := c.entries[i-1]
	if i == 1 && keep.StartOffset == offset {
		return nil
	}
	keep.StartOffset = offset
	if i < len(c.entries) && c.entries[i].StartOffset == offset {
		c.entries = c.entries[i:]
	} else {
		c.entries = append([]EpochEntry{keep}, c.entries[i:]...)
	}
	return c.persist()
}

func (c *epochCache) clear() error {
	c.entries = nil
	return c.persist()
}

// endOffsetFor answers OffsetForLeaderEpoch: the largest epoch <= requested
// and the offset where the epoch after it starts (or logEnd for the latest
// epoch). (-1, -1) when the epoch is unknown: older than every entry with no
// later entry, or no entries at all.
func (c *epochCache) endOffsetFor(requested int32, logEnd int64) (int32, int64) {
	if requested < 0 || len(c.entries) == 0 {
		return -1, -1
	}
	last := c.entries[len(c.entries)-1]
	if requested == last.Epoch {
		return requested, logEnd
	}
	if requested > last.Epoch {
		return -1, -1 // as Kafka: no epoch after it to end it
	}
	// First entry with a larger epoch.
	i := 0
	for i < len(c.entries) && c.entries[i].Epoch <= requested {
		i++
	}
	if i == 0 {
		return requested, c.entries[0].StartOffset
	}
	return c.entries[i-1].Epoch, c.entries[i].StartOffset
}

// EndOffsetForEpoch returns the largest leader epoch <= epoch that this log
// holds and the offset at which it ended (the start of the next epoch, or
// the log end offset for the latest) — the answer to OffsetForLeaderEpoch
// (KIP-101, KIP-279). (-1, -1) means the log knows no such epoch.
func (l *Log) EndOffsetForEpoch(epoch int32) (int32, int64) {
	l.mu.RLock()
	defer l.mu.RUnlock()
	return l.mu.epochs.endOffsetFor(epoch, l.logEndOffsetLocked())
}

// LatestEpoch returns the newest leader epoch in the log, or -1.
func (l *Log) LatestEpoch() int32 {
	l.mu.RLock()
	defer l.mu.RUnlock()
	if e, ok := l.mu.epochs.latest(); ok {
		return e.Epoch
	}
	return -1
}

// EpochEntries returns a copy of the leader epoch history, oldest first.
func (l *Log) EpochEntries() []EpochEntry {
	l.mu.RLock()
	defer l.mu.RUnlock()
	return append([]EpochEntry(nil), l.mu.epochs.entries...)
}

func (e EpochEntry) String() string { return fmt.Sprintf("%d@%d", e.Epoch, e.StartOffset) }
