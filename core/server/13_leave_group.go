package server

import (
	"context"

	"github.com/twmb/franz-go/pkg/kmsg"
)

// handleLeaveGroup removes members from a group: one member before v3, a
// batch (by member id or, for static members, instance id) from v3.
func (b *Broker) handleLeaveGroup(ctx context.Context, _ *requestContext, kreq kmsg.Request) (any, error) {
	req := kreq.(*kmsg.LeaveGroupRequest)
	resp := respond[*kmsg.LeaveGroupResponse](req)
	members := req.Members
	if req.Version < 3 {
		members = []kmsg.LeaveGroupRequestMember{{MemberID: req.MemberID}}
	}
	err, out := b.groups.LeaveGroup(ctx, req.Group, members)
	if err != nil {
		resp.ErrorCode = err.Code
		return resp, nil
	}
	if req.Version < 3 {
		resp.ErrorCode = out[0].ErrorCode
		return resp, nil
	}
	resp.Members = out
	return resp, nil
}
