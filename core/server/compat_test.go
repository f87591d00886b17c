package server

// Compatibility tests: unmodified Kafka clients (franz-go, sarama, kafka-go)
// and raw kmsg requests against Weir. Every TestCompat* test runs against
// the in-process broker, or against any Kafka-compatible broker when
// WEIR_TEST_BROKERS=host:port[,host:port] is set (franz-go's KGO_SEEDS
// pattern); tests that restart the broker skip in that mode.
//
// This file holds the shared helpers: the environment, topic creation,
// the client-neutral test records and their comparison, and raw requests.

import (
	"bytes"
	"context"
	"crypto/rand"
	"fmt"
	mrand "math/rand/v2"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
)

const compatBrokersEnv = "WEIR_TEST_BROKERS"

// API keys the tests look for in ApiVersions.
const (
	compatCreateTopicsKey   = 19
	compatInitProducerIDKey = 22
)

// compatEnv is the broker under test: the in-process one, or an external
// one named by WEIR_TEST_BROKERS.
type compatEnv struct {
	addrs []string
	tb    *testBroker // nil against an external broker
}

// newCompatEnv starts an in-process broker with the extra TOML, or returns
// the external brokers. Against an external broker, a test that needs
// topic configs passes them to newTopic, which creates the topic with them.
func newCompatEnv(t *testing.T, toml string) *compatEnv {
	t.Helper()
	if s := os.Getenv(compatBrokersEnv); s != "" {
		return &compatEnv{addrs: strings.Split(s, ",")}
	}
	tb := startBroker(t, "", toml)
	return &compatEnv{addrs: []string{tb.addr()}, tb: tb}
}

// needLocal skips the test against an external broker.
func (e *compatEnv) needLocal(t *testing.T, why string) {
	t.Helper()
	if e.tb == nil {
		t.Skipf("needs the in-process broker (%s), and %s is set", why, compatBrokersEnv)
	}
}

// client returns a franz-go client for the brokers, closed at test end.
func (e *compatEnv) client(t *testing.T, opts ...kgo.Opt) *kgo.Client {
	t.Helper()
	base := []kgo.Opt{kgo.SeedBrokers(e.addrs...), kgo.ClientID("weir-compat"), kgo.MetadataMinAge(50 * time.Millisecond)}
	cl, err := kgo.NewClient(append(base, opts...)...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(cl.Close)
	return cl
}

// compatCtx bounds a test so that a broken broker fails it instead of
// hanging it.
func compatCtx(t *testing.T, d time.Duration) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), d)
	t.Cleanup(cancel)
	return ctx
}

// compatTopicName is a fresh, valid topic name derived from the test's.
func compatTopicName(t *testing.T) string {
	name := strings.Map(func(r rune) rune {
		switch {
		case r >= 'a' && r <= 'z', r >= 'A' && r <= 'Z', r >= '0' && r <= '9', r == '_', r == '-':
			return r
		}
		return '-'
	}, t.Name())
	if len(name) > 200 {
		name = name[:200]
	}
	var suffix [4]byte
	_, _ = rand.Read(suffix[:])
	return fmt.Sprintf("%s-%x", name, suffix)
}

// compatAPIMax returns the newest version of an API the broker advertises, or
// -1 if it does not advertise the API.
func compatAPIMax(ctx context.Context, t *testing.T, cl *kgo.Client, key int16) int16 {
	t.Helper()
	req := kmsg.NewPtrApiVersionsRequest()
	req.ClientSoftwareName, req.ClientSoftwareVersion = "weir-compat", "1.0.0"
	resp, err := req.RequestWith(ctx, cl)
	if err != nil {
		t.Fatalf("ApiVersions: %v", err)
	}
	if err := kerr.ErrorForCode(resp.ErrorCode); err != nil {
		t.Fatalf("ApiVersions: %v", err)
	}
	for _, k := range resp.ApiKeys {
		if k.ApiKey == key {
			return k.MaxVersion
		}
	}
	return -1
}

// compatTopic is a topic as Metadata describes it.
type compatTopic struct {
	name    string
	id      [16]byte
	leaders []int32
}

// newTopic creates a fresh topic with the given partitions: with
// CreateTopics (and configs) when the broker advertises it, otherwise by
// auto-creation through Metadata (the in-process broker's TOML must then
// give num.partitions and the configs). It returns once every partition
// has a leader.
func (e *compatEnv) newTopic(ctx context.Context, t *testing.T, partitions int32, configs map[string]*string) compatTopic {
	t.Helper()
	name := compatTopicName(t)
	cl := e.client(t)
	if compatAPIMax(ctx, t, cl, compatCreateTopicsKey) >= 0 {
		resp, err := kadm.NewClient(cl).CreateTopic(ctx, partitions, -1, configs, name)
		if err == nil {
			err = resp.Err
		}
		if err != nil {
			t.Fatalf("creating topic %s: %v", name, err)
		}
	}
	for {
		req := kmsg.NewPtrMetadataRequest()
		rt := kmsg.NewMetadataRequestTopic()
		rt.Topic = kmsg.StringPtr(name)
		req.Topics = append(req.Topics, rt)
		req.AllowAutoTopicCreation = true
		resp, err := req.RequestWith(ctx, cl)
		if err != nil {
			t.Fatalf("metadata for %s: %v", name, err)
		}
		if len(resp.Topics) == 1 && resp.Topics[0].ErrorCode == 0 {
			mt := resp.Topics[0]
			if int32(len(mt.Partitions)) != partitions {
				t.Fatalf("topic %s has %d partitions, the test needs %d (set num.partitions in the broker TOML)", name, len(mt.Partitions), partitions)
			}
			ct := compatTopic{name: name, id: mt.TopicID, leaders: make([]int32, partitions)}
			ready := true
			for _, p := range mt.Partitions {
				ct.leaders[p.Partition] = p.Leader
				ready = ready && p.ErrorCode == 0 && p.Leader >= 0
			}
			if ready {
				return ct
			}
		}
		select {
		case <-ctx.Done():
			t.Fatalf("topic %s not ready: %v (last metadata %+v)", name, ctx.Err(), resp.Topics)
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// leader returns the broker leading a partition, for raw requests. It
// first has cl learn the brokers (a raw Metadata request updates them).
func (ct compatTopic) leader(ctx context.Context, t *testing.T, cl *kgo.Client, partition int32) *kgo.Broker {
	t.Helper()
	req := kmsg.NewPtrMetadataRequest()
	req.Topics = []kmsg.MetadataRequestTopic{}
	if _, err := req.RequestWith(ctx, cl); err != nil {
		t.Fatalf("metadata: %v", err)
	}
	return cl.Broker(int(ct.leaders[partition]))
}

// compatHeader and compatRecord are records independent of any client.
type compatHeader struct {
	key   string
	value []byte
}

type compatRecord struct {
	key, value []byte
	headers    []compatHeader
	ts         int64 // milliseconds
	offset     int64 // as consumed; ignored when comparing
}

// compatBase is a timestamp safely inside Kafka's default accepted window
// (message.timestamp.after.max.ms is one hour in Kafka 4).
func compatBase() int64 { return time.Now().Add(-10 * time.Minute).UnixMilli() }

// compatRecords covers what a record can hold: keys, null and empty keys,
// tombstones, empty values, headers (several, repeated keys, null and
// empty values, an empty key), binary and highly compressible values, and
// enough small records to make multi-record batches.
func compatRecords(base int64) []compatRecord {
	rnd := mrand.New(mrand.NewPCG(7, 11))
	random := make([]byte, 8<<10)
	for i := range random {
		random[i] = byte(rnd.Uint32())
	}
	every := make([]byte, 256)
	for i := range every {
		every[i] = byte(i)
	}
	recs := []compatRecord{
		{key: []byte("k0"), value: []byte("hello")},
		{key: nil, value: []byte("null key")},
		{key: []byte("tombstone"), value: nil},
		{key: []byte("empty value"), value: []byte{}},
		{key: []byte{}, value: []byte("empty key")},
		{key: []byte("headers"), value: []byte("v"), headers: []compatHeader{
			{"a", []byte("1")}, {"b", []byte{}}, {"a", []byte("2")}, {"null", nil}, {"", []byte("empty header key")}, {"a", []byte("3")},
		}},
		{key: every, value: random},
		{key: []byte("compressible"), value: bytes.Repeat([]byte("weir compat "), 8000)},
		{key: nil, value: nil, headers: []compatHeader{{"only", []byte("headers")}}},
	}
	for i := range 40 {
		recs = append(recs, compatRecord{key: fmt.Appendf(nil, "k%d", i%5), value: fmt.Appendf(nil, "value %d", i)})
	}
	for i := range recs {
		recs[i].ts = base + int64(i)
	}
	return recs
}

// compatSameBytes compares nullable bytes: strictly (null is not empty) or, for
// clients that cannot tell null from empty, leniently.
func compatSameBytes(a, b []byte, strict bool) bool {
	if strict && (a == nil) != (b == nil) {
		return false
	}
	return bytes.Equal(a, b)
}

func compatShow(b []byte) string {
	switch {
	case b == nil:
		return "null"
	case len(b) > 40:
		return fmt.Sprintf("%q...(%d bytes)", b[:40], len(b))
	}
	return fmt.Sprintf("%q", b)
}

// compatCheck fails the test unless got holds exactly want, in order, at
// dense offsets from firstOffset. strict distinguishes null from empty.
func compatCheck(t *testing.T, label string, got, want []compatRecord, firstOffset int64, strict bool) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("%s: got %d records, want %d", label, len(got), len(want))
	}
	for i := range want {
		g, w := got[i], want[i]
		if g.offset != firstOffset+int64(i) {
			t.Errorf("%s: record %d has offset %d, want %d", label, i, g.offset, firstOffset+int64(i))
		}
		if !compatSameBytes(g.key, w.key, strict) {
			t.Errorf("%s: record %d key %s, want %s", label, i, compatShow(g.key), compatShow(w.key))
		}
		if !compatSameBytes(g.value, w.value, strict) {
			t.Errorf("%s: record %d value %s, want %s", label, i, compatShow(g.value), compatShow(w.value))
		}
		if g.ts != w.ts {
			t.Errorf("%s: record %d timestamp %d, want %d", label, i, g.ts, w.ts)
		}
		if len(g.headers) != len(w.headers) {
			t.Errorf("%s: record %d has %d headers, want %d: %v", label, i, len(g.headers), len(w.headers), g.headers)
			continue
		}
		for j := range w.headers {
			if g.headers[j].key != w.headers[j].key || !compatSameBytes(g.headers[j].value, w.headers[j].value, strict) {
				t.Errorf("%s: record %d header %d is %q=%s, want %q=%s", label, i, j,
					g.headers[j].key, compatShow(g.headers[j].value), w.headers[j].key, compatShow(w.headers[j].value))
			}
		}
	}
	if t.Failed() {
		t.FailNow()
	}
}

func compatToKgo(topic string, recs []compatRecord) []*kgo.Record {
	out := make([]*kgo.Record, len(recs))
	for i, r := range recs {
		kr := &kgo.Record{Topic: topic, Key: r.key, Value: r.value, Timestamp: time.UnixMilli(r.ts)}
		for _, h := range r.headers {
			kr.Headers = append(kr.Headers, kgo.RecordHeader{Key: h.key, Value: h.value})
		}
		out[i] = kr
	}
	return out
}

func compatFromKgo(recs []*kgo.Record) []compatRecord {
	out := make([]compatRecord, len(recs))
	for i, r := range recs {
		c := compatRecord{key: r.Key, value: r.Value, ts: r.Timestamp.UnixMilli(), offset: r.Offset}
		for _, h := range r.Headers {
			c.headers = append(c.headers, compatHeader{h.Key, h.Value})
		}
		out[i] = c
	}
	return out
}

// compatConsume reads n records of one partition from an offset with a
// direct partition consumer, and fails the test if they do not all come.
func compatConsume(ctx context.Context, t *testing.T, e *compatEnv, topic string, partition int32, from int64, n int) []*kgo.Record {
	t.Helper()
	cl := e.client(t, kgo.ConsumePartitions(map[string]map[int32]kgo.Offset{topic: {partition: kgo.NewOffset().At(from)}}),
		kgo.FetchMaxWait(200*time.Millisecond))
	defer cl.Close()
	var out []*kgo.Record
	for len(out) < n {
		fs := cl.PollFetches(ctx)
		if err := ctx.Err(); err != nil {
			t.Fatalf("consumed %d of %d records of %s/%d from offset %d: %v", len(out), n, topic, partition, from, err)
		}
		fs.EachError(func(tp string, p int32, err error) { t.Fatalf("fetch %s/%d: %v", tp, p, err) })
		out = append(out, fs.Records()...)
	}
	if len(out) > n {
		t.Fatalf("consumed %d records of %s/%d from offset %d, want %d", len(out), topic, partition, from, n)
	}
	return out
}

// compatListOffset sends a raw ListOffsets for one partition and timestamp
// (-1 latest, -2 earliest, -3 max timestamp) and returns the answer.
func compatListOffset(ctx context.Context, t *testing.T, cl *kgo.Client, ct compatTopic, partition int32, ts int64) kmsg.ListOffsetsResponseTopicPartition {
	t.Helper()
	req := kmsg.NewPtrListOffsetsRequest()
	rt := kmsg.NewListOffsetsRequestTopic()
	rt.Topic = ct.name
	rp := kmsg.NewListOffsetsRequestTopicPartition()
	rp.Partition, rp.Timestamp = partition, ts
	rt.Partitions = append(rt.Partitions, rp)
	req.Topics = append(req.Topics, rt)
	resp, err := req.RequestWith(ctx, ct.leader(ctx, t, cl, partition))
	if err != nil {
		t.Fatalf("ListOffsets %s/%d at %d: %v", ct.name, partition, ts, err)
	}
	if len(resp.Topics) != 1 || len(resp.Topics[0].Partitions) != 1 {
		t.Fatalf("ListOffsets %s/%d: malformed response %+v", ct.name, partition, resp)
	}
	return resp.Topics[0].Partitions[0]
}

// compatEndOffset is the partition's high watermark, by raw ListOffsets.
func compatEndOffset(ctx context.Context, t *testing.T, cl *kgo.Client, ct compatTopic, partition int32) int64 {
	t.Helper()
	p := compatListOffset(ctx, t, cl, ct, partition, -1)
	if err := kerr.ErrorForCode(p.ErrorCode); err != nil {
		t.Fatalf("ListOffsets latest %s/%d: %v", ct.name, partition, err)
	}
	return p.Offset
}

// Codecs and acks, as each client spells them.
type compatCodec struct {
	name string
	id   uint8 // Kafka's compression type
	kgo  kgo.CompressionCodec
}

var compatCodecs = []compatCodec{
	{"none", 0, kgo.NoCompression()},
	{"gzip", 1, kgo.GzipCompression()},
	{"snappy", 2, kgo.SnappyCompression()},
	{"lz4", 3, kgo.Lz4Compression()},
	{"zstd", 4, kgo.ZstdCompression()},
}

type compatAcks struct {
	name  string
	value int16
	kgo   kgo.Acks
}

var compatAckModes = []compatAcks{{"0", 0, kgo.NoAck()}, {"1", 1, kgo.LeaderAck()}, {"all", -1, kgo.AllISRAcks()}}

// compatVerifyWithKgo consumes the partition with franz-go, which tells null
// from empty, and checks that it holds exactly want from offset 0, and
// that the compressible records were stored with the producer's codec.
func compatVerifyWithKgo(ctx context.Context, t *testing.T, e *compatEnv, topic string, want []compatRecord, codec uint8) {
	t.Helper()
	got := compatConsume(ctx, t, e, topic, 0, 0, len(want))
	compatCheck(t, "franz-go consumer", compatFromKgo(got), want, 0, true)
	compressed := false
	for _, r := range got {
		switch c := r.Attrs.CompressionType(); c {
		case codec:
			compressed = true
		case 0: // a producer may leave a batch uncompressed if that is smaller
		default:
			t.Fatalf("record at offset %d is stored with compression type %d, the producer used %d", r.Offset, c, codec)
		}
	}
	if !compressed {
		t.Fatalf("no record is stored with compression type %d", codec)
	}
}
