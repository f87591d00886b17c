package server

import (
	"context"
	"slices"
	"sort"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/weirmq/weir/core/config"
)

// Server-side assignment of classic groups with franz-go: the group's
// weir.assignor (set on the GROUP config resource) decides who consumes
// what, whatever balancer the clients' leader runs.

// setGroupAssignor sets a group's weir.assignor through
// IncrementalAlterConfigs.
func setGroupAssignor(ctx context.Context, t *testing.T, e *compatEnv, group, assignor string) {
	t.Helper()
	r := alterGroupConfigs(ctx, t, e.client(t), group, false, setOp(config.ConfigWeirAssignor, assignor))
	if r.ErrorCode != 0 {
		t.Fatalf("setting weir.assignor of %s: %v %v", group, kerr.ErrorForCode(r.ErrorCode), r.ErrorMessage)
	}
}

// memberAssignments returns each member's partitions of topic, sorted.
func memberAssignments(t *testing.T, d kadm.DescribedGroup, topic string) map[string][]int32 {
	t.Helper()
	out := map[string][]int32{}
	for _, m := range d.Members {
		c, ok := m.Assigned.AsConsumer()
		if !ok {
			t.Fatalf("member %s has no consumer assignment", m.MemberID)
		}
		out[m.MemberID] = []int32{}
		for _, tp := range c.Topics {
			if tp.Topic == topic {
				out[m.MemberID] = append(out[m.MemberID], tp.Partitions...)
			}
		}
		slices.Sort(out[m.MemberID])
	}
	return out
}

// rangeLayout is range's assignment of n partitions to the members, which
// it orders by member id (none is static): contiguous runs, the first n%k
// members one longer.
func rangeLayout(ids []string, n int32) map[string][]int32 {
	ids = slices.Sorted(slices.Values(ids))
	k := int32(len(ids))
	out := map[string][]int32{}
	next := int32(0)
	for i, id := range ids {
		count := n / k
		if int32(i) < n%k {
			count++
		}
		out[id] = []int32{}
		for range count {
			out[id] = append(out[id], next)
			next++
		}
	}
	return out
}

// TestGroupServerSideRange: franz-go members balancing round-robin in a
// group whose weir.assignor is range get range's layouts as members join
// and leave, and every record is consumed once.
func TestGroupServerSideRange(t *testing.T) {
	e := newCompatEnv(t, groupTOML)
	e.needLocal(t, "weir.assignor is Weir's own group config")
	ctx := compatCtx(t, 2*time.Minute)
	const partitions = 6
	topic := e.newTopic(ctx, t, partitions, nil).name
	group := compatTopicName(t)
	setGroupAssignor(ctx, t, e, group, "range")
	log := newConsumedLog()
	join := func() *groupMember {
		return startMember(t, e, topic, group, log, kgo.Balancers(kgo.RoundRobinBalancer()))
	}
	// step waits for the group to be stable with n members, checks that
	// they have range's layout, and waits for more records.
	step := func(n int) {
		t.Helper()
		d := waitStable(ctx, t, e, group, n)
		got := memberAssignments(t, d, topic)
		ids := make([]string, 0, len(got))
		for id := range got {
			ids = append(ids, id)
		}
		want := rangeLayout(ids, partitions)
		for id, ps := range want {
			if !slices.Equal(got[id], ps) {
				t.Fatalf("%d members: %s has %v, want %v (range); all: %v", n, id, got[id], ps, got)
			}
		}
		if d.Protocol != "roundrobin" {
			t.Fatalf("protocol %q, want the clients' roundrobin", d.Protocol)
		}
		log.waitFor(ctx, t, log.count()+200)
	}
	prod := startProducer(t, e, topic, partitions)
	m1 := join()
	step(1)
	m2, m3 := join(), join()
	step(3)
	m1.stop()
	step(2)
	m4 := join()
	step(3)
	prod.finish()
	ends, total := endOffsets(ctx, t, e, topic)
	log.waitFor(ctx, t, total)
	for _, m := range []*groupMember{m2, m3, m4} {
		m.stop()
	}
	log.check(t, ends)
}

// TestGroupServerSideCooperative: cooperative-sticky franz-go members in a
// group whose weir.assignor is uniform converge — every partition
// assigned, each once — within a few rebalances of a change, revoking
// before a partition moves, and every record is consumed once.
func TestGroupServerSideCooperative(t *testing.T) {
	e := newCompatEnv(t, groupTOML)
	e.needLocal(t, "weir.assignor is Weir's own group config")
	ctx := compatCtx(t, 2*time.Minute)
	const partitions = 8
	topic := e.newTopic(ctx, t, partitions, nil).name
	group := compatTopicName(t)
	setGroupAssignor(ctx, t, e, group, "uniform")
	log := newConsumedLog()
	join := func() *groupMember {
		return startMember(t, e, topic, group, log, kgo.Balancers(kgo.CooperativeStickyBalancer()))
	}
	adm := kadm.NewClient(e.client(t))
	// converged waits until the group is stable with the members given,
	// every partition assigned once, balanced; it returns the generation.
	converged := func(members ...*groupMember) int32 {
		t.Helper()
		for {
			d, err := adm.DescribeGroups(ctx, group)
			if err == nil && d[group].State == "Stable" && len(d[group].Members) == len(members) {
				got := memberAssignments(t, d[group], topic)
				var all []int32
				sizes := []int{}
				for _, ps := range got {
					all = append(all, ps...)
					sizes = append(sizes, len(ps))
				}
				sort.Ints(sizes)
				slices.Sort(all)
				if len(all) == partitions && slices.Equal(slices.Compact(slices.Clone(all)), all) && sizes[len(sizes)-1]-sizes[0] <= 1 {
					_, gen := members[0].cl.GroupMetadata()
					return gen
				}
				if len(all) != len(slices.Compact(slices.Clone(all))) {
					t.Fatalf("a partition is assigned twice: %v", got)
				}
			}
			select {
			case <-ctx.Done():
				t.Fatalf("group %s did not converge with %d members: %+v, %v", group, len(members), d[group], err)
			case <-time.After(20 * time.Millisecond):
			}
		}
	}
	prod := startProducer(t, e, topic, partitions)
	m1 := join()
	gen := converged(m1)
	log.waitFor(ctx, t, log.count()+200)
	m2, m3 := join(), join()
	next := converged(m1, m2, m3)
	// Each join is a rebalance, and each move of an owned partition one
	// more once its owner has revoked it.
	if next-gen > 6 {
		t.Errorf("converging after two joins took %d rebalances", next-gen)
	}
	log.waitFor(ctx, t, log.count()+200)
	m1.stop()
	gen = next
	next = converged(m2, m3)
	if next-gen > 3 {
		t.Errorf("converging after a leave took %d rebalances", next-gen)
	}
	log.waitFor(ctx, t, log.count()+200)
	prod.finish()
	ends, total := endOffsets(ctx, t, e, topic)
	log.waitFor(ctx, t, total)
	m2.stop()
	m3.stop()
	log.check(t, ends)
}
