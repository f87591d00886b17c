package assignors

import (
	"context"
	"encoding/binary"
	"errors"
	"reflect"
	"strings"
	"testing"

	"github.com/weirmq/weir/sdk"
)

// member builds a dynamic member subscribed to topics.
func member(id string, topics ...string) sdk.GroupMember {
	return sdk.GroupMember{MemberID: id, Topics: topics}
}

// owning returns m owning the given partitions.
func owning(m sdk.GroupMember, owned sdk.TopicPartitions) sdk.GroupMember {
	m.Owned = owned
	return m
}

func partitions(counts map[string]int32) map[string]sdk.TopicMetadata {
	out := make(map[string]sdk.TopicMetadata, len(counts))
	for t, n := range counts {
		out[t] = sdk.TopicMetadata{Partitions: n}
	}
	return out
}

func TestNames(t *testing.T) {
	var got []string
	for _, a := range All() {
		got = append(got, a.Name())
	}
	want := []string{"range", "roundrobin", "sticky", "cooperative-sticky", "uniform"}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("names %q, want %q", got, want)
	}
}

// TestKafkaExamples: the examples in the Javadoc of Kafka's assignors and
// in KIP-54, where the answer is fully determined.
func TestKafkaExamples(t *testing.T) {
	twoByThree := partitions(map[string]int32{"t0": 3, "t1": 3})
	uneven := partitions(map[string]int32{"t0": 1, "t1": 2, "t2": 3})
	for _, tc := range []struct {
		name     string
		assignor sdk.Assignor
		in       sdk.AssignInput
		want     sdk.Assignment
	}{
		{
			name:     "range, two members, two topics",
			assignor: NewRange(),
			in:       sdk.AssignInput{Topics: twoByThree, Members: []sdk.GroupMember{member("C1", "t0", "t1"), member("C0", "t0", "t1")}},
			want: sdk.Assignment{
				"C0": {"t0": {0, 1}, "t1": {0, 1}},
				"C1": {"t0": {2}, "t1": {2}},
			},
		},
		{
			name:     "roundrobin, two members, two topics",
			assignor: NewRoundRobin(),
			in:       sdk.AssignInput{Topics: twoByThree, Members: []sdk.GroupMember{member("C1", "t0", "t1"), member("C0", "t0", "t1")}},
			want: sdk.Assignment{
				"C0": {"t0": {0, 2}, "t1": {1}},
				"C1": {"t0": {1}, "t1": {0, 2}},
			},
		},
		{
			name:     "roundrobin, differing subscriptions",
			assignor: NewRoundRobin(),
			in: sdk.AssignInput{Topics: uneven, Members: []sdk.GroupMember{
				member("C0", "t0"), member("C1", "t0", "t1"), member("C2", "t0", "t1", "t2"),
			}},
			want: sdk.Assignment{
				"C0": {"t0": {0}},
				"C1": {"t1": {0}},
				"C2": {"t1": {1}, "t2": {0, 1, 2}},
			},
		},
		{
			name:     "sticky, differing subscriptions",
			assignor: NewSticky(),
			in: sdk.AssignInput{Topics: uneven, Members: []sdk.GroupMember{
				member("C0", "t0"), member("C1", "t0", "t1"), member("C2", "t0", "t1", "t2"),
			}},
			want: sdk.Assignment{
				"C0": {"t0": {0}},
				"C1": {"t1": {0, 1}},
				"C2": {"t2": {0, 1, 2}},
			},
		},
		{
			name:     "sticky, differing subscriptions, C0 leaves",
			assignor: NewSticky(),
			in: sdk.AssignInput{Topics: uneven, Members: []sdk.GroupMember{
				owning(member("C1", "t0", "t1"), sdk.TopicPartitions{"t1": {0, 1}}),
				owning(member("C2", "t0", "t1", "t2"), sdk.TopicPartitions{"t2": {0, 1, 2}}),
			}},
			want: sdk.Assignment{
				"C1": {"t0": {0}, "t1": {0, 1}},
				"C2": {"t2": {0, 1, 2}},
			},
		},
		{
			name:     "range, static members first, by instance id",
			assignor: NewRange(),
			in: sdk.AssignInput{Topics: partitions(map[string]int32{"t": 3}), Members: []sdk.GroupMember{
				member("a", "t"),
				{MemberID: "z", InstanceID: "i2", Topics: []string{"t"}},
				{MemberID: "y", InstanceID: "i1", Topics: []string{"t"}},
			}},
			want: sdk.Assignment{"y": {"t": {0}}, "z": {"t": {1}}, "a": {"t": {2}}},
		},
		{
			name:     "members with nothing to consume get an empty entry",
			assignor: NewUniform(),
			in: sdk.AssignInput{Topics: partitions(map[string]int32{"t": 1, "empty": 0}), Members: []sdk.GroupMember{
				member("a", "t", "t", "missing"), member("b", "empty"), member("c"), member("d", "t"),
			}},
			want: sdk.Assignment{"a": {"t": {0}}, "b": {}, "c": {}, "d": {}},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := tc.assignor.Assign(context.Background(), tc.in)
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got, tc.want) {
				t.Fatalf("got  %v\nwant %v", got, tc.want)
			}
		})
	}
}

// TestStickyKIP54Example: KIP-54's example of a member leaving a group of
// three. Which of C1's partitions goes where is not fixed, but C0 and C2
// keep theirs and end with four each.
func TestStickyKIP54Example(t *testing.T) {
	all := []string{"t0", "t1", "t2", "t3"}
	in := sdk.AssignInput{
		Topics: partitions(map[string]int32{"t0": 2, "t1": 2, "t2": 2, "t3": 2}),
		Members: []sdk.GroupMember{
			owning(member("C0", all...), sdk.TopicPartitions{"t0": {0}, "t1": {1}, "t3": {0}}),
			owning(member("C2", all...), sdk.TopicPartitions{"t1": {0}, "t2": {1}}),
		},
	}
	for _, a := range []sdk.Assignor{NewSticky(), NewUniform()} {
		got, err := a.Assign(context.Background(), in)
		if err != nil {
			t.Fatal(err)
		}
		if moved(in, got) != 0 || total(got["C0"]) != 4 || total(got["C2"]) != 4 {
			t.Fatalf("%s: %v", a.Name(), got)
		}
	}
}

// TestCooperativeTwoPhases: a member joins a group of one; the partitions
// it is to get are first only revoked from the old member, then given.
func TestCooperativeTwoPhases(t *testing.T) {
	topics := partitions(map[string]int32{"t": 6})
	a := NewCooperativeSticky()
	first, err := a.Assign(context.Background(), sdk.AssignInput{Topics: topics, Members: []sdk.GroupMember{
		owning(member("old", "t"), sdk.TopicPartitions{"t": {0, 1, 2, 3, 4, 5}}),
		member("new", "t"),
	}})
	if err != nil {
		t.Fatal(err)
	}
	want := sdk.Assignment{"old": {"t": {0, 1, 2}}, "new": {}}
	if !reflect.DeepEqual(first, want) {
		t.Fatalf("first rebalance: got %v, want %v", first, want)
	}
	second, err := a.Assign(context.Background(), sdk.AssignInput{Topics: topics, Members: []sdk.GroupMember{
		owning(member("old", "t"), first["old"]),
		member("new", "t"),
	}})
	if err != nil {
		t.Fatal(err)
	}
	want = sdk.Assignment{"old": {"t": {0, 1, 2}}, "new": {"t": {3, 4, 5}}}
	if !reflect.DeepEqual(second, want) {
		t.Fatalf("second rebalance: got %v, want %v", second, want)
	}
}

// TestCooperativeHoldsBackUnsubscribed: a member that drops a topic still
// owns its partitions until it revokes them, so they go to nobody yet; the
// same holds for the partition balance takes from the other member.
func TestCooperativeHoldsBackUnsubscribed(t *testing.T) {
	topics := partitions(map[string]int32{"a": 2, "b": 2})
	a := NewCooperativeSticky()
	first, err := a.Assign(context.Background(), sdk.AssignInput{Topics: topics, Members: []sdk.GroupMember{
		owning(member("m1", "a"), sdk.TopicPartitions{"a": {0}, "b": {0, 1}}),
		owning(member("m2", "a", "b"), sdk.TopicPartitions{"a": {1}}),
	}})
	if err != nil {
		t.Fatal(err)
	}
	want := sdk.Assignment{"m1": {"a": {0}}, "m2": {}}
	if !reflect.DeepEqual(first, want) {
		t.Fatalf("first rebalance: got %v, want %v", first, want)
	}
	second, err := a.Assign(context.Background(), sdk.AssignInput{Topics: topics, Members: []sdk.GroupMember{
		owning(member("m1", "a"), first["m1"]),
		owning(member("m2", "a", "b"), first["m2"]),
	}})
	if err != nil {
		t.Fatal(err)
	}
	want = sdk.Assignment{"m1": {"a": {0, 1}}, "m2": {"b": {0, 1}}}
	if !reflect.DeepEqual(second, want) {
		t.Fatalf("second rebalance: got %v, want %v", second, want)
	}
}

// encodeStickyUserData writes StickyAssignorUserData v1 as Java's
// StickyAssignor does (v0 when generation is negative).
func encodeStickyUserData(owned []tp, generation int32) []byte {
	byTopic := map[string][]int32{}
	var order []string
	for _, p := range owned {
		if _, ok := byTopic[p.topic]; !ok {
			order = append(order, p.topic)
		}
		byTopic[p.topic] = append(byTopic[p.topic], p.p)
	}
	b := binary.BigEndian.AppendUint32(nil, uint32(len(order)))
	for _, topic := range order {
		b = binary.BigEndian.AppendUint16(b, uint16(len(topic)))
		b = append(b, topic...)
		b = binary.BigEndian.AppendUint32(b, uint32(len(byTopic[topic])))
		for _, p := range byTopic[topic] {
			b = binary.BigEndian.AppendUint32(b, uint32(p))
		}
	}
	if generation >= 0 {
		b = binary.BigEndian.AppendUint32(b, uint32(generation))
	}
	return b
}

func TestDecodeStickyUserData(t *testing.T) {
	for _, tc := range []struct {
		name  string
		in    []byte
		owned sdk.TopicPartitions
		gen   int32
		ok    bool
	}{
		{"v1", encodeStickyUserData([]tp{{"a", 1}, {"a", 0}, {"bb", 7}}, 9), sdk.TopicPartitions{"a": {1, 0}, "bb": {7}}, 9, true},
		{"v0", encodeStickyUserData([]tp{{"a", 3}}, -1), sdk.TopicPartitions{"a": {3}}, 0, true},
		{"v0 empty", encodeStickyUserData(nil, -1)[:4], nil, 0, true},
		{"v1 empty", encodeStickyUserData(nil, 4), nil, 4, true},
		{"cooperative generation", []byte{0, 0, 1, 0}, nil, 256, true},
		{"empty", nil, nil, 0, false},
		{"truncated", encodeStickyUserData([]tp{{"a", 3}}, 2)[:12], nil, 0, false},
		{"trailing bytes", append(encodeStickyUserData([]tp{{"a", 3}}, 2), 0), nil, 0, false},
		{"huge count", []byte{0x7f, 0xff, 0xff, 0xff, 0, 1, 'a', 0, 0, 0, 0}, nil, 0, false},
		{"huge partition count", []byte{0, 0, 0, 1, 0, 1, 'a', 0x7f, 0xff, 0xff, 0xff}, nil, 0, false},
		{"negative string length", []byte{0, 0, 0, 1, 0xff, 0xff, 0, 0, 0, 0}, nil, 0, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			owned, gen, ok := decodeStickyUserData(tc.in)
			if ok != tc.ok || gen != tc.gen || !reflect.DeepEqual(owned, tc.owned) {
				t.Fatalf("got %v, %d, %v; want %v, %d, %v", owned, gen, ok, tc.owned, tc.gen, tc.ok)
			}
		})
	}
}

// TestStickyReadsUserData: an eager Java client's owned partitions are in
// its user data; sticky keeps them, uniform (KIP-848) does not look.
func TestStickyReadsUserData(t *testing.T) {
	in := sdk.AssignInput{
		Topics: partitions(map[string]int32{"t": 4}),
		Members: []sdk.GroupMember{
			{MemberID: "a", Topics: []string{"t"}, UserData: encodeStickyUserData([]tp{{"t", 2}, {"t", 3}}, 5)},
			// b's claim on t-3 is from an older generation, so a keeps it.
			{MemberID: "b", Topics: []string{"t"}, Owned: sdk.TopicPartitions{"t": {3, 1}}, Generation: 4},
		},
	}
	got, err := NewSticky().Assign(context.Background(), in)
	if err != nil {
		t.Fatal(err)
	}
	want := sdk.Assignment{"a": {"t": {2, 3}}, "b": {"t": {0, 1}}}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("sticky: got %v, want %v", got, want)
	}
	got, err = NewUniform().Assign(context.Background(), in)
	if err != nil {
		t.Fatal(err)
	}
	if want := (sdk.Assignment{"a": {"t": {0, 2}}, "b": {"t": {1, 3}}}); !reflect.DeepEqual(got, want) {
		t.Fatalf("uniform: got %v, want %v", got, want)
	}
}

func TestSettleClaims(t *testing.T) {
	in := sdk.AssignInput{
		Topics: partitions(map[string]int32{"t": 5, "u": 1}),
		Members: []sdk.GroupMember{
			{MemberID: "a", Topics: []string{"t"}, Generation: 3, Owned: sdk.TopicPartitions{"t": {0, 1, 1, 9, -1}, "u": {0}}},
			{MemberID: "b", Topics: []string{"t", "u"}, Generation: 3, Owned: sdk.TopicPartitions{"t": {1, 2}}},
			{MemberID: "c", Topics: []string{"t"}, Generation: 2, Owned: sdk.TopicPartitions{"t": {2, 3}, "gone": {0}}},
			{MemberID: "d", Topics: []string{"t"}, Owned: sdk.TopicPartitions{"t": {3, 4}}},
		},
	}
	g, err := newGroup(context.Background(), "test", in)
	if err != nil {
		t.Fatal(err)
	}
	c := settleClaims(g, false, true)
	// pids: t-0..t-4, then u-0. a=0, b=1, c=2, d=3.
	wantOwner := []int32{
		0,        // t-0: a alone
		noMember, // t-1: a and b, same generation
		1,        // t-2: b's generation beats c's
		2,        // t-3: c's known generation beats d's unknown one
		3,        // t-4: d alone
		noMember, // u-0: a does not subscribe to u
	}
	wantClaimants := []int32{0, several, several, several, 3, 0}
	if !reflect.DeepEqual(c.owner, wantOwner) || !reflect.DeepEqual(c.claimants, wantClaimants) {
		t.Fatalf("owner %v claimants %v; want %v %v", c.owner, c.claimants, wantOwner, wantClaimants)
	}
}

func TestInvalidInput(t *testing.T) {
	ok := partitions(map[string]int32{"t": 1})
	for _, tc := range []struct {
		name string
		in   sdk.AssignInput
		want string
	}{
		{"empty member id", sdk.AssignInput{Topics: ok, Members: []sdk.GroupMember{member("", "t")}}, "empty member id"},
		{"duplicate member id", sdk.AssignInput{Topics: ok, Members: []sdk.GroupMember{member("a", "t"), member("a", "t")}}, `"a" appears twice`},
		{"negative partitions", sdk.AssignInput{Topics: partitions(map[string]int32{"t": -1}), Members: []sdk.GroupMember{member("a", "t")}}, "negative partition count"},
	} {
		for _, a := range All() {
			got, err := a.Assign(context.Background(), tc.in)
			if got != nil || !errors.Is(err, sdk.ErrInvalidAssignInput) || !strings.Contains(err.Error(), tc.want) || !strings.Contains(err.Error(), a.Name()) {
				t.Errorf("%s: %s: got %v, %v", a.Name(), tc.name, got, err)
			}
		}
	}
}

func TestCanceledContext(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	for _, a := range All() {
		got, err := a.Assign(ctx, sdk.AssignInput{Topics: partitions(map[string]int32{"t": 1}), Members: []sdk.GroupMember{member("a", "t")}})
		if got != nil || !errors.Is(err, context.Canceled) {
			t.Errorf("%s: got %v, %v", a.Name(), got, err)
		}
	}
}

func TestEmptyGroup(t *testing.T) {
	for _, a := range All() {
		got, err := a.Assign(context.Background(), sdk.AssignInput{})
		if err != nil || got == nil || len(got) != 0 {
			t.Errorf("%s: got %v, %v", a.Name(), got, err)
		}
	}
}

// TestResultSharesNoMemory: appending to one member's list cannot change
// another's.
func TestResultSharesNoMemory(t *testing.T) {
	in := sdk.AssignInput{Topics: partitions(map[string]int32{"t": 4}), Members: []sdk.GroupMember{member("a", "t"), member("b", "t")}}
	for _, a := range All() {
		got, err := a.Assign(context.Background(), in)
		if err != nil {
			t.Fatal(err)
		}
		before := cloneTopics(got["b"])
		for m := range got {
			got[m]["t"] = append(got[m]["t"], 99)
		}
		if b := got["b"]["t"]; !reflect.DeepEqual(b[:len(b)-1], before["t"]) {
			t.Fatalf("%s: appending to a's list changed b's: %v", a.Name(), b)
		}
	}
}

func TestRegister(t *testing.T) {
	r := sdk.NewRegistry()
	if err := Register(r); err != nil {
		t.Fatal(err)
	}
	for _, a := range All() {
		if got, ok := r.Assignor(a.Name()); !ok || got.Name() != a.Name() {
			t.Fatalf("%s not registered", a.Name())
		}
	}
	if err := Register(r); err == nil || !strings.Contains(err.Error(), `"range": name is already registered`) {
		t.Fatalf("second Register: %v", err)
	}

	// All or nothing: a name already taken registers none of them.
	r = sdk.NewRegistry()
	if err := r.RegisterAssignor(NewUniform()); err != nil {
		t.Fatal(err)
	}
	if err := Register(r); err == nil {
		t.Fatal("Register over a taken name succeeded")
	}
	if _, ok := r.Assignor("range"); ok {
		t.Fatal("Register registered some built-ins despite failing")
	}
	if err := Register(nil); err == nil {
		t.Fatal("Register(nil) succeeded")
	}
}

// TestConcurrentUse: one assignor value serves several goroutines at once
// (run with -race).
func TestConcurrentUse(t *testing.T) {
	in := randomClaims(newRand(t), randomGroup(newRand(t), shape{members: 20, topics: 5, maxPartitions: 20, hetero: true}), 0.5)
	for _, a := range All() {
		want, err := a.Assign(context.Background(), in)
		if err != nil {
			t.Fatal(err)
		}
		results := make(chan sdk.Assignment, 4)
		for range 4 {
			go func() {
				got, _ := a.Assign(context.Background(), in)
				results <- got
			}()
		}
		for range 4 {
			if got := <-results; !reflect.DeepEqual(got, want) {
				t.Fatalf("%s: concurrent calls disagree", a.Name())
			}
		}
	}
}
