package group

import (
	"context"
	"fmt"
	"maps"
	"slices"

	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/weirmq/weir/sdk"
)

// Server-side assignment of classic consumer groups (Weir's own). A group
// whose weir.assignor (Options.ClassicAssignor) names an assignor is
// assigned by the coordinator: at the end of each join phase the state
// machine runs the assignor over the members' subscriptions, and the
// leader's SyncGroup, when it comes, writes and hands out that assignment
// instead of the one the leader sent. The rules are in doc.go.

// cooperativeProtocol is the classic protocol name of the cooperative-sticky
// assignor. Clients that select it rebalance incrementally (KIP-429): they
// keep their partitions while they rejoin, list them as owned, and rejoin
// again after revoking what an assignment took away.
const cooperativeProtocol = "cooperative-sticky"

// maxAssignmentVersion is the newest ConsumerProtocolAssignment version
// Kafka defines; every version has the same fields.
const maxAssignmentVersion = 3

// assignEnv is what server-side assignment needs beyond the group: the
// group's assignor by name, the registered assignors, the topics' partition
// counts, and a context for Assign (the coordinator's lifetime). A nil
// *assignEnv, or a nil assignor, leaves every group to its leader.
type assignEnv struct {
	ctx       context.Context
	assignor  func(group string) string
	assignors Assignors
	topics    func() Topics
}

// assignFailure is a failed server-side assignment, for the shard to log.
type assignFailure struct {
	assignor string
	err      error
}

// serverAssign computes the current generation's assignment with the
// group's assignor, when it has one, and keeps it for the leader's
// SyncGroup (g.serverAssignment; nil leaves the leader's assignment). It
// runs at the end of the join phase, under the shard's lock, as Kafka runs
// KIP-848 assignors on the coordinator's thread: a slow assignor delays
// the other groups of the same __consumer_offsets partition.
//
// A failure (no such assignor, a subscription that does not decode, an
// error from the assignor, an answer sdk.Assignment.Check refuses) leaves
// the leader's assignment, and is reported for logging once, until an
// assignment succeeds again.
func (g *group) serverAssign(e env) {
	g.serverAssignment, g.serverAssignor = nil, ""
	if e.assign == nil || e.assign.assignor == nil || g.protocolType != consumerProtocolType {
		return
	}
	name := e.assign.assignor(g.id)
	if name == "" {
		return
	}
	out, err := g.assignWith(e.assign, name)
	if err != nil {
		if !g.assignFailureLogged {
			g.assignFailure, g.assignFailureLogged = &assignFailure{assignor: name, err: err}, true
		}
		return
	}
	g.serverAssignment, g.serverAssignor, g.assignFailureLogged = out, name, false
}

// assignWith runs the named assignor over the members' subscriptions for
// the selected protocol and returns each member's encoded
// ConsumerMemberAssignment.
func (g *group) assignWith(ae *assignEnv, name string) (map[string][]byte, error) {
	var a sdk.Assignor
	if ae.assignors != nil {
		a, _ = ae.assignors.Assignor(name)
	}
	if a == nil {
		return nil, fmt.Errorf("no assignor %q is registered", name)
	}
	var topics Topics = noTopics{}
	if ae.topics != nil {
		if t := ae.topics(); t != nil {
			topics = t
		}
	}
	cooperative := g.protocol == cooperativeProtocol || name == cooperativeProtocol
	members := g.sortedMembers()
	versions := make([]int16, len(members))
	claims := map[tp][]string{} // partition → the members listing it as owned
	in := sdk.AssignInput{Members: make([]sdk.GroupMember, 0, len(members)), Topics: map[string]sdk.TopicMetadata{}}
	for i, m := range members {
		var md kmsg.ConsumerMemberMetadata
		if err := md.ReadFrom(m.metadataFor(g.protocol)); err != nil {
			return nil, fmt.Errorf("the subscription of member %s (protocol %q) does not decode: %w", m.id, g.protocol, err)
		}
		versions[i] = md.Version
		gm := sdk.GroupMember{MemberID: m.id, InstanceID: m.instanceID, Topics: md.Topics, UserData: md.UserData, Generation: -1}
		if md.Version >= 2 {
			gm.Generation = md.Generation
		}
		if md.Version >= 3 && md.Rack != nil {
			gm.Rack = *md.Rack
		}
		if md.Version >= 1 && len(md.OwnedPartitions) > 0 {
			gm.Owned = sdk.TopicPartitions{}
			for _, o := range md.OwnedPartitions {
				gm.Owned[o.Topic] = append(gm.Owned[o.Topic], o.Partitions...)
				for _, p := range o.Partitions {
					claims[tp{o.Topic, p}] = append(claims[tp{o.Topic, p}], m.id)
				}
			}
			for t, ps := range gm.Owned {
				gm.Owned[t] = slices.Compact(slices.Sorted(slices.Values(ps)))
			}
		} else if !cooperative {
			// An eager member revoked everything before it joined: what
			// it was given last generation stands for what it owned, so
			// that a sticky assignor keeps it there.
			if owned := decodeAssignment(m.assignment); owned != nil {
				gm.Owned, gm.Generation = owned, g.generation-1
			}
		}
		for _, name := range md.Topics {
			if _, seen := in.Topics[name]; seen {
				continue
			}
			if t, ok := topics.Topic(name); ok {
				in.Topics[name] = sdk.TopicMetadata{Partitions: t.Partitions}
			}
		}
		in.Members = append(in.Members, gm)
	}
	if err := in.Validate(); err != nil {
		return nil, err
	}
	ctx := ae.ctx
	if ctx == nil {
		ctx = context.Background()
	}
	out, err := a.Assign(ctx, in)
	if err == nil {
		err = out.Check(in)
	}
	if err != nil {
		return nil, err
	}
	if cooperative {
		withholdClaimed(out, claims)
	}
	res := make(map[string][]byte, len(members))
	for i, m := range members {
		res[m.id] = encodeAssignment(out[m.id], versions[i])
	}
	return res, nil
}

// withholdClaimed takes out of each member's assignment the partitions
// another member still lists as owned: they are assigned to nobody this
// generation. Their owners, not given them, revoke them and rejoin, and
// the next rebalance hands them out (KIP-429's revoke before reassign).
func withholdClaimed(a sdk.Assignment, claims map[tp][]string) {
	for id, tps := range a {
		for topic, ps := range tps {
			ps = slices.DeleteFunc(ps, func(p int32) bool {
				return slices.ContainsFunc(claims[tp{topic, p}], func(owner string) bool { return owner != id })
			})
			if len(ps) == 0 {
				delete(tps, topic)
			} else {
				tps[topic] = ps
			}
		}
	}
}

// encodeAssignment is a member's ConsumerMemberAssignment at the version
// of its subscription (at most maxAssignmentVersion), topics in name
// order, without user data.
func encodeAssignment(tps sdk.TopicPartitions, version int16) []byte {
	a := kmsg.NewConsumerMemberAssignment()
	a.Version = min(max(version, 0), maxAssignmentVersion)
	for _, topic := range slices.Sorted(maps.Keys(tps)) {
		if ps := tps[topic]; len(ps) > 0 {
			a.Topics = append(a.Topics, kmsg.ConsumerMemberAssignmentTopic{Topic: topic, Partitions: slices.Clone(ps)})
		}
	}
	return a.AppendTo(nil)
}

// decodeAssignment reads a ConsumerMemberAssignment's partitions; nil when
// b is not one or assigns nothing.
func decodeAssignment(b []byte) sdk.TopicPartitions {
	if len(b) == 0 {
		return nil
	}
	var a kmsg.ConsumerMemberAssignment
	if err := a.ReadFrom(b); err != nil {
		return nil
	}
	var out sdk.TopicPartitions
	for _, t := range a.Topics {
		if len(t.Partitions) == 0 {
			continue
		}
		if out == nil {
			out = sdk.TopicPartitions{}
		}
		out[t.Topic] = slices.Compact(slices.Sorted(slices.Values(append(out[t.Topic], t.Partitions...))))
	}
	return out
}
