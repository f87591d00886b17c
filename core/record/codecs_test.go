package record_test

import (
	"bytes"
	"errors"
	"fmt"
	"testing"

	"github.com/weirmq/weir/codecs"
	"github.com/weirmq/weir/core/record"
	"github.com/weirmq/weir/sdk"
)

func registry(t testing.TB) *sdk.Registry {
	t.Helper()
	r := sdk.NewRegistry()
	if err := codecs.Register(r); err != nil {
		t.Fatal(err)
	}
	return r
}

type rec struct {
	key, value []byte
	ts         int64
	headers    []record.RecordHeader
}

func testRecords() []rec {
	recs := []rec{
		{key: nil, value: []byte("null key"), ts: 1000},
		{key: []byte("tombstone"), value: nil, ts: 999},
		{key: []byte{}, value: []byte{}, ts: -50},
		{key: []byte("h"), value: []byte("headers"), ts: 1001, headers: []record.RecordHeader{
			{Key: "a", Value: []byte("1")}, {Key: "null", Value: nil},
		}},
	}
	for i := range 500 {
		recs = append(recs, rec{
			key:   fmt.Appendf(nil, "key-%d", i%20),
			value: bytes.Repeat(fmt.Appendf(nil, "value-%d ", i), 1+i%13),
			ts:    1_700_000_000_000 + int64(i),
		})
	}
	return recs
}

func sameBytes(a, b []byte) bool { return (a == nil) == (b == nil) && bytes.Equal(a, b) }

func TestCompressedRoundTrip(t *testing.T) {
	reg := registry(t)
	want := testRecords()
	for _, id := range []sdk.CompressionID{sdk.CompressionNone, sdk.CompressionGzip, sdk.CompressionSnappy, sdk.CompressionLZ4, sdk.CompressionZstd} {
		t.Run(id.String(), func(t *testing.T) {
			codec, ok := reg.Codec(id)
			if !ok {
				t.Fatalf("no %s codec registered", id)
			}
			bl := record.NewBuilder(record.BuilderOptions{Codec: codec, BaseOffset: 50})
			for _, r := range want {
				bl.Append(r.key, r.value, r.ts, r.headers)
			}
			raw := bl.Size() - record.HeaderSize
			batch, err := bl.Build(nil)
			if err != nil {
				t.Fatal(err)
			}
			h, err := record.Validate(batch)
			if err != nil {
				t.Fatal(err)
			}
			if h.Attributes.Compression() != id || h.NumRecords != int32(len(want)) {
				t.Fatalf("header %+v", h)
			}
			if id != sdk.CompressionNone && len(batch) >= raw {
				t.Errorf("%s batch is %d bytes, the records alone %d", id, len(batch), raw)
			}

			it, err := record.NewIterator(batch, reg, raw)
			if err != nil {
				t.Fatal(err)
			}
			i := 0
			for r, ok := it.Next(); ok; r, ok = it.Next() {
				w := want[i]
				if r.Offset != 50+int64(i) || r.Timestamp != w.ts || !sameBytes(r.Key, w.key) || !sameBytes(r.Value, w.value) ||
					len(r.Headers) != len(w.headers) {
					t.Fatalf("record %d: %+v", i, r)
				}
				for j, wh := range w.headers {
					if r.Headers[j].Key != wh.Key || !sameBytes(r.Headers[j].Value, wh.Value) {
						t.Fatalf("record %d header %d: %+v", i, j, r.Headers[j])
					}
				}
				i++
			}
			if err := it.Err(); err != nil || i != len(want) {
				t.Fatalf("%d of %d records, %v", i, len(want), err)
			}

			if id == sdk.CompressionNone {
				return
			}
			// One byte short of the decoded size is refused.
			if _, err := record.NewIterator(batch, reg, raw-1); !errors.Is(err, record.ErrTooLarge) || !errors.Is(err, sdk.ErrDecodedTooLarge) {
				t.Errorf("limit one short: %v", err)
			}
			// Damage anywhere in the compressed bytes never panics; it gives
			// ErrCorrupt (or, where the codec cannot tell, records that
			// still parse).
			for _, at := range []int{record.HeaderSize, record.HeaderSize + 3, len(batch) / 2, len(batch) - 1} {
				bad := append([]byte(nil), batch...)
				bad[at] ^= 0x5a
				it, err := record.NewIterator(bad, reg, raw)
				if err == nil {
					err = it.Verify()
				}
				if err != nil && !errors.Is(err, record.ErrCorrupt) && !errors.Is(err, record.ErrTooLarge) {
					t.Errorf("byte %d damaged: %v", at, err)
				}
			}
		})
	}
}

// A small batch that decompresses to far more than the limit is refused
// without decompressing it all.
func TestCompressionBomb(t *testing.T) {
	reg := registry(t)
	for _, id := range []sdk.CompressionID{sdk.CompressionGzip, sdk.CompressionSnappy, sdk.CompressionLZ4, sdk.CompressionZstd} {
		codec, _ := reg.Codec(id)
		bl := record.NewBuilder(record.BuilderOptions{Codec: codec})
		bl.Append(nil, make([]byte, 8<<20), 0, nil)
		batch, err := bl.Build(nil)
		if err != nil {
			t.Fatal(err)
		}
		_, err = record.NewIterator(batch, reg, 64<<10)
		if !errors.Is(err, record.ErrTooLarge) {
			t.Errorf("%s: %d-byte batch of 8 MiB: %v", id, len(batch), err)
		}
	}
}
