package log

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/weirmq/weir/codecs"
	"github.com/weirmq/weir/core/record"
	"github.com/weirmq/weir/sdk"
)

// testRegistry has the built-in codecs, for compressed batches.
func testRegistry(t testing.TB) *sdk.Registry {
	t.Helper()
	reg := sdk.NewRegistry()
	if err := codecs.Register(reg); err != nil {
		t.Fatal(err)
	}
	return reg
}

// compactConfig is a compact-only topic with small segments that the
// cleaner may clean at once.
func compactConfig() Config {
	cfg := testConfig()
	cfg.CleanupCompact, cfg.CleanupDelete = true, false
	cfg.SegmentBytes = 2048
	cfg.IndexIntervalBytes = 256
	cfg.DeleteRetentionMs = 3_600_000
	cfg.MinCleanableDirtyRatio = 0.5
	return cfg
}

// kv is one record for appendKV; tomb makes a null value.
type kv struct {
	key, value string
	tomb       bool
	headers    []record.RecordHeader
}

// batchOpts are the batch-wide fields appendKV sets.
type batchOpts struct {
	codec         sdk.Codec
	producerID    int64 // 0: none
	producerEpoch int16
	baseSequence  int32
	transactional bool
	control       bool
}

// buildKV builds one batch of recs with timestamps ts, ts+1, ...
func buildKV(t testing.TB, ts int64, o batchOpts, recs ...kv) []byte {
	t.Helper()
	bo := record.BuilderOptions{Codec: o.codec, Transactional: o.transactional, Control: o.control}
	if o.producerID > 0 {
		bo.HasProducerID, bo.ProducerID, bo.ProducerEpoch, bo.BaseSequence = true, o.producerID, o.producerEpoch, o.baseSequence
	}
	b := record.NewBuilder(bo)
	for i, r := range recs {
		var key, value []byte
		if r.key != "" {
			key = []byte(r.key)
		}
		if !r.tomb {
			value = []byte(r.value)
		}
		b.Append(key, value, ts+int64(i), r.headers)
	}
	out, err := b.Build(nil)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// appendKV appends one batch and returns its first offset.
func appendKV(t testing.TB, l *Log, ts int64, o batchOpts, recs ...kv) int64 {
	t.Helper()
	info, err := l.AppendAsLeader(buildKV(t, ts, o, recs...), 0)
	if err != nil {
		t.Fatal(err)
	}
	return info.FirstOffset
}

// rec is a record as read back: its offset and contents.
type rec struct {
	offset     int64
	key, value string
	tomb       bool
	headers    string
}

func (r rec) String() string {
	v := r.value
	if r.tomb {
		v = "<tombstone>"
	}
	return fmt.Sprintf("%d:%s=%s%s", r.offset, r.key, v, r.headers)
}

// readBatches reads every batch of l through Read, checking CRCs, and
// returns them with their headers.
func readBatches(t testing.TB, l *Log) ([][]byte, []record.Header) {
	t.Helper()
	var batches [][]byte
	var hs []record.Header
	from := l.LogStartOffset()
	for {
		res, err := l.Read(from, l.LogEndOffset(), 1<<20)
		if err != nil {
			t.Fatalf("read at %d: %v", from, err)
		}
		if len(res.Slices) == 0 {
			return batches, hs
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
				if len(hs) > 0 && h.BaseOffset <= hs[len(hs)-1].LastOffset() {
					t.Fatalf("batch at %d follows one ending at %d", h.BaseOffset, hs[len(hs)-1].LastOffset())
				}
				batches = append(batches, batch)
				hs = append(hs, h)
				buf = rest
			}
		}
		from = res.NextOffset
	}
}

// readRecords decodes every record of l, in offset order.
func readRecords(t testing.TB, l *Log, codecs record.CodecSource) []rec {
	t.Helper()
	batches, _ := readBatches(t, l)
	var out []rec
	for _, b := range batches {
		it, err := record.NewIterator(b, codecs, 64<<20)
		if err != nil {
			t.Fatal(err)
		}
		for r, ok := it.Next(); ok; r, ok = it.Next() {
			x := rec{offset: r.Offset, key: string(r.Key), value: string(r.Value), tomb: r.Value == nil}
			for _, h := range r.Headers {
				x.headers += fmt.Sprintf(" [%s=%s]", h.Key, h.Value)
			}
			out = append(out, x)
		}
		if err := it.Err(); err != nil {
			t.Fatal(err)
		}
	}
	return out
}

// checkReadsAcrossGaps reads at every offset from the log start to the end
// and checks that the answer starts with the first batch that holds an
// offset at or after it — what a consumer reading a compacted log needs.
func checkReadsAcrossGaps(t testing.TB, l *Log) {
	t.Helper()
	_, hs := readBatches(t, l)
	leo := l.LogEndOffset()
	j := 0
	for off := l.LogStartOffset(); off < leo; off++ {
		for j < len(hs) && hs[j].LastOffset() < off {
			j++
		}
		res, err := l.Read(off, leo, 1)
		if err != nil {
			t.Fatalf("read %d: %v", off, err)
		}
		if j == len(hs) {
			if len(res.Slices) != 0 {
				t.Fatalf("read %d past the last batch returned data", off)
			}
			continue
		}
		if res.FirstOffset != hs[j].BaseOffset {
			t.Fatalf("read %d starts at batch %d, want %d", off, res.FirstOffset, hs[j].BaseOffset)
		}
	}
}

// testEnv is a cleaning environment for a log-level pass.
func testEnv(filters CompactionFilters) *cleanEnv {
	env := newCleanEnv(0, filters, nil, slog.New(slog.DiscardHandler))
	env.topic, env.partition = "t", 0
	return env
}

// cleanNow runs a forced pass and fails the test on error.
func cleanNow(t testing.TB, l *Log, filters CompactionFilters) CleanResult {
	t.Helper()
	l.cleanMu.Lock()
	defer l.cleanMu.Unlock()
	res, err := l.clean(context.Background(), testEnv(filters), true)
	if err != nil && !errors.Is(err, errNothingToClean) {
		t.Fatalf("clean: %v", err)
	}
	return res
}

// leftovers lists files of interrupted operations in dir.
func leftovers(t testing.TB, dir string) []string {
	t.Helper()
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, e := range entries {
		n := e.Name()
		if strings.HasSuffix(n, cleanedSuffix) || strings.HasSuffix(n, swapSuffix) || n == swapManifestFile ||
			strings.HasSuffix(n, ".tmp") {
			out = append(out, n)
		}
	}
	return out
}

func recStrings(rs []rec) []string {
	out := make([]string, len(rs))
	for i, r := range rs {
		out[i] = r.String()
	}
	return out
}

func sameRecs(a, b []rec) bool {
	return strings.Join(recStrings(a), "\n") == strings.Join(recStrings(b), "\n")
}

func logFiles(t testing.TB, dir string) []string {
	t.Helper()
	m, err := filepath.Glob(filepath.Join(dir, "*.log"))
	if err != nil {
		t.Fatal(err)
	}
	return m
}
