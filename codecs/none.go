package codecs

import "github.com/weirmq/weir/sdk"

// None is the codec for compression type 0: records stored as they are. It
// exists so that every compression type resolves to a codec; Encode and
// Decode copy.
//
// None is safe for concurrent use.
type None struct{}

var _ sdk.Codec = (*None)(nil)

// NewNone returns the codec for uncompressed batches.
func NewNone() *None { return &None{} }

// ID returns sdk.CompressionNone.
func (*None) ID() sdk.CompressionID { return sdk.CompressionNone }

// Name returns "none".
func (*None) Name() string { return "none" }

// Encode appends src to dst. It never fails.
func (*None) Encode(dst, src []byte) ([]byte, error) {
	return append(dst, src...), nil
}

// Decode appends src to dst. It fails with an error wrapping
// sdk.ErrDecodedTooLarge, leaving dst as it was, if src is longer than
// maxSize.
func (*None) Decode(dst, src []byte, maxSize int) ([]byte, error) {
	if len(src) > max(maxSize, 0) {
		return dst, tooLarge(sdk.CompressionNone, maxSize)
	}
	return append(dst, src...), nil
}
