package codecs

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"sync"

	"github.com/klauspost/compress/gzip"
	"github.com/weirmq/weir/sdk"
)

// gzipMaxRatio bounds how far deflate can expand its input: a stored-length
// code repeats at most 258 bytes for about two bits, roughly 1032:1. It caps
// the size hint taken from a gzip trailer, which the input controls.
const gzipMaxRatio = 1032

// Gzip is the codec for compression type 1, RFC 1952 gzip as
// java.util.zip.GZIPOutputStream writes it.
//
// Gzip is safe for concurrent use. The zero value compresses at the default
// level.
type Gzip struct {
	level    int       // 0 means gzip.DefaultCompression
	encoders sync.Pool // *gzipEncoder
	decoders sync.Pool // *gzipDecoder
}

var _ sdk.Codec = (*Gzip)(nil)

type gzipEncoder struct {
	w   *gzip.Writer
	out appendWriter
}

type gzipDecoder struct {
	r     gzip.Reader
	src   bytes.Reader
	probe [1]byte
}

// appendWriter is an io.Writer that appends to a byte slice.
type appendWriter struct{ b []byte }

func (w *appendWriter) Write(p []byte) (int, error) {
	w.b = append(w.b, p...)
	return len(p), nil
}

// NewGzip returns a gzip codec that compresses at level 6, the Java client's
// default.
func NewGzip() *Gzip { return &Gzip{} }

// NewGzipLevel returns a gzip codec that compresses at level, from 1 (fastest)
// to 9 (smallest), or gzip.DefaultCompression (-1) for 6. It returns an error
// for any other level. The level does not affect Decode.
func NewGzipLevel(level int) (*Gzip, error) {
	if level != gzip.DefaultCompression && (level < gzip.BestSpeed || level > gzip.BestCompression) {
		return nil, fmt.Errorf("codecs: gzip: compression level %d is out of range: use 1 to 9, or -1 for the default", level)
	}
	return &Gzip{level: level}, nil
}

// ID returns sdk.CompressionGzip.
func (*Gzip) ID() sdk.CompressionID { return sdk.CompressionGzip }

// Name returns "gzip".
func (*Gzip) Name() string { return "gzip" }

// Encode appends one gzip member holding src to dst and returns the extended
// slice. It does not fail.
func (g *Gzip) Encode(dst, src []byte) ([]byte, error) {
	e, ok := g.encoders.Get().(*gzipEncoder)
	if !ok {
		level := g.level
		if level == 0 {
			level = gzip.DefaultCompression
		}
		w, err := gzip.NewWriterLevel(nil, level)
		if err != nil {
			return dst, fmt.Errorf("codecs: gzip: new encoder: %w", err)
		}
		e = &gzipEncoder{w: w}
	}
	e.out.b = dst
	e.w.Reset(&e.out)
	_, err := e.w.Write(src)
	if err == nil {
		err = e.w.Close()
	}
	out := e.out.b
	e.out.b = nil // Don't keep dst alive in the pool.
	g.encoders.Put(e)
	if err != nil {
		return dst, fmt.Errorf("codecs: gzip: encode: %w", err)
	}
	return out, nil
}

// Decode appends the decompressed form of src, one or more concatenated gzip
// members, to dst and returns the extended slice. Every member's CRC-32 and
// length are checked. It fails with an error wrapping sdk.ErrDecodedTooLarge
// if the output would pass maxSize bytes, and with one wrapping ErrCorrupt if
// src is not valid gzip; either way it returns dst as it was.
func (g *Gzip) Decode(dst, src []byte, maxSize int) ([]byte, error) {
	if len(src) == 0 {
		return dst, corrupt(sdk.CompressionGzip, "empty input")
	}
	d, ok := g.decoders.Get().(*gzipDecoder)
	if !ok {
		d = new(gzipDecoder)
	}
	defer func() {
		d.src.Reset(nil) // Don't keep src alive in the pool.
		g.decoders.Put(d)
	}()

	d.src.Reset(src)
	if err := d.r.Reset(&d.src); err != nil {
		return dst, corruptCause(sdk.CompressionGzip, err)
	}
	d.r.Multistream(true)

	// The trailer's ISIZE is the last member's length mod 2^32: the whole
	// output for the usual single member. Use it, within reason, to size the
	// output once.
	var hint int
	if len(src) >= 8 {
		isize := int(binary.LittleEndian.Uint32(src[len(src)-4:]))
		hint = min(isize, max(maxSize, 0))
		if len(src) <= maxSize/gzipMaxRatio {
			hint = min(hint, len(src)*gzipMaxRatio)
		}
	}
	return readAll(sdk.CompressionGzip, dst, &d.r, maxSize, hint, d.probe[:])
}
