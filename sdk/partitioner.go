package sdk

import (
	"context"
	"errors"
	"fmt"
)

// ErrDecline is returned (possibly wrapped) by a plugin that chooses not to
// decide: the caller then uses the built-in implementation for that call
// (murmur2 for partitioners, Kafka's keep-latest rule for compaction
// filters). It is not a failure and does not count towards a plugin's
// circuit breaker.
var ErrDecline = errors.New("sdk: plugin declined; use the built-in")

// Partitioner chooses partitions for records produced through Weir's own
// producers (`weir produce`, the HTTP produce endpoint, the NATS bridge, the
// Go helper for franz-go) and, for topics with
// weir.partitioner.enforce=true, checks where Kafka clients put their
// records.
//
// A Partitioner is called with a batch of keys at a time, so a plugin
// costs one call per batch rather than one per record.
//
// Implementations must be safe for concurrent use by multiple goroutines.
type Partitioner interface {
	// Name is the partitioner's name as the topic config weir.partitioner
	// spells it: "murmur2", "roundrobin", "uniform-sticky", or a
	// [[plugins]] name.
	Name() string

	// Partition writes into out[i] the partition, in [0,
	// in.NumPartitions), of the record whose key is in.Keys[i]; len(out)
	// equals len(in.Keys). A nil key means the record has no key; an empty
	// non-nil key is a key of length zero (Kafka distinguishes them).
	//
	// Partition must not keep in.Keys or out after it returns. On error the
	// contents of out are undefined: callers fall back to the built-in
	// murmur2 partitioner for the whole batch when the error wraps
	// ErrDecline, and otherwise report the error (after a plugin host's
	// own fallback rules). Callers check every answer with
	// CheckPartitions, so a plugin returning an out-of-range partition is
	// treated as a failure.
	Partition(ctx context.Context, in PartitionInput, out []int32) error
}

// PartitionInput is one batch of records to place.
type PartitionInput struct {
	// Topic is the topic the records go to.
	Topic string

	// NumPartitions is the topic's partition count, at least 1.
	NumPartitions int32

	// Keys holds each record's key; nil for a record without one.
	Keys [][]byte
}

// CheckPartitions reports whether out is a valid answer for in: as many
// partitions as keys, each in [0, in.NumPartitions). It returns nil or an
// error naming the first bad entry.
func CheckPartitions(in PartitionInput, out []int32) error {
	if len(out) != len(in.Keys) {
		return fmt.Errorf("sdk: partitioner answered %d partitions for %d keys", len(out), len(in.Keys))
	}
	for i, p := range out {
		if p < 0 || p >= in.NumPartitions {
			return fmt.Errorf("sdk: partitioner put key %d on partition %d of a %d-partition topic", i, p, in.NumPartitions)
		}
	}
	return nil
}
