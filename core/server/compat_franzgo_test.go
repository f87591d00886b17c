package server

import (
	"context"
	"errors"
	"fmt"
	mrand "math/rand/v2"
	"sync"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// TestCompatFranzGoRoundTrip produces every kind of record with each codec
// and acks mode, and consumes them back byte for byte.
func TestCompatFranzGoRoundTrip(t *testing.T) {
	e := newCompatEnv(t, "")
	for _, codec := range compatCodecs {
		for _, acks := range compatAckModes {
			t.Run(codec.name+"/acks="+acks.name, func(t *testing.T) {
				ctx := compatCtx(t, time.Minute)
				ct := e.newTopic(ctx, t, 1, nil)
				opts := []kgo.Opt{kgo.ProducerBatchCompression(codec.kgo), kgo.RequiredAcks(acks.kgo),
					kgo.RecordPartitioner(kgo.ManualPartitioner())}
				if acks.value != -1 {
					opts = append(opts, kgo.DisableIdempotentWrite())
				}
				cl := e.client(t, opts...)
				want := compatRecords(compatBase())
				if err := cl.ProduceSync(ctx, compatToKgo(ct.name, want)...).FirstErr(); err != nil {
					t.Fatalf("produce: %v", err)
				}
				compatVerifyWithKgo(ctx, t, e, ct.name, want, codec.id)
				if end := compatEndOffset(ctx, t, cl, ct, 0); end != int64(len(want)) {
					t.Fatalf("end offset %d after %d records", end, len(want))
				}
			})
		}
	}
}

// compatOffsetsRecords are ten records one second apart, except the
// fifth, which has the largest timestamp: so the first record at or after
// a time is not always the one with the nearest timestamp, and the
// max-timestamp record is in the middle of the batch.
func compatOffsetsRecords(base int64) []compatRecord {
	recs := make([]compatRecord, 10)
	for i := range recs {
		recs[i] = compatRecord{key: fmt.Appendf(nil, "k%d", i), value: fmt.Appendf(nil, "v%d", i), ts: base + int64(i)*1000}
	}
	recs[4].ts = base + 100_000
	return recs
}

// compatByTimeCases are (query, first offset at or after it, its
// timestamp) for compatOffsetsRecords; offset -1 is none.
func compatByTimeCases(base int64) []struct{ query, offset, ts int64 } {
	return []struct{ query, offset, ts int64 }{
		{base - 5000, 0, base},
		{base, 0, base},
		{base + 1, 1, base + 1000},
		{base + 2500, 3, base + 3000},
		{base + 3000, 3, base + 3000},
		{base + 3500, 4, base + 100_000},
		{base + 9000, 4, base + 100_000},
		{base + 100_000, 4, base + 100_000},
		{base + 100_001, -1, -1},
	}
}

// TestCompatFranzGoOffsetsAndTimestamps consumes from the start, the
// middle and the end, and lists offsets: earliest, latest, by timestamp
// and the max timestamp.
func TestCompatFranzGoOffsetsAndTimestamps(t *testing.T) {
	e := newCompatEnv(t, "")
	ctx := compatCtx(t, time.Minute)
	ct := e.newTopic(ctx, t, 1, nil)
	cl := e.client(t, kgo.RecordPartitioner(kgo.ManualPartitioner()))
	base := compatBase()
	want := compatOffsetsRecords(base)
	if err := cl.ProduceSync(ctx, compatToKgo(ct.name, want)...).FirstErr(); err != nil {
		t.Fatalf("produce: %v", err)
	}

	adm := kadm.NewClient(cl)
	starts, err := adm.ListStartOffsets(ctx, ct.name)
	if err != nil {
		t.Fatal(err)
	}
	ends, err := adm.ListEndOffsets(ctx, ct.name)
	if err != nil {
		t.Fatal(err)
	}
	if s, _ := starts.Lookup(ct.name, 0); s.Err != nil || s.Offset != 0 {
		t.Errorf("earliest: %+v, want offset 0", s)
	}
	if s, _ := ends.Lookup(ct.name, 0); s.Err != nil || s.Offset != 10 {
		t.Errorf("latest: %+v, want offset 10", s)
	}

	for _, c := range compatByTimeCases(base) {
		listed, err := adm.ListOffsetsAfterMilli(ctx, c.query, ct.name)
		if err != nil {
			t.Fatal(err)
		}
		lo, _ := listed.Lookup(ct.name, 0)
		wantOff := c.offset
		if wantOff == -1 {
			wantOff = 10 // kadm answers "none" with the end offset
		}
		if lo.Err != nil || lo.Offset != wantOff || lo.Timestamp != c.ts {
			t.Errorf("ListOffsetsAfterMilli(base%+d) = offset %d timestamp %d err %v, want offset %d timestamp %d",
				c.query-base, lo.Offset, lo.Timestamp, lo.Err, wantOff, c.ts)
		}
		// The raw answer for none is offset -1 (ListOffsets v1+).
		if raw := compatListOffset(ctx, t, cl, ct, 0, c.query); raw.ErrorCode != 0 || raw.Offset != c.offset || raw.Timestamp != c.ts {
			t.Errorf("raw ListOffsets(base%+d) = offset %d timestamp %d error %d, want offset %d timestamp %d",
				c.query-base, raw.Offset, raw.Timestamp, raw.ErrorCode, c.offset, c.ts)
		}
	}

	// Max timestamp (KIP-734): the offset of the record with the largest
	// timestamp, at ListOffsets v7+.
	req := kmsg.NewPtrListOffsetsRequest()
	rt := kmsg.NewListOffsetsRequestTopic()
	rt.Topic = ct.name
	rp := kmsg.NewListOffsetsRequestTopicPartition()
	rp.Timestamp = -3
	rt.Partitions = append(rt.Partitions, rp)
	req.Topics = append(req.Topics, rt)
	resp, err := req.RequestWith(ctx, ct.leader(ctx, t, cl, 0))
	if err != nil {
		t.Fatal(err)
	}
	if resp.Version < 7 {
		t.Errorf("ListOffsets for the max timestamp went at v%d; the broker should support v7+", resp.Version)
	}
	if p := resp.Topics[0].Partitions[0]; p.ErrorCode != 0 || p.Offset != 4 || p.Timestamp != base+100_000 {
		t.Errorf("max timestamp: offset %d timestamp %d error %d, want offset 4 timestamp %d", p.Offset, p.Timestamp, p.ErrorCode, base+100_000)
	}

	compatCheck(t, "from the start", compatFromKgo(compatConsume(ctx, t, e, ct.name, 0, 0, 10)), want, 0, true)
	compatCheck(t, "from the middle", compatFromKgo(compatConsume(ctx, t, e, ct.name, 0, 5, 5)), want[5:], 5, true)

	// From the end: nothing until the next record is produced.
	cons := e.client(t, kgo.ConsumePartitions(map[string]map[int32]kgo.Offset{ct.name: {0: kgo.NewOffset().At(10)}}),
		kgo.FetchMaxWait(200*time.Millisecond))
	pollCtx, cancel := context.WithTimeout(ctx, 500*time.Millisecond)
	fs := cons.PollFetches(pollCtx)
	cancel()
	if recs := fs.Records(); len(recs) != 0 {
		t.Fatalf("consuming from the end returned %d records, first at offset %d", len(recs), recs[0].Offset)
	}
	late := compatRecord{key: []byte("late"), value: []byte("late"), ts: time.Now().UnixMilli()}
	if err := cl.ProduceSync(ctx, compatToKgo(ct.name, []compatRecord{late})...).FirstErr(); err != nil {
		t.Fatal(err)
	}
	for {
		fs := cons.PollFetches(ctx)
		if ctx.Err() != nil {
			t.Fatalf("the record produced after consuming from the end never came: %v", ctx.Err())
		}
		fs.EachError(func(tp string, p int32, err error) { t.Fatalf("fetch %s/%d: %v", tp, p, err) })
		if recs := fs.Records(); len(recs) > 0 {
			compatCheck(t, "from the end", compatFromKgo(recs), []compatRecord{late}, 10, true)
			return
		}
	}
}

const compatTooLargeTOML = "[topic_defaults]\n\"max.message.bytes\" = 10000\n"

var compatTooLargeConfigs = map[string]*string{"max.message.bytes": kmsg.StringPtr("10000")}

// compatRandom returns n incompressible bytes.
func compatRandom(n int) []byte {
	rnd := mrand.New(mrand.NewPCG(uint64(n), 3))
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(rnd.Uint32())
	}
	return b
}

// TestCompatFranzGoMessageTooLarge: a batch over max.message.bytes is
// rejected with MESSAGE_TOO_LARGE, and the broker keeps serving.
func TestCompatFranzGoMessageTooLarge(t *testing.T) {
	e := newCompatEnv(t, compatTooLargeTOML)
	ctx := compatCtx(t, time.Minute)
	ct := e.newTopic(ctx, t, 1, compatTooLargeConfigs)
	cl := e.client(t, kgo.DefaultProduceTopic(ct.name), kgo.RecordPartitioner(kgo.ManualPartitioner()))
	err := cl.ProduceSync(ctx, &kgo.Record{Value: compatRandom(20000)}).FirstErr()
	if !errors.Is(err, kerr.MessageTooLarge) {
		t.Fatalf("producing a 20000-byte record over max.message.bytes=10000: %v, want %v", err, kerr.MessageTooLarge)
	}
	want := []compatRecord{{key: []byte("small"), value: []byte("fits"), ts: compatBase()}}
	r, err := cl.ProduceSync(ctx, compatToKgo(ct.name, want)...).First()
	if err != nil {
		t.Fatalf("producing after the rejection: %v", err)
	}
	if r.Offset != 0 {
		t.Errorf("the record after the rejected one is at offset %d, want 0", r.Offset)
	}
	compatCheck(t, "after the rejection", compatFromKgo(compatConsume(ctx, t, e, ct.name, 0, 0, 1)), want, 0, true)
}

// TestCompatFranzGoIdempotentConcurrent: franz-go's default (idempotent)
// producer, several goroutines, a small buffer, three partitions; every
// record is stored exactly once, and each goroutine's records are in
// order within each partition.
func TestCompatFranzGoIdempotentConcurrent(t *testing.T) {
	e := newCompatEnv(t, "[broker]\n\"num.partitions\" = 3\n")
	ctx := compatCtx(t, 2*time.Minute)
	ct := e.newTopic(ctx, t, 3, nil)
	const producers, each = 8, 1250
	cl := e.client(t, kgo.DefaultProduceTopic(ct.name), kgo.RecordPartitioner(kgo.ManualPartitioner()),
		kgo.MaxBufferedRecords(64), kgo.ProducerLinger(time.Millisecond))
	if compatAPIMax(ctx, t, cl, compatInitProducerIDKey) >= 0 {
		id, epoch, err := cl.ProducerID(ctx)
		if err != nil || id < 0 {
			t.Fatalf("the broker advertises InitProducerID but franz-go got producer id %d epoch %d: %v", id, epoch, err)
		}
	}

	var wg sync.WaitGroup
	for g := range producers {
		wg.Go(func() {
			for i := range each {
				r := &kgo.Record{Partition: int32(i % 3), Value: fmt.Appendf(nil, "%d/%d", g, i)}
				cl.Produce(ctx, r, func(r *kgo.Record, err error) {
					if err != nil {
						t.Errorf("produce %s: %v", r.Value, err)
					}
				})
			}
		})
	}
	wg.Wait()
	if err := cl.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	if t.Failed() {
		t.FailNow()
	}

	seen := make(map[string]bool, producers*each)
	total := 0
	for p := range int32(3) {
		end := compatEndOffset(ctx, t, cl, ct, p)
		total += int(end)
		last := make([]int, producers) // per goroutine: the last i seen in p
		for g := range last {
			last[g] = -1
		}
		for i, r := range compatConsume(ctx, t, e, ct.name, p, 0, int(end)) {
			if r.Offset != int64(i) {
				t.Fatalf("partition %d: record %d at offset %d", p, i, r.Offset)
			}
			var g, n int
			if _, err := fmt.Sscanf(string(r.Value), "%d/%d", &g, &n); err != nil || g < 0 || g >= producers {
				t.Fatalf("partition %d offset %d: unexpected value %q", p, r.Offset, r.Value)
			}
			if seen[string(r.Value)] {
				t.Fatalf("partition %d offset %d: %q stored twice", p, r.Offset, r.Value)
			}
			seen[string(r.Value)] = true
			if int32(n%3) != p || n <= last[g] {
				t.Fatalf("partition %d offset %d: %q after %d/%d (out of order or wrong partition)", p, r.Offset, r.Value, g, last[g])
			}
			last[g] = n
		}
	}
	if total != producers*each || len(seen) != producers*each {
		t.Fatalf("stored %d records (%d distinct), produced %d", total, len(seen), producers*each)
	}
}

// TestCompatFranzGoRestart: what was acknowledged with acks=all is all
// there after the broker restarts on the same data directory, and
// producing continues at the next offset.
func TestCompatFranzGoRestart(t *testing.T) {
	e := newCompatEnv(t, "")
	e.needLocal(t, "restarts the broker")
	ctx := compatCtx(t, time.Minute)
	ct := e.newTopic(ctx, t, 1, nil)
	var want []compatRecord
	for _, codec := range compatCodecs {
		cl := e.client(t, kgo.ProducerBatchCompression(codec.kgo), kgo.RequiredAcks(kgo.AllISRAcks()),
			kgo.RecordPartitioner(kgo.ManualPartitioner()))
		recs := compatRecords(compatBase())
		if err := cl.ProduceSync(ctx, compatToKgo(ct.name, recs)...).FirstErr(); err != nil {
			t.Fatalf("produce with %s: %v", codec.name, err)
		}
		cl.Close()
		want = append(want, recs...)
	}

	e.tb.stop()
	tb := startBroker(t, e.tb.dir, "")
	e = &compatEnv{addrs: []string{tb.addr()}, tb: tb}
	cl := e.client(t, kgo.RecordPartitioner(kgo.ManualPartitioner()))
	req := kmsg.NewPtrMetadataRequest()
	rt := kmsg.NewMetadataRequestTopic()
	rt.Topic = kmsg.StringPtr(ct.name)
	req.Topics = append(req.Topics, rt)
	resp, err := req.RequestWith(ctx, cl)
	if err != nil {
		t.Fatal(err)
	}
	if len(resp.Topics) != 1 || resp.Topics[0].ErrorCode != 0 || resp.Topics[0].TopicID != ct.id {
		t.Fatalf("after the restart the topic is %+v, want id %x", resp.Topics, ct.id)
	}
	ct.leaders[0] = resp.Topics[0].Partitions[0].Leader
	if end := compatEndOffset(ctx, t, cl, ct, 0); end != int64(len(want)) {
		t.Fatalf("end offset after the restart is %d, want %d", end, len(want))
	}
	compatCheck(t, "after the restart", compatFromKgo(compatConsume(ctx, t, e, ct.name, 0, 0, len(want))), want, 0, true)
	r, err := cl.ProduceSync(ctx, compatToKgo(ct.name, []compatRecord{{value: []byte("next"), ts: compatBase()}})...).First()
	if err != nil || r.Offset != int64(len(want)) {
		t.Fatalf("produce after the restart: offset %d, %v; want offset %d", r.Offset, err, len(want))
	}
}
