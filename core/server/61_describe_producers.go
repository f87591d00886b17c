package server

import (
	"cmp"
	"context"
	"slices"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/weirmq/weir/core/partition"
)

// handleDescribeProducers lists, per partition, the idempotent producers
// it keeps state for, by producer ID: epoch, last sequence and the
// timestamp of their last batch. No transactions yet, so the coordinator
// epoch and transaction start offset are always -1.
func (b *Broker) handleDescribeProducers(_ context.Context, _ *requestContext, kreq kmsg.Request) (any, error) {
	req := kreq.(*kmsg.DescribeProducersRequest)
	resp := respond[*kmsg.DescribeProducersResponse](req)
	for _, rt := range req.Topics {
		st := kmsg.NewDescribeProducersResponseTopic()
		st.Topic = rt.Topic
		for _, index := range rt.Partitions {
			sp := kmsg.NewDescribeProducersResponseTopicPartition()
			sp.Partition = index
			p := b.partition(rt.Topic, index)
			if p == nil {
				err := refuse(kerr.UnknownTopicOrPartition, "partition %s-%d is not on this broker", rt.Topic, index)
				sp.ErrorCode, sp.ErrorMessage = errorCode(err), errorMessage(err)
				st.Partitions = append(st.Partitions, sp)
				continue
			}
			if err := p.CheckLeaderEpoch(-1, true); err != nil { // only the leader's state is current
				sp.ErrorCode, sp.ErrorMessage = errorCode(err), errorMessage(err)
				st.Partitions = append(st.Partitions, sp)
				continue
			}
			producers := p.Producers()
			slices.SortFunc(producers, func(x, y partition.ProducerInfo) int { return cmp.Compare(x.ProducerID, y.ProducerID) })
			for _, pi := range producers {
				ap := kmsg.NewDescribeProducersResponseTopicPartitionActiveProducer()
				ap.ProducerID = pi.ProducerID
				ap.ProducerEpoch = int32(pi.ProducerEpoch)
				ap.LastSequence = pi.LastSequence
				ap.LastTimestamp = pi.LastTimestamp
				ap.CoordinatorEpoch = -1
				ap.CurrentTxnStartOffset = -1
				sp.ActiveProducers = append(sp.ActiveProducers, ap)
			}
			st.Partitions = append(st.Partitions, sp)
		}
		resp.Topics = append(resp.Topics, st)
	}
	return resp, nil
}
