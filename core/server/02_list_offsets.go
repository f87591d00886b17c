package server

import (
	"context"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/weirmq/weir/core/partition"
)

// Special timestamps of ListOffsets.
const (
	listLatest        = -1
	listEarliest      = -2
	listMaxTimestamp  = -3 // KIP-734
	listEarliestLocal = -4 // KIP-405; no tiered storage, so the log start
	listLatestTiered  = -5 // KIP-1005; nothing is tiered
)

// handleListOffsets answers offsets by time: latest (the high watermark;
// the log end offset for a follower asking with its replica id), earliest
// (the log start offset), the record with the largest timestamp, or the
// first record at or after a timestamp. Only the leader answers
// (NOT_LEADER_OR_FOLLOWER elsewhere); the current leader epoch is checked
// (KIP-320).
func (b *Broker) handleListOffsets(_ context.Context, _ *requestContext, kreq kmsg.Request) (any, error) {
	req := kreq.(*kmsg.ListOffsetsRequest)
	resp := respond[*kmsg.ListOffsetsResponse](req)
	for _, rt := range req.Topics {
		st := kmsg.NewListOffsetsResponseTopic()
		st.Topic = rt.Topic
		for _, rp := range rt.Partitions {
			sp := kmsg.NewListOffsetsResponseTopicPartition()
			sp.Partition = rp.Partition
			p := b.partition(rt.Topic, rp.Partition)
			switch {
			case p == nil && b.partitionExists(rt.Topic, rp.Partition):
				sp.ErrorCode = kerr.NotLeaderForPartition.Code
			case p == nil:
				sp.ErrorCode = kerr.UnknownTopicOrPartition.Code
			default:
				sp.ErrorCode = errorCode(p.CheckLeaderEpoch(rp.CurrentLeaderEpoch, true))
				if sp.ErrorCode == 0 {
					sp.Timestamp, sp.Offset, sp.LeaderEpoch, sp.ErrorCode = listOffset(p, rp.Timestamp, req.ReplicaID >= 0)
				}
			}
			st.Partitions = append(st.Partitions, sp)
		}
		resp.Topics = append(resp.Topics, st)
	}
	return resp, nil
}

// listOffset resolves one ListOffsets query: (timestamp, offset, leader
// epoch, error code). Not found is offset -1 and timestamp -1, as Kafka.
// A replica (follower) sees up to the log end offset, a consumer up to the
// HW.
func listOffset(p *partition.Partition, ts int64, replica bool) (int64, int64, int32, int16) {
	hw := p.HighWatermark()
	if replica {
		hw = p.LogEndOffset()
	}
	epoch := p.LeaderEpoch()
	switch ts {
	case listLatest:
		return -1, hw, epoch, 0
	case listEarliest, listEarliestLocal:
		return -1, p.LogStartOffset(), epoch, 0
	case listLatestTiered:
		// Nothing is tiered: the latest tiered offset is just below the
		// log start (Kafka answers the same without remote storage).
		return -1, p.LogStartOffset() - 1, epoch, 0
	case listMaxTimestamp:
		mts, off, ok, err := p.Log().MaxTimestamp()
		if err != nil {
			return -1, -1, -1, errorCode(err)
		}
		if !ok || off >= hw {
			return -1, -1, -1, 0
		}
		return mts, off, epoch, 0
	}
	if ts < 0 {
		return -1, -1, -1, kerr.InvalidRequest.Code
	}
	off, rts, ok, err := p.Log().OffsetForTimestamp(ts)
	if err != nil {
		return -1, -1, -1, errorCode(err)
	}
	if !ok || off >= hw {
		return -1, -1, -1, 0
	}
	return rts, off, epoch, 0
}
