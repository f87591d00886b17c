package assignors

import (
	"context"
	"fmt"
	"maps"
	"math/rand/v2"
	"reflect"
	"slices"
	"testing"

	"github.com/weirmq/weir/sdk"
)

// tp is a topic-partition, for tests that look at partitions one by one.
type tp struct {
	topic string
	p     int32
}

// owners maps every assigned partition to its member.
func owners(a sdk.Assignment) map[tp]string {
	out := make(map[tp]string)
	for m, topics := range a {
		for t, parts := range topics {
			for _, p := range parts {
				out[tp{t, p}] = m
			}
		}
	}
	return out
}

// total is the number of partitions assigned to one member.
func total(topics sdk.TopicPartitions) int {
	n := 0
	for _, parts := range topics {
		n += len(parts)
	}
	return n
}

// spread returns the smallest and largest of the members' partition counts.
func spread(a sdk.Assignment) (lo, hi int) {
	first := true
	for _, topics := range a {
		n := total(topics)
		if first || n < lo {
			lo = n
		}
		if first || n > hi {
			hi = n
		}
		first = false
	}
	return lo, hi
}

// subscribedPartitions lists every partition of a topic in in.Topics that at
// least one member subscribes to.
func subscribedPartitions(in sdk.AssignInput) map[tp]bool {
	out := make(map[tp]bool)
	for _, m := range in.Members {
		for _, t := range m.Topics {
			for p := range in.Topics[t].Partitions {
				out[tp{t, p}] = true
			}
		}
	}
	return out
}

// subscriptions maps member ID to the set of topics it subscribes to.
func subscriptions(in sdk.AssignInput) map[string]map[string]bool {
	out := make(map[string]map[string]bool)
	for _, m := range in.Members {
		s := make(map[string]bool)
		for _, t := range m.Topics {
			s[t] = true
		}
		out[m.MemberID] = s
	}
	return out
}

// standingClaims is what each member owns that it could keep: partitions
// that exist, of topics it subscribes to, claimed by nobody else. Tests
// that count moves give members only such claims.
func standingClaims(in sdk.AssignInput) map[tp]string {
	subs := subscriptions(in)
	claimed := make(map[tp][]string)
	for _, m := range in.Members {
		for t, parts := range m.Owned {
			if !subs[m.MemberID][t] {
				continue
			}
			for _, p := range parts {
				if p >= 0 && p < in.Topics[t].Partitions {
					claimed[tp{t, p}] = append(claimed[tp{t, p}], m.MemberID)
				}
			}
		}
	}
	out := make(map[tp]string)
	for k, ms := range claimed {
		if len(ms) == 1 {
			out[k] = ms[0]
		}
	}
	return out
}

// moved counts standing claims that a leaves with someone else or nobody.
func moved(in sdk.AssignInput, a sdk.Assignment) int {
	now := owners(a)
	n := 0
	for k, m := range standingClaims(in) {
		if now[k] != m {
			n++
		}
	}
	return n
}

// leastMoves is the fewest standing claims a balanced assignment must move
// when every member subscribes to the same topics: with P partitions and N
// members, P%N members may hold P/N+1 and the rest P/N, and each member
// loses whatever it claims beyond its share; the bigger shares go to the
// members claiming the most.
func leastMoves(in sdk.AssignInput) int {
	n := len(in.Members)
	if n == 0 {
		return 0
	}
	parts := len(subscribedPartitions(in))
	base, extra := parts/n, parts%n
	perMember := make(map[string]int)
	for _, m := range standingClaims(in) {
		perMember[m]++
	}
	claims := make([]int, 0, n)
	for _, m := range in.Members {
		claims = append(claims, perMember[m.MemberID])
	}
	slices.Sort(claims)
	slices.Reverse(claims)
	least := 0
	for i, c := range claims {
		share := base
		if i < extra {
			share++
		}
		least += max(0, c-share)
	}
	return least
}

// withOwned returns in with each member's Owned set to what a gives it, as
// the next rebalance would see it. Members a does not know own nothing.
func withOwned(in sdk.AssignInput, a sdk.Assignment) sdk.AssignInput {
	out := sdk.AssignInput{Topics: in.Topics, Members: slices.Clone(in.Members)}
	for i := range out.Members {
		out.Members[i].Owned = cloneTopics(a[out.Members[i].MemberID])
		out.Members[i].UserData = nil
	}
	return out
}

func cloneTopics(t sdk.TopicPartitions) sdk.TopicPartitions {
	if t == nil {
		return nil
	}
	out := make(sdk.TopicPartitions, len(t))
	for k, v := range t {
		out[k] = slices.Clone(v)
	}
	return out
}

// deepCopy copies in, slices and maps included, so that a test can see
// whether Assign modified it.
func deepCopy(in sdk.AssignInput) sdk.AssignInput {
	out := sdk.AssignInput{Topics: make(map[string]sdk.TopicMetadata, len(in.Topics))}
	for k, v := range in.Topics {
		racks := make([][]string, len(v.PartitionRacks))
		for i, r := range v.PartitionRacks {
			racks[i] = slices.Clone(r)
		}
		if v.PartitionRacks == nil {
			racks = nil
		}
		out.Topics[k] = sdk.TopicMetadata{Partitions: v.Partitions, PartitionRacks: racks}
	}
	for _, m := range in.Members {
		m.Topics = slices.Clone(m.Topics)
		m.UserData = slices.Clone(m.UserData)
		m.Owned = cloneTopics(m.Owned)
		out.Members = append(out.Members, m)
	}
	return out
}

// shuffled returns in with its members, and each member's topics, in a
// random order.
func shuffled(rng *rand.Rand, in sdk.AssignInput) sdk.AssignInput {
	out := deepCopy(in)
	rng.Shuffle(len(out.Members), func(i, j int) { out.Members[i], out.Members[j] = out.Members[j], out.Members[i] })
	for i := range out.Members {
		ts := out.Members[i].Topics
		rng.Shuffle(len(ts), func(i, j int) { ts[i], ts[j] = ts[j], ts[i] })
	}
	return out
}

// shape describes a random group.
type shape struct {
	members, topics, maxPartitions int
	// hetero: each member subscribes to a random subset of the topics,
	// else all of them.
	hetero bool
}

// randomGroup builds a group of the given shape. Some members are static,
// some subscribe to a topic that does not exist, and some topics have no
// partitions.
func randomGroup(rng *rand.Rand, s shape) sdk.AssignInput {
	in := sdk.AssignInput{Topics: make(map[string]sdk.TopicMetadata)}
	var names []string
	for i := range s.topics {
		name := fmt.Sprintf("t%02d", i)
		names = append(names, name)
		in.Topics[name] = sdk.TopicMetadata{Partitions: rng.Int32N(int32(s.maxPartitions) + 1)}
	}
	in.Topics["unsubscribed"] = sdk.TopicMetadata{Partitions: 3}
	for i := range s.members {
		m := sdk.GroupMember{MemberID: fmt.Sprintf("m%03d-%08x", i, rng.Uint32())}
		if rng.IntN(4) == 0 {
			m.InstanceID = fmt.Sprintf("static-%03d", rng.IntN(1000)*1000+i)
		}
		if s.hetero {
			for _, t := range names {
				if rng.IntN(2) == 0 {
					m.Topics = append(m.Topics, t)
				}
			}
		} else {
			m.Topics = slices.Clone(names)
		}
		if rng.IntN(5) == 0 {
			m.Topics = append(m.Topics, "does-not-exist")
		}
		in.Members = append(in.Members, m)
	}
	return in
}

// randomClaims gives each member random standing claims: each partition
// goes, with probability fill, to a random subscriber of its topic.
func randomClaims(rng *rand.Rand, in sdk.AssignInput, fill float64) sdk.AssignInput {
	out := deepCopy(in)
	subs := subscriptions(in)
	for _, t := range slices.Sorted(maps.Keys(in.Topics)) {
		var subscribers []int
		for i, m := range out.Members {
			if subs[m.MemberID][t] {
				subscribers = append(subscribers, i)
			}
		}
		if len(subscribers) == 0 {
			continue
		}
		for p := range in.Topics[t].Partitions {
			if rng.Float64() >= fill {
				continue
			}
			m := &out.Members[subscribers[rng.IntN(len(subscribers))]]
			if m.Owned == nil {
				m.Owned = make(sdk.TopicPartitions)
			}
			m.Owned[t] = append(m.Owned[t], p)
		}
	}
	return out
}

// without returns in less the member at index i.
func without(in sdk.AssignInput, i int) sdk.AssignInput {
	out := deepCopy(in)
	out.Members = slices.Delete(out.Members, i, i+1)
	return out
}

// assign runs a and checks what every assignor promises: the result obeys
// sdk.Assignment.Check, in is not modified, and a shuffled copy of in gives
// the same result.
func assign(t *testing.T, rng *rand.Rand, a sdk.Assignor, in sdk.AssignInput) sdk.Assignment {
	t.Helper()
	before := deepCopy(in)
	out, err := a.Assign(context.Background(), in)
	if err != nil {
		t.Fatalf("%s: %v", a.Name(), err)
	}
	if err := out.Check(in); err != nil {
		t.Fatalf("%s: %v", a.Name(), err)
	}
	if len(out) != len(in.Members) {
		t.Fatalf("%s: %d entries for %d members", a.Name(), len(out), len(in.Members))
	}
	for m, topics := range out {
		if topics == nil {
			t.Fatalf("%s: member %q has a nil entry", a.Name(), m)
		}
	}
	if !reflect.DeepEqual(in, before) {
		t.Fatalf("%s: Assign modified its input", a.Name())
	}
	again, err := a.Assign(context.Background(), shuffled(rng, in))
	if err != nil {
		t.Fatalf("%s (shuffled): %v", a.Name(), err)
	}
	if !reflect.DeepEqual(out, again) {
		t.Fatalf("%s: not deterministic: the same group in another order gave another assignment", a.Name())
	}
	return out
}

// checkLocalBalance checks Kafka's balance rule for differing subscriptions:
// no member holds a partition of a topic that a member with at least two
// fewer partitions subscribes to.
func checkLocalBalance(t *testing.T, name string, in sdk.AssignInput, a sdk.Assignment) {
	t.Helper()
	subs := subscriptions(in)
	for holder, topics := range a {
		for topic, parts := range topics {
			if len(parts) == 0 {
				continue
			}
			for other, otherTopics := range a {
				if subs[other][topic] && total(otherTopics)+2 <= total(topics) {
					t.Fatalf("%s: unbalanced: %q holds %d partitions including %s-%d, while %q, subscribed to %q, holds %d",
						name, holder, total(topics), topic, parts[0], other, topic, total(otherTopics))
				}
			}
		}
	}
}

// checkComplete checks that every subscribed partition is assigned.
func checkComplete(t *testing.T, name string, in sdk.AssignInput, a sdk.Assignment) {
	t.Helper()
	got := owners(a)
	for k := range subscribedPartitions(in) {
		if _, ok := got[k]; !ok {
			t.Fatalf("%s: %s-%d is not assigned", name, k.topic, k.p)
		}
	}
}
