package producer

import (
	"context"
	"fmt"
	"sync"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/weirmq/weir/partitioners"
	"github.com/weirmq/weir/sdk"
)

// Partitioner returns a kgo.Partitioner that places every record as p
// places its key: give it to kgo.RecordPartitioner and a franz-go client
// writes where Weir's producers write, passing weir.partitioner.enforce.
// p sees the record's topic and the topic's full partition count, also
// while some partitions are unavailable (records wait for their partition
// rather than go elsewhere, as for any key-consistent partitioner).
//
// kgo asks for one record at a time, so a WASM partitioner costs one call
// per record this way; Place partitions a whole slice in one call, for
// clients using kgo.ManualPartitioner.
//
// If p fails (a plugin partitioner from FetchPartitioner is wrapped with a
// fallback and does not), the record is placed by murmur2. The result is
// safe for concurrent use if p is.
func Partitioner(p sdk.Partitioner) kgo.Partitioner { return kgoPartitioner{p: p} }

type kgoPartitioner struct{ p sdk.Partitioner }

func (k kgoPartitioner) ForTopic(topic string) kgo.TopicPartitioner {
	return &topicPartitioner{p: k.p, topic: topic}
}

type topicPartitioner struct {
	p     sdk.Partitioner
	topic string

	mu   sync.Mutex // guards the scratch space, so that a call allocates nothing
	keys [1][]byte
	out  [1]int32
}

// RequiresConsistency is true: n is then the topic's partition count, as
// the sdk contract wants, and a record waits for an unavailable partition.
func (*topicPartitioner) RequiresConsistency(*kgo.Record) bool { return true }

func (t *topicPartitioner) Partition(r *kgo.Record, n int) int {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.keys[0] = r.Key
	defer func() { t.keys[0] = nil }()
	in := sdk.PartitionInput{Topic: t.topic, NumPartitions: int32(n), Keys: t.keys[:]}
	out := t.out[:]
	if err := t.p.Partition(context.Background(), in, out); err != nil || sdk.CheckPartitions(in, out) != nil {
		if err := murmur2.Partition(context.Background(), in, out); err != nil {
			return 0
		}
	}
	return int(out[0])
}

// murmur2 answers when a partitioner fails.
var murmur2 = partitioners.Murmur2()

// Place sets the Partition of every record in recs with one call to p,
// for a client using kgo.ManualPartitioner. All records must be for one
// topic with numPartitions partitions; records whose Partition is already
// set are placed anyway (pass only those to place).
//
// It returns p's error (or the sdk.CheckPartitions error for an answer out
// of range) and then leaves every Partition unchanged. It is safe for
// concurrent use on distinct slices if p is.
func Place(ctx context.Context, p sdk.Partitioner, numPartitions int32, recs []*kgo.Record) error {
	if len(recs) == 0 {
		return nil
	}
	topic := recs[0].Topic
	keys := make([][]byte, len(recs))
	for i, r := range recs {
		if r.Topic != topic {
			return fmt.Errorf("producer: Place: records for topics %q and %q in one call", topic, r.Topic)
		}
		keys[i] = r.Key
	}
	in := sdk.PartitionInput{Topic: topic, NumPartitions: numPartitions, Keys: keys}
	out := make([]int32, len(recs))
	if err := p.Partition(ctx, in, out); err != nil {
		return fmt.Errorf("producer: partitioner %q for topic %q: %w", p.Name(), topic, err)
	}
	if err := sdk.CheckPartitions(in, out); err != nil {
		return fmt.Errorf("producer: partitioner %q for topic %q: %w", p.Name(), topic, err)
	}
	for i, r := range recs {
		r.Partition = out[i]
	}
	return nil
}
