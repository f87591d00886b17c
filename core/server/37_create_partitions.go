package server

import (
	"context"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/weirmq/weir/core/controller"
)

// handleCreatePartitions raises topics' partition counts. The new
// partitions get the request's replica assignments, or are spread over
// the live brokers with the topic's replication factor, continuing the
// round-robin where the existing partitions stopped. A count that does
// not increase is INVALID_PARTITIONS. With validate_only everything is
// checked, the controller's rules included, and nothing changes.
func (b *Broker) handleCreatePartitions(ctx context.Context, _ *requestContext, kreq kmsg.Request) (any, error) {
	req := kreq.(*kmsg.CreatePartitionsRequest)
	resp := respond[*kmsg.CreatePartitionsResponse](req)
	names := make([]string, len(req.Topics))
	for i, rt := range req.Topics {
		names[i] = rt.Topic
	}
	dups := duplicates(names)
	for _, rt := range req.Topics {
		st := kmsg.NewCreatePartitionsResponseTopic()
		st.Topic = rt.Topic
		var err error
		if dups[rt.Topic] {
			err = refuse(kerr.InvalidRequest, "topic %q is listed more than once in the request", rt.Topic)
		} else {
			err = b.createPartitions(ctx, req, rt)
		}
		if err != nil {
			st.ErrorCode, st.ErrorMessage = errorCode(err), errorMessage(err)
			b.logger.Debug("create partitions refused", "topic", rt.Topic, "err", err)
		}
		resp.Topics = append(resp.Topics, st)
	}
	return resp, nil
}

func (b *Broker) createPartitions(ctx context.Context, req *kmsg.CreatePartitionsRequest, rt kmsg.CreatePartitionsRequestTopic) error {
	img := b.opts.Metadata.Image()
	t, ok := img.TopicByName(rt.Topic)
	if !ok {
		return refuse(kerr.UnknownTopicOrPartition, "topic %q does not exist", rt.Topic)
	}
	have := int32(len(t.Partitions))
	if rt.Count <= have {
		return refuse(kerr.InvalidPartitions, "topic %q has %d partitions; the new count %d must be larger", rt.Topic, have, rt.Count)
	}
	if rt.Count > controller.MaxPartitions {
		return refuse(kerr.InvalidPartitions, "topic %q: %d partitions is more than the limit of %d", rt.Topic, rt.Count, controller.MaxPartitions)
	}
	adding := int(rt.Count - have)
	var assignments [][]int32
	if rt.Assignment != nil {
		if len(rt.Assignment) != adding {
			return refuse(kerr.InvalidReplicaAssignment, "topic %q: %d assignments given for %d new partitions", rt.Topic, len(rt.Assignment), adding)
		}
		for _, a := range rt.Assignment {
			assignments = append(assignments, a.Replicas)
		}
	} else {
		var err error
		assignments, err = controller.AssignReplicas(img.Brokers(), adding, len(t.Partitions[0].Replicas), int(have))
		if err != nil {
			return err
		}
	}
	cmd := &controller.CreatePartitions{TopicID: t.ID, Assignments: assignments, Count: rt.Count}
	if req.ValidateOnly {
		_, _, err := img.Apply(cmd)
		return err
	}
	if _, err := b.submit(ctx, req.TimeoutMillis, cmd); err != nil {
		return err
	}
	b.logger.Info("partitions created", "topic", rt.Topic, "partitions", rt.Count)
	return nil
}
