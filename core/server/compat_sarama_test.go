package server

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/IBM/sarama"
)

// sarama against Weir: the same records, codecs and acks as franz-go, at
// the oldest protocol level sarama can send record batches with (0.11),
// its default, and its newest.

var saramaCodecs = map[string]sarama.CompressionCodec{
	"none": sarama.CompressionNone, "gzip": sarama.CompressionGZIP, "snappy": sarama.CompressionSnappy,
	"lz4": sarama.CompressionLZ4, "zstd": sarama.CompressionZSTD,
}

var saramaAcks = map[int16]sarama.RequiredAcks{0: sarama.NoResponse, 1: sarama.WaitForLocal, -1: sarama.WaitForAll}

func saramaConfig(version sarama.KafkaVersion) *sarama.Config {
	cfg := sarama.NewConfig()
	cfg.Version = version
	cfg.ClientID = "weir-compat"
	cfg.Net.DialTimeout, cfg.Net.ReadTimeout, cfg.Net.WriteTimeout = 10*time.Second, 10*time.Second, 10*time.Second
	cfg.Metadata.Retry.Backoff = 50 * time.Millisecond
	cfg.Producer.Return.Successes = true
	cfg.Producer.Partitioner = sarama.NewManualPartitioner
	cfg.Producer.Retry.Backoff = 50 * time.Millisecond
	cfg.Consumer.Return.Errors = true
	cfg.Consumer.MaxWaitTime = 200 * time.Millisecond
	return cfg
}

// saramaClient returns a sarama client, closed at test end (after any
// consumer or producer made from it, which are closed first).
func saramaClient(t *testing.T, e *compatEnv, cfg *sarama.Config) sarama.Client {
	t.Helper()
	cl, err := sarama.NewClient(e.addrs, cfg)
	if err != nil {
		t.Fatalf("sarama client: %v", err)
	}
	t.Cleanup(func() { _ = cl.Close() })
	return cl
}

func saramaProduce(t *testing.T, cl sarama.Client, topic string, recs []compatRecord) []*sarama.ProducerMessage {
	t.Helper()
	p, err := sarama.NewSyncProducerFromClient(cl)
	if err != nil {
		t.Fatalf("sarama producer: %v", err)
	}
	defer p.Close()
	enc := func(b []byte) sarama.Encoder {
		if b == nil {
			return nil
		}
		return sarama.ByteEncoder(b)
	}
	msgs := make([]*sarama.ProducerMessage, len(recs))
	for i, r := range recs {
		m := &sarama.ProducerMessage{Topic: topic, Key: enc(r.key), Value: enc(r.value), Timestamp: time.UnixMilli(r.ts)}
		for _, h := range r.headers {
			m.Headers = append(m.Headers, sarama.RecordHeader{Key: []byte(h.key), Value: h.value})
		}
		msgs[i] = m
	}
	if err := p.SendMessages(msgs); err != nil {
		t.Fatalf("sarama produce: %v", err)
	}
	return msgs
}

// saramaConsume reads n records of a partition from an offset (or
// sarama.OffsetOldest / OffsetNewest) with a partition consumer.
func saramaConsume(ctx context.Context, t *testing.T, cl sarama.Client, topic string, partition int32, from int64, n int) []compatRecord {
	t.Helper()
	c, err := sarama.NewConsumerFromClient(cl)
	if err != nil {
		t.Fatalf("sarama consumer: %v", err)
	}
	defer c.Close()
	pc, err := c.ConsumePartition(topic, partition, from)
	if err != nil {
		t.Fatalf("sarama consume %s/%d from %d: %v", topic, partition, from, err)
	}
	defer pc.Close()
	var out []compatRecord
	for len(out) < n {
		select {
		case m := <-pc.Messages():
			r := compatRecord{key: m.Key, value: m.Value, ts: m.Timestamp.UnixMilli(), offset: m.Offset}
			for _, h := range m.Headers {
				r.headers = append(r.headers, compatHeader{string(h.Key), h.Value})
			}
			out = append(out, r)
		case err := <-pc.Errors():
			t.Fatalf("sarama consume %s/%d: %v", topic, partition, err)
		case <-ctx.Done():
			t.Fatalf("sarama consumed %d of %d records of %s/%d from %d: %v", len(out), n, topic, partition, from, ctx.Err())
		}
	}
	return out
}

// TestCompatSaramaRoundTrip: every kind of record with each codec and
// acks mode, consumed back by sarama and checked byte for byte by
// franz-go (which also checks the stored codec).
func TestCompatSaramaRoundTrip(t *testing.T) {
	e := newCompatEnv(t, "")
	versions := []struct {
		name string
		v    sarama.KafkaVersion
		acks []int16
	}{
		{"0.11", sarama.V0_11_0_0, []int16{-1}},
		{"default", sarama.DefaultVersion, []int16{0, 1, -1}},
		{"newest", sarama.MaxVersion, []int16{-1}},
	}
	for _, ver := range versions {
		for _, codec := range compatCodecs {
			if codec.name == "zstd" && !ver.v.IsAtLeast(sarama.V2_1_0_0) {
				continue // zstd needs Produce v7
			}
			for _, acks := range ver.acks {
				name := fmt.Sprintf("%s/%s/acks=%d", ver.name, codec.name, acks)
				t.Run(name, func(t *testing.T) {
					ctx := compatCtx(t, time.Minute)
					ct := e.newTopic(ctx, t, 1, nil)
					cfg := saramaConfig(ver.v)
					cfg.Producer.Compression = saramaCodecs[codec.name]
					cfg.Producer.RequiredAcks = saramaAcks[acks]
					cl := saramaClient(t, e, cfg)
					want := compatRecords(compatBase())
					saramaProduce(t, cl, ct.name, want)
					compatCheck(t, "sarama consumer", saramaConsume(ctx, t, cl, ct.name, 0, sarama.OffsetOldest, len(want)), want, 0, true)
					compatVerifyWithKgo(ctx, t, e, ct.name, want, codec.id)
				})
			}
		}
	}
	t.Run("idempotent", func(t *testing.T) {
		ctx := compatCtx(t, time.Minute)
		if compatAPIMax(ctx, t, e.client(t), compatInitProducerIDKey) < 0 {
			t.Skip("the broker does not advertise InitProducerID")
		}
		ct := e.newTopic(ctx, t, 1, nil)
		cfg := saramaConfig(sarama.DefaultVersion)
		cfg.Producer.Idempotent = true
		cfg.Producer.RequiredAcks = sarama.WaitForAll
		cfg.Producer.Compression = sarama.CompressionZSTD
		cfg.Net.MaxOpenRequests = 1
		cl := saramaClient(t, e, cfg)
		want := compatRecords(compatBase())
		saramaProduce(t, cl, ct.name, want)
		compatVerifyWithKgo(ctx, t, e, ct.name, want, 4)
	})
}

// TestCompatSaramaOffsetsAndTimestamps: consuming from the start, the
// middle and the end; GetOffset for the oldest, the newest and by time.
func TestCompatSaramaOffsetsAndTimestamps(t *testing.T) {
	e := newCompatEnv(t, "")
	ctx := compatCtx(t, time.Minute)
	ct := e.newTopic(ctx, t, 1, nil)
	cl := saramaClient(t, e, saramaConfig(sarama.DefaultVersion))
	base := compatBase()
	want := compatOffsetsRecords(base)
	saramaProduce(t, cl, ct.name, want)

	for _, c := range []struct {
		what   string
		ts     int64
		offset int64
	}{{"oldest", sarama.OffsetOldest, 0}, {"newest", sarama.OffsetNewest, 10}} {
		if off, err := cl.GetOffset(ct.name, 0, c.ts); err != nil || off != c.offset {
			t.Errorf("GetOffset(%s) = %d, %v; want %d", c.what, off, err, c.offset)
		}
	}
	for _, c := range compatByTimeCases(base) {
		if off, err := cl.GetOffset(ct.name, 0, c.query); err != nil || off != c.offset {
			t.Errorf("GetOffset(base%+d) = %d, %v; want %d", c.query-base, off, err, c.offset)
		}
	}

	compatCheck(t, "from the start", saramaConsume(ctx, t, cl, ct.name, 0, 0, 10), want, 0, true)
	compatCheck(t, "from the middle", saramaConsume(ctx, t, cl, ct.name, 0, 5, 5), want[5:], 5, true)

	// From the end: a consumer at OffsetNewest sees only what comes next.
	c, err := sarama.NewConsumerFromClient(cl)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	pc, err := c.ConsumePartition(ct.name, 0, sarama.OffsetNewest)
	if err != nil {
		t.Fatal(err)
	}
	defer pc.Close()
	select {
	case m := <-pc.Messages():
		t.Fatalf("consuming from the end returned offset %d", m.Offset)
	case <-time.After(300 * time.Millisecond):
	}
	late := []compatRecord{{key: []byte("late"), value: []byte("late"), ts: time.Now().UnixMilli()}}
	saramaProduce(t, cl, ct.name, late)
	select {
	case m := <-pc.Messages():
		if m.Offset != 10 || string(m.Value) != "late" {
			t.Fatalf("from the end: offset %d value %q, want offset 10 value \"late\"", m.Offset, m.Value)
		}
	case err := <-pc.Errors():
		t.Fatal(err)
	case <-ctx.Done():
		t.Fatalf("the record produced after consuming from the end never came: %v", ctx.Err())
	}
}

// TestCompatSaramaMessageTooLarge: sarama sees ErrMessageSizeTooLarge for
// a batch over max.message.bytes, and the broker keeps serving.
func TestCompatSaramaMessageTooLarge(t *testing.T) {
	e := newCompatEnv(t, compatTooLargeTOML)
	ctx := compatCtx(t, time.Minute)
	ct := e.newTopic(ctx, t, 1, compatTooLargeConfigs)
	cl := saramaClient(t, e, saramaConfig(sarama.DefaultVersion))
	p, err := sarama.NewSyncProducerFromClient(cl)
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	_, _, err = p.SendMessage(&sarama.ProducerMessage{Topic: ct.name, Value: sarama.ByteEncoder(compatRandom(20000))})
	if !errors.Is(err, sarama.ErrMessageSizeTooLarge) {
		t.Fatalf("producing a 20000-byte record over max.message.bytes=10000: %v, want %v", err, sarama.ErrMessageSizeTooLarge)
	}
	want := []compatRecord{{key: []byte("small"), value: []byte("fits"), ts: compatBase()}}
	msgs := saramaProduce(t, cl, ct.name, want)
	if msgs[0].Offset != 0 {
		t.Errorf("the record after the rejected one is at offset %d, want 0", msgs[0].Offset)
	}
	compatCheck(t, "after the rejection", saramaConsume(ctx, t, cl, ct.name, 0, 0, 1), want, 0, true)
}
