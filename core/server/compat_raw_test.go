package server

import (
	"context"
	"encoding/binary"
	"fmt"
	"hash/crc32"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
	"github.com/twmb/franz-go/pkg/kversion"

	"github.com/weirmq/weir/core/record"
)

// Raw protocol compatibility: requests built with kmsg, as a client that
// does its own batching (or a misbehaving one) sends them.

// compatProduce sends one batch to one partition with acks=all and returns
// the partition's answer.
func compatProduce(ctx context.Context, t *testing.T, cl *kgo.Client, ct compatTopic, partition int32, batch []byte) kmsg.ProduceResponseTopicPartition {
	t.Helper()
	req := kmsg.NewPtrProduceRequest()
	req.Acks, req.TimeoutMillis = -1, 10_000
	rt := kmsg.NewProduceRequestTopic()
	rt.Topic, rt.TopicID = ct.name, ct.id
	rp := kmsg.NewProduceRequestTopicPartition()
	rp.Partition, rp.Records = partition, batch
	rt.Partitions = append(rt.Partitions, rp)
	req.Topics = append(req.Topics, rt)
	resp, err := req.RequestWith(ctx, ct.leader(ctx, t, cl, partition))
	if err != nil {
		t.Fatalf("produce to %s/%d: %v", ct.name, partition, err)
	}
	if len(resp.Topics) != 1 || len(resp.Topics[0].Partitions) != 1 {
		t.Fatalf("produce to %s/%d: malformed response %+v", ct.name, partition, resp)
	}
	return resp.Topics[0].Partitions[0]
}

type compatFetchLimits struct{ minBytes, maxWaitMs, maxBytes, partitionMaxBytes int32 }

// compatFetch sends a sessionless Fetch for one partition (by name, or by
// topic ID at v13+) and returns the response and the partition's answer.
func compatFetch(ctx context.Context, t *testing.T, br kmsg.Requestor, ct compatTopic, partition int32, offset int64, l compatFetchLimits) (*kmsg.FetchResponse, kmsg.FetchResponseTopicPartition) {
	t.Helper()
	req := kmsg.NewPtrFetchRequest()
	req.ReplicaID, req.SessionID, req.SessionEpoch = -1, 0, -1
	req.MinBytes, req.MaxWaitMillis, req.MaxBytes = l.minBytes, l.maxWaitMs, l.maxBytes
	rt := kmsg.NewFetchRequestTopic()
	rt.Topic, rt.TopicID = ct.name, ct.id
	rp := kmsg.NewFetchRequestTopicPartition()
	rp.Partition, rp.FetchOffset, rp.PartitionMaxBytes = partition, offset, l.partitionMaxBytes
	rp.CurrentLeaderEpoch, rp.LastFetchedEpoch, rp.LogStartOffset = -1, -1, -1
	rt.Partitions = append(rt.Partitions, rp)
	req.Topics = append(req.Topics, rt)
	resp, err := req.RequestWith(ctx, br)
	if err != nil {
		t.Fatalf("fetch %s/%d at %d: %v", ct.name, partition, offset, err)
	}
	if err := kerr.ErrorForCode(resp.ErrorCode); err != nil {
		t.Fatalf("fetch %s/%d at %d: %v", ct.name, partition, offset, err)
	}
	if len(resp.Topics) != 1 || len(resp.Topics[0].Partitions) != 1 {
		t.Fatalf("fetch %s/%d: malformed response %+v", ct.name, partition, resp)
	}
	return resp, resp.Topics[0].Partitions[0]
}

// compatFetched decodes a raw fetch answer the way franz-go's consumer
// does (CRCs checked, batches decompressed, a trailing partial batch
// dropped), keeping records from offset on.
func compatFetched(t *testing.T, ct compatTopic, p kmsg.FetchResponseTopicPartition, offset int64) []compatRecord {
	t.Helper()
	fp, _ := kgo.ProcessFetchPartition(kgo.ProcessFetchPartitionOpts{Topic: ct.name, Partition: p.Partition, Offset: offset}, &p, kgo.DefaultDecompressor(), nil)
	if fp.Err != nil {
		t.Fatalf("fetched partition %s/%d: %v", ct.name, p.Partition, fp.Err)
	}
	return compatFromKgo(fp.Records)
}

// compatVersionedClient is a franz-go client that sends the API key at
// most at version v.
func compatVersionedClient(t *testing.T, e *compatEnv, key, v int16) *kgo.Client {
	vs := kversion.Stable()
	vs.SetMaxKeyVersion(key, v)
	return e.client(t, kgo.MaxVersions(vs))
}

var compatCastagnoli = crc32.MakeTable(crc32.Castagnoli)

// compatSplitBatches splits fetched record bytes into whole v2 batches,
// checking each one's CRC, and returns the length of an incomplete batch
// at the end (Kafka may send one, cut at the byte limit; Weir sends whole
// batches).
func compatSplitBatches(t *testing.T, b []byte) (batches []kmsg.RecordBatch, sizes []int, trailing int) {
	t.Helper()
	for len(b) > 0 {
		if len(b) < 12 {
			return batches, sizes, len(b)
		}
		size := 12 + int(int32(binary.BigEndian.Uint32(b[8:12])))
		if size > len(b) {
			return batches, sizes, len(b)
		}
		var rb kmsg.RecordBatch
		if err := rb.ReadFrom(b[:size]); err != nil {
			t.Fatalf("fetched batch at byte %d: %v", len(b), err)
		}
		if rb.Magic != 2 || crc32.Checksum(b[21:size], compatCastagnoli) != uint32(rb.CRC) {
			t.Fatalf("fetched batch at offset %d: magic %d, CRC %08x does not match its bytes", rb.FirstOffset, rb.Magic, uint32(rb.CRC))
		}
		batches, sizes = append(batches, rb), append(sizes, size)
		b = b[size:]
	}
	return batches, sizes, 0
}

// compatBatch makes a v2 batch of n records valued tag0, tag1, ...
func compatBatch(t *testing.T, opts record.BuilderOptions, n int, tag string) []byte {
	t.Helper()
	b := record.NewBuilder(opts)
	ts := compatBase()
	for i := range n {
		b.Append(fmt.Appendf(nil, "%s-key", tag), fmt.Appendf(nil, "%s%d", tag, i), ts, nil)
	}
	batch, err := b.Build(nil)
	if err != nil {
		t.Fatal(err)
	}
	return batch
}

func compatValues(recs []compatRecord) []string {
	out := make([]string, len(recs))
	for i, r := range recs {
		out[i] = string(r.value)
	}
	return out
}

// TestCompatRawIdempotentProduce: the same idempotent batch sent twice is
// answered twice with the same base offset and stored once; a sequence gap
// is OUT_OF_ORDER_SEQUENCE_NUMBER.
func TestCompatRawIdempotentProduce(t *testing.T) {
	e := newCompatEnv(t, "")
	ctx := compatCtx(t, time.Minute)
	ct := e.newTopic(ctx, t, 1, nil)
	cl := e.client(t)
	pid, epoch := int64(1000), int16(0)
	if compatAPIMax(ctx, t, cl, compatInitProducerIDKey) >= 0 {
		req := kmsg.NewPtrInitProducerIDRequest()
		req.TransactionTimeoutMillis, req.ProducerID, req.ProducerEpoch = 60_000, -1, -1
		resp, err := req.RequestWith(ctx, cl)
		if err == nil {
			err = kerr.ErrorForCode(resp.ErrorCode)
		}
		if err != nil {
			t.Fatalf("InitProducerID: %v", err)
		}
		pid, epoch = resp.ProducerID, resp.ProducerEpoch
	}
	idem := func(seq int32) record.BuilderOptions {
		return record.BuilderOptions{HasProducerID: true, ProducerID: pid, ProducerEpoch: epoch, BaseSequence: seq}
	}
	a, b := compatBatch(t, idem(0), 5, "a"), compatBatch(t, idem(5), 3, "b")
	for i, c := range []struct {
		batch []byte
		what  string
		base  int64
	}{{a, "first send", 0}, {a, "retry", 0}, {b, "next batch", 5}, {a, "late retry of the first", 0}, {b, "retry of the next", 5}} {
		p := compatProduce(ctx, t, cl, ct, 0, c.batch)
		if p.ErrorCode != 0 || p.BaseOffset != c.base {
			t.Fatalf("produce %d (%s): base offset %d, error %v; want base offset %d, no error", i, c.what, p.BaseOffset, kerr.ErrorForCode(p.ErrorCode), c.base)
		}
	}
	gap := compatProduce(ctx, t, cl, ct, 0, compatBatch(t, idem(20), 1, "gap"))
	if gap.ErrorCode != kerr.OutOfOrderSequenceNumber.Code {
		t.Errorf("sequence 20 after 7: error %v, want %v", kerr.ErrorForCode(gap.ErrorCode), kerr.OutOfOrderSequenceNumber)
	}
	if end := compatEndOffset(ctx, t, cl, ct, 0); end != 8 {
		t.Fatalf("end offset %d after 8 distinct records", end)
	}
	got := compatFromKgo(compatConsume(ctx, t, e, ct.name, 0, 0, 8))
	if v := fmt.Sprint(compatValues(got)); v != "[a0 a1 a2 a3 a4 b0 b1 b2]" {
		t.Fatalf("the log holds %s", v)
	}
}

// TestCompatRawCorruptBatch: a batch whose CRC does not match is
// CORRUPT_MESSAGE, nothing of it is stored, and the broker keeps serving.
func TestCompatRawCorruptBatch(t *testing.T) {
	e := newCompatEnv(t, "")
	ctx := compatCtx(t, time.Minute)
	ct := e.newTopic(ctx, t, 1, nil)
	cl := e.client(t)
	bad := compatBatch(t, record.BuilderOptions{}, 3, "bad")
	bad[len(bad)-2] ^= 0xff // the last record's last value byte
	if p := compatProduce(ctx, t, cl, ct, 0, bad); p.ErrorCode != kerr.CorruptMessage.Code {
		t.Fatalf("corrupt batch: error %v, want %v", kerr.ErrorForCode(p.ErrorCode), kerr.CorruptMessage)
	}
	if end := compatEndOffset(ctx, t, cl, ct, 0); end != 0 {
		t.Fatalf("end offset %d after a corrupt batch, want 0", end)
	}
	if p := compatProduce(ctx, t, cl, ct, 0, compatBatch(t, record.BuilderOptions{}, 2, "good")); p.ErrorCode != 0 || p.BaseOffset != 0 {
		t.Fatalf("good batch after the corrupt one: base offset %d, error %v", p.BaseOffset, kerr.ErrorForCode(p.ErrorCode))
	}
	if v := fmt.Sprint(compatValues(compatFromKgo(compatConsume(ctx, t, e, ct.name, 0, 0, 2)))); v != "[good0 good1]" {
		t.Fatalf("the log holds %s", v)
	}
}

// compatMessageV1 is a one-message message set in the v1 format (magic 1).
func compatMessageV1(key, value []byte, ts int64) []byte {
	msg := []byte{1, 0} // magic, attributes
	msg = binary.BigEndian.AppendUint64(msg, uint64(ts))
	msg = binary.BigEndian.AppendUint32(msg, uint32(len(key)))
	msg = append(msg, key...)
	msg = binary.BigEndian.AppendUint32(msg, uint32(len(value)))
	msg = append(msg, value...)
	out := binary.BigEndian.AppendUint64(nil, 0) // offset
	out = binary.BigEndian.AppendUint32(out, uint32(4+len(msg)))
	out = binary.BigEndian.AppendUint32(out, crc32.ChecksumIEEE(msg))
	return append(out, msg...)
}

// TestCompatRawOldMagic: Produce v3+ carries only v2 batches; a magic 1
// message set gets an error code (Kafka: INVALID_RECORD) and nothing is
// stored.
func TestCompatRawOldMagic(t *testing.T) {
	e := newCompatEnv(t, "")
	ctx := compatCtx(t, time.Minute)
	ct := e.newTopic(ctx, t, 1, nil)
	cl := e.client(t)
	for _, c := range []struct {
		name string
		set  []byte
	}{
		{"short", compatMessageV1([]byte("k"), []byte("v"), compatBase())},
		{"long", compatMessageV1([]byte("k"), compatRandom(200), compatBase())},
	} {
		p := compatProduce(ctx, t, cl, ct, 0, c.set)
		if p.ErrorCode == 0 {
			t.Fatalf("%s magic 1 message set accepted at base offset %d", c.name, p.BaseOffset)
		}
		t.Logf("%s magic 1 message set: %v", c.name, kerr.ErrorForCode(p.ErrorCode))
	}
	if end := compatEndOffset(ctx, t, cl, ct, 0); end != 0 {
		t.Fatalf("end offset %d after refused message sets, want 0", end)
	}
	if p := compatProduce(ctx, t, cl, ct, 0, compatBatch(t, record.BuilderOptions{}, 1, "v2-")); p.ErrorCode != 0 || p.BaseOffset != 0 {
		t.Fatalf("v2 batch after the refused ones: base offset %d, error %v", p.BaseOffset, kerr.ErrorForCode(p.ErrorCode))
	}
}

// TestCompatFetchLongPoll: a fetch waiting for data returns when a record
// arrives, not at max wait; with no data it returns empty after max wait.
func TestCompatFetchLongPoll(t *testing.T) {
	e := newCompatEnv(t, "")
	ctx := compatCtx(t, time.Minute)
	ct := e.newTopic(ctx, t, 1, nil)
	br := ct.leader(ctx, t, e.client(t), 0)
	prod := e.client(t, kgo.DefaultProduceTopic(ct.name), kgo.RecordPartitioner(kgo.ManualPartitioner()))
	produced := make(chan error, 1)
	go func() {
		time.Sleep(300 * time.Millisecond)
		produced <- prod.ProduceSync(ctx, &kgo.Record{Value: []byte("wake up")}).FirstErr()
	}()
	start := time.Now()
	_, p := compatFetch(ctx, t, br, ct, 0, 0, compatFetchLimits{minBytes: 1, maxWaitMs: 5000, maxBytes: 1 << 20, partitionMaxBytes: 1 << 20})
	waited := time.Since(start)
	if err := <-produced; err != nil {
		t.Fatal(err)
	}
	if got := compatValues(compatFetched(t, ct, p, 0)); len(got) != 1 || got[0] != "wake up" {
		t.Fatalf("the long poll returned %v after %v", got, waited)
	}
	if waited > 3*time.Second {
		t.Fatalf("the long poll returned %v after it started, the record came after 300ms; it should wake on the produce, not at max wait", waited)
	}

	start = time.Now()
	_, p = compatFetch(ctx, t, br, ct, 0, 1, compatFetchLimits{minBytes: 1, maxWaitMs: 300, maxBytes: 1 << 20, partitionMaxBytes: 1 << 20})
	waited = time.Since(start)
	if len(p.RecordBatches) != 0 || p.ErrorCode != 0 || p.HighWatermark != 1 {
		t.Fatalf("an empty long poll returned %d bytes, error %v, high watermark %d", len(p.RecordBatches), kerr.ErrorForCode(p.ErrorCode), p.HighWatermark)
	}
	if waited < 250*time.Millisecond || waited > 3*time.Second {
		t.Fatalf("an empty fetch with max wait 300ms returned after %v", waited)
	}
}

// TestCompatFetchMaxBytes: the partition and request byte limits, with
// the first batch sent whole even when it is larger (KIP-74).
func TestCompatFetchMaxBytes(t *testing.T) {
	e := newCompatEnv(t, "")
	ctx := compatCtx(t, time.Minute)
	ct := e.newTopic(ctx, t, 1, nil)
	cl := e.client(t)
	// Offsets 0-9: one batch of ten 1 KiB records (about 10.5 KiB); 10-39:
	// one batch per record (about 1.1 KiB each).
	b := record.NewBuilder(record.BuilderOptions{})
	for i := range 10 {
		b.Append(nil, compatRandom(1024+i), compatBase(), nil)
	}
	big, err := b.Build(nil)
	if err != nil {
		t.Fatal(err)
	}
	if p := compatProduce(ctx, t, cl, ct, 0, big); p.ErrorCode != 0 {
		t.Fatal(kerr.ErrorForCode(p.ErrorCode))
	}
	for i := range 30 {
		b.Reset(record.BuilderOptions{})
		b.Append(nil, compatRandom(1024+10+i), compatBase(), nil)
		one, err := b.Build(nil)
		if err != nil {
			t.Fatal(err)
		}
		if p := compatProduce(ctx, t, cl, ct, 0, one); p.ErrorCode != 0 || p.BaseOffset != int64(10+i) {
			t.Fatalf("batch %d: base offset %d, error %v", i, p.BaseOffset, kerr.ErrorForCode(p.ErrorCode))
		}
	}
	br := ct.leader(ctx, t, cl, 0)
	for _, c := range []struct {
		name               string
		offset             int64
		l                  compatFetchLimits
		firstBase, batches int // batches: exact count, or -1 for "as many as fit"
		limit              int
	}{
		{"first batch larger than partition max", 0, compatFetchLimits{1, 100, 1 << 20, 4096}, 0, 1, 0},
		{"offset inside the first batch", 5, compatFetchLimits{1, 100, 1 << 20, 1}, 0, 1, 0},
		{"partition max smaller than any batch", 10, compatFetchLimits{1, 100, 1 << 20, 100}, 10, 1, 0},
		{"partition max 4096", 10, compatFetchLimits{1, 100, 1 << 20, 4096}, 10, -1, 4096},
		{"request max 4096", 10, compatFetchLimits{1, 100, 4096, 1 << 20}, 10, -1, 4096},
		{"everything", 0, compatFetchLimits{1, 100, 1 << 20, 1 << 20}, 0, 31, 0},
	} {
		_, p := compatFetch(ctx, t, br, ct, 0, c.offset, c.l)
		if p.ErrorCode != 0 {
			t.Fatalf("%s: %v", c.name, kerr.ErrorForCode(p.ErrorCode))
		}
		batches, sizes, trailing := compatSplitBatches(t, p.RecordBatches)
		total := 0
		for _, s := range sizes {
			total += s
		}
		switch {
		case len(batches) == 0:
			t.Errorf("%s: no whole batch in %d bytes", c.name, len(p.RecordBatches))
			continue
		case trailing != 0 && (e.tb != nil || c.limit == 0):
			t.Errorf("%s: %d bytes of an incomplete batch after %d whole ones; the broker should send whole batches", c.name, trailing, len(batches))
		case batches[0].FirstOffset != int64(c.firstBase):
			t.Errorf("%s: first batch at offset %d, want %d", c.name, batches[0].FirstOffset, c.firstBase)
		case c.batches >= 0 && len(batches) != c.batches:
			t.Errorf("%s: %d batches (%d bytes), want %d", c.name, len(batches), total, c.batches)
		case c.limit > 0 && (total+trailing > c.limit || len(batches) < 2):
			t.Errorf("%s: %d whole batches of %d bytes (+%d trailing), want as many as fit in %d", c.name, len(batches), total, trailing, c.limit)
		}
		next := batches[0].FirstOffset
		for _, rb := range batches {
			if rb.FirstOffset != next {
				t.Errorf("%s: batch at offset %d, want %d", c.name, rb.FirstOffset, next)
			}
			next = rb.FirstOffset + int64(rb.LastOffsetDelta) + 1
		}
	}
}

// TestCompatFetchVersions fetches at every version from 4 to the newest
// both kmsg and the broker know: by topic name before v13, by topic ID
// from v13; an unknown topic gets the version's error code.
func TestCompatFetchVersions(t *testing.T) {
	e := newCompatEnv(t, "")
	ctx := compatCtx(t, time.Minute)
	ct := e.newTopic(ctx, t, 1, nil)
	cl := e.client(t, kgo.ProducerBatchCompression(kgo.SnappyCompression()), kgo.RecordPartitioner(kgo.ManualPartitioner()))
	want := compatRecords(compatBase())
	if err := cl.ProduceSync(ctx, compatToKgo(ct.name, want)...).FirstErr(); err != nil {
		t.Fatal(err)
	}
	newest := min((*kmsg.FetchRequest)(nil).MaxVersion(), compatAPIMax(ctx, t, cl, 1))
	if newest < 13 {
		t.Errorf("the broker's newest Fetch is v%d; topic IDs need v13", newest)
	}
	for v := int16(4); v <= newest; v++ {
		t.Run(fmt.Sprintf("v%d", v), func(t *testing.T) {
			vcl := compatVersionedClient(t, e, 1, v)
			br := ct.leader(ctx, t, vcl, 0)
			resp, p := compatFetch(ctx, t, br, ct, 0, 0, compatFetchLimits{1, 500, 16 << 20, 16 << 20})
			if resp.Version != v {
				t.Fatalf("sent v%d", resp.Version)
			}
			rt := resp.Topics[0]
			if v < 13 && rt.Topic != ct.name || v >= 13 && rt.TopicID != ct.id {
				t.Errorf("response names topic %q id %x, want %q id %x", rt.Topic, rt.TopicID, ct.name, ct.id)
			}
			if p.ErrorCode != 0 || p.HighWatermark != int64(len(want)) || v >= 5 && p.LogStartOffset != 0 {
				t.Errorf("error %v, high watermark %d, log start %d", kerr.ErrorForCode(p.ErrorCode), p.HighWatermark, p.LogStartOffset)
			}
			compatCheck(t, "fetched", compatFetched(t, ct, p, 0), want, 0, true)

			unknown := compatTopic{name: ct.name + "-missing", id: [16]byte{0xde, 0xad, 0xbe, 0xef}}
			wantCode := kerr.UnknownTopicOrPartition.Code
			if v >= 13 {
				wantCode = kerr.UnknownTopicID.Code
			}
			if _, p := compatFetch(ctx, t, br, unknown, 0, 0, compatFetchLimits{1, 0, 1 << 20, 1 << 20}); p.ErrorCode != wantCode {
				t.Errorf("unknown topic: %v, want %v", kerr.ErrorForCode(p.ErrorCode), kerr.ErrorForCode(wantCode))
			}
		})
	}
}
