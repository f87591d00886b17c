package log

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"testing"
	"time"

	"github.com/weirmq/weir/core/record"
	"github.com/weirmq/weir/sdk"
)

// writeVersions appends n batches of three records each, keys cycling over
// nkeys, every value naming its own offset ("v<offset>"), and returns every
// record written in offset order.
func writeVersions(t testing.TB, l *Log, clock *manualClock, n, nkeys int) []rec {
	t.Helper()
	var all []rec
	for i := 0; i < n; i++ {
		next := l.LogEndOffset()
		var recs []kv
		for j := 0; j < 3; j++ {
			off := next + int64(j)
			k := fmt.Sprintf("k%02d", (i*3+j)%nkeys)
			recs = append(recs, kv{key: k, value: fmt.Sprintf("v%d", off)})
			all = append(all, rec{offset: off, key: k, value: fmt.Sprintf("v%d", off)})
		}
		appendKV(t, l, clock.Now().UnixMilli(), batchOpts{}, recs...)
	}
	return all
}

// expectCompacted is what a clean of everything below end leaves of all:
// below end, only the last record of each key there; from end on, all.
func expectCompacted(all []rec, end int64) []rec {
	latest := map[string]int64{}
	for _, r := range all {
		if r.offset < end {
			latest[r.key] = r.offset
		}
	}
	var out []rec
	for _, r := range all {
		if r.offset >= end || latest[r.key] == r.offset {
			out = append(out, r)
		}
	}
	return out
}

func TestCleanerKeepsTheLatestValueOfEveryKeyAtItsOffset(t *testing.T) {
	dir := t.TempDir()
	clock := newManualClock()
	cfg := compactConfig()
	l := openTestLog(t, dir, cfg, clock, Options{})
	all := writeVersions(t, l, clock, 120, 17)
	segsBefore := l.NumSegments()
	activeBase := l.mu.segments[len(l.mu.segments)-1].base
	if segsBefore < 5 || activeBase == 0 {
		t.Fatalf("test setup: %d segments, active at %d", segsBefore, activeBase)
	}

	res := cleanNow(t, l, nil)
	want := expectCompacted(all, activeBase)
	if got := readRecords(t, l, nil); !sameRecs(got, want) {
		t.Fatalf("after cleaning:\n%v\nwant\n%v", recStrings(got), recStrings(want))
	}
	if res.EndOffset != activeBase || res.FirstDirtyOffset != 0 || res.RecordsRemoved != int64(len(all)-len(want)) {
		t.Fatalf("result %+v; want end %d, %d removed", res, activeBase, len(all)-len(want))
	}
	if res.SegmentsAfter != res.SegmentsBefore || res.BytesAfter >= res.BytesBefore/4 {
		t.Fatalf("first pass: %+v", res)
	}
	if l.LogEndOffset() != all[len(all)-1].offset+1 || l.LogStartOffset() != 0 {
		t.Fatalf("log start %d, end %d changed", l.LogStartOffset(), l.LogEndOffset())
	}
	checkReadsAcrossGaps(t, l)
	if got := leftovers(t, dir); len(got) != 0 {
		t.Fatalf("leftover files %v", got)
	}

	// Nothing new: a second pass changes nothing.
	res2 := cleanNow(t, l, nil)
	if got := readRecords(t, l, nil); !sameRecs(got, want) || res2.RecordsRemoved != 0 {
		t.Fatalf("second pass changed the log (%+v)", res2)
	}
	// It merged the small segments the first one left.
	if l.NumSegments() != 2 || res2.SegmentsBefore != res.SegmentsAfter || res2.SegmentsAfter != 1 {
		t.Fatalf("small cleaned segments were not merged: %d segments (%+v)", l.NumSegments(), res2)
	}
	checkReadsAcrossGaps(t, l)

	// More versions, and the log is cleaned again from where it stopped.
	all = append(all, writeVersions(t, l, clock, 40, 17)...)
	if err := l.Roll(); err != nil {
		t.Fatal(err)
	}
	end := l.LogEndOffset()
	res3 := cleanNow(t, l, nil)
	if res3.FirstDirtyOffset != activeBase || res3.EndOffset != end {
		t.Fatalf("third pass cleaned [%d, %d), want [%d, %d)", res3.FirstDirtyOffset, res3.EndOffset, activeBase, end)
	}
	want = expectCompacted(all, end)
	if got := readRecords(t, l, nil); !sameRecs(got, want) {
		t.Fatalf("after the third pass:\n%v\nwant\n%v", recStrings(got), recStrings(want))
	}

	// The cleaned log survives a clean reopen and a crash.
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	for _, clean := range []bool{true, false} {
		l = openTestLog(t, dir, cfg, clock, Options{CleanShutdown: clean, FirstDirtyOffset: end})
		if got := readRecords(t, l, nil); !sameRecs(got, want) {
			t.Fatalf("after reopening (clean shutdown %v):\n%v", clean, recStrings(got))
		}
		checkReadsAcrossGaps(t, l)
		if st := l.cleanStatus(clock.Now().UnixMilli()); st.dirtyBytes != 0 || st.firstDirty != end {
			t.Fatalf("reopened with first dirty offset %d and %d dirty bytes", st.firstDirty, st.dirtyBytes)
		}
		l.Close()
	}
}

func TestCleanerKeepsTombstonesForDeleteRetentionThenRemovesThem(t *testing.T) {
	clock := newManualClock()
	cfg := compactConfig()
	l := openTestLog(t, t.TempDir(), cfg, clock, Options{})
	defer l.Close()
	ts := clock.Now().UnixMilli() - 1000
	appendKV(t, l, ts, batchOpts{}, kv{key: "a", value: "a1"}, kv{key: "b", value: "b1"}, kv{key: "e", tomb: true})
	appendKV(t, l, ts+10, batchOpts{}, kv{key: "a", value: "a2"}, kv{key: "e", value: "e2"})
	tombAt := appendKV(t, l, ts+20, batchOpts{}, kv{key: "c", value: "c1"}, kv{key: "a", tomb: true})
	if err := l.Roll(); err != nil {
		t.Fatal(err)
	}
	appendKV(t, l, ts+30, batchOpts{}, kv{key: "d", value: "d1"})

	t0 := clock.Now().UnixMilli()
	cleanNow(t, l, nil)
	// a's values go at once; a's tombstone stays; e's tombstone, superseded
	// by a later value, goes at once.
	want := []string{"1:b=b1", "4:e=e2", "5:c=c1", "6:a=<tombstone>", "7:d=d1"}
	if got := recStrings(readRecords(t, l, nil)); fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("after the first pass %v, want %v", got, want)
	}
	batches, hs := readBatches(t, l)
	var tomb record.Header
	for i, h := range hs {
		if h.BaseOffset <= tombAt+1 && h.LastOffset() >= tombAt+1 {
			tomb = h
			it, err := record.NewIterator(batches[i], nil, 1<<20)
			if err != nil {
				t.Fatal(err)
			}
			for r, ok := it.Next(); ok; r, ok = it.Next() {
				if r.Timestamp != ts+20+int64(r.OffsetDelta) {
					t.Fatalf("record %d has timestamp %d after cleaning, want %d", r.Offset, r.Timestamp, ts+20+int64(r.OffsetDelta))
				}
			}
		}
	}
	if !tomb.Attributes.HasDeleteHorizon() || tomb.BaseTimestamp != t0+cfg.DeleteRetentionMs {
		t.Fatalf("tombstone batch %+v: want the delete horizon %d in its header", tomb, t0+cfg.DeleteRetentionMs)
	}

	clock.Advance(59 * time.Minute)
	if st := l.cleanStatus(clock.Now().UnixMilli()); st.due(clock.Now().UnixMilli()) {
		t.Fatalf("log due for cleaning before the horizon: %+v", st)
	}
	cleanNow(t, l, nil)
	if got := recStrings(readRecords(t, l, nil)); fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("tombstone gone before delete.retention.ms: %v", got)
	}

	clock.Advance(2 * time.Minute)
	if st := l.cleanStatus(clock.Now().UnixMilli()); !st.due(clock.Now().UnixMilli()) || !st.horizonDue {
		t.Fatalf("log not due for cleaning once the horizon passed: %+v", st)
	}
	res := cleanNow(t, l, nil)
	want = []string{"1:b=b1", "4:e=e2", "5:c=c1", "7:d=d1"}
	if got := recStrings(readRecords(t, l, nil)); fmt.Sprint(got) != fmt.Sprint(want) || res.TombstonesRemoved != 1 {
		t.Fatalf("after the horizon %v (%d tombstones removed), want %v", got, res.TombstonesRemoved, want)
	}
	if st := l.cleanStatus(clock.Now().UnixMilli()); st.horizonDue {
		t.Fatal("still due for a horizon with no tombstone left")
	}
	checkReadsAcrossGaps(t, l)
}

func TestCleanerRewritesCompressedBatchesWithTheirCodec(t *testing.T) {
	reg := testRegistry(t)
	for _, id := range []sdk.CompressionID{sdk.CompressionGzip, sdk.CompressionSnappy, sdk.CompressionLZ4, sdk.CompressionZstd} {
		t.Run(id.String(), func(t *testing.T) {
			codec, _ := reg.Codec(id)
			clock := newManualClock()
			l := openTestLog(t, t.TempDir(), compactConfig(), clock, Options{Codecs: reg})
			defer l.Close()
			ts := clock.Now().UnixMilli()
			o := batchOpts{codec: codec}
			appendKV(t, l, ts, o, kv{key: "a", value: "a1"}, kv{key: "b", value: "b1"}, kv{key: "c", value: "c1"})
			untouched := buildKV(t, ts, o, kv{key: "x", value: "x1"}, kv{key: "y", value: "y1"})
			if _, err := l.AppendAsLeader(append([]byte(nil), untouched...), 0); err != nil {
				t.Fatal(err)
			}
			appendKV(t, l, ts, o, kv{key: "a", value: "a2"}, kv{key: "c", tomb: true})
			if err := l.Roll(); err != nil {
				t.Fatal(err)
			}
			cleanNow(t, l, reg)
			want := []string{"1:b=b1", "3:x=x1", "4:y=y1", "5:a=a2", "6:c=<tombstone>"}
			if got := recStrings(readRecords(t, l, reg)); fmt.Sprint(got) != fmt.Sprint(want) {
				t.Fatalf("records %v, want %v", got, want)
			}
			batches, hs := readBatches(t, l)
			if len(hs) != 3 {
				t.Fatalf("%d batches, want 3", len(hs))
			}
			for i, h := range hs {
				if h.Attributes.Compression() != id {
					t.Errorf("batch at %d is compressed with %s, want %s", h.BaseOffset, h.Attributes.Compression(), id)
				}
				if h.NumRecords == 0 || h.LastOffsetDelta != 1 && h.LastOffsetDelta != 2 {
					t.Errorf("batch at %d: %d records, last offset delta %d", h.BaseOffset, h.NumRecords, h.LastOffsetDelta)
				}
				if i == 1 {
					record.SetBaseOffset(untouched, 3)
					if !bytes.Equal(batches[1], untouched) {
						t.Error("a batch the cleaner had nothing to remove from was rewritten")
					}
				}
			}
			if hs[0].NumRecords != 1 || hs[0].LastOffsetDelta != 2 {
				t.Errorf("first batch: %d records, last offset delta %d; want 1 and 2", hs[0].NumRecords, hs[0].LastOffsetDelta)
			}
		})
	}
}

func TestCleanerKeepsTheLastBatchOfEachProducerForIdempotence(t *testing.T) {
	clock := newManualClock()
	l := openTestLog(t, t.TempDir(), compactConfig(), clock, Options{})
	defer l.Close()
	ts := clock.Now().UnixMilli()
	p := batchOpts{producerID: 7, producerEpoch: 3}
	appendKV(t, l, ts, p, kv{key: "a", value: "1"}, kv{key: "b", value: "1"})
	p.baseSequence = 2
	appendKV(t, l, ts, p, kv{key: "c", value: "1"}, kv{key: "d", value: "1"})
	q := batchOpts{producerID: 9, baseSequence: 0}
	appendKV(t, l, ts, q, kv{key: "e", value: "1"}, kv{key: "e", value: "2"}, kv{key: "f", value: "1"})
	appendKV(t, l, ts, batchOpts{}, kv{key: "a", value: "2"}, kv{key: "b", value: "2"}, kv{key: "c", value: "2"}, kv{key: "d", value: "2"})
	if err := l.Roll(); err != nil {
		t.Fatal(err)
	}
	res := cleanNow(t, l, nil)

	_, hs := readBatches(t, l)
	if len(hs) != 3 || res.EmptyBatchesKept != 1 {
		t.Fatalf("%d batches (%d empty kept), want 3 and 1: %+v", len(hs), res.EmptyBatchesKept, hs)
	}
	// P's first batch had no survivor and is not its last: gone. Its last is
	// kept empty with its producer fields and offset range.
	pl := hs[0]
	if pl.BaseOffset != 2 || pl.NumRecords != 0 || pl.LastOffsetDelta != 1 || pl.ProducerID != 7 ||
		pl.ProducerEpoch != 3 || pl.BaseSequence != 2 {
		t.Fatalf("P's last batch after cleaning: %+v", pl)
	}
	// Q's batch lost a record but keeps its sequence range.
	if q := hs[1]; q.BaseOffset != 4 || q.NumRecords != 2 || q.LastOffsetDelta != 2 || q.ProducerID != 9 || q.BaseSequence != 0 {
		t.Fatalf("Q's batch after cleaning: %+v", q)
	}
	// Producer state rebuilt from the headers sees the producers' original
	// sequence ranges: BaseSequence and LastOffsetDelta are kept.
	var scanned []string
	if err := l.ScanBatches(0, func(h record.Header) bool {
		scanned = append(scanned, fmt.Sprintf("%d/%d:%d+%d", h.ProducerID, h.BaseOffset, h.BaseSequence, h.LastOffsetDelta+1))
		return true
	}); err != nil {
		t.Fatal(err)
	}
	if want := "[7/2:2+2 9/4:0+3 -1/7:-1+4]"; fmt.Sprint(scanned) != want {
		t.Fatalf("ScanBatches saw %v, want %s", scanned, want)
	}

	// Once P writes again, its old empty batch is no longer needed.
	p.baseSequence = 4
	appendKV(t, l, ts, p, kv{key: "z", value: "1"})
	if err := l.Roll(); err != nil {
		t.Fatal(err)
	}
	cleanNow(t, l, nil)
	if _, hs = readBatches(t, l); hs[0].ProducerID == 7 && hs[0].BaseOffset == 2 {
		t.Fatal("the empty batch outlived its producer's next batch")
	}
}

func TestCleanerKeepsTransactionalAndControlBatchesAsWritten(t *testing.T) {
	clock := newManualClock()
	l := openTestLog(t, t.TempDir(), compactConfig(), clock, Options{})
	defer l.Close()
	ts := clock.Now().UnixMilli()
	appendKV(t, l, ts, batchOpts{}, kv{key: "a", value: "plain"})
	txn := buildKV(t, ts, batchOpts{producerID: 5, transactional: true}, kv{key: "a", value: "txn"}, kv{key: "b", value: "txn"})
	ctl := buildKV(t, ts, batchOpts{producerID: 5, transactional: true, control: true}, kv{key: "\x00\x00\x00\x01", value: "\x00\x00\x00\x00\x00\x00"})
	for _, b := range [][]byte{txn, ctl} {
		if _, err := l.AppendAsLeader(append([]byte(nil), b...), 0); err != nil {
			t.Fatal(err)
		}
	}
	appendKV(t, l, ts, batchOpts{}, kv{key: "b", value: "later"})
	if err := l.Roll(); err != nil {
		t.Fatal(err)
	}
	cleanNow(t, l, nil)
	batches, hs := readBatches(t, l)
	if len(hs) != 4 {
		t.Fatalf("%d batches after cleaning, want 4", len(hs))
	}
	record.SetBaseOffset(txn, 1)
	record.SetBaseOffset(ctl, 3)
	if !bytes.Equal(batches[1], txn) || !bytes.Equal(batches[2], ctl) {
		t.Fatal("a transactional or control batch was rewritten")
	}
	// The transaction's keys do not remove the plain record before it.
	if got := readRecords(t, l, nil); got[0].String() != "0:a=plain" {
		t.Fatalf("first record %v", got[0])
	}
}

func TestCleanerDropsRecordsWithoutAKey(t *testing.T) {
	clock := newManualClock()
	l := openTestLog(t, t.TempDir(), compactConfig(), clock, Options{})
	defer l.Close()
	appendKV(t, l, clock.Now().UnixMilli(), batchOpts{}, kv{value: "no key"}, kv{key: "k", value: "v"})
	if err := l.Roll(); err != nil {
		t.Fatal(err)
	}
	res := cleanNow(t, l, nil)
	if got := recStrings(readRecords(t, l, nil)); fmt.Sprint(got) != "[1:k=v]" || res.KeylessRemoved != 1 {
		t.Fatalf("records %v, %d keyless removed", got, res.KeylessRemoved)
	}
}

func TestCleanerHonoursTheCompactionLagsAndTheDirtyRatio(t *testing.T) {
	clock := newManualClock()
	cfg := compactConfig()
	cfg.MinCompactionLagMs = 60_000
	l := openTestLog(t, t.TempDir(), cfg, clock, Options{})
	defer l.Close()
	now := func() int64 { return clock.Now().UnixMilli() }
	writeOld := func(n int) {
		for i := 0; i < n; i++ {
			appendKV(t, l, now(), batchOpts{}, kv{key: "k", value: fmt.Sprintf("%0200d", i)})
		}
	}
	writeOld(30)
	if err := l.Roll(); err != nil {
		t.Fatal(err)
	}
	// Everything is younger than min.compaction.lag.ms: nothing cleanable.
	if st := l.cleanStatus(now()); st.cleanable || st.due(now()) {
		t.Fatalf("young records cleanable: %+v", st)
	}
	if res := cleanNow(t, l, nil); res.SegmentsBefore != 0 {
		t.Fatalf("cleaned young records: %+v", res)
	}
	clock.Advance(2 * time.Minute)
	st := l.cleanStatus(now())
	if !st.cleanable || st.ratio != 1 || !st.due(now()) {
		t.Fatalf("old records not due: %+v", st)
	}
	cleanNow(t, l, nil)
	st = l.cleanStatus(now())
	if st.dirtyBytes != 0 || st.cleanBytes == 0 || st.due(now()) {
		t.Fatalf("after cleaning: %+v", st)
	}

	// A little new data: below min.cleanable.dirty.ratio, not due...
	appendKV(t, l, now(), batchOpts{}, kv{key: "j", value: "1"})
	if err := l.Roll(); err != nil {
		t.Fatal(err)
	}
	clock.Advance(2 * time.Minute)
	st = l.cleanStatus(now())
	if st.ratio <= 0 || st.ratio >= 0.5 || st.due(now()) {
		t.Fatalf("a small dirty section: %+v", st)
	}
	// ...until max.compaction.lag.ms passes for it.
	cfg.MaxCompactionLagMs = 5 * 60_000
	l.SetConfig(cfg)
	clock.Advance(4 * time.Minute)
	if st = l.cleanStatus(now()); !st.overdue || !st.due(now()) || st.lagMs < 5*60_000 {
		t.Fatalf("max.compaction.lag.ms passed but not due: %+v", st)
	}
}

func TestMaxCompactionLagRollsTheActiveSegment(t *testing.T) {
	clock := newManualClock()
	cfg := compactConfig()
	cfg.SegmentBytes = 1 << 20
	cfg.MaxCompactionLagMs = 1000
	l := openTestLog(t, t.TempDir(), cfg, clock, Options{})
	defer l.Close()
	appendKV(t, l, clock.Now().UnixMilli(), batchOpts{}, kv{key: "k", value: "1"})
	clock.Advance(1500 * time.Millisecond)
	appendKV(t, l, clock.Now().UnixMilli(), batchOpts{}, kv{key: "k", value: "2"})
	if l.NumSegments() != 2 {
		t.Fatalf("%d segments; the active one should have rolled at max.compaction.lag.ms", l.NumSegments())
	}
}

func TestRetentionFollowsTheCleanupPolicy(t *testing.T) {
	for _, tc := range []struct {
		name            string
		compact, delete bool
		wantDeleted     bool
	}{
		{"delete", false, true, true},
		{"compact", true, false, false},
		{"compact,delete", true, true, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			clock := newManualClock()
			cfg := compactConfig()
			cfg.CleanupCompact, cfg.CleanupDelete = tc.compact, tc.delete
			cfg.RetentionMs = 60_000
			l := openTestLog(t, t.TempDir(), cfg, clock, Options{})
			defer l.Close()
			for i := 0; i < 30; i++ {
				appendKV(t, l, clock.Now().UnixMilli(), batchOpts{}, kv{key: fmt.Sprint(i), value: fmt.Sprintf("%0100d", i)})
			}
			clock.Advance(time.Hour)
			n, err := l.EnforceRetention()
			if err != nil || (n > 0) != tc.wantDeleted {
				t.Fatalf("retention deleted %d segments (%v); want deletions: %v", n, err, tc.wantDeleted)
			}
			// Whatever the policy, DeleteRecords' log start offset is kept.
			if _, err := l.DeleteRecordsBefore(l.LogEndOffset()); err != nil {
				t.Fatal(err)
			}
			if _, err := l.EnforceRetention(); err != nil || l.NumSegments() != 1 {
				t.Fatalf("after DeleteRecords to the end: %d segments (%v)", l.NumSegments(), err)
			}
		})
	}
}

func TestRetentionDeletesSegmentsTheCleanerEmptied(t *testing.T) {
	clock := newManualClock()
	cfg := compactConfig()
	cfg.CleanupDelete = true
	cfg.RetentionMs = 60_000
	cfg.SegmentBytes = 300
	l := openTestLog(t, t.TempDir(), cfg, clock, Options{})
	defer l.Close()
	// One record per segment: a pass of segment.bytes 300 cannot merge
	// them, so the first is emptied and kept as an empty segment.
	for i := 0; i < 2; i++ {
		appendKV(t, l, clock.Now().UnixMilli(), batchOpts{}, kv{key: "k", value: fmt.Sprintf("%0200d", i)})
	}
	clock.Advance(time.Hour)
	for i := 2; i < 4; i++ {
		appendKV(t, l, clock.Now().UnixMilli(), batchOpts{}, kv{key: fmt.Sprint(i), value: fmt.Sprintf("%0200d", i)})
	}
	cleanNow(t, l, nil)
	l.mu.RLock()
	empty := l.mu.segments[0].empty() && !l.mu.segments[1].empty()
	l.mu.RUnlock()
	if !empty {
		t.Fatal("test setup: the first segment was not emptied")
	}
	// The empty segment has no timestamp, and must not hold retention up.
	if _, err := l.EnforceRetention(); err != nil || l.LogStartOffset() != 2 {
		t.Fatalf("after retention: log start %d (%v), want 2", l.LogStartOffset(), err)
	}
}

func TestCleanerGivesUpWhenTheLogChangesUnderIt(t *testing.T) {
	for _, change := range []string{"truncate", "retention"} {
		t.Run(change, func(t *testing.T) {
			dir := t.TempDir()
			clock := newManualClock()
			cfg := compactConfig()
			cfg.CompactionFilter = "meddler"
			l := openTestLog(t, dir, cfg, clock, Options{})
			defer l.Close()
			writeVersions(t, l, clock, 60, 5)
			if err := l.Roll(); err != nil {
				t.Fatal(err)
			}
			l.mu.RLock()
			third := l.mu.segments[2].base
			l.mu.RUnlock()
			meddled := false
			reg := sdk.NewRegistry()
			reg.RegisterCompactionFilter(filterFunc{"meddler", func(context.Context, sdk.FilterInput, []sdk.FilterDecision) error {
				if !meddled {
					meddled = true
					if change == "truncate" {
						return l.TruncateTo(l.LogEndOffset() - 9) // a batch boundary
					}
					if _, err := l.DeleteRecordsBefore(third); err != nil {
						return err
					}
					_, err := l.EnforceRetention()
					return err
				}
				return nil
			}})
			before := l.LogEndOffset()
			l.cleanMu.Lock()
			_, err := l.clean(context.Background(), testEnv(reg), true)
			l.cleanMu.Unlock()
			if !errors.Is(err, errCleanAborted) {
				t.Fatalf("clean err = %v, want errCleanAborted", err)
			}
			if got := leftovers(t, dir); len(got) != 0 {
				t.Fatalf("leftover files %v", got)
			}
			if change == "truncate" && l.LogEndOffset() != before-9 {
				t.Fatalf("log end %d", l.LogEndOffset())
			}
			checkReadsAcrossGaps(t, l)
			// The next pass works.
			cleanNow(t, l, nil)
		})
	}
}

func TestCleanerStopsAtCorruptionAndMarksTheLogUncleanable(t *testing.T) {
	dir := t.TempDir()
	clock := newManualClock()
	l := openTestLog(t, dir, compactConfig(), clock, Options{})
	defer l.Close()
	writeVersions(t, l, clock, 60, 5)
	name := segmentName(dir, 0, logSuffix)
	data, err := os.ReadFile(name)
	if err != nil {
		t.Fatal(err)
	}
	f, err := os.OpenFile(name, os.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.WriteAt([]byte{data[70] ^ 0xff}, 70); err != nil { // inside the first batch's records
		t.Fatal(err)
	}
	f.Close()
	files := fmt.Sprint(logFiles(t, dir))
	l.cleanMu.Lock()
	_, err = l.clean(context.Background(), testEnv(nil), true)
	l.cleanMu.Unlock()
	if !errors.Is(err, ErrCorruptLog) {
		t.Fatalf("clean err = %v, want ErrCorruptLog", err)
	}
	now := clock.Now().UnixMilli()
	if st := l.cleanStatus(now); st.uncleanable == nil || st.due(now) {
		t.Fatalf("corrupt log still due for cleaning: %+v", st)
	}
	if got := fmt.Sprint(logFiles(t, dir)); got != files || len(leftovers(t, dir)) != 0 {
		t.Fatalf("segments changed by a failed pass: %s, want %s", got, files)
	}
}

func TestThrottlerHoldsTheRate(t *testing.T) {
	for _, rate := range []float64{0, -1, 1.7976931348623157e308} {
		if newThrottler(rate) != nil {
			t.Errorf("rate %v throttles", rate)
		}
	}
	th := newThrottler(1000) // bytes per second
	ctx, cancel := context.WithCancel(context.Background())
	if err := th.wait(ctx, 5); err != nil { // 5 ms of budget: within the slack
		t.Fatal(err)
	}
	cancel()
	// A megabyte takes 1000 s at this rate: the wait ends with ctx.
	if err := th.wait(ctx, 1<<20); !errors.Is(err, context.Canceled) {
		t.Fatalf("wait = %v, want context.Canceled", err)
	}
	var nilThrottler *throttler
	if err := nilThrottler.wait(ctx, 1<<30); err != nil {
		t.Fatal(err)
	}
}

func TestCleanerStaysBelowTheCleanLimit(t *testing.T) {
	clock := newManualClock()
	l := openTestLog(t, t.TempDir(), compactConfig(), clock, Options{})
	defer l.Close()
	all := writeVersions(t, l, clock, 80, 6)
	l.mu.RLock()
	limit := l.mu.segments[2].next // a high watermark inside the third segment
	third := l.mu.segments[2].base
	l.mu.RUnlock()
	l.SetCleanLimit(limit - 1)
	res := cleanNow(t, l, nil)
	if res.EndOffset != third {
		t.Fatalf("cleaned up to %d with the limit at %d, want %d", res.EndOffset, limit-1, third)
	}
	if got, want := readRecords(t, l, nil), expectCompacted(all, third); !sameRecs(got, want) {
		t.Fatalf("records %v\nwant %v", recStrings(got), recStrings(want))
	}
}

// TestCleanedSegmentOutgrowingItsIndexKeepsEverything: with index.interval.bytes
// lowered after the segments were written, a cleaned segment needs more
// index entries than segment.index.bytes holds. Nothing may be lost: not
// when cleaning, not when a restart re-reads the segment.
func TestCleanedSegmentOutgrowingItsIndexKeepsEverything(t *testing.T) {
	dir := t.TempDir()
	clock := newManualClock()
	cfg := compactConfig()
	cfg.SegmentIndexBytes = 80 // ten offset entries
	cfg.IndexIntervalBytes = 1 << 20
	cfg.SegmentBytes = 1 << 20
	l := openTestLog(t, dir, cfg, clock, Options{})
	for i := 0; i < 40; i++ {
		appendKV(t, l, clock.Now().UnixMilli(), batchOpts{}, kv{key: fmt.Sprint(i), value: "v"}, kv{key: "dup", value: fmt.Sprint(i)})
	}
	if err := l.Roll(); err != nil {
		t.Fatal(err)
	}
	cfg.IndexIntervalBytes = 1 // an entry per batch from now on
	l.SetConfig(cfg)
	cleanNow(t, l, nil)
	if got := readRecords(t, l, nil); len(got) != 41 {
		t.Fatalf("%d records after cleaning, want 41", len(got))
	}
	l.mu.RLock()
	full := l.mu.segments[0].index.full()
	l.mu.RUnlock()
	if !full {
		t.Fatal("test setup: the cleaned segment's index did not fill")
	}
	checkReadsAcrossGaps(t, l)
	before := readRecords(t, l, nil)
	l.Close()
	l = openTestLog(t, dir, cfg, clock, Options{}) // unclean: every segment re-read
	defer l.Close()
	if got := readRecords(t, l, nil); !sameRecs(got, before) {
		t.Fatalf("after recovery %d records, want %d", len(got), len(before))
	}
	checkReadsAcrossGaps(t, l)
}
