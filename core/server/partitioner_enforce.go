package server

import (
	"context"
	"errors"
	"fmt"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/weirmq/weir/core/record"
	"github.com/weirmq/weir/sdk"
)

// Partitioner enforcement (weir.partitioner.enforce): a topic that sets it
// accepts a produce batch only if each of its keyed records sits on the
// partition the topic's weir.partitioner chooses for its key. Weir's own
// producers, and Kafka clients using the Go helper in producer/, place
// records that way; a standard client with its own partitioner gets
// INVALID_RECORD, with a message naming the topic, the partition, the
// record and where it belongs (and, from Produce v8, the record's index in
// ErrorRecords).
//
// What is not checked, and why:
//   - Keyless records. Every partitioner spreads them by state of its own
//     (a counter, a sticky choice), so no placement of a keyless record is
//     wrong; asking the partitioner would only advance that state.
//   - Topics whose partitioner is roundrobin: it ignores keys, so any
//     partition is one it could have chosen.
//   - Control batches (transaction markers) carry no user records.
//
// A partitioner named by the topic but not registered on this broker (a
// [[plugins]] entry since removed) cannot be checked against: keyed records
// are then refused with a message saying so, rather than let through
// unchecked. A plugin partitioner that fails is answered by its fallback
// (murmur2, see plugins/fallback), so while a plugin is broken the check
// compares against murmur2.
//
// The check costs one Partition call per partition of a produce request,
// over the keys of all its records, plus decoding the records (a second
// decompression for compressed batches); topics that do not enforce pay
// one map lookup.

// partitionerRegistry is what the broker needs of the sdk.Registry to
// check placement.
type partitionerRegistry interface {
	Partitioner(name string) (sdk.Partitioner, bool)
}

const (
	// defaultPartitioner is the partitioner of a topic whose
	// weir.partitioner is empty (partitioners.Default).
	defaultPartitioner = "murmur2"
	// roundRobinPartitioner ignores keys; enforcing it checks nothing.
	roundRobinPartitioner = "roundrobin"
	// maxEnforceDecoded bounds what one compressed batch may decompress to
	// while its keys are collected.
	maxEnforceDecoded = 64 << 20
	// maxKeyShown is how much of a key an error message quotes.
	maxKeyShown = 64
)

// enforcePartitioner checks the placement of one partition's records of a
// produce request against the topic's partitioner, when the topic sets
// weir.partitioner.enforce. It returns nil when the topic does not enforce,
// when every keyed record is where the partitioner puts it, and when the
// partition is not hosted here or a batch does not validate (the append
// that follows reports those with their own codes). Otherwise it returns
// an error wrapping kerr.InvalidRecord (misplaced records, unreadable
// records, an unregistered partitioner), kerr.RequestTimedOut (ctx ended)
// or kerr.UnknownServerError (the partitioner and its fallback failed),
// and lists the misplaced records in sp.ErrorRecords. Nothing has been
// written when it returns an error.
func (b *Broker) enforcePartitioner(ctx context.Context, topic string, rp kmsg.ProduceRequestTopicPartition, sp *kmsg.ProduceResponseTopicPartition) error {
	tc, ok := b.topicConfig(topic)
	if !ok || !tc.WeirPartitionerEnforce || b.partition(topic, rp.Partition) == nil {
		return nil
	}
	name := tc.WeirPartitioner
	if name == "" {
		name = defaultPartitioner
	}
	if name == roundRobinPartitioner {
		return nil
	}
	t, ok := b.opts.Metadata.Image().TopicByName(topic)
	if !ok || len(t.Partitions) == 0 {
		return nil
	}
	keys, index, err := placementKeys(rp.Records, b.opts.Codecs)
	if err != nil {
		return fmt.Errorf("%w: topic %q enforces weir.partitioner %q and the records for partition %d cannot be read to check it: %v",
			kerr.InvalidRecord, topic, name, rp.Partition, err)
	}
	if len(keys) == 0 {
		return nil
	}
	var p sdk.Partitioner
	if b.opts.Partitioners != nil {
		p, ok = b.opts.Partitioners.Partitioner(name)
	}
	if p == nil || !ok {
		return fmt.Errorf("%w: topic %q enforces weir.partitioner %q, which is not registered on this broker, so keyed records cannot be checked; set weir.partitioner to a built-in or a [[plugins]] entry, or weir.partitioner.enforce=false",
			kerr.InvalidRecord, topic, name)
	}
	in := sdk.PartitionInput{Topic: topic, NumPartitions: int32(len(t.Partitions)), Keys: keys}
	want := make([]int32, len(keys))
	err = p.Partition(ctx, in, want)
	if errors.Is(err, sdk.ErrDecline) && name != defaultPartitioner {
		// An unwrapped partitioner declining: the built-in answers, as the
		// contract says.
		if murmur, ok := b.opts.Partitioners.Partitioner(defaultPartitioner); ok {
			err = murmur.Partition(ctx, in, want)
		}
	}
	if err == nil {
		err = sdk.CheckPartitions(in, want)
	}
	if err != nil {
		if ctx.Err() != nil {
			return fmt.Errorf("%w: checking placement with weir.partitioner %q: %v", kerr.RequestTimedOut, name, err)
		}
		return fmt.Errorf("%w: topic %q enforces weir.partitioner %q, which failed: %v", kerr.UnknownServerError, topic, name, err)
	}
	first := -1
	misplaced := 0
	for i, part := range want {
		if part == rp.Partition {
			continue
		}
		misplaced++
		if first < 0 {
			first = i
		}
		if len(sp.ErrorRecords) < maxErrorRecords {
			addErrorRecord(sp, index[i], fmt.Sprintf("key %s belongs on partition %d, not %d", showKey(keys[i]), part, rp.Partition))
		}
	}
	if misplaced == 0 {
		return nil
	}
	return fmt.Errorf("%w: topic %q enforces weir.partitioner %q: %d of %d keyed records sent to partition %d belong elsewhere; the first (record %d, key %s) belongs on partition %d",
		kerr.InvalidRecord, topic, name, misplaced, len(keys), rp.Partition, index[first], showKey(keys[first]), want[first])
}

// placementKeys returns the keys of the keyed records in records (the
// records field of one partition of a produce request: one or more
// batches), and the index of each record among all records of the field.
// Keys alias records or a decompression buffer of their own (one per
// compressed batch). Control batches are skipped. A batch that does not
// validate ends the walk without an error: the append that follows
// refuses it with its own code.
func placementKeys(records []byte, codecs record.CodecSource) (keys [][]byte, index []int32, err error) {
	var pos int32
	for rest := records; len(rest) > 0; {
		var batch []byte
		if batch, rest, err = record.NextBatch(rest); err != nil {
			return keys, index, nil
		}
		h, err := record.Validate(batch)
		if err != nil {
			return keys, index, nil
		}
		if h.Attributes.Control() {
			pos += h.NumRecords
			continue
		}
		if keys == nil {
			keys, index = make([][]byte, 0, h.NumRecords), make([]int32, 0, h.NumRecords)
		}
		// An Iterator per batch: keys of a compressed batch point into its
		// decompression buffer, which a Reset would reuse.
		it, err := record.NewIterator(batch, codecs, maxEnforceDecoded)
		if err != nil {
			return nil, nil, err
		}
		for r, ok := it.Next(); ok; r, ok = it.Next() {
			if r.Key != nil {
				keys = append(keys, r.Key)
				index = append(index, pos)
			}
			pos++
		}
		if err := it.Err(); err != nil {
			return nil, nil, err
		}
	}
	return keys, index, nil
}

// showKey quotes a key for an error message, cut to maxKeyShown bytes.
func showKey(k []byte) string {
	if len(k) > maxKeyShown {
		return fmt.Sprintf("%q…", k[:maxKeyShown])
	}
	return fmt.Sprintf("%q", k)
}

// maxErrorRecords is how many records one partition's answer lists in
// ErrorRecords: enough to see the pattern, not one entry per record of a
// large batch.
const maxErrorRecords = 16

// addErrorRecord lists record pos of the batch in sp's ErrorRecords with
// msg (Produce v8+ carries them; older versions drop them).
func addErrorRecord(sp *kmsg.ProduceResponseTopicPartition, pos int32, msg string) {
	er := kmsg.NewProduceResponseTopicPartitionErrorRecord()
	er.RelativeOffset, er.ErrorMessage = pos, &msg
	sp.ErrorRecords = append(sp.ErrorRecords, er)
}
