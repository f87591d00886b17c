package record

import (
	"bytes"
	"compress/flate"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"testing"

	"github.com/weirmq/weir/sdk"
)

// flateCodec is a test-only sdk.Codec (raw DEFLATE from the standard
// library) registered under a Kafka compression id, so this package's own
// tests exercise the compressed path without importing codecs/.
type flateCodec struct{ id sdk.CompressionID }

func (c flateCodec) ID() sdk.CompressionID { return c.id }
func (c flateCodec) Name() string          { return "test-flate-" + c.id.String() }

func (c flateCodec) Encode(dst, src []byte) ([]byte, error) {
	var buf bytes.Buffer
	w, err := flate.NewWriter(&buf, flate.BestSpeed)
	if err != nil {
		return dst, err
	}
	if _, err := w.Write(src); err != nil {
		return dst, err
	}
	if err := w.Close(); err != nil {
		return dst, err
	}
	return append(dst, buf.Bytes()...), nil
}

func (c flateCodec) Decode(dst, src []byte, maxSize int) ([]byte, error) {
	r := flate.NewReader(bytes.NewReader(src))
	defer r.Close()
	out, err := io.ReadAll(io.LimitReader(r, int64(maxSize)+1))
	if err != nil {
		return dst, fmt.Errorf("flate: %w", err)
	}
	if len(out) > maxSize {
		return dst, fmt.Errorf("flate: %w", sdk.ErrDecodedTooLarge)
	}
	return append(dst, out...), nil
}

// brokenCodec fails every call, or (if lie is set) returns more than maxSize.
type brokenCodec struct {
	id  sdk.CompressionID
	lie bool
}

func (c brokenCodec) ID() sdk.CompressionID { return c.id }
func (c brokenCodec) Name() string          { return "broken" }
func (c brokenCodec) Encode(dst, src []byte) ([]byte, error) {
	return dst, errors.New("broken: encode")
}
func (c brokenCodec) Decode(dst, src []byte, maxSize int) ([]byte, error) {
	if c.lie {
		return append(dst, make([]byte, maxSize+1)...), nil
	}
	return dst, errors.New("broken: decode")
}

// codecMap is a CodecSource.
type codecMap map[sdk.CompressionID]sdk.Codec

func (m codecMap) Codec(id sdk.CompressionID) (sdk.Codec, bool) {
	c, ok := m[id]
	return c, ok
}

var testCodecs = codecMap{sdk.CompressionGzip: flateCodec{sdk.CompressionGzip}}

// rawBatch wraps a hand-written records section in a v2 header with the
// given count, last offset delta and attributes, and a correct CRC.
func rawBatch(numRecords, lastOffsetDelta int32, attr Attributes, records []byte) []byte {
	b := make([]byte, HeaderSize, HeaderSize+len(records))
	binary.BigEndian.PutUint64(b[0:], 100)
	binary.BigEndian.PutUint32(b[8:], uint32(HeaderSize-LogOverhead+len(records)))
	binary.BigEndian.PutUint32(b[12:], 7)
	b[16] = 2
	binary.BigEndian.PutUint16(b[21:], uint16(attr))
	binary.BigEndian.PutUint32(b[23:], uint32(lastOffsetDelta))
	binary.BigEndian.PutUint64(b[27:], 1000)
	binary.BigEndian.PutUint64(b[35:], 2000)
	binary.BigEndian.PutUint64(b[43:], ^uint64(0))
	binary.BigEndian.PutUint16(b[51:], 0xffff)
	binary.BigEndian.PutUint32(b[53:], ^uint32(0))
	binary.BigEndian.PutUint32(b[57:], uint32(numRecords))
	b = append(b, records...)
	fixCRC(b)
	return b
}

func fixCRC(b []byte) {
	binary.BigEndian.PutUint32(b[17:], crc32.Checksum(b[21:], crc32.MakeTable(crc32.Castagnoli)))
}

// vi appends zigzag varints: a terse way to write record bytes by hand.
func vi(vs ...int64) []byte {
	var b []byte
	for _, v := range vs {
		b = binary.AppendVarint(b, v)
	}
	return b
}

func cat(parts ...[]byte) []byte {
	var b []byte
	for _, p := range parts {
		b = append(b, p...)
	}
	return b
}

// build makes a batch from (key, value) pairs with timestamps base+i.
func build(t testing.TB, opts BuilderOptions, n int) []byte {
	t.Helper()
	bl := NewBuilder(opts)
	for i := range n {
		bl.Append(fmt.Appendf(nil, "key-%d", i), fmt.Appendf(nil, "value-%d", i), 1_700_000_000_000+int64(i), nil)
	}
	b, err := bl.Build(nil)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// readAll iterates a batch and returns its records, cloned.
func readAll(t testing.TB, batch []byte, codecs CodecSource, maxDecoded int) (Header, []Record) {
	t.Helper()
	it, err := NewIterator(batch, codecs, maxDecoded)
	if err != nil {
		t.Fatalf("NewIterator: %v", err)
	}
	var out []Record
	for r, ok := it.Next(); ok; r, ok = it.Next() {
		out = append(out, r.Clone())
	}
	if err := it.Err(); err != nil {
		t.Fatalf("iterate: %v", err)
	}
	return it.Header(), out
}
