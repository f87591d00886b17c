package assignors

import (
	"context"
	"slices"

	"github.com/weirmq/weir/sdk"
)

// RoundRobin is Kafka's roundrobin assignor. It lists every subscribed
// partition, sorted by topic name and then partition, and deals them out
// one at a time to the members in order (static members by instance ID,
// then dynamic members by member ID), going round the members as many
// times as it takes. A member not subscribed to a partition's topic is
// skipped for that partition, and the dealing carries on from the member
// after the one that took it.
//
// When every member subscribes to the same topics, partition counts differ
// by at most one between members. RoundRobin ignores current assignments
// and racks.
//
// RoundRobin is safe for concurrent use.
type RoundRobin struct{}

var _ sdk.Assignor = (*RoundRobin)(nil)

// NewRoundRobin returns the roundrobin assignor.
func NewRoundRobin() *RoundRobin { return &RoundRobin{} }

// Name returns "roundrobin".
func (*RoundRobin) Name() string { return "roundrobin" }

// Assign returns the round-robin assignment for in. On error it returns nil
// and an error wrapping sdk.ErrInvalidAssignInput or ctx.Err().
func (r *RoundRobin) Assign(ctx context.Context, in sdk.AssignInput) (sdk.Assignment, error) {
	g, err := newGroup(ctx, r.Name(), in)
	if err != nil {
		return nil, err
	}
	owner := g.newOwner()
	next := int32(0) // the member the dealing is at
	for t, subs := range g.subscribers {
		// The first subscriber at or after next, going round.
		i, _ := slices.BinarySearch(subs, next)
		for pid := g.first[t]; pid < g.first[t+1]; pid++ {
			if i == len(subs) {
				i = 0
			}
			owner[pid] = subs[i]
			next = subs[i] + 1
			i++
		}
	}
	return g.assignment(owner), nil
}
