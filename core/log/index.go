package log

import (
	"encoding/binary"
	"fmt"
	"os"

	"golang.org/x/sys/unix"
)

// Index files are arrays of fixed-size big-endian entries, memory-mapped.
// The active segment's indexes are pre-allocated to segment.index.bytes so
// appends never grow the file; when the segment rolls they are trimmed to
// their entries and remapped read-only.
//
//	.index      8 bytes: relative offset uint32, log file position uint32
//	.timeindex 12 bytes: timestamp int64, relative offset uint32
const (
	offsetEntrySize = 8
	timeEntrySize   = 12
)

// mmapFile is a memory-mapped, append-only array of fixed-size entries.
// It is not safe for concurrent mutation; the owning segment serialises
// writers, and readers only look at entries below a count they read under
// the log's lock.
type mmapFile struct {
	f         File
	data      []byte // the mapping; len(data) is the mapped size
	entrySize int
	entries   int
	writable  bool
}

// openMmapFile opens (or creates) an index file. If writable, the file is
// extended to maxBytes (rounded down to whole entries) and mapped read-write;
// otherwise it is mapped read-only at its current size. The entry count is
// the number of whole entries the file held before any extension; callers
// check them (sanity) and may reset the count.
func openMmapFile(fs FS, name string, entrySize int, writable bool, maxBytes int64) (*mmapFile, error) {
	f, err := fs.OpenFile(name, os.O_RDWR|os.O_CREATE, 0o644)
	if err != nil {
		return nil, err
	}
	st, err := f.Stat()
	if err != nil {
		f.Close()
		return nil, err
	}
	size := st.Size()
	m := &mmapFile{f: f, entrySize: entrySize, writable: writable}
	m.entries = int(size / int64(entrySize))
	if writable {
		maxBytes -= maxBytes % int64(entrySize)
		if maxBytes < int64(entrySize) {
			maxBytes = int64(entrySize)
		}
		if size > maxBytes {
			// A file larger than the configured maximum (the config shrank):
			// keep what it holds rather than dropping entries.
			maxBytes = size - size%int64(entrySize)
		}
		if size != maxBytes {
			if err := f.Truncate(maxBytes); err != nil {
				f.Close()
				return nil, err
			}
		}
		size = maxBytes
	}
	if err := m.mapSize(size); err != nil {
		f.Close()
		return nil, err
	}
	return m, nil
}

func (m *mmapFile) mapSize(size int64) error {
	if m.data != nil {
		if err := unix.Munmap(m.data); err != nil {
			return err
		}
		m.data = nil
	}
	size -= size % int64(m.entrySize)
	if size == 0 {
		return nil
	}
	prot := unix.PROT_READ
	if m.writable {
		prot |= unix.PROT_WRITE
	}
	data, err := unix.Mmap(int(m.f.Fd()), 0, int(size), prot, unix.MAP_SHARED)
	if err != nil {
		return fmt.Errorf("mmap %s: %w", m.f.Name(), err)
	}
	m.data = data
	return nil
}

func (m *mmapFile) capacity() int { return len(m.data) / m.entrySize }

func (m *mmapFile) full() bool { return m.entries >= m.capacity() }

func (m *mmapFile) entry(i int) []byte {
	off := i * m.entrySize
	return m.data[off : off+m.entrySize]
}

// trim truncates the file to its entries and remaps it read-only. The index
// of a rolled segment never grows again.
func (m *mmapFile) trim() error {
	m.writable = false
	if err := m.mapSize(0); err != nil {
		return err
	}
	size := int64(m.entries * m.entrySize)
	if err := m.f.Truncate(size); err != nil {
		return err
	}
	return m.mapSize(size)
}

// reopenWritable extends a trimmed file back to maxBytes for appending.
func (m *mmapFile) reopenWritable(maxBytes int64) error {
	maxBytes -= maxBytes % int64(m.entrySize)
	used := int64(m.entries * m.entrySize)
	if maxBytes < used+int64(m.entrySize) {
		maxBytes = used + int64(m.entrySize)
	}
	if err := m.mapSize(0); err != nil {
		return err
	}
	if err := m.f.Truncate(maxBytes); err != nil {
		return err
	}
	m.writable = true
	return m.mapSize(maxBytes)
}

// truncateEntries drops entries at index n and beyond.
func (m *mmapFile) truncateEntries(n int) {
	if n < m.entries {
		if m.writable {
			clear(m.data[n*m.entrySize : m.entries*m.entrySize])
		}
		m.entries = n
	}
}

func (m *mmapFile) sync() error {
	if m.data == nil || !m.writable {
		return nil
	}
	return unix.Msync(m.data, unix.MS_SYNC)
}

// close unmaps and closes. A writable index is trimmed first so a clean
// shutdown leaves files whose size says how many entries they hold.
func (m *mmapFile) close() error {
	var err error
	if m.writable {
		err = m.trim()
	}
	if uerr := m.mapSize(0); err == nil {
		err = uerr
	}
	if cerr := m.f.Close(); err == nil {
		err = cerr
	}
	return err
}

// offsetIndex maps offsets to log file positions.
type offsetIndex struct {
	*mmapFile
	base int64
}

func (x *offsetIndex) at(i int) (offset int64, pos int64) {
	e := x.entry(i)
	return x.base + int64(binary.BigEndian.Uint32(e[0:4])), int64(binary.BigEndian.Uint32(e[4:8]))
}

// append adds an entry; the caller has checked !full() and that offset-base
// fits in a uint32.
func (x *offsetIndex) append(offset, pos int64) {
	e := x.entry(x.entries)
	binary.BigEndian.PutUint32(e[0:4], uint32(offset-x.base))
	binary.BigEndian.PutUint32(e[4:8], uint32(pos))
	x.entries++
}

// lookup returns the largest entry whose offset is <= target, or (base, 0)
// when there is none.
func (x *offsetIndex) lookup(target int64) (offset, pos int64) {
	lo, hi := 0, x.entries // first entry with offset > target
	for lo < hi {
		mid := int(uint(lo+hi) >> 1)
		if o, _ := x.at(mid); o <= target {
			lo = mid + 1
		} else {
			hi = mid
		}
	}
	if lo == 0 {
		return x.base, 0
	}
	return x.at(lo - 1)
}

// floorWithin returns the last entry whose position is <= maxPos and whose
// offset is < maxOffset (both grow along the index), or ok=false.
func (x *offsetIndex) floorWithin(maxPos, maxOffset int64) (offset, pos int64, ok bool) {
	lo, hi := 0, x.entries // first entry outside the bounds
	for lo < hi {
		mid := int(uint(lo+hi) >> 1)
		if o, p := x.at(mid); p <= maxPos && o < maxOffset {
			lo = mid + 1
		} else {
			hi = mid
		}
	}
	if lo == 0 {
		return 0, 0, false
	}
	offset, pos = x.at(lo - 1)
	return offset, pos, true
}

// truncateTo drops entries for offsets >= offset.
func (x *offsetIndex) truncateTo(offset int64) {
	lo, hi := 0, x.entries
	for lo < hi {
		mid := int(uint(lo+hi) >> 1)
		if o, _ := x.at(mid); o < offset {
			lo = mid + 1
		} else {
			hi = mid
		}
	}
	x.truncateEntries(lo)
}

// check verifies that the entries could describe a log of logSize bytes:
// offsets and positions strictly increasing, positions inside the log.
func (x *offsetIndex) check(logSize int64) error {
	prevOff, prevPos := int64(-1), int64(-1)
	for i := 0; i < x.entries; i++ {
		o, p := x.at(i)
		if o <= prevOff || p <= prevPos || p >= logSize {
			return fmt.Errorf("%w: %s entry %d (offset %d, position %d) out of order or past the log (%d bytes)",
				ErrCorruptIndex, x.f.Name(), i, o, p, logSize)
		}
		prevOff, prevPos = o, p
	}
	return nil
}

// timeIndex maps timestamps to offsets: each entry says "up to this offset,
// the largest timestamp seen is this".
type timeIndex struct {
	*mmapFile
	base int64
}

func (x *timeIndex) at(i int) (ts int64, offset int64) {
	e := x.entry(i)
	return int64(binary.BigEndian.Uint64(e[0:8])), x.base + int64(binary.BigEndian.Uint32(e[8:12]))
}

func (x *timeIndex) append(ts, offset int64) {
	e := x.entry(x.entries)
	binary.BigEndian.PutUint64(e[0:8], uint64(ts))
	binary.BigEndian.PutUint32(e[8:12], uint32(offset-x.base))
	x.entries++
}

// last returns the last entry, or ok=false when there is none.
func (x *timeIndex) last() (ts, offset int64, ok bool) {
	if x.entries == 0 {
		return 0, 0, false
	}
	ts, offset = x.at(x.entries - 1)
	return ts, offset, true
}

// lookupBelow returns the offset of the last entry whose timestamp is
// strictly below ts: every record before that offset is older than ts, so a
// search for the first record at or after ts may start there. It returns
// (base, false) when there is no such entry.
func (x *timeIndex) lookupBelow(ts int64) (offset int64, ok bool) {
	lo, hi := 0, x.entries // first entry with timestamp >= ts
	for lo < hi {
		mid := int(uint(lo+hi) >> 1)
		if t, _ := x.at(mid); t < ts {
			lo = mid + 1
		} else {
			hi = mid
		}
	}
	if lo == 0 {
		return x.base, false
	}
	_, offset = x.at(lo - 1)
	return offset, true
}

func (x *timeIndex) truncateTo(offset int64) {
	n := x.entries
	for n > 0 {
		if _, o := x.at(n - 1); o < offset {
			break
		}
		n--
	}
	x.truncateEntries(n)
}

// check verifies timestamps strictly increase and offsets never decrease
// and stay below next (the segment's next offset).
func (x *timeIndex) check(next int64) error {
	prevTS, prevOff := int64(-1<<63), int64(-1)
	for i := 0; i < x.entries; i++ {
		t, o := x.at(i)
		if t <= prevTS || o < prevOff || o >= next {
			return fmt.Errorf("%w: %s entry %d (timestamp %d, offset %d) out of order or past the log end %d",
				ErrCorruptIndex, x.f.Name(), i, t, o, next)
		}
		prevTS, prevOff = t, o
	}
	return nil
}
