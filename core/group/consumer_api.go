package group

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"fmt"
	"slices"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/weirmq/weir/sdk"
)

// The KIP-848 requests: ConsumerGroupHeartbeat and ConsumerGroupDescribe.

// TopicInfo is a topic as a consumer group sees it.
type TopicInfo struct {
	Name       string
	ID         [16]byte
	Partitions int32
}

// Topics is the cluster's topics as consumer groups need them: to
// resolve subscriptions (by name and by regular expression) and to name
// the topics of assignments. The broker implements it over its metadata
// image; one value is a snapshot that does not change.
type Topics interface {
	// Version identifies the snapshot: it differs whenever a topic may
	// have been created, deleted or grown since another snapshot.
	Version() int64
	// Topic returns the topic of that name.
	Topic(name string) (TopicInfo, bool)
	// TopicByID returns the topic of that ID.
	TopicByID(id [16]byte) (TopicInfo, bool)
	// Names returns the name of every topic. The caller does not modify
	// the slice.
	Names() []string
}

// Assignors finds server-side assignors by name, as KIP-848 members name
// them (ConsumerGroupHeartbeat's ServerAssignor). *sdk.Registry
// implements it.
type Assignors interface {
	Assignor(name string) (sdk.Assignor, bool)
}

// noTopics is the Topics of a coordinator given none.
type noTopics struct{}

func (noTopics) Version() int64                       { return 0 }
func (noTopics) Topic(string) (TopicInfo, bool)       { return TopicInfo{}, false }
func (noTopics) TopicByID([16]byte) (TopicInfo, bool) { return TopicInfo{}, false }
func (noTopics) Names() []string                      { return nil }

// topics returns the topics as of now. Call it before taking a shard's
// lock: the broker's metadata has locks of its own.
func (c *Coordinator) topics() Topics {
	if c.opts.Topics != nil {
		if t := c.opts.Topics(); t != nil {
			return t
		}
	}
	return noTopics{}
}

// ConsumerGroupHeartbeat handles a KIP-848 heartbeat: a member joins
// (epoch 0), heartbeats (its epoch) or leaves (-1, or -2 for a static
// member that will be back), and learns its epoch and, when it changed
// or the member asked with every field, its assignment. It answers once
// the records of the change are in the log. Byte fields of req are not
// retained.
func (c *Coordinator) ConsumerGroupHeartbeat(ctx context.Context, req *kmsg.ConsumerGroupHeartbeatRequest, client Client) *kmsg.ConsumerGroupHeartbeatResponse {
	resp := req.ResponseKind().(*kmsg.ConsumerGroupHeartbeatResponse)
	res := c.consumerHeartbeat(ctx, req, client)
	resp.ErrorCode = errCode(res.err)
	if res.msg != "" {
		resp.ErrorMessage = stringPtr(res.msg)
	}
	if res.err != nil {
		return resp
	}
	resp.MemberID = stringPtr(res.memberID)
	resp.MemberEpoch = res.epoch
	if res.epoch >= 0 {
		resp.HeartbeatIntervalMillis = int32(c.env().cfg.ConsumerHeartbeatInterval.Milliseconds())
	}
	if res.sendAssignment {
		a := kmsg.NewConsumerGroupHeartbeatResponseAssignment()
		a.Topics = res.assignment
		resp.Assignment = &a
	}
	return resp
}

func (c *Coordinator) consumerHeartbeat(ctx context.Context, req *kmsg.ConsumerGroupHeartbeatRequest, client Client) cgResult {
	e := c.env()
	r, fail := c.consumerRequest(req, client, e.cfg)
	if fail != nil {
		return *fail
	}
	topics := c.topics()
	for range 2 { // a second time after turning an empty classic group into a consumer group
		sh, err := c.shardFor(req.Group)
		if err != nil {
			return cgFail(err, "")
		}
		e.now = c.clock.Now() // under the lock: steps see time in order
		g := sh.mu.groups[req.Group]
		switch {
		case g == nil && r.epoch != joinEpoch:
			sh.mu.Unlock()
			return cgFail(kerr.UnknownMemberID, "Member %s is not a member of group %s.", r.memberID, req.Group)
		case g == nil:
			g = newGroup(req.Group, e.now)
			sh.mu.groups[req.Group] = g
		case g.consumer == nil && r.epoch == joinEpoch && g.state != stateDead && g.classicEmpty() && g.generation > 0:
			// An empty classic group with records: they are deleted
			// before the group becomes a consumer group.
			sh.mu.Unlock()
			if err := sh.convert(ctx, g, true); err != nil {
				return cgFail(err, "")
			}
			continue
		}
		ce := &cenv{env: e, ctx: ctx, topics: topics, assignors: c.opts.Assignors, logger: c.logger}
		res := g.consumerHeartbeat(ce, r)
		sh.settle(e, g)
		write := g.needsWrite()
		sh.mu.Unlock()
		if write {
			if err := sh.writeGroup(ctx, g); err != nil && res.err == nil {
				return cgFail(storeError(err, false), "")
			}
		}
		return res
	}
	return cgFail(kerr.CoordinatorNotAvailable, "")
}

// consumerRequest validates a heartbeat as Kafka does (INVALID_REQUEST
// with the reason, UNSUPPORTED_ASSIGNOR, INVALID_REGULAR_EXPRESSION) and
// normalises it. A v0 join without a member id gets one; from v1 the
// member makes its own.
func (c *Coordinator) consumerRequest(req *kmsg.ConsumerGroupHeartbeatRequest, client Client, cfg *Config) (*cgRequest, *cgResult) {
	invalid := func(msg string) (*cgRequest, *cgResult) {
		r := cgFail(kerr.InvalidRequest, "%s", msg)
		return nil, &r
	}
	r := &cgRequest{version: req.Version, memberID: req.MemberID, epoch: req.MemberEpoch, rackID: req.RackID,
		regex: req.SubscribedTopicRegex, assignor: req.ServerAssignor, client: client, rebalanceTimeout: -1}
	switch {
	case req.Group == "":
		return invalid("GroupId can't be empty.")
	case req.InstanceID != nil && *req.InstanceID == "":
		return invalid("InstanceId can't be empty.")
	case req.RackID != nil && *req.RackID == "":
		return invalid("RackId can't be empty.")
	case req.Version >= 1 && req.MemberID == "":
		return invalid("MemberId can't be empty.")
	}
	if req.InstanceID != nil {
		r.instanceID = *req.InstanceID
	}
	switch {
	case r.epoch > 0 || r.epoch == leaveEpoch || r.epoch == staticLeaveEpoch:
		if r.memberID == "" {
			return invalid("MemberId can't be empty.")
		}
	case r.epoch == joinEpoch:
		switch {
		case req.RebalanceTimeoutMillis < 0:
			return invalid("RebalanceTimeoutMs must be provided in first request.")
		case req.Topics == nil || len(req.Topics) > 0:
			return invalid("TopicPartitions must be empty when (re-)joining.")
		case req.SubscribedTopicNames == nil && req.SubscribedTopicRegex == nil:
			return invalid("SubscribedTopicNames or SubscribedTopicRegex must be set in first request.")
		}
		if r.memberID == "" {
			r.memberID = newUUIDString()
		}
	default:
		return invalid("MemberEpoch is invalid.")
	}
	if req.RebalanceTimeoutMillis >= 0 {
		r.rebalanceTimeout = time.Duration(req.RebalanceTimeoutMillis) * time.Millisecond
	}
	if req.SubscribedTopicNames != nil {
		r.topics = slices.Compact(slices.Sorted(slices.Values(req.SubscribedTopicNames)))
	}
	if r.regex != nil && *r.regex != "" {
		re, err := compileSubscription(*r.regex)
		if err != nil {
			f := cgFail(kerr.InvalidRegularExpression, "SubscribedTopicRegex %s is not a valid regular expression: %v.", *r.regex, err)
			return nil, &f
		}
		r.re = re
	}
	if r.assignor != nil && *r.assignor != "" {
		if !c.hasAssignor(*r.assignor) {
			f := cgFail(kerr.UnsupportedAssignor, "ServerAssignor %s is not supported.", *r.assignor)
			return nil, &f
		}
	} else if r.epoch == joinEpoch && !c.hasAssignor(cfg.ConsumerAssignor) {
		f := cgFail(kerr.UnsupportedAssignor, "The default server assignor %s is not registered.", cfg.ConsumerAssignor)
		return nil, &f
	}
	if req.Topics != nil {
		r.owned = pset{}
		for _, t := range req.Topics {
			for _, p := range t.Partitions {
				r.owned[partKey{t.TopicID, p}] = struct{}{}
			}
		}
	}
	r.full = req.RebalanceTimeoutMillis >= 0 && (req.SubscribedTopicNames != nil || req.SubscribedTopicRegex != nil) && req.Topics != nil
	return r, nil
}

func (c *Coordinator) hasAssignor(name string) bool {
	if c.opts.Assignors == nil {
		return false
	}
	_, ok := c.opts.Assignors.Assignor(name)
	return ok
}

// newUUIDString is a random UUID as Kafka prints one (URL-safe base64,
// unpadded), for a member id the coordinator makes.
func newUUIDString() string {
	var u [16]byte
	_, _ = rand.Read(u[:])
	return base64.RawURLEncoding.EncodeToString(u[:])
}

// convert turns an empty group into an empty group of the other type,
// keeping its offsets: a classic group into a consumer group (toConsumer),
// or back. The records of the old type are deleted first (the group is
// Dead meanwhile, so requests retry); if that write fails the group stays
// as it was and the error is returned. A group no longer convertible when
// the write lock is held is left alone: the caller looks again.
func (sh *shard) convert(ctx context.Context, g *group, toConsumer bool) *kerr.Error {
	sh.writeMu.Lock()
	defer sh.writeMu.Unlock()
	sh.mu.Lock()
	if !sh.current(g) || g.state == stateDead || (g.consumer == nil) != toConsumer {
		sh.mu.Unlock()
		return nil
	}
	var recs []kv
	if toConsumer {
		if !g.classicEmpty() {
			sh.mu.Unlock()
			return nil
		}
		if g.generation > 0 {
			recs = []kv{{key: groupKey(g.id)}}
		}
	} else {
		if !g.consumer.empty() {
			sh.mu.Unlock()
			return nil
		}
		if g.consumer.epoch > 0 || g.consumer.dirty() {
			recs = g.consumer.deleteRecords(g.id)
		}
	}
	since := g.stateSince
	now := sh.c.clock.Now()
	g.setState(stateDead, since)
	sh.mu.Unlock()
	var err error
	if len(recs) > 0 {
		err = sh.append(ctx, now, recs)
	}
	sh.mu.Lock()
	defer sh.mu.Unlock()
	if !sh.current(g) {
		return nil
	}
	if err != nil {
		g.setState(stateEmpty, since)
		return storeError(err, false)
	}
	g.unwritten = nil
	g.generation, g.protocolType, g.protocol, g.leader = 0, "", "", ""
	if toConsumer {
		g.consumer = newConsumerGroup()
	} else {
		g.consumer = nil
	}
	g.setState(stateEmpty, now)
	sh.c.logger.Info("group changed type", "group", g.id, "consumer", toConsumer)
	return nil
}

// ConsumerGroupDescribe describes one group as ConsumerGroupDescribe
// answers (v0, v1 with member types): GROUP_ID_NOT_FOUND for a group
// that does not exist or is not a consumer group.
func (c *Coordinator) ConsumerGroupDescribe(groupID string, version int16) kmsg.ConsumerGroupDescribeResponseGroup {
	out := kmsg.NewConsumerGroupDescribeResponseGroup()
	out.Group = groupID
	if groupID == "" {
		out.ErrorCode = kerr.InvalidGroupID.Code
		return out
	}
	topics := c.topics()
	sh, err := c.shardFor(groupID)
	if err != nil {
		out.ErrorCode = err.Code
		return out
	}
	defer sh.mu.Unlock()
	g := sh.mu.groups[groupID]
	switch {
	case g == nil || g.state == stateDead:
		out.ErrorCode, out.ErrorMessage = kerr.GroupIDNotFound.Code, stringPtr(fmt.Sprintf("Group %s not found.", groupID))
		return out
	case g.consumer == nil:
		out.ErrorCode, out.ErrorMessage = kerr.GroupIDNotFound.Code, stringPtr(fmt.Sprintf("Group %s is not a consumer group.", groupID))
		return out
	}
	cg := g.consumer
	out.State, out.Epoch, out.AssignmentEpoch = cg.stateName(), cg.epoch, cg.assignmentEpoch
	out.AssignorName = cg.preferredAssignor(c.env().cfg.ConsumerAssignor)
	for _, id := range cg.sortedMemberIDs() {
		m := cg.members[id]
		dm := kmsg.NewConsumerGroupDescribeResponseGroupMember()
		dm.MemberID, dm.InstanceID, dm.MemberEpoch = id, instancePtr(m.instanceID), m.epoch
		if m.rackID != "" {
			dm.RackID = stringPtr(m.rackID)
		}
		dm.ClientID, dm.ClientHost = m.clientID, m.clientHost
		dm.SubscribedTopics = slices.Clone(m.topics)
		if dm.SubscribedTopics == nil {
			dm.SubscribedTopics = []string{}
		}
		if m.regex != "" {
			dm.SubscribedTopicRegex = stringPtr(m.regex)
		}
		dm.Assignment = describeAssignment(topics, groupByTopic(keys(m.assigned)))
		dm.TargetAssignment = describeAssignment(topics, groupByTopic(keys(cg.target[id])))
		if version >= 1 {
			dm.MemberType = 1 // the consumer protocol
		}
		out.Members = append(out.Members, dm)
	}
	return out
}

func keys[K comparable, V any](m map[K]V) []K {
	out := make([]K, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	return out
}

// describeAssignment names an assignment's topics; topics that no longer
// exist are left out, as Kafka does.
func describeAssignment(topics Topics, parts []topicParts) kmsg.Assignment {
	a := kmsg.NewAssignment()
	a.TopicPartitions = []kmsg.AssignmentTopicPartition{}
	for _, tp := range parts {
		t, ok := topics.TopicByID(tp.id)
		if !ok {
			continue
		}
		atp := kmsg.NewAssignmentTopicPartition()
		atp.TopicID, atp.Topic, atp.Partitions = tp.id, t.Name, tp.partitions
		a.TopicPartitions = append(a.TopicPartitions, atp)
	}
	return a
}

// ValidateOffsetFetch checks the member of an OffsetFetch (v9+, which
// carries the member id and epoch of KIP-848 members): for a consumer
// group, a given member must exist (UNKNOWN_MEMBER_ID) at that epoch
// (STALE_MEMBER_EPOCH). Requests without a member, and groups of the
// classic protocol, pass.
func (c *Coordinator) ValidateOffsetFetch(groupID string, memberID *string, memberEpoch int32) *kerr.Error {
	if memberID == nil && memberEpoch < 0 {
		return nil
	}
	sh, err := c.shardFor(groupID)
	if err != nil {
		return nil // FetchOffsets answers with it
	}
	defer sh.mu.Unlock()
	g := sh.mu.groups[groupID]
	if g == nil || g.consumer == nil || g.state == stateDead {
		return nil
	}
	return g.consumer.validateFetch(memberID, memberEpoch)
}

// joinConsumerGroup is the classic JoinGroup's step for a consumer group:
// one with members refuses classic members (INCONSISTENT_GROUP_PROTOCOL;
// Weir does not host classic members in consumer groups, as Kafka does
// with group.consumer.migration.policy=disabled), an empty one becomes a
// classic group (its offsets kept). Other groups pass.
func (c *Coordinator) joinConsumerGroup(ctx context.Context, groupID string) *kerr.Error {
	if groupID == "" {
		return nil
	}
	sh, err := c.shardFor(groupID)
	if err != nil {
		return nil // join answers with it
	}
	g := sh.mu.groups[groupID]
	if g == nil || g.consumer == nil || g.state == stateDead {
		sh.mu.Unlock()
		return nil
	}
	empty := g.consumer.empty()
	sh.mu.Unlock()
	if !empty {
		return kerr.InconsistentGroupProtocol
	}
	return sh.convert(ctx, g, false)
}
