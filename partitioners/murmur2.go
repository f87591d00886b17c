package partitioners

import (
	"context"
	"sync/atomic"

	"github.com/weirmq/weir/sdk"
)

// Murmur2Hash is the Java Kafka client's murmur2 hash of key
// (org.apache.kafka.common.utils.Utils.murmur2), seed 0x9747b28c.
func Murmur2Hash(key []byte) int32 {
	const (
		seed uint32 = 0x9747b28c
		m    uint32 = 0x5bd1e995
		r           = 24
	)
	n := len(key)
	h := seed ^ uint32(n)
	for len(key) >= 4 {
		k := uint32(key[0]) | uint32(key[1])<<8 | uint32(key[2])<<16 | uint32(key[3])<<24
		k *= m
		k ^= k >> r
		k *= m
		h *= m
		h ^= k
		key = key[4:]
	}
	switch len(key) {
	case 3:
		h ^= uint32(key[2]) << 16
		fallthrough
	case 2:
		h ^= uint32(key[1]) << 8
		fallthrough
	case 1:
		h ^= uint32(key[0])
		h *= m
	}
	h ^= h >> 13
	h *= m
	h ^= h >> 15
	return int32(h)
}

// Murmur2Partition is the partition the Java client's default partitioner
// gives a record with this (non-nil) key: the positive murmur2 hash
// modulo the partition count. numPartitions must be at least 1.
func Murmur2Partition(key []byte, numPartitions int32) int32 {
	return int32(uint32(Murmur2Hash(key))&0x7fffffff) % numPartitions
}

// murmur2 places keyed records as the Java client does and spreads keyless
// records round-robin, record by record.
type murmur2 struct{ next atomic.Uint32 }

// Murmur2 returns the "murmur2" partitioner: a record with a key goes where
// the Java client's default partitioner puts it (the same key always lands
// on the same partition, whichever client wrote it); records without a key
// go round-robin. Safe for concurrent use.
func Murmur2() sdk.Partitioner { return &murmur2{} }

func (*murmur2) Name() string { return "murmur2" }

func (p *murmur2) Partition(_ context.Context, in sdk.PartitionInput, out []int32) error {
	if err := checkInput(in, out); err != nil {
		return err
	}
	for i, k := range in.Keys {
		if k == nil {
			out[i] = int32((p.next.Add(1) - 1) % uint32(in.NumPartitions))
			continue
		}
		out[i] = Murmur2Partition(k, in.NumPartitions)
	}
	return nil
}
