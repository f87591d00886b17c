package server

import (
	"context"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// handleOffsetForLeaderEpoch answers, per partition, the largest leader
// epoch at or below the requested one that the log holds, and the offset
// at which it ended (the start of the next epoch, or the log end offset
// for the latest): what a consumer checks for log truncation after a
// leader change (KIP-320) and a follower truncates to (KIP-101). The
// client's current leader epoch is checked first, as ListOffsets does, and
// only the leader answers (NOT_LEADER_OR_FOLLOWER elsewhere). An epoch the
// log does not know is answered with -1 and -1. The leader counts its
// current epoch as begun when it started leading (partition.EndOffsetForEpoch).
func (b *Broker) handleOffsetForLeaderEpoch(_ context.Context, _ *requestContext, kreq kmsg.Request) (any, error) {
	req := kreq.(*kmsg.OffsetForLeaderEpochRequest)
	resp := respond[*kmsg.OffsetForLeaderEpochResponse](req)
	for _, rt := range req.Topics {
		st := kmsg.NewOffsetForLeaderEpochResponseTopic()
		st.Topic = rt.Topic
		for _, rp := range rt.Partitions {
			sp := kmsg.NewOffsetForLeaderEpochResponseTopicPartition()
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
					e := p.EndOffsetForEpoch(rp.LeaderEpoch)
					sp.LeaderEpoch, sp.EndOffset = e.Epoch, e.EndOffset
				}
			}
			st.Partitions = append(st.Partitions, sp)
		}
		resp.Topics = append(resp.Topics, st)
	}
	return resp, nil
}
