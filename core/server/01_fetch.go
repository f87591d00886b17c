package server

import (
	"context"
	"errors"
	"net"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/weirmq/weir/core/controller"
	"github.com/weirmq/weir/core/partition"
)

// fetchMaxVersion is the newest Fetch the zero-copy writer encodes.
const fetchMaxVersion = fetchRespMaxVersion

// fetchTarget is one requested partition, resolved.
type fetchTarget struct {
	topic     int // index into the response's topics
	p         *partition.Partition
	offset    int64
	maxBytes  int64
	errorCode int16
	req       kmsg.FetchRequestTopicPartition
}

// handleFetch reads each requested partition from its fetch offset, up to
// the high watermark, within the request's and each partition's byte
// limits (the first batch always whole, so consumers make progress), and
// long-polls: with fewer than MinBytes available it waits for data up to
// MaxWaitMillis. The response is written zero-copy: headers from memory,
// record bytes with sendfile from the segment files. Fetch sessions are
// not kept: every response carries session id 0, which tells clients to
// send full requests.
func (b *Broker) handleFetch(ctx context.Context, rc *requestContext, kreq kmsg.Request) (any, error) {
	req := kreq.(*kmsg.FetchRequest)
	var r fetchResp
	if req.SessionEpoch > 0 {
		// An incremental request for a session we never created.
		r.ErrorCode = kerr.FetchSessionIDNotFound.Code
		return b.encodeFetch(rc, req, &r)
	}
	img := b.opts.Metadata.Image()
	var targets []fetchTarget
	for _, rt := range req.Topics {
		name := rt.Topic
		unknown := kerr.UnknownTopicOrPartition.Code
		if req.Version >= fetchRespTopicIDVersion {
			unknown = kerr.UnknownTopicID.Code
			if t, ok := img.TopicByID(controller.TopicID(rt.TopicID)); ok {
				name = t.Name
			} else {
				name = ""
			}
		}
		r.Topics = append(r.Topics, fetchRespTopic{Name: rt.Topic, TopicID: rt.TopicID})
		for _, rp := range rt.Partitions {
			t := fetchTarget{topic: len(r.Topics) - 1, offset: rp.FetchOffset, maxBytes: int64(rp.PartitionMaxBytes), req: rp}
			if name != "" {
				t.p = b.partition(name, rp.Partition)
			}
			if t.p == nil {
				t.errorCode = unknown
			} else {
				t.errorCode = checkLeaderEpoch(t.p, rp.CurrentLeaderEpoch)
			}
			targets = append(targets, t)
		}
	}

	maxBytes := int64(req.MaxBytes)
	if req.Version < 3 || maxBytes <= 0 {
		maxBytes = 1<<31 - 1
	}
	deadline := time.Now().Add(time.Duration(max(req.MaxWaitMillis, 0)) * time.Millisecond)
	var w *partition.Waiter
	for {
		total := b.readFetch(&r, targets, maxBytes)
		if total >= int64(req.MinBytes) || !time.Now().Before(deadline) || fetchHasError(&r) {
			break
		}
		if w == nil {
			w = partition.NewWaiter()
			for _, t := range targets {
				if t.p != nil {
					t.p.Watch(w)
					defer t.p.Unwatch(w)
				}
			}
			continue // data may have arrived before we watched
		}
		timer := time.NewTimer(time.Until(deadline))
		select {
		case <-w.C():
		case <-timer.C:
		case <-ctx.Done():
		}
		timer.Stop()
		if ctx.Err() != nil {
			b.readFetch(&r, targets, maxBytes)
			break
		}
	}
	return b.encodeFetch(rc, req, &r)
}

// readFetch fills r's partitions from the targets and returns the record
// bytes it found.
func (b *Broker) readFetch(r *fetchResp, targets []fetchTarget, maxBytes int64) int64 {
	for i := range r.Topics {
		r.Topics[i].Partitions = r.Topics[i].Partitions[:0]
	}
	var total int64
	for _, t := range targets {
		fp := newFetchRespPartition(t.req.Partition)
		fp.ErrorCode = t.errorCode
		if t.p != nil && t.errorCode == 0 {
			fp.HighWatermark = t.p.HighWatermark()
			fp.LastStableOffset = fp.HighWatermark
			fp.LogStartOffset = t.p.LogStartOffset()
			limit := min(t.maxBytes, maxBytes-total)
			if limit <= 0 && total == 0 {
				limit = 1
			}
			if limit > 0 {
				res, err := t.p.Read(t.offset, limit)
				switch {
				case err != nil:
					fp.ErrorCode = errorCode(err)
				default:
					fp.HighWatermark, fp.LastStableOffset, fp.LogStartOffset = res.HighWatermark, res.LastStableOffset, res.LogStartOffset
					fp.Slices = res.Slices
					total += res.Bytes
				}
			}
		}
		r.Topics[t.topic].Partitions = append(r.Topics[t.topic].Partitions, fp)
	}
	return total
}

func fetchHasError(r *fetchResp) bool {
	for _, t := range r.Topics {
		for _, p := range t.Partitions {
			if p.ErrorCode != 0 {
				return true
			}
		}
	}
	return false
}

// fetchResponse is an encoded fetch on its way out; it writes itself.
type fetchResponse struct{ w *fetchRespWire }

func (f fetchResponse) writeTo(nc net.Conn) (int64, int64, error) {
	defer f.w.reset()
	return f.w.send(nc)
}

func (b *Broker) encodeFetch(rc *requestContext, req *kmsg.FetchRequest, r *fetchResp) (any, error) {
	w := &rc.conn.fetchWire
	if err := w.encode(req.Version, rc.correlationID, r); err != nil {
		return nil, errors.Join(errCloseConn, err)
	}
	return fetchResponse{w}, nil
}
