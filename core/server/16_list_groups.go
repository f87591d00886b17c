package server

import (
	"context"

	"github.com/twmb/franz-go/pkg/kmsg"
)

// handleListGroups lists the groups this node coordinates, filtered by
// state (v4) and type (v5: "classic", or "consumer" for KIP-848 groups).
func (b *Broker) handleListGroups(_ context.Context, _ *requestContext, kreq kmsg.Request) (any, error) {
	req := kreq.(*kmsg.ListGroupsRequest)
	resp := respond[*kmsg.ListGroupsResponse](req)
	groups, err := b.groups.ListGroups(req.StatesFilter, req.TypesFilter)
	resp.Groups = groups
	if err != nil {
		resp.ErrorCode = err.Code
	}
	return resp, nil
}
