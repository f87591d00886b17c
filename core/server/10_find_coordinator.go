package server

import (
	"context"
	"fmt"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/weirmq/weir/core/controller"
	"github.com/weirmq/weir/core/group"
)

// Coordinator key types of FindCoordinator.
const (
	coordinatorGroup       = 0
	coordinatorTransaction = 1
)

// handleFindCoordinator answers which broker coordinates each key: for a
// group, the leader of its __consumer_offsets partition (the topic is
// created on first use). Transactions have no coordinator yet
// (COORDINATOR_NOT_AVAILABLE); other key types are refused
// (INVALID_REQUEST). From v4 the keys come batched.
func (b *Broker) handleFindCoordinator(ctx context.Context, _ *requestContext, kreq kmsg.Request) (any, error) {
	req := kreq.(*kmsg.FindCoordinatorRequest)
	resp := respond[*kmsg.FindCoordinatorResponse](req)
	keys := req.CoordinatorKeys
	if req.Version < 4 {
		keys = []string{req.CoordinatorKey}
	}
	for _, key := range keys {
		c := kmsg.NewFindCoordinatorResponseCoordinator()
		c.Key = key
		br, err := b.findCoordinator(ctx, req.CoordinatorType, key)
		if err != nil {
			c.NodeID, c.Port = -1, -1
			c.ErrorCode, c.ErrorMessage = errorCode(err), errorMessage(err)
		} else {
			c.NodeID, c.Host, c.Port = br.ID, br.Host, br.Port
		}
		resp.Coordinators = append(resp.Coordinators, c)
	}
	if req.Version < 4 {
		c := resp.Coordinators[0]
		resp.Coordinators = nil
		resp.NodeID, resp.Host, resp.Port = c.NodeID, c.Host, c.Port
		resp.ErrorCode, resp.ErrorMessage = c.ErrorCode, c.ErrorMessage
	}
	return resp, nil
}

func (b *Broker) findCoordinator(ctx context.Context, keyType int8, key string) (controller.Broker, error) {
	switch keyType {
	case coordinatorGroup:
	case coordinatorTransaction:
		return controller.Broker{}, refuse(kerr.CoordinatorNotAvailable, "transactions are not supported yet")
	default:
		return controller.Broker{}, refuse(kerr.InvalidRequest, "unknown coordinator key type %d", keyType)
	}
	t, err := b.offsetsTopic(ctx)
	if err != nil {
		return controller.Broker{}, err
	}
	p := t.Partitions[group.PartitionFor(key, int32(len(t.Partitions)))]
	br, ok := b.opts.Metadata.Image().Broker(p.Leader)
	if p.Leader < 0 || !ok || br.Fenced {
		return controller.Broker{}, fmt.Errorf("%w: the coordinator partition has no leader", kerr.CoordinatorNotAvailable)
	}
	return br, nil
}
