package codecs

import (
	"bytes"
	"errors"
	"io"
	"testing"

	"github.com/klauspost/compress/s2"
	"github.com/pierrec/lz4/v4"
	"github.com/weirmq/weir/sdk"
)

// fuzzMaxSize bounds the output in the fuzz targets; the fuzzer picks a
// limit up to it.
const fuzzMaxSize = 1 << 16

// fuzzDecode feeds arbitrary bytes to c.Decode. Decode must not panic, must
// keep dst's prefix, must return dst unchanged on error with an error of the
// right class, and must never return more than maxSize bytes. What decodes
// must survive a round trip. check, if not nil, compares a successful result
// with another decoder.
func fuzzDecode(f *testing.F, c sdk.Codec, check func(t *testing.T, in, out []byte)) {
	f.Helper()
	for _, data := range [][]byte{nil, []byte("a"), []byte("hello hello hello hello"), recordish(700), incompressible(100), make([]byte, 17<<10)} {
		enc, err := c.Encode(nil, data)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(enc, uint32(len(data)))
		f.Add(enc, uint32(len(data)/2))
		if len(enc) > 10 {
			f.Add(enc[:len(enc)/2], uint32(fuzzMaxSize))
		}
	}
	f.Fuzz(func(t *testing.T, in []byte, limit uint32) {
		maxSize := int(limit % (fuzzMaxSize + 1))
		prefix := []byte("prefix")
		dst := append(make([]byte, 0, len(prefix)+7), prefix...)
		out, err := c.Decode(dst, in, maxSize)
		if !bytes.Equal(out[:len(prefix)], prefix) {
			t.Fatalf("Decode changed dst's prefix to %q", out[:len(prefix)])
		}
		if err != nil {
			if len(out) != len(prefix) {
				t.Fatalf("Decode failed (%v) but returned %d bytes", err, len(out))
			}
			if !errors.Is(err, ErrCorrupt) && !errors.Is(err, sdk.ErrDecodedTooLarge) {
				t.Fatalf("error %v wraps neither ErrCorrupt nor ErrDecodedTooLarge", err)
			}
			return
		}
		got := out[len(prefix):]
		if len(got) > maxSize {
			t.Fatalf("Decode returned %d bytes, over maxSize %d", len(got), maxSize)
		}
		if check != nil {
			check(t, in, got)
		}
		enc, err := c.Encode(nil, got)
		if err != nil {
			t.Fatalf("Encode of decoded output: %v", err)
		}
		again, err := c.Decode(nil, enc, len(got))
		if err != nil || !bytes.Equal(again, got) {
			t.Fatalf("round trip of decoded output failed: %v", err)
		}
	})
}

func FuzzDecodeNone(f *testing.F) { fuzzDecode(f, NewNone(), nil) }

func FuzzDecodeGzip(f *testing.F) { fuzzDecode(f, NewGzip(), nil) }

func FuzzDecodeSnappy(f *testing.F) {
	f.Add(xerialStream(s2.EncodeSnappy(nil, []byte("one")), s2.EncodeSnappy(nil, recordish(500))), uint32(fuzzMaxSize))
	f.Add(s2.EncodeSnappy(nil, recordish(700)), uint32(fuzzMaxSize))
	f.Add(s2.Encode(nil, bytes.Repeat([]byte("abcdefgh-12345678-"), 50)), uint32(fuzzMaxSize))
	fuzzDecode(f, NewSnappy(), func(t *testing.T, in, out []byte) {
		// A raw block that decodes strictly decodes the same leniently.
		if len(in) >= xerialHeaderLen && bytes.Equal(in[:8], xerialMagic[:]) || len(in) == 0 {
			return
		}
		want, err := s2.Decode(nil, in)
		if err != nil || !bytes.Equal(out, want) {
			t.Fatalf("s2.Decode disagrees: err = %v", err)
		}
	})
}

func FuzzDecodeLZ4(f *testing.F) {
	for _, opts := range [][]lz4.Option{
		{lz4.ChecksumOption(true), lz4.BlockChecksumOption(true), lz4.SizeOption(700)},
		{lz4.BlockSizeOption(lz4.Block256Kb), lz4.ChecksumOption(false)},
	} {
		f.Add(pierrecEncode(f, recordish(700), opts...), uint32(fuzzMaxSize))
	}
	fuzzDecode(f, NewLZ4(), func(t *testing.T, in, out []byte) {
		// pierrec/lz4's own frame reader must agree.
		r := lz4.NewReader(bytes.NewReader(in))
		if err := r.Apply(lz4.ConcurrencyOption(1)); err != nil {
			t.Fatal(err)
		}
		want, err := io.ReadAll(r)
		if err != nil || !bytes.Equal(out, want) {
			t.Fatalf("pierrec/lz4 reader disagrees: err = %v, %d bytes vs our %d", err, len(want), len(out))
		}
	})
}

func FuzzDecodeZstd(f *testing.F) {
	f.Add(zstdStreamEncode(f, recordish(700)), uint32(fuzzMaxSize))
	f.Add(zstdStreamEncode(f, make([]byte, 200<<10)), uint32(fuzzMaxSize))
	fuzzDecode(f, NewZstd(), nil)
}
