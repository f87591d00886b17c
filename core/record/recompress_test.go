package record_test

import (
	"bytes"
	"testing"

	"github.com/weirmq/weir/core/record"
	"github.com/weirmq/weir/sdk"
)

func TestRecompressKeepsEverythingButTheCodec(t *testing.T) {
	reg := registry(t)
	gzip, _ := reg.Codec(sdk.CompressionGzip)
	zstd, _ := reg.Codec(sdk.CompressionZstd)
	b := record.NewBuilder(record.BuilderOptions{Codec: gzip, BaseOffset: 40, PartitionLeaderEpoch: 3,
		HasProducerID: true, ProducerID: 7, ProducerEpoch: 2, BaseSequence: 11})
	for _, r := range testRecords() {
		b.Append(r.key, r.value, r.ts, r.headers)
	}
	orig, err := b.Build(nil)
	if err != nil {
		t.Fatal(err)
	}
	for _, target := range []sdk.Codec{zstd, nil} {
		out, err := record.Recompress(nil, orig, target, reg, 1<<20)
		if err != nil {
			t.Fatal(err)
		}
		h, err := record.Validate(out) // the CRC is right
		if err != nil {
			t.Fatal(err)
		}
		oh, _ := record.Validate(orig)
		want := sdk.CompressionNone
		if target != nil {
			want = target.ID()
		}
		if h.Attributes.Compression() != want || h.BaseOffset != 40 || h.PartitionLeaderEpoch != 3 || h.ProducerID != 7 ||
			h.ProducerEpoch != 2 || h.BaseSequence != 11 || h.LastOffsetDelta != oh.LastOffsetDelta ||
			h.NumRecords != oh.NumRecords || h.MaxTimestamp != oh.MaxTimestamp || h.BaseTimestamp != oh.BaseTimestamp {
			t.Fatalf("header changed: %+v, was %+v", h, oh)
		}
		got, wantRecs := readAll(t, out, reg), readAll(t, orig, reg)
		if len(got) != len(wantRecs) {
			t.Fatalf("%d records, want %d", len(got), len(wantRecs))
		}
		for i := range got {
			if got[i].Offset != wantRecs[i].Offset || got[i].Timestamp != wantRecs[i].Timestamp ||
				!bytes.Equal(got[i].Key, wantRecs[i].Key) || !bytes.Equal(got[i].Value, wantRecs[i].Value) ||
				len(got[i].Headers) != len(wantRecs[i].Headers) {
				t.Fatalf("record %d differs: %+v vs %+v", i, got[i], wantRecs[i])
			}
		}
	}
	same, err := record.Recompress(nil, orig, gzip, reg, 1<<20)
	if err != nil || !bytes.Equal(same, orig) {
		t.Fatalf("a batch already in the target codec was rewritten (err %v)", err)
	}
	if _, err := record.Recompress(nil, orig[:len(orig)-1], zstd, reg, 1<<20); err == nil {
		t.Fatal("a torn batch was recompressed")
	}
}

func readAll(t *testing.T, batch []byte, reg *sdk.Registry) []record.Record {
	t.Helper()
	it, err := record.NewIterator(batch, reg, 1<<20)
	if err != nil {
		t.Fatal(err)
	}
	var out []record.Record
	for r, ok := it.Next(); ok; r, ok = it.Next() {
		r.Key, r.Value = bytes.Clone(r.Key), bytes.Clone(r.Value)
		out = append(out, r)
	}
	if err := it.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}
