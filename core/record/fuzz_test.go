package record

import (
	"bytes"
	"testing"

	"github.com/weirmq/weir/sdk"
)

// fuzzSeeds are valid batches of several shapes, plus a v0 message set.
func fuzzSeeds(f *testing.F) [][]byte {
	seeds := [][]byte{goldenBatch}
	bl := NewBuilder(BuilderOptions{})
	for _, opts := range []BuilderOptions{
		{},
		{Codec: flateCodec{sdk.CompressionGzip}},
		{Codec: flateCodec{sdk.CompressionGzip}, LogAppendTime: true, HasProducerID: true, ProducerID: 7},
		{LastOffsetDelta: 9, Transactional: true, Control: true},
	} {
		bl.Reset(opts)
		for i := range 4 {
			var headers []RecordHeader
			if i%2 == 1 {
				headers = []RecordHeader{{Key: "h", Value: []byte("v")}, {Key: "n"}}
			}
			var key []byte
			if i != 2 {
				key = []byte{byte('a' + i)}
			}
			bl.Append(key, bytes.Repeat([]byte{byte(i)}, i*10), int64(1000-i*3), headers)
		}
		b, err := bl.Build(nil)
		if err != nil {
			f.Fatal(err)
		}
		seeds = append(seeds, b)
	}
	bl.Reset(BuilderOptions{BaseTimestamp: 5})
	empty, _ := bl.Build(nil)
	seeds = append(seeds, empty, cat(seeds[1], seeds[2]), seeds[1][:len(seeds[1])-3])
	seeds = append(seeds, cat([]byte{0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 14, 0, 0, 0, 0, 0, 0}, []byte{0xff, 0xff, 0xff, 0xff, 0, 0, 0, 0}))
	return seeds
}

func FuzzValidate(f *testing.F) {
	for _, s := range fuzzSeeds(f) {
		f.Add(s)
	}
	const maxDecoded = 4096
	f.Fuzz(func(t *testing.T, data []byte) {
		h, verr := Validate(data)
		it, err := NewIterator(data, testCodecs, maxDecoded)
		if err != nil {
			if verr == nil && h.Attributes.Compression() == sdk.CompressionNone {
				t.Fatalf("Validate accepted an uncompressed batch NewIterator refused: %v", err)
			}
			return
		}
		hh := it.Header()
		if verr == nil && hh != h {
			t.Fatalf("Iterator header %+v, Validate %+v", hh, h)
		}
		bound := max(len(data), maxDecoded)
		total, n := 0, 0
		var recs []Record
		for r, ok := it.Next(); ok; r, ok = it.Next() {
			n++
			total += len(r.Key) + len(r.Value)
			for _, rh := range r.Headers {
				total += len(rh.Key) + len(rh.Value)
			}
			if total > bound {
				t.Fatalf("records hold %d bytes, more than the bound %d", total, bound)
			}
			if r.OffsetDelta < 0 || r.OffsetDelta > hh.LastOffsetDelta || r.Offset != hh.BaseOffset+int64(r.OffsetDelta) {
				t.Fatalf("record offset %d (delta %d) outside the batch %+v", r.Offset, r.OffsetDelta, hh)
			}
			recs = append(recs, r.Clone())
		}
		if n > int(hh.NumRecords) {
			t.Fatalf("%d records from a batch of %d", n, hh.NumRecords)
		}
		it2, err := NewIterator(data, testCodecs, maxDecoded)
		if err != nil {
			t.Fatal(err)
		}
		if verr2 := it2.Verify(); (verr2 == nil) != (it.Err() == nil) {
			t.Fatalf("Verify: %v, Next: %v", verr2, it.Err())
		}
		if it.Err() != nil {
			return
		}
		if n != int(hh.NumRecords) {
			t.Fatalf("%d records without error from a batch of %d", n, hh.NumRecords)
		}

		// Encoding what was read and reading it back gives the same records.
		bl := NewBuilder(BuilderOptions{BaseOffset: hh.BaseOffset, LastOffsetDelta: hh.LastOffsetDelta, BaseTimestamp: hh.BaseTimestamp})
		for _, r := range recs {
			if err := bl.AppendRecord(r); err != nil {
				t.Fatal(err)
			}
		}
		again, err := bl.Build(nil)
		if err != nil {
			t.Fatal(err)
		}
		h2, err := Validate(again)
		if err != nil {
			t.Fatalf("rebuilt batch: %v", err)
		}
		it3, err := NewIterator(again, nil, 0)
		if err != nil {
			t.Fatal(err)
		}
		for i := 0; ; i++ {
			r, ok := it3.Next()
			if !ok {
				if it3.Err() != nil || i != len(recs) {
					t.Fatalf("rebuilt batch: %d of %d records, %v", i, len(recs), it3.Err())
				}
				break
			}
			w := recs[i]
			if r.Offset != w.Offset || r.Timestamp != w.Timestamp || r.Attributes != w.Attributes ||
				!sameBytes(r.Key, w.Key) || !sameBytes(r.Value, w.Value) || len(r.Headers) != len(w.Headers) {
				t.Fatalf("rebuilt record %d\n got %+v\nwant %+v", i, r, w)
			}
			for j := range w.Headers {
				if r.Headers[j].Key != w.Headers[j].Key || !sameBytes(r.Headers[j].Value, w.Headers[j].Value) {
					t.Fatalf("rebuilt record %d header %d differs", i, j)
				}
			}
		}
		if h2.NextOffset() != hh.NextOffset() {
			t.Fatalf("rebuilt batch ends at %d, not %d", h2.NextOffset(), hh.NextOffset())
		}
	})
}

func FuzzNextBatch(f *testing.F) {
	for _, s := range fuzzSeeds(f) {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		rest := data
		for len(rest) > 0 {
			batch, next, err := NextBatch(rest)
			if err != nil {
				if batch != nil || len(next) != len(rest) {
					t.Fatalf("on error NextBatch returned a %d-byte batch and %d of %d bytes", len(batch), len(next), len(rest))
				}
				return
			}
			h, err := ReadHeader(batch)
			if err != nil {
				t.Fatalf("NextBatch returned a batch ReadHeader refuses: %v", err)
			}
			if h.Size() != len(batch) || cap(batch) != len(batch) || len(batch)+len(next) != len(rest) {
				t.Fatalf("batch %d bytes (cap %d, header says %d), rest %d of %d", len(batch), cap(batch), h.Size(), len(next), len(rest))
			}
			// The in-place setters keep a valid batch valid.
			_, verr := Validate(batch)
			c := append([]byte(nil), batch...)
			SetBaseOffset(c, h.BaseOffset+1)
			SetPartitionLeaderEpoch(c, h.PartitionLeaderEpoch+1)
			if verr == nil {
				SetLogAppendTime(c, 12345)
				h2, err := Validate(c)
				if err != nil {
					t.Fatalf("setters broke a valid batch: %v", err)
				}
				if h2.BaseOffset != h.BaseOffset+1 || h2.PartitionLeaderEpoch != h.PartitionLeaderEpoch+1 ||
					h2.MaxTimestamp != 12345 || !h2.Attributes.LogAppendTime() {
					t.Fatalf("setters: %+v", h2)
				}
			}
			rest = next
		}
	})
}
