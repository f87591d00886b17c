package server

import (
	"context"
	"testing"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// On one broker every election is unnecessary and every move is refused
// or a no-op; the per-partition answers carry Kafka's codes. (Moves and
// elections across brokers are exercised by the multi-process tests in
// cmd/weir.)
func TestElectLeadersAndReassignmentsAnswerPerPartition(t *testing.T) {
	tb := startBroker(t, "", "")
	adm := tb.admin()
	defer adm.Close()
	ctx := context.Background()
	if _, err := adm.CreateTopic(ctx, 2, 1, nil, "moves"); err != nil {
		t.Fatal(err)
	}

	set := kadm.TopicsSet{}
	set.Add("moves", 0, 1)
	set.Add("missing", 0)
	res, err := adm.ElectLeaders(ctx, kadm.ElectPreferredReplica, set)
	if err != nil {
		t.Fatal(err)
	}
	for topic, want := range map[string]error{"moves": kerr.ElectionNotNeeded, "missing": kerr.UnknownTopicOrPartition} {
		for p, r := range res[topic] {
			if r.Err != want {
				t.Errorf("elect %s-%d: %v, want %v", topic, p, r.Err, want)
			}
		}
	}
	if len(res["moves"]) != 2 || len(res["missing"]) != 1 {
		t.Fatalf("answers: %+v", res)
	}
	// Unclean election of partitions that have a leader: not needed.
	res, err = adm.ElectLeaders(ctx, kadm.ElectLiveReplica, set)
	if err != nil {
		t.Fatal(err)
	}
	if r := res["moves"][0]; r.Err != kerr.ElectionNotNeeded {
		t.Errorf("unclean election of a led partition: %v", r.Err)
	}

	req := kmsg.NewPtrAlterPartitionAssignmentsRequest()
	topic := kmsg.NewAlterPartitionAssignmentsRequestTopic()
	topic.Topic = "moves"
	for p, replicas := range map[int32][]int32{0: {tb.cfg.NodeID + 100}, 1: nil} { // an unknown broker; a cancel with nothing to cancel
		rp := kmsg.NewAlterPartitionAssignmentsRequestTopicPartition()
		rp.Partition, rp.Replicas = p, replicas
		topic.Partitions = append(topic.Partitions, rp)
	}
	req.Topics = append(req.Topics, topic)
	resp, err := req.RequestWith(ctx, tb.client())
	if err != nil {
		t.Fatal(err)
	}
	if resp.ErrorCode != 0 || len(resp.Topics) != 1 || len(resp.Topics[0].Partitions) != 2 {
		t.Fatalf("reassign response: %+v", resp)
	}
	for _, rp := range resp.Topics[0].Partitions {
		want := kerr.InvalidReplicaAssignment.Code
		if rp.Partition == 1 {
			want = kerr.NoReassignmentInProgress.Code
		}
		if rp.ErrorCode != want || rp.ErrorMessage == nil {
			t.Errorf("reassign moves-%d: code %d (%v), want %d with a message", rp.Partition, rp.ErrorCode, rp.ErrorMessage, want)
		}
	}
	list, err := adm.ListPartitionReassignments(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	if len(list) != 0 {
		t.Fatalf("ongoing reassignments after refused moves: %+v", list)
	}
}
