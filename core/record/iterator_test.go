package record

import (
	"bytes"
	"errors"
	"fmt"
	"math"
	"strings"
	"testing"

	"github.com/weirmq/weir/sdk"
)

// rec prefixes a record body with its length.
func rec(body []byte) []byte { return cat(vi(int64(len(body))), body) }

// minBody is the smallest record body: attributes, timestamp delta 0,
// offset delta d, null key, null value, no headers.
func minBody(d int64) []byte { return cat([]byte{0}, vi(0, d, -1, -1, 0)) }

func TestIteratorCorruptRecords(t *testing.T) {
	tests := []struct {
		name       string
		numRecords int32
		lastDelta  int32
		records    []byte
		msg        string
	}{
		{"fewer records than count", 2, 1,
			rec(cat([]byte{0}, vi(0, 0, 8), []byte("12345678"), vi(-1, 0))), "header says 2 records but the data holds only 1"},
		{"trailing byte", 1, 0, cat(rec(minBody(0)), []byte{0}), "1 bytes follow the last of its 1 records"},
		{"trailing record", 1, 1, cat(rec(minBody(0)), rec(minBody(1))), "7 bytes follow the last of its 1 records"},
		{"length not a varint", 1, 0, bytes.Repeat([]byte{0x80}, 7), "record length is not a valid varint"},
		{"length too long a varint", 1, 0, cat([]byte{0x80, 0x80, 0x80, 0x80, 0x80, 0}, minBody(0)), "record length is not a valid varint"},
		{"length negative", 1, 0, cat(vi(-3), minBody(0)), "record length -3 is negative"},
		{"length beyond data", 1, 0, cat(vi(50), minBody(0)), "record length 50 is more than the 6 bytes left"},
		{"length longer than fields", 1, 0, rec(cat(minBody(0), []byte{9})), "record length 7 but its fields take 6 bytes"},
		{"length shorter than fields", 1, 0, cat(vi(5), minBody(0)), "record ends inside its header count varint"},
		{"length zero", 1, 0, cat(vi(0), minBody(0)), "record ends before its attributes"},
		{"key length -2", 1, 0, rec(cat([]byte{0}, vi(0, 0, -2, -1, 0))), "key length -2 is negative and not -1"},
		{"key beyond record", 1, 0, rec(cat([]byte{0}, vi(0, 0, 10), []byte("abc"), vi(-1, 0))), "key length 10 is more than the 5 bytes left"},
		{"value beyond record", 1, 0, rec(cat([]byte{0}, vi(0, 0, -1, 4), []byte("ab"), vi(0))), "value length 4 is more than the 3 bytes left"},
		{"value length huge", 1, 0, rec(cat([]byte{0}, vi(0, 0, -1, math.MaxInt32), []byte("ab"), vi(0))), "value length 2147483647 is more than"},
		{"header count negative", 1, 0, rec(cat([]byte{0}, vi(0, 0, -1, -1, -1))), "header count -1 is negative"},
		{"header count beyond record", 1, 0, rec(cat([]byte{0}, vi(0, 0, -1, -1, 5), []byte{0, 0})), "header count 5 cannot fit in the 2 bytes left"},
		{"header key null", 1, 0, rec(cat([]byte{0}, vi(0, 0, -1, -1, 1, -1, -1))), "header 0: key length -1 is negative"},
		{"header key beyond record", 1, 0, rec(cat([]byte{0}, vi(0, 0, -1, -1, 1, 3), []byte("a"))), "header key length 3 is more than the 1 bytes left"},
		{"header value length -2", 1, 0, rec(cat([]byte{0}, vi(0, 0, -1, -1, 1, 0, -2))), "header value length -2 is negative and not -1"},
		{"header value missing", 1, 0, rec(cat([]byte{0}, vi(0, 0, -1, -1, 1, 1), []byte("k"), []byte{0x80})), "record ends inside its header value length varint"},
		{"offset delta repeats", 2, 1, cat(rec(minBody(0)), rec(minBody(0))), "record 1 of 2: offset delta 0 is not in (0, 1]"},
		{"offset delta goes back", 2, 5, cat(rec(minBody(3)), rec(minBody(2))), "offset delta 2 is not in (3, 5]"},
		{"offset delta past last", 1, 2, rec(minBody(3)), "offset delta 3 is not in (-1, 2]"},
		{"offset delta negative", 1, 0, rec(minBody(-1)), "offset delta -1 is not in (-1, 0]"},
		{"offset delta beyond int32", 1, 0, rec(cat([]byte{0}, vi(0, 1<<31, -1, -1, 0))), "offset delta 2147483648 does not fit a 32-bit varint"},
		{"offset delta padded varint", 1, 0, rec(cat([]byte{0}, vi(0), []byte{0x80, 0x80, 0x80, 0x80, 0x80, 0}, vi(-1, -1, 0))), "offset delta 0 does not fit a 32-bit varint"},
		{"timestamp delta overflows", 1, 0, rec(cat([]byte{0}, bytes.Repeat([]byte{0xff}, 10), []byte{1}, vi(0, -1, -1, 0))), "timestamp delta varint overflows 64 bits"},
		{"timestamp delta cut", 1, 0, cat(vi(2), []byte{0, 0x80}, minBody(0)), "record ends inside its timestamp delta varint"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			b := rawBatch(tc.numRecords, tc.lastDelta, 0, tc.records)
			if _, err := Validate(b); err != nil {
				t.Fatalf("the header should be fine: %v", err)
			}
			it, err := NewIterator(b, nil, 0)
			if err != nil {
				t.Fatal(err)
			}
			n := 0
			for _, ok := it.Next(); ok; _, ok = it.Next() {
				n++
			}
			err = it.Err()
			if !errors.Is(err, ErrCorrupt) {
				t.Fatalf("err = %v after %d records, want ErrCorrupt", err, n)
			}
			if !strings.Contains(err.Error(), tc.msg) {
				t.Errorf("err = %q\nwant it to contain %q", err, tc.msg)
			}
			if !strings.Contains(err.Error(), "batch at offset 100") {
				t.Errorf("err = %q does not name the batch", err)
			}
			// Once stopped, the Iterator stays stopped.
			if _, ok := it.Next(); ok || it.Err() != err {
				t.Error("Next went on after an error")
			}
			// Verify finds the same fault without building headers.
			it2, _ := NewIterator(b, nil, 0)
			if err2 := it2.Verify(); err2 == nil || err2.Error() != err.Error() {
				t.Errorf("Verify: %v, Next: %v", err2, err)
			}
		})
	}
}

type roundTripRecord struct {
	key, value []byte
	ts         int64
	headers    []RecordHeader
}

func checkRecords(t *testing.T, h Header, got []Record, want []roundTripRecord) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("%d records, want %d", len(got), len(want))
	}
	for i, w := range want {
		g := got[i]
		if g.Offset != h.BaseOffset+int64(i) || g.OffsetDelta != int32(i) {
			t.Errorf("record %d: offset %d delta %d", i, g.Offset, g.OffsetDelta)
		}
		if g.Timestamp != w.ts || g.Timestamp != h.BaseTimestamp+g.TimestampDelta {
			t.Errorf("record %d: timestamp %d (delta %d), want %d", i, g.Timestamp, g.TimestampDelta, w.ts)
		}
		if !sameBytes(g.Key, w.key) || !sameBytes(g.Value, w.value) {
			t.Errorf("record %d: key %q (nil %v) value %q (nil %v), want %q (nil %v) %q (nil %v)", i,
				g.Key, g.Key == nil, g.Value, g.Value == nil, w.key, w.key == nil, w.value, w.value == nil)
		}
		if len(g.Headers) != len(w.headers) || (w.headers == nil) != (g.Headers == nil) && len(w.headers) > 0 {
			t.Fatalf("record %d: headers %v, want %v", i, g.Headers, w.headers)
		}
		for j := range w.headers {
			if g.Headers[j].Key != w.headers[j].Key || !sameBytes(g.Headers[j].Value, w.headers[j].Value) {
				t.Errorf("record %d header %d: %+v, want %+v", i, j, g.Headers[j], w.headers[j])
			}
		}
	}
}

// sameBytes compares contents and null-ness.
func sameBytes(a, b []byte) bool { return (a == nil) == (b == nil) && bytes.Equal(a, b) }

func roundTripCases() []roundTripRecord {
	const base = 1_700_000_000_000
	recs := []roundTripRecord{
		{key: []byte("k"), value: []byte("v"), ts: base},
		{key: nil, value: []byte("null key"), ts: base + 1},
		{key: []byte("tombstone"), value: nil, ts: base + 2},
		{key: []byte{}, value: []byte{}, ts: base - 1000}, // empty, not null; negative delta
		{key: nil, value: nil, ts: math.MinInt64 / 2},     // very negative delta
		{key: []byte("h"), value: []byte("headers"), ts: base + 5, headers: []RecordHeader{
			{Key: "trace-id", Value: []byte("abc")},
			{Key: "null-value", Value: nil},
			{Key: "", Value: []byte{}},
		}},
		{key: bytes.Repeat([]byte("K"), 300), value: bytes.Repeat([]byte("V"), 70_000), ts: base + 1<<40},
	}
	for i := range 1000 {
		recs = append(recs, roundTripRecord{
			key: fmt.Appendf(nil, "key-%d", i), value: fmt.Appendf(nil, "value-%d", i), ts: base + int64(i%7) - 3,
		})
	}
	return recs
}

func TestRoundTrip(t *testing.T) {
	cases := roundTripCases()
	for _, codec := range []sdk.Codec{nil, flateCodec{sdk.CompressionNone}, flateCodec{sdk.CompressionGzip}, flateCodec{sdk.CompressionZstd}} {
		name := "uncompressed"
		if codec != nil {
			name = codec.Name()
		}
		t.Run(name, func(t *testing.T) {
			opts := BuilderOptions{Codec: codec, BaseOffset: 1000, PartitionLeaderEpoch: 3}
			bl := NewBuilder(opts)
			for _, c := range cases {
				bl.Append(c.key, c.value, c.ts, c.headers)
			}
			if bl.Len() != len(cases) {
				t.Errorf("Len %d", bl.Len())
			}
			prefix := []byte("prefix")
			out, err := bl.Build(prefix)
			if err != nil {
				t.Fatal(err)
			}
			if string(out[:len(prefix)]) != "prefix" {
				t.Fatal("Build overwrote dst")
			}
			b := out[len(prefix):]
			if codec == nil || codec.ID() == sdk.CompressionNone {
				if bl.Size() != len(b) {
					t.Errorf("Size %d, built %d bytes", bl.Size(), len(b))
				}
			}
			h, err := Validate(b)
			if err != nil {
				t.Fatal(err)
			}
			wantComp := sdk.CompressionNone
			if codec != nil {
				wantComp = codec.ID()
			}
			maxTS := int64(math.MinInt64)
			for _, c := range cases {
				maxTS = max(maxTS, c.ts)
			}
			if h.Attributes.Compression() != wantComp || h.NumRecords != int32(len(cases)) ||
				h.LastOffsetDelta != int32(len(cases)-1) || h.BaseTimestamp != cases[0].ts || h.MaxTimestamp != maxTS ||
				h.ProducerID != -1 || h.ProducerEpoch != -1 || h.BaseSequence != -1 || h.BaseOffset != 1000 || h.PartitionLeaderEpoch != 3 {
				t.Errorf("header %+v", h)
			}
			codecs := codecMap{sdk.CompressionGzip: flateCodec{sdk.CompressionGzip}, sdk.CompressionZstd: flateCodec{sdk.CompressionZstd}}
			h2, got := readAll(t, b, codecs, 1<<20)
			if h2 != h {
				t.Errorf("Iterator.Header %+v, Validate %+v", h2, h)
			}
			checkRecords(t, h, got, cases)

			// Rebuilding from the records read gives the same batch.
			bl.Reset(opts)
			for _, r := range got {
				if err := bl.AppendRecord(r); err != nil {
					t.Fatal(err)
				}
			}
			again, err := bl.Build(nil)
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(again, b) {
				t.Error("rebuilding from the records read gives a different batch")
			}
		})
	}
}

func TestBuilderOptions(t *testing.T) {
	t.Run("producer", func(t *testing.T) {
		b := build(t, BuilderOptions{HasProducerID: true, ProducerID: 0, ProducerEpoch: 0, BaseSequence: 10}, 2)
		h, _ := Validate(b)
		if h.ProducerID != 0 || h.ProducerEpoch != 0 || h.BaseSequence != 10 {
			t.Errorf("%+v", h)
		}
		b = build(t, BuilderOptions{ProducerID: 55, ProducerEpoch: 2, BaseSequence: 10}, 2)
		h, _ = Validate(b)
		if h.ProducerID != -1 || h.ProducerEpoch != -1 || h.BaseSequence != -1 {
			t.Errorf("without HasProducerID: %+v", h)
		}
	})
	t.Run("attributes", func(t *testing.T) {
		b := build(t, BuilderOptions{Transactional: true, Control: true, DeleteHorizon: true, BaseTimestamp: 99, LogAppendTime: true}, 2)
		h, err := Validate(b)
		if err != nil {
			t.Fatal(err)
		}
		a := h.Attributes
		if !a.Transactional() || !a.Control() || !a.HasDeleteHorizon() || !a.LogAppendTime() || a.Compression() != 0 {
			t.Errorf("attributes %#x", a)
		}
		if h.BaseTimestamp != 99 {
			t.Errorf("base timestamp %d, want the option's 99", h.BaseTimestamp)
		}
		_, recs := readAll(t, b, nil, 0)
		for _, r := range recs {
			if r.Timestamp != h.MaxTimestamp {
				t.Errorf("LogAppendTime record timestamp %d, want MaxTimestamp %d", r.Timestamp, h.MaxTimestamp)
			}
		}
	})
	t.Run("empty batch", func(t *testing.T) {
		bl := NewBuilder(BuilderOptions{BaseOffset: 10, LastOffsetDelta: 4, BaseTimestamp: 123})
		b, err := bl.Build(nil)
		if err != nil {
			t.Fatal(err)
		}
		h, err := Validate(b)
		if err != nil {
			t.Fatal(err)
		}
		if len(b) != HeaderSize || h.NumRecords != 0 || h.LastOffsetDelta != 4 || h.NextOffset() != 15 ||
			h.BaseTimestamp != 123 || h.MaxTimestamp != 123 {
			t.Errorf("%+v", h)
		}
		if _, recs := readAll(t, b, nil, 0); len(recs) != 0 {
			t.Errorf("%d records", len(recs))
		}
		// Compressed and empty: nothing to decode, even without a codec.
		bl.Reset(BuilderOptions{Codec: flateCodec{sdk.CompressionGzip}})
		b, _ = bl.Build(nil)
		b = b[:HeaderSize] // a compaction-emptied batch has no payload at all
		SetBaseOffset(b, 0)
		b[8], b[9], b[10], b[11] = 0, 0, 0, HeaderSize-LogOverhead
		fixCRC(b)
		if _, recs := readAll(t, b, nil, 0); len(recs) != 0 {
			t.Errorf("%d records", len(recs))
		}
	})
	t.Run("compaction gaps", func(t *testing.T) {
		bl := NewBuilder(BuilderOptions{BaseOffset: 100, LastOffsetDelta: 9, BaseTimestamp: 1000})
		for _, d := range []int32{1, 4, 5} {
			if err := bl.AppendRecord(Record{OffsetDelta: d, Timestamp: 1000 + int64(d), Key: []byte{byte(d)}, Value: []byte("v")}); err != nil {
				t.Fatal(err)
			}
		}
		if err := bl.AppendRecord(Record{OffsetDelta: 5}); !errors.Is(err, ErrCorrupt) {
			t.Errorf("repeated offset delta: %v", err)
		}
		bl.Append(nil, []byte("next"), 1010, nil) // takes delta 6
		b, err := bl.Build(nil)
		if err != nil {
			t.Fatal(err)
		}
		h, recs := readAll(t, b, nil, 0)
		if h.LastOffsetDelta != 9 || h.NextOffset() != 110 || h.MaxTimestamp != 1010 {
			t.Errorf("%+v", h)
		}
		var offs []int64
		for _, r := range recs {
			offs = append(offs, r.Offset)
		}
		if fmt.Sprint(offs) != "[101 104 105 106]" {
			t.Errorf("offsets %v", offs)
		}
	})
	t.Run("codec errors", func(t *testing.T) {
		bl := NewBuilder(BuilderOptions{Codec: brokenCodec{id: sdk.CompressionGzip}})
		bl.Append(nil, []byte("v"), 0, nil)
		dst := []byte("keep")
		out, err := bl.Build(dst)
		if err == nil || !strings.Contains(err.Error(), "broken: encode") || string(out) != "keep" {
			t.Errorf("Build with a failing codec: %q, %v", out, err)
		}
		bl.Reset(BuilderOptions{Codec: brokenCodec{id: 9}})
		if _, err := bl.Build(nil); !errors.Is(err, ErrUnsupportedCompression) {
			t.Errorf("codec id 9: %v", err)
		}
	})
	t.Run("reset", func(t *testing.T) {
		bl := NewBuilder(BuilderOptions{})
		bl.Append([]byte("a"), []byte("b"), 5, nil)
		bl.Reset(BuilderOptions{BaseOffset: 7})
		if bl.Len() != 0 || bl.Size() != HeaderSize {
			t.Errorf("after Reset: Len %d Size %d", bl.Len(), bl.Size())
		}
		bl.Append([]byte("c"), []byte("d"), 8, nil)
		b, _ := bl.Build(nil)
		h, recs := readAll(t, b, nil, 0)
		if h.BaseOffset != 7 || len(recs) != 1 || recs[0].Offset != 7 || string(recs[0].Key) != "c" || h.BaseTimestamp != 8 {
			t.Errorf("%+v %+v", h, recs)
		}
	})
}

func TestIteratorCompressed(t *testing.T) {
	gz := flateCodec{sdk.CompressionGzip}
	b := build(t, BuilderOptions{Codec: gz}, 50)
	h, err := Validate(b)
	if err != nil {
		t.Fatal(err)
	}
	var raw int
	{
		bl := NewBuilder(BuilderOptions{})
		for i := range 50 {
			bl.Append(fmt.Appendf(nil, "key-%d", i), fmt.Appendf(nil, "value-%d", i), 0, nil)
		}
		raw = bl.Size() - HeaderSize
	}

	if _, recs := readAll(t, b, testCodecs, raw); len(recs) != 50 {
		t.Errorf("%d records with the limit exactly the decoded size", len(recs))
	}
	for _, tc := range []struct {
		name       string
		codecs     CodecSource
		maxDecoded int
		want       error
		msg        string
	}{
		{"limit one short", testCodecs, raw - 1, ErrTooLarge, fmt.Sprintf("decompresses (gzip) to more than %d bytes", raw-1)},
		{"limit zero", testCodecs, 0, ErrTooLarge, "the decode limit is 0 bytes"},
		{"no codecs", nil, 1 << 20, ErrUnsupportedCompression, "compressed with gzip and no codec for it is registered"},
		{"codec missing", codecMap{}, 1 << 20, ErrUnsupportedCompression, "gzip"},
		{"codec fails", codecMap{sdk.CompressionGzip: brokenCodec{id: sdk.CompressionGzip}}, 1 << 20, ErrCorrupt, "do not decompress: broken: decode"},
		{"codec overproduces", codecMap{sdk.CompressionGzip: brokenCodec{id: sdk.CompressionGzip, lie: true}}, 100, ErrTooLarge, "to 101 bytes, more than the limit 100"},
		{"registry", sdk.NewRegistry(), 1 << 20, ErrUnsupportedCompression, "gzip"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			it, err := NewIterator(b, tc.codecs, tc.maxDecoded)
			if !errors.Is(err, tc.want) || !strings.Contains(err.Error(), tc.msg) || it != nil {
				t.Errorf("err = %v, want %v containing %q", err, tc.want, tc.msg)
			}
		})
	}

	// A count that the decompressed bytes cannot hold.
	bad := append([]byte(nil), b...)
	bad[57], bad[58], bad[59], bad[60] = 0, 0, 0x10, 0
	bad[23], bad[24], bad[25], bad[26] = 0, 0, 0x10, 0
	fixCRC(bad)
	if _, err := NewIterator(bad, testCodecs, 1<<20); !errors.Is(err, ErrCorrupt) ||
		!strings.Contains(err.Error(), "record count 4096 cannot fit in") {
		t.Errorf("count beyond decoded bytes: %v", err)
	}

	// Garbage instead of compressed data.
	garbage := rawBatch(1, 0, Attributes(sdk.CompressionGzip), []byte{0xff, 0xff, 0xff, 0xff, 0xff})
	if _, err := NewIterator(garbage, testCodecs, 1<<20); !errors.Is(err, ErrCorrupt) {
		t.Errorf("garbage payload: %v", err)
	}

	// Reset reuses the buffer; records from an uncompressed batch alias it.
	it, err := NewIterator(b, testCodecs, 1<<20)
	if err != nil {
		t.Fatal(err)
	}
	first, _ := it.Next()
	if it.Header() != h || it.Remaining() != 49 || string(first.Key) != "key-0" {
		t.Errorf("header %+v remaining %d first %q", it.Header(), it.Remaining(), first.Key)
	}
	plain := build(t, BuilderOptions{}, 3)
	if err := it.Reset(plain, testCodecs, 1<<20); err != nil {
		t.Fatal(err)
	}
	r, _ := it.Next()
	if &r.Key[0] != &plain[HeaderSize+5] {
		t.Error("an uncompressed record's key does not alias the batch")
	}
	if err := it.Verify(); err != nil {
		t.Error(err)
	}
	if err := it.Reset(plain[:10], nil, 0); !errors.Is(err, ErrTruncated) || it.Err() != err {
		t.Errorf("Reset to a short batch: %v / %v", err, it.Err())
	}
	if _, ok := it.Next(); ok {
		t.Error("Next after a failed Reset")
	}
	if err := it.Reset(append(plain, 0), nil, 0); !errors.Is(err, ErrCorrupt) {
		t.Errorf("Reset to a batch with a byte after it: %v", err)
	}
}

func TestCloneAndAliasing(t *testing.T) {
	bl := NewBuilder(BuilderOptions{})
	bl.Append([]byte("key"), []byte("value"), 1, []RecordHeader{{Key: "h", Value: []byte("hv")}, {Key: "n"}})
	b, _ := bl.Build(nil)
	it, _ := NewIterator(b, nil, 0)
	r, _ := it.Next()
	if cap(r.Key) != len(r.Key) || cap(r.Value) != len(r.Value) {
		t.Error("record slices can be appended into the bytes after them")
	}
	c := r.Clone()
	for i := range b {
		b[i] = 0
	}
	if string(c.Key) != "key" || string(c.Value) != "value" || string(c.Headers[0].Value) != "hv" || c.Headers[1].Value != nil {
		t.Errorf("clone changed with the batch: %+v", c)
	}
	if string(r.Key) == "key" {
		t.Error("record does not alias the batch")
	}
	if (Record{}).Clone().Key != nil {
		t.Error("Clone made a null key non-null")
	}
}

func TestZeroAllocs(t *testing.T) {
	if testing.Short() {
		t.Skip()
	}
	key, value := []byte("key"), bytes.Repeat([]byte("v"), 1024)
	bl := NewBuilder(BuilderOptions{})
	dst := make([]byte, 0, 64<<10)
	it := &Iterator{}
	var err error
	allocs := testing.AllocsPerRun(100, func() {
		bl.Reset(BuilderOptions{BaseOffset: 5})
		for i := range 16 {
			bl.Append(key, value, int64(i), nil)
		}
		if dst, err = bl.Build(dst[:0]); err != nil {
			t.Fatal(err)
		}
		if _, err := Validate(dst); err != nil {
			t.Fatal(err)
		}
		if err := it.Reset(dst, nil, 0); err != nil {
			t.Fatal(err)
		}
		for _, ok := it.Next(); ok; _, ok = it.Next() {
		}
		if it.Err() != nil {
			t.Fatal(it.Err())
		}
		SetBaseOffset(dst, 99)
		SetLogAppendTime(dst, 7)
	})
	if allocs != 0 {
		t.Errorf("%v allocations per build+validate+iterate, want 0", allocs)
	}
}
