package server

import (
	"context"

	"github.com/twmb/franz-go/pkg/kmsg"
)

// handleHeartbeat keeps a member's session alive; REBALANCE_IN_PROGRESS
// tells it to rejoin.
func (b *Broker) handleHeartbeat(ctx context.Context, _ *requestContext, kreq kmsg.Request) (any, error) {
	return b.groups.Heartbeat(ctx, kreq.(*kmsg.HeartbeatRequest)), nil
}
