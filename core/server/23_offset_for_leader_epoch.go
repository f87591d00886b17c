package server

import (
	"context"

	"github.com/weirmq/weir/core/partition"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// handleOffsetForLeaderEpoch answers, per partition, the largest leader
// epoch at or below the requested one that the log holds, and the offset
// at which it ended (the start of the next epoch, or the log end offset
// for the latest): what a consumer checks for log truncation after a
// leader change (KIP-320) and a follower truncates to (KIP-101). The
// client's current leader epoch is checked first, as ListOffsets does.
// An epoch the log does not know is answered with -1 and -1.
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
			case p == nil:
				sp.ErrorCode = kerr.UnknownTopicOrPartition.Code
			default:
				sp.ErrorCode = checkLeaderEpoch(p, rp.CurrentLeaderEpoch)
				if sp.ErrorCode == 0 {
					sp.LeaderEpoch, sp.EndOffset = endOffsetForEpoch(p, rp.LeaderEpoch)
				}
			}
			st.Partitions = append(st.Partitions, sp)
		}
		resp.Topics = append(resp.Topics, st)
	}
	return resp, nil
}

// endOffsetForEpoch answers from the log's epoch history as if it held
// the current leader epoch from the moment this replica became leader, as
// Kafka's leader epoch cache does: until a batch of the current epoch is
// appended the log does not know it, yet the current epoch then ends at
// the log end offset, and so do the epochs between the log's latest and
// it.
func endOffsetForEpoch(p *partition.Partition, requested int32) (int32, int64) {
	l := p.Log()
	current, latest := p.LeaderEpoch(), l.LatestEpoch()
	if requested < 0 || latest >= current || requested < latest {
		return l.EndOffsetForEpoch(requested)
	}
	switch {
	case requested > current:
		return -1, -1
	case requested == current || latest < 0:
		return requested, l.LogEndOffset()
	}
	return latest, l.LogEndOffset()
}
