package log

import (
	"math/rand/v2"
	"os"
	"path/filepath"
	"testing"

	"github.com/weirmq/weir/core/record"
)

// batchLoc is where a batch sits on disk.
type batchLoc struct {
	file string // segment .log path
	pos  int64
	h    record.Header
}

// buildCrashLog writes batches of varied sizes over several segments,
// closes the log cleanly and returns where every batch is.
func buildCrashLog(t testing.TB, dir string, cfg Config, n int) []batchLoc {
	t.Helper()
	l := openTestLog(t, dir, cfg, newManualClock(), Options{})
	for i := 0; i < n; i++ {
		b := makeBatch(t, batchSpec{records: 1 + i%4, valueSize: 20 + (i*37)%90, ts: int64(1000 + i)})
		if _, err := l.AppendAsLeader(b, int32(i/7)); err != nil {
			t.Fatal(err)
		}
	}
	var locs []batchLoc
	l.mu.RLock()
	for _, s := range l.mu.segments {
		var buf [record.HeaderSize]byte
		for pos := int64(0); pos < s.size; {
			h, err := s.readHeaderAt(pos, &buf)
			if err != nil {
				t.Fatal(err)
			}
			locs = append(locs, batchLoc{file: s.log.Name(), pos: pos, h: h})
			pos += int64(h.Size())
		}
	}
	l.mu.RUnlock()
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	return locs
}

func crashConfig() Config {
	cfg := testConfig()
	cfg.SegmentBytes = 1200
	cfg.IndexIntervalBytes = 150
	return cfg
}

// checkRecovered asserts the log ends at wantEnd, every batch before it is
// readable and whole, and every offset is found through the index.
func checkRecovered(t *testing.T, l *Log, locs []batchLoc, wantEnd int64) {
	t.Helper()
	if leo := l.LogEndOffset(); leo != wantEnd {
		t.Fatalf("log end offset %d, want %d", leo, wantEnd)
	}
	hs := readAll(t, l, 0)
	i := 0
	for _, loc := range locs {
		if loc.h.BaseOffset >= wantEnd {
			break
		}
		if i >= len(hs) || hs[i].BaseOffset != loc.h.BaseOffset || hs[i].CRC != loc.h.CRC {
			t.Fatalf("batch %d (offset %d) missing or changed after recovery", i, loc.h.BaseOffset)
		}
		i++
	}
	if i != len(hs) {
		t.Fatalf("read %d batches, want %d", len(hs), i)
	}
	checkEveryOffset(t, l)
}

// TestRecoveryTruncatesATornTailAtEveryByte cuts the last batch at every
// byte, as a crash mid-write leaves it, and reopens without a clean
// shutdown: the log must end at the last whole batch, with everything
// before it intact and indexed.
func TestRecoveryTruncatesATornTailAtEveryByte(t *testing.T) {
	cfg := crashConfig()
	src := t.TempDir()
	locs := buildCrashLog(t, src, cfg, 25) // the last batch is 1 record, ~90 bytes
	last := locs[len(locs)-1]
	for cut := last.pos; cut < last.pos+int64(last.h.Size()); cut++ {
		// With no recovery point every segment is re-read; with one, only
		// the active segment. Both at a few cuts, the first at every cut.
		rps := []int64{0}
		if cut%16 == 0 {
			rps = append(rps, last.h.BaseOffset)
		}
		for _, rp := range rps {
			dir := filepath.Join(t.TempDir(), "p-0")
			copyDir(t, src, dir)
			name := filepath.Join(dir, filepath.Base(last.file))
			if err := os.Truncate(name, cut); err != nil {
				t.Fatal(err)
			}
			l := openTestLog(t, dir, cfg, newManualClock(), Options{RecoveryPoint: rp})
			checkRecovered(t, l, locs, last.h.BaseOffset)
			if fileSize(t, name) != last.pos {
				t.Fatalf("cut %d: .log is %d bytes, want %d", cut, fileSize(t, name), last.pos)
			}
			// The log takes appends again where it ends.
			if info, err := l.AppendAsLeader(makeBatch(t, batchSpec{records: 1, valueSize: 3}), 9); err != nil || info.FirstOffset != last.h.BaseOffset {
				t.Fatalf("append after recovery: %+v %v", info, err)
			}
			if err := l.Close(); err != nil {
				t.Fatal(err)
			}
		}
	}
}

// TestRecoveryStopsAtFlippedBits flips random bits inside batches and
// reopens without a clean shutdown: the log is truncated at the corrupted
// batch, later segments are dropped, and everything earlier is intact.
//
// The flips avoid the base offset (bytes 0-7) and partition leader epoch
// (12-15): Kafka's CRC does not cover them, so the format cannot detect
// every change there (see TestRecoveryDropsBatchesWhoseOffsetsGoBack).
func TestRecoveryStopsAtFlippedBits(t *testing.T) {
	cfg := crashConfig()
	src := t.TempDir()
	locs := buildCrashLog(t, src, cfg, 40)
	rng := rand.New(rand.NewPCG(1, 2))
	for trial := 0; trial < 60; trial++ {
		victim := locs[rng.IntN(len(locs))]
		var at int64
		for {
			at = rng.Int64N(int64(victim.h.Size()))
			if !(at < 8 || (at >= 12 && at < 16)) {
				break
			}
		}
		dir := filepath.Join(t.TempDir(), "p-0")
		copyDir(t, src, dir)
		name := filepath.Join(dir, filepath.Base(victim.file))
		data, err := os.ReadFile(name)
		if err != nil {
			t.Fatal(err)
		}
		data[victim.pos+at] ^= 1 << rng.IntN(8)
		if err := os.WriteFile(name, data, 0o644); err != nil {
			t.Fatal(err)
		}
		l := openTestLog(t, dir, cfg, newManualClock(), Options{})
		checkRecovered(t, l, locs, victim.h.BaseOffset)
		l.Close()
	}
}

func TestRecoveryDropsBatchesWhoseOffsetsGoBack(t *testing.T) {
	cfg := crashConfig()
	src := t.TempDir()
	locs := buildCrashLog(t, src, cfg, 20)
	victim := locs[5]
	data, err := os.ReadFile(victim.file)
	if err != nil {
		t.Fatal(err)
	}
	record.SetBaseOffset(data[victim.pos:], locs[3].h.BaseOffset)
	if err := os.WriteFile(victim.file, data, 0o644); err != nil {
		t.Fatal(err)
	}
	l := openTestLog(t, src, cfg, newManualClock(), Options{})
	defer l.Close()
	checkRecovered(t, l, locs, victim.h.BaseOffset)
}

// TestCorruptIndexIsRebuilt garbles every index of a cleanly closed log:
// start-up rebuilds them and lookups are right for every offset.
func TestCorruptIndexIsRebuilt(t *testing.T) {
	cfg := crashConfig()
	dir := t.TempDir()
	locs := buildCrashLog(t, dir, cfg, 40)
	rng := rand.New(rand.NewPCG(3, 4))
	for _, suffix := range []string{".index", ".timeindex"} {
		for _, name := range segmentFiles(t, dir, suffix) {
			junk := make([]byte, 64)
			for i := range junk {
				junk[i] = byte(rng.Uint32())
			}
			if err := os.WriteFile(filepath.Join(dir, name), junk, 0o644); err != nil {
				t.Fatal(err)
			}
		}
	}
	l := openTestLog(t, dir, cfg, newManualClock(), Options{CleanShutdown: true})
	defer l.Close()
	checkRecovered(t, l, locs, locs[len(locs)-1].h.NextOffset())
	checkTimestampLookups(t, l, locs, 1000, 1020, 1037)
}

// TestMissingIndexesAreRebuilt deletes the indexes outright.
func TestMissingIndexesAreRebuilt(t *testing.T) {
	cfg := crashConfig()
	dir := t.TempDir()
	locs := buildCrashLog(t, dir, cfg, 30)
	for _, suffix := range []string{".index", ".timeindex"} {
		for _, name := range segmentFiles(t, dir, suffix) {
			os.Remove(filepath.Join(dir, name))
		}
	}
	l := openTestLog(t, dir, cfg, newManualClock(), Options{CleanShutdown: true})
	defer l.Close()
	checkRecovered(t, l, locs, locs[len(locs)-1].h.NextOffset())
}

// TestOverlappingSegmentIsDropped puts a segment whose base offset is below
// its predecessor's end into the directory: start-up drops it and goes on.
func TestOverlappingSegmentIsDropped(t *testing.T) {
	cfg := crashConfig()
	dir := t.TempDir()
	locs := buildCrashLog(t, dir, cfg, 30)
	logs := segmentFiles(t, dir, ".log")
	// Copy the first segment to a name inside the second one's range.
	second, _ := parseBase(logs[1], logSuffix)
	data, _ := os.ReadFile(filepath.Join(dir, logs[0]))
	bogus := segmentName(dir, second+1, logSuffix)
	if err := os.WriteFile(bogus, data, 0o644); err != nil {
		t.Fatal(err)
	}
	l := openTestLog(t, dir, cfg, newManualClock(), Options{})
	defer l.Close()
	// Everything from the overlapping segment on is gone; the log ends
	// where the second segment ends.
	var end int64
	for _, loc := range locs {
		if filepath.Base(loc.file) == logs[1] {
			end = loc.h.NextOffset()
		}
	}
	checkRecovered(t, l, locs, end)
	if _, err := os.Stat(bogus); !os.IsNotExist(err) {
		t.Fatalf("overlapping segment still on disk: %v", err)
	}
}

// checkTimestampLookups asserts OffsetForTimestamp finds the first record
// at or after each ts. Record timestamps in a crash log run BaseTimestamp,
// +1, +2... within each batch.
func checkTimestampLookups(t *testing.T, l *Log, locs []batchLoc, tss ...int64) {
	t.Helper()
	for _, ts := range tss {
		var want int64 = -1
		for _, loc := range locs {
			if loc.h.MaxTimestamp >= ts {
				want = loc.h.BaseOffset + max(ts-loc.h.BaseTimestamp, 0)
				break
			}
		}
		if off, _, ok, err := l.OffsetForTimestamp(ts); err != nil || !ok || off != want {
			t.Fatalf("OffsetForTimestamp(%d) = %d %v %v, want %d", ts, off, ok, err, want)
		}
	}
}
