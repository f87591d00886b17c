package codecs

import (
	"bytes"
	stdgzip "compress/gzip"
	"os"
	"testing"
	"time"

	"github.com/klauspost/compress/gzip"
)

func TestGzipMultiMember(t *testing.T) {
	g := NewGzip()
	parts := [][]byte{recordish(10 << 10), []byte("second member"), nil, incompressible(3000)}
	var stream, want []byte
	for _, p := range parts {
		var err error
		if stream, err = g.Encode(stream, p); err != nil {
			t.Fatal(err)
		}
		want = append(want, p...)
	}
	got, err := g.Decode(nil, stream, len(want))
	if err != nil {
		t.Fatalf("Decode of %d members: %v", len(parts), err)
	}
	if !bytes.Equal(got, want) {
		t.Fatalf("Decode of %d members returned %d bytes, want %d", len(parts), len(got), len(want))
	}
	// The size limit counts every member, not just the last.
	if _, err := g.Decode(nil, stream, len(want)-1); err == nil {
		t.Fatal("Decode of all members with maxSize one short succeeded")
	}
	// Junk after the last member is corrupt input.
	_, err = g.Decode(nil, append(bytes.Clone(stream), "junk"...), len(want))
	checkCorrupt(t, g, err)
}

// Streams written by the standard library, with the optional header fields
// set, decode; and what Encode writes, the standard library reads.
func TestGzipInterop(t *testing.T) {
	data := recordish(70 << 10)
	var buf bytes.Buffer
	w := stdgzip.NewWriter(&buf)
	w.Name = "records.bin"
	w.Comment = "a comment"
	w.Extra = []byte("extra field")
	w.ModTime = time.Unix(1700000000, 0)
	if _, err := w.Write(data); err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	got, err := NewGzip().Decode(nil, buf.Bytes(), len(data))
	if err != nil || !bytes.Equal(got, data) {
		t.Fatalf("Decode of compress/gzip output: err = %v, equal = %v", err, bytes.Equal(got, data))
	}

	enc, err := NewGzip().Encode(nil, data)
	if err != nil {
		t.Fatal(err)
	}
	r, err := stdgzip.NewReader(bytes.NewReader(enc))
	if err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	if _, err := out.ReadFrom(r); err != nil || !bytes.Equal(out.Bytes(), data) {
		t.Fatalf("compress/gzip reading Encode's output: err = %v", err)
	}
}

func TestGzipGolden(t *testing.T) {
	enc, err := os.ReadFile("testdata/records.gz")
	if err != nil {
		t.Fatal(err)
	}
	want := recordish(150 << 10)
	got, err := NewGzip().Decode(nil, enc, len(want))
	if err != nil || !bytes.Equal(got, want) {
		t.Fatalf("Decode of gzip(1) output: err = %v, equal = %v", err, bytes.Equal(got, want))
	}
}

func TestGzipLevels(t *testing.T) {
	data := recordish(50 << 10)
	for _, level := range []int{gzip.DefaultCompression, gzip.BestSpeed, 6, gzip.BestCompression} {
		g, err := NewGzipLevel(level)
		if err != nil {
			t.Fatalf("NewGzipLevel(%d): %v", level, err)
		}
		enc, err := g.Encode(nil, data)
		if err != nil {
			t.Fatal(err)
		}
		if got, err := g.Decode(nil, enc, len(data)); err != nil || !bytes.Equal(got, data) {
			t.Fatalf("level %d: round trip failed: %v", level, err)
		}
	}
	for _, level := range []int{-3, -2, 0, 10} {
		if _, err := NewGzipLevel(level); err == nil {
			t.Errorf("NewGzipLevel(%d) succeeded", level)
		}
	}
	var zero Gzip
	enc, err := zero.Encode(nil, data)
	if err != nil {
		t.Fatal(err)
	}
	if got, err := zero.Decode(nil, enc, len(data)); err != nil || !bytes.Equal(got, data) {
		t.Fatalf("zero Gzip: round trip failed: %v", err)
	}
}

// A trailer that lies about the size changes only how the output is first
// sized, never the result.
func TestGzipLyingTrailer(t *testing.T) {
	data := recordish(30 << 10)
	g := NewGzip()
	enc, err := g.Encode(nil, data)
	if err != nil {
		t.Fatal(err)
	}
	// ISIZE is checked when the member ends, so a wrong one is corruption.
	bad := bytes.Clone(enc)
	bad[len(bad)-4] ^= 0xff
	_, err = g.Decode(nil, bad, 1<<20)
	checkCorrupt(t, g, err)
}
