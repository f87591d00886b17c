package codecs

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"testing"

	"github.com/pierrec/lz4/v4"
	"github.com/weirmq/weir/sdk"
)

// pierrecEncode compresses data with pierrec/lz4's frame writer.
func pierrecEncode(t testing.TB, data []byte, opts ...lz4.Option) []byte {
	t.Helper()
	var buf bytes.Buffer
	w := lz4.NewWriter(&buf)
	if err := w.Apply(opts...); err != nil {
		t.Fatal(err)
	}
	if _, err := w.Write(data); err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func TestLZ4Header(t *testing.T) {
	enc, err := NewLZ4().Encode(nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	// Magic, FLG (version 1, independent blocks), BD (64 KiB), header
	// checksum, end mark: the header pierrec/lz4 writes with the same
	// settings.
	want := pierrecEncode(t, nil, lz4.BlockSizeOption(lz4.Block64Kb), lz4.ChecksumOption(false))
	if !bytes.Equal(enc, want) || enc[4] != 0x60 || enc[5] != 0x40 {
		t.Fatalf("Encode(nil) = % x, want % x", enc, want)
	}
}

func TestLZ4DecodesPierrecFrames(t *testing.T) {
	inputs := [][]byte{nil, []byte("z"), recordish(300 << 10), incompressible(130 << 10), make([]byte, 5<<20)}
	sizes := []lz4.BlockSize{lz4.Block64Kb, lz4.Block256Kb, lz4.Block1Mb, lz4.Block4Mb}
	for _, data := range inputs {
		for _, size := range sizes {
			for _, checks := range []bool{false, true} {
				name := fmt.Sprintf("%d bytes/block %d/checksums=%v", len(data), size, checks)
				opts := []lz4.Option{lz4.BlockSizeOption(size), lz4.ChecksumOption(checks), lz4.BlockChecksumOption(checks), lz4.ConcurrencyOption(1)}
				if checks {
					opts = append(opts, lz4.SizeOption(uint64(len(data))))
				}
				enc := pierrecEncode(t, data, opts...)
				got, err := NewLZ4().Decode([]byte("pre"), enc, len(data))
				if err != nil {
					t.Fatalf("%s: %v", name, err)
				}
				if !bytes.Equal(got[3:], data) || string(got[:3]) != "pre" {
					t.Fatalf("%s: wrong output", name)
				}
				if len(data) > 0 {
					if _, err := NewLZ4().Decode(nil, enc, len(data)-1); !errors.Is(err, sdk.ErrDecodedTooLarge) {
						t.Fatalf("%s: maxSize one short: err = %v", name, err)
					}
				}
			}
		}
	}
}

func TestLZ4PierrecDecodesEncode(t *testing.T) {
	for _, data := range [][]byte{nil, []byte("z"), recordish(300 << 10), incompressible(130 << 10)} {
		enc, err := NewLZ4().Encode(nil, data)
		if err != nil {
			t.Fatal(err)
		}
		got, err := io.ReadAll(lz4.NewReader(bytes.NewReader(enc)))
		if err != nil {
			t.Fatalf("pierrec/lz4 reading Encode's output of %d bytes: %v", len(data), err)
		}
		if !bytes.Equal(got, data) {
			t.Fatalf("pierrec/lz4 read %d bytes of Encode's output, want %d", len(got), len(data))
		}
	}
}

func TestLZ4StoresIncompressibleBlocks(t *testing.T) {
	data := incompressible(64<<10 + 100)
	enc, err := NewLZ4().Encode(nil, data)
	if err != nil {
		t.Fatal(err)
	}
	// Header, two stored blocks with their size words, end mark.
	if want := 7 + 4 + 64<<10 + 4 + 100 + 4; len(enc) != want {
		t.Fatalf("Encode of incompressible data wrote %d bytes, want %d", len(enc), want)
	}
	if size := binary.LittleEndian.Uint32(enc[7:]); size != 64<<10|lz4BlockUncompressed {
		t.Fatalf("first block size word %#x, want an uncompressed 64 KiB block", size)
	}
}

func TestLZ4Golden(t *testing.T) {
	want := recordish(150 << 10)
	for _, name := range []string{"records.lz4-B4.lz4", "records.lz4-B5-checksums.lz4"} {
		enc, err := os.ReadFile("testdata/" + name)
		if err != nil {
			t.Fatal(err)
		}
		got, err := NewLZ4().Decode(nil, enc, len(want))
		if err != nil || !bytes.Equal(got, want) {
			t.Fatalf("%s: err = %v, equal = %v", name, err, bytes.Equal(got, want))
		}
	}
	enc, err := os.ReadFile("testdata/records.lz4-B4-dependent.head.lz4")
	if err != nil {
		t.Fatal(err)
	}
	_, err = NewLZ4().Decode(nil, enc, len(want))
	checkCorrupt(t, NewLZ4(), err)
	if !strings.Contains(err.Error(), "dependent") {
		t.Errorf("error %q does not say why", err)
	}
}

func TestLZ4ConcatenatedAndSkippableFrames(t *testing.T) {
	a, b := recordish(10<<10), incompressible(1000)
	encA, _ := NewLZ4().Encode(nil, a)
	encB := pierrecEncode(t, b, lz4.ChecksumOption(true))
	skippable := binary.LittleEndian.AppendUint32(nil, lz4SkippableMagic|7)
	skippable = binary.LittleEndian.AppendUint32(skippable, 3)
	skippable = append(skippable, "abc"...)

	stream := append(append(append(bytes.Clone(skippable), encA...), skippable...), encB...)
	got, err := NewLZ4().Decode(nil, stream, len(a)+len(b))
	if err != nil || !bytes.Equal(got, append(bytes.Clone(a), b...)) {
		t.Fatalf("Decode of concatenated frames: err = %v", err)
	}

	_, err = NewLZ4().Decode(nil, skippable, 100)
	checkCorrupt(t, NewLZ4(), err)
}

// withHeader returns a frame header with the given FLG, BD and optional
// content size, its checksum computed.
func withHeader(flg, bd byte, contentSize ...uint64) []byte {
	h := binary.LittleEndian.AppendUint32(nil, lz4FrameMagic)
	h = append(h, flg, bd)
	for _, s := range contentSize {
		h = binary.LittleEndian.AppendUint64(h, s)
	}
	return append(h, byte(xxh32(h[4:])>>8))
}

func TestLZ4RejectsBadFrames(t *testing.T) {
	end := []byte{0, 0, 0, 0}
	stored := func(s string) []byte {
		return append(binary.LittleEndian.AppendUint32(nil, uint32(len(s))|lz4BlockUncompressed), s...)
	}
	concat := func(parts ...[]byte) []byte { return bytes.Join(parts, nil) }
	good, _ := NewLZ4().Encode(nil, recordish(1000))
	badHC := bytes.Clone(good)
	badHC[6] ^= 1

	tests := []struct {
		name    string
		in      []byte
		maxSize int
		tooBig  bool
	}{
		{"empty input", nil, 100, false},
		{"bad magic", []byte{1, 2, 3, 4, 0x60, 0x40, 0x82, 0, 0, 0, 0}, 100, false},
		{"legacy frame", binary.LittleEndian.AppendUint32(nil, lz4LegacyMagic), 100, false},
		{"bad header checksum", badHC, 2000, false},
		{"version 0", concat(withHeader(0x20, 0x40), end), 100, false},
		{"reserved FLG bit", concat(withHeader(0x62, 0x40), end), 100, false},
		{"reserved BD bits", concat(withHeader(0x60, 0x41), end), 100, false},
		{"block size code 3", concat(withHeader(0x60, 0x30), end), 100, false},
		{"dependent blocks", concat(withHeader(0x40, 0x40), end), 100, false},
		{"dictionary ID", concat(withHeader(0x61, 0x40), []byte{1, 2, 3, 4}, end), 100, false},
		{"no end mark", concat(withHeader(0x60, 0x40), stored("abc")), 100, false},
		{"stray bytes after frame", concat(withHeader(0x60, 0x40), end, []byte{1, 2}), 100, false},
		{"block past its maximum", concat(withHeader(0x60, 0x40), binary.LittleEndian.AppendUint32(nil, 64<<10+1), make([]byte, 64<<10+1), end), 1 << 20, false},
		{"block past the input", concat(withHeader(0x60, 0x40), binary.LittleEndian.AppendUint32(nil, 1000), []byte("short"), end), 1 << 20, false},
		{"content size too small", concat(withHeader(0x68, 0x40, 2), stored("abc"), end), 100, false},
		{"content size too large", concat(withHeader(0x68, 0x40, 4), stored("abc"), end), 100, false},
		{"bad block checksum", concat(withHeader(0x70, 0x40), stored("abc"), []byte{1, 2, 3, 4}, end), 100, false},
		{"bad content checksum", concat(withHeader(0x64, 0x40), stored("abc"), end, []byte{1, 2, 3, 4}), 100, false},
		{"missing content checksum", concat(withHeader(0x64, 0x40), stored("abc"), end), 100, false},
		{"content size over maxSize", concat(withHeader(0x68, 0x40, 1<<40), end), 1 << 20, true},
		{"stored block over maxSize", concat(withHeader(0x60, 0x40), stored("abcd"), end), 3, true},
	}
	for _, tt := range tests {
		var err error
		allocated := allocatedBytes(func() {
			_, err = NewLZ4().Decode(nil, tt.in, tt.maxSize)
		})
		if tt.tooBig {
			if !errors.Is(err, sdk.ErrDecodedTooLarge) {
				t.Errorf("%s: err = %v, want ErrDecodedTooLarge", tt.name, err)
			}
		} else if err == nil {
			t.Errorf("%s: Decode succeeded", tt.name)
		} else {
			checkCorrupt(t, NewLZ4(), err)
		}
		if allocated > 64<<10 {
			t.Errorf("%s: Decode allocated %d bytes", tt.name, allocated)
		}
	}
}

// lz4BlockLen agrees with the decoder on every block Encode writes.
func TestLZ4BlockLen(t *testing.T) {
	var c lz4.Compressor
	for _, data := range [][]byte{[]byte("a"), recordish(100), recordish(64 << 10), make([]byte, 64<<10), incompressible(1000)} {
		block := make([]byte, lz4.CompressBlockBound(len(data)))
		n, err := c.CompressBlock(data, block)
		if err != nil || n == 0 {
			continue // Incompressible: stored, never scanned.
		}
		got, ok := lz4BlockLen(block[:n], 1<<30)
		if !ok || got != len(data) {
			t.Errorf("lz4BlockLen of a block of %d bytes = %d, %v", len(data), got, ok)
		}
		for cut := 0; cut < n; cut += max(1, n/50) {
			if got, ok := lz4BlockLen(block[:cut], 1<<30); ok && got >= len(data) {
				t.Errorf("lz4BlockLen of a block cut to %d of %d bytes = %d", cut, n, got)
			}
		}
	}
}
