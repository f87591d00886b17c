package server

import (
	"context"

	"github.com/twmb/franz-go/pkg/kmsg"
)

// handleDescribeGroups describes groups: state, protocol, members (with
// their metadata and assignments when the group is stable). A group that
// does not exist is Dead, and from v6 GROUP_ID_NOT_FOUND.
func (b *Broker) handleDescribeGroups(_ context.Context, _ *requestContext, kreq kmsg.Request) (any, error) {
	req := kreq.(*kmsg.DescribeGroupsRequest)
	resp := respond[*kmsg.DescribeGroupsResponse](req)
	for _, id := range req.Groups {
		resp.Groups = append(resp.Groups, b.groups.DescribeGroup(id, req.Version))
	}
	return resp, nil
}
