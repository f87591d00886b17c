package record

import (
	"encoding/binary"
	"errors"
	"math"
	"strings"
	"testing"

	"github.com/weirmq/weir/sdk"
)

func TestReadHeaderErrors(t *testing.T) {
	valid := build(t, BuilderOptions{}, 3)

	put32 := func(off int, v uint32) func([]byte) []byte {
		return func(b []byte) []byte { binary.BigEndian.PutUint32(b[off:], v); return b }
	}
	setByte := func(off int, v byte) func([]byte) []byte {
		return func(b []byte) []byte { b[off] = v; return b }
	}
	cut := func(n int) func([]byte) []byte { return func(b []byte) []byte { return b[:n] } }

	tests := []struct {
		name   string
		mutate func([]byte) []byte
		want   error
		msg    string
	}{
		{"empty", cut(0), ErrTruncated, "have 0 bytes"},
		{"before magic", cut(16), ErrTruncated, "have 16 bytes, need 61"},
		{"header cut", cut(60), ErrTruncated, "have 60 bytes, need 61"},
		{"magic 0", setByte(16, 0), ErrUnsupportedMagic, "message-set v0 (magic 0) is not supported"},
		{"magic 1", setByte(16, 1), ErrUnsupportedMagic, "message-set v1 (magic 1) is not supported"},
		{"magic 3", setByte(16, 3), ErrCorrupt, "magic byte is 3, want 2"},
		{"magic -1", setByte(16, 0xff), ErrCorrupt, "magic byte is -1"},
		{"length below header", put32(8, 48), ErrCorrupt, "batch length 48 is less than the minimum 49"},
		{"length negative", put32(8, math.MaxUint32), ErrCorrupt, "batch length -1"},
		{"length too large", put32(8, math.MaxInt32), ErrCorrupt, "more than the maximum"},
		{"record count negative", put32(57, math.MaxUint32), ErrCorrupt, "record count -1 is negative"},
		{"last offset delta negative", put32(23, math.MaxUint32), ErrCorrupt, "last offset delta -1 is negative"},
		{"count beyond offset range", put32(23, 1), ErrCorrupt, "record count 3 does not fit last offset delta 1"},
		{"count beyond bytes", func(b []byte) []byte {
			binary.BigEndian.PutUint32(b[23:], 1000)
			binary.BigEndian.PutUint32(b[57:], 1000)
			return b
		}, ErrCorrupt, "record count 1000 cannot fit"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			b := tc.mutate(append([]byte(nil), valid...))
			for fn, f := range map[string]func([]byte) (Header, error){"ReadHeader": ReadHeader, "Validate": Validate} {
				_, err := f(b)
				if !errors.Is(err, tc.want) {
					t.Fatalf("%s: err = %v, want %v", fn, err, tc.want)
				}
				if !strings.Contains(err.Error(), tc.msg) {
					t.Errorf("%s: err = %q, want it to contain %q", fn, err, tc.msg)
				}
			}
			if _, _, err := NextBatch(b); !errors.Is(err, tc.want) {
				t.Errorf("NextBatch: err = %v, want %v", err, tc.want)
			}
			if _, err := NewIterator(b, nil, 0); !errors.Is(err, tc.want) {
				t.Errorf("NewIterator: err = %v, want %v", err, tc.want)
			}
		})
	}
}

func TestReadHeaderFields(t *testing.T) {
	b := build(t, BuilderOptions{
		BaseOffset: 42, PartitionLeaderEpoch: 9,
		HasProducerID: true, ProducerID: 1234, ProducerEpoch: 5, BaseSequence: 77,
		Transactional: true, BaseTimestamp: 1_699_999_999_000, Codec: flateCodec{sdk.CompressionGzip},
	}, 4)
	h, err := ReadHeader(b)
	if err != nil {
		t.Fatal(err)
	}
	want := Header{
		BaseOffset: 42, Length: int32(len(b) - LogOverhead), PartitionLeaderEpoch: 9, Magic: 2,
		CRC: binary.BigEndian.Uint32(b[17:]), Attributes: Attributes(sdk.CompressionGzip) | 0x10,
		LastOffsetDelta: 3, BaseTimestamp: 1_699_999_999_000, MaxTimestamp: 1_700_000_000_003,
		ProducerID: 1234, ProducerEpoch: 5, BaseSequence: 77, NumRecords: 4,
	}
	if h != want {
		t.Fatalf("header\n got %+v\nwant %+v", h, want)
	}
	if h.Size() != len(b) || h.LastOffset() != 45 || h.NextOffset() != 46 {
		t.Errorf("Size %d LastOffset %d NextOffset %d", h.Size(), h.LastOffset(), h.NextOffset())
	}
	a := h.Attributes
	if a.Compression() != sdk.CompressionGzip || !a.Transactional() || a.Control() || a.LogAppendTime() || a.HasDeleteHorizon() {
		t.Errorf("attributes %#x decoded wrongly", a)
	}
	// ReadHeader accepts just the header, and does not look at the CRC.
	if _, err := ReadHeader(b[:HeaderSize]); err != nil {
		t.Errorf("header only: %v", err)
	}
	b[len(b)-1] ^= 1
	if _, err := ReadHeader(b); err != nil {
		t.Errorf("ReadHeader checked the CRC: %v", err)
	}
}

func TestAttributes(t *testing.T) {
	for _, tc := range []struct {
		a                       Attributes
		comp                    sdk.CompressionID
		lat, txn, ctrl, horizon bool
	}{
		{0, sdk.CompressionNone, false, false, false, false},
		{4, sdk.CompressionZstd, false, false, false, false},
		{0x08 | 2, sdk.CompressionSnappy, true, false, false, false},
		{0x10, 0, false, true, false, false},
		{0x20 | 0x10, 0, false, true, true, false},
		{0x40 | 3, sdk.CompressionLZ4, false, false, false, true},
	} {
		a := tc.a
		if a.Compression() != tc.comp || a.LogAppendTime() != tc.lat || a.Transactional() != tc.txn ||
			a.Control() != tc.ctrl || a.HasDeleteHorizon() != tc.horizon {
			t.Errorf("%#x: got %v %v %v %v %v", int16(a), a.Compression(), a.LogAppendTime(), a.Transactional(), a.Control(), a.HasDeleteHorizon())
		}
	}
}

func TestValidate(t *testing.T) {
	valid := build(t, BuilderOptions{}, 5)
	if _, err := Validate(valid); err != nil {
		t.Fatalf("valid batch: %v", err)
	}

	// Every byte the CRC covers is checked by it.
	for i := offAttributes; i < len(valid); i++ {
		b := append([]byte(nil), valid...)
		b[i] ^= 0x80
		if _, err := Validate(b); err == nil {
			t.Fatalf("flipping byte %d went unnoticed", i)
		} else if !errors.Is(err, ErrCorrupt) {
			t.Fatalf("flipping byte %d: %v, want ErrCorrupt", i, err)
		}
	}
	b := append([]byte(nil), valid...)
	b[len(b)-1] ^= 1
	if _, err := Validate(b); !errors.Is(err, ErrCorrupt) || !strings.Contains(err.Error(), "CRC is") {
		t.Errorf("bad CRC: %v", err)
	}
	b = append([]byte(nil), valid...)
	b[17] ^= 1
	if _, err := Validate(b); !errors.Is(err, ErrCorrupt) || !strings.Contains(err.Error(), "header says") {
		t.Errorf("bad CRC field: %v", err)
	}
	if _, err := Validate(valid[:len(valid)-1]); !errors.Is(err, ErrTruncated) {
		t.Errorf("short by one: %v", err)
	}
	if _, err := Validate(append(append([]byte(nil), valid...), 0)); !errors.Is(err, ErrCorrupt) ||
		!strings.Contains(err.Error(), "1 bytes follow it") {
		t.Errorf("one byte too many: %v", err)
	}
}

func TestSetFieldsKeepCRC(t *testing.T) {
	b := build(t, BuilderOptions{}, 3)
	SetBaseOffset(b, 1<<40)
	SetPartitionLeaderEpoch(b, 17)
	h, err := Validate(b)
	if err != nil {
		t.Fatalf("after SetBaseOffset/SetPartitionLeaderEpoch: %v", err)
	}
	if h.BaseOffset != 1<<40 || h.PartitionLeaderEpoch != 17 || h.NextOffset() != 1<<40+3 {
		t.Errorf("header %+v", h)
	}
	_, recs := readAll(t, b, nil, 0)
	for i, r := range recs {
		if r.Offset != 1<<40+int64(i) {
			t.Errorf("record %d offset %d", i, r.Offset)
		}
	}
}

func TestSetLogAppendTime(t *testing.T) {
	b := build(t, BuilderOptions{}, 3)
	crc := binary.BigEndian.Uint32(b[17:])
	SetLogAppendTime(b, 5_000_000_000_000)
	h, err := Validate(b)
	if err != nil {
		t.Fatalf("after SetLogAppendTime: %v", err)
	}
	if !h.Attributes.LogAppendTime() || h.MaxTimestamp != 5_000_000_000_000 || h.CRC == crc {
		t.Errorf("header %+v", h)
	}
	_, recs := readAll(t, b, nil, 0)
	for i, r := range recs {
		if r.Timestamp != 5_000_000_000_000 {
			t.Errorf("record %d timestamp %d, want the append time", i, r.Timestamp)
		}
	}
	// Back to CreateTime with the original max timestamp restores the batch.
	SetMaxTimestamp(b, false, 1_700_000_000_002)
	if got := binary.BigEndian.Uint32(b[17:]); got != crc {
		t.Errorf("CRC %#x after restoring, want %#x", got, crc)
	}
	if _, err := Validate(b); err != nil {
		t.Error(err)
	}
	// No change, no rewrite: a batch with a bad CRC stays bad.
	b[len(b)-1] ^= 1
	SetMaxTimestamp(b, false, 1_700_000_000_002)
	if _, err := Validate(b); !errors.Is(err, ErrCorrupt) {
		t.Errorf("unchanged SetMaxTimestamp rewrote the CRC: %v", err)
	}
}

// A v0 and a v1 message set, written out by hand: offset, message size,
// CRC (IEEE, left zero here: it must not get as far as being checked),
// magic, attributes, [timestamp,] key, value.
func TestMessageSetV0V1Rejected(t *testing.T) {
	v0 := cat(
		[]byte{0, 0, 0, 0, 0, 0, 0, 0}, // offset
		[]byte{0, 0, 0, 19},            // message size
		[]byte{0, 0, 0, 0},             // crc
		[]byte{0, 0},                   // magic 0, attributes
		[]byte{0xff, 0xff, 0xff, 0xff}, // null key
		[]byte{0, 0, 0, 5}, []byte("hello"),
	)
	v1 := cat(
		[]byte{0, 0, 0, 0, 0, 0, 0, 0},
		[]byte{0, 0, 0, 27},
		[]byte{0, 0, 0, 0},
		[]byte{1, 0},                      // magic 1, attributes
		[]byte{0, 0, 1, 0x8b, 0, 0, 0, 0}, // timestamp
		[]byte{0xff, 0xff, 0xff, 0xff},
		[]byte{0, 0, 0, 5}, []byte("hello"),
	)
	for v, b := range [][]byte{v0, v1} {
		want := "message-set v" + string(rune('0'+v))
		_, err := Validate(b)
		if !errors.Is(err, ErrUnsupportedMagic) || !strings.Contains(err.Error(), want) ||
			!strings.Contains(err.Error(), "accepts only record batch v2") {
			t.Errorf("v%d Validate: %v", v, err)
		}
		if _, _, err := NextBatch(b); !errors.Is(err, ErrUnsupportedMagic) {
			t.Errorf("v%d NextBatch: %v", v, err)
		}
		if _, err := ReadHeader(b); !errors.Is(err, ErrUnsupportedMagic) {
			t.Errorf("v%d ReadHeader: %v", v, err)
		}
		if errors.Is(err, ErrCorrupt) || errors.Is(err, ErrTruncated) {
			t.Errorf("v%d: %v is also another class", v, err)
		}
	}
}

func TestNextBatch(t *testing.T) {
	a := build(t, BuilderOptions{}, 2)
	b := build(t, BuilderOptions{BaseOffset: 2}, 3)
	c := build(t, BuilderOptions{BaseOffset: 5}, 1)
	all := cat(a, b, c)

	rest := all
	var got [][]byte
	for len(rest) > 0 {
		batch, r, err := NextBatch(rest)
		if err != nil {
			t.Fatal(err)
		}
		if cap(batch) != len(batch) {
			t.Errorf("batch capacity %d exceeds its length %d", cap(batch), len(batch))
		}
		got = append(got, batch)
		rest = r
	}
	if len(got) != 3 || string(got[0]) != string(a) || string(got[1]) != string(b) || string(got[2]) != string(c) {
		t.Fatalf("split into %d batches, wrong", len(got))
	}

	// A torn last batch: the first ones come out, then ErrTruncated with the
	// unread bytes returned.
	torn := all[:len(all)-1]
	batch, rest, err := NextBatch(torn)
	if err != nil || len(batch) != len(a) {
		t.Fatal(err)
	}
	if _, rest, err = NextBatch(rest); err != nil {
		t.Fatal(err)
	}
	batch, rest2, err := NextBatch(rest)
	if !errors.Is(err, ErrTruncated) || batch != nil || len(rest2) != len(c)-1 {
		t.Errorf("torn tail: batch %d bytes, rest %d, err %v", len(batch), len(rest2), err)
	}
	if _, _, err := NextBatch(nil); !errors.Is(err, ErrTruncated) {
		t.Errorf("empty input: %v", err)
	}
	// NextBatch does not check the CRC.
	bad := append([]byte(nil), a...)
	bad[len(bad)-1] ^= 1
	if _, _, err := NextBatch(bad); err != nil {
		t.Errorf("NextBatch checked the CRC: %v", err)
	}
}
