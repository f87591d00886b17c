package server

import (
	"context"

	"github.com/twmb/franz-go/pkg/kmsg"
)

// handleDeleteGroups deletes empty groups and their offsets
// (NON_EMPTY_GROUP for groups with members, GROUP_ID_NOT_FOUND for
// unknown ones).
func (b *Broker) handleDeleteGroups(ctx context.Context, _ *requestContext, kreq kmsg.Request) (any, error) {
	req := kreq.(*kmsg.DeleteGroupsRequest)
	resp := respond[*kmsg.DeleteGroupsResponse](req)
	for _, id := range req.Groups {
		g := kmsg.NewDeleteGroupsResponseGroup()
		g.Group = id
		if err := b.groups.DeleteGroup(ctx, id); err != nil {
			g.ErrorCode = err.Code
			if req.Version >= 3 {
				msg := err.Description
				g.ErrorMessage = &msg
			}
		}
		resp.Groups = append(resp.Groups, g)
	}
	return resp, nil
}
