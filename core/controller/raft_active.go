package controller

import (
	"context"
	"encoding/base64"
	"errors"
	"slices"
	"sync"
	"time"
)

// The active controller: the duties of the node that leads the Raft
// quorum, started when it gains leadership and stopped when it loses it.
//
//   - It initialises the cluster (InitCluster) when the image has no
//     cluster ID.
//   - It tracks broker heartbeats in memory. A new active controller gives
//     every registered broker a full session before fencing anyone, as
//     does a new registration.
//   - It fences (FenceBroker) a broker whose last heartbeat is older than
//     RaftOptions.BrokerSessionTimeout, and unfences (UnfenceBroker) a
//     fenced broker that heartbeats again with its registration.
//   - With RaftOptions.UncleanLeaderElection (the static default), it
//     elects leaderless partitions uncleanly (ElectLeaders) where neither
//     the topic nor a dynamic broker config says otherwise.
//   - With RaftOptions.AutoLeaderRebalance, every
//     LeaderImbalanceCheckInterval it moves leadership back to preferred
//     replicas that are live and in the ISR (ElectLeaders).
//
// Reassignments need no duty: the AlterPartition that brings the last
// adding replica into the ISR completes the move in the same command.

// leadershipLoop starts the active controller's duties when this node
// becomes the Raft leader and stops them when it stops being it.
func (r *Raft) leadershipLoop() {
	defer r.wg.Done()
	var cancel context.CancelFunc
	var done chan struct{}
	stop := func() {
		if cancel != nil {
			cancel()
			<-done
			cancel = nil
		}
	}
	defer stop()
	for {
		select {
		case <-r.closing:
			return
		case leader := <-r.raft.LeaderCh():
			stop()
			if !leader {
				r.logger.Info("controller: no longer the active controller", "node_id", r.opts.NodeID)
				continue
			}
			ctx, cancelActive := context.WithCancel(r.ctx)
			cancel = cancelActive
			done = make(chan struct{})
			go func() {
				defer close(done)
				r.runActive(ctx)
			}()
		}
	}
}

// session is what the active controller knows of a broker's liveness.
type session struct {
	epoch    int64
	lastSeen time.Time
}

// activeController holds the in-memory state of the active controller's
// duties. It lives while this node leads.
type activeController struct {
	r  *Raft
	mu struct {
		sync.Mutex
		sessions map[int32]session
	}
}

// runActive runs the duties until ctx ends.
func (r *Raft) runActive(ctx context.Context) {
	// Apply everything earlier leaders committed before acting on the
	// image.
	for {
		if err := r.raft.Barrier(r.opts.RPCTimeout).Error(); err == nil {
			break
		}
		select {
		case <-ctx.Done():
			return
		case <-time.After(10 * time.Millisecond):
		}
	}
	a := &activeController{r: r}
	a.mu.sessions = make(map[int32]session)
	now := r.opts.Now()
	for _, b := range r.Image().Brokers() {
		a.mu.sessions[b.ID] = session{epoch: b.Epoch, lastSeen: now}
	}
	r.active.Store(a)
	defer r.active.CompareAndSwap(a, nil)
	r.logger.Info("controller: this node is the active controller", "node_id", r.opts.NodeID, "image_offset", r.Image().Offset())

	if r.Image().ClusterID() == "" {
		id := r.opts.NewID()
		if _, err := r.submitLocal(ctx, InitCluster{ClusterID: base64.RawURLEncoding.EncodeToString(id[:])}); err != nil && ctx.Err() == nil {
			r.logger.Warn("controller: could not initialise the cluster", "error", err)
		}
	}

	ticker := time.NewTicker(r.opts.CheckInterval)
	defer ticker.Stop()
	lastRebalance := now
	scanned := int64(-1)
	for {
		select {
		case <-ctx.Done():
			return
		case <-ticker.C:
		}
		a.checkSessions(ctx)
		if img := r.Image(); r.opts.UncleanLeaderElection && img.Offset() != scanned {
			scanned = img.Offset()
			a.electUnclean(ctx, img)
		}
		if now := r.opts.Now(); r.opts.AutoLeaderRebalance && now.Sub(lastRebalance) >= r.opts.LeaderImbalanceCheckInterval {
			lastRebalance = now
			a.rebalance(ctx)
		}
	}
}

// heartbeat records a heartbeat of broker id at epoch, unfencing it when
// it is fenced.
func (a *activeController) heartbeat(ctx context.Context, id int32, epoch int64) error {
	b, err := a.r.Image().registeredBroker("heartbeat", id, epoch)
	if err != nil {
		return err
	}
	a.mu.Lock()
	a.mu.sessions[id] = session{epoch: epoch, lastSeen: a.r.opts.Now()}
	a.mu.Unlock()
	if !b.Fenced {
		return nil
	}
	a.r.logger.Info("controller: unfencing a broker that heartbeats again", "broker", id, "broker_epoch", epoch)
	_, err = a.r.submitLocal(ctx, UnfenceBroker{ID: id, Epoch: epoch})
	return err
}

// checkSessions fences the brokers whose session has expired.
func (a *activeController) checkSessions(ctx context.Context) {
	now := a.r.opts.Now()
	var expired []Broker
	a.mu.Lock()
	for _, b := range a.r.Image().Brokers() {
		if b.Fenced {
			continue
		}
		s, ok := a.mu.sessions[b.ID]
		if !ok || s.epoch != b.Epoch {
			// A new registration starts a full session.
			a.mu.sessions[b.ID] = session{epoch: b.Epoch, lastSeen: now}
			continue
		}
		if now.Sub(s.lastSeen) > a.r.opts.BrokerSessionTimeout {
			expired = append(expired, b)
		}
	}
	a.mu.Unlock()
	for _, b := range expired {
		// A heartbeat may have landed since the scan: check again, so a
		// live broker is not fenced and at once unfenced.
		a.mu.Lock()
		s := a.mu.sessions[b.ID]
		a.mu.Unlock()
		if s.epoch == b.Epoch && a.r.opts.Now().Sub(s.lastSeen) <= a.r.opts.BrokerSessionTimeout {
			continue
		}
		a.r.logger.Warn("controller: fencing a broker whose session expired",
			"broker", b.ID, "broker_epoch", b.Epoch, "session_timeout", a.r.opts.BrokerSessionTimeout)
		if _, err := a.r.submitLocal(ctx, FenceBroker{ID: b.ID, Epoch: b.Epoch}); err != nil && ctx.Err() == nil {
			a.r.logger.Info("controller: fencing did not apply", "broker", b.ID, "error", err)
		}
	}
}

// electUnclean elects, uncleanly, the leaderless partitions whose
// unclean.leader.election.enable falls back to the static default (true
// here) and that have a live replica.
func (a *activeController) electUnclean(ctx context.Context, img *Image) {
	const name = "unclean.leader.election.enable"
	if _, set := img.BrokerConfig(name); set {
		return // the dynamic config decides, in Apply
	}
	var parts []TopicPartition
	for _, t := range img.Topics() {
		if _, set := t.Configs[name]; set {
			continue
		}
		for i, p := range t.Partitions {
			if p.Leader < 0 && img.anyLeader(&p) >= 0 {
				parts = append(parts, TopicPartition{TopicID: t.ID, Partition: int32(i)})
			}
		}
	}
	if len(parts) == 0 {
		return
	}
	a.r.logger.Warn("controller: electing leaders uncleanly (unclean.leader.election.enable)", "partitions", len(parts))
	a.elect(ctx, ElectLeaders{Unclean: true, Partitions: parts})
}

// rebalance moves leadership back to preferred replicas that are live and
// in the ISR.
func (a *activeController) rebalance(ctx context.Context) {
	img := a.r.Image()
	var parts []TopicPartition
	for _, t := range img.Topics() {
		for i, p := range t.Partitions {
			pref := p.Replicas[0]
			if p.Leader != pref && slices.Contains(p.ISR, pref) && img.canLead(pref) {
				parts = append(parts, TopicPartition{TopicID: t.ID, Partition: int32(i)})
			}
		}
	}
	if len(parts) == 0 {
		return
	}
	a.r.logger.Info("controller: moving leadership back to preferred replicas", "partitions", len(parts))
	a.elect(ctx, ElectLeaders{Partitions: parts})
}

func (a *activeController) elect(ctx context.Context, cmd ElectLeaders) {
	res, err := a.r.submitLocal(ctx, cmd)
	if err != nil {
		if ctx.Err() == nil {
			a.r.logger.Warn("controller: election failed", "unclean", cmd.Unclean, "error", err)
		}
		return
	}
	for _, p := range res.Partitions {
		if p.Err != nil && !errors.Is(p.Err, ErrElectionNotNeeded) {
			a.r.logger.Debug("controller: no election", "topic_id", p.TopicID.String(), "partition", p.Partition, "error", p.Err)
		}
	}
}
