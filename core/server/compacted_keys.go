package server

import (
	"fmt"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/weirmq/weir/core/record"
)

// checkCompactedKeys refuses, as Kafka does, records without a key sent to
// a topic whose cleanup.policy includes compact: the cleaner could only
// drop them. It returns nil for other topics, partitions not hosted here
// and batches that do not validate (the append reports those); otherwise
// an error wrapping kerr.InvalidRecord naming the topic and the first
// keyless record, with up to maxErrorRecords of them in sp.ErrorRecords.
// Nothing has been written when it returns an error. Compacted topics pay
// one decompression of each batch for it.
func (b *Broker) checkCompactedKeys(topic string, rp kmsg.ProduceRequestTopicPartition, sp *kmsg.ProduceResponseTopicPartition) error {
	tc, ok := b.topicConfig(topic)
	if !ok || !tc.CleanupPolicy.Compact || b.partition(topic, rp.Partition) == nil {
		return nil
	}
	var pos int32
	keyless := 0
	first := int32(-1)
	for rest := rp.Records; len(rest) > 0; {
		batch, next, err := record.NextBatch(rest)
		if err != nil {
			return nil
		}
		rest = next
		h, err := record.Validate(batch)
		if err != nil {
			return nil
		}
		if h.Attributes.Control() {
			pos += h.NumRecords
			continue
		}
		it, err := record.NewIterator(batch, b.opts.Codecs, maxEnforceDecoded)
		if err != nil {
			return fmt.Errorf("%w: topic %q is compacted and the records for partition %d cannot be read to check their keys: %v", kerr.InvalidRecord, topic, rp.Partition, err)
		}
		for r, ok := it.Next(); ok; r, ok = it.Next() {
			if r.Key == nil {
				if first < 0 {
					first = pos
				}
				if keyless < maxErrorRecords {
					addErrorRecord(sp, pos, "a compacted topic needs a key on every record")
				}
				keyless++
			}
			pos++
		}
		if err := it.Err(); err != nil {
			return fmt.Errorf("%w: topic %q is compacted and the records for partition %d cannot be read to check their keys: %v", kerr.InvalidRecord, topic, rp.Partition, err)
		}
	}
	if keyless == 0 {
		return nil
	}
	return fmt.Errorf("%w: topic %q is compacted (cleanup.policy=%s) and cannot accept records without a key: %d of the records for partition %d have none, the first is record %d",
		kerr.InvalidRecord, topic, tc.CleanupPolicy, keyless, rp.Partition, first)
}
