package group

import (
	"slices"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
)

// Offset rules of the state machine: which commits a group accepts, which
// offsets may be deleted, and which have expired.

// commitRequest is who an OffsetCommit comes from.
type commitRequest struct {
	memberID   string
	instanceID string
	generation int32 // a consumer group's member epoch
	version    int16 // of the OffsetCommit (weir: KIP-848)
}

// validateCommit checks an OffsetCommit against the group, as Kafka's
// ClassicGroup.validateOffsetCommit: a commit with generation -1 and no
// member (a consumer without group management, or an admin tool) is
// accepted only while the group is empty; otherwise the member and its
// generation must be current, and not in the middle of a rebalance's sync
// phase.
func (g *group) validateCommit(r *commitRequest) *kerr.Error {
	if g.state == stateDead {
		return kerr.CoordinatorNotAvailable
	}
	if g.consumer != nil { // weir: KIP-848
		return g.consumer.validateCommit(r)
	}
	if r.generation < 0 && g.state == stateEmpty {
		return nil
	}
	if r.generation >= 0 || r.memberID != "" || r.instanceID != "" {
		if err := g.validateMember(r.memberID, r.instanceID); err != nil {
			return err
		}
		if r.generation != g.generation {
			return kerr.IllegalGeneration
		}
	} else if g.state != stateEmpty {
		return kerr.UnknownMemberID
	}
	if g.state == stateCompletingRebalance {
		// The member has its new generation but not yet its assignment.
		return kerr.RebalanceInProgress
	}
	return nil
}

// committedBy records that a member committed: it counts as a sign of
// life, as Kafka's coordinator treats it.
func (g *group) committedBy(e env, memberID string, generation int32) {
	if m := g.members[memberID]; m != nil && generation == g.generation {
		m.sessionDeadline = e.now.Add(m.sessionTimeout)
	}
}

// validateOffsetDelete checks an OffsetDelete against the group: a group
// with members may lose offsets only if it is a consumer group, and then
// only of topics it does not subscribe to (checked per topic with
// subscribedTo).
func (g *group) validateOffsetDelete() *kerr.Error {
	switch {
	case g.state == stateDead:
		return kerr.GroupIDNotFound
	case g.state != stateEmpty && g.protocolType != consumerProtocolType:
		return kerr.NonEmptyGroup
	}
	return nil
}

// subscribedTo reports whether the group consumes topic; when the
// members' subscriptions cannot be read it answers yes, to be safe.
func (g *group) subscribedTo(topics map[string]bool, known bool, topic string) bool {
	if g.state == stateEmpty && (g.consumer == nil || g.consumer.empty()) { // weir: KIP-848
		return false
	}
	return !known || topics[topic]
}

// expiredOffsets returns the offsets that have outlived
// offsets.retention.minutes at now, by Kafka's rule (KIP-211): in an empty
// group, counted from when it became empty (or from the commit, if that
// is unknown); in a stable consumer group, only offsets of topics it no
// longer subscribes to, counted from the commit; in a group that only
// stores offsets, counted from the commit. A commit that carried its own
// retention (OffsetCommit v2–v4) expires at the time it asked for.
func (g *group) expiredOffsets(now time.Time, retention time.Duration) []tp {
	var (
		fromStateChange bool
		subscribed      map[string]bool
	)
	switch {
	case g.consumer != nil && g.consumer.empty(): // weir: KIP-848 (Kafka counts from the commit)
	case g.consumer != nil:
		subscribed = g.consumer.subscribedNames()
	case g.protocolType == "":
	case g.state == stateEmpty:
		fromStateChange = !g.stateSince.IsZero()
	case g.state == stateStable && g.protocolType == consumerProtocolType:
		topics, ok := g.subscribedTopics()
		if !ok {
			return nil
		}
		subscribed = topics
	default:
		return nil
	}
	nowMs, retMs := now.UnixMilli(), retention.Milliseconds()
	var out []tp
	for k, c := range g.offsets {
		if subscribed[k.topic] {
			continue
		}
		base := c.commitTime
		if fromStateChange {
			base = g.stateSince.UnixMilli()
		}
		if (c.expireTime >= 0 && nowMs >= c.expireTime) || (c.expireTime < 0 && nowMs-base >= retMs) {
			out = append(out, k)
		}
	}
	slices.SortFunc(out, compareTP)
	return out
}

func compareTP(a, b tp) int {
	if a.topic != b.topic {
		if a.topic < b.topic {
			return -1
		}
		return 1
	}
	return int(a.partition) - int(b.partition)
}
