package wire

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"reflect"
	"runtime"
	"testing"

	"github.com/weirmq/weir/sdk"
)

func randBytes(rng *rand.Rand) []byte {
	switch rng.IntN(5) {
	case 0:
		return nil
	case 1:
		return []byte{}
	}
	b := make([]byte, rng.IntN(50))
	for i := range b {
		b[i] = byte(rng.IntN(256))
	}
	return b
}

func randHeaders(rng *rand.Rand) []sdk.Header {
	if rng.IntN(3) == 0 {
		return nil
	}
	hs := make([]sdk.Header, 1+rng.IntN(3))
	for i := range hs {
		hs[i] = sdk.Header{Key: fmt.Sprintf("h%d", rng.IntN(10)), Value: randBytes(rng)}
	}
	return hs
}

func TestPartitionRoundTrip(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 1))
	for range 200 {
		in := sdk.PartitionInput{Topic: fmt.Sprint("t", rng.IntN(9)), NumPartitions: rng.Int32()}
		for range rng.IntN(20) {
			in.Keys = append(in.Keys, randBytes(rng))
		}
		got, err := DecodePartitionRequest(EncodePartitionRequest(nil, in))
		if err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(got, in) { // DeepEqual tells nil keys from empty ones
			t.Fatalf("got %#v, want %#v", got, in)
		}
		out := make([]int32, len(in.Keys))
		for i := range out {
			out[i] = rng.Int32() - rng.Int32()
		}
		back := make([]int32, len(out))
		if err := DecodePartitions(EncodePartitions(nil, out), back); err != nil || !reflect.DeepEqual(back, out) {
			t.Fatalf("partitions %v → %v, %v", out, back, err)
		}
		if len(out) > 0 {
			if err := DecodePartitions(EncodePartitions(nil, out), back[1:]); !errors.Is(err, ErrMalformed) {
				t.Fatalf("count mismatch accepted: %v", err)
			}
		}
	}
}

func TestFilterRoundTrip(t *testing.T) {
	rng := rand.New(rand.NewPCG(2, 2))
	for range 200 {
		in := sdk.FilterInput{Topic: "t", Partition: rng.Int32N(100), NowMs: rng.Int64()}
		for range rng.IntN(20) {
			in.Records = append(in.Records, sdk.Record{
				Offset: rng.Int64(), TimestampMs: -rng.Int64N(1000), Key: randBytes(rng), Value: randBytes(rng), Headers: randHeaders(rng),
			})
		}
		got, err := DecodeFilterRequest(EncodeFilterRequest(nil, in))
		if err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(got, in) {
			t.Fatalf("got %#v, want %#v", got, in)
		}
		out := make([]sdk.FilterDecision, len(in.Records))
		for i := range out {
			out[i].Action = sdk.FilterAction(rng.IntN(4)) // 3 is unknown: passed through
			if out[i].Action == sdk.Rewrite {
				out[i].Value, out[i].Headers = randBytes(rng), randHeaders(rng)
			}
		}
		back := make([]sdk.FilterDecision, len(out))
		if err := DecodeDecisions(EncodeDecisions(nil, out), back); err != nil || !reflect.DeepEqual(back, out) {
			t.Fatalf("decisions %#v → %#v, %v", out, back, err)
		}
	}
}

func TestAssignRoundTrip(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 3))
	for range 200 {
		in := sdk.AssignInput{}
		if rng.IntN(5) > 0 {
			in.Topics = map[string]sdk.TopicMetadata{}
			for i := range rng.IntN(4) + 1 {
				meta := sdk.TopicMetadata{Partitions: rng.Int32N(6)}
				if rng.IntN(2) == 0 {
					meta.PartitionRacks = make([][]string, meta.Partitions)
					for p := range meta.PartitionRacks {
						if rng.IntN(3) > 0 {
							meta.PartitionRacks[p] = []string{"r1", fmt.Sprint("r", p)}
						}
					}
				}
				in.Topics[fmt.Sprint("topic", i)] = meta
			}
		}
		for i := range rng.IntN(10) {
			m := sdk.GroupMember{MemberID: fmt.Sprint("m", i), Generation: rng.Int32N(9) - 2}
			if rng.IntN(2) == 0 {
				m.InstanceID, m.Rack = fmt.Sprint("i", i), "r1"
			}
			for j := range rng.IntN(3) {
				m.Topics = append(m.Topics, fmt.Sprint("topic", j))
			}
			if rng.IntN(3) > 0 {
				m.UserData = randBytes(rng)
			}
			if rng.IntN(2) == 0 {
				m.Owned = sdk.TopicPartitions{}
				for j := range rng.IntN(3) {
					ps := []int32{}
					for p := range rng.Int32N(5) {
						ps = append(ps, p*2)
					}
					m.Owned[fmt.Sprint("topic", j)] = ps
				}
			}
			in.Members = append(in.Members, m)
		}
		got, err := DecodeAssignInput(EncodeAssignInput(nil, in))
		if err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(got, in) {
			t.Fatalf("got %#v\nwant %#v", got, in)
		}
		a := sdk.Assignment{}
		for _, m := range in.Members {
			tps := sdk.TopicPartitions{}
			for _, topic := range m.Topics {
				if rng.IntN(2) == 0 {
					tps[topic] = []int32{0, int32(rng.IntN(100))}
				} else {
					tps[topic] = []int32{}
				}
			}
			a[m.MemberID] = tps
		}
		back, err := DecodeAssignment(EncodeAssignment(nil, a))
		if err != nil || !reflect.DeepEqual(back, a) {
			t.Fatalf("assignment %v → %v, %v", a, back, err)
		}
	}
}

func TestDescriptionAndReplies(t *testing.T) {
	points := []Point{{KindPartitioner, "p"}, {KindAssignor, "a"}}
	got, err := DecodeDescription(EncodeDescription(nil, points))
	if err != nil || !reflect.DeepEqual(got, points) {
		t.Fatalf("%v %v", got, err)
	}
	if p, err := ParseReply(append(OK(), 7)); err != nil || len(p) != 1 || p[0] != 7 {
		t.Fatalf("OK reply: %v %v", p, err)
	}
	if _, err := ParseReply(Declined()); !errors.Is(err, sdk.ErrDecline) {
		t.Fatalf("declined reply: %v", err)
	}
	var remote *RemoteError
	if _, err := ParseReply(Failed(errors.New("boom"))); !errors.As(err, &remote) || remote.Msg != "boom" {
		t.Fatalf("failed reply: %v", err)
	}
	for _, bad := range [][]byte{nil, {9}} {
		if _, err := ParseReply(bad); !errors.Is(err, ErrMalformed) {
			t.Fatalf("reply %v: %v", bad, err)
		}
	}
}

// Every strict prefix of a valid message, and every message with a
// trailing byte, is rejected with ErrMalformed — never a panic, never a
// silent success.
func TestTruncatedAndPaddedMessagesAreRejected(t *testing.T) {
	in := sdk.AssignInput{
		Members: []sdk.GroupMember{{MemberID: "m", Topics: []string{"t"}, UserData: []byte("u"), Owned: sdk.TopicPartitions{"t": {1}}}},
		Topics:  map[string]sdk.TopicMetadata{"t": {Partitions: 2, PartitionRacks: [][]string{{"a"}, {"b"}}}},
	}
	decoders := map[string]struct {
		msg    []byte
		decode func([]byte) error
	}{
		"partition request": {EncodePartitionRequest(nil, sdk.PartitionInput{Topic: "t", NumPartitions: 3, Keys: [][]byte{nil, []byte("k")}}),
			func(b []byte) error { _, err := DecodePartitionRequest(b); return err }},
		"partitions": {EncodePartitions(nil, []int32{1, 2}), func(b []byte) error { return DecodePartitions(b, make([]int32, 2)) }},
		"filter request": {EncodeFilterRequest(nil, sdk.FilterInput{Topic: "t", Records: []sdk.Record{{Key: []byte("k"), Headers: []sdk.Header{{Key: "h"}}}}}),
			func(b []byte) error { _, err := DecodeFilterRequest(b); return err }},
		"decisions": {EncodeDecisions(nil, []sdk.FilterDecision{{Action: sdk.Rewrite, Value: []byte("v")}}),
			func(b []byte) error { return DecodeDecisions(b, make([]sdk.FilterDecision, 1)) }},
		"assign input": {EncodeAssignInput(nil, in), func(b []byte) error { _, err := DecodeAssignInput(b); return err }},
		"assignment":   {EncodeAssignment(nil, sdk.Assignment{"m": {"t": {0, 1}}}), func(b []byte) error { _, err := DecodeAssignment(b); return err }},
		"description":  {EncodeDescription(nil, []Point{{"assignor", "a"}}), func(b []byte) error { _, err := DecodeDescription(b); return err }},
	}
	for name, d := range decoders {
		if err := d.decode(d.msg); err != nil {
			t.Fatalf("%s: the valid message fails: %v", name, err)
		}
		for n := range len(d.msg) {
			if err := d.decode(d.msg[:n]); !errors.Is(err, ErrMalformed) {
				t.Errorf("%s truncated to %d of %d bytes: %v", name, n, len(d.msg), err)
			}
		}
		if err := d.decode(append(d.msg[:len(d.msg):len(d.msg)], 0)); !errors.Is(err, ErrMalformed) {
			t.Errorf("%s with a trailing byte: %v", name, err)
		}
	}
}

// A count or length larger than the message is rejected before anything
// is allocated for it.
func TestHugeCountsAreRejectedWithoutAllocating(t *testing.T) {
	huge := appendUvarint(nil, 1<<40)
	for name, decode := range map[string]func() error{
		"assignment": func() error { _, err := DecodeAssignment(huge); return err },
		"assign input": func() error {
			_, err := DecodeAssignInput(huge)
			return err
		},
		"filter records": func() error {
			b := appendVarint(appendVarint(appendString(nil, "t"), 0), 0)
			_, err := DecodeFilterRequest(append(b, huge...))
			return err
		},
		"key length": func() error {
			b := appendUvarint(appendVarint(appendString(nil, "t"), 1), 1)
			_, err := DecodePartitionRequest(append(b, huge...))
			return err
		},
		"owned topics": func() error {
			b := appendUvarint(nil, 1)
			for range 3 {
				b = appendString(b, "")
			}
			b = append(b, 0, 0) // no topics, nil user data
			_, err := DecodeAssignInput(append(b, huge...))
			return err
		},
	} {
		// Bytes, not allocation counts: the race detector adds
		// allocations of its own, but a decoder that trusted the count
		// would allocate gigabytes.
		var before, after runtime.MemStats
		runtime.ReadMemStats(&before)
		for range 10 {
			if err := decode(); !errors.Is(err, ErrMalformed) {
				t.Fatalf("%s: %v", name, err)
			}
		}
		runtime.ReadMemStats(&after)
		if n := after.TotalAlloc - before.TotalAlloc; n > 1<<20 {
			t.Errorf("%s: %d bytes allocated to reject a huge count 10 times", name, n)
		}
	}
	if _, err := DecodePartitionRequest(appendVarint(appendString(nil, "t"), 1<<40)); !errors.Is(err, ErrMalformed) {
		t.Errorf("a partition count beyond int32: %v", err)
	}
}

func FuzzDecode(f *testing.F) {
	f.Add(byte(0), EncodePartitionRequest(nil, sdk.PartitionInput{Topic: "t", NumPartitions: 3, Keys: [][]byte{nil, {}, []byte("k")}}))
	f.Add(byte(1), EncodeFilterRequest(nil, sdk.FilterInput{Topic: "t", Records: []sdk.Record{{Key: []byte("k"), Headers: []sdk.Header{{Key: "h"}}}}}))
	f.Add(byte(2), EncodeDecisions(nil, []sdk.FilterDecision{{Action: sdk.Rewrite, Value: []byte("v")}, {Action: sdk.Drop}}))
	f.Add(byte(3), EncodeAssignInput(nil, sdk.AssignInput{
		Members: []sdk.GroupMember{{MemberID: "m", Topics: []string{"t"}, Owned: sdk.TopicPartitions{"t": {1}}}},
		Topics:  map[string]sdk.TopicMetadata{"t": {Partitions: 2, PartitionRacks: [][]string{{"a"}, nil}}},
	}))
	f.Add(byte(4), EncodeAssignment(nil, sdk.Assignment{"m": {"t": {0, 1}}, "n": {}}))
	f.Add(byte(5), EncodeDescription(nil, []Point{{"assignor", "a"}}))
	f.Fuzz(func(t *testing.T, which byte, b []byte) {
		var err error
		switch which % 6 {
		case 0:
			var in sdk.PartitionInput
			if in, err = DecodePartitionRequest(b); err == nil {
				again, err2 := DecodePartitionRequest(EncodePartitionRequest(nil, in))
				if err2 != nil || !reflect.DeepEqual(again, in) {
					t.Fatalf("re-encoding changed %#v to %#v (%v)", in, again, err2)
				}
			}
		case 1:
			var in sdk.FilterInput
			if in, err = DecodeFilterRequest(b); err == nil {
				again, err2 := DecodeFilterRequest(EncodeFilterRequest(nil, in))
				if err2 != nil || !reflect.DeepEqual(again, in) {
					t.Fatalf("re-encoding changed %#v to %#v (%v)", in, again, err2)
				}
			}
		case 2:
			err = DecodeDecisions(b, make([]sdk.FilterDecision, len(b)%8))
		case 3:
			_, err = DecodeAssignInput(b)
		case 4:
			var a sdk.Assignment
			if a, err = DecodeAssignment(b); err == nil && a == nil {
				t.Fatal("nil assignment without an error")
			}
		case 5:
			_, err = DecodeDescription(b)
		}
		if err != nil && !errors.Is(err, ErrMalformed) {
			t.Fatalf("error not wrapping ErrMalformed: %v", err)
		}
	})
}
