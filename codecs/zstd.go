package codecs

import (
	"errors"
	"fmt"
	"io"
	"math"
	"sync"

	"github.com/klauspost/compress/zstd"
	"github.com/weirmq/weir/sdk"
)

const (
	// zstdFirstGuess is how many times its input Decode first lets a zstd
	// stream without a declared content size expand to. Record data rarely
	// compresses better than this; when it does, Decode retries with
	// zstdGrowth times the room, up to maxSize.
	zstdFirstGuess = 8
	zstdGrowth     = 4

	// zstdSlack is room past maxSize for the last attempt: one zstd block
	// (128 KiB at most) and the decoder's over-read margin. With it, a
	// block that starts within maxSize always fits, so a failure inside
	// one is corruption, not a lack of room.
	zstdSlack = 128<<10 + 1<<10
)

// Zstd is the codec for compression type 4, Zstandard frames (RFC 8878).
//
// One klauspost/compress encoder and one decoder serve every caller: both are
// safe for concurrent use and keep a pool of GOMAXPROCS block coders inside.
// They are built on first use.
//
// Zstd is safe for concurrent use. The zero value compresses at the default
// level, 3.
type Zstd struct {
	level zstd.EncoderLevel // 0 means zstd.SpeedDefault

	encOnce sync.Once
	enc     *zstd.Encoder
	encErr  error

	decOnce sync.Once
	dec     *zstd.Decoder
	decErr  error
}

var _ sdk.Codec = (*Zstd)(nil)

// NewZstd returns a zstd codec that compresses at level 3, the Java client's
// default.
func NewZstd() *Zstd { return &Zstd{} }

// NewZstdLevel returns a zstd codec that compresses at a zstd level, as
// Kafka's compression.zstd.level spells it: from -131072 (fastest) to 22
// (smallest). The encoder has four speeds, and each level maps to the
// nearest. It returns an error for a level out of range. The level does not
// affect Decode.
func NewZstdLevel(level int) (*Zstd, error) {
	if level < -131072 || level > 22 {
		return nil, fmt.Errorf("codecs: zstd: compression level %d is out of range: use -131072 to 22", level)
	}
	if level == 0 {
		level = 3 // zstd's own meaning of 0.
	}
	return &Zstd{level: zstd.EncoderLevelFromZstd(level)}, nil
}

// ID returns sdk.CompressionZstd.
func (*Zstd) ID() sdk.CompressionID { return sdk.CompressionZstd }

// Name returns "zstd".
func (*Zstd) Name() string { return "zstd" }

func (z *Zstd) encoder() (*zstd.Encoder, error) {
	z.encOnce.Do(func() {
		level := z.level
		if level == 0 {
			level = zstd.SpeedDefault
		}
		z.enc, z.encErr = zstd.NewWriter(nil,
			zstd.WithEncoderLevel(level),
			// A record batch has its own CRC-32C over the compressed
			// records, so the frame checksum would only cost time.
			zstd.WithEncoderCRC(false),
			// Empty input still makes a frame that any reader accepts.
			zstd.WithZeroFrames(true),
		)
	})
	return z.enc, z.encErr
}

func (z *Zstd) decoder() (*zstd.Decoder, error) {
	z.decOnce.Do(func() {
		z.dec, z.decErr = zstd.NewReader(nil,
			zstd.WithDecoderConcurrency(0),
			// Output goes only into the room Decode gives it, never
			// into a buffer the decoder grows on its own: that is what
			// bounds memory by maxSize.
			zstd.WithDecodeAllCapLimit(true),
		)
	})
	return z.dec, z.decErr
}

// Encode appends one zstd frame holding src to dst, declaring its content
// size, and returns the extended slice. It fails only if the encoder cannot
// be built.
func (z *Zstd) Encode(dst, src []byte) ([]byte, error) {
	enc, err := z.encoder()
	if err != nil {
		return dst, fmt.Errorf("codecs: zstd: new encoder: %w", err)
	}
	return enc.EncodeAll(src, dst), nil
}

// Decode appends the decompressed form of src, one or more zstd frames, to
// dst and returns the extended slice. Empty input decodes to nothing.
//
// The decoder writes only into room Decode gives it. When the first frame
// declares its content size, Decode sizes that room from it (and rejects a
// size over maxSize without decoding); otherwise it first allows eight times
// the input and, if that is not enough, starts over with four times the
// room, up to maxSize plus one block. So Decode allocates at most about
// maxSize + 129 KiB, and a bomb costs about as much work as decoding maxSize
// bytes.
//
// Decode fails with an error wrapping sdk.ErrDecodedTooLarge if the output
// would pass maxSize bytes, and with one wrapping ErrCorrupt if src is not
// valid zstd; either way it returns dst as it was.
func (z *Zstd) Decode(dst, src []byte, maxSize int) ([]byte, error) {
	dec, err := z.decoder()
	if err != nil {
		return dst, fmt.Errorf("codecs: zstd: new decoder: %w", err)
	}
	maxSize = max(maxSize, 0)
	start := len(dst)
	// The most room any attempt gets: maxSize and a block's slack, or
	// whatever fits in an int.
	final := min(maxSize, math.MaxInt-start-zstdSlack) + zstdSlack

	var budget int
	var h zstd.Header
	switch {
	case h.Decode(src) == nil && h.HasFCS:
		if h.FrameContentSize > uint64(maxSize) {
			return dst, tooLarge(sdk.CompressionZstd, maxSize)
		}
		budget = int(h.FrameContentSize)
	case len(src) <= maxSize/zstdFirstGuess:
		budget = max(len(src)*zstdFirstGuess, minGrow)
	default:
		budget = final
	}
	// Spare capacity in dst costs nothing to use.
	budget = min(max(budget, cap(dst)-start), final)

	for {
		// The decoder appends to an empty slice whose capacity is the
		// room; it writes into that slice's array directly only when
		// the slice starts out empty.
		base := dst
		if cap(dst)-start < budget {
			base = make([]byte, start, start+budget)
			copy(base, dst)
		}
		room := base[start : start : start+budget]
		out, err := dec.DecodeAll(src, room)
		switch {
		case err == nil && len(out) > maxSize:
			return dst, tooLarge(sdk.CompressionZstd, maxSize)
		case err == nil && len(out) == 0:
			return dst, nil
		case err == nil && sameArray(out, room):
			return base[:start+len(out)], nil
		case err == nil:
			// The decoder moved the output; not expected with its
			// room limited to the capacity it was given.
			return append(dst, out...), nil
		case budget < final && (errors.Is(err, zstd.ErrDecoderSizeExceeded) ||
			!zstdSurelyCorrupt(err) && len(out)+zstdSlack > budget):
			// Out of room, or a block failed close enough to the end
			// of the room that room may be why (the decoder reports
			// that in words, not with a sentinel): start over with
			// more.
			if budget > final/zstdGrowth {
				budget = final
			} else {
				budget = max(budget*zstdGrowth, minGrow)
			}
		case errors.Is(err, zstd.ErrDecoderSizeExceeded) || len(out) > maxSize:
			return dst, tooLarge(sdk.CompressionZstd, maxSize)
		default:
			return dst, corruptCause(sdk.CompressionZstd, err)
		}
	}
}

// zstdCorruptErrors are the decoder errors that mean corrupt input whatever
// room the decoder had.
var zstdCorruptErrors = []error{
	zstd.ErrMagicMismatch, zstd.ErrCRCMismatch, zstd.ErrReservedBlockType,
	zstd.ErrCompressedSizeTooBig, zstd.ErrBlockTooSmall, zstd.ErrUnexpectedBlockSize,
	zstd.ErrWindowSizeExceeded, zstd.ErrWindowSizeTooSmall, zstd.ErrUnknownDictionary,
	zstd.ErrFrameSizeExceeded, zstd.ErrFrameSizeMismatch, io.ErrUnexpectedEOF,
}

// zstdSurelyCorrupt reports whether err is one of zstdCorruptErrors.
func zstdSurelyCorrupt(err error) bool {
	for _, target := range zstdCorruptErrors {
		if errors.Is(err, target) {
			return true
		}
	}
	return false
}
