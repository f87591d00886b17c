package server

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/weirmq/weir/codecs"
	"github.com/weirmq/weir/core/record"
	"github.com/weirmq/weir/partitioners"
	"github.com/weirmq/weir/sdk"
)

// firstByte is a test partitioner: a key goes to partition key[0] mod n.
type firstByte struct{}

func (firstByte) Name() string { return "first-byte" }
func (firstByte) Partition(_ context.Context, in sdk.PartitionInput, out []int32) error {
	for i, k := range in.Keys {
		if len(k) > 0 {
			out[i] = int32(k[0]) % in.NumPartitions
		}
	}
	return nil
}

// enforceBroker starts a broker whose registry has the built-in
// partitioners and first-byte.
func enforceBroker(t *testing.T) *testBroker {
	t.Helper()
	return startBrokerWith(t, "", "", func(o *Options) {
		reg := sdk.NewRegistry()
		if err := partitioners.Register(reg); err != nil {
			t.Fatal(err)
		}
		if err := reg.RegisterPartitioner(firstByte{}); err != nil {
			t.Fatal(err)
		}
		o.Partitioners = reg
	})
}

func enforcing(partitioner string) map[string]*string {
	on := "true"
	c := map[string]*string{"weir.partitioner.enforce": &on}
	if partitioner != "" {
		c["weir.partitioner"] = &partitioner
	}
	return c
}

// produceRaw sends one batch of records to topic-partition at Produce v9
// and returns the partition's answer.
func produceRaw(t *testing.T, tb *testBroker, topic string, partition int32, codec sdk.Codec, keys ...[]byte) kmsg.ProduceResponseTopicPartition {
	t.Helper()
	bld := record.NewBuilder(record.BuilderOptions{Codec: codec})
	for i, k := range keys {
		bld.Append(k, fmt.Appendf(nil, "v%d", i), 1_700_000_000_000, nil)
	}
	batch, err := bld.Build(nil)
	if err != nil {
		t.Fatal(err)
	}
	req := kmsg.NewPtrProduceRequest()
	req.Acks = -1
	req.TimeoutMillis = 10000
	rt := kmsg.NewProduceRequestTopic()
	rt.Topic = topic
	rp := kmsg.NewProduceRequestTopicPartition()
	rp.Partition = partition
	rp.Records = batch
	rt.Partitions = append(rt.Partitions, rp)
	req.Topics = append(req.Topics, rt)
	resp := tb.send(t, req, 9).(*kmsg.ProduceResponse)
	return resp.Topics[0].Partitions[0]
}

// TestEnforcedPartitionerRejectsMisplacedKeys: with
// weir.partitioner.enforce=true, a batch whose keyed records sit where the
// topic's partitioner would not put them is refused with INVALID_RECORD,
// a message naming topic, partition and the right partition, and the
// record's index; a batch placed right, keyless records anywhere, and a
// topic that does not enforce are accepted.
func TestEnforcedPartitionerRejectsMisplacedKeys(t *testing.T) {
	tb := enforceBroker(t)
	tb.createTopic(t, "fb", 4, enforcing("first-byte"))
	tb.createTopic(t, "loose", 4, map[string]*string{"weir.partitioner": strPtr("first-byte")})

	// 'a' = 97 → partition 1 of 4; 'b' → 2.
	p := produceRaw(t, tb, "fb", 1, nil, []byte("a1"), nil, []byte("a2"))
	checkCode(t, "placed right", p.ErrorCode, p.ErrorMessage, noError, "")

	p = produceRaw(t, tb, "fb", 1, nil, []byte("a1"), []byte("b7"), nil, []byte("b8"))
	checkCode(t, "misplaced", p.ErrorCode, p.ErrorMessage, kerr.InvalidRecord,
		`topic "fb" enforces weir.partitioner "first-byte": 2 of 3 keyed records sent to partition 1 belong elsewhere; the first (record 1, key "b7") belongs on partition 2`)
	if len(p.ErrorRecords) != 2 || p.ErrorRecords[0].RelativeOffset != 1 || p.ErrorRecords[1].RelativeOffset != 3 ||
		!strings.Contains(*p.ErrorRecords[0].ErrorMessage, `key "b7" belongs on partition 2, not 1`) {
		t.Errorf("error records %+v, want records 1 and 3", p.ErrorRecords)
	}

	// Keyless records go anywhere.
	p = produceRaw(t, tb, "fb", 3, nil, nil, nil)
	checkCode(t, "keyless", p.ErrorCode, p.ErrorMessage, noError, "")

	// A compressed batch is decoded for its keys.
	zstd, _ := codecRegistry(t).CodecByName("zstd")
	p = produceRaw(t, tb, "fb", 2, zstd, []byte("b1"), []byte("a9"))
	checkCode(t, "compressed, misplaced", p.ErrorCode, p.ErrorMessage, kerr.InvalidRecord, `key "a9") belongs on partition 1`)
	p = produceRaw(t, tb, "fb", 2, zstd, []byte("b1"), []byte("b2"))
	checkCode(t, "compressed, placed right", p.ErrorCode, p.ErrorMessage, noError, "")

	// Not enforced: anything goes.
	p = produceRaw(t, tb, "loose", 0, nil, []byte("b1"))
	checkCode(t, "not enforced", p.ErrorCode, p.ErrorMessage, noError, "")

	// Only the accepted batches were written.
	if got := logEnds(t, tb, "fb"); fmt.Sprint(got) != "[0 3 2 2]" {
		t.Errorf("end offsets of fb: %v, want [0 3 2 2]", got)
	}
}

// TestEnforcedMurmur2AgreesWithFranzGo: a standard franz-go producer
// (murmur2 for keyed records) writes to a topic enforcing the default
// partitioner without a single rejection; the same records sent to the
// wrong partitions by a manual partitioner are all refused.
func TestEnforcedMurmur2AgreesWithFranzGo(t *testing.T) {
	tb := enforceBroker(t)
	tb.createTopic(t, "m", 5, enforcing(""))
	var recs []*kgo.Record
	for i := range 200 {
		recs = append(recs, &kgo.Record{Topic: "m", Key: fmt.Appendf(nil, "user-%d", i), Value: []byte("x")})
	}
	recs = append(recs, &kgo.Record{Topic: "m", Value: []byte("keyless")})
	if err := tb.client().ProduceSync(adminCtx(t), recs...).FirstErr(); err != nil {
		t.Fatalf("franz-go's default partitioner refused: %v", err)
	}

	wrong := tb.client(kgo.RecordPartitioner(kgo.ManualPartitioner()), kgo.RecordRetries(1))
	r := &kgo.Record{Topic: "m", Key: []byte("user-1"), Partition: (partitioners.Murmur2Partition([]byte("user-1"), 5) + 1) % 5}
	if err := wrong.ProduceSync(adminCtx(t), r).FirstErr(); !errors.Is(err, kerr.InvalidRecord) {
		t.Fatalf("misplaced record: %v, want INVALID_RECORD", err)
	}
}

// TestEnforcementEdgeCases: roundrobin checks nothing; a partitioner the
// broker does not have (a topic created while a plugin was configured,
// which is gone since) refuses keyed records (but not keyless ones) with
// a message saying why.
func TestEnforcementEdgeCases(t *testing.T) {
	tb := enforceBroker(t)
	tb.createTopic(t, "rr", 3, enforcing("roundrobin"))
	// CreateTopics refuses an unknown partitioner; the controller takes it.
	cmd, err := tb.b.createTopicCommand("gone", 3, 1, nil, map[string]string{"weir.partitioner.enforce": "true", "weir.partitioner": "no-such-plugin"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := tb.meta.Submit(adminCtx(t), cmd); err != nil {
		t.Fatal(err)
	}

	p := produceRaw(t, tb, "rr", 2, nil, []byte("a"), []byte("b"))
	checkCode(t, "roundrobin", p.ErrorCode, p.ErrorMessage, noError, "")

	p = produceRaw(t, tb, "gone", 0, nil, []byte("a"))
	checkCode(t, "unregistered", p.ErrorCode, p.ErrorMessage, kerr.InvalidRecord,
		`enforces weir.partitioner "no-such-plugin", which is not registered on this broker`)
	p = produceRaw(t, tb, "gone", 0, nil, nil)
	checkCode(t, "unregistered, keyless", p.ErrorCode, p.ErrorMessage, noError, "")
}

func strPtr(s string) *string { return &s }

func codecRegistry(t *testing.T) *sdk.Registry {
	t.Helper()
	r := sdk.NewRegistry()
	if err := codecs.Register(r); err != nil {
		t.Fatal(err)
	}
	return r
}

// logEnds lists the log end offset of each partition of topic.
func logEnds(t *testing.T, tb *testBroker, topic string) []int64 {
	t.Helper()
	ends, err := tb.admin().ListEndOffsets(adminCtx(t), topic)
	if err != nil {
		t.Fatal(err)
	}
	var out []int64
	for p := int32(0); ; p++ {
		o, ok := ends.Lookup(topic, p)
		if !ok {
			return out
		}
		out = append(out, o.Offset)
	}
}
