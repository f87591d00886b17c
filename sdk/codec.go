package sdk

import "errors"

// CompressionID is Kafka's compression type: the low three bits of a record
// batch's attributes.
type CompressionID int8

// The compression types Kafka defines.
const (
	CompressionNone   CompressionID = 0
	CompressionGzip   CompressionID = 1
	CompressionSnappy CompressionID = 2
	CompressionLZ4    CompressionID = 3
	CompressionZstd   CompressionID = 4
)

// String returns Kafka's name for the compression type ("none", "gzip",
// "snappy", "lz4", "zstd"), or "compression(N)" for an unknown one.
func (c CompressionID) String() string {
	switch c {
	case CompressionNone:
		return "none"
	case CompressionGzip:
		return "gzip"
	case CompressionSnappy:
		return "snappy"
	case CompressionLZ4:
		return "lz4"
	case CompressionZstd:
		return "zstd"
	}
	return "compression(" + itoa(int(c)) + ")"
}

// ErrDecodedTooLarge is returned (wrapped) by Codec.Decode when the decoded
// form would exceed the caller's limit. The limit is what keeps a hostile
// "compression bomb" from turning a small batch into a huge allocation.
var ErrDecodedTooLarge = errors.New("decoded data exceeds the size limit")

// Codec compresses and decompresses the records section of a record batch.
// A codec works on a whole batch at a time, so a plugin codec costs one call
// per batch.
//
// Implementations must be safe for concurrent use by multiple goroutines.
type Codec interface {
	// ID is the Kafka compression type this codec reads and writes.
	ID() CompressionID

	// Name is the codec's name as topic configs spell it ("gzip", "zstd", ...).
	Name() string

	// Encode appends the compressed form of src to dst and returns the
	// extended slice. src is not retained.
	Encode(dst, src []byte) ([]byte, error)

	// Decode appends the decompressed form of src to dst and returns the
	// extended slice. It fails with an error wrapping ErrDecodedTooLarge if
	// more than maxSize bytes would be appended, and with a descriptive error
	// if src is not valid input for the codec. src is not retained.
	Decode(dst, src []byte, maxSize int) ([]byte, error)
}

func itoa(n int) string {
	if n == 0 {
		return "0"
	}
	neg := n < 0
	if neg {
		n = -n
	}
	var b [20]byte
	i := len(b)
	for n > 0 {
		i--
		b[i] = byte('0' + n%10)
		n /= 10
	}
	if neg {
		i--
		b[i] = '-'
	}
	return string(b[i:])
}
