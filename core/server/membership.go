package server

import (
	"context"
	"errors"
	"sync"
	"time"

	"github.com/weirmq/weir/core/controller"
)

// The broker's membership in the cluster: registration with its real
// address, heartbeats to the active controller (when the metadata store
// has one), re-registration when the controller no longer knows this
// incarnation, and controlled shutdown.

// heartbeater is what a Raft-backed metadata store adds to metadataStore:
// heartbeats and the active controller's identity. controller.Local has
// neither; with it the node is always its own controller.
type heartbeater interface {
	Heartbeat(ctx context.Context, brokerID int32, brokerEpoch int64) error
	ActiveController() (id int32, ok bool)
}

// membership is the broker's registration state.
type membership struct {
	host string
	port int32
	rack string

	mu struct {
		sync.Mutex
		epoch int64 // this incarnation's broker epoch
	}
	stop chan struct{}
	done sync.WaitGroup
}

// register submits RegisterBroker with the listener's address and keeps
// the epoch it gets.
func (b *Broker) register(ctx context.Context) error {
	res, err := b.opts.Metadata.Submit(ctx, &controller.RegisterBroker{
		ClusterID: b.opts.Metadata.Image().ClusterID(),
		ID:        b.nodeID, Host: b.member.host, Port: b.member.port, Rack: b.member.rack,
	})
	if err != nil {
		return err
	}
	b.member.mu.Lock()
	b.member.mu.epoch = res.BrokerEpoch
	b.member.mu.Unlock()
	return nil
}

// BrokerEpoch returns this incarnation's broker epoch (the offset of its
// latest registration).
func (b *Broker) BrokerEpoch() int64 {
	b.member.mu.Lock()
	defer b.member.mu.Unlock()
	return b.member.mu.epoch
}

// controllerID is the node clients are told is the controller: the
// active controller when the metadata store knows it, else this node.
func (b *Broker) controllerID() int32 {
	if hb, ok := b.opts.Metadata.(heartbeater); ok {
		if id, ok := hb.ActiveController(); ok {
			return id
		}
		return -1
	}
	return b.nodeID
}

// startHeartbeats starts the heartbeat loop when the metadata store takes
// heartbeats: every broker.heartbeat.interval.ms, and a new registration
// when the controller answers that it does not know this incarnation.
func (b *Broker) startHeartbeats() {
	b.member.stop = make(chan struct{})
	hb, ok := b.opts.Metadata.(heartbeater)
	if !ok {
		return
	}
	b.mu.RLock()
	interval := msDuration(int64(b.mu.broker.BrokerHeartbeatIntervalMs))
	b.mu.RUnlock()
	if interval <= 0 {
		interval = 2 * time.Second
	}
	b.member.done.Add(1)
	go func() {
		defer b.member.done.Done()
		t := time.NewTicker(interval)
		defer t.Stop()
		for {
			select {
			case <-b.member.stop:
				return
			case <-t.C:
			}
			ctx, cancel := context.WithTimeout(context.Background(), 4*interval)
			err := hb.Heartbeat(ctx, b.nodeID, b.BrokerEpoch())
			if errors.Is(err, controller.ErrUnknownBroker) || errors.Is(err, controller.ErrStaleBrokerEpoch) {
				b.logger.Warn("the controller does not know this broker's registration; registering again", "err", err)
				err = b.register(ctx)
			}
			cancel()
			if err != nil {
				b.logger.Debug("heartbeat", "err", err)
			}
		}
	}()
}

// stopHeartbeats stops the heartbeat loop and waits for it.
func (b *Broker) stopHeartbeats() {
	if b.member.stop == nil {
		return
	}
	select {
	case <-b.member.stop:
	default:
		close(b.member.stop)
	}
	b.member.done.Wait()
}

// ControlledShutdown asks the controller to move this broker's
// leaderships to other in-sync replicas and waits, until ctx ends, for the
// metadata to show that this broker leads no partition that has another
// live in-sync replica. Call it before Close so that clients move on
// while this broker still answers them. With a single-node metadata store
// there is nowhere to move leadership, and it returns at once.
func (b *Broker) ControlledShutdown(ctx context.Context) error {
	if _, ok := b.opts.Metadata.(heartbeater); !ok {
		return nil
	}
	if _, err := b.opts.Metadata.Submit(ctx, &controller.ControlledShutdown{ID: b.nodeID, Epoch: b.BrokerEpoch()}); err != nil {
		return err
	}
	t := time.NewTicker(50 * time.Millisecond)
	defer t.Stop()
	for leadsMovable(b.opts.Metadata.Image(), b.nodeID) {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-t.C:
		}
	}
	return nil
}

// leadsMovable reports whether node leads a partition whose ISR holds
// another live broker.
func leadsMovable(img *controller.Image, node int32) bool {
	live := map[int32]bool{}
	for _, br := range img.Brokers() {
		live[br.ID] = br.Live()
	}
	for _, t := range img.Topics() {
		for _, p := range t.Partitions {
			if p.Leader != node {
				continue
			}
			for _, r := range p.ISR {
				if r != node && live[r] {
					return true
				}
			}
		}
	}
	return false
}
