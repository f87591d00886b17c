package server

import (
	"context"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/weirmq/weir/core/controller"
)

// handleElectLeaders runs preferred (election type 0) or unclean (1)
// leader elections through the controller, for the listed partitions or,
// with a null topic list, for every partition. The answer has an entry
// per listed partition (ELECTION_NOT_NEEDED when the leader is already
// the one the election would pick, PREFERRED_LEADER_NOT_AVAILABLE,
// ELIGIBLE_LEADERS_NOT_AVAILABLE, UNKNOWN_TOPIC_OR_PARTITION); for "all",
// an entry per partition that got a new leader, as Kafka does.
func (b *Broker) handleElectLeaders(ctx context.Context, _ *requestContext, kreq kmsg.Request) (any, error) {
	req := kreq.(*kmsg.ElectLeadersRequest)
	resp := respond[*kmsg.ElectLeadersResponse](req)
	if req.Version >= 1 && req.ElectionType != 0 && req.ElectionType != 1 {
		resp.ErrorCode = kerr.InvalidRequest.Code
		return resp, nil
	}
	img := b.opts.Metadata.Image()
	cmd := &controller.ElectLeaders{Unclean: req.Version >= 1 && req.ElectionType == 1}
	// Partitions named in the request that do not exist are answered here;
	// the rest go to the controller, which answers each in order.
	type slot struct {
		topic     string
		partition int32
		err       error
	}
	var slots []slot
	for _, rt := range req.Topics {
		t, ok := img.TopicByName(rt.Topic)
		for _, p := range rt.Partitions {
			if !ok || p < 0 || int(p) >= len(t.Partitions) {
				slots = append(slots, slot{rt.Topic, p, refuse(kerr.UnknownTopicOrPartition, "%s-%d does not exist", rt.Topic, p)})
				continue
			}
			slots = append(slots, slot{topic: rt.Topic, partition: p})
			cmd.Partitions = append(cmd.Partitions, controller.TopicPartition{TopicID: t.ID, Partition: p})
		}
	}
	var results []controller.PartitionResult
	if req.Topics == nil || len(cmd.Partitions) > 0 {
		res, err := b.submit(ctx, req.TimeoutMillis, cmd)
		if err != nil && (req.Version >= 1 || req.Topics == nil) {
			resp.ErrorCode = errorCode(err) // v0 has no top-level code: only per-partition answers
			return resp, nil
		}
		if err != nil { // v0: every listed partition carries the failure
			for i := range slots {
				if slots[i].err == nil {
					slots[i].err = err
				}
			}
		}
		results = res.Partitions
	}
	byTopic := map[string]int{}
	add := func(topic string, p int32, err error) {
		i, ok := byTopic[topic]
		if !ok {
			i = len(resp.Topics)
			byTopic[topic] = i
			rt := kmsg.NewElectLeadersResponseTopic()
			rt.Topic = topic
			resp.Topics = append(resp.Topics, rt)
		}
		rp := kmsg.NewElectLeadersResponseTopicPartition()
		rp.Partition = p
		if err != nil {
			rp.ErrorCode, rp.ErrorMessage = errorCode(err), errorMessage(err)
		}
		resp.Topics[i].Partitions = append(resp.Topics[i].Partitions, rp)
	}
	after := b.opts.Metadata.Image()
	topicName := func(id controller.TopicID) string {
		if t, ok := after.TopicByID(id); ok {
			return t.Name
		}
		return id.String()
	}
	if req.Topics == nil {
		for _, r := range results {
			add(topicName(r.TopicID), r.Partition, r.Err)
		}
		return resp, nil
	}
	next := 0
	for _, s := range slots {
		err := s.err
		if err == nil && next < len(results) {
			err = results[next].Err
			next++
		}
		add(s.topic, s.partition, err)
	}
	return resp, nil
}
