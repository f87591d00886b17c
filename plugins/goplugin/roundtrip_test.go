package goplugin

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/weirmq/weir/assignors"
	"github.com/weirmq/weir/partitioners"
	"github.com/weirmq/weir/plugins/goplugin/internal/testplugin"
	"github.com/weirmq/weir/sdk"
	"github.com/weirmq/weir/sdk/goplugin/wire"
)

func TestHealthyPluginServesEveryPoint(t *testing.T) {
	t.Parallel()
	c, logs := openPlugin(t, "healthy", nil)
	if got, want := c.Kinds(), []string{"partitioner", "compaction_filter", "assignor"}; !slices.Equal(got, want) {
		t.Fatalf("Kinds() = %v, want %v", got, want)
	}
	p, ok1 := c.Partitioner()
	f, ok2 := c.CompactionFilter()
	a, ok3 := c.Assignor()
	if !ok1 || !ok2 || !ok3 {
		t.Fatalf("points served: partitioner %v, filter %v, assignor %v", ok1, ok2, ok3)
	}
	for _, name := range []string{p.Name(), f.Name(), a.Name()} {
		if name != "test-healthy" {
			t.Errorf("a point is named %q, want the plugin's name", name)
		}
	}
	// The start is logged with what the binary serves, and the plugin's
	// own log line (sdk/goplugin.Logger on its stderr) reaches the host's
	// log under the plugin's name at its level.
	if len(logs.lines("plugin started", "plugin=test-healthy", `assignor \"delegating\"`)) != 1 {
		t.Errorf("no start line naming the plugin and its points:\n%s", logs)
	}
	waitFor(t, "the plugin's own log line", func() bool {
		return len(logs.lines("level=INFO", "healthy test plugin starting", "plugin=test-healthy")) == 1
	})
	// What it prints to stdout once serving is forwarded too.
	waitFor(t, "the plugin's stdout", func() bool {
		return len(logs.lines("plugin stdout", `line="configuring with {}"`, "plugin=test-healthy")) == 1
	})
}

func TestPartitionerMatchesInProcess(t *testing.T) {
	t.Parallel()
	c, _ := openPlugin(t, "healthy", func(o *Options) { o.Config = map[string]any{"shift": 3} })
	remote, _ := c.Partitioner()
	local := testplugin.New(false)
	if err := local.Configure(context.Background(), []byte(`{"shift":3}`)); err != nil {
		t.Fatal(err)
	}
	rng := rand.New(rand.NewPCG(1, 2))
	ctx := context.Background()
	for round := range 200 {
		in := sdk.PartitionInput{Topic: "orders", NumPartitions: 1 + rng.Int32N(64), Keys: make([][]byte, rng.IntN(300))}
		for i := range in.Keys {
			switch rng.IntN(10) {
			case 0: // nil: no key
			case 1:
				in.Keys[i] = []byte{}
			default:
				in.Keys[i] = make([]byte, 1+rng.IntN(40))
				for j := range in.Keys[i] {
					in.Keys[i][j] = byte('a' + rng.IntN(26))
				}
			}
		}
		want := make([]int32, len(in.Keys))
		got := make([]int32, len(in.Keys))
		if err := local.Partitioner().Partition(ctx, in, want); err != nil {
			t.Fatal(err)
		}
		if err := remote.Partition(ctx, in, got); err != nil {
			t.Fatalf("round %d: %v", round, err)
		}
		if !slices.Equal(got, want) {
			t.Fatalf("round %d (%d keys, %d partitions): plugin answered %v, in-process %v", round, len(in.Keys), in.NumPartitions, got, want)
		}
	}
	// nil and empty keys are different keys.
	in := sdk.PartitionInput{Topic: "t", NumPartitions: 1000, Keys: [][]byte{nil, {}}}
	got := make([]int32, 2)
	if err := remote.Partition(ctx, in, got); err != nil {
		t.Fatal(err)
	}
	if want := (partitioners.Murmur2Partition([]byte{}, 1000) + 3) % 1000; got[0] != 2 || got[1] != want {
		t.Fatalf("nil and empty keys went to %v, want [2 %d]", got, want)
	}
}

func TestPluginErrorsAreCallErrors(t *testing.T) {
	t.Parallel()
	c, logs := openPlugin(t, "healthy", nil)
	p, _ := c.Partitioner()
	ctx := context.Background()
	call := func(key []byte) error {
		return p.Partition(ctx, sdk.PartitionInput{Topic: "t", NumPartitions: 4, Keys: [][]byte{[]byte("a"), key}}, make([]int32, 2))
	}
	if err := call(testplugin.KeyDecline); !errors.Is(err, sdk.ErrDecline) {
		t.Errorf("declining plugin: %v, want sdk.ErrDecline", err)
	}
	var remote *wire.RemoteError
	err := call(testplugin.KeyFail)
	if !errors.As(err, &remote) || !strings.Contains(err.Error(), "refusing key 1") || !strings.Contains(err.Error(), `"test-healthy"`) {
		t.Errorf("failing plugin: %v, want its error naming the plugin", err)
	}
	err = call(testplugin.KeyPanic)
	if !errors.As(err, &remote) || !strings.Contains(err.Error(), "panicked: asked to panic") {
		t.Errorf("panicking plugin: %v, want a panicked error", err)
	}
	if len(logs.lines("plugin panicked", "plugin=test-healthy", "level=ERROR")) == 0 {
		waitFor(t, "the panic's log line", func() bool { return len(logs.lines("plugin panicked", "plugin=test-healthy")) > 0 })
	}
	// None of that is a process failure: the same process answers.
	pid := c.pidForTesting()
	if err := call([]byte("b")); err != nil || c.pidForTesting() != pid || c.Restarts() != 0 {
		t.Fatalf("after plugin errors: %v, pid %d→%d, restarts %d", err, pid, c.pidForTesting(), c.Restarts())
	}
	if err := p.Partition(ctx, sdk.PartitionInput{NumPartitions: 1, Keys: make([][]byte, 2)}, make([]int32, 1)); err == nil {
		t.Error("mismatched out length accepted")
	}
}

func TestFilterMatchesInProcess(t *testing.T) {
	t.Parallel()
	c, _ := openPlugin(t, "healthy", nil)
	remote, _ := c.CompactionFilter()
	local := testplugin.New(false).Filter()
	rng := rand.New(rand.NewPCG(3, 4))
	values := []string{"keep", "drop", "upper:shout", "", "\x00binary\xff"}
	for round := range 50 {
		in := sdk.FilterInput{Topic: "state", Partition: rng.Int32N(8), NowMs: 10_000, Records: make([]sdk.Record, rng.IntN(500))}
		for i := range in.Records {
			r := &in.Records[i]
			r.Offset = int64(i * 3)
			r.TimestampMs = 9_000 + rng.Int64N(1000)
			r.Key = []byte(fmt.Sprintf("k%d", rng.IntN(100)))
			if v := rng.IntN(len(values) + 1); v < len(values) {
				r.Value = []byte(values[v])
			} // else a tombstone
			for range rng.IntN(3) {
				h := sdk.Header{Key: "h"}
				switch rng.IntN(3) {
				case 0:
					h = sdk.Header{Key: "ttl", Value: []byte(fmt.Sprint(rng.IntN(2000)))}
				case 1:
					h.Value = []byte("v")
				}
				r.Headers = append(r.Headers, h)
			}
		}
		want := make([]sdk.FilterDecision, len(in.Records))
		got := make([]sdk.FilterDecision, len(in.Records))
		if err := local.Filter(context.Background(), in, want); err != nil {
			t.Fatal(err)
		}
		if err := remote.Filter(context.Background(), in, got); err != nil {
			t.Fatalf("round %d: %v", round, err)
		}
		if !reflect.DeepEqual(got, want) {
			for i := range got {
				if !reflect.DeepEqual(got[i], want[i]) {
					t.Fatalf("round %d record %d (%+v): plugin %+v, in-process %+v", round, i, in.Records[i], got[i], want[i])
				}
			}
		}
	}
}

func TestAssignorsMatchInProcess(t *testing.T) {
	t.Parallel()
	for _, builtin := range assignors.All() {
		t.Run(builtin.Name(), func(t *testing.T) {
			t.Parallel()
			c, _ := openPlugin(t, "healthy", func(o *Options) { o.Config = map[string]any{"assignor": builtin.Name()} })
			remote, _ := c.Assignor()
			rng := rand.New(rand.NewPCG(5, uint64(len(builtin.Name()))))
			for round := range 30 {
				in := randomGroup(rng)
				want, err := builtin.Assign(context.Background(), in)
				if err != nil {
					t.Fatal(err)
				}
				got, err := remote.Assign(context.Background(), in)
				if err != nil {
					t.Fatalf("round %d: %v", round, err)
				}
				if err := got.Check(in); err != nil {
					t.Fatalf("round %d: %v", round, err)
				}
				if !sameAssignment(got, want) {
					t.Fatalf("round %d: plugin %v\nin-process %v", round, got, want)
				}
				// The caller may append to the lists it gets: no list
				// shares its spare capacity with another.
				before := map[string]map[string][]int32{}
				for m, tps := range got {
					before[m] = map[string][]int32{}
					for topic, ps := range tps {
						before[m][topic] = slices.Clone(ps)
					}
				}
				for _, tps := range got {
					for topic, ps := range tps {
						tps[topic] = append(ps, -1)
					}
				}
				for m, tps := range got {
					for topic, ps := range tps {
						if !slices.Equal(ps[:len(ps)-1], before[m][topic]) {
							t.Fatalf("round %d: appending to a list changed %s's %s: %v, was %v", round, m, topic, ps, before[m][topic])
						}
					}
				}
			}
		})
	}
	// Invalid input is the caller's error, as the contract says.
	c, _ := openPlugin(t, "healthy", nil)
	a, _ := c.Assignor()
	_, err := a.Assign(context.Background(), sdk.AssignInput{Members: []sdk.GroupMember{{MemberID: "x"}, {MemberID: "x"}}})
	if !errors.Is(err, sdk.ErrInvalidAssignInput) {
		t.Fatalf("duplicate member ids: %v", err)
	}
}

// sameAssignment compares assignments, treating a nil partition list as
// an empty one (the wire does not tell them apart; Check does not care).
func sameAssignment(a, b sdk.Assignment) bool {
	if len(a) != len(b) {
		return false
	}
	for m, tpsA := range a {
		tpsB, ok := b[m]
		if !ok {
			return false
		}
		topics := map[string]bool{}
		for t := range tpsA {
			topics[t] = true
		}
		for t := range tpsB {
			topics[t] = true
		}
		for t := range topics {
			if !slices.Equal(tpsA[t], tpsB[t]) {
				return false
			}
		}
	}
	return true
}

// randomGroup makes a valid group: random subscriptions, some static
// members and racks, and owned partitions from an earlier assignment
// (with a few stale or conflicting claims).
func randomGroup(rng *rand.Rand) sdk.AssignInput {
	in := sdk.AssignInput{Topics: map[string]sdk.TopicMetadata{}}
	nTopics := 1 + rng.IntN(5)
	var names []string
	for i := range nTopics {
		name := fmt.Sprintf("topic-%d", i)
		names = append(names, name)
		meta := sdk.TopicMetadata{Partitions: rng.Int32N(20)}
		if rng.IntN(3) == 0 {
			meta.PartitionRacks = make([][]string, meta.Partitions)
			for p := range meta.PartitionRacks {
				meta.PartitionRacks[p] = []string{fmt.Sprintf("rack-%d", p%3)}
			}
		}
		in.Topics[name] = meta
	}
	nMembers := rng.IntN(30)
	for i := range nMembers {
		m := sdk.GroupMember{MemberID: fmt.Sprintf("member-%d-%d", i, rng.IntN(1000))}
		if rng.IntN(4) == 0 {
			m.InstanceID = fmt.Sprintf("instance-%d", i)
		}
		if rng.IntN(2) == 0 {
			m.Rack = fmt.Sprintf("rack-%d", rng.IntN(3))
		}
		for _, t := range names {
			if rng.IntN(3) != 0 {
				m.Topics = append(m.Topics, t)
			}
		}
		if rng.IntN(5) == 0 {
			m.Topics = append(m.Topics, "not-created-yet")
		}
		if rng.IntN(2) == 0 && len(m.Topics) > 0 {
			m.Owned = sdk.TopicPartitions{}
			t := m.Topics[rng.IntN(len(m.Topics))]
			for p := range in.Topics[t].Partitions {
				if rng.IntN(nMembers+1) == 0 {
					m.Owned[t] = append(m.Owned[t], p)
				}
			}
			m.Generation = rng.Int32N(5)
		}
		in.Members = append(in.Members, m)
	}
	return in
}
