package codecs

import (
	"bytes"
	"encoding/binary"

	"github.com/klauspost/compress/s2"
	"github.com/klauspost/compress/snappy"
	"github.com/weirmq/weir/sdk"
)

// The xerial framing that snappy-java's SnappyOutputStream writes, and so
// every Java producer: a 16-byte header (magic, version, compatible version),
// then chunks of [4-byte big-endian length][raw snappy block].
var xerialMagic = [8]byte{0x82, 'S', 'N', 'A', 'P', 'P', 'Y', 0}

const (
	xerialHeaderLen = 16
	xerialVersion   = 1
	xerialCompat    = 1
	// xerialChunk is how much input each chunk holds: SnappyOutputStream's
	// default block size, so readers see chunks of the size they expect.
	xerialChunk = 32 << 10
	// snappyMaxRatio bounds how far a standard snappy block can expand: the
	// best element, a 3-byte copy, yields 64 bytes. A block whose header
	// claims more than this many times its length is lying.
	snappyMaxRatio = 22
)

// Snappy is the codec for compression type 2.
//
// Encode writes xerial framing. Kafka's own client writes it (Java producers
// wrap snappy-java's SnappyOutputStream), so it is the one form every Kafka
// client must read, old Java consumers included; a raw block is only
// understood by readers that sniff for the xerial magic and fall back. Decode
// accepts both, as the Java client's SnappyInputStream does.
//
// Snappy is safe for concurrent use; it keeps no state. The zero value is
// ready to use.
type Snappy struct{}

var _ sdk.Codec = (*Snappy)(nil)

// NewSnappy returns the snappy codec.
func NewSnappy() *Snappy { return &Snappy{} }

// ID returns sdk.CompressionSnappy.
func (*Snappy) ID() sdk.CompressionID { return sdk.CompressionSnappy }

// Name returns "snappy".
func (*Snappy) Name() string { return "snappy" }

// Encode appends src to dst in xerial framing, 32 KiB of input per chunk, and
// returns the extended slice. It does not fail.
func (*Snappy) Encode(dst, src []byte) ([]byte, error) {
	// Make room for the worst case at once, so there is one allocation at
	// most and no chunk is copied twice.
	chunks := (len(src) + xerialChunk - 1) / xerialChunk
	bound := xerialHeaderLen
	if chunks > 0 {
		bound += (chunks-1)*(4+s2.MaxEncodedLen(xerialChunk)) + 4 + s2.MaxEncodedLen(len(src)-(chunks-1)*xerialChunk)
	}
	out := reserveExact(dst, bound)

	out = append(out, xerialMagic[:]...)
	out = binary.BigEndian.AppendUint32(out, xerialVersion)
	out = binary.BigEndian.AppendUint32(out, xerialCompat)
	for len(src) > 0 {
		chunk := src[:min(len(src), xerialChunk)]
		src = src[len(chunk):]
		at := len(out)
		// EncodeSnappy writes from the start of the slice it is given when
		// that slice has room for the worst case, which reserveExact made.
		block := s2.EncodeSnappy(out[at+4:cap(out)], chunk)
		binary.BigEndian.PutUint32(out[at:at+4], uint32(len(block)))
		if !sameArray(block, out[at+4:cap(out)]) {
			out = append(out[:at+4], block...) // Not reached; kept for safety.
		} else {
			out = out[:at+4+len(block)]
		}
	}
	return out, nil
}

// Decode appends the decompressed form of src to dst and returns the
// extended slice. src may be xerial-framed (as the Java client writes) or a
// single raw snappy block (as some other clients write); like the Java
// client, Decode takes input that starts with the 16-byte xerial header as
// framed, and anything else as raw. Empty input decodes to nothing, as it
// does in the Java client.
//
// Blocks are decoded strictly: the s2 extensions some Go encoders emit are
// rejected, since the Java client could not read them.
//
// Lengths in the input are never trusted: every claim is checked against the
// remaining input and maxSize before anything is allocated, and the output is
// sized exactly, once. Decode fails with an error wrapping
// sdk.ErrDecodedTooLarge if the output would pass maxSize bytes, and with one
// wrapping ErrCorrupt if src is not valid; either way it returns dst as it
// was.
func (*Snappy) Decode(dst, src []byte, maxSize int) ([]byte, error) {
	if len(src) == 0 {
		return dst, nil
	}
	if len(src) >= xerialHeaderLen && bytes.Equal(src[:len(xerialMagic)], xerialMagic[:]) {
		return decodeXerial(dst, src, maxSize)
	}
	n, err := snappyBlockLen(src)
	if err != nil {
		return dst, err
	}
	if n > max(maxSize, 0) {
		return dst, tooLarge(sdk.CompressionSnappy, maxSize)
	}
	out := reserveExact(dst, n)
	return decodeSnappyBlock(dst, out, src, n)
}

// decodeXerial decodes xerial framing in two passes: the first walks the
// chunk headers, checking each length against the input and summing the
// decoded lengths against maxSize; the second decodes into output sized
// exactly.
func decodeXerial(dst, src []byte, maxSize int) ([]byte, error) {
	total := 0
	for rest := src[xerialHeaderLen:]; len(rest) > 0; {
		block, next, err := nextXerialChunk(src, rest)
		if err != nil {
			return dst, err
		}
		rest = next
		if block == nil {
			continue
		}
		n, err := snappyBlockLen(block)
		if err != nil {
			return dst, err
		}
		if n > max(maxSize, 0)-total {
			return dst, tooLarge(sdk.CompressionSnappy, maxSize)
		}
		total += n
	}

	out := reserveExact(dst, total)
	for rest := src[xerialHeaderLen:]; len(rest) > 0; {
		block, next, _ := nextXerialChunk(src, rest) // Checked above.
		rest = next
		if block == nil {
			continue
		}
		n, _ := snappyBlockLen(block) // Checked above.
		var err error
		if out, err = decodeSnappyBlock(dst, out, block, n); err != nil {
			return dst, err
		}
	}
	return out, nil
}

// nextXerialChunk splits the chunk at the front of rest, which is a suffix of
// src, into its snappy block and what follows. A second xerial header where a
// chunk length should be (as left by concatenating two streams, which
// snappy-java accepts) yields a nil block.
func nextXerialChunk(src, rest []byte) (block, next []byte, err error) {
	offset := len(src) - len(rest)
	if len(rest) >= len(xerialMagic) && bytes.Equal(rest[:len(xerialMagic)], xerialMagic[:]) {
		if len(rest) < xerialHeaderLen {
			return nil, nil, corrupt(sdk.CompressionSnappy, "truncated xerial header at offset %d", offset)
		}
		return nil, rest[xerialHeaderLen:], nil
	}
	if len(rest) < 4 {
		return nil, nil, corrupt(sdk.CompressionSnappy, "truncated xerial chunk length at offset %d (%d bytes left)", offset, len(rest))
	}
	n := binary.BigEndian.Uint32(rest)
	if n == 0 {
		return nil, nil, corrupt(sdk.CompressionSnappy, "empty xerial chunk at offset %d", offset)
	}
	if uint64(n) > uint64(len(rest)-4) {
		return nil, nil, corrupt(sdk.CompressionSnappy, "xerial chunk at offset %d claims %d bytes but only %d remain", offset, n, len(rest)-4)
	}
	return rest[4 : 4+n], rest[4+n:], nil
}

// snappyBlockLen returns the decoded length a raw snappy block claims, after
// checking the claim is possible for a block of its size.
func snappyBlockLen(block []byte) (int, error) {
	n, err := snappy.DecodedLen(block)
	if err != nil {
		return 0, corruptCause(sdk.CompressionSnappy, err)
	}
	if n/snappyMaxRatio > len(block) {
		return 0, corrupt(sdk.CompressionSnappy, "block of %d bytes claims to decode to %d bytes", len(block), n)
	}
	return n, nil
}

// decodeSnappyBlock decodes block, which claims n bytes, onto the end of out,
// which has room for them. On error it returns dst.
func decodeSnappyBlock(dst, out, block []byte, n int) ([]byte, error) {
	at := len(out)
	room := out[at : at+n]
	got, err := snappy.DecodeStrict(room, block)
	if err != nil {
		return dst, corruptCause(sdk.CompressionSnappy, err)
	}
	if len(got) != n || (n > 0 && !sameArray(got, room)) {
		return dst, corrupt(sdk.CompressionSnappy, "block decoded to %d bytes, not the %d it claims", len(got), n)
	}
	return out[:at+n], nil
}

// reserveExact returns dst with room for exactly n more bytes, reallocating
// only if it has less.
func reserveExact(dst []byte, n int) []byte {
	if cap(dst)-len(dst) >= n {
		return dst
	}
	buf := make([]byte, len(dst), len(dst)+n)
	copy(buf, dst)
	return buf
}
