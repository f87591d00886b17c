package server

import (
	"context"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/weirmq/weir/core/controller"
	"github.com/weirmq/weir/core/group"
)

// handleOffsetFetch returns groups' committed offsets: for the partitions
// asked (-1 where there is none), or all of them when the topics are null
// (v2+). One group before v8, a batch from v8; topics by ID from v10.
// Before v2 a group's error goes on each partition. require_stable
// (KIP-447) never finds a pending transactional commit: there are no
// transactions yet. From v9 a KIP-848 member's id and epoch are checked
// (UNKNOWN_MEMBER_ID, STALE_MEMBER_EPOCH).
func (b *Broker) handleOffsetFetch(_ context.Context, _ *requestContext, kreq kmsg.Request) (any, error) {
	req := kreq.(*kmsg.OffsetFetchRequest)
	resp := respond[*kmsg.OffsetFetchResponse](req)
	img := b.opts.Metadata.Image()
	if req.Version >= 8 {
		for _, rg := range req.Groups {
			if req.Version >= 9 { // weir: KIP-848: a consumer group's member must be current
				if err := b.groups.ValidateOffsetFetch(rg.Group, rg.MemberID, rg.MemberEpoch); err != nil {
					g := kmsg.NewOffsetFetchResponseGroup()
					g.Group, g.ErrorCode = rg.Group, err.Code
					resp.Groups = append(resp.Groups, g)
					continue
				}
			}
			resp.Groups = append(resp.Groups, b.fetchGroupOffsets(img, req.Version, rg.Group, rg.Topics, req.RequireStable))
		}
		return resp, nil
	}
	var topics []kmsg.OffsetFetchRequestGroupTopic
	if req.Topics != nil || req.Version < 2 {
		topics = []kmsg.OffsetFetchRequestGroupTopic{}
		for _, rt := range req.Topics {
			topics = append(topics, kmsg.OffsetFetchRequestGroupTopic{Topic: rt.Topic, Partitions: rt.Partitions})
		}
	}
	g := b.fetchGroupOffsets(img, req.Version, req.Group, topics, req.RequireStable)
	if g.ErrorCode != 0 && req.Version < 2 {
		for _, rt := range req.Topics {
			st := kmsg.NewOffsetFetchResponseTopic()
			st.Topic = rt.Topic
			for _, p := range rt.Partitions {
				sp := kmsg.NewOffsetFetchResponseTopicPartition()
				sp.Partition, sp.Offset, sp.ErrorCode = p, -1, g.ErrorCode
				st.Partitions = append(st.Partitions, sp)
			}
			resp.Topics = append(resp.Topics, st)
		}
		return resp, nil
	}
	resp.ErrorCode = g.ErrorCode
	for _, gt := range g.Topics {
		st := kmsg.NewOffsetFetchResponseTopic()
		st.Topic = gt.Topic
		for _, gp := range gt.Partitions {
			sp := kmsg.NewOffsetFetchResponseTopicPartition()
			sp.Partition, sp.Offset, sp.LeaderEpoch, sp.Metadata, sp.ErrorCode = gp.Partition, gp.Offset, gp.LeaderEpoch, gp.Metadata, gp.ErrorCode
			st.Partitions = append(st.Partitions, sp)
		}
		resp.Topics = append(resp.Topics, st)
	}
	return resp, nil
}

// fetchGroupOffsets answers one group of an OffsetFetch; topics nil means
// all of the group's offsets.
func (b *Broker) fetchGroupOffsets(img *controller.Image, version int16, groupID string, topics []kmsg.OffsetFetchRequestGroupTopic, requireStable bool) kmsg.OffsetFetchResponseGroup {
	out := kmsg.NewOffsetFetchResponseGroup()
	out.Group = groupID
	var asked []group.OffsetFetchTopic
	unknown := map[int]bool{} // topics (v10: by ID) that do not exist
	if topics != nil {
		asked = []group.OffsetFetchTopic{}
		for i, rt := range topics {
			name := rt.Topic
			if version >= 10 {
				t, ok := img.TopicByID(controller.TopicID(rt.TopicID))
				name, unknown[i] = t.Name, !ok
			}
			asked = append(asked, group.OffsetFetchTopic{Topic: name, Partitions: rt.Partitions})
		}
	}
	offsets, err := b.groups.FetchOffsets(groupID, asked, requireStable)
	if err != nil {
		out.ErrorCode = err.Code
		return out
	}
	partition := func(f group.FetchedOffset) kmsg.OffsetFetchResponseGroupTopicPartition {
		sp := kmsg.NewOffsetFetchResponseGroupTopicPartition()
		md := f.Metadata
		sp.Partition, sp.Offset, sp.LeaderEpoch, sp.Metadata = f.Partition, f.Offset, f.LeaderEpoch, &md
		return sp
	}
	if topics == nil {
		for i := 0; i < len(offsets); {
			st := kmsg.NewOffsetFetchResponseGroupTopic()
			st.Topic = offsets[i].Topic
			for ; i < len(offsets) && offsets[i].Topic == st.Topic; i++ {
				st.Partitions = append(st.Partitions, partition(offsets[i]))
			}
			if t, ok := img.TopicByName(st.Topic); ok {
				st.TopicID = t.ID
			} else if version >= 10 {
				continue // a deleted topic has no ID to name it by
			}
			out.Topics = append(out.Topics, st)
		}
		return out
	}
	i := 0
	for ti, rt := range topics {
		st := kmsg.NewOffsetFetchResponseGroupTopic()
		st.Topic, st.TopicID = asked[ti].Topic, rt.TopicID
		for range rt.Partitions {
			sp := partition(offsets[i])
			if unknown[ti] {
				sp.Offset, sp.LeaderEpoch, sp.ErrorCode = -1, -1, kerr.UnknownTopicID.Code
			}
			st.Partitions = append(st.Partitions, sp)
			i++
		}
		out.Topics = append(out.Topics, st)
	}
	return out
}
