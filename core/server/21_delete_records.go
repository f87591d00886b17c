package server

import (
	"context"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// handleDeleteRecords moves partitions' log start offsets forward (the low
// watermark), deleting the segments wholly below. Offset -1 means the high
// watermark; an offset above it, or below -1, is OFFSET_OUT_OF_RANGE; one
// at or below the current log start changes nothing. A topic whose
// cleanup.policy lacks delete is POLICY_VIOLATION, as in Kafka. The answer
// is the new low watermark, -1 on error. On one node no follower has to
// catch up, so the timeout is not waited on.
func (b *Broker) handleDeleteRecords(_ context.Context, _ *requestContext, kreq kmsg.Request) (any, error) {
	req := kreq.(*kmsg.DeleteRecordsRequest)
	resp := respond[*kmsg.DeleteRecordsResponse](req)
	for _, rt := range req.Topics {
		st := kmsg.NewDeleteRecordsResponseTopic()
		st.Topic = rt.Topic
		for _, rp := range rt.Partitions {
			sp := kmsg.NewDeleteRecordsResponseTopicPartition()
			sp.Partition = rp.Partition
			lw, err := b.deleteRecords(rt.Topic, rp.Partition, rp.Offset)
			sp.LowWatermark = lw
			if err != nil {
				sp.LowWatermark, sp.ErrorCode = -1, errorCode(err)
				b.logger.Debug("delete records refused", "topic", rt.Topic, "partition", rp.Partition, "offset", rp.Offset, "err", err)
			}
			st.Partitions = append(st.Partitions, sp)
		}
		resp.Topics = append(resp.Topics, st)
	}
	return resp, nil
}

// deleteRecords deletes the records of one partition below offset and
// returns the new log start offset.
func (b *Broker) deleteRecords(topic string, index int32, offset int64) (int64, error) {
	p := b.partition(topic, index)
	if p == nil {
		return -1, kerr.UnknownTopicOrPartition
	}
	if err := p.CheckLeaderEpoch(-1, true); err != nil { // the leader moves the log start; followers follow it
		return -1, err
	}
	if tc, ok := b.topicConfig(topic); ok && !tc.CleanupPolicy.Delete {
		return -1, refuse(kerr.PolicyViolation, "records of %s-%d cannot be deleted: cleanup.policy is %s", topic, index, tc.CleanupPolicy)
	}
	hw := p.HighWatermark()
	if offset == -1 {
		offset = hw
	}
	if offset < 0 || offset > hw {
		return -1, refuse(kerr.OffsetOutOfRange, "offset %d of %s-%d is outside [0, %d] (the high watermark)", offset, topic, index, hw)
	}
	b.logger.Info("deleting records", "topic", topic, "partition", index, "offset", offset)
	return p.Log().DeleteRecordsBefore(offset)
}
