package server

import (
	"context"
	"errors"
	"net"
	"path/filepath"
	"sync"
	"time"

	"github.com/weirmq/weir/core/controller"
	"github.com/weirmq/weir/core/group"
	"github.com/weirmq/weir/core/log"
	"github.com/weirmq/weir/core/partition"
)

// The broker's side of replication besides the fetchers
// (replica_fetcher.go): turning metadata into each partition's role,
// sending the leaders' ISR changes to the controller, the ISR expiry timer
// and the HW checkpoint.
//
// Goroutines: the ISR sender and the replication timer, started by
// startReplication and waited for by stopReplication, plus the fetchers.
// None of them is ever waited for while holding reconcileMu, because a
// Submit (the sender's) runs the metadata watchers — reconcile — in the
// submitting goroutine.

// defaultHWCheckpointInterval is how often the HW checkpoint is written
// (Kafka's replica.high.watermark.checkpoint.interval.ms default).
const defaultHWCheckpointInterval = 5 * time.Second

// startReplication reads the HW checkpoint and starts the fetchers, the
// ISR sender and the timer.
func (b *Broker) startReplication() {
	if b.opts.Dial != nil {
		b.dial = b.opts.Dial
	} else {
		b.dial = (&net.Dialer{}).DialContext
	}
	path := filepath.Join(b.opts.Config.DataDir, log.ReplicationCheckpointFile)
	cp, err := log.ReadOffsetCheckpoint(path)
	if err != nil {
		b.logger.Warn("ignoring an unreadable HW checkpoint; high watermarks start at the log start and move as followers report", "path", path, "err", err)
		cp = nil
	}
	b.hwCheckpoint = cp
	b.fetchers = newReplicaFetchers(b)
	b.isr = &isrSender{b: b, queue: map[*partition.Partition]time.Time{}, wake: make(chan struct{}, 1)}
	b.replCtx, b.replStop = context.WithCancel(context.Background())
	b.replWG.Go(b.isr.run)
	b.replWG.Go(b.replicationTimer)
}

// stopReplication stops the goroutines of replication and waits for them.
// The caller must not hold reconcileMu.
func (b *Broker) stopReplication() {
	if b.replStop == nil {
		return
	}
	b.replStop()
	b.fetchers.close()
	b.replWG.Wait()
}

// leadershipOf is what a partition of the image says about leadership,
// with the replicas that may not join the ISR now (not registered,
// fenced, or shutting down).
func leadershipOf(img *controller.Image, pa controller.Partition) partition.Leadership {
	st := partition.Leadership{Leader: pa.Leader, LeaderEpoch: pa.LeaderEpoch, PartitionEpoch: pa.PartitionEpoch,
		Replicas: pa.Replicas, ISR: pa.ISR}
	for _, id := range pa.Replicas {
		if br, ok := img.Broker(id); !ok || !br.Live() {
			st.Ineligible = append(st.Ineligible, id)
		}
	}
	return st
}

// applyLeadership makes p leader or follower as the image says, moving its
// fetching and, for __consumer_offsets, its groups along. Called by
// reconcile.
func (b *Broker) applyLeadership(img *controller.Image, topicID controller.TopicID, tp topicPartition, p *partition.Partition, pa controller.Partition) {
	st := leadershipOf(img, pa)
	offsets := tp.topic == group.OffsetsTopic
	if pa.Leader == b.nodeID {
		started, err := p.MakeLeader(st)
		if err != nil {
			b.leadershipIgnored(tp, st, err)
			return
		}
		if started {
			b.fetchers.unfollow(tp)
			if offsets {
				b.loadGroups(tp.index, p) // group coordinator: follows leadership
			}
		}
		return
	}
	wasLeader := p.IsLeader()
	started, err := p.MakeFollower(st)
	if err != nil {
		b.leadershipIgnored(tp, st, err)
		return
	}
	if wasLeader && offsets {
		b.groups.Unload(tp.index) // group coordinator: follows leadership
	}
	if !started {
		return
	}
	if pa.Leader < 0 {
		b.fetchers.unfollow(tp)
		return
	}
	b.fetchers.follow(tp, p, topicID, pa.Leader, pa.LeaderEpoch, true)
}

func (b *Broker) leadershipIgnored(tp topicPartition, st partition.Leadership, err error) {
	if errors.Is(err, partition.ErrStaleLeadership) {
		b.logger.Debug("ignoring stale leadership", "topic", tp.topic, "partition", tp.index, "leader_epoch", st.LeaderEpoch, "partition_epoch", st.PartitionEpoch)
		return
	}
	b.logger.Warn("applying leadership", "topic", tp.topic, "partition", tp.index, "leader", st.Leader, "leader_epoch", st.LeaderEpoch, "err", err)
}

// stopReplica closes a partition this broker no longer hosts (reassigned
// away): no fetching, no groups, no requests, and its log is deleted, as
// Kafka does, so moving replicas off a broker frees its disk. Should the
// partition come back, it is copied from the leader again.
func (b *Broker) stopReplica(tp topicPartition, p *partition.Partition) {
	b.mu.Lock()
	if b.mu.partitions[tp] == p {
		delete(b.mu.partitions, tp)
	}
	b.mu.Unlock()
	b.fetchers.unfollow(tp)
	if tp.topic == group.OffsetsTopic && p.IsLeader() {
		b.groups.Unload(tp.index)
	}
	p.Close()
	ltp := log.TopicPartition{Topic: tp.topic, Partition: tp.index}
	delete(b.hwCheckpoint, ltp) // reconcileMu is held: hwCheckpoint is reconcile's
	if err := b.opts.Logs.DeleteLog(ltp); err != nil {
		b.logger.Warn("deleting the log of a partition reassigned away", "topic", tp.topic, "partition", tp.index, "err", err)
	}
	b.logger.Info("no longer a replica; log deleted", "topic", tp.topic, "partition", tp.index)
}

// checkpointHighWatermark returns where a partition's HW starts: its
// checkpointed value, or -1 (unknown). Called under reconcileMu.
func (b *Broker) checkpointHighWatermark(tp log.TopicPartition) int64 {
	if hw, ok := b.hwCheckpoint[tp]; ok {
		return hw
	}
	return -1
}

// writeHWCheckpoint writes every hosted partition's HW to
// replication-offset-checkpoint.
func (b *Broker) writeHWCheckpoint() error {
	b.mu.RLock()
	hws := make(map[log.TopicPartition]int64, len(b.mu.partitions))
	for tp, p := range b.mu.partitions {
		hws[log.TopicPartition{Topic: tp.topic, Partition: tp.index}] = p.HighWatermark()
	}
	b.mu.RUnlock()
	b.cpMu.Lock()
	defer b.cpMu.Unlock()
	return log.WriteOffsetCheckpoint(filepath.Join(b.opts.Config.DataDir, log.ReplicationCheckpointFile), hws)
}

// replicationTimer runs the leaders' ISR expiry check every half of
// replica.lag.time.max.ms (as Kafka does) and writes the HW checkpoint.
func (b *Broker) replicationTimer() {
	every := b.opts.HighWatermarkCheckpointInterval
	if every <= 0 {
		every = defaultHWCheckpointInterval
	}
	lastCheckpoint := time.Now()
	for {
		tick := time.Duration(b.brokerConfig().ReplicaLagTimeMaxMs) * time.Millisecond / 2
		tick = min(max(tick, 5*time.Millisecond), every)
		t := time.NewTimer(tick)
		select {
		case <-b.replCtx.Done():
			t.Stop()
			return
		case <-t.C:
		}
		b.mu.RLock()
		parts := make([]*partition.Partition, 0, len(b.mu.partitions))
		for _, p := range b.mu.partitions {
			parts = append(parts, p)
		}
		b.mu.RUnlock()
		for _, p := range parts {
			p.Tick()
		}
		if time.Since(lastCheckpoint) >= every {
			lastCheckpoint = time.Now()
			if err := b.writeHWCheckpoint(); err != nil {
				b.logger.Warn("writing the HW checkpoint", "err", err)
			}
		}
	}
}

// isrChanged counts committed ISR changes (a partition hook).
func (b *Broker) isrChanged(shrinks, expands int) {
	if b.opts.Metrics != nil {
		b.opts.Metrics.isrChanged(shrinks, expands)
	}
}

// isrSender sends the leaders' ISR changes to the controller as
// AlterPartition commands, one at a time, retrying transient failures
// with a backoff. The controller's answer (or newer metadata, which
// reconcile applies) settles each change.
type isrSender struct {
	b     *Broker
	mu    sync.Mutex
	queue map[*partition.Partition]time.Time // partition → not before
	wake  chan struct{}
}

// isrRetry is the backoff after a transient failure to reach the
// controller.
const isrRetry = 100 * time.Millisecond

// enqueue is the partitions' OnISRChange hook: it must not block.
func (s *isrSender) enqueue(p *partition.Partition) { s.enqueueAt(p, time.Time{}) }

func (s *isrSender) enqueueAt(p *partition.Partition, at time.Time) {
	s.mu.Lock()
	if old, ok := s.queue[p]; !ok || at.Before(old) {
		s.queue[p] = at
	}
	s.mu.Unlock()
	select {
	case s.wake <- struct{}{}:
	default:
	}
}

// next returns a partition that is due, or how long until one is.
func (s *isrSender) next() (*partition.Partition, time.Duration) {
	s.mu.Lock()
	defer s.mu.Unlock()
	now := time.Now()
	var wait time.Duration = -1
	for p, at := range s.queue {
		if d := at.Sub(now); d > 0 {
			if wait < 0 || d < wait {
				wait = d
			}
			continue
		}
		delete(s.queue, p)
		return p, 0
	}
	return nil, wait
}

func (s *isrSender) run() {
	ctx := s.b.replCtx
	for {
		p, wait := s.next()
		if p == nil {
			var t *time.Timer
			var timer <-chan time.Time
			if wait >= 0 {
				t = time.NewTimer(wait)
				timer = t.C
			}
			select {
			case <-ctx.Done():
			case <-s.wake:
			case <-timer:
			}
			if t != nil {
				t.Stop()
			}
			if ctx.Err() != nil {
				return
			}
			continue
		}
		s.send(ctx, p)
		if ctx.Err() != nil {
			return
		}
	}
}

// send submits p's pending ISR change and reports the answer to p.
func (s *isrSender) send(ctx context.Context, p *partition.Partition) {
	change := p.PendingISRChange()
	if change == nil {
		return
	}
	b := s.b
	img := b.opts.Metadata.Image()
	t, ok := img.TopicByName(p.Topic())
	if !ok {
		p.ISRChangeRejected(change)
		return
	}
	cmd := &controller.AlterPartition{TopicID: t.ID, Partition: p.Index(), BrokerID: b.nodeID,
		LeaderEpoch: change.LeaderEpoch, PartitionEpoch: change.PartitionEpoch, ISR: change.ISR}
	if br, ok := img.Broker(b.nodeID); ok {
		cmd.BrokerEpoch = br.Epoch
	}
	sctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	res, err := b.opts.Metadata.Submit(sctx, cmd)
	cancel()
	switch {
	case err == nil:
		b.logger.Info("ISR change committed", "topic", p.Topic(), "partition", p.Index(), "isr", change.ISR,
			"leader_epoch", res.LeaderEpoch, "partition_epoch", res.PartitionEpoch)
		p.ISRChangeCommitted(change, res.PartitionEpoch)
	case errors.Is(err, controller.ErrFencedLeaderEpoch), errors.Is(err, controller.ErrInvalidUpdateVersion),
		errors.Is(err, controller.ErrIneligibleReplica), errors.Is(err, controller.ErrInvalidCommand),
		errors.Is(err, controller.ErrUnknownTopic), errors.Is(err, controller.ErrStaleBrokerEpoch),
		errors.Is(err, controller.ErrUnknownBroker):
		// Refused for good: newer metadata is on its way (or here), and the
		// partition proposes again if it still needs to.
		b.logger.Info("ISR change refused by the controller", "topic", p.Topic(), "partition", p.Index(), "isr", change.ISR, "err", err)
		p.ISRChangeRejected(change)
	case ctx.Err() != nil:
	default:
		b.logger.Warn("ISR change not sent; retrying", "topic", p.Topic(), "partition", p.Index(), "isr", change.ISR, "err", err)
		s.enqueueAt(p, time.Now().Add(isrRetry))
	}
}
