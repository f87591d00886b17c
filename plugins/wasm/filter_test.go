package wasm

import (
	"context"
	"errors"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/weirmq/weir/plugins/fallback"
	"github.com/weirmq/weir/sdk"
)

// The ttl module (filter and assignor in one module, built with the
// sdk/wasm helpers) declares both hooks and not the partitioner.
func TestModuleDeclaresHooksByExports(t *testing.T) {
	m := openTest(t, "ttl", Options{})
	if got := m.Kinds(); !slices.Equal(got, []string{KindCompactionFilter, KindAssignor}) {
		t.Fatalf("Kinds() = %v", got)
	}
	if _, ok := m.Partitioner(); ok {
		t.Fatal("Partitioner() is true for a module without weir_partition")
	}
	if _, ok := m.CompactionFilter(); !ok {
		t.Fatal("no compaction filter")
	}
	if _, ok := m.Assignor(); !ok {
		t.Fatal("no assignor")
	}
	m2 := openTest(t, "murmur2", Options{})
	if _, ok := m2.CompactionFilter(); ok {
		t.Fatal("CompactionFilter() is true for a partitioner-only module")
	}
	if got := m2.Kinds(); !slices.Equal(got, []string{KindPartitioner}) {
		t.Fatalf("Kinds() = %v", got)
	}
}

// Records cross into the guest in Kafka's record encoding and decisions
// come back intact: expired records are dropped, redacted ones rewritten
// (value and headers), everything else kept — including nil keys, nil
// values, nil header values and offsets with gaps.
func TestCompactionFilterRoundTrip(t *testing.T) {
	logger, logs := testLogger()
	m := openTest(t, "ttl", Options{Config: map[string]any{"header": "expires"}, Logger: logger})
	f, _ := m.CompactionFilter()
	const now = 1_700_000_000_000
	ms := func(v int64) []byte { return []byte(strconv.FormatInt(v, 10)) }
	in := sdk.FilterInput{Topic: "sessions", Partition: 3, NowMs: now, Records: []sdk.Record{
		{Offset: 100, TimestampMs: now - 5000, Key: []byte("a"), Value: []byte("v1"), Headers: []sdk.Header{{Key: "expires", Value: ms(now - 1)}}},
		{Offset: 101, TimestampMs: now - 4000, Key: []byte("b"), Value: []byte("v2"), Headers: []sdk.Header{{Key: "expires", Value: ms(now + 1)}}},
		{Offset: 105, TimestampMs: now - 9000, Key: nil, Value: nil},
		{Offset: 900, TimestampMs: now, Key: []byte("c"), Value: []byte("secret"), Headers: []sdk.Header{
			{Key: "trace", Value: nil}, {Key: "redact", Value: []byte("1")}, {Key: "owner", Value: []byte("x")}}},
		{Offset: 901, TimestampMs: now + 1, Key: []byte{}, Value: []byte{}, Headers: []sdk.Header{{Key: "ttl", Value: ms(0)}}},
	}}
	out := make([]sdk.FilterDecision, len(in.Records))
	if err := f.Filter(context.Background(), in, out); err != nil {
		t.Fatal(err)
	}
	want := []sdk.FilterDecision{
		{Action: sdk.Drop}, {Action: sdk.Keep}, {Action: sdk.Keep},
		{Action: sdk.Rewrite, Value: []byte("REDACTED"), Headers: []sdk.Header{{Key: "trace", Value: nil}, {Key: "owner", Value: []byte("x")}}},
		{Action: sdk.Keep}, // "ttl" is not the configured header
	}
	for i := range want {
		g, w := out[i], want[i]
		if g.Action != w.Action || string(g.Value) != string(w.Value) || len(g.Headers) != len(w.Headers) {
			t.Fatalf("record %d: got %+v, want %+v", i, g, w)
		}
		for j := range w.Headers {
			if g.Headers[j].Key != w.Headers[j].Key || string(g.Headers[j].Value) != string(w.Headers[j].Value) ||
				(g.Headers[j].Value == nil) != (w.Headers[j].Value == nil) {
				t.Fatalf("record %d header %d: got %+v, want %+v", i, j, g.Headers[j], w.Headers[j])
			}
		}
	}
	if !strings.Contains(logs.String(), `ttl filter configured with header \"expires\"`) {
		t.Fatalf("the guest's log line from weir_configure is missing:\n%s", logs)
	}

	// A guest error keeps everything once wrapped with the fallback.
	in.Records[1].Headers[0].Value = []byte("soon")
	err := f.Filter(context.Background(), in, out)
	if !errors.Is(err, ErrGuest) || !strings.Contains(err.Error(), `bad expires header "soon"`) {
		t.Fatalf("error %v; want the guest's message", err)
	}
	wrapped := fallback.CompactionFilter(f, fallback.Options{Logger: logger})
	if err := wrapped.Filter(context.Background(), in, out); err != nil {
		t.Fatal(err)
	}
	for i, d := range out {
		if d.Action != sdk.Keep {
			t.Fatalf("record %d: %v after a failed filter; the fallback keeps everything", i, d.Action)
		}
	}
}

// The assignor hook round-trips the group as JSON.
func TestAssignorRoundTrip(t *testing.T) {
	m := openTest(t, "ttl", Options{})
	a, _ := m.Assignor()
	in := sdk.AssignInput{
		Members: []sdk.GroupMember{
			{MemberID: "m2", Topics: []string{"t", "u"}, UserData: []byte{0, 1, 2}},
			{MemberID: "m1", InstanceID: "i1", Rack: "r1", Topics: []string{"t"}, Owned: sdk.TopicPartitions{"t": {0}}, Generation: 4},
		},
		Topics: map[string]sdk.TopicMetadata{"t": {Partitions: 4}, "u": {Partitions: 1, PartitionRacks: [][]string{{"r1"}}}},
	}
	res, err := a.Assign(context.Background(), in)
	if err != nil {
		t.Fatal(err)
	}
	if err := res.Check(in); err != nil {
		t.Fatal(err)
	}
	if got := res["m1"]["t"]; !slices.Equal(got, []int32{0, 2}) {
		t.Fatalf("m1 got t %v", got)
	}
	if got := res["m2"]["t"]; !slices.Equal(got, []int32{1, 3}) {
		t.Fatalf("m2 got t %v", got)
	}
	if got := res["m2"]["u"]; !slices.Equal(got, []int32{0}) {
		t.Fatalf("m2 got u %v", got)
	}
	if _, err := a.Assign(context.Background(), sdk.AssignInput{Members: []sdk.GroupMember{{}}}); !errors.Is(err, sdk.ErrInvalidAssignInput) {
		t.Fatalf("invalid input: %v", err)
	}
}
