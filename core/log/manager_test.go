package log

import (
	"log/slog"
	"os"
	"path/filepath"
	"reflect"
	"testing"
)

func openTestManager(t *testing.T, dir string, clock Clock) *Manager {
	t.Helper()
	m, err := OpenManager(dir, ManagerOptions{Clock: clock, Logger: slog.New(slog.DiscardHandler), DisableBackgroundWorker: true})
	if err != nil {
		t.Fatal(err)
	}
	return m
}

func TestManagerCleanShutdownAndCheckpoints(t *testing.T) {
	dir := t.TempDir()
	clock := newManualClock()
	m := openTestManager(t, dir, clock)
	if m.CleanShutdown() {
		t.Fatal("a new directory reported a clean shutdown")
	}
	tps := []TopicPartition{{"orders", 0}, {"orders", 1}, {"a-b-c", 12}}
	for i, tp := range tps {
		l, err := m.OpenLog(tp, testConfig())
		if err != nil {
			t.Fatal(err)
		}
		for j := 0; j <= i; j++ {
			if _, err := l.AppendAsLeader(makeBatch(t, batchSpec{records: 2, valueSize: 10}), 0); err != nil {
				t.Fatal(err)
			}
		}
	}
	if _, err := m.Log(tps[2]).DeleteRecordsBefore(3); err != nil {
		t.Fatal(err)
	}
	if err := m.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(dir, cleanShutdownFile)); err != nil {
		t.Fatalf("no clean-shutdown marker after Close: %v", err)
	}

	m = openTestManager(t, dir, clock)
	defer m.Close()
	if !m.CleanShutdown() {
		t.Fatal("clean shutdown not seen")
	}
	if _, err := os.Stat(filepath.Join(dir, cleanShutdownFile)); !os.IsNotExist(err) {
		t.Fatal("the marker must be removed at start, so a crash is seen as unclean")
	}
	got, err := m.Partitions()
	if err != nil {
		t.Fatal(err)
	}
	want := []TopicPartition{{"a-b-c", 12}, {"orders", 0}, {"orders", 1}}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("partitions %v, want %v", got, want)
	}
	for i, tp := range tps {
		l, err := m.OpenLog(tp, testConfig())
		if err != nil {
			t.Fatal(err)
		}
		if leo := l.LogEndOffset(); leo != int64(2*(i+1)) {
			t.Fatalf("%s: log end %d", tp, leo)
		}
		if rp := l.RecoveryPoint(); rp != l.LogEndOffset() {
			t.Fatalf("%s: recovery point %d", tp, rp)
		}
	}
	if s := m.Log(tps[2]).LogStartOffset(); s != 3 {
		t.Fatalf("log start offset %d not restored from its checkpoint", s)
	}
}

func TestManagerRecoversAfterACrash(t *testing.T) {
	dir := t.TempDir()
	clock := newManualClock()
	m := openTestManager(t, dir, clock)
	tp := TopicPartition{"t", 0}
	l, err := m.OpenLog(tp, testConfig())
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 5; i++ {
		if _, err := l.AppendAsLeader(makeBatch(t, batchSpec{records: 2, valueSize: 10}), 0); err != nil {
			t.Fatal(err)
		}
	}
	if err := l.Flush(); err != nil {
		t.Fatal(err)
	}
	if err := m.Checkpoint(); err != nil {
		t.Fatal(err)
	}
	if _, err := l.AppendAsLeader(makeBatch(t, batchSpec{records: 2, valueSize: 10}), 0); err != nil {
		t.Fatal(err)
	}
	// "Crash": copy the directory as it is now, torn tail included.
	crash := t.TempDir()
	copyDir(t, dir, crash)
	copyDir(t, filepath.Join(dir, "t-0"), filepath.Join(crash, "t-0"))
	logFile := filepath.Join(crash, "t-0", "00000000000000000000.log")
	if err := os.Truncate(logFile, fileSize(t, logFile)-5); err != nil {
		t.Fatal(err)
	}
	m.Close()

	m2 := openTestManager(t, crash, clock)
	defer m2.Close()
	if m2.CleanShutdown() {
		t.Fatal("crash seen as a clean shutdown")
	}
	l2, err := m2.OpenLog(tp, testConfig())
	if err != nil {
		t.Fatal(err)
	}
	if leo := l2.LogEndOffset(); leo != 10 {
		t.Fatalf("log end %d after recovery, want 10", leo)
	}
	checkEveryOffset(t, l2)
}

func TestManagerMaintenanceEnforcesRetentionAndFlush(t *testing.T) {
	clock := newManualClock()
	m := openTestManager(t, t.TempDir(), clock)
	defer m.Close()
	cfg := testConfig()
	cfg.SegmentBytes = 500
	cfg.RetentionMs = 1000
	cfg.FlushMs = 100
	l, err := m.OpenLog(TopicPartition{"t", 0}, cfg)
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 6; i++ {
		if _, err := l.AppendAsLeader(makeBatch(t, batchSpec{records: 2, valueSize: 100, ts: clock.Now().UnixMilli()}), 0); err != nil {
			t.Fatal(err)
		}
	}
	clock.Advance(2000 * 1e6)
	m.FlushDue()
	if l.RecoveryPoint() != 12 {
		t.Fatalf("recovery point %d after FlushDue", l.RecoveryPoint())
	}
	m.EnforceRetention()
	if l.LogStartOffset() != 12 || l.Size() != 0 {
		t.Fatalf("after retention: start %d size %d", l.LogStartOffset(), l.Size())
	}
}

func TestParseTopicPartition(t *testing.T) {
	for _, tc := range []struct {
		in string
		tp TopicPartition
		ok bool
	}{
		{"orders-0", TopicPartition{"orders", 0}, true},
		{"a-b-17", TopicPartition{"a-b", 17}, true},
		{"__consumer_offsets-49", TopicPartition{"__consumer_offsets", 49}, true},
		{"orders", TopicPartition{}, false},
		{"-3", TopicPartition{}, false},
		{"x-", TopicPartition{}, false},
		{"x-01", TopicPartition{}, false},
		{"x--1", TopicPartition{"x-", 1}, true},
		{"x-+1", TopicPartition{}, false},
		{"x-99999999999", TopicPartition{}, false},
	} {
		tp, ok := ParseTopicPartition(tc.in)
		if ok != tc.ok || tp != tc.tp {
			t.Errorf("ParseTopicPartition(%q) = %v %v", tc.in, tp, ok)
		}
	}
}

func TestCheckpointRejectsGarbage(t *testing.T) {
	dir := t.TempDir()
	for _, body := range []string{"1\n0\n", "0\n99999999999\n", "0\n2\na 1 2\n", "0\n1\na 1\n", ""} {
		name := filepath.Join(dir, "cp")
		if err := os.WriteFile(name, []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
		if _, err := readCheckpoint(OSFS{}, name, 3); err == nil {
			t.Errorf("checkpoint %q accepted", body)
		}
	}
	if rows, err := readCheckpoint(OSFS{}, filepath.Join(dir, "missing"), 3); err != nil || rows != nil {
		t.Fatalf("missing checkpoint: %v %v", rows, err)
	}
}
