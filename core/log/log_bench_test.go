package log

import (
	"log/slog"
	"math/rand/v2"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/weirmq/weir/core/record"
)

// benchBatch is 16 records of 1 KiB values: a 16 KiB batch.
func benchBatch(b *testing.B) []byte {
	b.Helper()
	return makeBatch(b, batchSpec{records: 16, valueSize: 1024 - 16, ts: 1_700_000_000_000})
}

// BenchmarkAppend compares Log.AppendAsLeader (validation with the CRC
// check, offset assignment, index upkeep, segment rolls) with a plain
// sequential write of the same bytes to one file. Each iteration does one
// of each, alternating, and times them separately, so both see the same
// machine (page cache, other load); it reports both rates and their ratio.
// The acceptance target is ratio ≥ 0.8 and 0 allocs per append.
func BenchmarkAppend(b *testing.B) {
	batch := benchBatch(b)
	dir := b.TempDir()
	cfg := DefaultConfig()
	cfg.SegmentBytes = 256 << 20
	l, err := Open(filepath.Join(dir, "log"), cfg, Options{Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		b.Fatal(err)
	}
	defer l.Close()
	newPlain := func() *os.File {
		f, err := os.Create(filepath.Join(dir, "plain"))
		if err != nil {
			b.Fatal(err)
		}
		return f
	}
	f := newPlain()
	defer f.Close()
	var pos int64
	var logTime, writeTime time.Duration
	b.SetBytes(int64(len(batch)))
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		t0 := time.Now()
		if _, err := l.AppendAsLeader(batch, 1); err != nil {
			b.Fatal(err)
		}
		t1 := time.Now()
		// The same file-size bound as the log's segments.
		if pos >= cfg.SegmentBytes {
			f.Close()
			f, pos = newPlain(), 0
		}
		if _, err := f.WriteAt(batch, pos); err != nil {
			b.Fatal(err)
		}
		pos += int64(len(batch))
		writeTime += time.Since(t1)
		logTime += t1.Sub(t0)
	}
	mb := float64(b.N) * float64(len(batch)) / 1e6
	b.ReportMetric(mb/logTime.Seconds(), "log-MB/s")
	b.ReportMetric(mb/writeTime.Seconds(), "write-MB/s")
	b.ReportMetric(writeTime.Seconds()/logTime.Seconds(), "log/write")
}

// BenchmarkReadSlice measures finding the slice for a random offset in a
// 64 MiB log of 1 KiB records (index lookup + header walk).
func BenchmarkReadSlice(b *testing.B) {
	cfg := DefaultConfig()
	cfg.SegmentBytes = 16 << 20
	l, err := Open(b.TempDir(), cfg, Options{Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		b.Fatal(err)
	}
	defer l.Close()
	for l.Size() < 64<<20 {
		bb := record.NewBuilder(record.BuilderOptions{})
		for i := 0; i < 4; i++ {
			bb.Append(nil, make([]byte, 1000), 1, nil)
		}
		batch, _ := bb.Build(nil)
		if _, err := l.AppendAsLeader(batch, 0); err != nil {
			b.Fatal(err)
		}
	}
	leo := l.LogEndOffset()
	rng := rand.New(rand.NewPCG(1, 1))
	for _, size := range []struct {
		name     string
		maxBytes int64
	}{{"one-batch", 1}, {"1MiB", 1 << 20}} {
		b.Run(size.name, func(b *testing.B) {
			b.ReportAllocs()
			for i := 0; i < b.N; i++ {
				if _, err := l.Read(rng.Int64N(leo), leo, size.maxBytes); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
