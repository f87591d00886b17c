package group

import "unicode/utf16"

// OffsetsTopic is the internal topic that holds committed offsets and
// group metadata.
const OffsetsTopic = "__consumer_offsets"

// PartitionFor returns the partition of __consumer_offsets (of n
// partitions) whose leader coordinates group, as Kafka places it:
// abs(hashCode(group)) % n with Java's String.hashCode and Kafka's
// Utils.abs, so a group keeps its coordinator partition across Kafka and
// Weir. n must be positive.
func PartitionFor(group string, n int32) int32 {
	return kafkaAbs(javaStringHash(group)) % n
}

// javaStringHash is Java's String.hashCode: h = 31*h + c over the UTF-16
// code units of s, in wrapping int32 arithmetic. Bytes that are not UTF-8
// count as U+FFFD, as Java's decoder of the request would make them.
func javaStringHash(s string) int32 {
	var h int32
	for _, r := range s {
		if r >= 0x10000 {
			hi, lo := utf16.EncodeRune(r)
			h = 31*h + hi
			h = 31*h + lo
			continue
		}
		h = 31*h + r
	}
	return h
}

// kafkaAbs is Kafka's Utils.abs: the absolute value, except that
// math.MinInt32 (which has none) maps to 0.
func kafkaAbs(n int32) int32 {
	switch {
	case n == -1<<31:
		return 0
	case n < 0:
		return -n
	}
	return n
}
