package log_test

import (
	"context"
	"log/slog"
	"math"
	"testing"
	"time"

	"github.com/weirmq/weir/core/log"
	"github.com/weirmq/weir/core/partition"
	"github.com/weirmq/weir/core/record"
)

// idemBatch is an idempotent producer's batch of one record per key.
func idemBatch(t *testing.T, pid int64, seq int32, keys ...string) []byte {
	t.Helper()
	b := record.NewBuilder(record.BuilderOptions{HasProducerID: true, ProducerID: pid, BaseSequence: seq})
	for _, k := range keys {
		b.Append([]byte(k), []byte("from producer"), time.Now().UnixMilli(), nil)
	}
	out, err := b.Build(nil)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// TestIdempotentProducerStateSurvivesCleaning: the cleaner thins and
// empties an idempotent producer's batches, and a retry of the producer's
// last batch is still answered as a duplicate, with its original offsets —
// by the running partition, and by one that rebuilt its producer state
// from the cleaned log (as after a crash, with no snapshot) — while the
// producer's next batch is accepted.
func TestIdempotentProducerStateSurvivesCleaning(t *testing.T) {
	m, err := log.OpenManager(t.TempDir(), log.ManagerOptions{Logger: slog.New(slog.DiscardHandler), DisableBackgroundWorker: true})
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	cfg := log.DefaultConfig()
	cfg.CleanupCompact, cfg.CleanupDelete = true, false
	cfg.SegmentIndexBytes, cfg.FileDeleteDelayMs = 4096, 0
	tp := log.TopicPartition{Topic: "idem", Partition: 0}
	l, err := m.OpenLog(tp, cfg)
	if err != nil {
		t.Fatal(err)
	}
	p := openLeader(t, l)
	appendBatch := func(p *partition.Partition, batch []byte) partition.AppendResult {
		t.Helper()
		res, err := p.AppendAsLeader(append([]byte(nil), batch...), 1)
		if err != nil {
			t.Fatal(err)
		}
		return res
	}
	// Producer 42's last batch will be emptied; producer 43's thinned.
	appendBatch(p, idemBatch(t, 42, 0, "a", "b"))
	last42 := idemBatch(t, 42, 2, "c", "d")
	first42 := appendBatch(p, last42)
	last43 := idemBatch(t, 43, 0, "x", "y", "z")
	first43 := appendBatch(p, last43)
	overwrite := record.NewBuilder(record.BuilderOptions{})
	for _, k := range []string{"a", "b", "c", "d", "y"} {
		overwrite.Append([]byte(k), []byte("newer"), time.Now().UnixMilli(), nil)
	}
	ow, _ := overwrite.Build(nil)
	appendBatch(p, ow)
	if err := l.Roll(); err != nil {
		t.Fatal(err)
	}
	res, err := m.CleanLog(context.Background(), tp)
	if err != nil || res.EmptyBatchesKept != 1 || res.RecordsRemoved != 5 {
		t.Fatalf("clean: %+v, %v", res, err)
	}

	check := func(name string, p *partition.Partition) {
		t.Helper()
		for _, c := range []struct {
			batch []byte
			first partition.AppendResult
		}{{last42, first42}, {last43, first43}} {
			r, err := p.AppendAsLeader(append([]byte(nil), c.batch...), 1)
			if err != nil || !r.Duplicate || r.BaseOffset != c.first.BaseOffset || r.LastOffset != c.first.LastOffset {
				t.Fatalf("%s: retry of a last batch: %+v, %v; want a duplicate at %d-%d", name, r, err, c.first.BaseOffset, c.first.LastOffset)
			}
		}
	}
	check("running partition", p)

	// A partition rebuilt from the log alone (no snapshot: Close was
	// never called, as after a crash).
	p2 := openLeader(t, l)
	check("rebuilt partition", p2)
	for _, b := range [][]byte{idemBatch(t, 42, 4, "e"), idemBatch(t, 43, 3, "w")} {
		if r, err := p2.AppendAsLeader(b, 1); err != nil || r.Duplicate {
			t.Fatalf("next batch after the rebuild: %+v, %v", r, err)
		}
	}
}

// openLeader opens a partition on l as the leader of a one-replica
// partition, as a single-node broker does.
func openLeader(t *testing.T, l *log.Log) *partition.Partition {
	t.Helper()
	p, err := partition.Open("idem", 0, l, partition.Options{LocalID: 1, Logger: slog.New(slog.DiscardHandler),
		Config: partition.Config{TimestampBeforeMaxMs: math.MaxInt64, TimestampAfterMaxMs: math.MaxInt64}})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := p.MakeLeader(partition.Leadership{Leader: 1, Replicas: []int32{1}, ISR: []int32{1}}); err != nil {
		t.Fatal(err)
	}
	return p
}
