package group

import (
	"bytes"
	"cmp"
	"context"
	"fmt"
	"hash/fnv"
	"log/slog"
	"maps"
	"regexp"
	"slices"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/weirmq/weir/sdk"
)

// The KIP-848 ("consumer") protocol's state machine. A consumer group has
// three epochs: the group epoch, bumped whenever what the assignment
// depends on changes (a member joins or leaves, a subscription or server
// assignor changes, a subscribed topic is created, deleted or grows); the
// target assignment epoch, the group epoch the target assignment was
// computed for (by an sdk.Assignor); and each member's epoch, the target
// epoch it has reconciled to. A member moves to the target in steps
// (reconcile): partitions it must give up are revoked first, with its
// epoch unchanged, and only once it reports that it no longer owns them
// are they released; a partition is given to its new owner only when no
// other member holds it (revoke before reassign).
//
// Like the classic state machine, every step runs under the shard's lock,
// does no I/O and takes time from env; the records a step changes are
// marked dirty and written by the shard afterwards (records of the
// current state, so that a later write always carries a later state).

// Member epochs with a meaning of their own in ConsumerGroupHeartbeat.
const (
	joinEpoch        = 0
	leaveEpoch       = -1
	staticLeaveEpoch = -2
)

// memberState is where a member is in its reconciliation; the values are
// Kafka's MemberState, as stored in ConsumerGroupCurrentMemberAssignment.
type memberState int8

const (
	memberStable     memberState = 0 // reconciled to its epoch's target
	memberUnrevoked  memberState = 1 // must revoke partitions before moving on
	memberUnreleased memberState = 2 // waits for partitions others still hold
)

// partKey is one partition of a topic, the topic by ID.
type partKey struct {
	topic     [16]byte
	partition int32
}

func comparePartKey(a, b partKey) int {
	if c := bytes.Compare(a.topic[:], b.topic[:]); c != 0 {
		return c
	}
	return cmp.Compare(a.partition, b.partition)
}

// pset is a set of partitions.
type pset map[partKey]struct{}

// cmember is one member of a consumer group.
type cmember struct {
	id, instanceID       string // instanceID "" for a dynamic member
	rackID               string
	clientID, clientHost string
	topics               []string // subscribed topic names, sorted, distinct
	regex                string   // subscribed topic regular expression; "" for none
	re                   *regexp.Regexp
	assignor             string // the server assignor it asks for; "" for the default
	rebalanceTimeout     time.Duration

	epoch, prevEpoch int32
	state            memberState
	// assigned maps each partition the member owns to the epoch in which
	// it was given it (KIP-1251's assignment epoch); revoking holds the
	// partitions it must give up, likewise. Both count as held.
	assigned map[partKey]int32
	revoking map[partKey]int32

	// subscribed is topics plus the topics regex matches, sorted; computed
	// by refresh.
	subscribed []string

	sessionDeadline time.Time
	revokeDeadline  time.Time // set while unrevoked
}

// reconciledTo reports whether the member has reached the target of
// epoch.
func (m *cmember) reconciledTo(epoch int32) bool {
	return m.state == memberStable && m.epoch == epoch
}

// dirty bits of a member's records.
const (
	dirtyMemberMetadata = 1 << iota // ConsumerGroupMemberMetadata
	dirtyTargetMember               // ConsumerGroupTargetAssignmentMember
	dirtyCurrent                    // ConsumerGroupCurrentMemberAssignment
)

// consumerGroup is the KIP-848 part of a group; a group has one exactly
// when it is a consumer group.
type consumerGroup struct {
	epoch           int32 // the group epoch
	assignmentEpoch int32 // the target assignment's epoch
	metadataHash    int64 // of the subscribed topics, when the epoch was last bumped for them

	members map[string]*cmember
	static  map[string]string  // instance id → member id
	target  map[string]pset    // member id → target assignment
	owners  map[partKey]string // partition → the member holding it

	// topicMeta describes the subscribed topics that exist, as of
	// topicsVersion (-1: never looked at).
	topicMeta     map[string]TopicInfo
	topicsVersion int64

	// Records to write: the group's, the target's, and each member's
	// (dirty bits; a member no longer in the group gets tombstones).
	dirtyGroup, dirtyTargetEpoch bool
	dirtyMembers                 map[string]uint8

	assignFailedEpoch int32 // the group epoch whose assignment failed (logged once)
}

func newConsumerGroup() *consumerGroup {
	return &consumerGroup{
		members: map[string]*cmember{}, static: map[string]string{}, target: map[string]pset{},
		owners: map[partKey]string{}, topicMeta: map[string]TopicInfo{}, topicsVersion: -1,
		dirtyMembers: map[string]uint8{}, assignFailedEpoch: -1,
	}
}

func (cg *consumerGroup) empty() bool { return len(cg.members) == 0 }

func (cg *consumerGroup) dirty() bool {
	return cg.dirtyGroup || cg.dirtyTargetEpoch || len(cg.dirtyMembers) > 0
}

func (cg *consumerGroup) mark(memberID string, bits uint8) { cg.dirtyMembers[memberID] |= bits }

// stateName is the group's state as Kafka names it: Empty, Assigning (the
// target is behind the group epoch), Reconciling (a member has not
// reached the target yet) or Stable.
func (cg *consumerGroup) stateName() string {
	switch {
	case len(cg.members) == 0:
		return "Empty"
	case cg.epoch > cg.assignmentEpoch:
		return "Assigning"
	}
	for _, m := range cg.members {
		if !m.reconciledTo(cg.assignmentEpoch) {
			return "Reconciling"
		}
	}
	return "Stable"
}

func (cg *consumerGroup) sortedMemberIDs() []string {
	return slices.Sorted(maps.Keys(cg.members))
}

// bump starts a new group epoch.
func (cg *consumerGroup) bump() {
	cg.epoch++
	cg.dirtyGroup = true
}

// release gives up every partition in ps the member holds.
func (cg *consumerGroup) release(m *cmember, ps map[partKey]int32) {
	for p := range ps {
		if cg.owners[p] == m.id {
			delete(cg.owners, p)
		}
	}
}

// releaseAll empties the member's assignment.
func (cg *consumerGroup) releaseAll(m *cmember) {
	cg.release(m, m.assigned)
	cg.release(m, m.revoking)
	m.assigned, m.revoking = map[partKey]int32{}, map[partKey]int32{}
	m.revokeDeadline = time.Time{}
}

// remove takes a member out of the group (it left, or its session or
// rebalance timeout ran out): its partitions are free and the group
// epoch is bumped.
func (cg *consumerGroup) remove(m *cmember) {
	cg.releaseAll(m)
	delete(cg.members, m.id)
	delete(cg.target, m.id)
	if m.instanceID != "" && cg.static[m.instanceID] == m.id {
		delete(cg.static, m.instanceID)
	}
	cg.mark(m.id, dirtyMemberMetadata|dirtyTargetMember|dirtyCurrent)
	cg.bump()
	cg.pruneTopicMeta()
}

// cgRequest is a ConsumerGroupHeartbeat, validated and normalised. The
// pointer and slice fields are nil when the member did not send them
// (unchanged since its last heartbeat).
type cgRequest struct {
	version          int16
	memberID         string
	epoch            int32
	instanceID       string // "" for a dynamic member
	rackID           *string
	rebalanceTimeout time.Duration // < 0: unchanged
	topics           []string      // sorted, distinct
	regex            *string
	re               *regexp.Regexp // regex compiled, when regex is not empty
	assignor         *string        // "" when empty: the default
	owned            pset
	full             bool // every field present: the answer carries the assignment
	client           Client
}

// cgResult is the answer to a ConsumerGroupHeartbeat.
type cgResult struct {
	err            *kerr.Error
	msg            string
	memberID       string
	epoch          int32
	sendAssignment bool
	assignment     []kmsg.ConsumerGroupHeartbeatResponseAssignmentTopic
}

func cgFail(err *kerr.Error, format string, args ...any) cgResult {
	r := cgResult{err: err}
	if format != "" {
		r.msg = fmt.Sprintf(format, args...)
	}
	return r
}

// cenv is what a consumer-group step needs beyond env: the topics as of
// the request, the assignors, and where to log.
type cenv struct {
	env
	ctx       context.Context
	topics    Topics
	assignors Assignors
	logger    *slog.Logger
}

// consumerHeartbeat handles a ConsumerGroupHeartbeat on g, which is a
// consumer group or an empty classic group that a joining member turns
// into one (the caller has written the classic group's tombstone if it
// had records).
func (g *group) consumerHeartbeat(ce *cenv, r *cgRequest) cgResult {
	if g.state == stateDead {
		return cgFail(kerr.CoordinatorNotAvailable, "")
	}
	cg := g.consumer
	if cg == nil {
		if r.epoch != joinEpoch || !g.classicEmpty() || g.generation > 0 {
			return cgFail(kerr.GroupIDNotFound, "Group %s is not a consumer group.", g.id)
		}
		cg = newConsumerGroup() // installed once the join is accepted
	}
	if r.epoch < 0 {
		return cg.leave(r)
	}

	// Who is it? Nothing changes until the request is accepted.
	m := cg.members[r.memberID]
	var replaced *cmember // a static member the joining one takes the place of
	if r.instanceID != "" {
		oldID, known := cg.static[r.instanceID]
		switch {
		case r.epoch == joinEpoch && known:
			if old := cg.members[oldID]; oldID != r.memberID && old.epoch != staticLeaveEpoch {
				return cgFail(kerr.UnreleasedInstanceID, "Static member %s with instance id %s cannot join the group because the instance id is owned by %s member.",
					r.memberID, r.instanceID, oldID)
			}
			replaced = cg.members[oldID]
		case r.epoch == joinEpoch:
		case !known:
			return cgFail(kerr.UnknownMemberID, "Instance id %s is unknown.", r.instanceID)
		case oldID != r.memberID:
			return cgFail(kerr.FencedInstanceID, "Static member %s with instance id %s was fenced by member %s.", r.memberID, r.instanceID, oldID)
		}
	}
	if r.epoch != joinEpoch {
		if m == nil {
			return cgFail(kerr.UnknownMemberID, "Member %s is not a member of group %s.", r.memberID, g.id)
		}
		if err := m.checkEpoch(r.epoch, r.owned); err != nil {
			return *err
		}
	}
	if m == nil && replaced == nil && len(cg.members) >= ce.cfg.ConsumerMaxSize {
		return cgFail(kerr.GroupMaxSizeReached, "The consumer group has reached its maximum capacity of %d members.", ce.cfg.ConsumerMaxSize)
	}
	if g.consumer == nil {
		g.consumer = cg
		g.generation, g.protocolType, g.protocol, g.leader = 0, "", "", ""
		g.setState(stateEmpty, ce.now)
	}

	subscription := false // what the assignment depends on changed
	switch {
	case replaced != nil:
		if m != nil && m != replaced {
			cg.remove(m) // its id is taken by the static member's new incarnation
		}
		m = cg.rejoinStatic(replaced, r.memberID)
	case m == nil:
		m = &cmember{id: r.memberID, instanceID: r.instanceID, assigned: map[partKey]int32{}, revoking: map[partKey]int32{}}
		cg.members[m.id] = m
		if m.instanceID != "" {
			cg.static[m.instanceID] = m.id
		}
		cg.mark(m.id, dirtyMemberMetadata|dirtyCurrent)
		subscription = true
	case r.epoch == joinEpoch:
		// A known member joins again, with nothing (its answer was lost,
		// or it was fenced and gave up its partitions): it starts over.
		// Kafka fences this unless the member's previous epoch is 0, and
		// the member then waits out its session; Weir takes it back at
		// once, which is safe because a join reports no partitions.
		cg.releaseAll(m)
		m.epoch, m.prevEpoch, m.state = 0, 0, memberStable
		cg.mark(m.id, dirtyCurrent)
	}
	if m.update(r) {
		cg.mark(m.id, dirtyMemberMetadata)
	}
	if m.subscriptionChanged(r) {
		subscription = true
	}
	if r.instanceID != "" && m.instanceID != r.instanceID {
		// A dynamic member id joining again as a static member.
		m.instanceID = r.instanceID
		cg.static[r.instanceID] = m.id
	}
	m.apply(r)
	m.sessionDeadline = ce.now.Add(ce.cfg.ConsumerSessionTimeout)

	if subscription || cg.topicsVersion != ce.topics.Version() {
		if cg.refresh(ce.topics) {
			subscription = true
		}
	}
	if subscription {
		cg.bump()
	}
	if cg.epoch > cg.assignmentEpoch {
		g.computeTarget(ce)
	}

	fromEpoch := m.epoch
	changed := cg.reconcile(m, r.owned, ce.now)
	send := r.epoch == joinEpoch || r.full || changed || r.epoch != m.epoch || fromEpoch != m.epoch
	res := cgResult{memberID: m.id, epoch: m.epoch, sendAssignment: send}
	if send {
		res.assignment = assignmentTopics(m.assigned)
	}
	return res
}

// classicEmpty reports whether g, as a classic group, has nobody in it.
func (g *group) classicEmpty() bool {
	return g.state == stateEmpty && len(g.members) == 0 && len(g.pending) == 0
}

// checkEpoch fences a heartbeat whose epoch is not the member's: a newer
// one, or an older one unless it is the previous epoch and the member
// owns only partitions it still has (the answer that moved it on was
// lost).
func (m *cmember) checkEpoch(epoch int32, owned pset) *cgResult {
	switch {
	case epoch > m.epoch:
		r := cgFail(kerr.FencedMemberEpoch, "The consumer group member has a greater member epoch (%d) than the one known by the group coordinator (%d). The member must abandon all its partitions and rejoin.", epoch, m.epoch)
		return &r
	case epoch < m.epoch:
		if epoch != m.prevEpoch || owned == nil || !m.ownsAll(owned) {
			r := cgFail(kerr.FencedMemberEpoch, "The consumer group member has a smaller member epoch (%d) than the one known by the group coordinator (%d). The member must abandon all its partitions and rejoin.", epoch, m.epoch)
			return &r
		}
	}
	return nil
}

// ownsAll reports whether every partition of owned is assigned to m.
func (m *cmember) ownsAll(owned pset) bool {
	for p := range owned {
		if _, ok := m.assigned[p]; !ok {
			return false
		}
	}
	return true
}

// update reports whether r changes the member's metadata record.
func (m *cmember) update(r *cgRequest) bool {
	return (r.rackID != nil && *r.rackID != m.rackID) ||
		(r.rebalanceTimeout >= 0 && r.rebalanceTimeout != m.rebalanceTimeout) ||
		(r.topics != nil && !slices.Equal(r.topics, m.topics)) ||
		(r.regex != nil && *r.regex != m.regex) ||
		(r.assignor != nil && *r.assignor != m.assignor) ||
		(r.instanceID != "" && r.instanceID != m.instanceID) ||
		r.client.ID != m.clientID || r.client.Host != m.clientHost
}

// subscriptionChanged reports whether r changes what the target
// assignment depends on: topics, regular expression, server assignor or
// rack.
func (m *cmember) subscriptionChanged(r *cgRequest) bool {
	return (r.rackID != nil && *r.rackID != m.rackID) ||
		(r.topics != nil && !slices.Equal(r.topics, m.topics)) ||
		(r.regex != nil && *r.regex != m.regex) ||
		(r.assignor != nil && *r.assignor != m.assignor)
}

// apply takes the fields r carries.
func (m *cmember) apply(r *cgRequest) {
	if r.rackID != nil {
		m.rackID = *r.rackID
	}
	if r.rebalanceTimeout >= 0 {
		m.rebalanceTimeout = r.rebalanceTimeout
	}
	if r.topics != nil {
		m.topics = r.topics
	}
	if r.regex != nil {
		m.regex, m.re = *r.regex, r.re
	}
	if r.assignor != nil {
		m.assignor = *r.assignor
	}
	m.clientID, m.clientHost = r.client.ID, r.client.Host
}

// rejoinStatic lets a static member take its place again, under id (a new
// member id, or the same one): it keeps the assignment and target of the
// member it replaces, at epoch 0, and reconciles from there without a new
// group epoch (KIP-345 for KIP-848 groups).
func (cg *consumerGroup) rejoinStatic(old *cmember, id string) *cmember {
	m := *old
	m.id = id
	m.epoch, m.prevEpoch, m.state = 0, 0, memberStable
	cg.release(old, old.revoking)
	m.revoking, m.revokeDeadline = map[partKey]int32{}, time.Time{}
	if id != old.id {
		delete(cg.members, old.id)
		cg.mark(old.id, dirtyMemberMetadata|dirtyTargetMember|dirtyCurrent)
		if t, ok := cg.target[old.id]; ok {
			delete(cg.target, old.id)
			cg.target[id] = t
		}
		for p := range m.assigned {
			cg.owners[p] = id
		}
	}
	cg.members[id] = &m
	cg.static[m.instanceID] = id
	cg.mark(id, dirtyMemberMetadata|dirtyTargetMember|dirtyCurrent)
	return &m
}

// leave handles a heartbeat with epoch -1 (the member leaves) or -2 (a
// static member leaves for now: it keeps its partitions until its session
// runs out, for its next incarnation to take them back). Kafka requires
// the instance id with -2; Weir also finds a static member by its member
// id (franz-go leaves without the instance id), and takes -2 from a
// dynamic member as a plain leave.
func (cg *consumerGroup) leave(r *cgRequest) cgResult {
	var m *cmember
	if r.instanceID != "" {
		id, ok := cg.static[r.instanceID]
		switch {
		case !ok:
			return cgFail(kerr.UnknownMemberID, "Instance id %s is unknown.", r.instanceID)
		case id != r.memberID:
			return cgFail(kerr.FencedInstanceID, "Static member %s with instance id %s was fenced by member %s.", r.memberID, r.instanceID, id)
		}
		m = cg.members[id]
	} else if m = cg.members[r.memberID]; m == nil {
		return cgFail(kerr.UnknownMemberID, "Member %s is not a member of the group.", r.memberID)
	}
	if r.epoch == staticLeaveEpoch && m.instanceID != "" {
		cg.release(m, m.revoking)
		m.revoking, m.revokeDeadline = map[partKey]int32{}, time.Time{}
		m.epoch, m.state = staticLeaveEpoch, memberStable
		cg.mark(m.id, dirtyCurrent)
	} else {
		cg.remove(m)
	}
	return cgResult{memberID: r.memberID, epoch: r.epoch}
}

// refresh works out, from topics, what each member subscribes to (its
// names and what its regular expression matches) and the metadata of the
// subscribed topics that exist. It reports whether that metadata differs
// from what the group epoch was last bumped for.
func (cg *consumerGroup) refresh(topics Topics) bool {
	var names []string
	matches := map[string][]string{} // regular expression → topics
	for _, m := range cg.members {
		m.subscribed = m.topics
		if m.re == nil {
			continue
		}
		matched, ok := matches[m.regex]
		if !ok {
			if names == nil {
				names = topics.Names()
			}
			for _, n := range names {
				if m.re.MatchString(n) {
					matched = append(matched, n)
				}
			}
			matches[m.regex] = matched
		}
		if len(matched) > 0 {
			m.subscribed = slices.Compact(slices.Sorted(slices.Values(append(slices.Clone(m.topics), matched...))))
		}
	}
	meta := map[string]TopicInfo{}
	for _, m := range cg.members {
		for _, name := range m.subscribed {
			if _, seen := meta[name]; seen {
				continue
			}
			if t, ok := topics.Topic(name); ok {
				meta[name] = t
			}
		}
	}
	cg.topicMeta, cg.topicsVersion = meta, topics.Version()
	h := hashTopics(meta)
	if h == cg.metadataHash {
		return false
	}
	cg.metadataHash = h
	return true
}

// pruneTopicMeta drops the metadata of topics nobody subscribes to any
// more, and rehashes (the group epoch has just been bumped).
func (cg *consumerGroup) pruneTopicMeta() {
	keep := map[string]bool{}
	for _, m := range cg.members {
		for _, t := range m.subscribed {
			keep[t] = true
		}
	}
	maps.DeleteFunc(cg.topicMeta, func(name string, _ TopicInfo) bool { return !keep[name] })
	cg.metadataHash = hashTopics(cg.topicMeta)
}

// hashTopics is Weir's hash of the subscribed topics' metadata (KIP-1101
// keeps one; Kafka's is computed differently, so a Kafka reading this
// would see changed metadata and rebalance once).
func hashTopics(meta map[string]TopicInfo) int64 {
	h := fnv.New64a()
	var b []byte
	for _, name := range slices.Sorted(maps.Keys(meta)) {
		t := meta[name]
		b = append(b[:0], name...)
		b = append(b, 0)
		b = append(b, t.ID[:]...)
		b = append(b, byte(t.Partitions>>24), byte(t.Partitions>>16), byte(t.Partitions>>8), byte(t.Partitions))
		h.Write(b)
	}
	return int64(h.Sum64())
}

// subscribedNames is every topic a member subscribes to, by name or (as
// last resolved) by regular expression.
func (cg *consumerGroup) subscribedNames() map[string]bool {
	out := map[string]bool{}
	for _, m := range cg.members {
		for _, t := range m.topics {
			out[t] = true
		}
		for _, t := range m.subscribed {
			out[t] = true
		}
	}
	return out
}

// preferredAssignor is the server assignor the most members ask for
// (ties: the smallest name), or dflt when none asks for one.
func (cg *consumerGroup) preferredAssignor(dflt string) string {
	votes := map[string]int{}
	for _, m := range cg.members {
		if m.assignor != "" {
			votes[m.assignor]++
		}
	}
	best := ""
	for _, name := range slices.Sorted(maps.Keys(votes)) {
		if best == "" || votes[name] > votes[best] {
			best = name
		}
	}
	if best == "" {
		return dflt
	}
	return best
}

// computeTarget computes the target assignment for the group epoch with
// the preferred assignor, from the members' subscriptions and their
// current targets (for stickiness). If the assignor fails, or answers
// something sdk.Assignment.Check refuses, the group keeps its target and
// the error is logged (once per group epoch); the next heartbeat tries
// again.
//
// The assignor runs under the shard's lock, as Kafka runs it on the
// coordinator shard's thread: a slow plugin delays the other groups of
// the same __consumer_offsets partition.
func (g *group) computeTarget(ce *cenv) {
	cg := g.consumer
	name := cg.preferredAssignor(ce.cfg.ConsumerAssignor)
	fail := func(err error) {
		if cg.assignFailedEpoch != cg.epoch {
			cg.assignFailedEpoch = cg.epoch
			ce.logger.Warn("computing a consumer group's target assignment failed; keeping the previous one",
				"group", g.id, "assignor", name, "group_epoch", cg.epoch, "err", err)
		}
	}
	var a sdk.Assignor
	if ce.assignors != nil {
		a, _ = ce.assignors.Assignor(name)
	}
	if a == nil {
		fail(fmt.Errorf("no assignor %q is registered", name))
		return
	}
	in := sdk.AssignInput{Topics: make(map[string]sdk.TopicMetadata, len(cg.topicMeta))}
	names := make(map[[16]byte]string, len(cg.topicMeta))
	for n, t := range cg.topicMeta {
		in.Topics[n] = sdk.TopicMetadata{Partitions: t.Partitions}
		names[t.ID] = n
	}
	for _, id := range cg.sortedMemberIDs() {
		m := cg.members[id]
		gm := sdk.GroupMember{MemberID: id, InstanceID: m.instanceID, Rack: m.rackID, Topics: slices.Clone(m.subscribed)}
		if gm.Topics == nil {
			gm.Topics = slices.Clone(m.topics)
		}
		if t := cg.target[id]; len(t) > 0 {
			gm.Owned = sdk.TopicPartitions{}
			for p := range t {
				if n, ok := names[p.topic]; ok {
					gm.Owned[n] = append(gm.Owned[n], p.partition)
				}
			}
			for n := range gm.Owned {
				slices.Sort(gm.Owned[n])
			}
		}
		in.Members = append(in.Members, gm)
	}
	if err := in.Validate(); err != nil {
		fail(err)
		return
	}
	out, err := a.Assign(ce.ctx, in)
	if err == nil {
		err = out.Check(in)
	}
	if err != nil {
		fail(err)
		return
	}
	next := make(map[string]pset, len(cg.members))
	for id := range cg.members {
		set := pset{}
		for topic, parts := range out[id] {
			tid := cg.topicMeta[topic].ID
			for _, p := range parts {
				set[partKey{tid, p}] = struct{}{}
			}
		}
		next[id] = set
		if !maps.Equal(set, cg.target[id]) {
			cg.mark(id, dirtyTargetMember)
		}
	}
	cg.target = next
	cg.assignmentEpoch = cg.epoch
	cg.dirtyTargetEpoch = true
}

// reconcile moves m towards its target (CurrentAssignmentBuilder in
// Kafka). owned is what the member reports it owns, nil when it did not
// say. It reports whether m's assignment changed.
func (cg *consumerGroup) reconcile(m *cmember, owned pset, now time.Time) bool {
	if m.epoch == staticLeaveEpoch {
		return false
	}
	switch m.state {
	case memberStable:
		if m.epoch == cg.assignmentEpoch {
			return false
		}
	case memberUnrevoked:
		if owned == nil || ownsAny(owned, m.revoking) {
			return false // not revoked yet
		}
		// Revoked: the partitions are free for their new owners.
		cg.release(m, m.revoking)
		m.revoking, m.revokeDeadline = map[partKey]int32{}, time.Time{}
	case memberUnreleased:
	}
	return cg.nextAssignment(m, owned, now)
}

// nextAssignment computes the member's next step towards its target:
// first revoke what it must give up (its epoch stays); then take what is
// free of the target, at the target epoch; what others still hold comes
// in a later step (unreleased). It reports whether m's assignment changed.
func (cg *consumerGroup) nextAssignment(m *cmember, owned pset, now time.Time) bool {
	target := cg.target[m.id]
	var revoke map[partKey]int32
	for p, e := range m.assigned {
		if _, keep := target[p]; !keep {
			if revoke == nil {
				revoke = map[partKey]int32{}
			}
			revoke[p] = e
		}
	}
	if len(revoke) > 0 && (owned == nil || ownsAny(owned, revoke)) {
		for p := range revoke {
			delete(m.assigned, p)
		}
		maps.Copy(m.revoking, revoke)
		m.state = memberUnrevoked
		m.revokeDeadline = now.Add(m.rebalanceTimeout)
		cg.mark(m.id, dirtyCurrent)
		return true
	}
	changed := len(revoke) > 0
	for p := range revoke {
		delete(m.assigned, p) // the member says it no longer owns them
		if cg.owners[p] == m.id {
			delete(cg.owners, p)
		}
	}
	unreleased := false
	for p := range target {
		if _, ok := m.assigned[p]; ok {
			continue
		}
		if owner, held := cg.owners[p]; held && owner != m.id {
			unreleased = true
			continue
		}
		m.assigned[p] = cg.assignmentEpoch
		cg.owners[p] = m.id
		changed = true
	}
	if m.epoch != cg.assignmentEpoch {
		m.prevEpoch, m.epoch = m.epoch, cg.assignmentEpoch
	}
	m.state = memberStable
	if unreleased {
		m.state = memberUnreleased
	}
	m.revokeDeadline = time.Time{}
	cg.mark(m.id, dirtyCurrent)
	return changed
}

func ownsAny(owned pset, ps map[partKey]int32) bool {
	for p := range ps {
		if _, ok := owned[p]; ok {
			return true
		}
	}
	return false
}

// nextDeadline is the earliest session or revocation deadline; zero for
// none.
func (cg *consumerGroup) nextDeadline() time.Time {
	var next time.Time
	at := func(t time.Time) {
		if !t.IsZero() && (next.IsZero() || t.Before(next)) {
			next = t
		}
	}
	for _, m := range cg.members {
		at(m.sessionDeadline)
		if m.state == memberUnrevoked {
			at(m.revokeDeadline)
		}
	}
	return next
}

// advance removes the members whose session ended, and those that did
// not revoke their partitions within their rebalance timeout. It returns
// how many it removed.
func (cg *consumerGroup) advance(now time.Time) int {
	due := func(m *cmember) bool {
		return !now.Before(m.sessionDeadline) ||
			(m.state == memberUnrevoked && !m.revokeDeadline.IsZero() && !now.Before(m.revokeDeadline))
	}
	if next := cg.nextDeadline(); next.IsZero() || now.Before(next) {
		return 0 // (checked first: sorting every heartbeat would cost)
	}
	n := 0
	for _, id := range cg.sortedMemberIDs() {
		if m := cg.members[id]; due(m) {
			cg.remove(m)
			n++
		}
	}
	return n
}

// assignmentTopics is an assignment as ConsumerGroupHeartbeat answers it:
// topics by ID, each with its partitions, sorted.
func assignmentTopics(a map[partKey]int32) []kmsg.ConsumerGroupHeartbeatResponseAssignmentTopic {
	out := []kmsg.ConsumerGroupHeartbeatResponseAssignmentTopic{}
	for _, tp := range groupByTopic(slices.Collect(maps.Keys(a))) {
		t := kmsg.NewConsumerGroupHeartbeatResponseAssignmentTopic()
		t.TopicID, t.Partitions = tp.id, tp.partitions
		out = append(out, t)
	}
	return out
}

// topicParts is one topic's partitions of an assignment.
type topicParts struct {
	id         [16]byte
	partitions []int32
	epochs     []int32 // the assignment epoch of each partition; nil if not known
}

// groupByTopic sorts partitions and groups them by topic.
func groupByTopic(ps []partKey) []topicParts {
	slices.SortFunc(ps, comparePartKey)
	var out []topicParts
	for _, p := range ps {
		if len(out) == 0 || out[len(out)-1].id != p.topic {
			out = append(out, topicParts{id: p.topic})
		}
		out[len(out)-1].partitions = append(out[len(out)-1].partitions, p.partition)
	}
	return out
}

// withEpochs groups an assignment by topic, with each partition's
// assignment epoch.
func withEpochs(a map[partKey]int32) []topicParts {
	out := groupByTopic(slices.Collect(maps.Keys(a)))
	for i := range out {
		out[i].epochs = make([]int32, len(out[i].partitions))
		for j, p := range out[i].partitions {
			out[i].epochs[j] = a[partKey{out[i].id, p}]
		}
	}
	return out
}

// validateCommit checks an OffsetCommit against a consumer group, as
// Kafka's ConsumerGroup.validateOffsetCommit does, with KIP-1251's
// assignment epochs: a commit with a member epoch older than the
// member's is accepted for the partitions the member has held since that
// epoch or before (partitionCheck), and refused with STALE_MEMBER_EPOCH
// for the others. Commits without a member (epoch -1) are accepted only
// while the group has no members. A member of the consumer protocol must
// commit with OffsetCommit v9 or later.
func (cg *consumerGroup) validateCommit(r *commitRequest) *kerr.Error {
	if r.generation < 0 && len(cg.members) == 0 {
		return nil
	}
	m := cg.members[r.memberID]
	switch {
	case m == nil:
		return kerr.UnknownMemberID
	case r.version < 9:
		return kerr.UnsupportedVersion
	case r.generation > m.epoch:
		return kerr.StaleMemberEpoch
	}
	return nil
}

// partitionCheck returns the per-partition rule of a commit that passed
// validateCommit with an older member epoch; nil when every partition is
// accepted.
func (cg *consumerGroup) partitionCheck(r *commitRequest) func(topicID [16]byte, partition int32) *kerr.Error {
	m := cg.members[r.memberID]
	if m == nil || r.generation >= m.epoch {
		return nil
	}
	return func(topicID [16]byte, partition int32) *kerr.Error {
		p := partKey{topicID, partition}
		e, ok := m.assigned[p]
		if !ok {
			e, ok = m.revoking[p]
		}
		if ok && e <= r.generation {
			return nil
		}
		return kerr.StaleMemberEpoch
	}
}

// validateFetch checks an OffsetFetch (v9+) from a member: none given
// (no member id, epoch -1) is fine; otherwise the member must exist and
// its epoch match.
func (cg *consumerGroup) validateFetch(memberID *string, epoch int32) *kerr.Error {
	if memberID == nil && epoch < 0 {
		return nil
	}
	id := ""
	if memberID != nil {
		id = *memberID
	}
	m := cg.members[id]
	switch {
	case m == nil:
		return kerr.UnknownMemberID
	case m.epoch != epoch:
		return kerr.StaleMemberEpoch
	}
	return nil
}
