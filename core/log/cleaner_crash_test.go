package log

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
)

// crashFS is the real file system until its crashAt-th mutating operation
// (creating a file, writing, truncating, syncing, renaming, removing), which
// fails, as does every mutating operation after it: the process "died"
// there, and the directory is left as that moment left it. Reads keep
// working, so the dead log can be closed without changing the disk.
type crashFS struct {
	OSFS
	mu      sync.Mutex
	crashAt int // -1: never
	ops     []string
	crashed bool
}

var errCrash = errors.New("crashed")

func (fs *crashFS) step(op, name string) error {
	fs.mu.Lock()
	defer fs.mu.Unlock()
	if fs.crashed {
		return errCrash
	}
	if len(fs.ops) == fs.crashAt {
		fs.crashed = true
		return errCrash
	}
	fs.ops = append(fs.ops, op+" "+filepath.Base(name))
	return nil
}

func (fs *crashFS) OpenFile(name string, flag int, perm os.FileMode) (File, error) {
	if flag&os.O_CREATE != 0 {
		if err := fs.step("create", name); err != nil {
			return nil, err
		}
	}
	f, err := fs.OSFS.OpenFile(name, flag, perm)
	if err != nil {
		return nil, err
	}
	return &crashFile{File: f, fs: fs}, nil
}

func (fs *crashFS) Remove(name string) error {
	if err := fs.step("remove", name); err != nil {
		return err
	}
	return fs.OSFS.Remove(name)
}

func (fs *crashFS) Rename(from, to string) error {
	if err := fs.step("rename", from+" -> "+filepath.Base(to)); err != nil {
		return err
	}
	return fs.OSFS.Rename(from, to)
}

func (fs *crashFS) SyncDir(dir string) error {
	if err := fs.step("syncdir", dir); err != nil {
		return err
	}
	return fs.OSFS.SyncDir(dir)
}

type crashFile struct {
	File
	fs *crashFS
}

func (f *crashFile) WriteAt(p []byte, off int64) (int, error) {
	if err := f.fs.step("write", f.Name()); err != nil {
		return 0, err
	}
	return f.File.WriteAt(p, off)
}

func (f *crashFile) Truncate(size int64) error {
	if err := f.fs.step("truncate", f.Name()); err != nil {
		return err
	}
	return f.File.Truncate(size)
}

func (f *crashFile) Sync() error {
	if err := f.fs.step("sync", f.Name()); err != nil {
		return err
	}
	return f.File.Sync()
}

// TestCleanerCrashAtEveryStepLeavesTheOldOrTheNewLog runs a cleaning pass
// that crashes at each of its file-system operations in turn — writing the
// .cleaned files, renaming them to .swap, writing the manifest, renaming
// the old segments to .deleted and the .swap files live, removing the
// manifest, reaping — then reopens the directory as a restarted broker
// would. The log must hold exactly the records it held before the pass or
// exactly those a finished pass leaves, with no leftover files, and take
// appends and further cleaning.
func TestCleanerCrashAtEveryStepLeavesTheOldOrTheNewLog(t *testing.T) {
	clock := newManualClock()
	cfg := compactConfig()
	cfg.SegmentBytes = 1500
	src := t.TempDir()
	l := openTestLog(t, src, cfg, clock, Options{})
	writeVersions(t, l, clock, 45, 6)
	appendKV(t, l, clock.Now().UnixMilli(), batchOpts{}, kv{key: "k00", tomb: true})
	if err := l.Roll(); err != nil {
		t.Fatal(err)
	}
	appendKV(t, l, clock.Now().UnixMilli(), batchOpts{}, kv{key: "tail", value: "in the active segment"})
	before := readRecords(t, l, nil)
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}

	// A pass that does not crash: what "after" looks like, and how many
	// operations the pass takes.
	ref := filepath.Join(t.TempDir(), "ref")
	copyDir(t, src, ref)
	counter := &crashFS{crashAt: -1}
	l = openTestLog(t, ref, cfg, clock, Options{FS: counter, CleanShutdown: true})
	counter.mu.Lock()
	counter.ops = nil
	counter.mu.Unlock()
	res := cleanNow(t, l, nil)
	after := readRecords(t, l, nil)
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	steps := len(counter.ops)
	if res.SegmentsBefore < 3 || sameRecs(before, after) || steps < 20 {
		t.Fatalf("test setup: %d segments cleaned in %d steps", res.SegmentsBefore, steps)
	}
	var sawOld, sawNew bool
	for crashAt := 0; crashAt <= steps; crashAt++ {
		dir := filepath.Join(t.TempDir(), fmt.Sprintf("crash-%d", crashAt))
		copyDir(t, src, dir)
		fs := &crashFS{crashAt: -1}
		l := openTestLog(t, dir, cfg, clock, Options{FS: fs, CleanShutdown: true})
		fs.mu.Lock()
		fs.crashAt, fs.ops = crashAt, nil
		fs.mu.Unlock()
		l.cleanMu.Lock()
		_, err := l.clean(context.Background(), testEnv(nil), true)
		l.cleanMu.Unlock()
		step := "after the last step"
		if crashAt < steps {
			step = "at step " + counter.ops[crashAt]
			// Removing the replaced segments' files is logged, not
			// returned: the pass had succeeded.
			if err != nil && !errors.Is(err, errCrash) {
				t.Fatalf("crash %s: clean returned %v", step, err)
			}
		}
		// The process dies: nothing more reaches the disk.
		fs.mu.Lock()
		fs.crashed = true
		fs.mu.Unlock()
		l.Close()

		// Restart, with and without the checkpointed recovery point.
		rp := int64(0)
		if crashAt%2 == 0 {
			rp = before[len(before)-1].offset
		}
		l = openTestLog(t, dir, cfg, clock, Options{RecoveryPoint: rp})
		got := readRecords(t, l, nil)
		switch {
		case sameRecs(got, before):
			sawOld = true
		case sameRecs(got, after):
			sawNew = true
		default:
			t.Fatalf("crash %s: the log holds neither the old nor the new records:\n%s", step, strings.Join(recStrings(got), "\n"))
		}
		if lo := leftovers(t, dir); len(lo) != 0 {
			t.Fatalf("crash %s: leftover files %v after reopening", step, lo)
		}
		checkReadsAcrossGaps(t, l)
		appendKV(t, l, clock.Now().UnixMilli(), batchOpts{}, kv{key: "new", value: "after the restart"})
		if err := l.Roll(); err != nil {
			t.Fatal(err)
		}
		cleanNow(t, l, nil)
		final := readRecords(t, l, nil)
		if n := len(final); n != len(after)+1 || !sameRecs(final[:n-1], after) {
			t.Fatalf("crash %s: cleaning after the restart gave\n%s", step, strings.Join(recStrings(final), "\n"))
		}
		if err := l.Close(); err != nil {
			t.Fatal(err)
		}
	}
	if !sawOld || !sawNew {
		t.Fatalf("crashes left the old log: %v, the new log: %v; want both", sawOld, sawNew)
	}
}

// TestSwapRecoveryWithAnUnreadableManifestRollsForward: a committed swap
// whose manifest is damaged is finished by offset ranges, as Kafka does.
func TestSwapRecoveryWithAnUnreadableManifestRollsForward(t *testing.T) {
	clock := newManualClock()
	cfg := compactConfig()
	src := t.TempDir()
	l := openTestLog(t, src, cfg, clock, Options{})
	writeVersions(t, l, clock, 40, 4)
	if err := l.Roll(); err != nil {
		t.Fatal(err)
	}
	ref := filepath.Join(t.TempDir(), "ref")
	l.Close()
	copyDir(t, src, ref)
	l = openTestLog(t, ref, cfg, clock, Options{CleanShutdown: true})
	cleanNow(t, l, nil)
	after := readRecords(t, l, nil)
	l.Close()

	// Crash right after the commit, then damage the manifest.
	counter := &crashFS{crashAt: -1}
	dir := filepath.Join(t.TempDir(), "count")
	copyDir(t, src, dir)
	l = openTestLog(t, dir, cfg, clock, Options{FS: counter, CleanShutdown: true})
	counter.ops = nil
	cleanNow(t, l, nil)
	l.Close()
	commit := -1
	for i, op := range counter.ops {
		if strings.HasPrefix(op, "rename "+swapManifestFile+".tmp") {
			commit = i
		}
	}
	if commit < 0 {
		t.Fatalf("no manifest commit among %v", counter.ops)
	}
	dir = filepath.Join(t.TempDir(), "crash")
	copyDir(t, src, dir)
	fs := &crashFS{crashAt: -1}
	l = openTestLog(t, dir, cfg, clock, Options{FS: fs, CleanShutdown: true})
	fs.mu.Lock()
	fs.crashAt, fs.ops = commit+1, nil
	fs.mu.Unlock()
	l.cleanMu.Lock()
	if _, err := l.clean(context.Background(), testEnv(nil), true); !errors.Is(err, errCrash) {
		t.Fatalf("clean: %v", err)
	}
	l.cleanMu.Unlock()
	fs.crashed = true
	l.Close()
	if err := os.WriteFile(filepath.Join(dir, swapManifestFile), []byte("0\n7\ngarbage"), 0o644); err != nil {
		t.Fatal(err)
	}
	l = openTestLog(t, dir, cfg, clock, Options{})
	defer l.Close()
	if got := readRecords(t, l, nil); !sameRecs(got, after) {
		t.Fatalf("after recovery:\n%s\nwant\n%s", strings.Join(recStrings(got), "\n"), strings.Join(recStrings(after), "\n"))
	}
	if lo := leftovers(t, dir); len(lo) != 0 {
		t.Fatalf("leftovers %v", lo)
	}
}

// A manifest whose new segments are nowhere (it outlived a swap that never
// completed) must not cost the old segments their records.
func TestStaleSwapManifestLosesNothing(t *testing.T) {
	dir := t.TempDir()
	clock := newManualClock()
	l := openTestLog(t, dir, testConfig(), clock, Options{})
	for i := 0; i < 3; i++ {
		if _, err := l.AppendAsLeader(makeBatch(t, batchSpec{records: 1, valueSize: 8, ts: clock.Now().UnixMilli()}), 0); err != nil {
			t.Fatal(err)
		}
		if err := l.Roll(); err != nil {
			t.Fatal(err)
		}
	}
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, swapManifestFile), []byte("0\n3\nold 0\nold 1\nnew 0\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	l = openTestLog(t, dir, testConfig(), clock, Options{})
	defer l.Close()
	if got := l.LogEndOffset(); got != 3 {
		t.Fatalf("log end offset %d after a stale manifest, want 3", got)
	}
	if _, err := os.Stat(filepath.Join(dir, swapManifestFile)); !os.IsNotExist(err) {
		t.Fatalf("manifest left behind: %v", err)
	}
	if hs := readAll(t, l, 0); len(hs) != 3 {
		t.Fatalf("%d batches after recovery, want all 3", len(hs))
	}
}
