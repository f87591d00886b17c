package log

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"testing"
	"time"
)

func TestManagerCleansTheDirtiestLogAndCheckpointsItsProgress(t *testing.T) {
	dir := t.TempDir()
	clock := newManualClock()
	m := openTestManager(t, dir, clock)
	cfg := compactConfig()
	open := func(m *Manager, p int32) *Log {
		l, err := m.OpenLog(TopicPartition{"t", p}, cfg)
		if err != nil {
			t.Fatal(err)
		}
		return l
	}
	a, b := open(m, 0), open(m, 1)
	plain, err := m.OpenLog(TopicPartition{"plain", 0}, testConfig())
	if err != nil {
		t.Fatal(err)
	}
	writeVersions(t, a, clock, 60, 5)   // many versions per key: dirty
	writeVersions(t, b, clock, 60, 500) // every key new
	writeVersions(t, plain, clock, 60, 5)
	for _, l := range []*Log{a, b, plain} {
		if err := l.Roll(); err != nil {
			t.Fatal(err)
		}
	}
	// Both compacted logs are all dirty: the first pass takes either, the
	// second the other; then nothing is due and the delete-policy log is
	// never touched.
	ctx := context.Background()
	cleaned := map[TopicPartition]bool{}
	for i := 0; i < 2; i++ {
		tp, res, ok, err := m.CleanDirtiest(ctx)
		if err != nil || !ok || res.SegmentsBefore == 0 {
			t.Fatalf("pass %d: %v %v %+v", i, ok, err, res)
		}
		cleaned[tp] = true
	}
	if !cleaned[TopicPartition{"t", 0}] || !cleaned[TopicPartition{"t", 1}] {
		t.Fatalf("cleaned %v", cleaned)
	}
	if tp, _, ok, err := m.CleanDirtiest(ctx); ok || err != nil {
		t.Fatalf("a third pass cleaned %v (%v)", tp, err)
	}
	// New versions in a, a few new keys in b: a is the dirtier.
	writeVersions(t, a, clock, 30, 5)
	writeVersions(t, b, clock, 2, 1000)
	a.Roll()
	b.Roll()
	sa, sb := a.cleanStatus(clock.Now().UnixMilli()), b.cleanStatus(clock.Now().UnixMilli())
	if !(sa.ratio > sb.ratio) {
		t.Fatalf("dirty ratios: a %v, b %v", sa.ratio, sb.ratio)
	}
	cfgB := cfg
	cfgB.MinCleanableDirtyRatio = 0
	b.SetConfig(cfgB)
	if tp, _, ok, err := m.CleanDirtiest(ctx); !ok || err != nil || tp.Partition != 0 {
		t.Fatalf("picked %v (%v %v), want t-0, the dirtiest", tp, ok, err)
	}
	if _, err := m.CleanLog(ctx, TopicPartition{"plain", 0}); !errors.Is(err, ErrNotCompacted) {
		t.Fatalf("CleanLog on a delete-policy log: %v", err)
	}
	if _, err := m.CleanLog(ctx, TopicPartition{"nope", 0}); err == nil {
		t.Fatal("CleanLog of a log that is not open succeeded")
	}

	st := m.CleanerStats()
	if st.Passes != 3 || st.BytesRead == 0 || st.BytesWritten == 0 || st.RecordsRemoved == 0 || st.PassTime <= 0 || len(st.Partitions) != 3 {
		t.Fatalf("stats %+v", st)
	}
	ps := m.CleanerStatus("t")
	if len(ps) != 2 || ps[0].Partition != 0 || !ps[0].Compact || ps[0].DirtyRatio != 0 || ps[0].FirstDirtyOffset != a.mu.segments[len(a.mu.segments)-1].base ||
		ps[0].LastCleanedMs != clock.Now().UnixMilli() || ps[1].DirtyBytes == 0 || ps[1].DirtyRatio <= 0 {
		t.Fatalf("status %+v", ps)
	}
	firstDirty := ps[0].FirstDirtyOffset
	if err := m.Close(); err != nil {
		t.Fatal(err)
	}

	// The cleaner's progress survives the restart.
	m = openTestManager(t, dir, clock)
	defer m.Close()
	a = open(m, 0)
	if got := a.firstDirtyOffset(); got != firstDirty {
		t.Fatalf("first dirty offset %d after reopening, want %d", got, firstDirty)
	}
}

func TestManagerRunsRetentionOnCompactDeleteLogsAfterCleaning(t *testing.T) {
	clock := newManualClock()
	m := openTestManager(t, t.TempDir(), clock)
	defer m.Close()
	cfg := compactConfig()
	cfg.CleanupDelete = true
	cfg.RetentionMs = 60_000
	l, err := m.OpenLog(TopicPartition{"cd", 0}, cfg)
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 90; i++ { // keys compaction keeps, but retention does not
		appendKV(t, l, clock.Now().UnixMilli(), batchOpts{}, kv{key: fmt.Sprint("old", i), value: fmt.Sprintf("%050d", i)})
	}
	clock.Advance(time.Hour)
	writeVersions(t, l, clock, 30, 5)
	l.Roll()
	if _, err := m.CleanLog(context.Background(), TopicPartition{"cd", 0}); err != nil {
		t.Fatal(err)
	}
	if l.LogStartOffset() < 90 {
		t.Fatalf("log start %d after cleaning a compact,delete log; retention should have removed the old half", l.LogStartOffset())
	}
	for _, r := range readRecords(t, l, nil) {
		if r.offset < 90 {
			t.Fatalf("record %v outlived retention", r)
		}
	}
}

// TestManagerCleanerThreadsWorkInTheBackground uses the real clock and
// goroutines: the cleaner threads find dirty logs by themselves, and Close
// stops them.
func TestManagerCleanerThreadsWorkInTheBackground(t *testing.T) {
	m, err := OpenManager(t.TempDir(), ManagerOptions{
		Logger: slog.New(slog.DiscardHandler), CleanerThreads: 2, CleanerBackoff: 5 * time.Millisecond,
		RetentionCheckInterval: 5 * time.Millisecond,
	})
	if err != nil {
		t.Fatal(err)
	}
	cfg := compactConfig()
	var logs []*Log
	for p := int32(0); p < 3; p++ {
		l, err := m.OpenLog(TopicPartition{"bg", p}, cfg)
		if err != nil {
			t.Fatal(err)
		}
		for i := 0; i < 50; i++ {
			appendKV(t, l, time.Now().UnixMilli(), batchOpts{}, kv{key: fmt.Sprint(i % 3), value: fmt.Sprintf("%0100d", i)})
		}
		logs = append(logs, l)
	}
	// A delete-policy log with hour-old records: the retention worker
	// removes them.
	delCfg := testConfig()
	delCfg.SegmentBytes, delCfg.RetentionMs = 1000, 60_000
	del, err := m.OpenLog(TopicPartition{"old", 0}, delCfg)
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 20; i++ {
		appendKV(t, del, time.Now().Add(-time.Hour).UnixMilli(), batchOpts{}, kv{key: "k", value: fmt.Sprintf("%0100d", i)})
	}
	deadline := time.Now().Add(10 * time.Second)
	for del.LogStartOffset() != 20 {
		if time.Now().After(deadline) {
			t.Fatalf("the retention worker left the log starting at %d", del.LogStartOffset())
		}
		time.Sleep(5 * time.Millisecond)
	}
	for {
		done := 0
		for _, l := range logs {
			if st := l.cleanStatus(time.Now().UnixMilli()); st.dirtyBytes == 0 && st.lastCleanMs > 0 {
				done++
			}
		}
		if done == len(logs) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("cleaner threads cleaned %d of %d logs in 10s: %+v", done, len(logs), m.CleanerStats())
		}
		time.Sleep(5 * time.Millisecond)
	}
	for _, l := range logs {
		l.mu.RLock()
		activeBase := l.active().base
		l.mu.RUnlock()
		n := 0
		for _, r := range readRecords(t, l, nil) {
			if r.offset < activeBase {
				n++
			}
		}
		if n > 3 {
			t.Fatalf("%d records of 3 keys left in the cleaned segments", n)
		}
	}
	if err := m.Close(); err != nil {
		t.Fatal(err)
	}
}

// TestCloseAbandonsACleaningPass: closing a log while a pass runs stops the
// pass and leaves no output behind.
func TestCloseAbandonsACleaningPass(t *testing.T) {
	dir := t.TempDir()
	clock := newManualClock()
	cfg := compactConfig()
	cfg.CompactionFilter = "slow"
	l := openTestLog(t, dir, cfg, clock, Options{})
	writeVersions(t, l, clock, 400, 50)
	l.Roll()
	inFilter := make(chan struct{})
	release := make(chan struct{})
	reg := filterRegistry(filterFunc{"slow", filterBlocking(inFilter, release)})
	errc := make(chan error, 1)
	go func() {
		l.cleanMu.Lock()
		_, err := l.clean(context.Background(), testEnv(reg), true)
		l.cleanMu.Unlock()
		errc <- err
	}()
	<-inFilter
	closed := make(chan error, 1)
	go func() { closed <- l.Close() }()
	<-l.closing
	// Close waits for the pass, which gives up at its next check.
	close(release)
	if err := <-errc; !errors.Is(err, errCleanAborted) {
		t.Fatalf("pass ended with %v, want errCleanAborted", err)
	}
	if err := <-closed; err != nil {
		t.Fatal(err)
	}
	if lo := leftovers(t, dir); len(lo) != 0 {
		t.Fatalf("leftovers %v", lo)
	}
}
