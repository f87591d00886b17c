package server

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/weirmq/weir/core/group"
	"github.com/weirmq/weir/core/log"
)

// Tests of the log cleaner through a real broker and real Kafka clients.
// The harness's broker runs no cleaner threads: each test cleans with
// Manager.CleanLog when it wants, so what it checks does not race a pass.

// produceKeyed produces one batch per call of n records, keys cycling over
// nkeys ("k0", "k1", ...), values naming the round; "k0" is a tombstone in
// every tombEvery-th round. It returns every record produced, with its offset.
func produceKeyed(ctx context.Context, t *testing.T, cl *kgo.Client, topic string, rounds, n, nkeys, tombEvery int) []*kgo.Record {
	t.Helper()
	var all []*kgo.Record
	for round := 0; round < rounds; round++ {
		recs := make([]*kgo.Record, n)
		for i := range recs {
			k := (round*n + i) % nkeys
			recs[i] = &kgo.Record{Topic: topic, Key: fmt.Appendf(nil, "k%d", k), Value: fmt.Appendf(nil, "r%d-%d", round, i)}
			if tombEvery > 0 && k == 0 && round%tombEvery == tombEvery-1 {
				recs[i].Value = nil
			}
		}
		if err := cl.ProduceSync(ctx, recs...).FirstErr(); err != nil {
			t.Fatalf("produce: %v", err)
		}
		all = append(all, recs...)
	}
	return all
}

// consumeAll reads a partition from start to its end with a fresh client.
func consumeAll(ctx context.Context, t *testing.T, tb *testBroker, topic string, from kgo.Offset, end int64) []*kgo.Record {
	t.Helper()
	cl := tb.client(kgo.ConsumePartitions(map[string]map[int32]kgo.Offset{topic: {0: from}}))
	var got []*kgo.Record
	for len(got) == 0 || got[len(got)-1].Offset < end-1 {
		fs := cl.PollFetches(ctx)
		if err := ctx.Err(); err != nil {
			t.Fatalf("consumed up to %d of %d: %v", len(got), end, err)
		}
		fs.EachError(func(_ string, _ int32, err error) { t.Fatalf("fetch: %v", err) })
		fs.EachRecord(func(r *kgo.Record) { got = append(got, r) })
	}
	return got
}

func TestFranzGoConsumerReadsACleanedCompactedTopic(t *testing.T) {
	tb := startBroker(t, "", "")
	ctx := adminCtx(t)
	const topic = "compacted"
	tb.createTopic(t, topic, 1, map[string]*string{
		"cleanup.policy": kadm.StringPtr("compact"), "segment.bytes": kadm.StringPtr("2048"),
	})
	// Idempotent (franz-go's default) and gzip: the cleaner keeps producer
	// fields and the codec.
	prod := tb.client(kgo.ProducerBatchCompression(kgo.GzipCompression()))
	// Another producer's only batch, overwritten below: it is kept as an
	// empty batch for its producer's sequence, and consumers skip it.
	all := produceKeyed(ctx, t, tb.client(), topic, 1, 3, 13, 0)
	all = append(all, produceKeyed(ctx, t, prod, topic, 40, 8, 13, 5)...)
	tp := log.TopicPartition{Topic: topic, Partition: 0}
	l := tb.logs.Log(tp)
	if err := l.Roll(); err != nil {
		t.Fatal(err)
	}
	tail := produceKeyed(ctx, t, prod, topic, 2, 8, 13, 0) // stays in the active segment
	all = append(all, tail...)
	end := all[len(all)-1].Offset + 1

	res, err := tb.logs.CleanLog(ctx, tp)
	if err != nil {
		t.Fatal(err)
	}
	if res.RecordsRemoved == 0 || res.EndOffset != tail[0].Offset || res.EmptyBatchesKept != 1 {
		t.Fatalf("clean: %+v", res)
	}
	// Expected: below the active segment, the last record of each key;
	// then everything.
	latest := map[string]int64{}
	for _, r := range all {
		if r.Offset < res.EndOffset {
			latest[string(r.Key)] = r.Offset
		}
	}
	var want []*kgo.Record
	for _, r := range all {
		if r.Offset >= res.EndOffset || latest[string(r.Key)] == r.Offset {
			want = append(want, r)
		}
	}
	got := consumeAll(ctx, t, tb, topic, kgo.NewOffset().AtStart(), end)
	if len(got) != len(want) {
		t.Fatalf("consumed %d records, want %d", len(got), len(want))
	}
	tombstones, wantTombstones := 0, 0
	for _, r := range want {
		if r.Value == nil {
			wantTombstones++
		}
	}
	for i, r := range got {
		w := want[i]
		if r.Offset != w.Offset || string(r.Key) != string(w.Key) || string(r.Value) != string(w.Value) || (r.Value == nil) != (w.Value == nil) {
			t.Fatalf("record %d: offset %d %s=%q, want offset %d %s=%q", i, r.Offset, r.Key, r.Value, w.Offset, w.Key, w.Value)
		}
		if r.Value == nil {
			tombstones++
		}
	}
	if tombstones != wantTombstones || tombstones == 0 {
		t.Fatalf("%d tombstones read, want %d (and at least one)", tombstones, wantTombstones)
	}
	// A consumer starting inside a gap gets the next record kept.
	kept := map[int64]bool{}
	for _, r := range got {
		kept[r.Offset] = true
	}
	gap := int64(5)
	for kept[gap] {
		gap++
	}
	if from := consumeAll(ctx, t, tb, topic, kgo.NewOffset().At(gap), end); from[0].Offset <= gap || from[0].Offset != nextKept(got, gap) {
		t.Fatalf("consuming from the gap at %d starts at %d, want %d", gap, from[0].Offset, nextKept(got, gap))
	}
	// ListOffsets still answers with the log's start and end.
	adm := tb.admin()
	starts, err := adm.ListStartOffsets(ctx, topic)
	if err != nil {
		t.Fatal(err)
	}
	ends, err := adm.ListEndOffsets(ctx, topic)
	if err != nil {
		t.Fatal(err)
	}
	if s, _ := starts.Lookup(topic, 0); s.Offset != 0 {
		t.Fatalf("earliest offset %d, want 0", s.Offset)
	}
	if e, _ := ends.Lookup(topic, 0); e.Offset != end {
		t.Fatalf("latest offset %d, want %d", e.Offset, end)
	}
	// The producer carries on after cleaning, its sequence intact.
	more := produceKeyed(ctx, t, prod, topic, 1, 3, 13, 0)
	if more[0].Offset != end {
		t.Fatalf("next produce at %d, want %d", more[0].Offset, end)
	}
}

func nextKept(got []*kgo.Record, off int64) int64 {
	for _, r := range got {
		if r.Offset >= off {
			return r.Offset
		}
	}
	return -1
}

func TestConsumerOffsetsTopicIsCompactedAndReloaded(t *testing.T) {
	dir := t.TempDir()
	const toml = "[broker]\n\"offsets.topic.num.partitions\" = 1\n\"offsets.topic.segment.bytes\" = 4096\n"
	tb := startBroker(t, dir, toml)
	ctx := adminCtx(t)
	tb.createTopic(t, "data", 2, nil)
	adm := tb.admin()
	const commits = 150
	for i := 1; i <= commits; i++ {
		var os kadm.Offsets
		os.AddOffset("data", 0, int64(i), -1)
		os.AddOffset("data", 1, int64(2*i), -1)
		resp, err := adm.CommitOffsets(ctx, "g", os)
		if err == nil {
			err = resp.Error()
		}
		if err != nil {
			t.Fatalf("commit %d: %v", i, err)
		}
	}
	tp := log.TopicPartition{Topic: group.OffsetsTopic, Partition: 0}
	l := tb.logs.Log(tp)
	if l == nil {
		t.Fatal("no __consumer_offsets-0 log")
	}
	if !l.Config().CleanupCompact {
		t.Fatal("__consumer_offsets is not compacted")
	}
	if err := l.Roll(); err != nil {
		t.Fatal(err)
	}
	sizeBefore := l.Size()
	res, err := tb.logs.CleanLog(ctx, tp)
	if err != nil {
		t.Fatal(err)
	}
	// Two keys (one per partition) were committed 150 times each.
	if res.RecordsRemoved < 2*commits-4 || l.Size() >= sizeBefore/10 {
		t.Fatalf("cleaning __consumer_offsets: %+v; size %d -> %d", res, sizeBefore, l.Size())
	}

	tb.stop()
	tb = startBroker(t, dir, toml)
	adm = tb.admin()
	var fetched kadm.OffsetResponses
	deadline := time.Now().Add(20 * time.Second)
	for {
		fetched, err = adm.FetchOffsets(ctx, "g")
		if err == nil || time.Now().After(deadline) {
			break
		}
		time.Sleep(20 * time.Millisecond) // the coordinator is loading
	}
	if err != nil {
		t.Fatal(err)
	}
	for p, want := range map[int32]int64{0: commits, 1: 2 * commits} {
		if o, ok := fetched.Lookup("data", p); !ok || o.Err != nil || o.At != want {
			t.Fatalf("after the restart, committed offset of data-%d: %+v, want %d", p, o, want)
		}
	}
}

func TestCleanupPolicyChangesAtRunTime(t *testing.T) {
	tb := startBroker(t, "", "")
	ctx := adminCtx(t)
	const topic = "policy"
	tb.createTopic(t, topic, 1, map[string]*string{"segment.bytes": kadm.StringPtr("2048")})
	prod := tb.client()
	produceKeyed(ctx, t, prod, topic, 20, 5, 3, 0)
	tp := log.TopicPartition{Topic: topic, Partition: 0}
	l := tb.logs.Log(tp)
	if err := l.Roll(); err != nil {
		t.Fatal(err)
	}
	if _, err := tb.logs.CleanLog(ctx, tp); !errors.Is(err, log.ErrNotCompacted) {
		t.Fatalf("cleaning a delete-policy topic: %v", err)
	}
	adm := tb.admin()
	alter := func(name, value string) {
		t.Helper()
		resps, err := adm.AlterTopicConfigs(ctx, []kadm.AlterConfig{{Op: kadm.SetConfig, Name: name, Value: kadm.StringPtr(value)}}, topic)
		if err == nil {
			err = resps[0].Err
		}
		if err != nil {
			t.Fatalf("setting %s=%s: %v", name, value, err)
		}
	}
	alter("cleanup.policy", "compact")
	if cfg := l.Config(); !cfg.CleanupCompact || cfg.CleanupDelete {
		t.Fatalf("log config after AlterConfigs: compact %v delete %v", cfg.CleanupCompact, cfg.CleanupDelete)
	}
	res, err := tb.logs.CleanLog(ctx, tp)
	if err != nil || res.RecordsRemoved != 100-3 {
		t.Fatalf("clean after the switch to compact: %+v, %v", res, err)
	}
	st := tb.logs.CleanerStatus(topic)
	if len(st) != 1 || !st[0].Compact || st[0].DirtyBytes != 0 || st[0].LastCleanedMs == 0 {
		t.Fatalf("cleaner status %+v", st)
	}

	// Back to delete, with a short retention: retention applies again.
	alter("cleanup.policy", "delete")
	alter("retention.ms", "1")
	produceKeyed(ctx, t, prod, topic, 1, 5, 3, 0)
	time.Sleep(5 * time.Millisecond) // the records must be older than retention.ms
	tb.logs.EnforceRetention()
	if start := l.LogStartOffset(); start != l.LogEndOffset() {
		t.Fatalf("retention left the log at %d..%d", start, l.LogEndOffset())
	}
}

func TestCleanerMetrics(t *testing.T) {
	tb := startBroker(t, "", "")
	tb.metrics.SetCleanerStats(tb.logs.CleanerStats)
	ctx := adminCtx(t)
	const topic = "metered"
	tb.createTopic(t, topic, 1, map[string]*string{"cleanup.policy": kadm.StringPtr("compact")})
	produceKeyed(ctx, t, tb.client(), topic, 10, 5, 2, 0)
	tp := log.TopicPartition{Topic: topic, Partition: 0}
	if err := tb.logs.Log(tp).Roll(); err != nil {
		t.Fatal(err)
	}
	gauge := func(name string) (float64, bool) {
		t.Helper()
		mfs, err := tb.metrics.Registry().Gather()
		if err != nil {
			t.Fatal(err)
		}
		for _, mf := range mfs {
			if mf.GetName() != name {
				continue
			}
			for _, m := range mf.GetMetric() {
				labels := map[string]string{}
				for _, l := range m.GetLabel() {
					labels[l.GetName()] = l.GetValue()
				}
				if len(labels) > 0 && labels["topic"] != topic {
					continue
				}
				if m.GetCounter() != nil {
					return m.GetCounter().GetValue(), true
				}
				return m.GetGauge().GetValue(), true
			}
		}
		return 0, false
	}
	if r, ok := gauge("weir_log_cleaner_dirty_ratio"); !ok || r != 1 {
		t.Fatalf("dirty ratio before cleaning: %v %v", r, ok)
	}
	if d, ok := gauge("weir_log_cleaner_dirty_bytes"); !ok || d == 0 {
		t.Fatalf("dirty bytes before cleaning: %v %v", d, ok)
	}
	if _, err := tb.logs.CleanLog(ctx, tp); err != nil {
		t.Fatal(err)
	}
	for name, check := range map[string]func(float64) bool{
		"weir_log_cleaner_passes_total":          func(v float64) bool { return v == 1 },
		"weir_log_cleaner_bytes_read_total":      func(v float64) bool { return v > 0 },
		"weir_log_cleaner_bytes_written_total":   func(v float64) bool { return v > 0 },
		"weir_log_cleaner_records_removed_total": func(v float64) bool { return v == 48 },
		"weir_log_cleaner_pass_seconds_total":    func(v float64) bool { return v > 0 },
		"weir_log_cleaner_dirty_ratio":           func(v float64) bool { return v == 0 },
		"weir_log_cleaner_lag_seconds":           func(v float64) bool { return v == 0 },
		"weir_log_cleaner_uncleanable":           func(v float64) bool { return v == 0 },
	} {
		if v, ok := gauge(name); !ok || !check(v) {
			t.Errorf("%s = %v (present %v) after one pass", name, v, ok)
		}
	}
}
