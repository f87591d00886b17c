package server

import (
	"context"

	"github.com/twmb/franz-go/pkg/kmsg"
)

// handleConsumerGroupDescribe describes KIP-848 groups: epochs, the
// assignor, and each member's subscription, current and target
// assignment. A group that does not exist, or is a classic group, is
// GROUP_ID_NOT_FOUND. Authorized operations are not computed (there are
// no ACLs yet).
func (b *Broker) handleConsumerGroupDescribe(_ context.Context, _ *requestContext, kreq kmsg.Request) (any, error) {
	req := kreq.(*kmsg.ConsumerGroupDescribeRequest)
	resp := respond[*kmsg.ConsumerGroupDescribeResponse](req)
	for _, id := range req.Groups {
		resp.Groups = append(resp.Groups, b.groups.ConsumerGroupDescribe(id, req.Version))
	}
	return resp, nil
}
