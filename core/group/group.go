package group

import (
	"bytes"
	"cmp"
	"maps"
	"slices"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// state is a classic group's state, named as Kafka names it in
// DescribeGroups and ListGroups.
type state int8

const (
	stateEmpty state = iota
	statePreparingRebalance
	stateCompletingRebalance
	stateStable
	stateDead
)

var stateNames = [...]string{"Empty", "PreparingRebalance", "CompletingRebalance", "Stable", "Dead"}

func (s state) String() string { return stateNames[s] }

// consumerProtocolType is the protocol type of Kafka consumers, whose
// member metadata lists the subscribed topics.
const consumerProtocolType = "consumer"

// env is what every state-machine step is given: the time, the
// configuration in force for the request, and what server-side assignment
// of classic groups needs (nil: none, every group is assigned by its
// leader).
type env struct {
	now    time.Time
	cfg    *Config
	assign *assignEnv
}

// joinResult is the answer to a JoinGroup; err nil is success.
type joinResult struct {
	err            *kerr.Error
	memberID       string
	generation     int32
	protocolType   string
	protocol       string
	leader         string
	skipAssignment bool
	members        []kmsg.JoinGroupResponseMember // the leader's answer only
}

// syncResult is the answer to a SyncGroup.
type syncResult struct {
	err          *kerr.Error
	protocolType string
	protocol     string
	assignment   []byte
}

// member is one member of a classic group.
type member struct {
	id, instanceID       string // instanceID "" for a dynamic member
	clientID, clientHost string
	protocols            []kmsg.JoinGroupRequestProtocol
	rebalanceTimeout     time.Duration
	sessionTimeout       time.Duration
	assignment           []byte
	seq                  uint64 // join order: the oldest member is the next leader
	isNew                bool   // joined during the current rebalance
	sessionDeadline      time.Time

	// A parked JoinGroup or SyncGroup waits on these (buffered, one
	// answer each); nil when none is parked.
	join chan joinResult
	sync chan syncResult
}

// matches reports whether protocols are exactly the member's (names,
// metadata and order), in which case a rejoin changes nothing.
func (m *member) matches(protocols []kmsg.JoinGroupRequestProtocol) bool {
	return slices.EqualFunc(m.protocols, protocols, func(a, b kmsg.JoinGroupRequestProtocol) bool {
		return a.Name == b.Name && bytes.Equal(a.Metadata, b.Metadata)
	})
}

func (m *member) metadataFor(protocol string) []byte {
	for _, p := range m.protocols {
		if p.Name == protocol {
			return p.Metadata
		}
	}
	return nil
}

// expired reports whether the member's session has run out. A member with
// a parked JoinGroup or SyncGroup is waiting on the coordinator and counts
// as alive, except a new member, which may wait only newMemberJoinTimeout.
func (m *member) expired(now time.Time) bool {
	if now.Before(m.sessionDeadline) {
		return false
	}
	return m.isNew || (m.join == nil && m.sync == nil)
}

func (m *member) answerJoin(r joinResult) {
	if m.join != nil {
		m.join <- r
		m.join = nil
	}
}

func (m *member) answerSync(r syncResult) {
	if m.sync != nil {
		m.sync <- r
		m.sync = nil
	}
}

// tp is a topic partition.
type tp struct {
	topic     string
	partition int32
}

// committed is one committed offset.
type committed struct {
	offset      int64
	leaderEpoch int32
	metadata    string
	commitTime  int64 // ms
	expireTime  int64 // ms; -1 unless an old client asked for a retention
	topicID     [16]byte
}

// group is one group's state: the classic protocol's state machine and
// the group's committed offsets. It does no I/O and takes no locks; its
// owner (a shard) serialises every call.
type group struct {
	id         string
	state      state
	stateSince time.Time // Kafka's currentStateTimestamp; zero if unknown

	protocolType string // "" for a group that only stores offsets
	protocol     string // selected for the current generation
	generation   int32
	leader       string
	members      map[string]*member
	static       map[string]string    // instance id → member id
	pending      map[string]time.Time // member ids handed out with MEMBER_ID_REQUIRED → expiry
	pendingSync  map[string]bool      // members of the generation that have not synced
	syncDeadline time.Time
	seq          uint64

	joinDeadline   time.Time // PreparingRebalance: complete the join by then
	initialDelay   bool      // joinDeadline is the initial rebalance delay
	delayRemaining time.Duration
	newMemberAdded bool

	offsets map[tp]committed

	// Server-side assignment (classic_assign.go): the assignment the
	// coordinator computed for the current generation, handed out in
	// place of the leader's (nil: the leader's), and the assignor that
	// computed it; a failure for the shard to log, and whether one has
	// been logged since the last success (a failure is logged once).
	serverAssignment    map[string][]byte
	serverAssignor      string
	assignFailure       *assignFailure
	assignFailureLogged bool

	// consumer is the group's KIP-848 state when it is a consumer group
	// (consumer.go); nil for a classic group. A consumer group keeps the
	// classic state Empty (Dead while it is deleted) and no classic
	// members. (weir: KIP-848)
	consumer *consumerGroup

	// unwritten is group metadata the log does not have yet, written by
	// the shard after the step that produced it; nil when the log is up
	// to date.
	unwritten *kmsg.GroupMetadataValue

	// Owned by the shard: the armed timer and its time, and the
	// generation last logged.
	timer     Timer
	timerAt   time.Time
	loggedGen int32
}

func newGroup(id string, now time.Time) *group {
	return &group{
		id: id, stateSince: now,
		members: map[string]*member{}, static: map[string]string{}, pending: map[string]time.Time{},
		pendingSync: map[string]bool{}, offsets: map[tp]committed{},
	}
}

func (g *group) setState(s state, now time.Time) {
	g.state, g.stateSince = s, now
}

// sortedMembers returns the members in join order, for deterministic
// iteration.
func (g *group) sortedMembers() []*member {
	ms := slices.Collect(maps.Values(g.members))
	slices.SortFunc(ms, func(a, b *member) int { return cmp.Compare(a.seq, b.seq) })
	return ms
}

// validateMember checks that a request comes from a current member: a
// static member's instance id must map to memberID.
func (g *group) validateMember(memberID, instanceID string) *kerr.Error {
	if instanceID != "" {
		id, ok := g.static[instanceID]
		switch {
		case !ok:
			return kerr.UnknownMemberID
		case id != memberID:
			return kerr.FencedInstanceID
		}
		return nil
	}
	if g.members[memberID] == nil {
		return kerr.UnknownMemberID
	}
	return nil
}

// supportsProtocols reports whether a member with these protocols may
// join: any for an empty group, else the same protocol type and at least
// one protocol every member supports.
func (g *group) supportsProtocols(protocolType string, protocols []kmsg.JoinGroupRequestProtocol) bool {
	if len(g.members) == 0 {
		return protocolType != "" && len(protocols) > 0
	}
	if protocolType != g.protocolType {
		return false
	}
	for _, p := range protocols {
		if g.supportCount(p.Name) == len(g.members) {
			return true
		}
	}
	return false
}

func (g *group) supportCount(name string) int {
	n := 0
	for _, m := range g.members {
		if slices.ContainsFunc(m.protocols, func(p kmsg.JoinGroupRequestProtocol) bool { return p.Name == name }) {
			n++
		}
	}
	return n
}

// selectProtocol picks the protocol for the next generation as Kafka
// does: among the protocols every member supports, each member votes for
// the one it lists first, and the most votes win (ties: the smallest
// name, where Kafka's choice is arbitrary).
func (g *group) selectProtocol() string {
	votes := map[string]int{}
	for _, m := range g.members {
		for _, p := range m.protocols {
			if g.supportCount(p.Name) == len(g.members) {
				votes[p.Name]++
				break
			}
		}
	}
	best := ""
	for _, name := range slices.Sorted(maps.Keys(votes)) {
		if best == "" || votes[name] > votes[best] {
			best = name
		}
	}
	return best
}

// acceptJoining applies group.max.size to a joining member, as Kafka's
// acceptJoiningMember: during a rebalance the members already waiting
// are counted, otherwise the members.
func (g *group) acceptJoining(memberID string, maxSize int) bool {
	switch g.state {
	case stateEmpty, stateDead:
		return true
	case statePreparingRebalance:
		if m := g.members[memberID]; m != nil && m.join != nil {
			return true
		}
		waiting := 0
		for _, m := range g.members {
			if m.join != nil {
				waiting++
			}
		}
		return waiting < maxSize
	}
	return g.members[memberID] != nil || len(g.members) < maxSize
}

// rebalanceTimeout is the longest rebalance timeout of the members.
func (g *group) rebalanceTimeout() time.Duration {
	var d time.Duration
	for _, m := range g.members {
		d = max(d, m.rebalanceTimeout)
	}
	return d
}

// memberMetadata is the leader's view of the members: each one's
// metadata for the selected protocol.
func (g *group) memberMetadata() []kmsg.JoinGroupResponseMember {
	out := make([]kmsg.JoinGroupResponseMember, 0, len(g.members))
	for _, m := range g.sortedMembers() {
		jm := kmsg.NewJoinGroupResponseMember()
		jm.MemberID = m.id
		jm.InstanceID = instancePtr(m.instanceID)
		jm.ProtocolMetadata = m.metadataFor(g.protocol)
		out = append(out, jm)
	}
	return out
}

// currentJoin is the join answer for a member of the current generation
// that rejoined without changing anything.
func (g *group) currentJoin(m *member, withMembers bool) joinResult {
	r := joinResult{memberID: m.id, generation: g.generation, protocolType: g.protocolType, protocol: g.protocol, leader: g.leader}
	if withMembers {
		r.members = g.memberMetadata()
	}
	return r
}

// subscribedTopics returns the topics the members of a consumer group
// subscribe to, from their metadata for the selected protocol; ok is false
// when that is unknown (another protocol type, or metadata that does not
// parse).
func (g *group) subscribedTopics() (topics map[string]bool, ok bool) {
	if g.consumer != nil { // weir: KIP-848
		return g.consumer.subscribedNames(), true
	}
	if g.protocolType != consumerProtocolType || g.protocol == "" {
		return nil, false
	}
	topics = map[string]bool{}
	for _, m := range g.members {
		var md kmsg.ConsumerMemberMetadata
		if err := md.ReadFrom(m.metadataFor(g.protocol)); err != nil {
			return nil, false
		}
		for _, t := range md.Topics {
			topics[t] = true
		}
	}
	return topics, true
}

// metadataValue is the group's record in __consumer_offsets: generation,
// protocol, leader, and the members with their subscriptions and
// assignments (assignments overrides the members' own when not nil).
func (g *group) metadataValue(assignments map[string][]byte) *kmsg.GroupMetadataValue {
	v := kmsg.NewGroupMetadataValue()
	v.Version = 3
	v.ProtocolType = g.protocolType
	v.Generation = g.generation
	if g.protocol != "" {
		v.Protocol = stringPtr(g.protocol)
	}
	if g.leader != "" {
		v.Leader = stringPtr(g.leader)
	}
	v.CurrentStateTimestamp = -1
	if !g.stateSince.IsZero() {
		v.CurrentStateTimestamp = g.stateSince.UnixMilli()
	}
	if g.state != stateEmpty {
		for _, m := range g.sortedMembers() {
			vm := kmsg.NewGroupMetadataValueMember()
			vm.MemberID, vm.InstanceID = m.id, instancePtr(m.instanceID)
			vm.ClientID, vm.ClientHost = m.clientID, m.clientHost
			vm.RebalanceTimeoutMillis = int32(m.rebalanceTimeout.Milliseconds())
			vm.SessionTimeoutMillis = int32(m.sessionTimeout.Milliseconds())
			vm.Subscription = m.metadataFor(g.protocol)
			vm.Assignment = m.assignment
			if assignments != nil {
				vm.Assignment = assignments[m.id]
			}
			v.Members = append(v.Members, vm)
		}
	}
	return &v
}

// describe fills in a DescribeGroups answer. Metadata and assignments are
// given only for a stable group, as Kafka does.
func (g *group) describe(out *kmsg.DescribeGroupsResponseGroup) {
	out.State = g.state.String()
	out.ProtocolType = g.protocolType
	stable := g.state == stateStable
	if stable {
		out.Protocol = g.protocol
	}
	for _, m := range g.sortedMembers() {
		dm := kmsg.NewDescribeGroupsResponseGroupMember()
		dm.MemberID, dm.InstanceID = m.id, instancePtr(m.instanceID)
		dm.ClientID, dm.ClientHost = m.clientID, m.clientHost
		if stable {
			dm.ProtocolMetadata = m.metadataFor(g.protocol)
			dm.MemberAssignment = m.assignment
		}
		out.Members = append(out.Members, dm)
	}
}

// idle reports whether the group holds nothing worth keeping: no members
// (of either protocol), none pending, no offsets.
func (g *group) idle() bool {
	return g.state == stateEmpty && len(g.members) == 0 && len(g.pending) == 0 && len(g.offsets) == 0 &&
		(g.consumer == nil || g.consumer.empty()) // weir: KIP-848
}

func instancePtr(id string) *string {
	if id == "" {
		return nil
	}
	return &id
}

func stringPtr(s string) *string { return &s }
