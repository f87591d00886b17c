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
// acks=-1 (all) needs min.insync.replicas in the ISR before the append
// (NOT_ENOUGH_REPLICAS) and waits until the high watermark passes the
// batch, failing with NOT_ENOUGH_REPLICAS_AFTER_APPEND if the ISR fell
// below min.insync.replicas meanwhile, or REQUEST_TIMED_OUT. A partition
// this broker does not lead answers NOT_LEADER_OR_FOLLOWER with the
// current leader (v10+, KIP-951) so the client moves at once.
func (b *Broker) handleProduce(ctx context.Context, rc *requestContext, kreq kmsg.Request) (any, error) {
	req := kreq.(*kmsg.ProduceRequest)
	resp := respond[*kmsg.ProduceResponse](req)
	type pending struct {
		p     *partition.Partition
		res   partition.AppendResult
		topic string
		out   *kmsg.ProduceResponseTopicPartition
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
			var last partition.AppendResult
			// One lookup: the acks=all wait below uses the partition the
			// records went to, even if reconcile closes it meanwhile.
			p := b.partition(rt.Topic, rp.Partition)
			var err error
			if p != nil {
				// A follower answers before decoding anything.
				err = p.CheckLeaderEpoch(-1, true)
			}
			if err == nil {
				err = b.enforcePartitioner(ctx, rt.Topic, rp, sp) // weir.partitioner.enforce
			}
			if err == nil {
				err = b.checkCompactedKeys(rt.Topic, rp, sp) // compacted topics need keys
			}
			if err == nil {
				last, err = b.produceOne(req, p, rt.Topic, rp, sp)
			}
			if err != nil {
				b.produceFailed(req, resp, rt.Topic, sp, err)
				continue
			}
			if req.Acks == -1 {
				waits = append(waits, pending{p, last, rt.Topic, sp})
			}
		}
	}
	if req.Acks == 0 {
		return nil, nil
	}
	if len(waits) > 0 {
		wctx, cancel := context.WithTimeout(ctx, time.Duration(max(req.TimeoutMillis, 0))*time.Millisecond)
		for _, w := range waits {
			if err := w.p.WaitForAcks(wctx, w.res); err != nil {
				// Written locally but not (yet) replicated as acks=all
				// asks: Kafka's codes here are retriable
				// (REQUEST_TIMED_OUT, NOT_ENOUGH_REPLICAS_AFTER_APPEND,
				// NOT_LEADER_OR_FOLLOWER), and an idempotent producer's
				// retry is not written twice.
				if wctx.Err() != nil && ctx.Err() == nil {
					err = fmt.Errorf("%w: %w", kerr.RequestTimedOut, err)
				}
				b.produceFailed(req, resp, w.topic, w.out, err)
			}
		}
		cancel()
	}
	return resp, nil
}

// produceFailed fills in a partition's error, with the current leader for
// NOT_LEADER_OR_FOLLOWER (v10+: CurrentLeader and the leader's endpoint in
// Brokers, KIP-951).
func (b *Broker) produceFailed(req *kmsg.ProduceRequest, resp *kmsg.ProduceResponse, topic string, sp *kmsg.ProduceResponseTopicPartition, err error) {
	sp.ErrorCode = errorCode(err)
	if req.Version >= 8 {
		sp.ErrorMessage = errorMessage(err)
	}
	b.logger.Debug("produce failed", "topic", topic, "partition", sp.Partition, "err", err)
	if req.Version < 10 || !leaderHintCode(sp.ErrorCode) {
		return
	}
	h := b.leaderHint(topic, sp.Partition)
	sp.CurrentLeader.LeaderID, sp.CurrentLeader.LeaderEpoch = h.leader, h.epoch
	if h.known {
		for _, br := range resp.Brokers {
			if br.NodeID == h.broker.ID {
				return
			}
		}
		rb := kmsg.NewProduceResponseBroker()
		rb.NodeID, rb.Host, rb.Port = h.broker.ID, h.broker.Host, h.broker.Port
		if h.broker.Rack != "" {
			rack := h.broker.Rack
			rb.Rack = &rack
		}
		resp.Brokers = append(resp.Brokers, rb)
	}
}

// produceOne appends one partition's records and fills in its response. It
// returns what the append wrote, for the acks=all wait.
func (b *Broker) produceOne(req *kmsg.ProduceRequest, p *partition.Partition, topic string, rp kmsg.ProduceRequestTopicPartition, sp *kmsg.ProduceResponseTopicPartition) (partition.AppendResult, error) {
	var none partition.AppendResult
	if p == nil {
		if b.partitionExists(topic, rp.Partition) {
			// The topic is here but not this partition: another broker's.
			return none, fmt.Errorf("%w: broker %d has no replica of %s-%d", kerr.NotLeaderForPartition, b.nodeID, topic, rp.Partition)
		}
		return none, kerr.UnknownTopicOrPartition
	}
	if req.TransactionID != nil {
		return none, fmt.Errorf("%w: transactions are not supported yet", kerr.TransactionalIDAuthorizationFailed)
	}
	if h, err := record.ReadHeader(rp.Records); err == nil && h.Attributes.Transactional() {
		return none, fmt.Errorf("%w: transactional batch without a transaction", kerr.InvalidTxnState)
	}
	records, err := b.storageCompression(topic, rp.Records) // compression.type
	if err != nil {
		return none, err
	}
	res, err := p.AppendAsLeader(records, req.Acks)
	if err != nil {
		return none, err
	}
	sp.BaseOffset = res.BaseOffset
	sp.LogAppendTime = res.LogAppendTime
	sp.LogStartOffset = res.LogStartOffset
	if b.opts.Metrics != nil {
		b.opts.Metrics.produced(topic, len(rp.Records))
	}
	return res, nil
}
