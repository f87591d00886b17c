package group

import (
	"bytes"
	"context"
	"maps"
	"slices"
	"strings"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// The classic protocol's requests. Each takes the decoded request and
// returns the response at the request's version; errors are in the
// response's codes. JoinGroup and SyncGroup wait, outside every lock,
// until the rebalance lets them answer or ctx ends.

// Client is who sent a request: its client id and host, as DescribeGroups
// shows them.
type Client struct {
	ID   string
	Host string
}

// JoinGroup joins a member to a group, waiting until the rebalance
// completes. Byte fields of req are copied; req is not retained.
func (c *Coordinator) JoinGroup(ctx context.Context, req *kmsg.JoinGroupRequest, client Client) *kmsg.JoinGroupResponse {
	resp := req.ResponseKind().(*kmsg.JoinGroupResponse)
	var r joinResult
	if err := c.joinConsumerGroup(ctx, req.Group); err != nil { // weir: KIP-848
		r = joinResult{err: err, memberID: req.MemberID, generation: -1}
	} else {
		r = c.join(ctx, req, client)
	}
	resp.ErrorCode = errCode(r.err)
	resp.Generation, resp.MemberID = r.generation, r.memberID
	if r.err == nil {
		resp.ProtocolType, resp.Protocol = stringPtr(r.protocolType), stringPtr(r.protocol)
		resp.LeaderID, resp.SkipAssignment, resp.Members = r.leader, r.skipAssignment, r.members
	}
	return resp
}

func (c *Coordinator) join(ctx context.Context, req *kmsg.JoinGroupRequest, client Client) joinResult {
	fail := func(err *kerr.Error) joinResult { return joinResult{err: err, memberID: req.MemberID, generation: -1} }
	if req.Group == "" {
		return fail(kerr.InvalidGroupID)
	}
	e := c.env()
	r := &joinRequest{
		version: req.Version, memberID: req.MemberID, clientID: client.ID, clientHost: client.Host,
		protocolType:     req.ProtocolType,
		sessionTimeout:   time.Duration(req.SessionTimeoutMillis) * time.Millisecond,
		rebalanceTimeout: time.Duration(req.RebalanceTimeoutMillis) * time.Millisecond,
	}
	if r.sessionTimeout < e.cfg.MinSessionTimeout || r.sessionTimeout > e.cfg.MaxSessionTimeout {
		return fail(kerr.InvalidSessionTimeout)
	}
	if req.Version == 0 || r.rebalanceTimeout <= 0 {
		r.rebalanceTimeout = r.sessionTimeout
	}
	prefix := client.ID
	if req.InstanceID != nil && *req.InstanceID != "" {
		r.instanceID, prefix = *req.InstanceID, *req.InstanceID
	}
	r.newMemberID = newMemberID(prefix)
	for _, p := range req.Protocols {
		r.protocols = append(r.protocols, kmsg.JoinGroupRequestProtocol{Name: p.Name, Metadata: bytes.Clone(p.Metadata)})
	}

	sh, err := c.shardFor(req.Group)
	if err != nil {
		return fail(err)
	}
	e.now = c.clock.Now() // under the lock: steps see time in order
	g := sh.mu.groups[req.Group]
	if g == nil {
		if req.MemberID != "" {
			sh.mu.Unlock()
			return fail(kerr.UnknownMemberID)
		}
		g = newGroup(req.Group, e.now)
		sh.mu.groups[req.Group] = g
	}
	if g.consumer != nil && g.state != stateDead { // weir: KIP-848 (it gained members since joinConsumerGroup)
		sh.mu.Unlock()
		return fail(kerr.InconsistentGroupProtocol)
	}
	res, wait, mustWrite := g.join(e, r)
	sh.settle(e, g)
	write := g.needsWrite()
	sh.mu.Unlock()
	if write {
		if err := sh.writeGroup(ctx, g); err != nil && mustWrite {
			return joinResult{err: storeError(err, false), memberID: res.memberID, generation: -1}
		}
	}
	if wait == nil {
		return res
	}
	return awaitParked(ctx, c, sh, g, wait, func(m *member) *chan joinResult { return &m.join },
		fail(kerr.CoordinatorNotAvailable))
}

// SyncGroup hands the leader's assignment to every member; a follower
// waits for it. Byte fields of req are copied; req is not retained.
func (c *Coordinator) SyncGroup(ctx context.Context, req *kmsg.SyncGroupRequest) *kmsg.SyncGroupResponse {
	resp := req.ResponseKind().(*kmsg.SyncGroupResponse)
	r := c.sync(ctx, req)
	resp.ErrorCode = errCode(r.err)
	if r.err == nil {
		resp.ProtocolType, resp.Protocol = stringPtr(r.protocolType), stringPtr(r.protocol)
		resp.MemberAssignment = r.assignment
	}
	return resp
}

func (c *Coordinator) sync(ctx context.Context, req *kmsg.SyncGroupRequest) syncResult {
	if req.Group == "" {
		return syncResult{err: kerr.InvalidGroupID}
	}
	sh, err := c.shardFor(req.Group)
	if err != nil {
		return syncResult{err: err}
	}
	g := sh.mu.groups[req.Group]
	if g == nil {
		sh.mu.Unlock()
		return syncResult{err: kerr.UnknownMemberID}
	}
	e := c.env()
	r := &syncRequest{memberID: req.MemberID, generation: req.Generation, protocolType: req.ProtocolType, protocol: req.Protocol}
	if req.InstanceID != nil {
		r.instanceID = *req.InstanceID
	}
	res, wait, leader := g.sync(e, r)
	sh.settle(e, g)
	write := g.needsWrite()
	sh.mu.Unlock()
	if write {
		sh.writeGroup(ctx, g)
	}
	if leader {
		in := make([]kmsg.SyncGroupRequestGroupAssignment, len(req.GroupAssignment))
		for i, a := range req.GroupAssignment {
			in[i] = kmsg.SyncGroupRequestGroupAssignment{MemberID: a.MemberID, MemberAssignment: bytes.Clone(a.MemberAssignment)}
		}
		sh.storeAssignment(ctx, g, req.Generation, in)
	}
	if wait == nil {
		return res
	}
	return awaitParked(ctx, c, sh, g, wait, func(m *member) *chan syncResult { return &m.sync },
		syncResult{err: kerr.CoordinatorNotAvailable})
}

// storeAssignment writes the group with the leader's assignment and then
// hands it out (or, if the write fails, the error, and rebalances), unless
// the rebalance has moved on meanwhile.
func (sh *shard) storeAssignment(ctx context.Context, g *group, generation int32, in []kmsg.SyncGroupRequestGroupAssignment) {
	sh.writeMu.Lock()
	defer sh.writeMu.Unlock()
	sh.mu.Lock()
	if !sh.current(g) || g.state != stateCompletingRebalance || g.generation != generation {
		sh.mu.Unlock()
		return
	}
	assignments := g.assignments(in)
	v := g.metadataValue(assignments)
	g.unwritten = nil // this write carries a newer state
	now := sh.c.clock.Now()
	sh.mu.Unlock()
	err := sh.append(ctx, now, []kv{{groupKey(g.id), v.AppendTo(nil)}})
	sh.mu.Lock()
	defer sh.mu.Unlock()
	if !sh.current(g) || g.state != stateCompletingRebalance || g.generation != generation {
		return
	}
	var code *kerr.Error
	if err != nil {
		code = storeError(err, false)
		sh.c.logger.Warn("writing a group's assignment failed; rebalancing", "group", g.id, "generation", generation, "err", err)
	}
	e := sh.c.env()
	g.completeSync(e, assignments, code)
	sh.settle(e, g)
}

// Heartbeat keeps a member's session alive and tells it whether a
// rebalance is under way. While the partition loads, it answers success,
// as Kafka does, so that members are not disturbed.
func (c *Coordinator) Heartbeat(ctx context.Context, req *kmsg.HeartbeatRequest) *kmsg.HeartbeatResponse {
	resp := req.ResponseKind().(*kmsg.HeartbeatResponse)
	if req.Group == "" {
		resp.ErrorCode = kerr.InvalidGroupID.Code
		return resp
	}
	sh, err := c.shardFor(req.Group)
	if err != nil {
		if err != kerr.CoordinatorLoadInProgress {
			resp.ErrorCode = err.Code
		}
		return resp
	}
	g := sh.mu.groups[req.Group]
	if g == nil {
		sh.mu.Unlock()
		resp.ErrorCode = kerr.UnknownMemberID.Code
		return resp
	}
	e := c.env()
	instance := ""
	if req.InstanceID != nil {
		instance = *req.InstanceID
	}
	resp.ErrorCode = errCode(g.heartbeat(e, req.MemberID, instance, req.Generation))
	sh.settle(e, g)
	write := g.needsWrite()
	sh.mu.Unlock()
	if write {
		sh.writeGroup(ctx, g)
	}
	return resp
}

// LeaveGroup removes members (by member id, or by instance id for static
// members) and rebalances the rest. It returns the request-wide error and
// one answer per member.
func (c *Coordinator) LeaveGroup(ctx context.Context, groupID string, members []kmsg.LeaveGroupRequestMember) (*kerr.Error, []kmsg.LeaveGroupResponseMember) {
	out := make([]kmsg.LeaveGroupResponseMember, len(members))
	for i, m := range members {
		out[i] = kmsg.LeaveGroupResponseMember{MemberID: m.MemberID, InstanceID: m.InstanceID}
	}
	if groupID == "" {
		return kerr.InvalidGroupID, out
	}
	sh, err := c.shardFor(groupID)
	if err != nil {
		return err, out
	}
	g := sh.mu.groups[groupID]
	if g == nil {
		sh.mu.Unlock()
		for i := range out {
			out[i].ErrorCode = kerr.UnknownMemberID.Code
		}
		return nil, out
	}
	if g.state == stateDead {
		sh.mu.Unlock()
		return kerr.CoordinatorNotAvailable, out
	}
	e := c.env()
	for i, m := range members {
		instance := ""
		if m.InstanceID != nil {
			instance = *m.InstanceID
		}
		out[i].ErrorCode = errCode(g.leave(e, m.MemberID, instance))
	}
	sh.settle(e, g)
	write := g.needsWrite()
	sh.mu.Unlock()
	if write {
		sh.writeGroup(ctx, g)
	}
	return nil, out
}

// DescribeGroup describes one group at the DescribeGroups version given:
// a group this node coordinates but does not know is Dead, and from v6
// also GROUP_ID_NOT_FOUND (KIP-1043).
func (c *Coordinator) DescribeGroup(groupID string, version int16) kmsg.DescribeGroupsResponseGroup {
	out := kmsg.NewDescribeGroupsResponseGroup()
	out.Group = groupID
	sh, err := c.shardFor(groupID)
	if err != nil {
		out.ErrorCode = err.Code
		return out
	}
	defer sh.mu.Unlock()
	g := sh.mu.groups[groupID]
	if g == nil || g.state == stateDead {
		out.State = stateDead.String()
		if version >= 6 {
			out.ErrorCode = kerr.GroupIDNotFound.Code
			out.ErrorMessage = stringPtr("group " + groupID + " not found")
		}
		return out
	}
	if g.consumer != nil { // weir: KIP-848: as Kafka 4 describes a consumer group here
		out.State = stateDead.String()
		if version >= 6 {
			out.ErrorCode = kerr.GroupIDNotFound.Code
			out.ErrorMessage = stringPtr("Group " + groupID + " is not a classic group.")
		}
		return out
	}
	g.describe(&out)
	return out
}

// ListGroups lists the groups of every loaded partition, filtered by state
// and by type (case-insensitively; empty filters match all): "classic",
// or "consumer" for KIP-848 groups (whose states are Empty, Assigning,
// Reconciling and Stable). While a partition loads the answer is
// COORDINATOR_LOAD_IN_PROGRESS, with the groups known so far.
func (c *Coordinator) ListGroups(states, types []string) ([]kmsg.ListGroupsResponseGroup, *kerr.Error) {
	match := func(filter []string, v string) bool {
		return len(filter) == 0 || slices.ContainsFunc(filter, func(f string) bool { return strings.EqualFold(f, v) })
	}
	classic, consumer := match(types, "classic"), match(types, consumerProtocolType) // weir: KIP-848
	if !classic && !consumer {
		return nil, nil
	}
	c.mu.Lock()
	shards := make([]*shard, 0, len(c.mu.shards))
	for _, sh := range c.mu.shards {
		shards = append(shards, sh)
	}
	c.mu.Unlock()
	var (
		out []kmsg.ListGroupsResponseGroup
		err *kerr.Error
	)
	for _, sh := range shards {
		sh.mu.Lock()
		if !sh.mu.loaded && !sh.mu.closed {
			err = kerr.CoordinatorLoadInProgress
		}
		for _, g := range sh.mu.groups {
			if g.consumer != nil { // weir: KIP-848
				if state := g.consumer.stateName(); consumer && g.state != stateDead && match(states, state) {
					lg := kmsg.NewListGroupsResponseGroup()
					lg.Group, lg.ProtocolType, lg.GroupState, lg.GroupType = g.id, consumerProtocolType, state, consumerProtocolType
					out = append(out, lg)
				}
				continue
			}
			if !classic || g.state == stateDead || !match(states, g.state.String()) {
				continue
			}
			lg := kmsg.NewListGroupsResponseGroup()
			lg.Group, lg.ProtocolType, lg.GroupState, lg.GroupType = g.id, g.protocolType, g.state.String(), "classic"
			out = append(out, lg)
		}
		sh.mu.Unlock()
	}
	slices.SortFunc(out, func(a, b kmsg.ListGroupsResponseGroup) int { return strings.Compare(a.Group, b.Group) })
	return out, err
}

// DeleteGroup deletes an empty group and its offsets, writing tombstones:
// GROUP_ID_NOT_FOUND for a group that does not exist, NON_EMPTY_GROUP for
// one with members.
func (c *Coordinator) DeleteGroup(ctx context.Context, groupID string) *kerr.Error {
	sh, err := c.shardFor(groupID)
	if err != nil {
		return err
	}
	sh.mu.Unlock()
	sh.writeMu.Lock()
	defer sh.writeMu.Unlock()
	sh.mu.Lock()
	g := sh.mu.groups[groupID]
	switch {
	case sh.mu.closed:
		sh.mu.Unlock()
		return kerr.NotCoordinator
	case g == nil || g.state == stateDead:
		sh.mu.Unlock()
		return kerr.GroupIDNotFound
	case g.state != stateEmpty, g.consumer != nil && !g.consumer.empty(): // weir: KIP-848
		sh.mu.Unlock()
		return kerr.NonEmptyGroup
	}
	// Dead while the tombstones are written: joins meanwhile are told to
	// retry, and find a new group once this one is gone.
	since := g.stateSince
	g.setState(stateDead, since)
	g.unwritten = nil
	recs := g.deleteRecords() // weir: KIP-848 groups have their own
	for _, k := range slices.SortedFunc(maps.Keys(g.offsets), compareTP) {
		recs = append(recs, kv{key: offsetKey(g.id, k)})
	}
	now := c.clock.Now()
	sh.mu.Unlock()
	werr := sh.append(ctx, now, recs)
	sh.mu.Lock()
	defer sh.mu.Unlock()
	if !sh.current(g) {
		return nil
	}
	if werr != nil {
		g.setState(stateEmpty, since)
		return storeError(werr, false)
	}
	sh.forget(g)
	return nil
}

func errCode(err *kerr.Error) int16 {
	if err == nil {
		return 0
	}
	return err.Code
}

// awaitParked waits for the answer to a parked JoinGroup or SyncGroup. If
// the request is abandoned first (its context ends: the broker is closing),
// the member no longer waits — slot finds the member's parking place — so
// it must come back in time like any other, and the group is settled
// without it. An answer that raced the abandonment still wins; otherwise
// abandoned is returned.
func awaitParked[T any](ctx context.Context, c *Coordinator, sh *shard, g *group, wait chan T, slot func(*member) *chan T, abandoned T) T {
	select {
	case res := <-wait:
		return res
	case <-ctx.Done():
	}
	sh.mu.Lock()
	if sh.current(g) {
		for _, m := range g.members {
			if p := slot(m); *p == wait {
				*p = nil
			}
		}
		sh.settle(c.env(), g)
	}
	sh.mu.Unlock()
	select {
	case res := <-wait:
		return res
	default:
		return abandoned
	}
}
