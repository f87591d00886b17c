package codecs

import (
	"encoding/binary"
	"sync"

	"github.com/pierrec/lz4/v4"
	"github.com/weirmq/weir/sdk"
)

// The LZ4 frame format (lz4_Frame_format.md in the lz4 repository). Kafka's
// record batches of magic 2 carry standard frames; magic 0 and 1 batches got
// the header checksum wrong, which this codec does not reproduce.
const (
	lz4FrameMagic     = 0x184D2204
	lz4SkippableMagic = 0x184D2A50 // The low four bits are free.
	lz4LegacyMagic    = 0x184C2102

	// FLG byte.
	lz4FlagVersionMask     = 0xC0
	lz4FlagVersion1        = 0x40
	lz4FlagBlockIndep      = 0x20
	lz4FlagBlockChecksum   = 0x10
	lz4FlagContentSize     = 0x08
	lz4FlagContentChecksum = 0x04
	lz4FlagReserved        = 0x02
	lz4FlagDictID          = 0x01

	// BD byte: bits 4-6 pick the block maximum size, the rest are reserved.
	lz4BDReserved = 0x8F
	lz4BD64KiB    = 4 << 4

	// lz4BlockUncompressed marks a block stored as is.
	lz4BlockUncompressed = 0x80000000

	// lz4EncodeBlock is the block size Encode writes: 64 KiB, what Kafka's
	// Java client writes and every LZ4 frame reader accepts.
	lz4EncodeBlock = 64 << 10

	// lz4MaxRatio bounds how far an LZ4 block can expand: each extra byte of
	// a match length adds at most 255 bytes of output.
	lz4MaxRatio = 255
)

// lz4Header is the frame header Encode writes: magic, FLG (version 1,
// independent blocks, no checksums, no content size), BD (64 KiB blocks) and
// the header checksum. It is what Kafka's KafkaLZ4BlockOutputStream writes.
// Integrity is left to the record batch's CRC-32C, which covers it.
var lz4Header = func() [7]byte {
	var h [7]byte
	binary.LittleEndian.PutUint32(h[:4], lz4FrameMagic)
	h[4] = lz4FlagVersion1 | lz4FlagBlockIndep
	h[5] = lz4BD64KiB
	h[6] = byte(xxh32(h[4:6]) >> 8)
	return h
}()

// LZ4 is the codec for compression type 3, the LZ4 frame format.
//
// The block codec is github.com/pierrec/lz4/v4's; the frame around it is
// handled here, so that blocks are decoded straight into the output with no
// intermediate buffer and no allocation beyond the output itself, whatever
// block size a frame declares.
//
// LZ4 is safe for concurrent use. The zero value is ready to use.
type LZ4 struct {
	compressors sync.Pool // *lz4.Compressor
}

var _ sdk.Codec = (*LZ4)(nil)

// NewLZ4 returns the lz4 codec.
func NewLZ4() *LZ4 { return &LZ4{} }

// ID returns sdk.CompressionLZ4.
func (*LZ4) ID() sdk.CompressionID { return sdk.CompressionLZ4 }

// Name returns "lz4".
func (*LZ4) Name() string { return "lz4" }

// Encode appends one LZ4 frame holding src to dst and returns the extended
// slice. The frame has independent 64 KiB blocks, each stored uncompressed
// if compression would not shrink it, and no checksums, as the Java client
// writes. It does not fail.
func (l *LZ4) Encode(dst, src []byte) ([]byte, error) {
	blocks := (len(src) + lz4EncodeBlock - 1) / lz4EncodeBlock
	out := reserveExact(dst, len(lz4Header)+blocks*4+len(src)+4)
	out = append(out, lz4Header[:]...)

	c, ok := l.compressors.Get().(*lz4.Compressor)
	if !ok {
		c = new(lz4.Compressor)
	}
	defer l.compressors.Put(c)

	for len(src) > 0 {
		block := src[:min(len(src), lz4EncodeBlock)]
		src = src[len(block):]
		at := len(out)
		// Offer one byte less than the block: if the compressed form does
		// not fit there it saves nothing, and the block is stored as is.
		room := len(block) - 1
		out = reserveExact(out, 4+len(block))
		n, err := c.CompressBlock(block, out[at+4:at+4+room])
		if err != nil || n <= 0 || n > room {
			binary.LittleEndian.PutUint32(out[at:at+4], uint32(len(block))|lz4BlockUncompressed)
			out = append(out[:at+4], block...)
			continue
		}
		binary.LittleEndian.PutUint32(out[at:at+4], uint32(n))
		out = out[:at+4+n]
	}
	return binary.LittleEndian.AppendUint32(out, 0), nil // End mark.
}

// Decode appends the decompressed form of src, one or more LZ4 frames, to dst
// and returns the extended slice. Skippable frames are skipped. Header, block
// and content checksums are verified when present, and so is the content
// size. Frames with dependent blocks or a dictionary ID are rejected, as
// Kafka's Java client rejects them, and so is the legacy format.
//
// Each block is decoded straight into the output. The output grows only as
// far as the blocks need (a declared content size sizes it once), so Decode
// allocates at most about maxSize, whatever block size a frame declares.
//
// Decode fails with an error wrapping sdk.ErrDecodedTooLarge if the output
// would pass maxSize bytes, and with one wrapping ErrCorrupt if src is not
// valid; either way it returns dst as it was.
func (*LZ4) Decode(dst, src []byte, maxSize int) ([]byte, error) {
	d := lz4Decoder{start: len(dst), limit: decodeLimit(len(dst), maxSize), maxSize: maxSize, out: dst}
	frames := 0
	for in := src; len(in) > 0; {
		if len(in) < 4 {
			return dst, corrupt(sdk.CompressionLZ4, "%d stray bytes after the last frame", len(in))
		}
		magic := binary.LittleEndian.Uint32(in)
		switch {
		case magic == lz4FrameMagic:
			rest, err := d.frame(in[4:])
			if err != nil {
				return dst, err
			}
			in = rest
			frames++
		case magic&^0xF == lz4SkippableMagic:
			if len(in) < 8 {
				return dst, corrupt(sdk.CompressionLZ4, "truncated skippable frame header")
			}
			n := binary.LittleEndian.Uint32(in[4:])
			if uint64(n) > uint64(len(in)-8) {
				return dst, corrupt(sdk.CompressionLZ4, "skippable frame claims %d bytes but only %d remain", n, len(in)-8)
			}
			in = in[8+n:]
		case magic == lz4LegacyMagic:
			return dst, corrupt(sdk.CompressionLZ4, "legacy LZ4 format is not supported; Kafka uses the LZ4 frame format")
		default:
			return dst, corrupt(sdk.CompressionLZ4, "bad magic number %#08x at offset %d", magic, len(src)-len(in))
		}
	}
	if frames == 0 {
		return dst, corrupt(sdk.CompressionLZ4, "no LZ4 frame in %d bytes of input", len(src))
	}
	return d.out, nil
}

// lz4Decoder holds one Decode call's output and its bounds.
type lz4Decoder struct {
	start   int // len(dst) when Decode started
	limit   int // the most len(out) may reach
	maxSize int
	out     []byte
}

// frame decodes one frame, whose magic number has been read, onto d.out and
// returns the input after it.
func (d *lz4Decoder) frame(in []byte) ([]byte, error) {
	if len(in) < 3 {
		return nil, corrupt(sdk.CompressionLZ4, "truncated frame descriptor")
	}
	flg, bd := in[0], in[1]
	switch {
	case flg&lz4FlagVersionMask != lz4FlagVersion1:
		return nil, corrupt(sdk.CompressionLZ4, "unsupported frame version %d", flg>>6)
	case flg&lz4FlagReserved != 0 || bd&lz4BDReserved != 0:
		return nil, corrupt(sdk.CompressionLZ4, "reserved bits set in frame descriptor (FLG %#02x, BD %#02x)", flg, bd)
	case flg&lz4FlagBlockIndep == 0:
		return nil, corrupt(sdk.CompressionLZ4, "frame uses dependent blocks, which Kafka does not support")
	case flg&lz4FlagDictID != 0:
		return nil, corrupt(sdk.CompressionLZ4, "frame needs a dictionary, which Kafka does not support")
	}
	var blockMax int
	switch bd >> 4 {
	case 4:
		blockMax = 64 << 10
	case 5:
		blockMax = 256 << 10
	case 6:
		blockMax = 1 << 20
	case 7:
		blockMax = 4 << 20
	default:
		return nil, corrupt(sdk.CompressionLZ4, "invalid block maximum size code %d", bd>>4)
	}
	descLen := 2
	hasSize := flg&lz4FlagContentSize != 0
	if hasSize {
		descLen += 8
	}
	if len(in) < descLen+1 {
		return nil, corrupt(sdk.CompressionLZ4, "truncated frame descriptor")
	}
	if want := byte(xxh32(in[:descLen]) >> 8); in[descLen] != want {
		return nil, corrupt(sdk.CompressionLZ4, "frame header checksum is %#02x, want %#02x", in[descLen], want)
	}
	var contentSize uint64
	if hasSize {
		contentSize = binary.LittleEndian.Uint64(in[2:])
	}
	in = in[descLen+1:]

	frameStart := len(d.out)
	if hasSize {
		if contentSize > uint64(d.limit-len(d.out)) {
			return nil, tooLarge(sdk.CompressionLZ4, d.maxSize)
		}
		// Size the output once, but no larger than the rest of the input
		// could possibly expand to.
		hint := int(contentSize)
		if len(in) < hint/lz4MaxRatio {
			hint = len(in) * lz4MaxRatio
		}
		d.out = reserveExact(d.out, hint)
	}

	blockChecksum := flg&lz4FlagBlockChecksum != 0
	for {
		if len(in) < 4 {
			return nil, corrupt(sdk.CompressionLZ4, "frame ends without an end mark")
		}
		size := binary.LittleEndian.Uint32(in)
		in = in[4:]
		if size == 0 {
			break // End mark.
		}
		n := int(size &^ lz4BlockUncompressed)
		if n > blockMax {
			return nil, corrupt(sdk.CompressionLZ4, "block of %d bytes exceeds the frame's block maximum of %d", n, blockMax)
		}
		need := n
		if blockChecksum {
			need += 4
		}
		if len(in) < need {
			return nil, corrupt(sdk.CompressionLZ4, "block claims %d bytes but only %d remain", need, len(in))
		}
		data := in[:n]
		if blockChecksum {
			if got, want := xxh32(data), binary.LittleEndian.Uint32(in[n:]); got != want {
				return nil, corrupt(sdk.CompressionLZ4, "block checksum is %#08x, want %#08x", got, want)
			}
		}
		in = in[need:]
		if err := d.block(data, size&lz4BlockUncompressed != 0, blockMax); err != nil {
			return nil, err
		}
	}

	if flg&lz4FlagContentChecksum != 0 {
		if len(in) < 4 {
			return nil, corrupt(sdk.CompressionLZ4, "truncated content checksum")
		}
		if got, want := xxh32(d.out[frameStart:]), binary.LittleEndian.Uint32(in); got != want {
			return nil, corrupt(sdk.CompressionLZ4, "content checksum is %#08x, want %#08x", got, want)
		}
		in = in[4:]
	}
	if got := uint64(len(d.out) - frameStart); hasSize && got != contentSize {
		return nil, corrupt(sdk.CompressionLZ4, "frame decoded to %d bytes but its header says %d", got, contentSize)
	}
	return in, nil
}

// block decodes one block onto d.out.
func (d *lz4Decoder) block(data []byte, uncompressed bool, blockMax int) error {
	at := len(d.out)
	if uncompressed {
		if len(data) > d.limit-at {
			return tooLarge(sdk.CompressionLZ4, d.maxSize)
		}
		d.out = append(reserve(d.out, len(data), d.start, d.limit), data...)
		return nil
	}

	// With room for a whole block, decode straight away: a valid block
	// fits, so failure means corruption.
	if min(cap(d.out), d.limit)-at >= blockMax {
		n, err := lz4.UncompressBlock(data, d.out[at:at+blockMax])
		if err != nil {
			return corruptCause(sdk.CompressionLZ4, err)
		}
		d.out = d.out[:at+n]
		return nil
	}

	// Otherwise learn the block's decoded size from its sequence headers,
	// so that the output grows only as far as needed and a block that would
	// pass maxSize is told apart from a corrupt one.
	n, ok := lz4BlockLen(data, blockMax)
	if !ok {
		return corrupt(sdk.CompressionLZ4, "malformed block")
	}
	if n > blockMax {
		return corrupt(sdk.CompressionLZ4, "block decodes past the frame's block maximum of %d bytes", blockMax)
	}
	if n > d.limit-at {
		return tooLarge(sdk.CompressionLZ4, d.maxSize)
	}
	d.out = reserve(d.out, n, d.start, d.limit)
	got, err := lz4.UncompressBlock(data, d.out[at:at+n])
	if err != nil {
		return corruptCause(sdk.CompressionLZ4, err)
	}
	if got != n {
		return corrupt(sdk.CompressionLZ4, "block decoded to %d bytes, not %d", got, n)
	}
	d.out = d.out[:at+n]
	return nil
}

// lz4BlockLen walks the sequences of an LZ4 block without decoding them and
// returns the number of bytes it decodes to, or false if the sequences run
// past the block. It stops counting once the total passes stop. Match
// offsets are left for the decoder to check.
func lz4BlockLen(b []byte, stop int) (int, bool) {
	total, i := 0, 0
	for i < len(b) && total <= stop {
		token := b[i]
		i++
		lit := int(token >> 4)
		if lit == 15 {
			for {
				if i >= len(b) {
					return 0, false
				}
				x := b[i]
				i++
				lit += int(x)
				if x != 255 {
					break
				}
			}
		}
		if lit > len(b)-i {
			return 0, false
		}
		i += lit
		total += lit
		if i == len(b) {
			break // The last sequence has literals only.
		}
		if len(b)-i < 2 {
			return 0, false
		}
		i += 2 // Match offset.
		match := int(token&15) + 4
		if match == 19 {
			for {
				if i >= len(b) {
					return 0, false
				}
				x := b[i]
				i++
				match += int(x)
				if x != 255 {
					break
				}
			}
		}
		total += match
	}
	return total, true
}
