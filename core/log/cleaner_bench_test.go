package log

import (
	"context"
	"io"
	"log/slog"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/weirmq/weir/core/record"
)

// Benchmarks of the log cleaner. The log size defaults to 64 MiB so that
// `make bench` stays quick; set WEIR_CLEANER_BENCH_BYTES (a number of
// bytes, or with a KiB/MiB/GiB suffix) for the 1 GiB run:
//
//	WEIR_CLEANER_BENCH_BYTES=1GiB TMPDIR=/dev/shm go test -run '^$' -bench Cleaner -benchtime 3x ./core/log/

const (
	benchValueSize  = 512
	benchPerBatch   = 32
	benchLiveShare  = 10 // one key per this many records: ~10% of records live
	benchSegmentCap = 128 << 20
)

func benchLogBytes(b *testing.B) int64 {
	s := strings.TrimSpace(os.Getenv("WEIR_CLEANER_BENCH_BYTES"))
	if s == "" {
		return 64 << 20
	}
	mult := int64(1)
	for _, u := range []struct {
		sfx string
		m   int64
	}{{"GiB", 1 << 30}, {"MiB", 1 << 20}, {"KiB", 1 << 10}} {
		if v, ok := strings.CutSuffix(s, u.sfx); ok {
			s, mult = v, u.m
			break
		}
	}
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil || n <= 0 {
		b.Fatalf("WEIR_CLEANER_BENCH_BYTES=%q: want a positive size such as 1GiB", os.Getenv("WEIR_CLEANER_BENCH_BYTES"))
	}
	return n * mult
}

func benchCleanConfig() Config {
	cfg := DefaultConfig()
	cfg.CleanupCompact, cfg.CleanupDelete = true, false
	cfg.SegmentBytes = benchSegmentCap
	cfg.FileDeleteDelayMs = 0
	return cfg
}

// buildDirtyLog writes about size bytes of 512-byte records in batches of
// 32, keys drawn at random from a space of one key per ten records, so
// that about 10% of the records are the latest of their key, spread over
// the whole log. It returns the number of records.
func buildDirtyLog(b *testing.B, dir string, size int64) int64 {
	b.Helper()
	l, err := Open(dir, benchCleanConfig(), Options{Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		b.Fatal(err)
	}
	rng := rand.New(rand.NewPCG(1, 2))
	recSize := int64(benchValueSize + 30)
	n := size / recSize
	keys := max(n/benchLiveShare, 1)
	value := make([]byte, benchValueSize)
	bld := record.NewBuilder(record.BuilderOptions{})
	var batch []byte
	ts := time.Now().UnixMilli()
	for i := int64(0); i < n; i += benchPerBatch {
		bld.Reset(record.BuilderOptions{})
		for j := 0; j < benchPerBatch; j++ {
			k := rng.Int64N(keys)
			value[0] = byte(j)
			bld.Append(strconv.AppendInt([]byte("key-"), k, 10), value, ts, nil)
		}
		if batch, err = bld.Build(batch[:0]); err != nil {
			b.Fatal(err)
		}
		if _, err := l.AppendAsLeader(batch, 0); err != nil {
			b.Fatal(err)
		}
	}
	if err := l.Roll(); err != nil {
		b.Fatal(err)
	}
	if err := l.Close(); err != nil {
		b.Fatal(err)
	}
	return n
}

// warm reads every file in dir once. Freshly written tmpfs pages are slow
// to read the first time on some VMs (the host backs guest memory lazily:
// 300 MB/s, then 2 GB/s); reading them first makes the benchmark measure
// the cleaner, as on a host whose page cache holds the log.
func warm(b *testing.B, dir string) {
	b.Helper()
	entries, err := os.ReadDir(dir)
	if err != nil {
		b.Fatal(err)
	}
	for _, e := range entries {
		f, err := os.Open(filepath.Join(dir, e.Name()))
		if err != nil {
			b.Fatal(err)
		}
		if _, err := io.Copy(io.Discard, f); err != nil {
			b.Fatal(err)
		}
		f.Close()
	}
}

func copyTree(b *testing.B, src, dst string) {
	b.Helper()
	if err := os.MkdirAll(dst, 0o755); err != nil {
		b.Fatal(err)
	}
	entries, err := os.ReadDir(src)
	if err != nil {
		b.Fatal(err)
	}
	for _, e := range entries {
		in, err := os.Open(filepath.Join(src, e.Name()))
		if err != nil {
			b.Fatal(err)
		}
		out, err := os.Create(filepath.Join(dst, e.Name()))
		if err != nil {
			b.Fatal(err)
		}
		if _, err := io.Copy(out, in); err != nil {
			b.Fatal(err)
		}
		in.Close()
		out.Close()
	}
}

// BenchmarkCleanerThroughput times one full cleaning pass (mapping the
// keys, rewriting every segment, the swap) of a freshly written log with
// 10% live keys. MB/s is the log's size over the pass's time.
func BenchmarkCleanerThroughput(b *testing.B) {
	size := benchLogBytes(b)
	src := filepath.Join(b.TempDir(), "src")
	records := buildDirtyLog(b, src, size)
	var logBytes int64
	entries, _ := os.ReadDir(src)
	for _, e := range entries {
		if strings.HasSuffix(e.Name(), logSuffix) {
			info, _ := e.Info()
			logBytes += info.Size()
		}
	}
	b.SetBytes(logBytes)
	b.ReportAllocs()
	var res CleanResult
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		b.StopTimer()
		dir := filepath.Join(b.TempDir(), "log")
		copyTree(b, src, dir)
		warm(b, dir)
		l, err := Open(dir, benchCleanConfig(), Options{Logger: slog.New(slog.DiscardHandler), CleanShutdown: true})
		if err != nil {
			b.Fatal(err)
		}
		env := newCleanEnv(0, nil, nil, slog.New(slog.DiscardHandler))
		b.StartTimer()
		l.cleanMu.Lock()
		res, err = l.clean(context.Background(), env, true)
		l.cleanMu.Unlock()
		b.StopTimer()
		if err != nil {
			b.Fatal(err)
		}
		l.Close()
		os.RemoveAll(dir)
		b.StartTimer()
	}
	b.ReportMetric(float64(res.BytesAfter)/float64(res.BytesBefore)*100, "%kept")
	b.ReportMetric(float64(records-res.RecordsRemoved)/float64(records)*100, "%live")
}

// BenchmarkProduceLatencyWhileCleaning measures appends of 1 KiB batches
// to a compacted log, one at a time, with the cleaner idle and with it
// cleaning the same log over and over (each pass rewrites everything below
// the active segment and swaps it in under the log's lock). It reports the
// 50th, 99th and 99.9th percentile append latency.
func BenchmarkProduceLatencyWhileCleaning(b *testing.B) {
	size := min(benchLogBytes(b), 256<<20)
	for _, mode := range []string{"idle", "cleaning"} {
		b.Run(mode, func(b *testing.B) {
			dir := filepath.Join(b.TempDir(), "log")
			buildDirtyLog(b, dir, size)
			cfg := benchCleanConfig()
			cfg.SegmentBytes = 4 << 20 // appends roll, so passes find new dirty segments
			l, err := Open(dir, cfg, Options{Logger: slog.New(slog.DiscardHandler), CleanShutdown: true})
			if err != nil {
				b.Fatal(err)
			}
			defer l.Close()
			ctx, cancel := context.WithCancel(context.Background())
			var wg sync.WaitGroup
			passes := 0
			if mode == "cleaning" {
				wg.Add(1)
				go func() {
					defer wg.Done()
					env := newCleanEnv(0, nil, nil, slog.New(slog.DiscardHandler))
					for ctx.Err() == nil {
						l.cleanMu.Lock()
						_, err := l.clean(ctx, env, true)
						l.cleanMu.Unlock()
						if err == nil {
							passes++
						}
					}
				}()
			}
			batch := makeBatch(b, batchSpec{records: 16, valueSize: 48, ts: time.Now().UnixMilli()})
			lat := make([]time.Duration, 0, b.N)
			b.SetBytes(int64(len(batch)))
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				t0 := time.Now()
				if _, err := l.AppendAsLeader(batch, 0); err != nil {
					b.Fatal(err)
				}
				lat = append(lat, time.Since(t0))
			}
			b.StopTimer()
			cancel()
			wg.Wait()
			slices.Sort(lat)
			pct := func(p float64) float64 { return float64(lat[min(int(float64(len(lat))*p), len(lat)-1)].Nanoseconds()) }
			b.ReportMetric(pct(0.50), "p50-ns")
			b.ReportMetric(pct(0.99), "p99-ns")
			b.ReportMetric(pct(0.999), "p99.9-ns")
			b.ReportMetric(float64(lat[len(lat)-1].Nanoseconds()), "max-ns")
			if mode == "cleaning" {
				b.ReportMetric(float64(passes), "passes")
			}
		})
	}
}
