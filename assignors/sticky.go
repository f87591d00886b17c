package assignors

import (
	"context"
	"fmt"

	"github.com/weirmq/weir/sdk"
)

// Sticky is Kafka's sticky assignor (KIP-54): a balanced assignment that
// keeps as much of the current one as it can. When every member
// subscribes to the same topics, partition counts differ by at most one and
// the fewest possible partitions change hands; otherwise no member holds a
// partition that a member with two or more fewer partitions could take.
//
// What a member owns comes from its Owned; for an eager client, whose
// subscription owns nothing because it revoked everything before joining,
// Sticky reads the owned partitions and generation the Java StickyAssignor
// writes into the subscription's user data. A member keeps a partition
// only if it still subscribes to its topic and no member claims it from a
// newer generation; two claims from the same generation cancel out, and the
// partition is assigned afresh.
//
// Sticky hands a moved partition straight to its new owner, which is right
// for eager groups (everyone revokes before the assignment) and for KIP-848
// (the coordinator revokes before it reassigns). Cooperative classic groups
// need CooperativeSticky. Sticky ignores racks.
//
// Sticky is safe for concurrent use.
type Sticky struct{}

var _ sdk.Assignor = (*Sticky)(nil)

// NewSticky returns the sticky assignor.
func NewSticky() *Sticky { return &Sticky{} }

// Name returns "sticky".
func (*Sticky) Name() string { return "sticky" }

// Assign returns the sticky assignment for in. On error it returns nil and
// an error wrapping sdk.ErrInvalidAssignInput or ctx.Err().
func (s *Sticky) Assign(ctx context.Context, in sdk.AssignInput) (sdk.Assignment, error) {
	return assignSticky(ctx, s.Name(), in, true, false)
}

// CooperativeSticky is Kafka's cooperative-sticky assignor (KIP-429): the
// Sticky assignment, but a partition that would pass from one member to
// another while its current owner still claims it is assigned to nobody
// in this rebalance. Its owner, seeing it missing from its assignment,
// revokes it and rejoins; the next rebalance, in which nobody claims it,
// gives it to its new owner. Partitions that stay put are never revoked,
// so members keep consuming them throughout.
//
// A partition's claimants are every member listing it in Owned (or, as
// for Sticky, in the sticky user data), whether or not the claim stands,
// so that a partition is never given to a member while another may still
// consume it. When every member subscribes to the same topics and nothing
// changes in between, the second rebalance only hands out what the first
// held back: the group settles in two rounds. With differing subscriptions
// handing those out can call for another move now and then, and a third
// round.
//
// CooperativeSticky is safe for concurrent use.
type CooperativeSticky struct{}

var _ sdk.Assignor = (*CooperativeSticky)(nil)

// NewCooperativeSticky returns the cooperative-sticky assignor.
func NewCooperativeSticky() *CooperativeSticky { return &CooperativeSticky{} }

// Name returns "cooperative-sticky".
func (*CooperativeSticky) Name() string { return "cooperative-sticky" }

// Assign returns the sticky assignment for in less the partitions that
// must first be revoked. On error it returns nil and an error wrapping
// sdk.ErrInvalidAssignInput or ctx.Err().
func (c *CooperativeSticky) Assign(ctx context.Context, in sdk.AssignInput) (sdk.Assignment, error) {
	return assignSticky(ctx, c.Name(), in, true, true)
}

// Uniform is KIP-848's default server-side assignor, "uniform": balanced
// and sticky, for groups whose members subscribe to the same topics and
// for groups whose members do not. It is Sticky's engine reading only
// Owned — for a KIP-848 group the coordinator's current assignment, which
// never has a partition twice — since KIP-848 members send neither user
// data nor generations. Partitions change hands directly; the KIP-848
// coordinator revokes them from their old owners before it gives them to
// the new ones. Uniform ignores racks.
//
// Uniform is safe for concurrent use.
type Uniform struct{}

var _ sdk.Assignor = (*Uniform)(nil)

// NewUniform returns the uniform assignor.
func NewUniform() *Uniform { return &Uniform{} }

// Name returns "uniform".
func (*Uniform) Name() string { return "uniform" }

// Assign returns the uniform assignment for in. On error it returns nil and
// an error wrapping sdk.ErrInvalidAssignInput or ctx.Err().
func (u *Uniform) Assign(ctx context.Context, in sdk.AssignInput) (sdk.Assignment, error) {
	return assignSticky(ctx, u.Name(), in, false, false)
}

func assignSticky(ctx context.Context, name string, in sdk.AssignInput, readUserData, cooperative bool) (sdk.Assignment, error) {
	g, err := newGroup(ctx, name, in)
	if err != nil {
		return nil, err
	}
	c := settleClaims(g, readUserData, cooperative)
	if err := stick(ctx, g, c.owner); err != nil {
		return nil, fmt.Errorf("assignors: %s: %w", name, err)
	}
	if cooperative {
		holdBack(c.owner, c.claimants)
	}
	return g.assignment(c.owner), nil
}
