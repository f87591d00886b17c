package server

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"strconv"
	"sync"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/weirmq/weir/core/controller"
	"github.com/weirmq/weir/core/partition"
	"github.com/weirmq/weir/core/record"
)

// The replica fetcher: this broker's followers fetching from their
// leaders (ARCHITECTURE §2, Replication). There is one fetcher per leader
// broker, a goroutine with one connection, fetching every partition this
// broker follows on that leader in one Fetch request. A partition that
// starts following a new leader epoch first finds where its log diverges
// from the leader's — OffsetForLeaderEpoch, walking back epochs as KIP-279
// says — and truncates there; after that each fetch carries the last
// fetched epoch, and a diverging-epoch answer truncates again (KIP-320).
// Records are appended verbatim; the response's HW becomes the follower's.
//
// The partition itself fences everything the fetcher does by leader
// epoch: a response that arrives after the partition moved on (a new
// leader, or leadership here) is refused by the partition, not by
// bookkeeping here.

// Backoffs and limits of the fetchers.
const (
	fetcherBackoffMin = 50 * time.Millisecond
	fetcherBackoffMax = time.Second
	// partitionRetry is how long a partition whose fetch failed (the
	// leader moved, or an error) waits before it is fetched again, unless
	// new metadata moves it first.
	partitionRetry = 200 * time.Millisecond
	// fetchResponseMaxBytes is the whole response's byte budget
	// (Kafka's replica.fetch.response.max.bytes default).
	fetchResponseMaxBytes = 10 << 20
	// fetcherRequestTimeout bounds a request beyond the fetch's own
	// MaxWait (Kafka's replica.socket.timeout.ms is 30 s; a leader answers
	// within MaxWait, so a silent connection — a network cut — is given
	// up on sooner) and a connection attempt.
	fetcherRequestTimeout = 5 * time.Second
)

// replicaFetchers is the set of this broker's fetchers, by leader. Safe
// for concurrent use; every fetcher goroutine is waited for by close.
type replicaFetchers struct {
	b *Broker

	mu       sync.Mutex
	byLeader map[int32]*replicaFetcher
	where    map[topicPartition]int32 // leader whose fetcher has the partition
	closed   bool
	wg       sync.WaitGroup
}

func newReplicaFetchers(b *Broker) *replicaFetchers {
	return &replicaFetchers{b: b, byLeader: map[int32]*replicaFetcher{}, where: map[topicPartition]int32{}}
}

// follow makes the fetcher of leader fetch tp at leader epoch epoch,
// moving it from any other fetcher. A partition that starts a new epoch
// truncates first (truncate); one already followed in that epoch keeps
// its state.
func (fs *replicaFetchers) follow(tp topicPartition, p *partition.Partition, topicID controller.TopicID, leader, epoch int32, truncate bool) {
	fs.mu.Lock()
	defer fs.mu.Unlock()
	if fs.closed {
		return
	}
	if old, ok := fs.where[tp]; ok && old != leader {
		fs.byLeader[old].remove(tp)
	}
	f := fs.byLeader[leader]
	if f == nil {
		f = &replicaFetcher{fs: fs, leader: leader, parts: map[topicPartition]*fetchPartition{},
			wake: make(chan struct{}, 1), logger: fs.b.logger.With("leader", leader)}
		f.ctx, f.cancel = context.WithCancel(context.Background())
		fs.byLeader[leader] = f
		fs.wg.Go(f.run)
	}
	fs.where[tp] = leader
	f.add(&fetchPartition{tp: tp, p: p, topicID: topicID, epoch: epoch, truncating: truncate})
}

// unfollow stops fetching tp.
func (fs *replicaFetchers) unfollow(tp topicPartition) {
	fs.mu.Lock()
	defer fs.mu.Unlock()
	if leader, ok := fs.where[tp]; ok {
		fs.byLeader[leader].remove(tp)
		delete(fs.where, tp)
	}
}

// close stops every fetcher and waits for them.
func (fs *replicaFetchers) close() {
	fs.mu.Lock()
	fs.closed = true
	for _, f := range fs.byLeader {
		f.shutdown()
	}
	fs.mu.Unlock()
	fs.wg.Wait()
}

// fetchPartition is one followed partition in a fetcher.
type fetchPartition struct {
	tp         topicPartition
	p          *partition.Partition
	topicID    controller.TopicID
	epoch      int32 // the leader epoch followed
	truncating bool  // must find the divergence before fetching
	retryAt    time.Time
}

// replicaFetcher fetches the partitions this broker follows on one leader.
type replicaFetcher struct {
	fs     *replicaFetchers
	leader int32
	logger *slog.Logger

	mu    sync.Mutex
	parts map[topicPartition]*fetchPartition
	conn  *brokerConn // guarded by mu for shutdown; used by the goroutine alone
	done  bool

	wake   chan struct{}   // partitions changed
	ctx    context.Context // ends at shutdown
	cancel context.CancelFunc
}

func (f *replicaFetcher) add(fp *fetchPartition) {
	f.mu.Lock()
	if old, ok := f.parts[fp.tp]; ok && old.p == fp.p && old.epoch == fp.epoch && !fp.truncating {
		fp.truncating = old.truncating
	}
	f.parts[fp.tp] = fp
	f.mu.Unlock()
	f.signal()
}

func (f *replicaFetcher) remove(tp topicPartition) {
	f.mu.Lock()
	delete(f.parts, tp)
	f.mu.Unlock()
	f.signal()
}

func (f *replicaFetcher) signal() {
	select {
	case f.wake <- struct{}{}:
	default:
	}
}

// shutdown stops the goroutine, cutting short a fetch in flight.
func (f *replicaFetcher) shutdown() {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.done {
		return
	}
	f.done = true
	f.cancel()
	if f.conn != nil {
		f.conn.nc.SetDeadline(time.Now())
	}
}

// current returns a copy of the partition's state if it is still fetched
// here in epoch.
func (f *replicaFetcher) current(tp topicPartition, epoch int32) (fetchPartition, bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	fp, ok := f.parts[tp]
	if !ok || fp.epoch != epoch {
		return fetchPartition{}, false
	}
	return *fp, true
}

// update changes the partition's state if it is still fetched here in
// epoch.
func (f *replicaFetcher) update(tp topicPartition, epoch int32, fn func(*fetchPartition)) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if fp, ok := f.parts[tp]; ok && fp.epoch == epoch {
		fn(fp)
	}
}

// backoff holds the partition back for d.
func (f *replicaFetcher) backoff(tp topicPartition, epoch int32, d time.Duration) {
	f.update(tp, epoch, func(fp *fetchPartition) { fp.retryAt = time.Now().Add(d) })
}

// ready returns the partitions to work on now, and how long until the
// next one in backoff is due (0: none).
func (f *replicaFetcher) ready() ([]fetchPartition, time.Duration) {
	f.mu.Lock()
	defer f.mu.Unlock()
	now := time.Now()
	var out []fetchPartition
	var wait time.Duration
	for _, fp := range f.parts {
		if fp.p.Closed() {
			continue
		}
		if d := fp.retryAt.Sub(now); d > 0 {
			if wait == 0 || d < wait {
				wait = d
			}
			continue
		}
		out = append(out, *fp)
	}
	return out, wait
}

func (f *replicaFetcher) setConn(c *brokerConn) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.conn != nil {
		f.conn.close()
	}
	f.conn = c
	if c != nil && f.done {
		c.nc.SetDeadline(time.Now())
	}
}

// sleep waits for d, a partition change or the stop; false on stop.
func (f *replicaFetcher) sleep(d time.Duration) bool {
	var timer <-chan time.Time
	if d > 0 {
		t := time.NewTimer(d)
		defer t.Stop()
		timer = t.C
	}
	select {
	case <-f.ctx.Done():
		return false
	case <-f.wake:
	case <-timer:
	}
	return true
}

func (f *replicaFetcher) stopped() bool { return f.ctx.Err() != nil }

func (f *replicaFetcher) run() {
	defer f.setConn(nil)
	ctx := f.ctx
	var backoff time.Duration
	for !f.stopped() {
		parts, wait := f.ready()
		if len(parts) == 0 {
			if wait == 0 {
				f.setConn(nil) // idle: let the connection go
			}
			if !f.sleep(wait) {
				return
			}
			continue
		}
		err := f.round(ctx, parts)
		if err == nil {
			backoff = 0
			continue
		}
		if f.stopped() {
			return
		}
		f.setConn(nil)
		backoff = min(max(2*backoff, fetcherBackoffMin), fetcherBackoffMax)
		f.logger.Warn("replica fetcher: connection to the leader failed; retrying", "err", err, "retry_in", backoff)
		if !f.sleep(backoff) {
			return
		}
	}
}

// round is one pass: connect if needed, truncate the partitions that
// start a new epoch, then one Fetch for the rest. An error is the
// connection's: the caller drops it and backs off.
func (f *replicaFetcher) round(ctx context.Context, parts []fetchPartition) error {
	c, err := f.connect(ctx)
	if err != nil {
		return err
	}
	var fetch []fetchPartition
	for _, fp := range parts {
		if !fp.truncating {
			fetch = append(fetch, fp)
		}
	}
	if len(fetch) < len(parts) {
		if err := f.truncate(ctx, c, parts); err != nil {
			return err
		}
	}
	if len(fetch) == 0 {
		return nil
	}
	return f.fetch(ctx, c, fetch)
}

func (f *replicaFetcher) connect(ctx context.Context) (*brokerConn, error) {
	f.mu.Lock()
	c := f.conn
	f.mu.Unlock()
	if c != nil {
		return c, nil
	}
	b := f.fs.b
	br, ok := b.opts.Metadata.Image().Broker(f.leader)
	if !ok {
		return nil, fmt.Errorf("leader %d is not registered", f.leader)
	}
	addr := net.JoinHostPort(br.Host, strconv.Itoa(int(br.Port)))
	dctx, cancel := context.WithTimeout(ctx, fetcherRequestTimeout)
	defer cancel()
	c, err := dialBroker(dctx, b.dial, addr, "weir-replica-fetcher-"+strconv.Itoa(int(b.nodeID)), max(b.brokerConfig().SocketRequestMaxBytes, 64<<20))
	if err != nil {
		return nil, fmt.Errorf("connecting to leader %d at %s: %w", f.leader, addr, err)
	}
	f.setConn(c)
	return c, nil
}

// truncate finds, for each partition that starts following a new epoch,
// where its log diverges from the leader's, and truncates there: it asks
// the leader where the log's latest epoch ends (OffsetForLeaderEpoch),
// and asks again about the next older epoch while the answer names an
// epoch this log lacks (KIP-279).
func (f *replicaFetcher) truncate(ctx context.Context, c *brokerConn, parts []fetchPartition) error {
	todo := map[topicPartition]fetchPartition{}
	for _, fp := range parts {
		if fp.truncating {
			todo[fp.tp] = fp
		}
	}
	for round := 0; len(todo) > 0; round++ {
		if round > 64 {
			return errors.New("truncation did not converge after 64 rounds of OffsetForLeaderEpoch")
		}
		req := kmsg.NewPtrOffsetForLeaderEpochRequest()
		req.ReplicaID = f.fs.b.nodeID
		byTopic := map[string]int{}
		for tp, fp := range todo {
			latest := fp.p.LatestEpoch()
			if latest < 0 {
				// No epochs to ask about: the HW is all this log knows to
				// be shared (Kafka's fallback).
				if err := fp.p.TruncateTo(fp.epoch, fp.p.HighWatermark()); err != nil {
					f.partitionFailed(fp, err)
				} else {
					f.update(tp, fp.epoch, func(s *fetchPartition) { s.truncating = false })
				}
				delete(todo, tp)
				continue
			}
			i, ok := byTopic[tp.topic]
			if !ok {
				t := kmsg.NewOffsetForLeaderEpochRequestTopic()
				t.Topic = tp.topic
				req.Topics = append(req.Topics, t)
				i = len(req.Topics) - 1
				byTopic[tp.topic] = i
			}
			rp := kmsg.NewOffsetForLeaderEpochRequestTopicPartition()
			rp.Partition, rp.CurrentLeaderEpoch, rp.LeaderEpoch = tp.index, fp.epoch, latest
			req.Topics[i].Partitions = append(req.Topics[i].Partitions, rp)
		}
		if len(req.Topics) == 0 {
			return nil
		}
		rctx, cancel := context.WithTimeout(ctx, fetcherRequestTimeout)
		kresp, err := c.requestAtLeast(rctx, req, 3)
		cancel()
		if err != nil {
			return fmt.Errorf("OffsetForLeaderEpoch to leader %d: %w", f.leader, err)
		}
		resp := kresp.(*kmsg.OffsetForLeaderEpochResponse)
		answered := map[topicPartition]bool{}
		for _, rt := range resp.Topics {
			for _, rp := range rt.Partitions {
				tp := topicPartition{rt.Topic, rp.Partition}
				fp, ok := todo[tp]
				if !ok || answered[tp] {
					continue
				}
				answered[tp] = true
				if err := kerr.ErrorForCode(rp.ErrorCode); err != nil {
					f.partitionFailed(fp, err)
					delete(todo, tp)
					continue
				}
				off, done := fp.p.TruncationOffset(partition.EpochEndOffset{Epoch: rp.LeaderEpoch, EndOffset: rp.EndOffset})
				if err := fp.p.TruncateTo(fp.epoch, off); err != nil {
					f.partitionFailed(fp, err)
					delete(todo, tp)
					continue
				}
				if done {
					f.update(tp, fp.epoch, func(s *fetchPartition) { s.truncating = false })
					delete(todo, tp)
				}
			}
		}
		for tp, fp := range todo {
			if !answered[tp] {
				f.partitionFailed(fp, errors.New("the leader did not answer for the partition"))
				delete(todo, tp)
			}
		}
	}
	return nil
}

// partitionFailed logs a partition's error and holds it back a while; a
// new leader epoch from the metadata replaces it sooner.
func (f *replicaFetcher) partitionFailed(fp fetchPartition, err error) {
	if !errors.Is(err, partition.ErrFencedLeaderEpoch) && !errors.Is(err, partition.ErrNotLeaderOrFollower) &&
		!errors.Is(err, kerr.NotLeaderForPartition) && !errors.Is(err, kerr.FencedLeaderEpoch) && !errors.Is(err, kerr.UnknownLeaderEpoch) {
		f.logger.Warn("replica fetcher: partition failed; retrying", "topic", fp.tp.topic, "partition", fp.tp.index, "leader_epoch", fp.epoch, "err", err)
	}
	f.backoff(fp.tp, fp.epoch, partitionRetry)
}

// fetch sends one Fetch for parts and applies the answer.
func (f *replicaFetcher) fetch(ctx context.Context, c *brokerConn, parts []fetchPartition) error {
	b := f.fs.b
	bc := b.brokerConfig()
	img := b.opts.Metadata.Image()
	req := kmsg.NewPtrFetchRequest()
	req.ReplicaID = b.nodeID
	req.ReplicaState.ID = b.nodeID
	if br, ok := img.Broker(b.nodeID); ok {
		req.ReplicaState.Epoch = br.Epoch
	}
	req.MaxWaitMillis = bc.ReplicaFetchWaitMaxMs
	req.MinBytes = bc.ReplicaFetchMinBytes
	req.MaxBytes = fetchResponseMaxBytes
	req.SessionEpoch = -1 // full fetch, no session
	byTopic := map[string]int{}
	for _, fp := range parts {
		i, ok := byTopic[fp.tp.topic]
		if !ok {
			t := kmsg.NewFetchRequestTopic()
			t.Topic, t.TopicID = fp.tp.topic, fp.topicID
			req.Topics = append(req.Topics, t)
			i = len(req.Topics) - 1
			byTopic[fp.tp.topic] = i
		}
		rp := kmsg.NewFetchRequestTopicPartition()
		rp.Partition = fp.tp.index
		rp.CurrentLeaderEpoch = fp.epoch
		rp.FetchOffset = fp.p.LogEndOffset()
		rp.LastFetchedEpoch = fp.p.LatestEpoch()
		rp.LogStartOffset = fp.p.LogStartOffset()
		rp.PartitionMaxBytes = max(bc.ReplicaFetchMaxBytes, 1)
		req.Topics[i].Partitions = append(req.Topics[i].Partitions, rp)
	}
	rctx, cancel := context.WithTimeout(ctx, time.Duration(req.MaxWaitMillis)*time.Millisecond+fetcherRequestTimeout)
	kresp, err := c.requestAtLeast(rctx, req, 12)
	cancel()
	if err != nil {
		return fmt.Errorf("Fetch from leader %d: %w", f.leader, err)
	}
	resp := kresp.(*kmsg.FetchResponse)
	if err := kerr.ErrorForCode(resp.ErrorCode); err != nil {
		for _, fp := range parts {
			f.partitionFailed(fp, err)
		}
		return nil
	}
	byID := map[[16]byte]string{}
	asked := make(map[topicPartition]int, len(parts)) // answers are matched in one pass
	for i, fp := range parts {
		byID[fp.topicID] = fp.tp.topic
		asked[fp.tp] = i
	}
	for _, rt := range resp.Topics {
		name := rt.Topic
		if resp.Version >= 13 {
			name = byID[rt.TopicID]
		}
		for i := range rt.Partitions {
			rp := &rt.Partitions[i]
			if j, ok := asked[topicPartition{name, rp.Partition}]; ok {
				f.apply(ctx, c, parts[j], rp)
			}
		}
	}
	return nil
}

// apply applies one partition's fetch answer.
func (f *replicaFetcher) apply(ctx context.Context, c *brokerConn, fp fetchPartition, rp *kmsg.FetchResponseTopicPartition) {
	if _, ok := f.current(fp.tp, fp.epoch); !ok {
		return // moved while the fetch was out
	}
	switch err := kerr.ErrorForCode(rp.ErrorCode); {
	case errors.Is(err, kerr.OffsetOutOfRange):
		if err := f.outOfRange(ctx, c, fp); err != nil {
			f.partitionFailed(fp, err)
		}
		return
	case err != nil:
		f.partitionFailed(fp, err)
		return
	}
	if rp.DivergingEpoch.EndOffset >= 0 && rp.DivergingEpoch.Epoch >= 0 {
		// The leader's log ends our last epoch earlier (KIP-320): truncate
		// there; the next fetch carries the new last epoch and continues
		// the walk if the leader lacks that one too.
		off, _ := fp.p.TruncationOffset(partition.EpochEndOffset{Epoch: rp.DivergingEpoch.Epoch, EndOffset: rp.DivergingEpoch.EndOffset})
		if err := fp.p.TruncateTo(fp.epoch, off); err != nil {
			f.partitionFailed(fp, err)
		}
		return
	}
	if records := wholeBatches(rp.RecordBatches); len(records) > 0 {
		if _, err := fp.p.AppendAsFollower(fp.epoch, records); err != nil {
			f.partitionFailed(fp, err)
			return
		}
	}
	fp.p.SetLeaderHighWatermark(fp.epoch, rp.HighWatermark)
	if lso := rp.LogStartOffset; lso > fp.p.LogStartOffset() && lso <= fp.p.HighWatermark() {
		// The leader deleted records (retention, DeleteRecords): follow.
		if _, err := fp.p.Log().DeleteRecordsBefore(lso); err != nil {
			f.logger.Warn("replica fetcher: following the leader's log start offset", "topic", fp.tp.topic, "partition", fp.tp.index, "err", err)
		}
	}
}

// wholeBatches returns the prefix of records made of whole batches: a
// response may end with a partial one.
func wholeBatches(records []byte) []byte {
	n := 0
	for rest := records; len(rest) > 0; {
		batch, r, err := record.NextBatch(rest)
		if err != nil {
			break
		}
		n += len(batch)
		rest = r
	}
	return records[:n]
}

// outOfRange handles OFFSET_OUT_OF_RANGE: this log ends after the
// leader's (truncate to its LEO) or before its log start (start over at
// the leader's log start), asked with ListOffsets as a replica.
func (f *replicaFetcher) outOfRange(ctx context.Context, c *brokerConn, fp fetchPartition) error {
	req := kmsg.NewPtrListOffsetsRequest()
	req.ReplicaID = f.fs.b.nodeID
	t := kmsg.NewListOffsetsRequestTopic()
	t.Topic = fp.tp.topic
	for _, ts := range []int64{listEarliest, listLatest} {
		rp := kmsg.NewListOffsetsRequestTopicPartition()
		rp.Partition, rp.CurrentLeaderEpoch, rp.Timestamp = fp.tp.index, fp.epoch, ts
		t.Partitions = append(t.Partitions, rp)
	}
	req.Topics = append(req.Topics, t)
	rctx, cancel := context.WithTimeout(ctx, fetcherRequestTimeout)
	kresp, err := c.requestAtLeast(rctx, req, 1)
	cancel()
	if err != nil {
		return err
	}
	resp := kresp.(*kmsg.ListOffsetsResponse)
	if len(resp.Topics) != 1 || len(resp.Topics[0].Partitions) != 2 {
		return errors.New("ListOffsets answer without both partitions")
	}
	ps := resp.Topics[0].Partitions
	for _, p := range ps {
		if err := kerr.ErrorForCode(p.ErrorCode); err != nil {
			return err
		}
	}
	earliest, latest := ps[0].Offset, ps[1].Offset
	switch leo := fp.p.LogEndOffset(); {
	case leo > latest:
		return fp.p.TruncateTo(fp.epoch, latest)
	case leo < earliest:
		return fp.p.TruncateFullyAndStartAt(fp.epoch, earliest)
	}
	f.backoff(fp.tp, fp.epoch, partitionRetry)
	return nil
}
