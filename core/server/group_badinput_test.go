package server

import (
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// Bad input to the group APIs, as raw requests: each gets Kafka's error
// code, and the group is left as it was.

// findCoordinator asks for the group's coordinator (creating
// __consumer_offsets) and waits until its groups are loaded.
func (tb *testBroker) findCoordinator(t *testing.T, group string) {
	t.Helper()
	fc := kmsg.NewPtrFindCoordinatorRequest()
	fc.CoordinatorKeys = []string{group}
	c := tb.send(t, fc, 4).(*kmsg.FindCoordinatorResponse).Coordinators[0]
	if c.ErrorCode != 0 || c.NodeID != tb.cfg.NodeID {
		t.Fatalf("find coordinator: %+v", c)
	}
	for i := 0; ; i++ {
		if tb.send(t, kmsg.NewPtrListGroupsRequest(), 5).(*kmsg.ListGroupsResponse).ErrorCode == 0 {
			return
		}
		if i == 1000 {
			t.Fatal("groups still loading")
		}
		time.Sleep(time.Millisecond)
	}
}

func rawJoin(t *testing.T, tb *testBroker, group, member, instance string, sessionMs int32) *kmsg.JoinGroupResponse {
	t.Helper()
	req := kmsg.NewPtrJoinGroupRequest()
	req.Group, req.MemberID, req.SessionTimeoutMillis, req.RebalanceTimeoutMillis = group, member, sessionMs, 10_000
	if instance != "" {
		req.InstanceID = &instance
	}
	req.ProtocolType = "consumer"
	md := kmsg.NewConsumerMemberMetadata()
	md.Topics = []string{"orders"}
	req.Protocols = []kmsg.JoinGroupRequestProtocol{{Name: "range", Metadata: md.AppendTo(nil)}}
	return tb.send(t, req, 9).(*kmsg.JoinGroupResponse)
}

func rawHeartbeat(t *testing.T, tb *testBroker, group, member, instance string, gen int32) int16 {
	t.Helper()
	req := kmsg.NewPtrHeartbeatRequest()
	req.Group, req.MemberID, req.Generation = group, member, gen
	if instance != "" {
		req.InstanceID = &instance
	}
	return tb.send(t, req, 4).(*kmsg.HeartbeatResponse).ErrorCode
}

func rawCommit(t *testing.T, tb *testBroker, v int16, group, member string, gen int32, topic string, offset int64, metadata string) int16 {
	t.Helper()
	req := kmsg.NewPtrOffsetCommitRequest()
	req.Group, req.MemberID, req.Generation = group, member, gen
	rt := kmsg.NewOffsetCommitRequestTopic()
	rt.Topic = topic
	rp := kmsg.NewOffsetCommitRequestTopicPartition()
	rp.Offset, rp.Metadata = offset, &metadata
	rt.Partitions = append(rt.Partitions, rp)
	req.Topics = append(req.Topics, rt)
	return tb.send(t, req, v).(*kmsg.OffsetCommitResponse).Topics[0].Partitions[0].ErrorCode
}

func TestGroupBadInput(t *testing.T) {
	tb := startBroker(t, "", groupTOML)
	tb.createTopic(t, "orders", 1, nil)
	tb.createTopic(t, "other", 1, nil)
	code := func(what string, got int16, want *kerr.Error) {
		t.Helper()
		checkCode(t, what, got, nil, want, "")
	}

	tb.findCoordinator(t, "g")
	// A static member forms the group: member id first (KIP-394 does not
	// apply to static members), then the sync.
	j := rawJoin(t, tb, "g", "", "s1", 6000)
	code("static join", j.ErrorCode, noError)
	member, gen := j.MemberID, j.Generation
	sync := kmsg.NewPtrSyncGroupRequest()
	sync.Group, sync.MemberID, sync.Generation = "g", member, gen
	sync.GroupAssignment = []kmsg.SyncGroupRequestGroupAssignment{{MemberID: member, MemberAssignment: []byte("A")}}
	s := tb.send(t, sync, 5).(*kmsg.SyncGroupResponse)
	code("sync", s.ErrorCode, noError)
	code("commit", rawCommit(t, tb, 8, "g", member, gen, "orders", 5, "m"), noError)

	// Joins that are refused.
	code("join with a session below the minimum", rawJoin(t, tb, "g", "", "", 100).ErrorCode, kerr.InvalidSessionTimeout)
	code("join without a group id", rawJoin(t, tb, "", "", "", 6000).ErrorCode, kerr.InvalidGroupID)
	code("join with an unknown member id", rawJoin(t, tb, "g", "made-up", "", 6000).ErrorCode, kerr.UnknownMemberID)
	code("join of an unknown group with a member id", rawJoin(t, tb, "nogroup", "made-up", "", 6000).ErrorCode, kerr.UnknownMemberID)
	code("dynamic join without a member id (v9)", rawJoin(t, tb, "g2", "", "", 6000).ErrorCode, kerr.MemberIDRequired)

	// Heartbeats and syncs that are refused.
	code("heartbeat of an old generation", rawHeartbeat(t, tb, "g", member, "s1", gen-1), kerr.IllegalGeneration)
	code("heartbeat of an unknown member", rawHeartbeat(t, tb, "g", "made-up", "", gen), kerr.UnknownMemberID)
	code("heartbeat to an unknown group", rawHeartbeat(t, tb, "nogroup", member, "", gen), kerr.UnknownMemberID)
	sync.Generation = gen + 1
	code("sync of a future generation", tb.send(t, sync, 5).(*kmsg.SyncGroupResponse).ErrorCode, kerr.IllegalGeneration)

	// Commits that are refused.
	code("v8 commit to an unknown group", rawCommit(t, tb, 8, "nogroup", "m", 3, "orders", 1, ""), kerr.IllegalGeneration)
	code("v9 commit to an unknown group", rawCommit(t, tb, 9, "nogroup", "m", 3, "orders", 1, ""), kerr.GroupIDNotFound)
	code("commit of an old generation", rawCommit(t, tb, 8, "g", member, gen-1, "orders", 1, ""), kerr.IllegalGeneration)
	code("commit of an unknown member", rawCommit(t, tb, 8, "g", "made-up", gen, "orders", 1, ""), kerr.UnknownMemberID)
	code("simple commit to a group with members", rawCommit(t, tb, 8, "g", "", -1, "orders", 1, ""), kerr.UnknownMemberID)
	code("commit with oversized metadata", rawCommit(t, tb, 8, "g", member, gen, "orders", 1, strings.Repeat("x", 4097)), kerr.OffsetMetadataTooLarge)
	code("commit to an unknown topic", rawCommit(t, tb, 8, "g", member, gen, "nosuch", 1, ""), kerr.UnknownTopicOrPartition)

	// The static member restarts: its new member id fences the old one,
	// without a rebalance.
	j2 := rawJoin(t, tb, "g", "", "s1", 6000)
	code("static rejoin", j2.ErrorCode, noError)
	if j2.Generation != gen || j2.MemberID == member || !j2.SkipAssignment {
		t.Fatalf("static rejoin: generation %d (was %d), member %s (was %s), skip assignment %v", j2.Generation, gen, j2.MemberID, member, j2.SkipAssignment)
	}
	code("heartbeat of the fenced member", rawHeartbeat(t, tb, "g", member, "s1", gen), kerr.FencedInstanceID)
	code("commit of the fenced member", rawCommit(t, tb, 8, "g", member, gen, "orders", 1, ""), kerr.UnknownMemberID)
	leave := kmsg.NewPtrLeaveGroupRequest()
	leave.Group = "g"
	leave.Members = []kmsg.LeaveGroupRequestMember{{MemberID: member, InstanceID: kmsg.StringPtr("s1")}, {MemberID: "made-up"}}
	lr := tb.send(t, leave, 5).(*kmsg.LeaveGroupResponse)
	code("leave", lr.ErrorCode, noError)
	code("leave of the fenced member", lr.Members[0].ErrorCode, kerr.FencedInstanceID)
	code("leave of an unknown member", lr.Members[1].ErrorCode, kerr.UnknownMemberID)
	code("heartbeat of the new member", rawHeartbeat(t, tb, "g", j2.MemberID, "s1", gen), noError)

	// Admin requests that are refused.
	del := kmsg.NewPtrDeleteGroupsRequest()
	del.Groups = []string{"g", "nogroup"}
	dr := tb.send(t, del, 2).(*kmsg.DeleteGroupsResponse)
	code("delete a group with members", dr.Groups[0].ErrorCode, kerr.NonEmptyGroup)
	code("delete an unknown group", dr.Groups[1].ErrorCode, kerr.GroupIDNotFound)
	od := kmsg.NewPtrOffsetDeleteRequest()
	od.Group = "g"
	od.Topics = []kmsg.OffsetDeleteRequestTopic{{Topic: "orders", Partitions: []kmsg.OffsetDeleteRequestTopicPartition{{Partition: 0}}}}
	odr := tb.send(t, od, 0).(*kmsg.OffsetDeleteResponse)
	code("offset delete", odr.ErrorCode, noError)
	code("offset delete of a subscribed topic", odr.Topics[0].Partitions[0].ErrorCode, kerr.GroupSubscribedToTopic)
	fc := kmsg.NewPtrFindCoordinatorRequest()
	fc.CoordinatorType, fc.CoordinatorKeys = 1, []string{"txn"}
	code("find a transaction coordinator", tb.send(t, fc, 4).(*kmsg.FindCoordinatorResponse).Coordinators[0].ErrorCode, kerr.CoordinatorNotAvailable)
	fc.CoordinatorType = 7
	code("find a coordinator of an unknown type", tb.send(t, fc, 4).(*kmsg.FindCoordinatorResponse).Coordinators[0].ErrorCode, kerr.InvalidRequest)
	dg := kmsg.NewPtrDescribeGroupsRequest()
	dg.Groups = []string{"nogroup"}
	code("describe an unknown group (v6)", tb.send(t, dg, 6).(*kmsg.DescribeGroupsResponse).Groups[0].ErrorCode, kerr.GroupIDNotFound)
	if got := tb.send(t, dg, 5).(*kmsg.DescribeGroupsResponse).Groups[0]; got.ErrorCode != 0 || got.State != "Dead" {
		t.Errorf("describe an unknown group (v5): %+v", got)
	}
	of := kmsg.NewPtrOffsetFetchRequest()
	rg := kmsg.NewOffsetFetchRequestGroup()
	rg.Group = "g"
	rg.Topics = []kmsg.OffsetFetchRequestGroupTopic{{TopicID: [16]byte{1}, Partitions: []int32{0}}}
	of.Groups = append(of.Groups, rg)
	ofr := tb.send(t, of, 10).(*kmsg.OffsetFetchResponse)
	code("offset fetch of an unknown topic id", ofr.Groups[0].Topics[0].Partitions[0].ErrorCode, kerr.UnknownTopicID)

	// After all that, the group is as it was: stable, one member, its
	// assignment and its commit.
	dg.Groups = []string{"g"}
	d := tb.send(t, dg, 5).(*kmsg.DescribeGroupsResponse).Groups[0]
	if d.State != "Stable" || len(d.Members) != 1 || d.Members[0].MemberID != j2.MemberID || string(d.Members[0].MemberAssignment) != "A" {
		t.Fatalf("group after the bad requests: %+v", d)
	}
	of = kmsg.NewPtrOffsetFetchRequest()
	of.Group = "g"
	of.Topics = []kmsg.OffsetFetchRequestTopic{{Topic: "orders", Partitions: []int32{0}}}
	p := tb.send(t, of, 7).(*kmsg.OffsetFetchResponse).Topics[0].Partitions[0]
	if p.Offset != 5 || p.Metadata == nil || *p.Metadata != "m" {
		t.Fatalf("committed offset after the bad requests: %+v", p)
	}
}
