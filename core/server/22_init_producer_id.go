package server

import (
	"context"
	"math"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/weirmq/weir/core/controller"
)

// producerIDBlock is how many producer IDs the broker takes from the
// controller at a time.
const producerIDBlock = 1000

// handleInitProducerID gives an idempotent producer its producer ID and
// epoch. A new producer gets a fresh ID with epoch 0. A producer that
// sends its current ID and epoch (KIP-360, after an UNKNOWN_PRODUCER_ID or
// a sequence error) keeps its ID with the epoch bumped, so its partitions
// restart its sequences; when the epoch cannot grow further, or the ID was
// never handed out, it gets a fresh ID instead.
//
// Transactions arrive later: a transactional ID is refused with
// TRANSACTIONAL_ID_AUTHORIZATION_FAILED, the code the produce path uses
// for transactional requests, which clients do not retry (NOT_COORDINATOR
// would send them looking for a coordinator that does not exist). An empty
// transactional ID is INVALID_REQUEST, as in Kafka.
func (b *Broker) handleInitProducerID(ctx context.Context, _ *requestContext, kreq kmsg.Request) (any, error) {
	req := kreq.(*kmsg.InitProducerIDRequest)
	resp := respond[*kmsg.InitProducerIDResponse](req)
	id, epoch, err := b.initProducerID(ctx, req)
	if err != nil {
		resp.ErrorCode = errorCode(err)
		b.logger.Debug("init producer id refused", "err", err)
		return resp, nil
	}
	resp.ProducerID, resp.ProducerEpoch = id, epoch
	return resp, nil
}

func (b *Broker) initProducerID(ctx context.Context, req *kmsg.InitProducerIDRequest) (int64, int16, error) {
	switch {
	case req.TransactionalID != nil && *req.TransactionalID == "":
		return -1, -1, refuse(kerr.InvalidRequest, "the transactional ID is empty; send null for an idempotent producer")
	case req.TransactionalID != nil:
		return -1, -1, refuse(kerr.TransactionalIDAuthorizationFailed, "transactions are not supported yet")
	case (req.ProducerID < 0) != (req.ProducerEpoch < 0):
		return -1, -1, refuse(kerr.InvalidRequest, "producer ID %d and epoch %d: give both or neither", req.ProducerID, req.ProducerEpoch)
	}
	known := req.ProducerID >= 0 && req.ProducerID < b.opts.Metadata.Image().NextProducerID()
	if known && req.ProducerEpoch < math.MaxInt16-1 {
		return req.ProducerID, req.ProducerEpoch + 1, nil
	}
	id, err := b.allocateProducerID(ctx)
	return id, 0, err
}

// allocateProducerID hands out the next producer ID of the broker's block,
// taking a new block from the controller when it is used up.
func (b *Broker) allocateProducerID(ctx context.Context) (int64, error) {
	b.pidMu.Lock()
	defer b.pidMu.Unlock()
	if b.pidMu.next >= b.pidMu.end {
		res, err := b.opts.Metadata.Submit(ctx, &controller.AllocateProducerIDs{Count: producerIDBlock})
		if err != nil {
			return -1, err
		}
		b.pidMu.next, b.pidMu.end = res.FirstProducerID, res.FirstProducerID+producerIDBlock
	}
	id := b.pidMu.next
	b.pidMu.next++
	return id, nil
}
