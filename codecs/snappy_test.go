package codecs

import (
	"bytes"
	"encoding/binary"
	"errors"
	"testing"

	"github.com/klauspost/compress/s2"
	"github.com/weirmq/weir/sdk"
)

// xerialStream builds xerial framing by hand around raw snappy blocks.
func xerialStream(blocks ...[]byte) []byte {
	out := append([]byte(nil), xerialMagic[:]...)
	out = binary.BigEndian.AppendUint32(out, 1)
	out = binary.BigEndian.AppendUint32(out, 1)
	for _, b := range blocks {
		out = binary.BigEndian.AppendUint32(out, uint32(len(b)))
		out = append(out, b...)
	}
	return out
}

func TestSnappyEncodeWritesXerial(t *testing.T) {
	data := recordish(100 << 10) // Four chunks: 32+32+32+4 KiB.
	enc, err := NewSnappy().Encode(nil, data)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(enc[:8], xerialMagic[:]) {
		t.Fatalf("Encode output starts % x, want the xerial magic", enc[:8])
	}
	if v, c := binary.BigEndian.Uint32(enc[8:]), binary.BigEndian.Uint32(enc[12:]); v != 1 || c != 1 {
		t.Fatalf("xerial version %d, compat %d; want 1, 1", v, c)
	}
	var decoded []byte
	chunks := 0
	for rest := enc[16:]; len(rest) > 0; chunks++ {
		n := binary.BigEndian.Uint32(rest)
		block, err := s2.Decode(nil, rest[4:4+n])
		if err != nil {
			t.Fatalf("chunk %d: %v", chunks, err)
		}
		if len(block) > xerialChunk {
			t.Fatalf("chunk %d holds %d bytes, more than %d", chunks, len(block), xerialChunk)
		}
		decoded = append(decoded, block...)
		rest = rest[4+n:]
	}
	if chunks != 4 || !bytes.Equal(decoded, data) {
		t.Fatalf("%d chunks decoding to %d bytes, want 4 chunks and the input", chunks, len(decoded))
	}

	empty, _ := NewSnappy().Encode(nil, nil)
	if len(empty) != xerialHeaderLen {
		t.Errorf("Encode(nil) wrote %d bytes, want just the 16-byte header", len(empty))
	}
}

func TestSnappyDecodesRawBlocks(t *testing.T) {
	for _, data := range [][]byte{[]byte("x"), recordish(5000), recordish(300 << 10), incompressible(70 << 10)} {
		raw := s2.EncodeSnappy(nil, data)
		got, err := NewSnappy().Decode([]byte("pre"), raw, len(data))
		if err != nil {
			t.Fatalf("Decode of a %d-byte raw block: %v", len(raw), err)
		}
		if !bytes.Equal(got, append([]byte("pre"), data...)) {
			t.Fatalf("Decode of a raw block returned the wrong data")
		}
		if _, err := NewSnappy().Decode(nil, raw, len(data)-1); !errors.Is(err, sdk.ErrDecodedTooLarge) {
			t.Fatalf("raw block over maxSize: err = %v", err)
		}
	}
}

func TestSnappyDecodesHandBuiltXerial(t *testing.T) {
	parts := [][]byte{recordish(1000), incompressible(40 << 10), []byte("a"), recordish(70 << 10)}
	var blocks [][]byte
	var want []byte
	for _, p := range parts {
		blocks = append(blocks, s2.EncodeSnappy(nil, p))
		want = append(want, p...)
	}
	stream := xerialStream(blocks...)
	s := NewSnappy()
	got, err := s.Decode(nil, stream, len(want))
	if err != nil || !bytes.Equal(got, want) {
		t.Fatalf("Decode of %d hand-built chunks: err = %v, equal = %v", len(blocks), err, bytes.Equal(got, want))
	}
	if _, err := s.Decode(nil, stream, len(want)-1); !errors.Is(err, sdk.ErrDecodedTooLarge) {
		t.Fatalf("xerial stream over maxSize: err = %v", err)
	}

	// Two streams end to end, as snappy-java's reader accepts.
	double := append(bytes.Clone(stream), stream...)
	got, err = s.Decode(nil, double, 2*len(want))
	if err != nil || !bytes.Equal(got, append(bytes.Clone(want), want...)) {
		t.Fatalf("Decode of concatenated xerial streams: err = %v", err)
	}

	// A header and no chunks is an empty stream.
	if got, err := s.Decode(nil, xerialStream(), 0); err != nil || len(got) != 0 {
		t.Fatalf("Decode of a bare xerial header: %d bytes, err = %v", len(got), err)
	}
}

func TestSnappyRejectsLies(t *testing.T) {
	s := NewSnappy()
	good := s2.EncodeSnappy(nil, recordish(1000))
	lyingBlock := append(binary.AppendUvarint(nil, 1<<31), good[2:]...)
	tests := []struct {
		name string
		in   []byte
	}{
		{"chunk length past the end", append(xerialStream(good)[:16], 0xff, 0xff, 0xff, 0xff, 1, 2, 3)},
		{"chunk length one past the end", xerialStream(good)[:16+4+len(good)-1]},
		{"truncated chunk length", append(xerialStream(good), 0, 0)},
		{"empty chunk", xerialStream(good, nil)},
		{"truncated second header", append(xerialStream(good), xerialMagic[:]...)},
		{"raw block claims 2 GiB", lyingBlock},
		{"xerial chunk claims 2 GiB", xerialStream(lyingBlock)},
		{"block shorter than it claims", append(binary.AppendUvarint(nil, 1001), good[2:]...)},
		{"block longer than it claims", append(binary.AppendUvarint(nil, 999), good[2:]...)},
	}
	for _, tt := range tests {
		var err error
		allocated := allocatedBytes(func() {
			_, err = s.Decode(nil, tt.in, 1<<30)
		})
		if err == nil {
			t.Errorf("%s: Decode succeeded", tt.name)
			continue
		}
		checkCorrupt(t, s, err)
		if allocated > 64<<10 {
			t.Errorf("%s: Decode allocated %d bytes before failing", tt.name, allocated)
		}
	}
}

// Blocks that use s2's extensions to snappy decode with s2 but not with
// snappy-java, so Decode rejects them.
func TestSnappyRejectsS2Extensions(t *testing.T) {
	data := bytes.Repeat([]byte("abcdefgh-12345678-"), 5000)
	block := s2.Encode(nil, data)
	if got, err := s2.Decode(nil, block); err != nil || !bytes.Equal(got, data) {
		t.Fatalf("s2 cannot decode its own block: %v", err)
	}
	_, err := NewSnappy().Decode(nil, block, len(data))
	if err == nil {
		t.Skip("s2.Encode used no extensions for this input")
	}
	checkCorrupt(t, NewSnappy(), err)
}
