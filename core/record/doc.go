// Package record reads and writes Kafka record batches, format v2 (magic 2):
// the unit a producer sends, the log stores byte for byte, and a fetch
// returns.
//
// A batch is a fixed 61-byte header (HeaderSize) followed by its records,
// which may be compressed as a whole. The broker mostly handles batches
// without opening them:
//
//   - NextBatch splits a produce request's records field, or a stretch of a
//     segment file, into batches.
//   - ReadHeader decodes a header and checks it is self-consistent; Validate
//     also checks that the bytes are exactly one batch and that its CRC-32C
//     matches.
//   - SetBaseOffset and SetPartitionLeaderEpoch assign a batch its place in
//     the log in place; both fields lie outside the CRC. SetLogAppendTime
//     (and SetMaxTimestamp) rewrite the timestamp type and recompute the CRC.
//
// To look inside, an Iterator decodes the records, decompressing through
// the sdk.Codec that a CodecSource (an *sdk.Registry) gives for the batch's
// compression type. This package never imports a codec itself. A Builder
// goes the other way, for Weir's own producers, compaction and tests.
//
// # Untrusted input
//
// Every function here takes bytes from the network or disk at face value
// only after checking them: each length, count and varint is checked against
// the bytes actually present before anything is sliced or allocated, and
// decompression stops at the caller's maxDecoded. Bad input gives an error
// wrapping ErrCorrupt, ErrTruncated, ErrUnsupportedMagic, ErrTooLarge or
// ErrUnsupportedCompression (test with errors.Is), with a message naming the
// field and its value; it never panics. Corruption is not retriable.
//
// Message sets of formats v0 and v1 (magic 0 and 1) are rejected with
// ErrUnsupportedMagic, as Kafka 4 rejects them: every client since Kafka
// 0.11 writes v2.
//
// # Ownership
//
// Nothing here copies a batch. NextBatch returns slices of its input.
// Records from an Iterator alias the batch when it is uncompressed and the
// Iterator's decompression buffer when it is not; the latter is reused by
// Iterator.Reset. Record.Clone makes an independent copy. A Builder copies
// what it is given and appends the batch to the caller's slice.
//
// Functions are safe for concurrent use on different batches; an Iterator or
// a Builder is used by one goroutine at a time.
package record
