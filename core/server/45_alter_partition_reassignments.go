package server

import (
	"context"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/weirmq/weir/core/controller"
)

// handleAlterPartitionReassignments starts, replaces or cancels (null
// replicas) partition reassignments (KIP-455) through the controller. The
// new replicas catch up as followers; the controller completes the move
// when they are in the ISR. Each partition gets its own answer.
func (b *Broker) handleAlterPartitionReassignments(ctx context.Context, _ *requestContext, kreq kmsg.Request) (any, error) {
	req := kreq.(*kmsg.AlterPartitionAssignmentsRequest)
	resp := respond[*kmsg.AlterPartitionAssignmentsResponse](req)
	img := b.opts.Metadata.Image()
	type slot struct {
		topic     string
		partition int32
		err       error
	}
	var slots []slot
	cmd := &controller.AlterPartitionReassignments{}
	for _, rt := range req.Topics {
		t, ok := img.TopicByName(rt.Topic)
		for _, rp := range rt.Partitions {
			if !ok || rp.Partition < 0 || int(rp.Partition) >= len(t.Partitions) {
				slots = append(slots, slot{rt.Topic, rp.Partition, refuse(kerr.UnknownTopicOrPartition, "%s-%d does not exist", rt.Topic, rp.Partition)})
				continue
			}
			slots = append(slots, slot{topic: rt.Topic, partition: rp.Partition})
			cmd.Reassignments = append(cmd.Reassignments, controller.Reassignment{TopicID: t.ID, Partition: rp.Partition, Replicas: rp.Replicas})
		}
	}
	var results []controller.PartitionResult
	if len(cmd.Reassignments) > 0 {
		res, err := b.submit(ctx, req.TimeoutMillis, cmd)
		if err != nil {
			resp.ErrorCode, resp.ErrorMessage = errorCode(err), errorMessage(err)
			return resp, nil
		}
		results = res.Partitions
	}
	byTopic := map[string]int{}
	next := 0
	for _, s := range slots {
		err := s.err
		if err == nil && next < len(results) {
			err = results[next].Err
			next++
		}
		i, ok := byTopic[s.topic]
		if !ok {
			i = len(resp.Topics)
			byTopic[s.topic] = i
			rt := kmsg.NewAlterPartitionAssignmentsResponseTopic()
			rt.Topic = s.topic
			resp.Topics = append(resp.Topics, rt)
		}
		rp := kmsg.NewAlterPartitionAssignmentsResponseTopicPartition()
		rp.Partition = s.partition
		if err != nil {
			rp.ErrorCode, rp.ErrorMessage = errorCode(err), errorMessage(err)
		}
		resp.Topics[i].Partitions = append(resp.Topics[i].Partitions, rp)
	}
	return resp, nil
}
