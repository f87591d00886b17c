package record

import (
	"errors"
	"fmt"
)

// Sentinel errors. Every error from reading a batch wraps exactly one of
// them (test with errors.Is) and says what was wrong: the field, its value
// and the bound it broke. Builder.Build can also return a codec's own error.
var (
	// ErrCorrupt marks bytes that are not a well-formed v2 record batch:
	// a bad CRC, an impossible length or count, a malformed varint, a record
	// whose length disagrees with its contents, trailing garbage. Corruption
	// is never retriable; in the log it fences the partition.
	ErrCorrupt = errors.New("record: corrupt batch")

	// ErrTruncated marks input that ends before the batch does: fewer bytes
	// than the header, or than the header's batch length promises. At the
	// tail of a segment it is a torn write; in a request it is a bad frame.
	ErrTruncated = errors.New("record: truncated batch")

	// ErrUnsupportedMagic marks a message set of format v0 or v1 (magic 0 or
	// 1). Like Kafka 4, Weir accepts only record batch v2.
	ErrUnsupportedMagic = errors.New("record: unsupported message format")

	// ErrTooLarge marks a compressed batch that would decompress to more
	// bytes than the caller allows (the error also wraps the codec's
	// sdk.ErrDecodedTooLarge), or a batch a Builder cannot encode because its
	// length would not fit the int32 batch length field.
	ErrTooLarge = errors.New("record: batch too large")

	// ErrUnsupportedCompression marks a batch whose compression type has no
	// codec in the CodecSource (or is not one Kafka defines).
	ErrUnsupportedCompression = errors.New("record: unsupported compression")
)

func corruptf(format string, args ...any) error {
	return fmt.Errorf("%w: "+format, append([]any{ErrCorrupt}, args...)...)
}

func truncatedf(format string, args ...any) error {
	return fmt.Errorf("%w: "+format, append([]any{ErrTruncated}, args...)...)
}
