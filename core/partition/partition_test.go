package partition

import (
	"context"
	"errors"
	"log/slog"
	"math"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/weirmq/weir/core/log"
	"github.com/weirmq/weir/core/record"
)

var quiet = slog.New(slog.DiscardHandler)

func openLog(t *testing.T, dir string) *log.Log {
	t.Helper()
	cfg := log.DefaultConfig()
	cfg.SegmentIndexBytes = 4096
	l, err := log.Open(dir, cfg, log.Options{Logger: quiet})
	if err != nil {
		t.Fatal(err)
	}
	return l
}

// openLeader opens the partition and makes it the leader of a partition
// whose only replica is broker 1, as a single-node broker does.
func openLeader(l *log.Log, opts Options) (*Partition, error) {
	opts.LocalID = 1
	p, err := Open("t", 0, l, opts)
	if err != nil {
		return nil, err
	}
	if _, err := p.MakeLeader(Leadership{Leader: 1, Replicas: []int32{1}, ISR: []int32{1}}); err != nil {
		return nil, err
	}
	return p, nil
}

func lenient() Config {
	return Config{TimestampBeforeMaxMs: math.MaxInt64, TimestampAfterMaxMs: math.MaxInt64}
}

type batchOpts struct {
	pid      int64
	epoch    int16
	seq      int32
	records  int
	ts       int64
	noProdID bool
}

func batch(t *testing.T, o batchOpts) []byte {
	t.Helper()
	b := record.NewBuilder(record.BuilderOptions{HasProducerID: !o.noProdID, ProducerID: o.pid, ProducerEpoch: o.epoch, BaseSequence: o.seq})
	for i := 0; i < max(o.records, 1); i++ {
		b.Append([]byte("k"), []byte("v"), o.ts+int64(i), nil)
	}
	out, err := b.Build(nil)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func TestIdempotentRetryIsWrittenOnceAndAnsweredWithItsOffsets(t *testing.T) {
	l := openLog(t, t.TempDir())
	defer l.Close()
	p, err := openLeader(l, Options{Config: lenient(), Logger: quiet})
	if err != nil {
		t.Fatal(err)
	}
	r1, err := p.AppendAsLeader(batch(t, batchOpts{pid: 7, seq: 0, records: 3}), 1)
	if err != nil || r1.BaseOffset != 0 || r1.Duplicate {
		t.Fatalf("first: %+v %v", r1, err)
	}
	r2, err := p.AppendAsLeader(batch(t, batchOpts{pid: 7, seq: 3, records: 2}), 1)
	if err != nil || r2.BaseOffset != 3 {
		t.Fatalf("second: %+v %v", r2, err)
	}
	// Retries of both: same offsets, nothing written.
	for _, tc := range []struct {
		seq, n int
		want   int64
	}{{0, 3, 0}, {3, 2, 3}} {
		r, err := p.AppendAsLeader(batch(t, batchOpts{pid: 7, seq: int32(tc.seq), records: tc.n}), 1)
		if err != nil || !r.Duplicate || r.BaseOffset != tc.want {
			t.Fatalf("retry of seq %d: %+v %v", tc.seq, r, err)
		}
	}
	if leo := p.LogEndOffset(); leo != 5 {
		t.Fatalf("log end %d after retries, want 5", leo)
	}
	for _, tc := range []struct {
		name string
		o    batchOpts
		want error
	}{
		{"gap in sequence", batchOpts{pid: 7, seq: 9}, ErrOutOfOrderSequence},
		{"stale epoch", batchOpts{pid: 7, epoch: -1, seq: 5}, ErrProducerFenced},
		{"new epoch not at 0", batchOpts{pid: 7, epoch: 1, seq: 5}, ErrOutOfOrderSequence},
		{"unknown producer mid-sequence", batchOpts{pid: 8, seq: 4}, ErrUnknownProducerID},
	} {
		if _, err := p.AppendAsLeader(batch(t, tc.o), 1); !errors.Is(err, tc.want) {
			t.Errorf("%s: err = %v, want %v", tc.name, err, tc.want)
		}
	}
	// A new epoch from 0 is accepted and fences the old one.
	if _, err := p.AppendAsLeader(batch(t, batchOpts{pid: 7, epoch: 1, seq: 0}), 1); err != nil {
		t.Fatal(err)
	}
	if _, err := p.AppendAsLeader(batch(t, batchOpts{pid: 7, epoch: 0, seq: 5}), 1); !errors.Is(err, ErrProducerFenced) {
		t.Fatalf("old epoch after bump: %v", err)
	}
	if leo := p.LogEndOffset(); leo != 6 {
		t.Fatalf("log end %d, want 6", leo)
	}
}

func TestProducerStateSurvivesARestart(t *testing.T) {
	dir := t.TempDir()
	l := openLog(t, dir)
	p, _ := openLeader(l, Options{Config: lenient(), Logger: quiet})
	for seq := int32(0); seq < 12; seq += 2 {
		if _, err := p.AppendAsLeader(batch(t, batchOpts{pid: 42, seq: seq, records: 2}), 1); err != nil {
			t.Fatal(err)
		}
	}
	p.Close()
	l.Close()

	l = openLog(t, dir)
	defer l.Close()
	p, err := openLeader(l, Options{Config: lenient(), Logger: quiet})
	if err != nil {
		t.Fatal(err)
	}
	r, err := p.AppendAsLeader(batch(t, batchOpts{pid: 42, seq: 10, records: 2}), 1)
	if err != nil || !r.Duplicate || r.BaseOffset != 10 {
		t.Fatalf("retry after restart: %+v %v", r, err)
	}
	if _, err := p.AppendAsLeader(batch(t, batchOpts{pid: 42, seq: 13}), 1); !errors.Is(err, ErrOutOfOrderSequence) {
		t.Fatalf("gap after restart: %v", err)
	}
	if r, err := p.AppendAsLeader(batch(t, batchOpts{pid: 42, seq: 12}), 1); err != nil || r.BaseOffset != 12 {
		t.Fatalf("next after restart: %+v %v", r, err)
	}
	if got := p.Producers(); len(got) != 1 || got[0].LastSequence != 12 {
		t.Fatalf("producers %+v", got)
	}
}

func TestAppendRules(t *testing.T) {
	l := openLog(t, t.TempDir())
	defer l.Close()
	now := time.UnixMilli(1_700_000_000_000)
	p, _ := openLeader(l, Options{Logger: quiet, Now: func() time.Time { return now },
		Config: Config{TimestampBeforeMaxMs: 1000, TimestampAfterMaxMs: 1000}})
	two := append(batch(t, batchOpts{noProdID: true, ts: now.UnixMilli()}), batch(t, batchOpts{noProdID: true, ts: now.UnixMilli()})...)
	if _, err := p.AppendAsLeader(two, 1); !errors.Is(err, ErrInvalidRecord) {
		t.Fatalf("two batches: %v", err)
	}
	if _, err := p.AppendAsLeader(batch(t, batchOpts{noProdID: true, ts: now.UnixMilli() - 5000}), 1); !errors.Is(err, ErrInvalidTimestamp) {
		t.Fatalf("old timestamp: %v", err)
	}
	if _, err := p.AppendAsLeader(batch(t, batchOpts{noProdID: true, ts: now.UnixMilli() + 5000}), 1); !errors.Is(err, ErrInvalidTimestamp) {
		t.Fatalf("future timestamp: %v", err)
	}
	p.SetConfig(Config{LogAppendTime: true})
	r, err := p.AppendAsLeader(batch(t, batchOpts{noProdID: true, ts: 5}), 1)
	if err != nil || r.LogAppendTime != now.UnixMilli() {
		t.Fatalf("log append time: %+v %v", r, err)
	}
	res, err := p.Read(0, 1<<20)
	if err != nil || len(res.Slices) != 1 {
		t.Fatalf("read: %+v %v", res, err)
	}
	buf := make([]byte, res.Slices[0].Len)
	res.Slices[0].File.ReadAt(buf, res.Slices[0].Pos)
	h, err := record.Validate(buf)
	if err != nil || !h.Attributes.LogAppendTime() || h.MaxTimestamp != now.UnixMilli() {
		t.Fatalf("stored batch: %+v %v", h, err)
	}
}

func TestWaitersWakeWhenTheHighWatermarkMoves(t *testing.T) {
	l := openLog(t, t.TempDir())
	defer l.Close()
	p, _ := openLeader(l, Options{Config: lenient(), Logger: quiet})
	w := NewWaiter()
	p.Watch(w)
	res, err := p.AppendAsLeader(batch(t, batchOpts{noProdID: true}), -1)
	if err != nil {
		t.Fatal(err)
	}
	select {
	case <-w.C():
	case <-time.After(10 * time.Second):
		t.Fatal("watcher not woken")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := p.WaitForAcks(ctx, res); err != nil {
		t.Fatalf("WaitForAcks: %v", err)
	}
	if p.HighWatermark() != 1 {
		t.Fatalf("HW %d", p.HighWatermark())
	}
	ctx, cancel = context.WithCancel(context.Background())
	cancel()
	if err := p.WaitForAcks(ctx, AppendResult{LastOffset: 5, LeaderEpoch: res.LeaderEpoch}); !errors.Is(err, context.Canceled) {
		t.Fatalf("cancelled wait: %v", err)
	}
}

func TestProducerStateSnapshotIsUsedAndThenRemoved(t *testing.T) {
	dir := t.TempDir()
	l := openLog(t, dir)
	p, _ := openLeader(l, Options{Config: lenient(), Logger: quiet})
	for seq := int32(0); seq < 6; seq += 2 {
		if _, err := p.AppendAsLeader(batch(t, batchOpts{pid: 5, seq: seq, records: 2}), 1); err != nil {
			t.Fatal(err)
		}
	}
	p.Close()
	if _, err := os.Stat(filepath.Join(dir, snapshotFile)); err != nil {
		t.Fatalf("no snapshot after Close: %v", err)
	}
	// Append behind the snapshot's back, as if the partition had been
	// reopened and written without closing cleanly.
	p2, _ := openLeader(l, Options{Config: lenient(), Logger: quiet})
	if _, err := os.Stat(filepath.Join(dir, snapshotFile)); !os.IsNotExist(err) {
		t.Fatal("snapshot not removed after loading")
	}
	if _, err := p2.AppendAsLeader(batch(t, batchOpts{pid: 5, seq: 6, records: 2}), 1); err != nil {
		t.Fatal(err)
	}
	p3, err := openLeader(l, Options{Config: lenient(), Logger: quiet})
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	if r, err := p3.AppendAsLeader(batch(t, batchOpts{pid: 5, seq: 6, records: 2}), 1); err != nil || !r.Duplicate || r.BaseOffset != 6 {
		t.Fatalf("retry of the batch written after the snapshot: %+v %v", r, err)
	}
	if r, err := p3.AppendAsLeader(batch(t, batchOpts{pid: 5, seq: 2, records: 2}), 1); err != nil || !r.Duplicate || r.BaseOffset != 2 {
		t.Fatalf("retry of a batch from the snapshot: %+v %v", r, err)
	}
}
