package server

import (
	"context"

	"github.com/twmb/franz-go/pkg/kmsg"
)

// handleSyncGroup hands out the leader's assignment; followers wait for
// it.
func (b *Broker) handleSyncGroup(ctx context.Context, _ *requestContext, kreq kmsg.Request) (any, error) {
	return b.groups.SyncGroup(ctx, kreq.(*kmsg.SyncGroupRequest)), nil
}
