package log

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/weirmq/weir/core/record"
)

// manualClock is a Clock tests move by hand.
type manualClock struct {
	mu  sync.Mutex
	now time.Time
}

func newManualClock() *manualClock {
	return &manualClock{now: time.UnixMilli(1_700_000_000_000)}
}

func (c *manualClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *manualClock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
}

// testConfig is DefaultConfig with small indexes, so test directories stay
// small, and no delete delay.
func testConfig() Config {
	c := DefaultConfig()
	c.SegmentIndexBytes = 4096
	c.FileDeleteDelayMs = 0
	return c
}

// batchSpec describes a batch for makeBatch.
type batchSpec struct {
	records   int
	valueSize int
	ts        int64 // timestamp of the first record; each next one is +1
}

// makeBatch builds an uncompressed batch whose values name their index.
func makeBatch(t testing.TB, s batchSpec) []byte {
	t.Helper()
	b := record.NewBuilder(record.BuilderOptions{})
	for i := 0; i < s.records; i++ {
		v := bytes.Repeat([]byte{byte('a' + i%26)}, s.valueSize)
		b.Append([]byte(fmt.Sprintf("k%d", i)), v, s.ts+int64(i), nil)
	}
	out, err := b.Build(nil)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func openTestLog(t testing.TB, dir string, cfg Config, clock Clock, opts Options) *Log {
	t.Helper()
	opts.Clock = clock
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	l, err := Open(dir, cfg, opts)
	if err != nil {
		t.Fatalf("open: %v", err)
	}
	return l
}

// readAll reads every batch from offset to the end through Read and
// returns their headers, checking each CRC.
func readAll(t testing.TB, l *Log, from int64) []record.Header {
	t.Helper()
	var out []record.Header
	for {
		res, err := l.Read(from, l.LogEndOffset(), 1<<20)
		if err != nil {
			t.Fatalf("read at %d: %v", from, err)
		}
		if len(res.Slices) == 0 {
			return out
		}
		for _, sl := range res.Slices {
			buf := make([]byte, sl.Len)
			if _, err := sl.File.ReadAt(buf, sl.Pos); err != nil && !errors.Is(err, io.EOF) {
				t.Fatal(err)
			}
			for len(buf) > 0 {
				batch, rest, err := record.NextBatch(buf)
				if err != nil {
					t.Fatalf("slice at %d: %v", sl.Pos, err)
				}
				h, err := record.Validate(batch)
				if err != nil {
					t.Fatalf("batch at offset %d: %v", h.BaseOffset, err)
				}
				out = append(out, h)
				buf = rest
			}
		}
		from = res.NextOffset
	}
}

// segmentFiles lists the names in dir with the suffix.
func segmentFiles(t testing.TB, dir, suffix string) []string {
	t.Helper()
	m, err := filepath.Glob(filepath.Join(dir, "*"+suffix))
	if err != nil {
		t.Fatal(err)
	}
	for i := range m {
		m[i] = filepath.Base(m[i])
	}
	return m
}

func fileSize(t testing.TB, name string) int64 {
	t.Helper()
	st, err := os.Stat(name)
	if err != nil {
		t.Fatal(err)
	}
	return st.Size()
}

// copyDir copies a flat directory.
func copyDir(t testing.TB, src, dst string) {
	t.Helper()
	if err := os.MkdirAll(dst, 0o755); err != nil {
		t.Fatal(err)
	}
	entries, err := os.ReadDir(src)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		if e.IsDir() {
			continue
		}
		data, err := os.ReadFile(filepath.Join(src, e.Name()))
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dst, e.Name()), data, 0o644); err != nil {
			t.Fatal(err)
		}
	}
}
