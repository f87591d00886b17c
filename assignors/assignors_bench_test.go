package assignors

import (
	"context"
	"fmt"
	"maps"
	"math/rand/v2"
	"slices"
	"testing"

	"github.com/weirmq/weir/sdk"
)

// The target: 1,000 members and 10,000 partitions (100 topics of
// 100), every member subscribed to every topic, in under 50 ms.
const (
	benchMembers    = 1000
	benchTopics     = 100
	benchPartitions = 100
)

// benchGroup builds the benchmark group. With differing set, each member
// subscribes to a random half of the topics (fixed seed) instead of all.
func benchGroup(differing bool) sdk.AssignInput {
	rng := rand.New(rand.NewPCG(1, 2))
	in := sdk.AssignInput{Topics: make(map[string]sdk.TopicMetadata, benchTopics)}
	var names []string
	for i := range benchTopics {
		name := fmt.Sprintf("topic-%03d", i)
		names = append(names, name)
		in.Topics[name] = sdk.TopicMetadata{Partitions: benchPartitions}
	}
	for i := range benchMembers {
		m := sdk.GroupMember{MemberID: fmt.Sprintf("consumer-%04d-%08x", i, rng.Uint32())}
		if differing {
			for _, t := range names {
				if rng.IntN(2) == 0 {
					m.Topics = append(m.Topics, t)
				}
			}
		} else {
			m.Topics = slices.Clone(names)
		}
		in.Members = append(in.Members, m)
	}
	return in
}

func benchAssign(b *testing.B, a sdk.Assignor, in sdk.AssignInput) {
	b.Helper()
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		if _, err := a.Assign(ctx, in); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkAssign: a new group, nobody owning anything yet.
func BenchmarkAssign(b *testing.B) {
	for _, differing := range []bool{false, true} {
		in := benchGroup(differing)
		for _, a := range All() {
			b.Run(fmt.Sprintf("%s/differing=%v", a.Name(), differing), func(b *testing.B) {
				benchAssign(b, a, in)
			})
		}
	}
}

// BenchmarkRebalance: the sticky assignors after one member of a settled
// group leaves, and after one joins.
func BenchmarkRebalance(b *testing.B) {
	for _, differing := range []bool{false, true} {
		in := benchGroup(differing)
		for _, a := range []sdk.Assignor{NewSticky(), NewCooperativeSticky(), NewUniform()} {
			settled, err := a.Assign(context.Background(), in)
			if err != nil {
				b.Fatal(err)
			}
			current := withOwned(in, settled)
			left := without(current, benchMembers/2)
			joined := deepCopy(current)
			joined.Members = append(joined.Members, sdk.GroupMember{MemberID: "newcomer", Topics: in.Members[0].Topics})
			b.Run(fmt.Sprintf("%s/left/differing=%v", a.Name(), differing), func(b *testing.B) {
				benchAssign(b, a, left)
			})
			b.Run(fmt.Sprintf("%s/joined/differing=%v", a.Name(), differing), func(b *testing.B) {
				benchAssign(b, a, joined)
			})
		}
	}
}

// BenchmarkSkewed: the worst start for the sticky assignors' engine with
// differing subscriptions — one member subscribed to every topic claims
// every partition, and balancing moves 99.9% of them, one at a time.
func BenchmarkSkewed(b *testing.B) {
	in := benchGroup(true)
	in.Members[0].Topics = slices.Sorted(maps.Keys(in.Topics))
	in.Members[0].Owned = make(sdk.TopicPartitions, benchTopics)
	for t := range in.Topics {
		for p := range int32(benchPartitions) {
			in.Members[0].Owned[t] = append(in.Members[0].Owned[t], p)
		}
	}
	for _, a := range []sdk.Assignor{NewSticky(), NewUniform()} {
		b.Run(a.Name(), func(b *testing.B) {
			benchAssign(b, a, in)
		})
	}
}
