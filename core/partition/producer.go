package partition

import (
	"errors"
	"fmt"
	"math"

	"github.com/weirmq/weir/core/record"
)

// Producer-state errors. The produce handler maps them to Kafka codes.
var (
	// ErrOutOfOrderSequence: the batch's sequence does not follow the
	// producer's last one (OUT_OF_ORDER_SEQUENCE_NUMBER).
	ErrOutOfOrderSequence = errors.New("out of order sequence number")
	// ErrProducerFenced: the batch's producer epoch is older than the
	// partition has seen (INVALID_PRODUCER_EPOCH).
	ErrProducerFenced = errors.New("producer epoch is stale")
	// ErrUnknownProducerID: the partition has no state for the producer and
	// the batch does not start a sequence (UNKNOWN_PRODUCER_ID).
	ErrUnknownProducerID = errors.New("unknown producer id")
)

// batchesKept is how many recent batches per producer are remembered for
// duplicate detection: Kafka's producers keep at most five in flight.
const batchesKept = 5

// batchMeta is what duplicate detection needs of a written batch.
type batchMeta struct {
	firstSeq, lastSeq       int32
	firstOffset, lastOffset int64
	maxTimestamp            int64
}

// producerEntry is one producer's state in one partition.
type producerEntry struct {
	epoch   int16
	batches [batchesKept]batchMeta // ring; n valid, newest at (head+n-1)%5
	head, n int
	// lastTimestamp is the newest batch's max timestamp, for
	// DescribeProducers and expiry.
	lastTimestamp int64
}

func (e *producerEntry) last() (batchMeta, bool) {
	if e.n == 0 {
		return batchMeta{}, false
	}
	return e.batches[(e.head+e.n-1)%batchesKept], true
}

func (e *producerEntry) add(b batchMeta) {
	if e.n < batchesKept {
		e.batches[(e.head+e.n)%batchesKept] = b
		e.n++
	} else {
		e.batches[e.head] = b
		e.head = (e.head + 1) % batchesKept
	}
	e.lastTimestamp = b.maxTimestamp
}

func (e *producerEntry) find(firstSeq, lastSeq int32) (batchMeta, bool) {
	for i := 0; i < e.n; i++ {
		b := e.batches[(e.head+i)%batchesKept]
		if b.firstSeq == firstSeq && b.lastSeq == lastSeq {
			return b, true
		}
	}
	return batchMeta{}, false
}

// producerStates is a partition's idempotence state, keyed by producer id.
// It is guarded by the partition's append lock.
type producerStates map[int64]*producerEntry

// nextSeq is the sequence after seq, wrapping as Kafka's does.
func nextSeq(seq int32, records int32) int32 {
	n := int64(seq) + int64(records)
	if n > math.MaxInt32 {
		n -= math.MaxInt32 + 1
	}
	return int32(n)
}

// check decides what to do with an idempotent batch: dup != nil means it is
// a retry of a batch already written (answer with its offsets, write
// nothing); an error means reject it; otherwise append it and call record.
func (ps producerStates) check(h record.Header) (dup *batchMeta, err error) {
	if h.ProducerID < 0 {
		return nil, nil
	}
	lastSeq := nextSeq(h.BaseSequence, h.LastOffsetDelta) // Kafka's lastSequence: compaction may thin a batch, never its offset range
	e, ok := ps[h.ProducerID]
	switch {
	case !ok:
		if h.BaseSequence != 0 {
			return nil, fmt.Errorf("%w: producer %d starts at sequence %d", ErrUnknownProducerID, h.ProducerID, h.BaseSequence)
		}
		return nil, nil
	case h.ProducerEpoch < e.epoch:
		return nil, fmt.Errorf("%w: producer %d epoch %d, current %d", ErrProducerFenced, h.ProducerID, h.ProducerEpoch, e.epoch)
	case h.ProducerEpoch > e.epoch:
		if h.BaseSequence != 0 {
			return nil, fmt.Errorf("%w: producer %d new epoch %d starts at sequence %d", ErrOutOfOrderSequence, h.ProducerID, h.ProducerEpoch, h.BaseSequence)
		}
		return nil, nil
	}
	if b, ok := e.find(h.BaseSequence, lastSeq); ok {
		return &b, nil
	}
	last, ok := e.last()
	if !ok {
		if h.BaseSequence != 0 {
			return nil, fmt.Errorf("%w: producer %d starts at sequence %d", ErrOutOfOrderSequence, h.ProducerID, h.BaseSequence)
		}
		return nil, nil
	}
	if want := nextSeq(last.lastSeq, 1); h.BaseSequence != want {
		return nil, fmt.Errorf("%w: producer %d sent sequence %d, expected %d", ErrOutOfOrderSequence, h.ProducerID, h.BaseSequence, want)
	}
	return nil, nil
}

// record notes a written batch (or one found on disk at start-up).
func (ps producerStates) record(h record.Header) {
	if h.ProducerID < 0 {
		return
	}
	e, ok := ps[h.ProducerID]
	if !ok || h.ProducerEpoch > e.epoch {
		e = &producerEntry{epoch: h.ProducerEpoch}
		ps[h.ProducerID] = e
	} else if h.ProducerEpoch < e.epoch {
		return
	}
	if h.Attributes.Control() {
		// Transaction markers carry no sequence.
		return
	}
	e.add(batchMeta{
		firstSeq: h.BaseSequence, lastSeq: nextSeq(h.BaseSequence, h.LastOffsetDelta),
		firstOffset: h.BaseOffset, lastOffset: h.LastOffset(), maxTimestamp: h.MaxTimestamp,
	})
}

// ProducerInfo describes one producer's state, for DescribeProducers.
type ProducerInfo struct {
	ProducerID    int64
	ProducerEpoch int16
	LastSequence  int32
	LastTimestamp int64
	// CoordinatorEpoch and CurrentTxnStartOffset arrive with transactions.
}
