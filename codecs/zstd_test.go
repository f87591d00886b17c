package codecs

import (
	"bytes"
	"encoding/binary"
	"errors"
	"os"
	"testing"

	"github.com/klauspost/compress/zstd"
	"github.com/weirmq/weir/sdk"
)

// zstdStreamEncode compresses data the way a streaming writer does (as the
// Java client's ZstdOutputStream does): the frame does not declare its
// content size.
func zstdStreamEncode(t testing.TB, data []byte) []byte {
	t.Helper()
	var buf bytes.Buffer
	w, err := zstd.NewWriter(&buf, zstd.WithEncoderConcurrency(1))
	if err != nil {
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

// hasContentSize reports whether a zstd stream's first frame declares its
// content size.
func hasContentSize(t testing.TB, enc []byte) bool {
	t.Helper()
	var h zstd.Header
	if err := h.Decode(enc); err != nil {
		t.Fatal(err)
	}
	return h.HasFCS
}

// Frames without a content size make Decode guess and retry; the result and
// the limit hold either way.
func TestZstdWithoutContentSize(t *testing.T) {
	inputs := [][]byte{nil, []byte("x"), recordish(200 << 10), make([]byte, 4<<20), incompressible(300 << 10)}
	z := NewZstd()
	for _, data := range inputs {
		enc := zstdStreamEncode(t, data)
		if len(data) > 128<<10 && hasContentSize(t, enc) {
			t.Fatalf("streaming encoder declared the content size of %d bytes", len(data))
		}
		got, err := z.Decode([]byte("pre"), enc, len(data))
		if err != nil || !bytes.Equal(got, append([]byte("pre"), data...)) {
			t.Fatalf("%d bytes: err = %v", len(data), err)
		}
		if len(data) > 0 {
			if _, err := z.Decode(nil, enc, len(data)-1); !errors.Is(err, sdk.ErrDecodedTooLarge) {
				t.Fatalf("%d bytes with maxSize one short: err = %v", len(data), err)
			}
		}
	}
}

func TestZstdConcatenatedAndSkippableFrames(t *testing.T) {
	z := NewZstd()
	a, b := recordish(50<<10), make([]byte, 300<<10)
	encA, _ := z.Encode(nil, a)
	skippable := binary.LittleEndian.AppendUint32(nil, 0x184D2A53)
	skippable = binary.LittleEndian.AppendUint32(skippable, 2)
	skippable = append(skippable, "hi"...)
	stream := append(append(append(bytes.Clone(encA), skippable...), zstdStreamEncode(t, b)...), encA...)
	want := append(append(bytes.Clone(a), b...), a...)
	got, err := z.Decode(nil, stream, len(want))
	if err != nil || !bytes.Equal(got, want) {
		t.Fatalf("Decode of concatenated frames: err = %v", err)
	}
	if _, err := z.Decode(nil, stream, len(want)-1); !errors.Is(err, sdk.ErrDecodedTooLarge) {
		t.Fatalf("concatenated frames with maxSize one short: err = %v", err)
	}
}

func TestZstdGolden(t *testing.T) {
	enc, err := os.ReadFile("testdata/records.zst")
	if err != nil {
		t.Fatal(err)
	}
	want := recordish(150 << 10)
	got, err := NewZstd().Decode(nil, enc, len(want))
	if err != nil || !bytes.Equal(got, want) {
		t.Fatalf("Decode of zstd(1) output: err = %v, equal = %v", err, bytes.Equal(got, want))
	}
	// The frame carries a checksum, which Decode verifies.
	bad := bytes.Clone(enc)
	bad[len(bad)-1] ^= 1
	_, err = NewZstd().Decode(nil, bad, len(want))
	checkCorrupt(t, NewZstd(), err)
}

// A declared content size over maxSize fails at once, without decoding.
func TestZstdContentSizeOverLimit(t *testing.T) {
	z := NewZstd()
	enc, _ := z.Encode(nil, make([]byte, 10<<20))
	var err error
	allocated := allocatedBytes(func() {
		_, err = z.Decode(nil, enc, 1<<20)
	})
	if !errors.Is(err, sdk.ErrDecodedTooLarge) {
		t.Fatalf("err = %v, want ErrDecodedTooLarge", err)
	}
	if allocated > 64<<10 {
		t.Errorf("Decode allocated %d bytes before failing", allocated)
	}
}

func TestZstdLevels(t *testing.T) {
	data := recordish(100 << 10)
	for _, level := range []int{-131072, -5, 0, 1, 3, 7, 19, 22} {
		z, err := NewZstdLevel(level)
		if err != nil {
			t.Fatalf("NewZstdLevel(%d): %v", level, err)
		}
		enc, err := z.Encode(nil, data)
		if err != nil {
			t.Fatal(err)
		}
		if got, err := z.Decode(nil, enc, len(data)); err != nil || !bytes.Equal(got, data) {
			t.Fatalf("level %d: round trip failed: %v", level, err)
		}
	}
	for _, level := range []int{-131073, 23} {
		if _, err := NewZstdLevel(level); err == nil {
			t.Errorf("NewZstdLevel(%d) succeeded", level)
		}
	}
}

// Decode uses the spare capacity of dst and gives it back.
func TestZstdKeepsCapacity(t *testing.T) {
	z := NewZstd()
	data := recordish(300 << 10)
	enc := zstdStreamEncode(t, data)
	dst := make([]byte, 3, 1<<20)
	got, err := z.Decode(dst, enc, len(data))
	if err != nil {
		t.Fatal(err)
	}
	if cap(got) != cap(dst) || !sameArray(got, dst) {
		t.Fatalf("Decode returned cap %d, want the caller's buffer (cap %d)", cap(got), cap(dst))
	}
}
