// Package assignors holds Weir's built-in consumer-group assignors, each an
// sdk.Assignor named as Kafka names it:
//
//   - "range" (Range): per topic, contiguous ranges of partitions over the
//     topic's subscribers in order. It is both the classic client-side
//     RangeAssignor and KIP-848's server-side "range"; the two lay
//     partitions out the same way, so one implementation serves both.
//   - "roundrobin" (RoundRobin): all partitions, sorted, dealt out in turn
//     to the members, skipping a member not subscribed to the topic.
//   - "sticky" (Sticky, KIP-54): balanced, and keeps as much of the current
//     assignment as it can.
//   - "cooperative-sticky" (CooperativeSticky, KIP-429): Sticky's answer,
//     less the partitions that change hands, which are only revoked in this
//     rebalance and given out in the next.
//   - "uniform" (Uniform): KIP-848's default; balanced and sticky for equal
//     and for differing subscriptions.
//
// The group coordinator calls them for KIP-848 groups and for classic groups
// that opt in to server-side assignment.
//
// # Use
//
// Register the built-ins on the Registry that start-up builds, before any
// configured plugin assignors:
//
//	reg := sdk.NewRegistry()
//	if err := assignors.Register(reg); err != nil {
//		return err
//	}
//
// The coordinator never imports this package: it finds an assignor with
// reg.Assignor(name) and calls it through the sdk.Assignor interface.
//
// # Order and determinism
//
// Wherever order matters, members are taken as Kafka's Java assignors take
// them: static members first, by group.instance.id, then dynamic members by
// member ID; topics by name, partitions by number. A static member that
// restarts keeps its place, and so its partitions under range and
// roundrobin. Every assignor is deterministic: the same input, in any
// member or topic order, gives the same assignment.
//
// # Balance and stickiness
//
// Range balances each topic on its own (counts per member differ by at most
// one among the topic's subscribers); roundrobin balances the group when
// subscriptions are equal. Neither looks at the current assignment.
//
// Sticky, cooperative-sticky and uniform share one engine. With equal
// subscriptions it gives P%N members P/N+1 partitions and the rest P/N,
// choosing for the bigger share the members that own the most, and moves
// the fewest partitions that balance allows — after a member leaves only its
// partitions move; after one joins, only the ones it gets. With differing
// subscriptions it keeps every current claim, places free partitions on the
// least-loaded subscriber (topics with the fewest subscribers first), then
// moves partitions one at a time from the most- to the least-loaded
// subscriber of a topic until no member holds a partition that a member
// with two or more fewer could take. That is Kafka's definition of balance
// for such groups; the fewest moves is not guaranteed there.
//
// # Racks
//
// sdk.TopicMetadata can carry the racks of each partition's replicas and
// sdk.GroupMember a client.rack, for rack-aware plugins. The built-ins do
// not use them yet: the rack-aware variants of range and sticky (KIP-881)
// are future work.
//
// # Guarantees
//
// Every assignor is safe for concurrent use and keeps no state between
// calls. Assign never modifies its input; its result shares no memory with
// it. Invalid input (sdk.AssignInput.Validate) fails with an error wrapping
// sdk.ErrInvalidAssignInput; a done context fails with ctx.Err().
package assignors
