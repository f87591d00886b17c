package server

import (
	"context"
	"errors"
	"fmt"
	"net"
	"strconv"
	"sync"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"

	"github.com/weirmq/weir/core/controller"
	"github.com/weirmq/weir/core/group"
	"github.com/weirmq/weir/core/log"
	"github.com/weirmq/weir/core/partition"
	"github.com/weirmq/weir/core/record"
)

// The broker's side of the group coordinator (core/group): its
// configuration, the __consumer_offsets topic, and the partitions the
// coordinator stores groups in. The handlers are 08_, 09_, 10_ … 16_, 42_,
// 47_, and 68_ and 69_ for KIP-848.

// openGroups creates the coordinator; the broker loads partitions into it
// as it opens them (loadGroups).
func (b *Broker) openGroups() {
	b.groups = group.Open(group.Options{
		Config:     b.groupConfig,
		Partitions: b.offsetsPartitions,
		Codecs:     b.opts.Codecs,
		Logger:     b.logger,
		Topics:     b.groupTopics, // weir: KIP-848, and server-side assignment of classic groups
		Assignors:  b.opts.Assignors,

		ClassicAssignor: b.classicAssignor, // weir: server-side assignment of classic groups (group_configs.go)
	})
}

// closeGroups stops the coordinator and waits for the loads in flight.
func (b *Broker) closeGroups() {
	b.groups.Close()
	b.groupLoads.Wait()
}

// groupConfig is the coordinator's configuration, from the broker's.
func (b *Broker) groupConfig() group.Config {
	bc := b.brokerConfig()
	cfg := group.DefaultConfig()
	cfg.MinSessionTimeout = msDuration(int64(bc.GroupMinSessionTimeoutMs))
	cfg.MaxSessionTimeout = msDuration(int64(bc.GroupMaxSessionTimeoutMs))
	cfg.InitialRebalanceDelay = msDuration(int64(bc.GroupInitialRebalanceDelayMs))
	cfg.MaxSize = int(bc.GroupMaxSize)
	cfg.OffsetsRetention = time.Duration(bc.OffsetsRetentionMinutes) * time.Minute
	if b.opts.groupConfigForTesting != nil {
		b.opts.groupConfigForTesting(&cfg)
	}
	return cfg
}

// offsetsPartitions is the partition count that places groups: the
// topic's, once it exists (a changed offsets.topic.num.partitions must not
// move groups), else the configured one.
func (b *Broker) offsetsPartitions() int32 {
	if t, ok := b.opts.Metadata.Image().TopicByName(group.OffsetsTopic); ok {
		return int32(len(t.Partitions))
	}
	return b.brokerConfig().OffsetsTopicNumPartitions
}

// loadGroups makes the coordinator read a __consumer_offsets partition
// this node leads, in a goroutine the broker waits for on Close.
func (b *Broker) loadGroups(index int32, p *partition.Partition) {
	b.groups.Loading(index) // requests wait for the load from now on, not after the goroutine starts
	b.groupLoads.Go(func() {
		if err := b.groups.Load(context.Background(), index, offsetsPartition{b, p}); err != nil && !errors.Is(err, group.ErrClosed) {
			b.logger.Error("loading groups failed; they stay unavailable until the partition is opened again",
				"topic", group.OffsetsTopic, "partition", index, "err", err)
		}
	})
}

// goroutines are goroutines with one owner, who waits for them: Go
// refuses to start one once Wait has begun.
type goroutines struct {
	mu     sync.Mutex
	closed bool
	wg     sync.WaitGroup
}

func (g *goroutines) Go(f func()) {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.closed {
		return
	}
	g.wg.Go(f)
}

func (g *goroutines) Wait() {
	g.mu.Lock()
	g.closed = true
	g.mu.Unlock()
	g.wg.Wait()
}

// offsetsTopic returns __consumer_offsets, creating it on first use as
// Kafka does: offsets.topic.num.partitions partitions, a replication
// factor of offsets.topic.replication.factor capped at the live brokers,
// compacted, with offsets.topic.segment.bytes segments.
func (b *Broker) offsetsTopic(ctx context.Context) (controller.Topic, error) {
	img := b.opts.Metadata.Image()
	if t, ok := img.TopicByName(group.OffsetsTopic); ok {
		return t, nil
	}
	bc := b.brokerConfig()
	live := 0
	for _, br := range img.Brokers() {
		if !br.Fenced {
			live++
		}
	}
	rf := min(int(bc.OffsetsTopicReplicationFactor), max(live, 1))
	configs := map[string]string{
		"cleanup.policy": "compact",
		"segment.bytes":  strconv.Itoa(int(bc.OffsetsTopicSegmentBytes)),
	}
	err := b.createTopic(ctx, group.OffsetsTopic, bc.OffsetsTopicNumPartitions, int16(rf), nil, configs)
	if err != nil && !errors.Is(err, controller.ErrTopicExists) {
		return controller.Topic{}, fmt.Errorf("%w: creating %s: %v", kerr.CoordinatorNotAvailable, group.OffsetsTopic, err)
	}
	t, ok := b.opts.Metadata.Image().TopicByName(group.OffsetsTopic)
	if !ok {
		return controller.Topic{}, fmt.Errorf("%w: %s vanished after creation", kerr.CoordinatorNotAvailable, group.OffsetsTopic)
	}
	b.logger.Info("created "+group.OffsetsTopic, "partitions", len(t.Partitions), "replication_factor", rf)
	return t, nil
}

// groupClient is who sent a request, as DescribeGroups shows members:
// the client id, and the address as Java's InetAddress prints it.
func groupClient(rc *requestContext) group.Client {
	c := group.Client{ID: rc.clientID}
	if a, ok := rc.conn.nc.RemoteAddr().(*net.TCPAddr); ok && a.IP != nil {
		c.Host = "/" + a.IP.String()
	}
	return c
}

// offsetsPartition is a __consumer_offsets partition as the coordinator
// stores groups in it.
type offsetsPartition struct {
	b *Broker
	p *partition.Partition
}

// open reports whether the partition is still the broker's: one closed
// (its topic deleted) must not be loaded.
func (s offsetsPartition) open() bool { return s.b.partition(s.p.Topic(), s.p.Index()) == s.p }

// Append appends the batch as leader with acks=all, as Kafka's
// coordinator writes, and waits until it is replicated to the ISR (with
// min.insync.replicas members).
func (s offsetsPartition) Append(ctx context.Context, batch []byte) error {
	res, err := s.p.AppendAsLeader(batch, -1)
	switch {
	case errors.Is(err, log.ErrRecordTooLarge):
		return fmt.Errorf("%w: %w", group.ErrBatchTooLarge, err)
	case errors.Is(err, log.ErrClosed), errors.Is(err, partition.ErrNotLeaderOrFollower):
		return fmt.Errorf("%w: %w", group.ErrNotLeader, err)
	case err != nil:
		return err
	}
	if err := s.p.WaitForAcks(ctx, res); err != nil {
		if ctx.Err() != nil || !errors.Is(err, partition.ErrNotLeaderOrFollower) {
			return err
		}
		return fmt.Errorf("%w: %w", group.ErrNotLeader, err) // leadership moved, or the partition closed
	}
	return nil
}

// readChunk is how much of the partition one read takes.
const readChunk = 1 << 20

// ReadBatches reads the partition from its log start offset to its log
// end offset. Records above the HW are read too, as Kafka's coordinator
// loads: this replica leads, so its log is the partition's from here on,
// and a new leader's HW can lag records that were committed under the old
// one (and acknowledged to the committers) until the followers fetch.
func (s offsetsPartition) ReadBatches(ctx context.Context, fn func(batch []byte) error) error {
	offset := s.p.LogStartOffset()
	var buf []byte
	for {
		if err := ctx.Err(); err != nil {
			return err
		}
		if !s.open() {
			return group.ErrNotLeader
		}
		res, err := s.p.ReadToLogEnd(offset, readChunk)
		if err != nil {
			return err
		}
		if len(res.Slices) == 0 || res.NextOffset <= offset {
			return nil
		}
		for _, sl := range res.Slices {
			if int64(cap(buf)) < sl.Len {
				buf = make([]byte, sl.Len)
			}
			chunk := buf[:sl.Len]
			if n, err := sl.File.ReadAt(chunk, sl.Pos); int64(n) != sl.Len {
				return fmt.Errorf("reading %s at %d: %w", sl.File.Name(), sl.Pos, err)
			}
			for len(chunk) > 0 {
				batch, rest, err := record.NextBatch(chunk)
				if err != nil {
					return err
				}
				if err := fn(batch); err != nil {
					return err
				}
				chunk = rest
			}
		}
		offset = res.NextOffset
	}
}
