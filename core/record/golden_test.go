package record

import (
	"bytes"
	"testing"
)

// goldenBatch is a batch of three records encoded by franz-go's kmsg
// (RecordBatch.AppendTo and Record.AppendTo, v1.15.0; CRC-32C filled in
// afterwards), annotated and checked by hand against the Kafka protocol
// documentation. It pins the wire format independently of this package's
// own encoder.
var goldenBatch = []byte{
	0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, // baseOffset 0
	0x00, 0x00, 0x00, 0x54, // batchLength 84 (96 - 12)
	0xff, 0xff, 0xff, 0xff, // partitionLeaderEpoch -1
	0x02,                   // magic 2
	0x4c, 0x69, 0x4a, 0x0f, // crc 0x4c694a0f, CRC-32C of everything below
	0x00, 0x00, // attributes: none, CreateTime, not transactional, not control
	0x00, 0x00, 0x00, 0x02, // lastOffsetDelta 2
	0x00, 0x00, 0x01, 0x8b, 0xcf, 0xe5, 0x68, 0x00, // baseTimestamp 1700000000000
	0x00, 0x00, 0x01, 0x8b, 0xcf, 0xe5, 0x69, 0x2c, // maxTimestamp 1700000000300
	0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, // producerId -1
	0xff, 0xff, // producerEpoch -1
	0xff, 0xff, 0xff, 0xff, // baseSequence -1
	0x00, 0x00, 0x00, 0x03, // records 3
	// record 0
	0x20,       // length 16
	0x00,       // attributes
	0x00,       // timestampDelta 0
	0x00,       // offsetDelta 0
	0x02, 0x6b, // key length 1, "k"
	0x0a, 0x68, 0x65, 0x6c, 0x6c, 0x6f, // value length 5, "hello"
	0x02,       // 1 header
	0x02, 0x68, // header key length 1, "h"
	0x02, 0x76, // header value length 1, "v"
	// record 1: a tombstone with a null key
	0x0c, // length 6
	0x00, // attributes
	0x09, // timestampDelta -5
	0x02, // offsetDelta 1
	0x01, // key length -1 (null)
	0x01, // value length -1 (null)
	0x00, // 0 headers
	// record 2: empty (not null) key, a header with an empty key and a null value
	0x14,       // length 10
	0x00,       // attributes
	0xd8, 0x04, // timestampDelta 300
	0x04,       // offsetDelta 2
	0x00,       // key length 0
	0x02, 0x78, // value length 1, "x"
	0x02, // 1 header
	0x00, // header key length 0
	0x01, // header value length -1 (null)
}

func TestGoldenBatch(t *testing.T) {
	h, err := Validate(goldenBatch)
	if err != nil {
		t.Fatal(err)
	}
	want := Header{
		Length: 84, PartitionLeaderEpoch: -1, Magic: 2, CRC: 0x4c694a0f, LastOffsetDelta: 2,
		BaseTimestamp: 1700000000000, MaxTimestamp: 1700000000300,
		ProducerID: -1, ProducerEpoch: -1, BaseSequence: -1, NumRecords: 3,
	}
	if h != want {
		t.Fatalf("header\n got %+v\nwant %+v", h, want)
	}
	_, recs := readAll(t, goldenBatch, nil, 0)
	checkRecords(t, h, recs, []roundTripRecord{
		{key: []byte("k"), value: []byte("hello"), ts: 1700000000000, headers: []RecordHeader{{Key: "h", Value: []byte("v")}}},
		{key: nil, value: nil, ts: 1699999999995},
		{key: []byte{}, value: []byte("x"), ts: 1700000000300, headers: []RecordHeader{{Key: "", Value: nil}}},
	})

	// The Builder writes the same bytes.
	bl := NewBuilder(BuilderOptions{PartitionLeaderEpoch: -1})
	bl.Append([]byte("k"), []byte("hello"), 1700000000000, []RecordHeader{{Key: "h", Value: []byte("v")}})
	bl.Append(nil, nil, 1699999999995, nil)
	bl.Append([]byte{}, []byte("x"), 1700000000300, []RecordHeader{{Key: ""}})
	got, err := bl.Build(nil)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, goldenBatch) {
		t.Errorf("Builder output differs from the golden batch:\n got % x\nwant % x", got, goldenBatch)
	}
}
