package nats

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"sync"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/weirmq/weir/sdk"
)

// PartitionerLookup finds a partitioner by the name a topic's
// weir.partitioner config gives. An *sdk.Registry satisfies it.
type PartitionerLookup interface {
	Partitioner(name string) (sdk.Partitioner, bool)
}

const (
	// defaultPartitioner is used when a topic's weir.partitioner is empty
	// (or the cluster is not Weir and has no such config).
	defaultPartitioner = "murmur2"
	// defaultMaxMessageBytes is Kafka's max.message.bytes default, used
	// when a cluster does not report the topic's.
	defaultMaxMessageBytes = 1048588
	// topicInfoTTL is how long a topic's partition count, partitioner and
	// size limit are trusted before they are read again.
	topicInfoTTL = 30 * time.Second
)

// topicInfo is what the bridge knows about a destination topic. Only warned
// changes once it is cached (under topics.mu).
type topicInfo struct {
	partitions  int32
	partitioner sdk.Partitioner
	maxBytes    int   // max.message.bytes: a record whose batch would be larger is poison
	fatal       error // non-nil: the topic cannot be written (creating it was refused)
	expires     time.Time
	warned      bool // a partitioner fallback has been logged
}

// topics caches topic metadata for one route. Safe for concurrent use.
type topics struct {
	cl      *kgo.Client
	adm     *kadm.Client
	lookup  PartitionerLookup
	murmur2 sdk.Partitioner
	log     *slog.Logger
	mu      struct {
		sync.Mutex
		m map[string]*topicInfo
	}
}

// newTopics returns an empty cache; its cl and adm must be set before get.
func newTopics(lookup PartitionerLookup, murmur2 sdk.Partitioner, log *slog.Logger) *topics {
	t := &topics{lookup: lookup, murmur2: murmur2, log: log}
	t.mu.m = map[string]*topicInfo{}
	return t
}

// batchMaxBytes is the client's per-topic batch size cap
// (kgo.ProducerBatchMaxBytesFn): the topic's max.message.bytes once known.
func (t *topics) batchMaxBytes(topic string) int32 {
	t.mu.Lock()
	info := t.mu.m[topic]
	t.mu.Unlock()
	if info == nil || info.maxBytes == 0 {
		return 1000012 // kgo's default
	}
	return int32(min(max(info.maxBytes, 512), 1<<30))
}

// forget drops what is cached about topic, so that the next get reads it
// again (after the broker said it does not exist, for instance).
func (t *topics) forget(topic string) {
	t.mu.Lock()
	delete(t.mu.m, topic)
	t.mu.Unlock()
}

// get returns what is known about topic, reading it from the cluster (and
// creating the topic with the cluster's defaults if it does not exist)
// when it is not cached or has expired. An error means the cluster could
// not be asked and the caller should retry; a topic that cannot be
// created comes back with info.fatal set.
func (t *topics) get(ctx context.Context, topic string) (*topicInfo, error) {
	now := time.Now()
	t.mu.Lock()
	info := t.mu.m[topic]
	t.mu.Unlock()
	if info != nil && now.Before(info.expires) {
		return info, nil
	}
	info, err := t.fetch(ctx, topic)
	if err != nil {
		return nil, err
	}
	info.expires = now.Add(topicInfoTTL)
	t.mu.Lock()
	t.mu.m[topic] = info
	t.mu.Unlock()
	return info, nil
}

// partitions asks the cluster for topic's partition count, bypassing the
// client's metadata cache (which would keep saying a topic just created
// does not exist). The error is the topic's Kafka error, or the request's.
func (t *topics) partitions(ctx context.Context, topic string) (int32, error) {
	req := kmsg.NewPtrMetadataRequest()
	req.AllowAutoTopicCreation = false
	rt := kmsg.NewMetadataRequestTopic()
	rt.Topic = kmsg.StringPtr(topic)
	req.Topics = append(req.Topics, rt)
	resp, err := req.RequestWith(ctx, t.cl)
	if err != nil {
		return 0, fmt.Errorf("reading metadata of topic %q: %w", topic, err)
	}
	for _, rt := range resp.Topics {
		if rt.Topic == nil || *rt.Topic != topic {
			continue
		}
		if err := kerr.ErrorForCode(rt.ErrorCode); err != nil {
			return 0, err
		}
		return int32(len(rt.Partitions)), nil
	}
	return 0, kerr.UnknownTopicOrPartition
}

func (t *topics) fetch(ctx context.Context, topic string) (*topicInfo, error) {
	n, err := t.partitions(ctx, topic)
	if errors.Is(err, kerr.UnknownTopicOrPartition) {
		resp, err := t.adm.CreateTopic(ctx, -1, -1, nil, topic)
		switch {
		case err != nil:
			return nil, fmt.Errorf("creating topic %q: %w", topic, err)
		case resp.Err != nil && !errors.Is(resp.Err, kerr.TopicAlreadyExists):
			if kerr.IsRetriable(resp.Err) {
				return nil, fmt.Errorf("creating topic %q: %w", topic, resp.Err)
			}
			msg := resp.Err.Error()
			if resp.ErrMessage != "" {
				msg += ": " + resp.ErrMessage
			}
			return &topicInfo{fatal: fmt.Errorf("topic %q does not exist and cannot be created: %s", topic, msg)}, nil
		}
		t.log.Info("created topic", "topic", topic)
		n, err = t.partitions(ctx, topic)
	}
	var ke *kerr.Error
	switch {
	case errors.As(err, &ke) && !ke.Retriable:
		return &topicInfo{fatal: fmt.Errorf("topic %q cannot be written: %w", topic, err)}, nil
	case err != nil:
		return nil, fmt.Errorf("topic %q: %w", topic, err)
	case n == 0:
		return nil, fmt.Errorf("topic %q has no partitions yet", topic)
	}
	info := &topicInfo{partitions: n, maxBytes: defaultMaxMessageBytes}
	name := ""
	rcs, err := t.adm.DescribeTopicConfigs(ctx, topic)
	if err != nil {
		return nil, fmt.Errorf("reading configs of topic %q: %w", topic, err)
	}
	for _, rc := range rcs {
		if rc.Name != topic || rc.Err != nil {
			continue
		}
		for _, c := range rc.Configs {
			if c.Value == nil {
				continue
			}
			switch c.Key {
			case "weir.partitioner":
				name = *c.Value
			case "max.message.bytes":
				if n, err := strconv.Atoi(*c.Value); err == nil && n > 0 {
					info.maxBytes = n
				}
			}
		}
	}
	if name == "" {
		name = defaultPartitioner
	}
	p, ok := t.lookup.Partitioner(name)
	if !ok {
		t.log.Warn("topic names a partitioner that is not registered; placing its records with murmur2",
			"topic", topic, "partitioner", name)
		p = t.murmur2
	}
	info.partitioner = p
	return info, nil
}

// place sets the partition of every record in recs, which all go to the
// topic info describes, with one call to the topic's partitioner. A
// partitioner that fails, declines or answers out of range is replaced by
// murmur2 for the batch (logged once per topic per refresh).
func (t *topics) place(ctx context.Context, info *topicInfo, recs []*kgo.Record) {
	keys, out := make([][]byte, len(recs)), make([]int32, len(recs))
	for i, r := range recs {
		keys[i] = r.Key
	}
	in := sdk.PartitionInput{Topic: recs[0].Topic, NumPartitions: info.partitions, Keys: keys}
	err := info.partitioner.Partition(ctx, in, out)
	if err == nil {
		err = sdk.CheckPartitions(in, out)
	}
	if err != nil && info.partitioner != t.murmur2 {
		if !errors.Is(err, sdk.ErrDecline) {
			t.mu.Lock()
			warn := !info.warned
			info.warned = true
			t.mu.Unlock()
			if warn {
				t.log.Warn("partitioner failed; placing the batch with murmur2", "topic", in.Topic,
					"partitioner", info.partitioner.Name(), "err", err)
			}
		}
		err = t.murmur2.Partition(ctx, in, out)
		if err == nil {
			err = sdk.CheckPartitions(in, out)
		}
	}
	if err != nil { // murmur2 itself cannot fail on valid input; never leave a record unplaced
		for i := range out {
			out[i] = 0
		}
	}
	for i, r := range recs {
		r.Partition = out[i]
	}
}
