package log

import (
	"errors"
	"os"
	"strings"
	"sync"
	"syscall"
	"testing"
)

// faultFS wraps the real file system and injects failures into the files
// whose names end in a given suffix — an errorfs in the style of pebble's.
type faultFS struct {
	OSFS
	mu    sync.Mutex
	rules map[string]*faultRule // by file-name suffix
}

type faultRule struct {
	tornWrite    int   // the next write writes only this many bytes, then fails; -1 off
	writeErr     error // the next write fails with this, writing nothing
	truncateErr  error // every truncate fails with this
	syncErr      error // every sync fails with this
	writesFailed int
}

func newFaultFS() *faultFS { return &faultFS{rules: map[string]*faultRule{}} }

func (fs *faultFS) rule(suffix string) *faultRule {
	fs.mu.Lock()
	defer fs.mu.Unlock()
	r, ok := fs.rules[suffix]
	if !ok {
		r = &faultRule{tornWrite: -1}
		fs.rules[suffix] = r
	}
	return r
}

func (fs *faultFS) OpenFile(name string, flag int, perm os.FileMode) (File, error) {
	f, err := fs.OSFS.OpenFile(name, flag, perm)
	if err != nil {
		return nil, err
	}
	return &faultFile{File: f, fs: fs}, nil
}

func (fs *faultFS) match(name string) *faultRule {
	fs.mu.Lock()
	defer fs.mu.Unlock()
	for sfx, r := range fs.rules {
		if strings.HasSuffix(name, sfx) {
			return r
		}
	}
	return nil
}

type faultFile struct {
	File
	fs *faultFS
}

func (f *faultFile) WriteAt(p []byte, off int64) (int, error) {
	if r := f.fs.match(f.Name()); r != nil {
		f.fs.mu.Lock()
		torn, werr := r.tornWrite, r.writeErr
		r.tornWrite, r.writeErr = -1, nil
		if torn >= 0 || werr != nil {
			r.writesFailed++
		}
		f.fs.mu.Unlock()
		if werr != nil {
			return 0, werr
		}
		if torn >= 0 {
			n, _ := f.File.WriteAt(p[:min(torn, len(p))], off)
			return n, syscall.ENOSPC
		}
	}
	return f.File.WriteAt(p, off)
}

func (f *faultFile) Truncate(size int64) error {
	if r := f.fs.match(f.Name()); r != nil && r.truncateErr != nil {
		return r.truncateErr
	}
	return f.File.Truncate(size)
}

func (f *faultFile) Sync() error {
	if r := f.fs.match(f.Name()); r != nil && r.syncErr != nil {
		return r.syncErr
	}
	return f.File.Sync()
}

func TestTornWriteIsUndoneAndLosesNothing(t *testing.T) {
	fs := newFaultFS()
	dir := t.TempDir()
	cfg := testConfig()
	l := openTestLog(t, dir, cfg, newManualClock(), Options{FS: fs})
	for i := 0; i < 5; i++ {
		if _, err := l.AppendAsLeader(makeBatch(t, batchSpec{records: 2, valueSize: 50}), 0); err != nil {
			t.Fatal(err)
		}
	}
	size := l.Size()
	fs.rule(".log").tornWrite = 37
	if _, err := l.AppendAsLeader(makeBatch(t, batchSpec{records: 2, valueSize: 50}), 0); !errors.Is(err, syscall.ENOSPC) {
		t.Fatalf("torn write: err = %v, want ENOSPC", err)
	}
	if l.LogEndOffset() != 10 || l.Size() != size {
		t.Fatalf("after a torn write: end %d size %d, want 10 %d", l.LogEndOffset(), l.Size(), size)
	}
	if fileSize(t, segmentName(dir, 0, logSuffix)) != size {
		t.Fatal("the torn bytes were left in the file")
	}
	fs.rule(".log").writeErr = syscall.EIO
	if _, err := l.AppendAsLeader(makeBatch(t, batchSpec{records: 2, valueSize: 50}), 0); !errors.Is(err, syscall.EIO) {
		t.Fatalf("write error: err = %v, want EIO", err)
	}
	// The log still works, and a crash now recovers everything written.
	if info, err := l.AppendAsLeader(makeBatch(t, batchSpec{records: 2, valueSize: 50}), 0); err != nil || info.FirstOffset != 10 {
		t.Fatalf("append after errors: %+v %v", info, err)
	}
	checkEveryOffset(t, l)
	l.Close()
	l = openTestLog(t, dir, cfg, newManualClock(), Options{})
	defer l.Close()
	if l.LogEndOffset() != 12 {
		t.Fatalf("log end after reopen %d, want 12", l.LogEndOffset())
	}
	checkEveryOffset(t, l)
}

func TestTornWriteThatCannotBeUndoneFencesTheLog(t *testing.T) {
	fs := newFaultFS()
	dir := t.TempDir()
	cfg := testConfig()
	l := openTestLog(t, dir, cfg, newManualClock(), Options{FS: fs})
	for i := 0; i < 3; i++ {
		if _, err := l.AppendAsLeader(makeBatch(t, batchSpec{records: 2, valueSize: 50}), 0); err != nil {
			t.Fatal(err)
		}
	}
	r := fs.rule(".log")
	r.tornWrite = 20
	r.truncateErr = syscall.EIO
	if _, err := l.AppendAsLeader(makeBatch(t, batchSpec{records: 2, valueSize: 50}), 0); !errors.Is(err, ErrLogFailed) {
		t.Fatalf("err = %v, want ErrLogFailed", err)
	}
	if _, err := l.AppendAsLeader(makeBatch(t, batchSpec{records: 2, valueSize: 50}), 0); !errors.Is(err, ErrLogFailed) {
		t.Fatalf("append on a fenced log: err = %v, want ErrLogFailed", err)
	}
	// Reads of what was written still work.
	checkEveryOffset(t, l)
	r.truncateErr = nil
	l.Close()
	// Recovery removes the torn tail.
	l = openTestLog(t, dir, cfg, newManualClock(), Options{})
	defer l.Close()
	if l.LogEndOffset() != 6 {
		t.Fatalf("log end after recovery %d, want 6", l.LogEndOffset())
	}
	checkEveryOffset(t, l)
}

func TestFlushErrorKeepsTheRecoveryPoint(t *testing.T) {
	fs := newFaultFS()
	l := openTestLog(t, t.TempDir(), testConfig(), newManualClock(), Options{FS: fs})
	defer l.Close()
	if _, err := l.AppendAsLeader(makeBatch(t, batchSpec{records: 2, valueSize: 50}), 0); err != nil {
		t.Fatal(err)
	}
	fs.rule(".log").syncErr = syscall.EIO
	if err := l.Flush(); !errors.Is(err, syscall.EIO) {
		t.Fatalf("flush err = %v", err)
	}
	if rp := l.RecoveryPoint(); rp != 0 {
		t.Fatalf("recovery point %d after a failed flush", rp)
	}
	fs.rule(".log").syncErr = nil
	if err := l.Flush(); err != nil || l.RecoveryPoint() != 2 {
		t.Fatalf("flush: %v, recovery point %d", err, l.RecoveryPoint())
	}
}
