package server

import (
	"context"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/weirmq/weir/core/controller"
	"github.com/weirmq/weir/core/group"
)

// handleOffsetCommit commits a group's offsets: from a member of the
// current generation, or (generation -1) for a group without members.
// Partitions of topics that do not exist get UNKNOWN_TOPIC_OR_PARTITION
// (UNKNOWN_TOPIC_ID from v10, where topics come by ID). v2–v4 may ask for
// their own retention time.
func (b *Broker) handleOffsetCommit(ctx context.Context, _ *requestContext, kreq kmsg.Request) (any, error) {
	req := kreq.(*kmsg.OffsetCommitRequest)
	resp := respond[*kmsg.OffsetCommitResponse](req)
	img := b.opts.Metadata.Image()
	cr := &group.CommitRequest{
		Version: req.Version, Group: req.Group, MemberID: req.MemberID, InstanceID: req.InstanceID,
		Generation: req.Generation, RetentionMs: -1,
	}
	if req.Version >= 2 && req.Version <= 4 {
		cr.RetentionMs = req.RetentionTimeMillis
	}
	for _, rt := range req.Topics {
		t, unknown := commitTopic(img, req.Version, rt.Topic, rt.TopicID)
		for _, rp := range rt.Partitions {
			o := group.OffsetCommit{
				Topic: t.Name, TopicID: t.ID, Partition: rp.Partition, Offset: rp.Offset,
				LeaderEpoch: -1, Metadata: rp.Metadata, Err: unknown,
			}
			if req.Version >= 6 {
				o.LeaderEpoch = rp.LeaderEpoch
			}
			if unknown == nil && (rp.Partition < 0 || int(rp.Partition) >= len(t.Partitions)) {
				o.Err = kerr.UnknownTopicOrPartition
			}
			cr.Offsets = append(cr.Offsets, o)
		}
	}
	b.groups.CommitOffsets(ctx, cr)
	i := 0
	for _, rt := range req.Topics {
		st := kmsg.NewOffsetCommitResponseTopic()
		st.Topic, st.TopicID = rt.Topic, rt.TopicID
		for _, rp := range rt.Partitions {
			sp := kmsg.NewOffsetCommitResponseTopicPartition()
			sp.Partition = rp.Partition
			if err := cr.Offsets[i].Err; err != nil {
				sp.ErrorCode = err.Code
			}
			st.Partitions = append(st.Partitions, sp)
			i++
		}
		resp.Topics = append(resp.Topics, st)
	}
	return resp, nil
}

// commitTopic resolves a topic of an offset request, by name or (v10+) by
// ID; the error is the answer for its partitions when it does not exist.
func commitTopic(img *controller.Image, version int16, name string, id [16]byte) (controller.Topic, *kerr.Error) {
	if version >= 10 {
		if t, ok := img.TopicByID(controller.TopicID(id)); ok {
			return t, nil
		}
		return controller.Topic{}, kerr.UnknownTopicID
	}
	if t, ok := img.TopicByName(name); ok {
		return t, nil
	}
	return controller.Topic{Name: name}, kerr.UnknownTopicOrPartition
}
