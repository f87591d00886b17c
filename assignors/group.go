package assignors

import (
	"cmp"
	"context"
	"fmt"
	"slices"

	"github.com/weirmq/weir/sdk"
)

// group is an sdk.AssignInput indexed for the assignors: members and topics
// become small integers, and every partition of a subscribed topic gets a
// partition id (pid), topic-major — the pids of topic t are
// first[t] to first[t+1]-1, in partition order.
type group struct {
	// members in Kafka's order (see memberOrder); a member index is a
	// position here.
	members []*sdk.GroupMember
	// topics are the names of the topics that have partitions and at least
	// one subscriber, sorted; a topic index is a position here.
	topics     []string
	topicIndex map[string]int32
	// first[t] is the first pid of topic t; first[len(topics)] is the number
	// of pids.
	first []int
	// subs[m] lists the topics member m subscribes to, ascending, without
	// duplicates or unknown topics.
	subs [][]int32
	// subscribers[t] lists the members subscribed to topic t, ascending.
	subscribers [][]int32
}

// noMember marks a pid that belongs to nobody in an owner slice.
const noMember = -1

// newGroup validates in and indexes it. The error wraps
// sdk.ErrInvalidAssignInput or ctx.Err().
func newGroup(ctx context.Context, name string, in sdk.AssignInput) (*group, error) {
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("assignors: %s: %w", name, err)
	}
	if err := in.Validate(); err != nil {
		return nil, fmt.Errorf("assignors: %s: %w", name, err)
	}
	g := &group{members: make([]*sdk.GroupMember, len(in.Members))}
	for i := range in.Members {
		g.members[i] = &in.Members[i]
	}
	slices.SortFunc(g.members, memberOrder)

	// The subscribed topics that exist and have partitions. Members of a
	// group mostly subscribe alike, so a member whose topics are the same as
	// the previous one's, in the same order, is not looked at again.
	g.topicIndex = make(map[string]int32)
	for i, m := range g.members {
		if i > 0 && slices.Equal(m.Topics, g.members[i-1].Topics) {
			continue
		}
		for _, t := range m.Topics {
			if _, seen := g.topicIndex[t]; seen {
				continue
			}
			if in.Topics[t].Partitions > 0 {
				g.topicIndex[t] = 0
			}
		}
	}
	g.topics = make([]string, 0, len(g.topicIndex))
	for t := range g.topicIndex {
		g.topics = append(g.topics, t)
	}
	slices.Sort(g.topics)
	g.first = make([]int, len(g.topics)+1)
	for i, t := range g.topics {
		g.topicIndex[t] = int32(i)
		g.first[i+1] = g.first[i] + int(in.Topics[t].Partitions)
	}

	// Members that subscribe alike share one subs slice; nothing writes to
	// it after this.
	g.subs = make([][]int32, len(g.members))
	nsubscribers := make([]int, len(g.topics))
	for mi, m := range g.members {
		if mi > 0 && slices.Equal(m.Topics, g.members[mi-1].Topics) {
			g.subs[mi] = g.subs[mi-1]
		} else {
			subs := make([]int32, 0, len(m.Topics))
			for _, t := range m.Topics {
				if ti, ok := g.topicIndex[t]; ok {
					subs = append(subs, ti)
				}
			}
			slices.Sort(subs)
			g.subs[mi] = slices.Clip(slices.Compact(subs))
		}
		for _, ti := range g.subs[mi] {
			nsubscribers[ti]++
		}
	}
	g.subscribers = make([][]int32, len(g.topics))
	for ti, n := range nsubscribers {
		g.subscribers[ti] = make([]int32, 0, n)
	}
	for mi, subs := range g.subs {
		for _, ti := range subs {
			g.subscribers[ti] = append(g.subscribers[ti], int32(mi))
		}
	}
	return g, nil
}

// memberOrder is the order Kafka's assignors put members in: static members
// first, by instance ID, then dynamic members by member ID. A static member
// that restarts gets a new member ID but keeps its place.
func memberOrder(a, b *sdk.GroupMember) int {
	switch {
	case a.InstanceID != "" && b.InstanceID != "":
		return cmp.Compare(a.InstanceID, b.InstanceID)
	case a.InstanceID != "":
		return -1
	case b.InstanceID != "":
		return 1
	}
	return cmp.Compare(a.MemberID, b.MemberID)
}

// pids is the number of partitions of subscribed topics.
func (g *group) pids() int { return g.first[len(g.topics)] }

// newOwner returns an owner slice for every pid, all noMember.
func (g *group) newOwner() []int32 {
	owner := make([]int32, g.pids())
	for i := range owner {
		owner[i] = noMember
	}
	return owner
}

// subscribed reports whether member m subscribes to topic t.
func (g *group) subscribed(m int, t int32) bool {
	_, ok := slices.BinarySearch(g.subs[m], t)
	return ok
}

// homogeneous reports whether every member subscribes to the same topics.
func (g *group) homogeneous() bool {
	for _, s := range g.subs[1:] {
		if !slices.Equal(s, g.subs[0]) {
			return false
		}
	}
	return true
}

// assignment turns owner (member index or noMember per pid) into the
// sdk.Assignment the contract promises: an entry for every member, partitions
// sorted. All partition lists share one backing array, each capped at its
// own length so that appending to one cannot overwrite another.
func (g *group) assignment(owner []int32) sdk.Assignment {
	n := len(g.members)
	// start[m] is where member m's partitions begin in flat (a counting
	// sort by member, stable in pid order).
	start := make([]int, n+1)
	for _, m := range owner {
		if m != noMember {
			start[m+1]++
		}
	}
	for i := 1; i <= n; i++ {
		start[i] += start[i-1]
	}
	flat := make([]int32, start[n])
	flatTopic := make([]int32, start[n])
	next := slices.Clone(start[:n])
	for t := range g.topics {
		for pid := g.first[t]; pid < g.first[t+1]; pid++ {
			if m := owner[pid]; m != noMember {
				flat[next[m]] = int32(pid - g.first[t])
				flatTopic[next[m]] = int32(t)
				next[m]++
			}
		}
	}
	out := make(sdk.Assignment, n)
	for mi, m := range g.members {
		lo, hi := start[mi], start[mi+1]
		ntopics := 0
		for i := lo; i < hi; i++ {
			if i == lo || flatTopic[i] != flatTopic[i-1] {
				ntopics++
			}
		}
		tp := make(sdk.TopicPartitions, ntopics)
		for i := lo; i < hi; {
			j := i + 1
			for j < hi && flatTopic[j] == flatTopic[i] {
				j++
			}
			tp[g.topics[flatTopic[i]]] = flat[i:j:j]
			i = j
		}
		out[m.MemberID] = tp
	}
	return out
}
