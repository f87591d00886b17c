package abi

import (
	"bytes"
	"encoding/binary"
	"errors"
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/weirmq/weir/sdk"
)

func TestPartitionInputRoundTrip(t *testing.T) {
	long := bytes.Repeat([]byte("k"), 300)      // a two-byte varint length
	longer := bytes.Repeat([]byte("l"), 70_000) // three bytes
	keys := [][]byte{nil, {}, []byte("a"), long, nil, longer, []byte("z")}
	b := make([]byte, PartitionInputSize("orders", keys))
	if n := PutPartitionInput(b, "orders", 12, keys); n != len(b) {
		t.Fatalf("wrote %d of %d bytes", n, len(b))
	}
	req, err := DecodePartitionInput(b, nil)
	if err != nil {
		t.Fatal(err)
	}
	if req.NumPartitions != 12 || string(req.Topic) != "orders" || len(req.Keys) != len(keys) {
		t.Fatalf("decoded %+v", req)
	}
	for i, k := range keys {
		if (k == nil) != (req.Keys[i] == nil) || !bytes.Equal(k, req.Keys[i]) {
			t.Fatalf("key %d: %q (nil %v), want %q (nil %v)", i, req.Keys[i], req.Keys[i] == nil, k, k == nil)
		}
	}
	// The scratch slice is reused.
	again, err := DecodePartitionInput(b, req.Keys)
	if err != nil || &again.Keys[0] != &req.Keys[0] {
		t.Fatalf("scratch not reused: %v", err)
	}
	// Exact bytes of a small input: the layout ABI.md gives.
	small := make([]byte, PartitionInputSize("t", [][]byte{nil, []byte("ab")}))
	PutPartitionInput(small, "t", 3, [][]byte{nil, []byte("ab")})
	want := []byte{3, 0, 0, 0, 2, 0, 0, 0, 2, 't', 1, 4, 'a', 'b'}
	if !bytes.Equal(small, want) {
		t.Fatalf("encoded % x, want % x", small, want)
	}
}

func TestPartitionInputRejectsMalformed(t *testing.T) {
	good := make([]byte, PartitionInputSize("t", [][]byte{[]byte("ab")}))
	PutPartitionInput(good, "t", 3, [][]byte{[]byte("ab")})
	for name, b := range map[string][]byte{
		"empty":          {},
		"zero parts":     {0, 0, 0, 0, 1, 0, 0, 0, 2, 't', 1},
		"count too big":  {3, 0, 0, 0, 0xff, 0xff, 0, 0, 2, 't', 1},
		"negative count": {3, 0, 0, 0, 0xff, 0xff, 0xff, 0xff, 2, 't'},
		"null topic":     {3, 0, 0, 0, 0, 0, 0, 0, 1},
		"key too long":   {3, 0, 0, 0, 1, 0, 0, 0, 2, 't', 8, 'a'},
		"key length -2":  {3, 0, 0, 0, 1, 0, 0, 0, 2, 't', 3},
		"trailing":       append(slices.Clone(good), 0),
		"truncated":      good[:len(good)-1],
		"varint too big": {3, 0, 0, 0, 1, 0, 0, 0, 2, 't', 0xff, 0xff, 0xff, 0xff, 0xff, 0x01},
	} {
		if _, err := DecodePartitionInput(b, nil); !errors.Is(err, ErrMalformed) {
			t.Errorf("%s: %v, want ErrMalformed", name, err)
		}
	}
}

func TestPartitionOutput(t *testing.T) {
	b := make([]byte, 12)
	PutPartitionOutput(b, []int32{0, 7, -1})
	out := make([]int32, 3)
	if err := DecodePartitionOutput(b, out); err != nil || !slices.Equal(out, []int32{0, 7, -1}) {
		t.Fatalf("%v %v", out, err)
	}
	if err := DecodePartitionOutput(b[:8], out); !errors.Is(err, ErrMalformed) {
		t.Fatalf("short answer: %v", err)
	}
}

func filterInput() sdk.FilterInput {
	return sdk.FilterInput{Topic: "sessions", Partition: 7, NowMs: 1_700_000_000_000, Records: []sdk.Record{
		{Offset: 1000, TimestampMs: 1_699_999_999_000, Key: []byte("k1"), Value: []byte("v1"),
			Headers: []sdk.Header{{Key: "ttl", Value: []byte("5")}, {Key: "null", Value: nil}, {Key: "empty", Value: []byte{}}}},
		{Offset: 1001, TimestampMs: 1_699_999_998_000, Key: nil, Value: nil},
		{Offset: 5000, TimestampMs: 1_700_000_000_500, Key: []byte{}, Value: bytes.Repeat([]byte("v"), 200)},
	}}
}

func TestFilterInputRoundTrip(t *testing.T) {
	in := filterInput()
	b, err := AppendFilterInput(nil, in)
	if err != nil {
		t.Fatal(err)
	}
	req, _, err := DecodeFilterInput(b, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	if req.Topic != in.Topic || req.Partition != in.Partition || req.NowMs != in.NowMs {
		t.Fatalf("header %+v", req)
	}
	if !reflect.DeepEqual(req.Records, in.Records) {
		t.Fatalf("records\n got %+v\nwant %+v", req.Records, in.Records)
	}
	// The record encoding is Kafka's: the first record, after the
	// 32-byte header and the topic, is length, attributes, timestamp
	// delta 0, offset delta 0, key "k1", ...
	rec := b[FilterHeaderSize+1+len(in.Topic):]
	if rec[1] != 0 || rec[2] != 0 || rec[3] != 0 || rec[4] != 4 || string(rec[5:7]) != "k1" {
		t.Fatalf("first record % x", rec[:8])
	}
	// Empty chunk.
	b, err = AppendFilterInput(nil, sdk.FilterInput{Topic: "t"})
	if err != nil {
		t.Fatal(err)
	}
	if req, _, err := DecodeFilterInput(b, nil, nil); err != nil || len(req.Records) != 0 {
		t.Fatalf("empty chunk: %+v %v", req, err)
	}
	// Offsets out of order or too far apart cannot be encoded.
	in.Records[1].Offset = 10
	if _, err := FilterInputSize(in); err == nil || !strings.Contains(err.Error(), "offset order") {
		t.Fatalf("out-of-order offsets: %v", err)
	}
}

func TestFilterInputRejectsMalformed(t *testing.T) {
	good, _ := AppendFilterInput(nil, filterInput())
	for i := range len(good) {
		if _, _, err := DecodeFilterInput(good[:i], nil, nil); !errors.Is(err, ErrMalformed) {
			t.Fatalf("truncated to %d bytes: %v", i, err)
		}
	}
	if _, _, err := DecodeFilterInput(append(slices.Clone(good), 0), nil, nil); !errors.Is(err, ErrMalformed) {
		t.Fatalf("trailing byte: %v", err)
	}
}

func TestFilterOutputRoundTrip(t *testing.T) {
	decisions := []sdk.FilterDecision{
		{Action: sdk.Keep}, {Action: sdk.Drop},
		{Action: sdk.Rewrite, Value: []byte("new"), Headers: []sdk.Header{{Key: "a", Value: nil}, {Key: "b", Value: []byte("x")}}},
		{Action: sdk.Rewrite, Value: nil},
	}
	b := AppendFilterOutput(nil, decisions)
	out := make([]sdk.FilterDecision, len(decisions))
	if err := DecodeFilterOutput(b, out); err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(out, decisions) {
		t.Fatalf("got %+v\nwant %+v", out, decisions)
	}
	for name, bad := range map[string][]byte{
		"unknown action": {0, 3, 0, 0},
		"too few":        {0, 0, 0},
		"too many":       {0, 0, 0, 0, 0},
		"huge headers":   {0, 0, 0, 2, 0, 0xfe, 0xff, 0xff, 0xff, 0x0f},
	} {
		if err := DecodeFilterOutput(bad, make([]sdk.FilterDecision, 4)); !errors.Is(err, ErrMalformed) {
			t.Errorf("%s: %v", name, err)
		}
	}
}

func TestAssignRoundTrip(t *testing.T) {
	in := sdk.AssignInput{
		Members: []sdk.GroupMember{{MemberID: "m1", InstanceID: "i", Rack: "r", Topics: []string{"t"}, UserData: []byte{1, 2}, Owned: sdk.TopicPartitions{"t": {1}}, Generation: 3}},
		Topics:  map[string]sdk.TopicMetadata{"t": {Partitions: 2, PartitionRacks: [][]string{{"r"}, {"s"}}}},
	}
	b, err := EncodeAssignInput(in)
	if err != nil {
		t.Fatal(err)
	}
	got, err := DecodeAssignInput(b)
	if err != nil || !reflect.DeepEqual(got, in) {
		t.Fatalf("got %+v, %v", got, err)
	}
	if !bytes.Contains(b, []byte(`"member_id":"m1"`)) || !bytes.Contains(b, []byte(`"user_data":"AQI="`)) {
		t.Fatalf("JSON field names: %s", b)
	}
	a := sdk.Assignment{"m1": {"t": {0, 1}}, "m2": {}}
	b, err = EncodeAssignOutput(a)
	if err != nil {
		t.Fatal(err)
	}
	back, err := DecodeAssignOutput(b)
	if err != nil || !reflect.DeepEqual(back, a) {
		t.Fatalf("got %v, %v (%s)", back, err, b)
	}
	for _, bad := range []string{``, `{}`, `{"assignment":[]}`, `{"assignment":{"m":{"t":["x"]}}}`} {
		if _, err := DecodeAssignOutput([]byte(bad)); !errors.Is(err, ErrMalformed) {
			t.Errorf("%q: %v", bad, err)
		}
	}
}

func TestErrorCodes(t *testing.T) {
	for _, n := range []int{0, 1, 17, MaxMessageLen} {
		if r := ErrorCode(n); r > ErrorBase || MessageLen(r) != n {
			t.Fatalf("ErrorCode(%d) = %d, MessageLen = %d", n, r, MessageLen(r))
		}
	}
	if MessageLen(ErrorCode(MaxMessageLen+5)) != MaxMessageLen {
		t.Fatal("ErrorCode does not clamp")
	}
}

// referenceKeys decodes count keys with the general-purpose reader, as a
// reference for decodeKeys' hand-unrolled fast path.
func referenceKeys(b []byte, count int) ([][]byte, bool) {
	r := reader{b: b}
	var keys [][]byte
	for range count {
		keys = append(keys, r.nullableBytes("key"))
	}
	return keys, r.err == nil && len(r.b) == 0
}

// The guest-side decoders never panic, and the partition decoder's fast
// path agrees with the general-purpose reader.
func FuzzDecodePartitionInput(f *testing.F) {
	for _, keys := range [][][]byte{{nil, []byte("ab")}, {bytes.Repeat([]byte("x"), 200)}, {}} {
		b := make([]byte, PartitionInputSize("t", keys))
		PutPartitionInput(b, "t", 3, keys)
		f.Add(b)
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		req, err := DecodePartitionInput(b, nil)
		if len(b) >= 8 {
			r := reader{b: b[8:]}
			r.bytes("topic")
			count := int(int32(binary.LittleEndian.Uint32(b[4:])))
			if r.err == nil && count >= 0 && count <= len(r.b) && int32(binary.LittleEndian.Uint32(b)) >= 1 {
				want, ok := referenceKeys(r.b, count)
				if ok != (err == nil) {
					t.Fatalf("fast path err %v, reference ok %v", err, ok)
				}
				if ok {
					for i := range want {
						if (want[i] == nil) != (req.Keys[i] == nil) || !bytes.Equal(want[i], req.Keys[i]) {
							t.Fatalf("key %d: %q, reference %q", i, req.Keys[i], want[i])
						}
					}
				}
			}
		}
		if err == nil && (req.NumPartitions < 1 || len(req.Keys) > len(b)) {
			t.Fatalf("accepted %+v", req)
		}
	})
}

func FuzzDecodeFilterInput(f *testing.F) {
	b, _ := AppendFilterInput(nil, filterInput())
	f.Add(b)
	f.Fuzz(func(t *testing.T, b []byte) {
		req, hs, err := DecodeFilterInput(b, nil, nil)
		if err != nil {
			return
		}
		if len(req.Records) > len(b)/7 || len(hs) > len(b)/2 {
			t.Fatalf("%d records and %d headers from %d bytes", len(req.Records), len(hs), len(b))
		}
	})
}
