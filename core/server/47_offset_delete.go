package server

import (
	"context"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/weirmq/weir/core/group"
)

// handleOffsetDelete deletes a group's committed offsets, except of topics
// the group consumes (GROUP_SUBSCRIBED_TO_TOPIC).
func (b *Broker) handleOffsetDelete(ctx context.Context, _ *requestContext, kreq kmsg.Request) (any, error) {
	req := kreq.(*kmsg.OffsetDeleteRequest)
	resp := respond[*kmsg.OffsetDeleteResponse](req)
	img := b.opts.Metadata.Image()
	var parts []group.OffsetDelete
	for _, rt := range req.Topics {
		t, ok := img.TopicByName(rt.Topic)
		for _, rp := range rt.Partitions {
			d := group.OffsetDelete{Topic: rt.Topic, Partition: rp.Partition}
			if !ok || rp.Partition < 0 || int(rp.Partition) >= len(t.Partitions) {
				d.Err = kerr.UnknownTopicOrPartition
			}
			parts = append(parts, d)
		}
	}
	if err := b.groups.DeleteOffsets(ctx, req.Group, parts); err != nil {
		resp.ErrorCode = err.Code
		return resp, nil
	}
	i := 0
	for _, rt := range req.Topics {
		st := kmsg.NewOffsetDeleteResponseTopic()
		st.Topic = rt.Topic
		for _, rp := range rt.Partitions {
			sp := kmsg.NewOffsetDeleteResponseTopicPartition()
			sp.Partition = rp.Partition
			if err := parts[i].Err; err != nil {
				sp.ErrorCode = err.Code
			}
			st.Partitions = append(st.Partitions, sp)
			i++
		}
		resp.Topics = append(resp.Topics, st)
	}
	return resp, nil
}
