package server

import (
	"context"

	"github.com/twmb/franz-go/pkg/kmsg"
)

// handleJoinGroup joins a member to a classic group. It waits until the
// rebalance completes (this connection's next request waits with it, as
// in Kafka: each member has its own connection to the coordinator).
func (b *Broker) handleJoinGroup(ctx context.Context, rc *requestContext, kreq kmsg.Request) (any, error) {
	return b.groups.JoinGroup(ctx, kreq.(*kmsg.JoinGroupRequest), groupClient(rc)), nil
}
