package partition

import (
	"context"
	"errors"
	"fmt"
	"slices"

	"github.com/weirmq/weir/core/log"
	"github.com/weirmq/weir/core/record"
)

// The driver side of replication: Partition's methods that feed the state
// machine (replica_state.go) and do the log work around it. The broker
// calls them from its metadata reconciler (MakeLeader, MakeFollower), the
// Fetch handler (FollowerFetch, ReadToLogEnd), its replica fetcher
// (AppendAsFollower, TruncateTo, SetLeaderHighWatermark), a timer (Tick)
// and the sender of ISR changes (PendingISRChange, ISRChangeCommitted,
// ISRChangeRejected).

func (p *Partition) nowMs() int64 { return p.now().UnixMilli() }

func errorsIsAny(err error, targets ...error) bool {
	for _, t := range targets {
		if errors.Is(err, t) {
			return true
		}
	}
	return false
}

// MakeLeader makes this replica the leader as st (from the metadata)
// describes; st.Leader is this broker. In the leader epoch it already
// leads, it applies a newer partition epoch (ISR or replicas changed). It
// reports whether a new leader term started — a new leader epoch, or the
// first leadership — after which the producer state and the log are the
// leader's own and followers' positions are learned afresh.
//
// It returns ErrStaleLeadership, changing nothing, for leadership older
// than the replica has seen, ErrClosed after Close, and an error for st
// naming another leader.
func (p *Partition) MakeLeader(st Leadership) (started bool, err error) {
	p.appendMu.Lock()
	defer p.appendMu.Unlock()
	p.mu.Lock()
	if p.mu.closed {
		p.mu.Unlock()
		return false, ErrClosed
	}
	if st.Leader != p.mu.state.localID {
		p.mu.Unlock()
		return false, fmt.Errorf("MakeLeader with leader %d on broker %d", st.Leader, p.mu.state.localID)
	}
	eff, err := p.mu.state.becomeLeader(st, p.log.LogEndOffset(), p.nowMs())
	p.mu.Unlock()
	if err != nil {
		return false, err
	}
	if eff.roleChanged {
		p.logger.Info("leading", "leader_epoch", st.LeaderEpoch, "isr", st.ISR, "log_end_offset", p.log.LogEndOffset(), "high_watermark", p.HighWatermark())
	}
	p.apply(eff, false)
	return eff.roleChanged, nil
}

// MakeFollower makes this replica a follower of st.Leader (-1: none for
// now). It reports whether a new term started: then, before fetching, the
// replica fetcher must find where this log diverges from the leader's
// (OffsetForLeaderEpoch, TruncationOffset) and truncate there. acks=all
// waiters of the old leadership fail with ErrNotLeaderOrFollower.
//
// It returns ErrStaleLeadership, changing nothing, for leadership older
// than the replica has seen, and ErrClosed after Close.
func (p *Partition) MakeFollower(st Leadership) (started bool, err error) {
	p.appendMu.Lock()
	defer p.appendMu.Unlock()
	p.mu.Lock()
	if p.mu.closed {
		p.mu.Unlock()
		return false, ErrClosed
	}
	if st.Leader == p.mu.state.localID {
		p.mu.Unlock()
		return false, fmt.Errorf("MakeFollower with this broker, %d, as leader", st.Leader)
	}
	eff, _, err := p.mu.state.becomeFollower(st, p.log.LogEndOffset())
	p.mu.Unlock()
	if err != nil {
		return false, err
	}
	if eff.roleChanged {
		p.logger.Info("following", "leader", st.Leader, "leader_epoch", st.LeaderEpoch, "log_end_offset", p.log.LogEndOffset())
	}
	p.apply(eff, false)
	return eff.roleChanged, nil
}

// Leadership returns the replica's view of the partition's leadership:
// the leader, epochs, replicas and committed ISR. The slices are the
// caller's.
func (p *Partition) Leadership() Leadership {
	p.mu.Lock()
	defer p.mu.Unlock()
	s := p.mu.state
	return Leadership{Leader: s.leader, LeaderEpoch: s.leaderEpoch, PartitionEpoch: s.partitionEpoch,
		Replicas: slices.Clone(s.replicas), ISR: slices.Clone(s.isr)}
}

// IsLeader reports whether this replica is the leader.
func (p *Partition) IsLeader() bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.mu.state.role == roleLeader && !p.mu.closed
}

// CheckLeaderEpoch checks a request's current leader epoch (-1: none) and,
// with requireLeader, that this replica leads (KIP-320). It returns
// ErrFencedLeaderEpoch, ErrUnknownLeaderEpoch, ErrNotLeaderOrFollower, or
// ErrClosed.
func (p *Partition) CheckLeaderEpoch(clientEpoch int32, requireLeader bool) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.mu.closed {
		return ErrClosed
	}
	return p.mu.state.checkLeaderEpoch(clientEpoch, requireLeader)
}

// WaitForAcks blocks until an acks=all append (res, from AppendAsLeader)
// is replicated: the HW has passed it and the ISR has min.insync.replicas
// members. It returns ErrNotEnoughReplicasAfterAppend when the HW passed
// it with a smaller ISR, ErrNotLeaderOrFollower when the replica lost the
// leadership it appended in (the write may or may not survive), ErrClosed,
// or ctx's error.
func (p *Partition) WaitForAcks(ctx context.Context, res AppendResult) error {
	w := NewWaiter()
	p.Watch(w)
	defer p.Unwatch(w)
	for {
		p.mu.Lock()
		closed := p.mu.closed
		st := p.mu.state.ackState(res.LastOffset, res.LeaderEpoch, minISR(p.mu.cfg))
		isr, n := slices.Clone(p.mu.state.isr), minISR(p.mu.cfg)
		p.mu.Unlock()
		switch {
		case closed:
			return ErrClosed
		case st == ackDone:
			return nil
		case st == ackTooFewISR:
			return fmt.Errorf("%w: offset %d is replicated to the ISR %v, smaller than min.insync.replicas %d", ErrNotEnoughReplicasAfterAppend, res.LastOffset, isr, n)
		case st == ackLostLeadership:
			return fmt.Errorf("%w: leadership of epoch %d was lost before offset %d was replicated", ErrNotLeaderOrFollower, res.LeaderEpoch, res.LastOffset)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-w.C():
		}
	}
}

// FollowerFetch records a follower's fetch on the leader: the follower
// replicaID fetches from fetchOffset (its LEO) after a batch of
// lastFetchedEpoch (-1: not sent). When that epoch ends earlier in this
// log, or is not here, the logs diverge: FollowerFetch returns where
// (KIP-320's diverging epoch), records nothing, and the response carries
// no records. Otherwise it records the follower's position — which may
// move the HW and add the follower to the ISR — and the caller reads with
// ReadToLogEnd. Call it once per fetch request.
//
// Errors: ErrNotLeaderOrFollower (not the leader, or not a replica),
// ErrOffsetOutOfRange (below the log start, or above the LEO without a
// divergence), ErrClosed.
func (p *Partition) FollowerFetch(replicaID int32, fetchOffset int64, lastFetchedEpoch int32) (*EpochEndOffset, error) {
	p.mu.Lock()
	closed, epoch, role := p.mu.closed, p.mu.state.leaderEpoch, p.mu.state.role
	p.mu.Unlock()
	switch {
	case closed:
		return nil, ErrClosed
	case role != roleLeader:
		return nil, fmt.Errorf("%w: not the leader", ErrNotLeaderOrFollower)
	}
	if start := p.log.LogStartOffset(); fetchOffset < start {
		return nil, fmt.Errorf("%w: follower %d fetches from %d, the log starts at %d", ErrOffsetOutOfRange, replicaID, fetchOffset, start)
	}
	div, diverging, err := divergence(lastFetchedEpoch, fetchOffset, epoch, p.log)
	if err != nil {
		return nil, err
	}
	if diverging {
		return &div, nil
	}
	if leo := p.log.LogEndOffset(); fetchOffset > leo {
		return nil, fmt.Errorf("%w: follower %d fetches from %d, the log ends at %d", ErrOffsetOutOfRange, replicaID, fetchOffset, leo)
	}
	p.mu.Lock()
	var eff effects
	if p.mu.state.leaderEpoch == epoch {
		eff, err = p.mu.state.followerFetch(replicaID, fetchOffset, p.nowMs())
	} else {
		err = fmt.Errorf("%w: leadership changed", ErrNotLeaderOrFollower)
	}
	p.mu.Unlock()
	if err != nil {
		if !errorsIsAny(err, ErrNotLeaderOrFollower, ErrOffsetOutOfRange) {
			err = fmt.Errorf("%w: %v", ErrNotLeaderOrFollower, err)
		}
		return nil, err
	}
	p.apply(eff, false)
	return nil, nil
}

// EndOffsetForEpoch answers OffsetForLeaderEpoch on the leader: the
// largest epoch at or below requested that this log holds, and where it
// ends, counting the current leader epoch as begun when this replica
// started leading (as Kafka's leader epoch cache does).
func (p *Partition) EndOffsetForEpoch(requested int32) EpochEndOffset {
	return leaderEndOffsetForEpoch(requested, p.LeaderEpoch(), p.log)
}

// Tick runs the leader's ISR expiry check: followers behind for longer
// than replica.lag.time.max.ms are proposed for removal. Call it
// periodically (Kafka: every half of replica.lag.time.max.ms).
func (p *Partition) Tick() {
	p.mu.Lock()
	eff := p.mu.state.tick(p.nowMs())
	p.mu.Unlock()
	p.apply(eff, false)
}

// PendingISRChange returns the ISR change in flight for the controller, or
// nil. The change is shared: do not modify it. Send it as an
// AlterPartition; report the answer with ISRChangeCommitted or
// ISRChangeRejected, passing it back.
func (p *Partition) PendingISRChange() *ISRChange {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.mu.closed || p.mu.state.role != roleLeader {
		return nil
	}
	return p.mu.state.pending
}

// ISRChangeCommitted reports that the controller committed change at
// partitionEpoch. An answer to a change that newer metadata already
// settled is ignored.
func (p *Partition) ISRChangeCommitted(change *ISRChange, partitionEpoch int32) {
	p.mu.Lock()
	eff := p.mu.state.isrAnswer(change, isrCommitted, partitionEpoch, p.nowMs())
	p.mu.Unlock()
	p.apply(eff, false)
}

// ISRChangeRejected reports that the controller refused change (stale
// epochs, an ineligible replica): it is dropped, and after a short
// backoff the leader proposes again if it still needs to.
func (p *Partition) ISRChangeRejected(change *ISRChange) {
	p.mu.Lock()
	eff := p.mu.state.isrAnswer(change, isrRejected, 0, p.nowMs())
	p.mu.Unlock()
	p.apply(eff, false)
}

// ReplicationStats describes a replica for the metrics.
type ReplicationStats struct {
	Leader         bool
	Replicas, ISR  int
	MaxFollowerLag int64 // offsets the furthest follower is behind the LEO (leader only)
}

// ReplicationStats returns the replica's replication figures.
func (p *Partition) ReplicationStats() ReplicationStats {
	p.mu.Lock()
	defer p.mu.Unlock()
	s := p.mu.state
	st := ReplicationStats{Leader: s.role == roleLeader, Replicas: len(s.replicas), ISR: len(s.isr)}
	if st.Leader {
		st.MaxFollowerLag = s.maxFollowerLag()
	}
	return st
}

// The follower side, called by the replica fetcher. Each takes the leader
// epoch the fetcher works in, and fails with ErrFencedLeaderEpoch (or
// ErrNotLeaderOrFollower) when the replica has moved on: a fetch that was
// in flight across a leader change must not write.

// checkFollower returns an error unless the replica follows in epoch.
// Callers hold mu.
func (p *Partition) checkFollower(epoch int32) error {
	s := p.mu.state
	switch {
	case p.mu.closed:
		return ErrClosed
	case s.role != roleFollower:
		return fmt.Errorf("%w: not a follower", ErrNotLeaderOrFollower)
	case s.leaderEpoch != epoch:
		return fmt.Errorf("%w: following leader epoch %d, not %d", ErrFencedLeaderEpoch, s.leaderEpoch, epoch)
	}
	return nil
}

// AppendAsFollower appends batches fetched from the leader of epoch,
// verbatim (offsets and epochs as the leader wrote them), and keeps the
// producer state as the leader does, so that idempotence holds if this
// replica leads next. An empty log whose start falls inside the first
// batch restarts at that batch's base offset. Errors are the log's (log.ErrNonMonotonicOffsets,
// log.ErrInvalidBatch, I/O errors) and checkFollower's.
func (p *Partition) AppendAsFollower(epoch int32, records []byte) (log.AppendInfo, error) {
	p.appendMu.Lock()
	defer p.appendMu.Unlock()
	p.mu.Lock()
	err := p.checkFollower(epoch)
	p.mu.Unlock()
	if err != nil {
		return log.AppendInfo{FirstOffset: -1, LastOffset: -1}, err
	}
	if h, herr := record.ReadHeader(records); herr == nil {
		// An empty log started at the leader's log start offset, which
		// DeleteRecords put inside a batch: the first batch fetched starts
		// before it. Start the log at the batch instead (as Kafka does);
		// the leader's log start offset follows with the next fetch.
		if leo := p.log.LogEndOffset(); leo == p.log.LogStartOffset() && h.BaseOffset < leo && h.LastOffset() >= leo {
			if err := p.log.TruncateFullyAndStartAt(h.BaseOffset); err != nil {
				return log.AppendInfo{FirstOffset: -1, LastOffset: -1}, err
			}
			p.mu.Lock()
			p.mu.state.truncated(p.log.LogEndOffset(), p.log.LogStartOffset())
			p.mu.Unlock()
		}
	}
	info, err := p.log.AppendAsFollower(records)
	rest := records
	for i := 0; i < info.Batches && len(rest) > 0; i++ {
		var batch []byte
		if batch, rest, _ = record.NextBatch(rest); batch == nil {
			break
		}
		if h, herr := record.ReadHeader(batch); herr == nil {
			p.producers.record(h)
		}
	}
	p.mu.Lock()
	eff := p.mu.state.localAppend(p.log.LogEndOffset())
	p.mu.Unlock()
	p.apply(eff, info.Batches > 0)
	return info, err
}

// TruncationOffset is the follower's decision from the leader's answer
// about an epoch (its OffsetForLeaderEpoch answer, or a fetch's diverging
// epoch): where to truncate, and whether that is final (false: truncate,
// then ask again about the log's new latest epoch). KIP-101 and KIP-279.
func (p *Partition) TruncationOffset(answer EpochEndOffset) (offset int64, done bool) {
	return truncationOffset(answer, p.log, p.HighWatermark())
}

// TruncateTo removes the log from offset on (a follower of epoch finding
// where it diverges from the leader), rebuilds the producer state from
// what is left, and lowers the HW if it was above. Offsets at or past the
// LEO change nothing.
func (p *Partition) TruncateTo(epoch int32, offset int64) error {
	return p.truncate(epoch, offset, false)
}

// TruncateFullyAndStartAt empties the log and restarts it at offset: a
// follower whose log ends below the leader's log start offset.
func (p *Partition) TruncateFullyAndStartAt(epoch int32, offset int64) error {
	return p.truncate(epoch, offset, true)
}

func (p *Partition) truncate(epoch int32, offset int64, fully bool) error {
	p.appendMu.Lock()
	defer p.appendMu.Unlock()
	p.mu.Lock()
	err := p.checkFollower(epoch)
	p.mu.Unlock()
	if err != nil {
		return err
	}
	before := p.log.LogEndOffset()
	if !fully && offset >= before {
		return nil
	}
	if fully {
		err = p.log.TruncateFullyAndStartAt(offset)
	} else {
		err = p.log.TruncateTo(offset)
	}
	if err != nil {
		return err
	}
	p.logger.Info("truncated as follower", "leader_epoch", epoch, "offset", offset, "log_end_offset", p.log.LogEndOffset(), "was", before)
	p.producers = producerStates{}
	if err := p.scanProducerState(p.log.LogStartOffset()); err != nil {
		return fmt.Errorf("rebuilding producer state after truncation: %w", err)
	}
	p.mu.Lock()
	eff := p.mu.state.truncated(p.log.LogEndOffset(), p.log.LogStartOffset())
	p.mu.Unlock()
	p.apply(eff, false)
	return nil
}

// SetLeaderHighWatermark takes the HW the leader of epoch sent in a fetch
// response (at most this replica's LEO).
func (p *Partition) SetLeaderHighWatermark(epoch int32, hw int64) {
	hw = max(hw, p.log.LogStartOffset())
	p.mu.Lock()
	var eff effects
	if p.checkFollower(epoch) == nil {
		eff = p.mu.state.leaderHW(hw)
	}
	p.mu.Unlock()
	p.apply(eff, false)
}

// LatestEpoch returns the newest leader epoch in the log (-1 for none):
// what a follower asks the leader about, and sends as its last fetched
// epoch.
func (p *Partition) LatestEpoch() int32 { return p.log.LatestEpoch() }
