package server

import (
	"context"
	"errors"
	"net"
	"slices"
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
	name      string
	p         *partition.Partition
	offset    int64
	maxBytes  int64
	errorCode int16
	diverging *partition.EpochEndOffset // a follower's log diverges: answer where, no records
	req       kmsg.FetchRequestTopicPartition
}

// handleFetch reads each requested partition from its fetch offset, up to
// the high watermark for consumers and up to the log end offset for
// followers (a request with a replica id), within the request's and each
// partition's byte limits (the first batch always whole, so consumers make
// progress), and long-polls: with fewer than MinBytes available it waits
// for data up to MaxWaitMillis. The response is written zero-copy: headers
// from memory, record bytes with sendfile from the segment files. Fetch
// sessions are not kept: every response carries session id 0, which tells
// clients to send full requests.
//
// Only the leader serves fetches (KIP-392's follower fetching is not
// offered): elsewhere the partition gets NOT_LEADER_OR_FOLLOWER with the
// current leader (v12+) and its endpoint (v16+, KIP-951), and a stale or
// future current leader epoch gets FENCED_LEADER_EPOCH or
// UNKNOWN_LEADER_EPOCH (KIP-320). A follower's fetch records its position
// on the leader (which moves the HW and the ISR) and, from v12, is checked
// against its last fetched epoch: a diverging log gets the epoch and end
// offset to truncate to instead of records.
func (b *Broker) handleFetch(ctx context.Context, rc *requestContext, kreq kmsg.Request) (any, error) {
	req := kreq.(*kmsg.FetchRequest)
	var r fetchResp
	if req.SessionEpoch > 0 {
		// An incremental request for a session we never created.
		r.ErrorCode = kerr.FetchSessionIDNotFound.Code
		return b.encodeFetch(rc, req, &r)
	}
	replicaID := req.ReplicaID
	if req.Version >= 15 {
		replicaID = req.ReplicaState.ID
	}
	follower := replicaID >= 0
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
			t := fetchTarget{topic: len(r.Topics) - 1, name: name, offset: rp.FetchOffset, maxBytes: int64(rp.PartitionMaxBytes), req: rp}
			if name != "" {
				t.p = b.partition(name, rp.Partition)
			}
			switch {
			case t.p == nil && name != "" && b.partitionExists(name, rp.Partition):
				t.errorCode = kerr.NotLeaderForPartition.Code // another broker's
			case t.p == nil:
				t.errorCode = unknown
			default:
				t.errorCode = errorCode(t.p.CheckLeaderEpoch(rp.CurrentLeaderEpoch, true))
			}
			if t.errorCode == 0 && follower {
				lastEpoch := int32(-1)
				if req.Version >= 12 {
					lastEpoch = rp.LastFetchedEpoch
				}
				div, err := t.p.FollowerFetch(replicaID, rp.FetchOffset, lastEpoch)
				t.errorCode, t.diverging = errorCode(err), div
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
		total := b.readFetch(&r, targets, maxBytes, follower)
		if total >= int64(req.MinBytes) || !time.Now().Before(deadline) || fetchHasError(&r) {
			break
		}
		if w == nil {
			w = partition.NewWaiter()
			for _, t := range targets {
				if t.p != nil {
					if follower {
						t.p.WatchAppends(w) // a follower reads up to the LEO
					} else {
						t.p.Watch(w)
					}
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
			b.readFetch(&r, targets, maxBytes, follower)
			break
		}
	}
	b.addLeaderHints(req.Version, &r, targets)
	return b.encodeFetch(rc, req, &r)
}

// readFetch fills r's partitions from the targets and returns the record
// bytes it found.
func (b *Broker) readFetch(r *fetchResp, targets []fetchTarget, maxBytes int64, follower bool) int64 {
	for i := range r.Topics {
		r.Topics[i].Partitions = r.Topics[i].Partitions[:0]
	}
	var total int64
	for _, t := range targets {
		fp := newFetchRespPartition(t.req.Partition)
		fp.ErrorCode = t.errorCode
		if t.p != nil && t.errorCode == 0 {
			// Leadership may have moved while the fetch waited.
			fp.ErrorCode = errorCode(t.p.CheckLeaderEpoch(t.req.CurrentLeaderEpoch, true))
		}
		if t.p != nil && fp.ErrorCode == 0 {
			fp.HighWatermark = t.p.HighWatermark()
			fp.LastStableOffset = fp.HighWatermark
			fp.LogStartOffset = t.p.LogStartOffset()
			limit := min(t.maxBytes, maxBytes-total)
			if limit <= 0 && total == 0 {
				limit = 1
			}
			switch {
			case t.diverging != nil:
				fp.DivergingEpoch = &fetchRespDivergingEpoch{Epoch: t.diverging.Epoch, EndOffset: t.diverging.EndOffset}
			case limit > 0:
				read := t.p.Read
				if follower {
					read = t.p.ReadToLogEnd
				}
				res, err := read(t.offset, limit)
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

// addLeaderHints gives partitions answered NOT_LEADER_OR_FOLLOWER or
// FENCED_LEADER_EPOCH the current leader (v12+) and the response its
// endpoint (v16+).
func (b *Broker) addLeaderHints(version int16, r *fetchResp, targets []fetchTarget) {
	if version < fetchRespFlexibleVersion {
		return
	}
	i := 0 // targets are in response order
	for ti := range r.Topics {
		for pi := range r.Topics[ti].Partitions {
			fp := &r.Topics[ti].Partitions[pi]
			t := targets[i]
			i++
			if !leaderHintCode(fp.ErrorCode) || t.name == "" {
				continue
			}
			h := b.leaderHint(t.name, fp.Partition)
			fp.CurrentLeader = &fetchRespCurrentLeader{LeaderID: h.leader, LeaderEpoch: h.epoch}
			if !h.known || slices.ContainsFunc(r.NodeEndpoints, func(n fetchRespNodeEndpoint) bool { return n.NodeID == h.broker.ID }) {
				continue
			}
			n := fetchRespNodeEndpoint{NodeID: h.broker.ID, Host: h.broker.Host, Port: h.broker.Port}
			if h.broker.Rack != "" {
				rack := h.broker.Rack
				n.Rack = &rack
			}
			r.NodeEndpoints = append(r.NodeEndpoints, n)
		}
	}
}

// fetchHasError reports a partition with an error or a diverging epoch:
// the response goes out at once.
func fetchHasError(r *fetchResp) bool {
	for _, t := range r.Topics {
		for _, p := range t.Partitions {
			if p.ErrorCode != 0 || p.DivergingEpoch != nil {
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
