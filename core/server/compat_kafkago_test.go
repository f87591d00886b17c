package server

import (
	"context"
	"errors"
	"testing"
	"time"

	kafka "github.com/segmentio/kafka-go"
	"github.com/segmentio/kafka-go/compress"
)

// kafka-go against Weir: its Writer, its Reader on a fixed partition (no
// group), its Conn and Client. kafka-go reads null and empty alike, so its
// own reads are compared leniently and franz-go checks the exact bytes.

var kafkaGoCodecs = map[string]compress.Compression{
	"none": compress.None, "gzip": kafka.Gzip, "snappy": kafka.Snappy, "lz4": kafka.Lz4, "zstd": kafka.Zstd,
}

var kafkaGoAcks = map[int16]kafka.RequiredAcks{0: kafka.RequireNone, 1: kafka.RequireOne, -1: kafka.RequireAll}

// kafkaGoTransport is a Transport of the test's own: kafka-go's default
// one is shared and caches metadata for six seconds, so it would not see
// the topic a test has just created.
func kafkaGoTransport(t *testing.T) *kafka.Transport {
	tr := &kafka.Transport{ClientID: "weir-compat", DialTimeout: 10 * time.Second}
	t.Cleanup(tr.CloseIdleConnections)
	return tr
}

func kafkaGoWriter(t *testing.T, e *compatEnv, topic string, codec compress.Compression, acks kafka.RequiredAcks) *kafka.Writer {
	w := &kafka.Writer{
		Addr: kafka.TCP(e.addrs...), Topic: topic, Balancer: &kafka.RoundRobin{}, Transport: kafkaGoTransport(t),
		Compression: codec, RequiredAcks: acks,
		BatchSize: 1000, BatchTimeout: 5 * time.Millisecond, MaxAttempts: 3,
		ReadTimeout: 10 * time.Second, WriteTimeout: 10 * time.Second,
	}
	t.Cleanup(func() { _ = w.Close() })
	return w
}

func toKafkaGo(recs []compatRecord) []kafka.Message {
	out := make([]kafka.Message, len(recs))
	for i, r := range recs {
		m := kafka.Message{Key: r.key, Value: r.value, Time: time.UnixMilli(r.ts)}
		for _, h := range r.headers {
			m.Headers = append(m.Headers, kafka.Header{Key: h.key, Value: h.value})
		}
		out[i] = m
	}
	return out
}

func fromKafkaGo(m kafka.Message) compatRecord {
	r := compatRecord{key: m.Key, value: m.Value, ts: m.Time.UnixMilli(), offset: m.Offset}
	for _, h := range m.Headers {
		r.headers = append(r.headers, compatHeader{h.Key, h.Value})
	}
	return r
}

// kafkaGoRead reads n messages with a Reader on one partition from an
// offset (or kafka.FirstOffset / kafka.LastOffset).
func kafkaGoRead(ctx context.Context, t *testing.T, r *kafka.Reader, n int) []compatRecord {
	t.Helper()
	var out []compatRecord
	for len(out) < n {
		m, err := r.ReadMessage(ctx)
		if err != nil {
			t.Fatalf("kafka-go read %d of %d messages: %v", len(out), n, err)
		}
		out = append(out, fromKafkaGo(m))
	}
	return out
}

func kafkaGoReader(t *testing.T, e *compatEnv, topic string, from int64) *kafka.Reader {
	t.Helper()
	r := kafka.NewReader(kafka.ReaderConfig{Brokers: e.addrs, Topic: topic, Partition: 0,
		MinBytes: 1, MaxBytes: 16 << 20, MaxWait: 200 * time.Millisecond, ReadBatchTimeout: 5 * time.Second})
	t.Cleanup(func() { _ = r.Close() })
	if err := r.SetOffset(from); err != nil {
		t.Fatal(err)
	}
	return r
}

// TestCompatKafkaGoRoundTrip: every kind of record with each codec and
// acks mode, through kafka-go's Writer and Reader.
func TestCompatKafkaGoRoundTrip(t *testing.T) {
	e := newCompatEnv(t, "")
	for _, codec := range compatCodecs {
		for _, acks := range compatAckModes {
			t.Run(codec.name+"/acks="+acks.name, func(t *testing.T) {
				ctx := compatCtx(t, time.Minute)
				ct := e.newTopic(ctx, t, 1, nil)
				w := kafkaGoWriter(t, e, ct.name, kafkaGoCodecs[codec.name], kafkaGoAcks[acks.value])
				want := compatRecords(compatBase())
				if err := w.WriteMessages(ctx, toKafkaGo(want)...); err != nil {
					t.Fatalf("kafka-go write: %v", err)
				}
				r := kafkaGoReader(t, e, ct.name, kafka.FirstOffset)
				compatCheck(t, "kafka-go reader", kafkaGoRead(ctx, t, r, len(want)), want, 0, false)
				compatVerifyWithKgo(ctx, t, e, ct.name, want, codec.id)
			})
		}
	}
}

// TestCompatKafkaGoOffsetsAndTimestamps: reading from the start, the
// middle (Reader and Conn) and the end; offsets by time through Conn,
// Client and Reader.SetOffsetAt.
func TestCompatKafkaGoOffsetsAndTimestamps(t *testing.T) {
	e := newCompatEnv(t, "")
	ctx := compatCtx(t, time.Minute)
	ct := e.newTopic(ctx, t, 1, nil)
	w := kafkaGoWriter(t, e, ct.name, compress.None, kafka.RequireAll)
	base := compatBase()
	want := compatOffsetsRecords(base)
	if err := w.WriteMessages(ctx, toKafkaGo(want)...); err != nil {
		t.Fatal(err)
	}

	conn, err := kafka.DialLeader(ctx, "tcp", e.addrs[0], ct.name, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	if err := conn.SetDeadline(time.Now().Add(30 * time.Second)); err != nil {
		t.Fatal(err)
	}
	first, last, err := conn.ReadOffsets()
	if err != nil || first != 0 || last != 10 {
		t.Errorf("ReadOffsets = %d, %d, %v; want 0, 10", first, last, err)
	}
	cl := &kafka.Client{Addr: kafka.TCP(e.addrs...), Timeout: 10 * time.Second, Transport: kafkaGoTransport(t)}
	for _, c := range compatByTimeCases(base) {
		if off, err := conn.ReadOffset(time.UnixMilli(c.query)); err != nil || off != c.offset {
			t.Errorf("Conn.ReadOffset(base%+d) = %d, %v; want %d", c.query-base, off, err, c.offset)
		}
		resp, err := cl.ListOffsets(ctx, &kafka.ListOffsetsRequest{Topics: map[string][]kafka.OffsetRequest{
			ct.name: {kafka.TimeOffsetOf(0, time.UnixMilli(c.query))}}})
		if err != nil {
			t.Fatalf("Client.ListOffsets: %v", err)
		}
		po := resp.Topics[ct.name]
		if len(po) != 1 || po[0].Error != nil {
			t.Fatalf("Client.ListOffsets(base%+d): %+v", c.query-base, po)
		}
		// kafka-go reports the requested time, not the record's, by design.
		if _, ok := po[0].Offsets[c.offset]; !ok || len(po[0].Offsets) != 1 {
			t.Errorf("Client.ListOffsets(base%+d) = %v, want offset %d", c.query-base, po[0].Offsets, c.offset)
		}
	}

	compatCheck(t, "from the start", kafkaGoRead(ctx, t, kafkaGoReader(t, e, ct.name, 0), 10), want, 0, false)
	compatCheck(t, "from the middle", kafkaGoRead(ctx, t, kafkaGoReader(t, e, ct.name, 5), 5), want[5:], 5, false)

	r := kafkaGoReader(t, e, ct.name, kafka.FirstOffset)
	if err := r.SetOffsetAt(ctx, time.UnixMilli(base+2500)); err != nil {
		t.Fatal(err)
	}
	compatCheck(t, "SetOffsetAt(base+2500)", kafkaGoRead(ctx, t, r, 7), want[3:], 3, false)

	// Conn reads from the middle of the batch: kafka-go skips the records
	// before the offset itself.
	if _, err := conn.Seek(5, kafka.SeekAbsolute); err != nil {
		t.Fatal(err)
	}
	batch := conn.ReadBatch(1, 1<<20)
	var got []compatRecord
	for range 5 {
		m, err := batch.ReadMessage()
		if err != nil {
			t.Fatalf("Conn batch from offset 5: %v after %d messages", err, len(got))
		}
		got = append(got, fromKafkaGo(m))
	}
	if err := batch.Close(); err != nil {
		t.Fatal(err)
	}
	compatCheck(t, "Conn from the middle", got, want[5:], 5, false)

	// From the end: nothing until the next record is produced.
	end := kafkaGoReader(t, e, ct.name, kafka.LastOffset)
	shortCtx, cancel := context.WithTimeout(ctx, 300*time.Millisecond)
	m, err := end.ReadMessage(shortCtx)
	cancel()
	if err == nil {
		t.Fatalf("reading from the end returned offset %d", m.Offset)
	}
	late := []compatRecord{{key: []byte("late"), value: []byte("late"), ts: time.Now().UnixMilli()}}
	if err := w.WriteMessages(ctx, toKafkaGo(late)...); err != nil {
		t.Fatal(err)
	}
	compatCheck(t, "from the end", kafkaGoRead(ctx, t, end, 1), late, 10, false)
}

// kafkaGoErrIs looks for a Kafka error code in what Writer returns (a
// kafka.Error, or kafka.WriteErrors, which does not unwrap).
func kafkaGoErrIs(err error, code kafka.Error) bool {
	var we kafka.WriteErrors
	if errors.As(err, &we) {
		for _, e := range we {
			if errors.Is(e, code) {
				return true
			}
		}
		return false
	}
	return errors.Is(err, code)
}

// TestCompatKafkaGoMessageTooLarge: kafka-go's Writer sees
// MessageSizeTooLarge, and the broker keeps serving.
func TestCompatKafkaGoMessageTooLarge(t *testing.T) {
	e := newCompatEnv(t, compatTooLargeTOML)
	ctx := compatCtx(t, time.Minute)
	ct := e.newTopic(ctx, t, 1, compatTooLargeConfigs)
	w := kafkaGoWriter(t, e, ct.name, compress.None, kafka.RequireAll)
	err := w.WriteMessages(ctx, kafka.Message{Value: compatRandom(20000)})
	if !kafkaGoErrIs(err, kafka.MessageSizeTooLarge) {
		t.Fatalf("writing a 20000-byte record over max.message.bytes=10000: %v, want %v", err, kafka.MessageSizeTooLarge)
	}
	want := []compatRecord{{key: []byte("small"), value: []byte("fits"), ts: compatBase()}}
	if err := w.WriteMessages(ctx, toKafkaGo(want)...); err != nil {
		t.Fatalf("writing after the rejection: %v", err)
	}
	compatCheck(t, "after the rejection", kafkaGoRead(ctx, t, kafkaGoReader(t, e, ct.name, kafka.FirstOffset), 1), want, 0, false)
	compatVerifyWithKgo(ctx, t, e, ct.name, want, 0)
}
