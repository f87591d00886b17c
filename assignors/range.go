package assignors

import (
	"context"

	"github.com/weirmq/weir/sdk"
)

// Range is Kafka's range assignor. For each topic on its own, it orders the
// topic's subscribers (static members by instance ID, then dynamic members
// by member ID) and gives each a contiguous range of partitions: with n
// partitions and k subscribers, the first n%k subscribers get n/k+1
// partitions and the rest n/k. Partition i of every topic with the same
// partition count and the same subscribers therefore goes to the same
// member, which is what joins of co-partitioned topics rely on.
//
// Range balances each topic, not the group: the same members come first for
// every topic, so with more members than partitions per topic the members
// at the end of the order get nothing.
//
// The name "range" serves both of Kafka's range assignors: the classic
// client-side RangeAssignor and KIP-848's server-side "range". They lay
// partitions out the same way, so one implementation serves both. Range
// ignores current assignments (it is not sticky) and racks.
//
// Range is safe for concurrent use.
type Range struct{}

var _ sdk.Assignor = (*Range)(nil)

// NewRange returns the range assignor.
func NewRange() *Range { return &Range{} }

// Name returns "range".
func (*Range) Name() string { return "range" }

// Assign returns the range assignment for in. On error it returns nil and
// an error wrapping sdk.ErrInvalidAssignInput or ctx.Err().
func (r *Range) Assign(ctx context.Context, in sdk.AssignInput) (sdk.Assignment, error) {
	g, err := newGroup(ctx, r.Name(), in)
	if err != nil {
		return nil, err
	}
	owner := g.newOwner()
	for t, subs := range g.subscribers {
		n, k := g.first[t+1]-g.first[t], len(subs)
		per, extra := n/k, n%k
		pid := g.first[t]
		for i, m := range subs {
			count := per
			if i < extra {
				count++
			}
			for range count {
				owner[pid] = m
				pid++
			}
		}
	}
	return g.assignment(owner), nil
}
