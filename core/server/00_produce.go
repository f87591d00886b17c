package server

import (
	"context"
	"fmt"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/weirmq/weir/core/partition"
	"github.com/weirmq/weir/core/record"
)

// handleProduce appends each partition's batch to its leader replica. With
// acks=0 nothing is answered; acks=1 answers after the local append;
// acks=-1 (all) waits until the high watermark passes the batch — on one
// node at once — or the request times out.
func (b *Broker) handleProduce(ctx context.Context, rc *requestContext, kreq kmsg.Request) (any, error) {
	req := kreq.(*kmsg.ProduceRequest)
	resp := respond[*kmsg.ProduceResponse](req)
	type pending struct {
		p    *partition.Partition
		last int64
		out  *kmsg.ProduceResponseTopicPartition
	}
	var waits []pending
	for _, rt := range req.Topics {
		st := kmsg.NewProduceResponseTopic()
		st.Topic = rt.Topic
		st.Partitions = make([]kmsg.ProduceResponseTopicPartition, len(rt.Partitions))
		resp.Topics = append(resp.Topics, st)
		out := resp.Topics[len(resp.Topics)-1].Partitions
		for i, rp := range rt.Partitions {
			sp := &out[i]
			*sp = kmsg.NewProduceResponseTopicPartition()
			sp.Partition = rp.Partition
			last, err := b.produceOne(req, rt.Topic, rp, sp)
			if err != nil {
				sp.ErrorCode = errorCode(err)
				if req.Version >= 8 {
					sp.ErrorMessage = errorMessage(err)
				}
				b.logger.Debug("produce rejected", "topic", rt.Topic, "partition", rp.Partition, "err", err)
				continue
			}
			if req.Acks == -1 {
				waits = append(waits, pending{b.partition(rt.Topic, rp.Partition), last, sp})
			}
		}
	}
	if req.Acks == 0 {
		return nil, nil
	}
	if len(waits) > 0 {
		wctx, cancel := context.WithTimeout(ctx, time.Duration(max(req.TimeoutMillis, 0))*time.Millisecond)
		for _, w := range waits {
			if err := w.p.WaitHighWatermark(wctx, w.last); err != nil {
				// Written locally but not replicated in time: the client
				// may retry, and idempotence keeps the retry from
				// duplicating it.
				w.out.ErrorCode = kerr.RequestTimedOut.Code
			}
		}
		cancel()
	}
	return resp, nil
}

// produceOne appends one partition's records and fills in its response. It
// returns the last offset written.
func (b *Broker) produceOne(req *kmsg.ProduceRequest, topic string, rp kmsg.ProduceRequestTopicPartition, sp *kmsg.ProduceResponseTopicPartition) (int64, error) {
	p := b.partition(topic, rp.Partition)
	if p == nil {
		return 0, kerr.UnknownTopicOrPartition
	}
	if req.TransactionID != nil {
		return 0, fmt.Errorf("%w: transactions are not supported yet", kerr.TransactionalIDAuthorizationFailed)
	}
	if h, err := record.ReadHeader(rp.Records); err == nil && h.Attributes.Transactional() {
		return 0, fmt.Errorf("%w: transactional batch without a transaction", kerr.InvalidTxnState)
	}
	if req.Acks == -1 {
		if tc, ok := b.topicConfig(topic); ok && tc.MinInsyncReplicas > 1 {
			// One node: the ISR is this replica alone.
			return 0, fmt.Errorf("%w: min.insync.replicas is %d, the ISR has 1", kerr.NotEnoughReplicas, tc.MinInsyncReplicas)
		}
	}
	res, err := p.AppendAsLeader(rp.Records)
	if err != nil {
		return 0, err
	}
	sp.BaseOffset = res.BaseOffset
	sp.LogAppendTime = res.LogAppendTime
	sp.LogStartOffset = res.LogStartOffset
	if b.opts.Metrics != nil {
		b.opts.Metrics.produced(topic, len(rp.Records))
	}
	return res.LastOffset, nil
}
