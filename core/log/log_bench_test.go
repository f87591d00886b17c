package log

import (
	"log/slog"
	"math/rand/v2"
	"os"
	"path/filepath"
	"testing"

	"github.com/weirmq/weir/core/record"
)

// benchBatch is 16 records of 1 KiB values: a 16 KiB batch.
func benchBatch(b *testing.B) []byte {
	b.Helper()
	return makeBatch(b, batchSpec{records: 16, valueSize: 1024 - 16, ts: 1_700_000_000_000})
}

// BenchmarkAppend compares Log.AppendAsLeader (validate + CRC check,
// offset assignment, index upkeep, segment rolls) with a plain sequential
// write of the same bytes to one file. The acceptance target is
// log MB/s ≥ 0.8 × write MB/s, and 0 allocs per append.
func BenchmarkAppend(b *testing.B) {
	batch := benchBatch(b)
	b.Run("log", func(b *testing.B) {
		cfg := DefaultConfig()
		cfg.SegmentBytes = 256 << 20
		l, err := Open(b.TempDir(), cfg, Options{Logger: slog.New(slog.DiscardHandler)})
		if err != nil {
			b.Fatal(err)
		}
		defer l.Close()
		b.SetBytes(int64(len(batch)))
		b.ReportAllocs()
		b.ResetTimer()
		for i := 0; i < b.N; i++ {
			if _, err := l.AppendAsLeader(batch, 1); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("write", func(b *testing.B) {
		f, err := os.Create(filepath.Join(b.TempDir(), "plain"))
		if err != nil {
			b.Fatal(err)
		}
		defer f.Close()
		b.SetBytes(int64(len(batch)))
		b.ReportAllocs()
		b.ResetTimer()
		var pos int64
		for i := 0; i < b.N; i++ {
			// The same file-size bound as the log's segments, so both pay
			// for the same file sizes.
			if pos >= 256<<20 {
				f.Close()
				if f, err = os.Create(filepath.Join(b.TempDir(), "plain")); err != nil {
					b.Fatal(err)
				}
				pos = 0
			}
			if _, err := f.WriteAt(batch, pos); err != nil {
				b.Fatal(err)
			}
			pos += int64(len(batch))
		}
	})
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
