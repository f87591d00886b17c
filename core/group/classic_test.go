package group

import (
	"slices"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// State-machine tests: the group driven directly, time moved by hand.

func TestMemberIDRequired(t *testing.T) {
	s := newSM(t)
	r := s.joinReq("", "")
	r.version = 4
	res, wait := s.join(r)
	if res.err != kerr.MemberIDRequired || wait != nil || res.memberID != r.newMemberID {
		t.Fatalf("first join: %+v, want MEMBER_ID_REQUIRED with id %s", res, r.newMemberID)
	}
	if s.g.state != stateEmpty || len(s.g.members) != 0 || len(s.g.pending) != 1 {
		t.Fatalf("after the first join: %v, %d members, %d pending", s.g.state, len(s.g.members), len(s.g.pending))
	}
	// Back with the id: it joins, and (no initial delay) the generation
	// forms at once.
	again := s.joinReq(res.memberID, "")
	again.version = 4
	_, wait = s.join(again)
	got := answered(t, wait)
	if got.err != nil || got.generation != 1 || got.leader != res.memberID || len(got.members) != 1 {
		t.Fatalf("second join: %+v", got)
	}
	if s.g.state != stateCompletingRebalance {
		t.Fatalf("state %v, want CompletingRebalance", s.g.state)
	}

	// An id handed out and never used lapses after the session timeout,
	// and holds up a rebalance until then.
	r = s.joinReq("", "")
	r.version = 4
	if res, _ := s.join(r); res.err != kerr.MemberIDRequired {
		t.Fatalf("third join: %v", res.err)
	}
	again.protocols = protocols("range", "roundrobin")
	_, wait = s.join(again) // the member rejoins with new metadata: a rebalance
	unanswered(t, wait)
	s.advance(r.sessionTimeout)
	if got := answered(t, wait); got.err != nil || got.generation != 2 {
		t.Fatalf("rejoin after the pending id lapsed: %+v", got)
	}
	if len(s.g.pending) != 0 {
		t.Fatalf("pending ids left: %v", s.g.pending)
	}

	// Before v4 there is no round trip.
	old := s.joinReq("", "")
	old.version = 3
	if _, wait := s.join(old); wait == nil {
		t.Fatal("a v3 join without a member id was not taken in")
	}
}

func TestJoinSyncHeartbeatFlow(t *testing.T) {
	s := newSM(t)
	ids := s.stableGroup(2)
	a, b := ids[0], ids[1]
	if s.g.generation != 2 || s.g.leader != a {
		t.Fatalf("generation %d leader %s, want 2 and %s", s.g.generation, s.g.leader, a)
	}
	if got := string(s.g.members[b].assignment); got != "a-"+b {
		t.Fatalf("follower's assignment %q", got)
	}
	wantErr(t, "heartbeat in a stable group", s.g.heartbeat(s.env(), b, "", 2), nil)

	// A third member starts a rebalance; the others learn of it by
	// heartbeat and rejoin.
	_, wc := s.join(s.joinReq("", ""))
	if s.g.state != statePreparingRebalance {
		t.Fatalf("state %v", s.g.state)
	}
	wantErr(t, "heartbeat during a rebalance", s.g.heartbeat(s.env(), a, "", 2), kerr.RebalanceInProgress)
	wantErr(t, "sync during a rebalance", syncErr(s, a, 2), kerr.RebalanceInProgress)
	_, wa := s.join(s.joinReq(a, ""))
	unanswered(t, wa)
	_, wb := s.join(s.joinReq(b, ""))
	ra, rb, rc := answered(t, wa), answered(t, wb), answered(t, wc)
	if ra.generation != 3 || rb.generation != 3 || rc.generation != 3 {
		t.Fatalf("generations %d %d %d, want 3", ra.generation, rb.generation, rc.generation)
	}
	if len(ra.members) != 3 || len(rb.members) != 0 || ra.leader != a || rb.leader != a {
		t.Fatalf("leader got %d members, follower %d; leader %s", len(ra.members), len(rb.members), ra.leader)
	}
	if ra.protocol != "range" || ra.protocolType != "consumer" {
		t.Fatalf("protocol %s/%s", ra.protocolType, ra.protocol)
	}

	// Followers that sync first wait for the leader's assignment.
	_, wsb, leader := s.g.sync(s.env(), &syncRequest{memberID: b, generation: 3})
	if leader || wsb == nil {
		t.Fatal("follower's sync did not wait")
	}
	wantErr(t, "commit while completing the rebalance", s.g.validateCommit(&commitRequest{memberID: b, generation: 3}), kerr.RebalanceInProgress)
	_, wsa, leader := s.g.sync(s.env(), &syncRequest{memberID: a, generation: 3})
	if !leader {
		t.Fatal("leader's sync not recognised")
	}
	unanswered(t, wsb)
	in := []kmsg.SyncGroupRequestGroupAssignment{{MemberID: b, MemberAssignment: []byte("B")}, {MemberID: "stranger", MemberAssignment: []byte("X")}}
	s.g.completeSync(s.env(), s.g.assignments(in), nil)
	if got := answered(t, wsb); string(got.assignment) != "B" {
		t.Fatalf("follower got %q", got.assignment)
	}
	if got := answered(t, wsa); got.err != nil || len(got.assignment) != 0 {
		t.Fatalf("leader (left out of its own assignment) got %+v", got)
	}
	// The third member syncs after the group is stable: it gets its
	// (empty) assignment at once.
	if res, w, _ := s.g.sync(s.env(), &syncRequest{memberID: rc.memberID, generation: 3}); w != nil || res.err != nil {
		t.Fatalf("late sync: %+v", res)
	}
	if s.g.state != stateStable || len(s.g.pendingSync) != 0 {
		t.Fatalf("state %v, pending sync %v", s.g.state, s.g.pendingSync)
	}
	wantErr(t, "commit from a member", s.g.validateCommit(&commitRequest{memberID: b, generation: 3}), nil)
}

func syncErr(s *sm, id string, gen int32) *kerr.Error { return syncErrAs(s, id, "", gen) }

func syncErrAs(s *sm, id, instance string, gen int32) *kerr.Error {
	res, _, _ := s.g.sync(s.env(), &syncRequest{memberID: id, instanceID: instance, generation: gen})
	return res.err
}

func TestGenerationAndMemberChecks(t *testing.T) {
	s := newSM(t)
	ids := s.stableGroup(2)
	inst := "i1"
	for _, c := range []struct {
		name       string
		member     string
		instance   string
		generation int32
		want       *kerr.Error
	}{
		{"current", ids[0], "", 2, nil},
		{"old generation", ids[0], "", 1, kerr.IllegalGeneration},
		{"future generation", ids[0], "", 3, kerr.IllegalGeneration},
		{"unknown member", "nobody", "", 2, kerr.UnknownMemberID},
		{"unknown instance", ids[0], inst, 2, kerr.UnknownMemberID},
	} {
		wantErr(t, "heartbeat: "+c.name, s.g.heartbeat(s.env(), c.member, c.instance, c.generation), c.want)
		wantErr(t, "sync: "+c.name, syncErrAs(s, c.member, c.instance, c.generation), c.want)
		wantErr(t, "commit: "+c.name, s.g.validateCommit(&commitRequest{memberID: c.member, instanceID: c.instance, generation: c.generation}), c.want)
	}
	// Commits from outside group management: only while the group is
	// empty.
	wantErr(t, "simple commit to a group with members", s.g.validateCommit(&commitRequest{generation: -1}), kerr.UnknownMemberID)
	for _, id := range ids {
		wantErr(t, "leave", s.g.leave(s.env(), id, ""), nil)
	}
	if s.g.state != stateEmpty || s.g.generation != 3 || s.g.unwritten == nil {
		t.Fatalf("after everyone left: %v generation %d, unwritten %v", s.g.state, s.g.generation, s.g.unwritten)
	}
	wantErr(t, "simple commit to an empty group", s.g.validateCommit(&commitRequest{generation: -1}), nil)
	wantErr(t, "heartbeat to an empty group", s.g.heartbeat(s.env(), ids[0], "", 3), kerr.UnknownMemberID)
	wantErr(t, "leave of a gone member", s.g.leave(s.env(), ids[0], ""), kerr.UnknownMemberID)
	// Protocol type and name must match from SyncGroup v5.
	ids = s.stableGroup(1)
	other := "other"
	res, _, _ := s.g.sync(s.env(), &syncRequest{memberID: ids[0], generation: s.g.generation, protocol: &other})
	wantErr(t, "sync with another protocol", res.err, kerr.InconsistentGroupProtocol)
}

func TestRebalanceTimeoutRemovesLateMembers(t *testing.T) {
	s := newSM(t)
	ids := s.stableGroup(3)
	// A leaves; B rejoins; C never does.
	wantErr(t, "leave", s.g.leave(s.env(), ids[0], ""), nil)
	_, wb := s.join(s.joinReq(ids[1], ""))
	// C is alive (it heartbeats) but does not rejoin.
	for range 3 {
		s.advance(9 * time.Second)
		wantErr(t, "late member's heartbeat", s.g.heartbeat(s.env(), ids[2], "", 2), kerr.RebalanceInProgress)
	}
	s.advance(2 * time.Second)
	unanswered(t, wb)
	s.advance(time.Second) // the 30s rebalance timeout
	got := answered(t, wb)
	if got.err != nil || got.generation != 3 || got.leader != ids[1] || len(got.members) != 1 {
		t.Fatalf("after the rebalance timeout: %+v", got)
	}
	if _, ok := s.g.members[ids[2]]; ok {
		t.Fatal("the member that did not rejoin is still in the group")
	}
	wantErr(t, "removed member's heartbeat", s.g.heartbeat(s.env(), ids[2], "", 3), kerr.UnknownMemberID)
}

func TestSessionTimeout(t *testing.T) {
	s := newSM(t)
	ids := s.stableGroup(2)
	s.advance(9 * time.Second)
	wantErr(t, "heartbeat", s.g.heartbeat(s.env(), ids[0], "", 2), nil)
	s.advance(2 * time.Second)
	if s.g.members[ids[1]] != nil {
		t.Fatal("silent member outlived its session")
	}
	if s.g.state != statePreparingRebalance {
		t.Fatalf("state %v after a member timed out", s.g.state)
	}
	wantErr(t, "heartbeat", s.g.heartbeat(s.env(), ids[0], "", 2), kerr.RebalanceInProgress)
	_, w := s.join(s.joinReq(ids[0], ""))
	if got := answered(t, w); got.generation != 3 {
		t.Fatalf("rejoin: %+v", got)
	}
	// A member that never syncs is removed after the rebalance timeout.
	_, w2 := s.join(s.joinReq("", ""))
	_, w1 := s.join(s.joinReq(ids[0], ""))
	answered(t, w1)
	silent := answered(t, w2).memberID
	if _, _, leader := s.g.sync(s.env(), &syncRequest{memberID: ids[0], generation: 4}); !leader {
		t.Fatal("not the leader")
	}
	s.g.completeSync(s.env(), s.g.assignments(nil), nil)
	for range 3 {
		s.advance(9 * time.Second)
		for _, id := range []string{ids[0], silent} {
			wantErr(t, "heartbeat", s.g.heartbeat(s.env(), id, "", 4), nil)
		}
	}
	s.advance(3 * time.Second)
	if len(s.g.members) != 1 || s.g.state != statePreparingRebalance {
		t.Fatalf("after the sync timeout: %d members, %v", len(s.g.members), s.g.state)
	}
}

func TestInitialRebalanceDelay(t *testing.T) {
	s := newSM(t)
	s.cfg.InitialRebalanceDelay = 3 * time.Second
	_, wa := s.join(s.joinReq("", ""))
	s.advance(2 * time.Second)
	_, wb := s.join(s.joinReq("", ""))
	s.advance(time.Second)
	// A member came during the delay: it is extended by another delay.
	unanswered(t, wa)
	s.advance(2 * time.Second)
	unanswered(t, wa)
	s.advance(time.Second)
	ra, rb := answered(t, wa), answered(t, wb)
	if ra.generation != 1 || rb.generation != 1 || len(ra.members)+len(rb.members) != 2 {
		t.Fatalf("after the delay: %+v %+v", ra, rb)
	}
	// The delay never runs past the rebalance timeout (30s).
	s2 := newSM(t)
	s2.cfg.InitialRebalanceDelay = 20 * time.Second
	_, w := s2.join(s2.joinReq("", ""))
	s2.advance(19 * time.Second)
	s2.join(s2.joinReq("", ""))
	s2.advance(time.Second) // extended by min(20s, 10s left)
	unanswered(t, w)
	s2.advance(10 * time.Second)
	answered(t, w)
}

func TestStaticMembership(t *testing.T) {
	s := newSM(t)
	_, wa := s.join(s.joinReq("", "ia"))
	a := answered(t, wa).memberID
	_, wb := s.join(s.joinReq("", ""))
	_, wa = s.join(s.joinReq(a, "ia"))
	b := answered(t, wb).memberID
	answered(t, wa)
	s.syncAll([]string{a, b})
	gen := s.g.generation

	// The static member restarts: it comes back without a member id and
	// takes its place without a rebalance.
	r := s.joinReq("", "ia")
	r.version = 5
	res, wait, write := s.g.join(s.env(), r)
	if wait != nil || !write || res.err != nil || res.generation != gen || res.memberID == a {
		t.Fatalf("static rejoin: %+v (wait %v, write %v)", res, wait != nil, write)
	}
	if res.leader != a {
		t.Fatalf("a v5 static leader's rejoin names leader %s, want the old id %s", res.leader, a)
	}
	if s.g.state != stateStable || string(s.g.members[res.memberID].assignment) != "a-"+a {
		t.Fatalf("state %v, assignment %q", s.g.state, s.g.members[res.memberID].assignment)
	}
	// The old id is fenced.
	wantErr(t, "old id heartbeat", s.g.heartbeat(s.env(), a, "ia", gen), kerr.FencedInstanceID)
	wantErr(t, "old id commit", s.g.validateCommit(&commitRequest{memberID: a, instanceID: "ia", generation: gen}), kerr.FencedInstanceID)
	wantErr(t, "old id leave", s.g.leave(s.env(), a, "ia"), kerr.FencedInstanceID)
	wantErr(t, "old id without instance", s.g.heartbeat(s.env(), a, "", gen), kerr.UnknownMemberID)
	a = res.memberID
	wantErr(t, "new id heartbeat", s.g.heartbeat(s.env(), a, "ia", gen), nil)

	// From v9 a returning leader is told it leads, and to skip assigning.
	r = s.joinReq("", "ia")
	r.version = 9
	r.sessionTimeout = time.Minute
	res, _, _ = s.g.join(s.env(), r)
	if !res.skipAssignment || res.leader != res.memberID || len(res.members) != 2 {
		t.Fatalf("v9 static leader rejoin: %+v", res)
	}
	a = res.memberID

	// A static member down during a rebalance keeps its place; it is
	// removed only when its session (a minute) ends.
	_, wc := s.join(s.joinReq("", ""))
	_, wb = s.join(s.joinReq(b, ""))
	s.advance(9 * time.Second)
	s.g.heartbeat(s.env(), b, "", gen)
	s.advance(21 * time.Second)
	rb := answered(t, wb)
	answered(t, wc)
	if s.g.members[a] == nil || rb.leader == a {
		t.Fatalf("absent static member: in group %v, leader %s", s.g.members[a] != nil, rb.leader)
	}
	// A static member's join that changes the selected protocol starts a
	// rebalance; one whose old id is parked fences that request.
	r = s.joinReq(a, "ia", "range", "x")
	r.sessionTimeout = time.Minute
	_, wold := s.join(r)
	r = s.joinReq("", "ia")
	r.sessionTimeout = time.Minute
	_, wnew := s.join(r)
	if got := answered(t, wold); got.err != kerr.FencedInstanceID {
		t.Fatalf("parked join of the replaced id: %v", got.err)
	}
	unanswered(t, wnew)
}

func TestProtocolSelectionAndConsistency(t *testing.T) {
	s := newSM(t)
	s.cfg.InitialRebalanceDelay = time.Second
	s.join(s.joinReq("", "", "range", "roundrobin"))
	s.join(s.joinReq("", "", "roundrobin", "range"))
	_, w := s.join(s.joinReq("", "", "roundrobin", "sticky"))
	res, _ := s.join(s.joinReq("", "", "sticky"))
	wantErr(t, "join sharing no protocol with the group", res.err, kerr.InconsistentGroupProtocol)
	r := s.joinReq("", "")
	r.protocolType = "connect"
	res, _ = s.join(r)
	wantErr(t, "join with another protocol type", res.err, kerr.InconsistentGroupProtocol)
	s.advance(time.Second)
	unanswered(t, w) // members came during the delay: extended
	s.advance(time.Second)
	if got := answered(t, w); got.protocol != "roundrobin" {
		t.Fatalf("selected %q, want roundrobin", got.protocol)
	}
	empty := newSM(t)
	r = empty.joinReq("", "")
	r.protocols = nil
	res, _ = empty.join(r)
	wantErr(t, "join without protocols", res.err, kerr.InconsistentGroupProtocol)
}

func TestGroupMaxSize(t *testing.T) {
	s := newSM(t)
	s.cfg.MaxSize = 2
	ids := s.stableGroup(2)
	res, _ := s.join(s.joinReq("", ""))
	wantErr(t, "third member", res.err, kerr.GroupMaxSizeReached)
	// Known members still rejoin.
	_, w := s.join(s.joinReq(ids[1], "", "range", "x"))
	unanswered(t, w)
	res, _ = s.join(s.joinReq("", ""))
	wantErr(t, "third member during a rebalance with room", res.err, nil)
	res, _ = s.join(s.joinReq("", ""))
	wantErr(t, "fourth member during a rebalance", res.err, kerr.GroupMaxSizeReached)
}

func TestCooperativeTwoRebalances(t *testing.T) {
	// Cooperative rebalancing is client-driven: members rejoin right
	// after a generation forms, keeping their ids, and the broker runs
	// two rebalances back to back.
	s := newSM(t)
	ids := s.stableGroup(2, "cooperative-sticky")
	_, wc := s.join(s.joinReq("", "", "cooperative-sticky"))
	_, w0 := s.join(s.joinReq(ids[0], "", "cooperative-sticky"))
	_, w1 := s.join(s.joinReq(ids[1], "", "cooperative-sticky"))
	first := []joinResult{answered(t, w0), answered(t, w1), answered(t, wc)}
	gen := s.g.generation
	var all []string
	for _, r := range first {
		all = append(all, r.memberID)
	}
	s.syncAll(all)
	// Second round: every member rejoins with unchanged ids.
	var waits []chan joinResult
	for _, id := range all {
		_, w := s.join(s.joinReq(id, "", "cooperative-sticky"))
		waits = append(waits, w)
	}
	for i, w := range waits {
		r := answered(t, w)
		if r.memberID != all[i] || r.generation != gen+1 {
			t.Fatalf("second rebalance: %+v", r)
		}
	}
	s.syncAll(all)
	if !slices.Equal(slices.Sorted(func(yield func(string) bool) {
		for id := range s.g.members {
			yield(id)
		}
	}), slices.Sorted(slices.Values(all))) {
		t.Fatal("members changed across the two rebalances")
	}
}
