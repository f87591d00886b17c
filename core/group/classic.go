package group

import (
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// The classic protocol's state machine, after Kafka's GroupCoordinator.
// Every step runs under the shard's lock, changes the group, answers
// parked requests by sending on their (buffered) channels, and never
// blocks. Time comes in through env; the shard arms a timer for
// nextDeadline and calls advance when it fires.

// joinRequest is a JoinGroup, normalised across versions.
type joinRequest struct {
	version          int16
	memberID         string
	instanceID       string // "" for a dynamic member
	clientID         string
	clientHost       string
	protocolType     string
	protocols        []kmsg.JoinGroupRequestProtocol
	sessionTimeout   time.Duration
	rebalanceTimeout time.Duration
	newMemberID      string // the id a member joining without one gets
}

// join handles a JoinGroup. It returns either an answer to send at once,
// or a channel on which the answer will come when the rebalance completes.
// write is set when the answer must wait until the group's unwritten
// metadata is in the log (a static member replaced in a stable group).
func (g *group) join(e env, r *joinRequest) (res joinResult, wait chan joinResult, write bool) {
	fail := func(err *kerr.Error) (joinResult, chan joinResult, bool) {
		return joinResult{err: err, memberID: r.memberID, generation: -1}, nil, false
	}
	switch {
	case g.state == stateDead:
		// Deleted under the request: the client finds the coordinator again.
		return fail(kerr.CoordinatorNotAvailable)
	case !g.acceptJoining(r.memberID, e.cfg.MaxSize) && (r.instanceID == "" || g.static[r.instanceID] == ""):
		// (A static member taking its place again does not grow the group.)
		return fail(kerr.GroupMaxSizeReached)
	case !g.supportsProtocols(r.protocolType, r.protocols):
		return fail(kerr.InconsistentGroupProtocol)
	}
	if r.memberID == "" {
		id := r.newMemberID
		if r.instanceID != "" {
			if old, ok := g.static[r.instanceID]; ok {
				return g.replaceStatic(e, old, id, r)
			}
			return g.addMember(e, id, r)
		}
		if r.version >= 4 {
			// KIP-394: hand out the id and wait for the member to come
			// back with it, so that clients that give up on a join do not
			// leave members behind.
			g.pending[id] = e.now.Add(r.sessionTimeout)
			return joinResult{err: kerr.MemberIDRequired, memberID: id, generation: -1}, nil, false
		}
		return g.addMember(e, id, r)
	}
	if _, ok := g.pending[r.memberID]; ok {
		delete(g.pending, r.memberID)
		return g.addMember(e, r.memberID, r)
	}
	if err := g.validateMember(r.memberID, r.instanceID); err != nil {
		return fail(err)
	}
	m := g.members[r.memberID]
	switch g.state {
	case statePreparingRebalance:
		return g.updateMember(e, m, r)
	case stateCompletingRebalance:
		if m.matches(r.protocols) {
			// The member lost our answer: give it again.
			m.sessionDeadline = e.now.Add(m.sessionTimeout)
			return g.currentJoin(m, m.id == g.leader), nil, false
		}
		return g.updateMember(e, m, r)
	case stateStable:
		if m.id == g.leader || !m.matches(r.protocols) {
			return g.updateMember(e, m, r)
		}
		m.sessionDeadline = e.now.Add(m.sessionTimeout)
		return g.currentJoin(m, false), nil, false
	}
	return fail(kerr.UnknownMemberID) // Empty: the member is long gone
}

// addMember adds a member and starts (or joins) a rebalance.
func (g *group) addMember(e env, id string, r *joinRequest) (joinResult, chan joinResult, bool) {
	g.seq++
	m := &member{
		id: id, instanceID: r.instanceID, clientID: r.clientID, clientHost: r.clientHost,
		protocols: r.protocols, sessionTimeout: r.sessionTimeout, rebalanceTimeout: r.rebalanceTimeout,
		seq: g.seq, isNew: true, sessionDeadline: e.now.Add(newMemberJoinTimeout),
	}
	wait := make(chan joinResult, 1)
	m.join = wait
	if len(g.members) == 0 {
		g.protocolType = r.protocolType
	}
	g.members[id] = m
	if m.instanceID != "" {
		g.static[m.instanceID] = id
	}
	if g.leader == "" {
		g.leader = id
	}
	if g.initialDelay {
		g.newMemberAdded = true
	}
	g.maybePrepareRebalance(e)
	g.maybeCompleteJoin(e)
	return joinResult{}, wait, false
}

// updateMember takes a known member's rejoin into the rebalance.
func (g *group) updateMember(e env, m *member, r *joinRequest) (joinResult, chan joinResult, bool) {
	m.protocols = r.protocols
	m.sessionTimeout, m.rebalanceTimeout = r.sessionTimeout, r.rebalanceTimeout
	m.sessionDeadline = e.now.Add(m.sessionTimeout)
	// An older JoinGroup of the member (from a connection it gave up on)
	// gets an answer so that it stops waiting.
	m.answerJoin(joinResult{err: kerr.RebalanceInProgress, memberID: m.id, generation: -1})
	wait := make(chan joinResult, 1)
	m.join = wait
	g.maybePrepareRebalance(e)
	g.maybeCompleteJoin(e)
	return joinResult{}, wait, false
}

// replaceStatic gives a known group.instance.id a new member id (KIP-345):
// the old id is fenced. In a stable group whose protocol would not change,
// the member simply takes its place, without a rebalance.
func (g *group) replaceStatic(e env, oldID, newID string, r *joinRequest) (joinResult, chan joinResult, bool) {
	m := g.members[oldID]
	oldLeader := g.leader
	m.answerJoin(joinResult{err: kerr.FencedInstanceID, memberID: oldID, generation: -1})
	m.answerSync(syncResult{err: kerr.FencedInstanceID})
	delete(g.members, oldID)
	m.id = newID
	g.members[newID] = m
	g.static[m.instanceID] = newID
	if g.leader == oldID {
		g.leader = newID
	}
	if g.pendingSync[oldID] {
		delete(g.pendingSync, oldID)
		g.pendingSync[newID] = true
	}
	m.protocols = r.protocols
	m.sessionTimeout, m.rebalanceTimeout = r.sessionTimeout, r.rebalanceTimeout
	m.clientID, m.clientHost = r.clientID, r.clientHost
	m.sessionDeadline = e.now.Add(m.sessionTimeout)

	switch g.state {
	case stateStable:
		if g.selectProtocol() == g.protocol {
			g.unwritten = g.metadataValue(nil)
			res := joinResult{memberID: newID, generation: g.generation, protocolType: g.protocolType, protocol: g.protocol, leader: g.leader}
			if r.version >= 9 {
				// KIP-814: a returning leader learns it leads, but must
				// not assign again while the group is stable.
				if newID == g.leader {
					res.members, res.skipAssignment = g.memberMetadata(), true
				}
			} else {
				// Older clients: name the old leader id, so that a
				// returning leader does not assign.
				res.leader = oldLeader
			}
			return res, nil, true
		}
		wait := make(chan joinResult, 1)
		m.join = wait
		g.prepareRebalance(e)
		return joinResult{}, wait, false
	case stateCompletingRebalance:
		// The leader may be assigning to the old id: start again.
		wait := make(chan joinResult, 1)
		m.join = wait
		g.prepareRebalance(e)
		return joinResult{}, wait, false
	}
	// PreparingRebalance
	wait := make(chan joinResult, 1)
	m.join = wait
	g.maybeCompleteJoin(e)
	return joinResult{}, wait, false
}

func (g *group) maybePrepareRebalance(e env) {
	switch g.state {
	case stateStable, stateCompletingRebalance, stateEmpty:
		g.prepareRebalance(e)
	}
}

// prepareRebalance starts a rebalance: members must rejoin within the
// longest rebalance timeout; an empty group first waits
// group.initial.rebalance.delay.ms for more members.
func (g *group) prepareRebalance(e env) {
	if g.state == stateCompletingRebalance {
		for _, m := range g.members {
			m.assignment = nil
			m.answerSync(syncResult{err: kerr.RebalanceInProgress})
		}
	}
	g.serverAssignment = nil
	clear(g.pendingSync)
	g.syncDeadline = time.Time{}
	timeout := g.rebalanceTimeout()
	if g.state == stateEmpty {
		d := e.cfg.InitialRebalanceDelay
		g.initialDelay, g.newMemberAdded = true, false
		g.delayRemaining = max(timeout-d, 0)
		g.joinDeadline = e.now.Add(d)
	} else {
		g.initialDelay = false
		g.joinDeadline = e.now.Add(timeout)
	}
	g.setState(statePreparingRebalance, e.now)
}

// maybeCompleteJoin completes the rebalance's join phase once every member
// has rejoined and no member id handed out is outstanding (never during
// the initial delay).
func (g *group) maybeCompleteJoin(e env) {
	if g.state != statePreparingRebalance || g.initialDelay || len(g.pending) > 0 {
		return
	}
	for _, m := range g.members {
		if m.join == nil {
			return
		}
	}
	g.completeJoin(e)
}

// completeJoin ends the join phase: dynamic members that did not rejoin
// are removed (static ones keep their place until their session ends), a
// new generation starts, and every waiting member gets its answer — the
// leader with everyone's metadata. A group with a server-side assignor
// gets its assignment computed now (serverAssign), to be handed out when
// the leader syncs.
func (g *group) completeJoin(e env) {
	for _, m := range g.sortedMembers() {
		if m.join == nil && m.instanceID == "" {
			g.drop(m)
		}
	}
	if len(g.members) > 0 && !g.electJoinedLeader() {
		// Only absent static members are left: wait for their sessions
		// to run out.
		g.initialDelay = false
		g.joinDeadline = e.now.Add(g.rebalanceTimeout())
		return
	}
	g.generation++
	g.initialDelay, g.newMemberAdded, g.joinDeadline = false, false, time.Time{}
	if len(g.members) == 0 {
		g.protocol, g.leader, g.serverAssignor = "", "", ""
		g.setState(stateEmpty, e.now)
		g.unwritten = g.metadataValue(nil)
		return
	}
	g.protocol = g.selectProtocol()
	g.setState(stateCompletingRebalance, e.now)
	g.serverAssign(e)
	for _, m := range g.sortedMembers() {
		if m.join != nil {
			m.answerJoin(g.currentJoin(m, m.id == g.leader))
		}
		m.isNew = false
		m.sessionDeadline = e.now.Add(m.sessionTimeout)
		g.pendingSync[m.id] = true
	}
	g.syncDeadline = e.now.Add(g.rebalanceTimeout())
}

// electJoinedLeader makes sure the leader is a member that rejoined; it
// reports false when no member did.
func (g *group) electJoinedLeader() bool {
	if l := g.members[g.leader]; l != nil && l.join != nil {
		return true
	}
	for _, m := range g.sortedMembers() {
		if m.join != nil {
			g.leader = m.id
			return true
		}
	}
	return false
}

// drop removes a member without reacting to it.
func (g *group) drop(m *member) {
	m.answerJoin(joinResult{err: kerr.UnknownMemberID, generation: -1})
	m.answerSync(syncResult{err: kerr.UnknownMemberID})
	delete(g.members, m.id)
	if m.instanceID != "" && g.static[m.instanceID] == m.id {
		delete(g.static, m.instanceID)
	}
	delete(g.pendingSync, m.id)
	if g.leader == m.id {
		g.leader = ""
		if ms := g.sortedMembers(); len(ms) > 0 {
			g.leader = ms[0].id
		}
	}
}

// removeMember removes a member that left or whose session ended, and
// rebalances the rest.
func (g *group) removeMember(e env, m *member) {
	g.drop(m)
	switch g.state {
	case stateStable, stateCompletingRebalance:
		g.prepareRebalance(e)
	case statePreparingRebalance:
		g.maybeCompleteJoin(e)
	}
}

// syncRequest is a SyncGroup.
type syncRequest struct {
	memberID, instanceID   string
	generation             int32
	protocolType, protocol *string // v5+
}

// sync handles a SyncGroup. It returns an answer, or a channel for the
// answer; leader is set when the request is the leader's in
// CompletingRebalance, whose assignment the shard must write and then
// hand out (completeSync).
func (g *group) sync(e env, r *syncRequest) (res syncResult, wait chan syncResult, leader bool) {
	fail := func(err *kerr.Error) (syncResult, chan syncResult, bool) { return syncResult{err: err}, nil, false }
	if g.state == stateDead {
		return fail(kerr.CoordinatorNotAvailable)
	}
	if err := g.validateMember(r.memberID, r.instanceID); err != nil {
		return fail(err)
	}
	if r.generation != g.generation {
		return fail(kerr.IllegalGeneration)
	}
	if (r.protocolType != nil && *r.protocolType != g.protocolType) || (r.protocol != nil && *r.protocol != g.protocol) {
		return fail(kerr.InconsistentGroupProtocol)
	}
	m := g.members[r.memberID]
	switch g.state {
	case statePreparingRebalance:
		return fail(kerr.RebalanceInProgress)
	case stateCompletingRebalance:
		m.answerSync(syncResult{err: kerr.RebalanceInProgress})
		m.sync = make(chan syncResult, 1)
		delete(g.pendingSync, m.id)
		m.sessionDeadline = e.now.Add(m.sessionTimeout)
		return syncResult{}, m.sync, m.id == g.leader
	case stateStable:
		delete(g.pendingSync, m.id)
		m.sessionDeadline = e.now.Add(m.sessionTimeout)
		return syncResult{protocolType: g.protocolType, protocol: g.protocol, assignment: m.assignment}, nil, false
	}
	return fail(kerr.UnknownMemberID)
}

// assignments turns the leader's SyncGroup assignment into one per
// member: members it leaves out get an empty assignment, ids that are not
// members are ignored. When the coordinator computed the generation's
// assignment itself (serverAssign), that is the answer and in is ignored.
func (g *group) assignments(in []kmsg.SyncGroupRequestGroupAssignment) map[string][]byte {
	out := make(map[string][]byte, len(g.members))
	for id := range g.members {
		out[id] = []byte{}
	}
	if g.serverAssignment != nil {
		for id := range out {
			if a, ok := g.serverAssignment[id]; ok {
				out[id] = a
			}
		}
		return out
	}
	for _, a := range in {
		if _, ok := out[a.MemberID]; ok {
			out[a.MemberID] = a.MemberAssignment
		}
	}
	return out
}

// completeSync hands out the written assignment and makes the group
// stable; with err (the write failed) every waiting member gets the error
// and the group rebalances.
func (g *group) completeSync(e env, assignments map[string][]byte, err *kerr.Error) {
	if err != nil {
		for _, m := range g.members {
			m.assignment = nil
			m.answerSync(syncResult{err: err})
		}
		g.prepareRebalance(e)
		return
	}
	for id, m := range g.members {
		m.assignment = assignments[id]
		m.answerSync(syncResult{protocolType: g.protocolType, protocol: g.protocol, assignment: m.assignment})
	}
	g.serverAssignment = nil
	g.setState(stateStable, e.now)
}

// heartbeat handles a Heartbeat.
func (g *group) heartbeat(e env, memberID, instanceID string, generation int32) *kerr.Error {
	if g.state == stateDead {
		return kerr.CoordinatorNotAvailable
	}
	if err := g.validateMember(memberID, instanceID); err != nil {
		return err
	}
	if generation != g.generation {
		return kerr.IllegalGeneration
	}
	m := g.members[memberID]
	switch g.state {
	case statePreparingRebalance:
		m.sessionDeadline = e.now.Add(m.sessionTimeout)
		return kerr.RebalanceInProgress
	case stateCompletingRebalance, stateStable:
		m.sessionDeadline = e.now.Add(m.sessionTimeout)
		return nil
	}
	return kerr.UnknownMemberID
}

// leave handles one member of a LeaveGroup: by member id, or by instance
// id for a static member (whose member id, if given, must match).
func (g *group) leave(e env, memberID, instanceID string) *kerr.Error {
	if instanceID != "" {
		id, ok := g.static[instanceID]
		switch {
		case !ok:
			return kerr.UnknownMemberID
		case memberID != "" && memberID != id:
			return kerr.FencedInstanceID
		}
		memberID = id
	} else if _, ok := g.pending[memberID]; ok {
		delete(g.pending, memberID)
		g.maybeCompleteJoin(e)
		return nil
	}
	m := g.members[memberID]
	if m == nil {
		return kerr.UnknownMemberID
	}
	g.removeMember(e, m)
	return nil
}

func (g *group) anyExpired(now time.Time) bool {
	for _, m := range g.members {
		if m.expired(now) {
			return true
		}
	}
	return false
}

// nextDeadline is when advance next has something to do; zero for never.
func (g *group) nextDeadline() time.Time {
	var next time.Time
	at := func(t time.Time) {
		if !t.IsZero() && (next.IsZero() || t.Before(next)) {
			next = t
		}
	}
	for _, t := range g.pending {
		at(t)
	}
	for _, m := range g.members {
		if m.isNew || (m.join == nil && m.sync == nil) {
			at(m.sessionDeadline)
		}
	}
	if g.state == statePreparingRebalance {
		at(g.joinDeadline)
	}
	if (g.state == stateCompletingRebalance || g.state == stateStable) && len(g.pendingSync) > 0 {
		at(g.syncDeadline)
	}
	if g.consumer != nil { // weir: KIP-848
		at(g.consumer.nextDeadline())
	}
	return next
}

// advance does what is due at e.now: member ids handed out and never used
// lapse, members whose session ended are removed, the join phase ends at
// its deadline (or the initial delay is extended while members keep
// coming), and members that never synced are removed. In a consumer
// group, members whose session or rebalance timeout ended are removed.
func (g *group) advance(e env) {
	if g.consumer != nil { // weir: KIP-848
		g.consumer.advance(e.now)
		return
	}
	for progress := true; progress; {
		progress = false
		for id, t := range g.pending {
			if !e.now.Before(t) {
				delete(g.pending, id)
				progress = true
			}
		}
		if progress {
			g.maybeCompleteJoin(e)
		}
		if g.anyExpired(e.now) { // (sorting only then keeps heartbeats cheap)
			for _, m := range g.sortedMembers() {
				if g.members[m.id] == m && m.expired(e.now) {
					g.removeMember(e, m)
					progress = true
				}
			}
		}
		if g.state == statePreparingRebalance && !e.now.Before(g.joinDeadline) {
			if g.initialDelay && g.newMemberAdded && g.delayRemaining > 0 {
				d := min(e.cfg.InitialRebalanceDelay, g.delayRemaining)
				g.delayRemaining -= d
				g.newMemberAdded = false
				g.joinDeadline = g.joinDeadline.Add(d)
			} else {
				g.completeJoin(e)
			}
			progress = true
		}
		if (g.state == stateCompletingRebalance || g.state == stateStable) && len(g.pendingSync) > 0 && !e.now.Before(g.syncDeadline) {
			for _, m := range g.sortedMembers() {
				if g.pendingSync[m.id] {
					g.drop(m)
				}
			}
			clear(g.pendingSync)
			g.prepareRebalance(e)
			progress = true
		}
	}
}
