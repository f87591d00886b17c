package sdk

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
)

// ErrInvalidAssignInput is wrapped by every error AssignInput.Validate
// returns, and so by an Assignor's error for input it cannot work with.
// Such input is the caller's bug: retrying it gives the same error.
var ErrInvalidAssignInput = errors.New("invalid assignor input")

// ErrInvalidAssignment is wrapped by every error Assignment.Check returns:
// the assignor broke the contract (a partition given twice, to a member not
// subscribed to its topic, and so on). The coordinator uses it to reject a
// faulty plugin's answer instead of handing it out.
var ErrInvalidAssignment = errors.New("invalid assignment")

// Assignor computes a consumer group's target assignment: which member
// consumes which partitions. It is called once per rebalance, with the whole
// group at once — the KIP-848 coordinator for its groups, and the classic
// coordinator for groups that opt in to server-side assignment.
//
// The contract is Kafka-neutral: an Assignor sees members, their
// subscriptions and what they own now, and the partition counts of the
// subscribed topics. It sees no protocol versions, epochs or topic IDs; the
// coordinator translates. Member epochs in particular are not needed: a
// KIP-848 coordinator reconciles each member towards the target assignment
// itself, revoking before it reassigns.
//
// Implementations must be safe for concurrent use by multiple goroutines.
type Assignor interface {
	// Name is the assignor's name as clients and group configs spell it:
	// "range", "uniform", "cooperative-sticky", ... It is the classic
	// protocol's assignment strategy name and KIP-848's server assignor name.
	Name() string

	// Assign returns the target assignment for in.
	//
	// Assign must not modify in, nor keep any part of it after it returns.
	// The caller owns the returned Assignment, which shares no memory with
	// in; its slices may be appended to.
	//
	// On success the Assignment has exactly one entry for each member of
	// in.Members (an empty, non-nil TopicPartitions for a member given
	// nothing) and obeys the rules Assignment.Check enforces: each partition
	// exists, goes to at most one member, and goes only to a member
	// subscribed to its topic; each list is sorted, without duplicates.
	// Subscribed topics missing from in.Topics are ignored (clients may
	// subscribe to topics that do not exist yet), and so are owned
	// partitions that no longer exist.
	//
	// On error Assign returns a nil Assignment and an error that wraps
	// ErrInvalidAssignInput for input that fails AssignInput.Validate, or
	// ctx.Err() when ctx is done before the assignment is complete. A plugin
	// may return other errors; the coordinator then keeps the group's
	// current assignment and logs the error with the assignor's name.
	//
	// Assign should be deterministic: the same input, whatever the order of
	// in.Members and of each member's Topics, gives the same Assignment. The
	// built-in assignors are.
	Assign(ctx context.Context, in AssignInput) (Assignment, error)
}

// AssignInput is everything an Assignor is told about a group.
type AssignInput struct {
	// Members are the group's members, in no particular order.
	Members []GroupMember

	// Topics describes the topics the members subscribe to, by name. It may
	// also describe topics nobody subscribes to; assignors ignore those.
	Topics map[string]TopicMetadata
}

// GroupMember is one member of a consumer group, as an Assignor sees it.
type GroupMember struct {
	// MemberID identifies the member in the group. Required; unique in a
	// group.
	MemberID string

	// InstanceID is a static member's group.instance.id (KIP-345), or "" for
	// a dynamic member. Unique in a group when set. A static member keeps
	// its InstanceID across restarts while its MemberID changes, so
	// assignors that order members put static members first, by InstanceID.
	InstanceID string

	// Rack is the member's client.rack, or "" when it has none.
	Rack string

	// Topics names the topics the member subscribes to, in any order.
	// Duplicates are ignored. For a pattern subscription the coordinator
	// passes the topic names the pattern matches.
	Topics []string

	// UserData is the opaque user data a classic-protocol client put in its
	// subscription, or nil. Client-side assignors use it to carry state;
	// the built-in sticky assignors read the owned partitions and
	// generation that Java's sticky assignors encode there.
	UserData []byte

	// Owned is the member's current assignment, or nil for a new member:
	// for KIP-848 groups the member's current target assignment, for classic
	// groups the owned partitions of its subscription (or, for an eager
	// client, what the coordinator last gave it). Assignors that are sticky
	// keep as much of it as balance allows.
	Owned TopicPartitions

	// Generation is the classic group generation in which the member was
	// given Owned, when the client said so (ConsumerProtocolSubscription v2,
	// or the sticky assignors' user data); zero or less means unknown, and
	// counts as older than any known generation. When two members claim
	// the same partition, the claim from the newer generation wins. KIP-848
	// groups leave it zero.
	Generation int32
}

// TopicMetadata describes one topic to an Assignor.
type TopicMetadata struct {
	// Partitions is the topic's partition count; partitions are numbered
	// 0 to Partitions-1.
	Partitions int32

	// PartitionRacks, when not nil, has one entry per partition: the racks
	// of the brokers holding its replicas. Only rack-aware assignors read
	// it; the coordinator may leave it nil when no broker has a rack.
	PartitionRacks [][]string
}

// TopicPartitions maps a topic name to partition numbers.
type TopicPartitions map[string][]int32

// Assignment maps a member ID to the partitions assigned to it, each topic's
// partitions in ascending order.
type Assignment map[string]TopicPartitions

// Validate reports whether in is input an Assignor can work with. It
// returns nil, or an error wrapping ErrInvalidAssignInput that names the
// first problem found: an empty or duplicate member ID, a duplicate
// instance ID, an empty topic name, a negative partition count, or
// PartitionRacks whose length is not the partition count.
//
// Validate only reads in, and is safe to call from several goroutines.
func (in AssignInput) Validate() error {
	ids := make(map[string]struct{}, len(in.Members))
	instances := make(map[string]string)
	for i := range in.Members {
		m := &in.Members[i]
		if m.MemberID == "" {
			return fmt.Errorf("sdk: %w: member %d has an empty member id", ErrInvalidAssignInput, i)
		}
		if _, dup := ids[m.MemberID]; dup {
			return fmt.Errorf("sdk: %w: member id %q appears twice", ErrInvalidAssignInput, m.MemberID)
		}
		ids[m.MemberID] = struct{}{}
		if m.InstanceID == "" {
			continue
		}
		if other, dup := instances[m.InstanceID]; dup {
			return fmt.Errorf("sdk: %w: members %q and %q have the same instance id %q", ErrInvalidAssignInput, other, m.MemberID, m.InstanceID)
		}
		instances[m.InstanceID] = m.MemberID
	}
	for _, name := range slices.Sorted(maps.Keys(in.Topics)) {
		t := in.Topics[name]
		if name == "" {
			return fmt.Errorf("sdk: %w: a topic has an empty name", ErrInvalidAssignInput)
		}
		if t.Partitions < 0 {
			return fmt.Errorf("sdk: %w: topic %q has a negative partition count (%d)", ErrInvalidAssignInput, name, t.Partitions)
		}
		if t.PartitionRacks != nil && len(t.PartitionRacks) != int(t.Partitions) {
			return fmt.Errorf("sdk: %w: topic %q has %d partitions but racks for %d", ErrInvalidAssignInput, name, t.Partitions, len(t.PartitionRacks))
		}
	}
	return nil
}

// Check reports whether a is a valid answer to in, as Assignor.Assign
// promises: one entry for each member of in and no others, every partition
// existing in in.Topics and subscribed to by the member it goes to, no
// partition given twice, and each list sorted ascending without duplicates.
// It returns nil, or an error wrapping ErrInvalidAssignment that names the
// first violation found. It does not judge balance or stickiness.
//
// in must be valid (see Validate). Check only reads a and in, and is safe to
// call from several goroutines.
func (a Assignment) Check(in AssignInput) error {
	subscribed := make(map[string]map[string]struct{}, len(in.Members))
	for _, m := range in.Members {
		topics := make(map[string]struct{}, len(m.Topics))
		for _, t := range m.Topics {
			topics[t] = struct{}{}
		}
		subscribed[m.MemberID] = topics
		if _, ok := a[m.MemberID]; !ok {
			return fmt.Errorf("sdk: %w: member %q has no entry", ErrInvalidAssignment, m.MemberID)
		}
	}
	taken := make(map[string][]string) // topic → partition → member; "" for free
	for _, member := range slices.Sorted(maps.Keys(a)) {
		topics, ok := subscribed[member]
		if !ok {
			return fmt.Errorf("sdk: %w: %q is not a member of the group", ErrInvalidAssignment, member)
		}
		for _, topic := range slices.Sorted(maps.Keys(a[member])) {
			parts := a[member][topic]
			if _, ok := topics[topic]; !ok {
				return fmt.Errorf("sdk: %w: member %q is given topic %q, which it does not subscribe to", ErrInvalidAssignment, member, topic)
			}
			meta, ok := in.Topics[topic]
			if !ok {
				return fmt.Errorf("sdk: %w: member %q is given unknown topic %q", ErrInvalidAssignment, member, topic)
			}
			owners := taken[topic]
			if owners == nil {
				owners = make([]string, meta.Partitions)
				taken[topic] = owners
			}
			for i, p := range parts {
				if p < 0 || p >= meta.Partitions {
					return fmt.Errorf("sdk: %w: member %q is given %s-%d, which does not exist (%d partitions)", ErrInvalidAssignment, member, topic, p, meta.Partitions)
				}
				if i > 0 && parts[i-1] >= p {
					return fmt.Errorf("sdk: %w: member %q: partitions of %q are not sorted and distinct: %d then %d", ErrInvalidAssignment, member, topic, parts[i-1], p)
				}
				if other := owners[p]; other != "" {
					return fmt.Errorf("sdk: %w: %s-%d is given to both %q and %q", ErrInvalidAssignment, topic, p, other, member)
				}
				owners[p] = member
			}
		}
	}
	return nil
}
