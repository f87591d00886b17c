package log

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/weirmq/weir/core/record"
)

func TestAppendAssignsDenseOffsetsAndStampsEpoch(t *testing.T) {
	clock := newManualClock()
	l := openTestLog(t, t.TempDir(), testConfig(), clock, Options{})
	defer l.Close()

	var want int64
	for i := 1; i <= 20; i++ {
		b := makeBatch(t, batchSpec{records: i, valueSize: 10, ts: 1000})
		record.SetBaseOffset(b, 12345) // whatever the client sent is replaced
		info, err := l.AppendAsLeader(b, 7)
		if err != nil {
			t.Fatal(err)
		}
		if info.FirstOffset != want || info.LastOffset != want+int64(i)-1 || info.Records != int64(i) {
			t.Fatalf("batch %d: info %+v, want first offset %d", i, info, want)
		}
		want += int64(i)
	}
	if got := l.LogEndOffset(); got != want {
		t.Fatalf("log end offset %d, want %d", got, want)
	}
	hs := readAll(t, l, 0)
	var next int64
	for _, h := range hs {
		if h.BaseOffset != next || h.PartitionLeaderEpoch != 7 {
			t.Fatalf("batch base %d epoch %d, want base %d epoch 7", h.BaseOffset, h.PartitionLeaderEpoch, next)
		}
		next = h.NextOffset()
	}
	if next != want {
		t.Fatalf("read up to %d, want %d", next, want)
	}
	if e, off := l.EndOffsetForEpoch(7); e != 7 || off != want {
		t.Fatalf("EndOffsetForEpoch(7) = %d, %d", e, off)
	}
}

func TestAppendRejectsInvalidBatchesAndWritesNothing(t *testing.T) {
	cfg := testConfig()
	cfg.MaxMessageBytes = 2000
	l := openTestLog(t, t.TempDir(), cfg, newManualClock(), Options{})
	defer l.Close()
	good := makeBatch(t, batchSpec{records: 2, valueSize: 10})

	badCRC := makeBatch(t, batchSpec{records: 2, valueSize: 10})
	badCRC[len(badCRC)-1] ^= 0xff

	oldMagic := makeBatch(t, batchSpec{records: 1, valueSize: 10})
	oldMagic[16] = 1

	tooBig := makeBatch(t, batchSpec{records: 3, valueSize: 1000})

	for _, tc := range []struct {
		name    string
		records []byte
		want    error
	}{
		{"bad crc after a good batch", append(append([]byte{}, good...), badCRC...), record.ErrCorrupt},
		{"message set v1", oldMagic, record.ErrUnsupportedMagic},
		{"truncated", good[:len(good)-3], record.ErrTruncated},
		{"larger than max.message.bytes", tooBig, ErrRecordTooLarge},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := l.AppendAsLeader(tc.records, 0)
			if !errors.Is(err, tc.want) {
				t.Fatalf("err = %v, want %v", err, tc.want)
			}
			if leo := l.LogEndOffset(); leo != 0 {
				t.Fatalf("log end offset %d after a rejected append", leo)
			}
		})
	}
	if _, err := l.AppendAsLeader(good, 0); err != nil {
		t.Fatal(err)
	}
}

func TestSegmentsRollAtSegmentBytesAndAreNamedByBaseOffset(t *testing.T) {
	cfg := testConfig()
	cfg.SegmentBytes = 1000
	dir := t.TempDir()
	l := openTestLog(t, dir, cfg, newManualClock(), Options{})
	defer l.Close()
	batch := makeBatch(t, batchSpec{records: 5, valueSize: 50}) // ~400 bytes
	for i := 0; i < 10; i++ {
		if _, err := l.AppendAsLeader(batch, 0); err != nil {
			t.Fatal(err)
		}
	}
	logs := segmentFiles(t, dir, ".log")
	if len(logs) != 5 || logs[0] != "00000000000000000000.log" || logs[1] != "00000000000000000010.log" {
		t.Fatalf("segments %v", logs)
	}
	for _, name := range logs {
		if sz := fileSize(t, filepath.Join(dir, name)); sz > cfg.SegmentBytes {
			t.Fatalf("%s is %d bytes, over segment.bytes", name, sz)
		}
	}
	// Rolled segments' indexes are trimmed to their entries; the active
	// one is pre-allocated.
	if sz := fileSize(t, filepath.Join(dir, "00000000000000000000.index")); sz != offsetEntrySize {
		t.Fatalf("rolled index is %d bytes, want one entry", sz)
	}
	if sz := fileSize(t, filepath.Join(dir, "00000000000000000040.index")); sz != cfg.SegmentIndexBytes {
		t.Fatalf("active index is %d bytes, want %d", sz, cfg.SegmentIndexBytes)
	}
	if got := len(readAll(t, l, 0)); got != 10 {
		t.Fatalf("read %d batches, want 10", got)
	}
}

func TestSegmentRollsAtSegmentMs(t *testing.T) {
	cfg := testConfig()
	cfg.SegmentMs = 60_000
	clock := newManualClock()
	l := openTestLog(t, t.TempDir(), cfg, clock, Options{})
	defer l.Close()
	now := clock.Now().UnixMilli()
	app := func() {
		t.Helper()
		if _, err := l.AppendAsLeader(makeBatch(t, batchSpec{records: 1, valueSize: 1, ts: clock.Now().UnixMilli()}), 0); err != nil {
			t.Fatal(err)
		}
	}
	app()
	clock.Advance(59 * time.Second)
	app()
	if n := l.NumSegments(); n != 1 {
		t.Fatalf("%d segments before segment.ms", n)
	}
	clock.Advance(2 * time.Second)
	app()
	if n := l.NumSegments(); n != 2 {
		t.Fatalf("%d segments after segment.ms, want 2", n)
	}
	_ = now
}

func TestSegmentRollsWhenIndexIsFull(t *testing.T) {
	cfg := testConfig()
	cfg.SegmentIndexBytes = 4 * timeEntrySize // 6 offset entries, 4 time entries
	cfg.IndexIntervalBytes = 0                // an entry per batch
	l := openTestLog(t, t.TempDir(), cfg, newManualClock(), Options{})
	defer l.Close()
	for i := 0; i < 12; i++ {
		if _, err := l.AppendAsLeader(makeBatch(t, batchSpec{records: 1, valueSize: 1, ts: int64(i)}), 0); err != nil {
			t.Fatal(err)
		}
	}
	if n := l.NumSegments(); n != 3 {
		t.Fatalf("%d segments, want 3 (4 batches each)", n)
	}
}

func TestReadHonoursMaxBytesMaxOffsetAndReturnsFirstBatchWhole(t *testing.T) {
	cfg := testConfig()
	cfg.SegmentBytes = 3000
	l := openTestLog(t, t.TempDir(), cfg, newManualClock(), Options{})
	defer l.Close()
	batch := makeBatch(t, batchSpec{records: 4, valueSize: 100}) // ~540 bytes
	size := int64(len(batch))
	for i := 0; i < 20; i++ {
		if _, err := l.AppendAsLeader(batch, 0); err != nil {
			t.Fatal(err)
		}
	}
	for _, tc := range []struct {
		name              string
		offset, maxOffset int64
		maxBytes          int64
		wantFirst         int64
		wantNext          int64
	}{
		{"first batch whole though maxBytes is 1", 0, 80, 1, 0, 4},
		{"batch aligned within maxBytes", 0, 80, 3*size + 10, 0, 12},
		{"offset inside a batch returns the whole batch", 6, 80, size, 4, 8},
		{"stops below maxOffset", 0, 10, 1 << 20, 0, 8},
		{"across segments", 8, 80, 1 << 20, 8, 80},
		{"at the log end", 80, 80, 1 << 20, -1, 80},
		{"maxOffset at offset", 40, 40, 1 << 20, -1, 40},
	} {
		t.Run(tc.name, func(t *testing.T) {
			res, err := l.Read(tc.offset, tc.maxOffset, tc.maxBytes)
			if err != nil {
				t.Fatal(err)
			}
			if res.FirstOffset != tc.wantFirst || res.NextOffset != tc.wantNext {
				t.Fatalf("first %d next %d, want %d %d", res.FirstOffset, res.NextOffset, tc.wantFirst, tc.wantNext)
			}
			var total int64
			for _, s := range res.Slices {
				total += s.Len
				if s.Len%size != 0 {
					t.Fatalf("slice of %d bytes is not batch aligned", s.Len)
				}
			}
			if total != res.Bytes || (tc.wantFirst >= 0 && total != (tc.wantNext-tc.wantFirst)/4*size) {
				t.Fatalf("%d bytes in slices, result says %d", total, res.Bytes)
			}
		})
	}
	for _, off := range []int64{-1, 81} {
		if _, err := l.Read(off, 80, 100); !errors.Is(err, ErrOffsetOutOfRange) {
			t.Fatalf("Read(%d) err = %v, want ErrOffsetOutOfRange", off, err)
		}
	}
}

func TestIndexLookupFindsEveryOffset(t *testing.T) {
	cfg := testConfig()
	cfg.SegmentBytes = 20_000
	cfg.IndexIntervalBytes = 700
	l := openTestLog(t, t.TempDir(), cfg, newManualClock(), Options{})
	defer l.Close()
	for i := 0; i < 200; i++ {
		if _, err := l.AppendAsLeader(makeBatch(t, batchSpec{records: 1 + i%5, valueSize: 30 + i%70}), 0); err != nil {
			t.Fatal(err)
		}
	}
	checkEveryOffset(t, l)
}

// checkEveryOffset asserts that a one-byte Read at every offset from the
// log start to the end returns the batch that holds that offset.
func checkEveryOffset(t testing.TB, l *Log) {
	t.Helper()
	leo := l.LogEndOffset()
	for off := l.LogStartOffset(); off < leo; off++ {
		res, err := l.Read(off, leo, 1)
		if err != nil {
			t.Fatalf("read %d: %v", off, err)
		}
		if len(res.Slices) != 1 {
			t.Fatalf("read %d: %d slices", off, len(res.Slices))
		}
		buf := make([]byte, res.Slices[0].Len)
		if _, err := res.Slices[0].File.ReadAt(buf, res.Slices[0].Pos); err != nil {
			t.Fatal(err)
		}
		h, err := record.Validate(buf)
		if err != nil {
			t.Fatalf("read %d: %v", off, err)
		}
		if h.BaseOffset > off || h.LastOffset() < off || h.BaseOffset != res.FirstOffset {
			t.Fatalf("read %d returned batch %d-%d", off, h.BaseOffset, h.LastOffset())
		}
	}
}

func TestOffsetForTimestamp(t *testing.T) {
	cfg := testConfig()
	cfg.SegmentBytes = 1500
	cfg.IndexIntervalBytes = 300
	l := openTestLog(t, t.TempDir(), cfg, newManualClock(), Options{})
	defer l.Close()
	// Batch i holds 3 records with timestamps 100i, 100i+1, 100i+2, except
	// batch 5 which goes back in time (timestamps 150..152).
	for i := 0; i < 12; i++ {
		ts := int64(100 * i)
		if i == 5 {
			ts = 150
		}
		if _, err := l.AppendAsLeader(makeBatch(t, batchSpec{records: 3, valueSize: 100, ts: ts}), 0); err != nil {
			t.Fatal(err)
		}
	}
	if l.NumSegments() < 3 {
		t.Fatalf("want several segments, have %d", l.NumSegments())
	}
	for _, tc := range []struct {
		ts       int64
		want     int64
		wantTS   int64
		wantNone bool
	}{
		{0, 0, 0, false},
		{1, 1, 1, false},
		{2, 2, 2, false},
		{3, 3, 100, false},
		{150, 6, 200, false}, // the first offset with a timestamp >= 150, not batch 5's 150
		{301, 10, 301, false},
		{402, 14, 402, false},
		{199, 6, 200, false},
		{702, 23, 702, false},
		{1102, 35, 1102, false},
		{1103, 0, 0, true},
	} {
		off, ts, ok, err := l.OffsetForTimestamp(tc.ts)
		if err != nil {
			t.Fatal(err)
		}
		if ok == tc.wantNone || (ok && (off != tc.want || ts != tc.wantTS)) {
			t.Errorf("OffsetForTimestamp(%d) = %d, %d, %v; want %d, %d", tc.ts, off, ts, ok, tc.want, tc.wantTS)
		}
	}
	if ts, off, ok, err := l.MaxTimestamp(); err != nil || !ok || ts != 1102 || off != 35 {
		t.Fatalf("MaxTimestamp = %d at %d", ts, off)
	}
}

func TestTruncateTo(t *testing.T) {
	cfg := testConfig()
	cfg.SegmentBytes = 1000
	dir := t.TempDir()
	clock := newManualClock()
	l := openTestLog(t, dir, cfg, clock, Options{})
	batch := makeBatch(t, batchSpec{records: 2, valueSize: 100}) // ~300 bytes, 3 per segment
	for i := 0; i < 10; i++ {
		if _, err := l.AppendAsLeader(batch, int32(i/4)); err != nil {
			t.Fatal(err)
		}
	}
	for _, tc := range []struct {
		to, wantLEO int64
	}{
		{25, 20}, // at or above the end: nothing
		{19, 18}, // inside a batch: the whole batch goes
		{12, 12}, // a segment boundary
		{7, 6},   // inside the first batch of a segment... offsets 6-7
		{6, 6},   // no-op now
		{1, 0},   // inside the very first batch
	} {
		if err := l.TruncateTo(tc.to); err != nil {
			t.Fatal(err)
		}
		if leo := l.LogEndOffset(); leo != tc.wantLEO {
			t.Fatalf("TruncateTo(%d): log end %d, want %d", tc.to, leo, tc.wantLEO)
		}
		checkEveryOffset(t, l)
		if ee := l.EpochEntries(); len(ee) > 0 && ee[len(ee)-1].StartOffset >= tc.wantLEO {
			t.Fatalf("epoch cache %v after truncating to %d", ee, tc.wantLEO)
		}
	}
	// Appends continue from the new end, and survive a clean reopen.
	for i := 0; i < 4; i++ {
		if _, err := l.AppendAsLeader(batch, 9); err != nil {
			t.Fatal(err)
		}
	}
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	l = openTestLog(t, dir, cfg, clock, Options{CleanShutdown: true})
	defer l.Close()
	if leo := l.LogEndOffset(); leo != 8 {
		t.Fatalf("log end %d after reopen, want 8", leo)
	}
	checkEveryOffset(t, l)
	if e, off := l.EndOffsetForEpoch(9); e != 9 || off != 8 {
		t.Fatalf("EndOffsetForEpoch(9) = %d %d", e, off)
	}
}

func TestTruncateFullyAndStartAt(t *testing.T) {
	l := openTestLog(t, t.TempDir(), testConfig(), newManualClock(), Options{})
	defer l.Close()
	for i := 0; i < 3; i++ {
		if _, err := l.AppendAsLeader(makeBatch(t, batchSpec{records: 2, valueSize: 5}), 1); err != nil {
			t.Fatal(err)
		}
	}
	if err := l.TruncateFullyAndStartAt(0); err != nil { // same base as the old segment
		t.Fatal(err)
	}
	if l.LogEndOffset() != 0 || l.LogStartOffset() != 0 {
		t.Fatal("not empty")
	}
	if err := l.TruncateFullyAndStartAt(500); err != nil {
		t.Fatal(err)
	}
	if _, err := l.AppendAsFollower(withBase(makeBatch(t, batchSpec{records: 2, valueSize: 5}), 500)); err != nil {
		t.Fatal(err)
	}
	if l.LogStartOffset() != 500 || l.LogEndOffset() != 502 {
		t.Fatalf("start %d end %d", l.LogStartOffset(), l.LogEndOffset())
	}
}

func withBase(b []byte, base int64) []byte {
	record.SetBaseOffset(b, base)
	return b
}

func TestAppendAsFollowerKeepsOffsetsAndRejectsGoingBack(t *testing.T) {
	l := openTestLog(t, t.TempDir(), testConfig(), newManualClock(), Options{})
	defer l.Close()
	b1 := withBase(makeBatch(t, batchSpec{records: 3, valueSize: 5}), 0)
	record.SetPartitionLeaderEpoch(b1, 1)
	b2 := withBase(makeBatch(t, batchSpec{records: 3, valueSize: 5}), 10) // a gap, as compaction leaves
	record.SetPartitionLeaderEpoch(b2, 3)
	if _, err := l.AppendAsFollower(append(append([]byte{}, b1...), b2...)); err != nil {
		t.Fatal(err)
	}
	if l.LogEndOffset() != 13 {
		t.Fatalf("log end %d", l.LogEndOffset())
	}
	back := withBase(makeBatch(t, batchSpec{records: 1, valueSize: 5}), 12)
	if _, err := l.AppendAsFollower(back); !errors.Is(err, ErrNonMonotonicOffsets) {
		t.Fatalf("err = %v, want ErrNonMonotonicOffsets", err)
	}
	for _, tc := range []struct {
		ask       int32
		wantEpoch int32
		wantEnd   int64
	}{{0, 0, 0}, {1, 1, 10}, {2, 1, 10}, {3, 3, 13}, {4, -1, -1}} {
		if e, end := l.EndOffsetForEpoch(tc.ask); e != tc.wantEpoch || end != tc.wantEnd {
			t.Errorf("EndOffsetForEpoch(%d) = %d, %d; want %d, %d", tc.ask, e, end, tc.wantEpoch, tc.wantEnd)
		}
	}
	// Reads across the gap: offset 5 is in no batch; the next batch is served.
	res, err := l.Read(5, 13, 1<<20)
	if err != nil || res.FirstOffset != 10 {
		t.Fatalf("read in the gap: first %d, err %v", res.FirstOffset, err)
	}
}

func TestDeleteRecordsBefore(t *testing.T) {
	cfg := testConfig()
	cfg.SegmentBytes = 1000
	l := openTestLog(t, t.TempDir(), cfg, newManualClock(), Options{})
	defer l.Close()
	for i := 0; i < 10; i++ {
		if _, err := l.AppendAsLeader(makeBatch(t, batchSpec{records: 2, valueSize: 100}), 0); err != nil {
			t.Fatal(err)
		}
	}
	before := l.NumSegments()
	start, err := l.DeleteRecordsBefore(7)
	if err != nil || start != 7 {
		t.Fatalf("DeleteRecordsBefore(7) = %d, %v", start, err)
	}
	if l.NumSegments() != before-1 {
		t.Fatalf("%d segments, want %d (the first, offsets 0-5, deleted)", l.NumSegments(), before-1)
	}
	if _, err := l.Read(5, 20, 100); !errors.Is(err, ErrOffsetOutOfRange) {
		t.Fatalf("read below the log start: %v", err)
	}
	if res, err := l.Read(7, 20, 1); err != nil || res.FirstOffset != 6 {
		t.Fatalf("read at the log start: %+v %v", res, err)
	}
	if start, _ := l.DeleteRecordsBefore(3); start != 7 {
		t.Fatalf("log start moved back to %d", start)
	}
	if _, err := l.DeleteRecordsBefore(21); !errors.Is(err, ErrOffsetOutOfRange) {
		t.Fatalf("delete past the end: %v", err)
	}
}

func TestRetentionByTimeAndBytes(t *testing.T) {
	cfg := testConfig()
	cfg.SegmentBytes = 1000
	cfg.RetentionMs = 3_600_000
	clock := newManualClock()
	dir := t.TempDir()
	l := openTestLog(t, dir, cfg, clock, Options{})
	defer l.Close()
	app := func(n int) {
		for i := 0; i < n; i++ {
			if _, err := l.AppendAsLeader(makeBatch(t, batchSpec{records: 2, valueSize: 100, ts: clock.Now().UnixMilli()}), 0); err != nil {
				t.Fatal(err)
			}
		}
	}
	app(9) // 3 segments of old records
	clock.Advance(2 * time.Hour)
	app(3) // a newer segment, and the active one holds these
	if n, err := l.EnforceRetention(); err != nil || n != 3 {
		t.Fatalf("time retention deleted %d segments (err %v), want 3", n, err)
	}
	if s := l.LogStartOffset(); s != 18 {
		t.Fatalf("log start %d, want 18", s)
	}
	if got := segmentFiles(t, dir, ".deleted"); len(got) != 0 {
		t.Fatalf("deleted files left with no delay: %v", got)
	}

	// Everything expired: the active segment is rolled so the log keeps an
	// empty segment at its end.
	clock.Advance(2 * time.Hour)
	if _, err := l.EnforceRetention(); err != nil {
		t.Fatal(err)
	}
	if l.LogStartOffset() != 24 || l.LogEndOffset() != 24 || l.Size() != 0 {
		t.Fatalf("start %d end %d size %d", l.LogStartOffset(), l.LogEndOffset(), l.Size())
	}

	cfg.RetentionMs = -1
	cfg.RetentionBytes = 1500
	l.SetConfig(cfg)
	app(12)
	if _, err := l.EnforceRetention(); err != nil {
		t.Fatal(err)
	}
	if size := l.Size(); size > 1500+1000 || size < 1500 {
		t.Fatalf("size %d after size retention of 1500 with 1000-byte segments", size)
	}
}

func TestDeletedSegmentsStayReadableForTheDeleteDelay(t *testing.T) {
	cfg := testConfig()
	cfg.SegmentBytes = 1000
	cfg.FileDeleteDelayMs = 60_000
	clock := newManualClock()
	dir := t.TempDir()
	l := openTestLog(t, dir, cfg, clock, Options{})
	defer l.Close()
	for i := 0; i < 6; i++ {
		if _, err := l.AppendAsLeader(makeBatch(t, batchSpec{records: 2, valueSize: 100}), 0); err != nil {
			t.Fatal(err)
		}
	}
	res, err := l.Read(0, 12, 1<<20)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := l.DeleteRecordsBefore(6); err != nil {
		t.Fatal(err)
	}
	if got := segmentFiles(t, dir, ".log.deleted"); len(got) != 1 {
		t.Fatalf(".deleted files %v", got)
	}
	buf := make([]byte, res.Slices[0].Len)
	if _, err := res.Slices[0].File.ReadAt(buf, res.Slices[0].Pos); err != nil {
		t.Fatalf("slice of a deleted segment unreadable within the delay: %v", err)
	}
	clock.Advance(61 * time.Second)
	l.ReapDeleted()
	if got := segmentFiles(t, dir, ".deleted"); len(got) != 0 {
		t.Fatalf(".deleted files left after the delay: %v", got)
	}
}

func TestFlushPolicies(t *testing.T) {
	cfg := testConfig()
	cfg.FlushMessages = 10
	clock := newManualClock()
	l := openTestLog(t, t.TempDir(), cfg, clock, Options{})
	defer l.Close()
	app := func() {
		if _, err := l.AppendAsLeader(makeBatch(t, batchSpec{records: 4, valueSize: 5}), 0); err != nil {
			t.Fatal(err)
		}
	}
	app()
	app()
	if rp := l.RecoveryPoint(); rp != 0 {
		t.Fatalf("recovery point %d before flush.messages", rp)
	}
	app() // 12 unflushed records
	if rp := l.RecoveryPoint(); rp != 12 {
		t.Fatalf("recovery point %d after flush.messages, want 12", rp)
	}

	cfg.FlushMessages = 1 << 62
	cfg.FlushMs = 1000
	l.SetConfig(cfg)
	app()
	if err := l.FlushIfDue(); err != nil || l.RecoveryPoint() != 12 {
		t.Fatalf("flushed before flush.ms: rp %d err %v", l.RecoveryPoint(), err)
	}
	clock.Advance(time.Second)
	if err := l.FlushIfDue(); err != nil || l.RecoveryPoint() != 16 {
		t.Fatalf("not flushed after flush.ms: rp %d err %v", l.RecoveryPoint(), err)
	}
}

func TestCleanReopenKeepsEverything(t *testing.T) {
	cfg := testConfig()
	cfg.SegmentBytes = 2000
	cfg.IndexIntervalBytes = 500
	dir := t.TempDir()
	clock := newManualClock()
	l := openTestLog(t, dir, cfg, clock, Options{})
	for i := 0; i < 30; i++ {
		if _, err := l.AppendAsLeader(makeBatch(t, batchSpec{records: 3, valueSize: 60, ts: int64(i * 10)}), 2); err != nil {
			t.Fatal(err)
		}
	}
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	if sz := fileSize(t, filepath.Join(dir, segmentFiles(t, dir, ".index")[l.NumSegments()-1])); sz%offsetEntrySize != 0 || sz >= cfg.SegmentIndexBytes {
		t.Fatalf("active index not trimmed on close: %d bytes", sz)
	}
	l = openTestLog(t, dir, cfg, clock, Options{CleanShutdown: true, RecoveryPoint: 90})
	defer l.Close()
	if l.LogEndOffset() != 90 {
		t.Fatalf("log end %d", l.LogEndOffset())
	}
	checkEveryOffset(t, l)
	if off, _, ok, _ := l.OffsetForTimestamp(155); !ok || off != 48 {
		t.Fatalf("OffsetForTimestamp after reopen = %d %v", off, ok)
	}
	if _, err := l.AppendAsLeader(makeBatch(t, batchSpec{records: 1, valueSize: 1}), 2); err != nil {
		t.Fatal(err)
	}
	checkEveryOffset(t, l)
}

func TestOpenRemovesLeftoversAndOrphans(t *testing.T) {
	dir := t.TempDir()
	l := openTestLog(t, dir, testConfig(), newManualClock(), Options{})
	if _, err := l.AppendAsLeader(makeBatch(t, batchSpec{records: 1, valueSize: 1}), 0); err != nil {
		t.Fatal(err)
	}
	l.Close()
	for _, name := range []string{
		"00000000000000000050.index", "00000000000000000050.timeindex", // no .log
		"00000000000000000000.log.deleted", "00000000000000000007.log.cleaned",
		"00000000000000000007.log.swap", "leader-epoch-checkpoint.tmp",
	} {
		if err := os.WriteFile(filepath.Join(dir, name), []byte("junk"), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	l = openTestLog(t, dir, testConfig(), newManualClock(), Options{CleanShutdown: true})
	defer l.Close()
	entries, _ := os.ReadDir(dir)
	var names []string
	for _, e := range entries {
		names = append(names, e.Name())
	}
	want := "[00000000000000000000.index 00000000000000000000.log 00000000000000000000.timeindex leader-epoch-checkpoint]"
	if fmt.Sprint(names) != want {
		t.Fatalf("files %v\nwant %s", names, want)
	}
	if l.LogEndOffset() != 1 {
		t.Fatalf("log end %d", l.LogEndOffset())
	}
}

func TestDefaultConfigIsKafkasTopicDefaults(t *testing.T) {
	want := Config{
		SegmentBytes: 1 << 30, SegmentMs: 604800000, SegmentIndexBytes: 10 << 20, IndexIntervalBytes: 4096,
		RetentionMs: 604800000, RetentionBytes: -1, FlushMessages: 1<<63 - 1, FlushMs: 1<<63 - 1,
		MaxMessageBytes: 1048588, FileDeleteDelayMs: 60000,
		CleanupDelete: true, DeleteRetentionMs: 86400000, MinCleanableDirtyRatio: 0.5,
		MaxCompactionLagMs: 1<<63 - 1,
	}
	if got := DefaultConfig(); got != want {
		t.Fatalf("DefaultConfig() = %+v\nwant %+v", got, want)
	}
}

func TestScanBatchesVisitsEveryBatchFromAnOffset(t *testing.T) {
	cfg := testConfig()
	cfg.SegmentBytes = 1000
	l := openTestLog(t, t.TempDir(), cfg, newManualClock(), Options{})
	defer l.Close()
	for i := 0; i < 12; i++ {
		if _, err := l.AppendAsLeader(makeBatch(t, batchSpec{records: 2, valueSize: 100}), 0); err != nil {
			t.Fatal(err)
		}
	}
	var bases []int64
	if err := l.ScanBatches(5, func(h record.Header) bool { bases = append(bases, h.BaseOffset); return len(bases) < 100 }); err != nil {
		t.Fatal(err)
	}
	if len(bases) != 10 || bases[0] != 4 || bases[9] != 22 {
		t.Fatalf("scanned %v", bases)
	}
	n := 0
	l.ScanBatches(0, func(record.Header) bool { n++; return n < 3 })
	if n != 3 {
		t.Fatalf("scan did not stop when fn returned false: %d", n)
	}
}

func TestMaxTimestampNamesTheRecordNotTheBatch(t *testing.T) {
	l := openTestLog(t, t.TempDir(), testConfig(), newManualClock(), Options{})
	defer l.Close()
	b := record.NewBuilder(record.BuilderOptions{})
	for i, ts := range []int64{10, 50, 20, 50, 30} {
		b.Append(nil, []byte{byte(i)}, ts, nil)
	}
	batch, _ := b.Build(nil)
	if _, err := l.AppendAsLeader(batch, 0); err != nil {
		t.Fatal(err)
	}
	if ts, off, ok, err := l.MaxTimestamp(); err != nil || !ok || ts != 50 || off != 1 {
		t.Fatalf("MaxTimestamp = %d at %d (%v %v), want 50 at 1", ts, off, ok, err)
	}
}
