package partition

import (
	"errors"
	"fmt"
	"slices"
)

// This file is the replication state machine of one partition replica
// (ARCHITECTURE §2, Replication). It is pure: no I/O, no clock, no locks, no
// goroutines. Events come in as method calls carrying the time they
// happened (milliseconds); what the driver must do comes out as effects —
// the HW moved (wake waiters), the role changed (fail acks=all waiters),
// an ISR change to send to the controller. Partition (partition.go,
// replication.go) is the driver: it holds the machine under its lock and
// does the log and network work around it.
//
// The rules are Kafka's:
//   - HW = min LEO over the ISR. A follower's LEO is the offset it fetches
//     from; a follower whose LEO the new leader does not know yet holds the
//     HW back until it fetches.
//   - A follower is out of sync when it has not caught up with the leader's
//     LEO within replica.lag.time.max.ms (lastCaughtUpTime: a fetch at or
//     past the leader's LEO catches up "now"; a fetch at or past the LEO the
//     leader had at the follower's previous fetch catches up as of that
//     previous fetch).
//   - A follower rejoins once its LEO reaches the HW and the offset at which
//     the current leader epoch started, unless the controller would refuse
//     it (fenced, shutting down).
//   - ISR changes go through the controller, one at a time. While one is in
//     flight the HW is computed over the maximal ISR (committed ∪
//     proposed), so the HW never advances on an ISR smaller than the one
//     the controller committed (KIP-497).
//   - Leadership from the metadata is ordered by (leader epoch, partition
//     epoch); an older one is ignored.

// role is what a replica is doing.
type role uint8

const (
	roleNone     role = iota // not told yet
	roleLeader               // serves produce and fetch, tracks followers
	roleFollower             // fetches from the leader
)

func (r role) String() string {
	switch r {
	case roleLeader:
		return "leader"
	case roleFollower:
		return "follower"
	}
	return "none"
}

// Leadership is one partition's leadership as the controller committed it:
// what a metadata image says about the partition.
type Leadership struct {
	Leader         int32 // broker id; -1 for none
	LeaderEpoch    int32
	PartitionEpoch int32
	Replicas       []int32
	ISR            []int32
	// Ineligible are replicas that may not join the ISR now (fenced, or
	// shutting down): the controller would refuse an ISR with them.
	Ineligible []int32
}

// EpochEndOffset answers "where does epoch E end": the largest epoch at or
// below E that a log holds and the offset at which it ended (the start of
// the next epoch, or the log end offset for the latest). It is the
// OffsetForLeaderEpoch answer and Fetch's DivergingEpoch. {-1, -1} is
// unknown.
type EpochEndOffset struct {
	Epoch     int32
	EndOffset int64
}

// UnknownEpochEnd is the EpochEndOffset of an epoch the log knows nothing
// about.
var UnknownEpochEnd = EpochEndOffset{Epoch: -1, EndOffset: -1}

// ISRChange is an ISR change the leader asks the controller to commit
// (Kafka's AlterPartition): the new ISR, sorted, and the leader and
// partition epochs it was computed under. The controller refuses it if
// either epoch is stale.
type ISRChange struct {
	LeaderEpoch    int32
	PartitionEpoch int32
	ISR            []int32
}

func (c *ISRChange) String() string {
	return fmt.Sprintf("isr=%v leader-epoch=%d partition-epoch=%d", c.ISR, c.LeaderEpoch, c.PartitionEpoch)
}

// isrOutcome is the controller's answer to an ISRChange.
type isrOutcome uint8

const (
	isrCommitted isrOutcome = iota // applied, at a new partition epoch
	isrRejected                    // refused (stale epochs, ineligible replica): drop it
)

// Errors of the state machine. Partition maps them to its exported errors.
var (
	errStaleLeadership = errors.New("stale leadership: an older leader or partition epoch than the replica has")
	errNotLeader       = errors.New("not the leader")
	errUnknownReplica  = errors.New("not a replica of the partition")
)

// followerState is what the leader knows of one follower.
type followerState struct {
	leo                int64 // the follower's LEO: its last fetch offset; -1 unknown
	lastFetchMs        int64
	lastFetchLeaderLEO int64 // the leader's LEO at the follower's last fetch; -1 unknown
	lastCaughtUpMs     int64
}

// effects is what an event asks the driver to do.
type effects struct {
	hwMoved     bool       // wake waiters: the HW changed
	roleChanged bool       // leadership or leader epoch changed: acks=all waiters fail, fetchers move
	propose     *ISRChange // send to the controller
	// ISR changes that took effect (committed), for the metrics.
	shrinks, expands int
}

func (e *effects) merge(o effects) {
	e.hwMoved = e.hwMoved || o.hwMoved
	e.roleChanged = e.roleChanged || o.roleChanged
	if o.propose != nil {
		e.propose = o.propose
	}
	e.shrinks += o.shrinks
	e.expands += o.expands
}

// replicaState is the replication state machine of one replica. It is not
// safe for concurrent use: Partition holds it under its lock.
type replicaState struct {
	localID        int32
	lagMaxMs       int64 // replica.lag.time.max.ms
	retryBackoffMs int64 // after a refused ISR change, wait this long before proposing another

	role           role
	leader         int32
	leaderEpoch    int32
	partitionEpoch int32
	replicas       []int32 // sorted
	isr            []int32 // committed, sorted
	pending        *ISRChange
	noProposalMs   int64   // no ISR change is proposed before this time
	ineligible     []int32 // may not join the ISR now

	leo              int64
	hw               int64
	epochStartOffset int64 // the leader's LEO when its epoch began
	followers        map[int32]*followerState
}

// defaultISRRetryBackoffMs is how long a leader waits after the controller
// refused an ISR change before it proposes another.
const defaultISRRetryBackoffMs = 100

// newReplicaState returns a replica that has not been told its role, with
// the log's LEO and a starting HW (from the checkpoint), at most the LEO.
func newReplicaState(localID int32, hw, leo, lagMaxMs int64) *replicaState {
	return &replicaState{
		localID: localID, lagMaxMs: lagMaxMs, retryBackoffMs: defaultISRRetryBackoffMs,
		leader: -1, leaderEpoch: -1, partitionEpoch: -1,
		leo: leo, hw: max(min(hw, leo), 0),
	}
}

// stale reports whether st is older than what the replica has seen.
func (s *replicaState) stale(st Leadership) bool {
	return st.LeaderEpoch < s.leaderEpoch ||
		(st.LeaderEpoch == s.leaderEpoch && st.PartitionEpoch < s.partitionEpoch)
}

func sortedIDs(ids []int32) []int32 {
	out := slices.Clone(ids)
	slices.Sort(out)
	return slices.Compact(out)
}

// becomeLeader applies leadership that names this replica leader, with the
// log's LEO. In the same leader epoch it is an ISR or replica update (a
// newer partition epoch); a new epoch starts a new term: followers' LEOs
// are forgotten, ISR members count as caught up now, and the epoch starts
// at the LEO.
func (s *replicaState) becomeLeader(st Leadership, leo, nowMs int64) (effects, error) {
	if s.role != roleNone && s.stale(st) {
		return effects{}, errStaleLeadership
	}
	s.ineligible = sortedIDs(st.Ineligible)
	if s.role == roleLeader && st.LeaderEpoch == s.leaderEpoch {
		if s.sameMembership(st) {
			return effects{}, nil // the same image again, or one about another partition
		}
		return s.updateMembership(st, nowMs), nil
	}
	s.role, s.leader = roleLeader, s.localID
	s.leaderEpoch, s.partitionEpoch = st.LeaderEpoch, st.PartitionEpoch
	s.replicas, s.isr = sortedIDs(st.Replicas), sortedIDs(st.ISR)
	s.pending, s.noProposalMs = nil, 0
	s.leo, s.epochStartOffset = leo, leo
	s.hw = min(s.hw, leo)
	s.followers = make(map[int32]*followerState, len(s.replicas))
	for _, id := range s.replicas {
		if id != s.localID {
			s.followers[id] = s.newFollower(id, nowMs)
		}
	}
	eff := effects{roleChanged: true}
	s.advanceHW(&eff)
	return eff, nil
}

// newFollower is a follower as a leader starts it: LEO unknown, caught up
// now if it is in the ISR (so it gets a full replica.lag.time.max.ms), long
// ago otherwise.
func (s *replicaState) newFollower(id int32, nowMs int64) *followerState {
	f := &followerState{leo: -1, lastFetchLeaderLEO: -1}
	if slices.Contains(s.isr, id) {
		f.lastCaughtUpMs = nowMs
	}
	return f
}

// sameMembership reports whether st is what the replica has: the same
// partition epoch, replicas and ISR.
func (s *replicaState) sameMembership(st Leadership) bool {
	return st.PartitionEpoch == s.partitionEpoch &&
		slices.Equal(sortedIDs(st.ISR), s.isr) && slices.Equal(sortedIDs(st.Replicas), s.replicas)
}

// updateMembership applies a newer partition epoch within the leader's
// term: the committed ISR and replicas as the controller has them now (an
// image at the partition epoch the replica already has wins over what the
// replica assumed from the controller's answer). It settles any ISR change
// in flight: the metadata is the controller's answer.
func (s *replicaState) updateMembership(st Leadership, nowMs int64) effects {
	var eff effects
	newISR := sortedIDs(st.ISR)
	eff.shrinks, eff.expands = isrDiff(s.isr, newISR)
	s.partitionEpoch = st.PartitionEpoch
	s.isr, s.replicas = newISR, sortedIDs(st.Replicas)
	s.pending = nil
	for id := range s.followers {
		if !slices.Contains(s.replicas, id) {
			delete(s.followers, id)
		}
	}
	for _, id := range s.replicas {
		if _, ok := s.followers[id]; !ok && id != s.localID {
			s.followers[id] = s.newFollower(id, nowMs)
		}
	}
	s.advanceHW(&eff)
	return eff
}

// isrDiff counts a change from old to new as a shrink (members removed)
// and an expansion (members added); both are sorted.
func isrDiff(old, new []int32) (shrinks, expands int) {
	for _, id := range old {
		if !slices.Contains(new, id) {
			shrinks = 1
		}
	}
	for _, id := range new {
		if !slices.Contains(old, id) {
			expands = 1
		}
	}
	return shrinks, expands
}

// becomeFollower applies leadership that names another broker (or none)
// leader. It reports truncate when the replica starts following a new
// leader epoch: before fetching, it must find where its log diverges from
// the leader's (OffsetForLeaderEpoch) and truncate there.
func (s *replicaState) becomeFollower(st Leadership, leo int64) (eff effects, truncate bool, err error) {
	if s.role != roleNone && s.stale(st) {
		return effects{}, false, errStaleLeadership
	}
	if s.role == roleFollower && st.LeaderEpoch == s.leaderEpoch && st.Leader == s.leader {
		s.partitionEpoch = max(s.partitionEpoch, st.PartitionEpoch)
		s.replicas, s.isr = sortedIDs(st.Replicas), sortedIDs(st.ISR)
		return effects{}, false, nil
	}
	s.role, s.leader = roleFollower, st.Leader
	s.leaderEpoch, s.partitionEpoch = st.LeaderEpoch, st.PartitionEpoch
	s.replicas, s.isr = sortedIDs(st.Replicas), sortedIDs(st.ISR)
	s.pending, s.followers = nil, nil
	s.leo = leo
	eff = effects{roleChanged: true}
	if hw := min(s.hw, leo); hw != s.hw {
		s.hw, eff.hwMoved = hw, true
	}
	return eff, st.Leader >= 0, nil
}

// followerFetch records a follower's fetch from offset (its LEO) at nowMs,
// advances the HW and may propose adding the follower to the ISR. The
// driver calls it for fetches that do not diverge, before reading.
func (s *replicaState) followerFetch(id int32, offset, nowMs int64) (effects, error) {
	if s.role != roleLeader {
		return effects{}, errNotLeader
	}
	f := s.followers[id]
	if f == nil {
		return effects{}, fmt.Errorf("%w: broker %d", errUnknownReplica, id)
	}
	if offset < 0 || offset > s.leo {
		return effects{}, fmt.Errorf("follower %d fetch offset %d is outside [0, %d]", id, offset, s.leo)
	}
	switch {
	case offset >= s.leo:
		f.lastCaughtUpMs = max(f.lastCaughtUpMs, nowMs)
	case f.lastFetchLeaderLEO >= 0 && offset >= f.lastFetchLeaderLEO:
		f.lastCaughtUpMs = max(f.lastCaughtUpMs, f.lastFetchMs)
	}
	f.lastFetchLeaderLEO, f.lastFetchMs, f.leo = s.leo, nowMs, offset
	var eff effects
	if s.pending == nil && nowMs >= s.noProposalMs && !slices.Contains(s.isr, id) &&
		!slices.Contains(s.ineligible, id) && offset >= s.hw && offset >= s.epochStartOffset {
		s.propose(append(slices.Clone(s.isr), id), &eff)
	}
	s.advanceHW(&eff)
	return eff, nil
}

// tick checks the ISR for followers that have fallen behind for longer
// than replica.lag.time.max.ms and proposes removing them.
func (s *replicaState) tick(nowMs int64) effects {
	var eff effects
	if s.role != roleLeader || s.pending != nil || nowMs < s.noProposalMs {
		return eff
	}
	var keep []int32
	for _, id := range s.isr {
		if id == s.localID || s.caughtUp(id, nowMs) {
			keep = append(keep, id)
		}
	}
	if len(keep) < len(s.isr) {
		s.propose(keep, &eff)
	}
	return eff
}

// caughtUp is Kafka's isCaughtUp: at the leader's LEO, or caught up within
// replica.lag.time.max.ms.
func (s *replicaState) caughtUp(id int32, nowMs int64) bool {
	f := s.followers[id]
	if f == nil {
		return false
	}
	return f.leo == s.leo || nowMs-f.lastCaughtUpMs <= s.lagMaxMs
}

func (s *replicaState) propose(isr []int32, eff *effects) {
	s.pending = &ISRChange{LeaderEpoch: s.leaderEpoch, PartitionEpoch: s.partitionEpoch, ISR: sortedIDs(isr)}
	eff.propose = s.pending
}

// isrAnswer applies the controller's answer to change; for a committed
// change, partitionEpoch is the partition epoch the controller gave it. An
// answer to a change that is no longer the one in flight (settled by newer
// metadata, or from an older term) is ignored.
func (s *replicaState) isrAnswer(change *ISRChange, outcome isrOutcome, partitionEpoch int32, nowMs int64) effects {
	var eff effects
	if s.role != roleLeader || s.pending == nil || s.pending != change {
		return eff
	}
	s.pending = nil
	switch outcome {
	case isrCommitted:
		if change.LeaderEpoch == s.leaderEpoch && change.PartitionEpoch == s.partitionEpoch && partitionEpoch > s.partitionEpoch {
			eff.shrinks, eff.expands = isrDiff(s.isr, change.ISR)
			s.isr = change.ISR
			s.partitionEpoch = partitionEpoch
		}
	case isrRejected:
		s.noProposalMs = nowMs + s.retryBackoffMs
	}
	s.advanceHW(&eff)
	return eff
}

// maximalISR is the committed ISR with the members an in-flight change
// adds (KIP-497): the HW waits for all of them.
func (s *replicaState) maximalISR() []int32 {
	if s.pending == nil {
		return s.isr
	}
	out := slices.Clone(s.isr)
	for _, id := range s.pending.ISR {
		if !slices.Contains(out, id) {
			out = append(out, id)
		}
	}
	return out
}

// advanceHW moves the leader's HW up to the smallest LEO of the maximal
// ISR. The HW never goes backwards here.
func (s *replicaState) advanceHW(eff *effects) {
	if s.role != roleLeader {
		return
	}
	hw := s.leo
	for _, id := range s.maximalISR() {
		if id == s.localID {
			continue
		}
		if f := s.followers[id]; f == nil {
			hw = -1
		} else {
			hw = min(hw, f.leo)
		}
	}
	if hw > s.hw {
		s.hw, eff.hwMoved = hw, true
	}
}

// localAppend records the log's new LEO after an append (as leader or
// follower).
func (s *replicaState) localAppend(leo int64) effects {
	var eff effects
	s.leo = leo
	s.advanceHW(&eff)
	return eff
}

// truncated records a follower's truncation: the LEO moved (down, or to
// a new log start after emptying the log), and the HW stays within
// [logStart, LEO].
func (s *replicaState) truncated(leo, logStart int64) effects {
	var eff effects
	s.leo = leo
	if hw := max(min(s.hw, leo), logStart); hw != s.hw {
		s.hw, eff.hwMoved = hw, true
	}
	return eff
}

// leaderHW records the HW a follower's fetch response carried: the
// follower's HW is the leader's, at most its own LEO.
func (s *replicaState) leaderHW(hw int64) effects {
	var eff effects
	if s.role != roleFollower {
		return eff
	}
	if hw = max(min(hw, s.leo), 0); hw != s.hw {
		s.hw, eff.hwMoved = hw, true
	}
	return eff
}

// checkMinISR is the acks=all check before an append: the committed ISR
// must have at least minISR members (Kafka's NOT_ENOUGH_REPLICAS).
func (s *replicaState) checkMinISR(minISR int) error {
	if s.role != roleLeader {
		return errNotLeader
	}
	if len(s.isr) < minISR {
		return fmt.Errorf("%w: min.insync.replicas is %d, the ISR %v has %d", ErrNotEnoughReplicas, minISR, s.isr, len(s.isr))
	}
	return nil
}

// ackState is where an acks=all write whose last offset is lastOffset,
// appended in leader epoch epoch, stands.
type ackState uint8

const (
	ackWaiting        ackState = iota // the HW has not passed it yet
	ackDone                           // replicated to the ISR, which has min.insync.replicas
	ackTooFewISR                      // the HW passed it with fewer than min.insync.replicas in the ISR
	ackLostLeadership                 // no longer the leader of that epoch
)

func (a ackState) String() string {
	return [...]string{"waiting", "done", "not-enough-replicas-after-append", "not-leader"}[a]
}

func (s *replicaState) ackState(lastOffset int64, epoch int32, minISR int) ackState {
	switch {
	case s.role != roleLeader || s.leaderEpoch != epoch:
		return ackLostLeadership
	case s.hw <= lastOffset:
		return ackWaiting
	case len(s.isr) < minISR:
		return ackTooFewISR
	}
	return ackDone
}

// checkLeaderEpoch compares a client's current leader epoch with the
// replica's (KIP-320): a request for a leader must find the leader; an
// older epoch is fenced, a newer one unknown; -1 skips the epoch check.
func (s *replicaState) checkLeaderEpoch(clientEpoch int32, requireLeader bool) error {
	switch {
	case clientEpoch >= 0 && clientEpoch < s.leaderEpoch:
		return fmt.Errorf("%w: the request's leader epoch %d is older than %d", ErrFencedLeaderEpoch, clientEpoch, s.leaderEpoch)
	case clientEpoch > s.leaderEpoch:
		return fmt.Errorf("%w: the request's leader epoch %d is newer than %d", ErrUnknownLeaderEpoch, clientEpoch, s.leaderEpoch)
	case requireLeader && s.role != roleLeader:
		return fmt.Errorf("%w: broker %d is not the leader (leader %d, epoch %d)", ErrNotLeaderOrFollower, s.localID, s.leader, s.leaderEpoch)
	case s.role == roleNone:
		return fmt.Errorf("%w: broker %d has not been told its role yet", ErrNotLeaderOrFollower, s.localID)
	}
	return nil
}

// maxFollowerLag is the largest number of offsets a follower is behind the
// leader's LEO (0 on a follower, or with no follower known yet).
func (s *replicaState) maxFollowerLag() int64 {
	var lag int64
	for _, f := range s.followers {
		if f.leo >= 0 {
			lag = max(lag, s.leo-f.leo)
		} else {
			lag = max(lag, s.leo-s.hw) // unknown yet: at least as far as the HW
		}
	}
	return lag
}

// epochHistory is what epoch lookups need of a log; *log.Log has it.
type epochHistory interface {
	LogEndOffset() int64
	LatestEpoch() int32
	EndOffsetForEpoch(epoch int32) (int32, int64)
}

// leaderEndOffsetForEpoch is the leader's answer to OffsetForLeaderEpoch
// for requested, as if its log recorded the current epoch from the moment
// it became leader (as Kafka's leader epoch cache does): until a batch of
// the current epoch is appended the log does not know it, yet the current
// epoch then ends at the log end offset, and so do the epochs between the
// log's latest and it.
func leaderEndOffsetForEpoch(requested, current int32, h epochHistory) EpochEndOffset {
	latest := h.LatestEpoch()
	if requested < 0 || latest >= current || requested < latest {
		e, o := h.EndOffsetForEpoch(requested)
		return EpochEndOffset{e, o}
	}
	switch {
	case requested > current:
		return UnknownEpochEnd
	case requested == current || latest < 0:
		return EpochEndOffset{requested, h.LogEndOffset()}
	}
	return EpochEndOffset{latest, h.LogEndOffset()}
}

// divergence is the leader's check of a follower's fetch (KIP-320 applied
// to replication): the follower's log ends at fetchOffset with a batch of
// lastFetchedEpoch. If the leader's log ends that epoch earlier, or has no
// such epoch, the logs diverge and the follower must truncate; the answer
// is where. ok=false: no divergence. It returns ErrOffsetOutOfRange when
// the leader cannot place the epoch at all.
func divergence(lastFetchedEpoch int32, fetchOffset int64, current int32, h epochHistory) (EpochEndOffset, bool, error) {
	if lastFetchedEpoch < 0 {
		return EpochEndOffset{}, false, nil
	}
	e := leaderEndOffsetForEpoch(lastFetchedEpoch, current, h)
	if e.Epoch < 0 || e.EndOffset < 0 {
		return EpochEndOffset{}, false, fmt.Errorf("%w: the end of leader epoch %d is unknown here", ErrOffsetOutOfRange, lastFetchedEpoch)
	}
	if e.Epoch < lastFetchedEpoch || e.EndOffset < fetchOffset {
		return e, true, nil
	}
	return EpochEndOffset{}, false, nil
}

// truncationOffset is the follower's decision from the leader's answer
// about an epoch (KIP-101, KIP-279): where to truncate its log, and
// whether that is final. With done=false the follower truncates and asks
// again about its new latest epoch — the leader lacked the epoch the
// follower asked about and answered with an older one that the follower
// does not have either, so they walk back epoch by epoch. hw is the
// follower's HW, the fallback when the leader knows no epochs at all.
func truncationOffset(answer EpochEndOffset, local epochHistory, hw int64) (offset int64, done bool) {
	leo := local.LogEndOffset()
	switch {
	case answer.EndOffset < 0:
		return min(hw, leo), true
	case answer.Epoch < 0:
		return min(answer.EndOffset, leo), true
	}
	epoch, end := local.EndOffsetForEpoch(answer.Epoch)
	switch {
	case epoch < 0 || end < 0:
		// The follower has no record of epochs that old: the leader's end
		// of it is as good as it gets.
		return min(answer.EndOffset, leo), true
	case epoch != answer.Epoch:
		return min(end, leo), false
	}
	return min(end, answer.EndOffset, leo), true
}
