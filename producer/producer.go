package producer

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/weirmq/weir/sdk"
)

// PartitionerSource finds partitioners by name; *sdk.Registry implements
// it (built-ins and [[plugins]] partitioners, the latter wrapped with
// their fallback).
type PartitionerSource interface {
	Partitioner(name string) (sdk.Partitioner, bool)
}

// ModuleSource tells the partitioner endpoint about plugins;
// *plugins.Set implements it.
type ModuleSource interface {
	// PluginSource returns how the plugin called name runs ("wasm" or
	// "command"), and false when no plugin has that name.
	PluginSource(name string) (source string, ok bool)
	// PluginModule returns a WASM plugin's module bytes (the caller's to
	// keep) and its [plugins.config] (the caller must not modify it), or
	// an error for a plugin that is not WASM or a module file that cannot
	// be read.
	PluginModule(name string) (module []byte, config map[string]any, err error)
}

// Options configure a Producer.
type Options struct {
	// Seeds are the Kafka listeners to write to: the node's own.
	Seeds []string
	// Partitioners finds the topic's weir.partitioner. Required.
	Partitioners PartitionerSource
	// Modules describes plugin partitioners to GET
	// /v1/topics/{topic}/partitioner; nil: every partitioner found in
	// Partitioners is reported as a built-in.
	Modules ModuleSource
	Logger  *slog.Logger // nil: slog.Default()
	// MaxBodyBytes bounds a produce request's body; 0 means 8 MiB.
	MaxBodyBytes int64
	// TopicCacheTTL is how long a topic's partition count and partitioner
	// are reused before they are asked for again; 0 means one second.
	TopicCacheTTL time.Duration
	// Timeout bounds one produce request, including waiting for acks=all;
	// 0 means 30 seconds.
	Timeout time.Duration
	// ClientOptions are added to the franz-go client's options (after
	// Weir's: seeds, acks=all, the manual partitioner).
	ClientOptions []kgo.Opt
}

// Record is one record to produce.
type Record struct {
	Key     []byte // nil: no key
	Value   []byte // nil: a null value (a tombstone on a compacted topic)
	Headers []sdk.Header
	// Partition is the partition to write to, or -1 to let the topic's
	// partitioner choose.
	Partition int32
	Timestamp time.Time // zero: the time of the write
}

// Result is where one record was written, or why not.
type Result struct {
	Partition int32
	Offset    int64 // -1 when Err is set
	Err       error
}

// ErrInvalidRecord is wrapped by Produce's error for a request it refuses
// before writing anything: no records, or a partition that does not
// exist.
var ErrInvalidRecord = errors.New("producer: invalid record")

// ErrNoPartitioner is wrapped by Produce's error when the topic names a
// partitioner this node does not have.
var ErrNoPartitioner = errors.New("producer: partitioner not registered")

// Producer writes records to a node's topics with each topic's
// partitioner. Create it with Open; Close it when done. It is safe for
// concurrent use.
type Producer struct {
	opts   Options
	logger *slog.Logger
	cl     *kgo.Client
	mu     struct {
		sync.Mutex
		topics map[string]cachedTopic
	}
}

type cachedTopic struct {
	info TopicInfo
	at   time.Time
}

// Open returns a Producer writing through a franz-go client to
// opts.Seeds with acks=all and idempotence. The client connects lazily:
// Open fails only on bad options.
func Open(opts Options) (*Producer, error) {
	if opts.Partitioners == nil {
		return nil, errors.New("producer: Options.Partitioners is nil")
	}
	if len(opts.Seeds) == 0 {
		return nil, errors.New("producer: no seed brokers")
	}
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	if opts.MaxBodyBytes <= 0 {
		opts.MaxBodyBytes = 8 << 20
	}
	if opts.TopicCacheTTL <= 0 {
		opts.TopicCacheTTL = time.Second
	}
	if opts.Timeout <= 0 {
		opts.Timeout = 30 * time.Second
	}
	cl, err := kgo.NewClient(append([]kgo.Opt{
		kgo.SeedBrokers(opts.Seeds...),
		kgo.ClientID("weir-producer"),
		kgo.RequiredAcks(kgo.AllISRAcks()),
		kgo.RecordPartitioner(kgo.ManualPartitioner()),
		kgo.ProducerLinger(0),
		// No RecordDeliveryTimeout: kgo counts it from the record's
		// timestamp, which a request may set in the past. Produce bounds
		// each request with its context instead.
	}, opts.ClientOptions...)...)
	if err != nil {
		return nil, fmt.Errorf("producer: %w", err)
	}
	p := &Producer{opts: opts, logger: opts.Logger, cl: cl}
	p.mu.topics = map[string]cachedTopic{}
	return p, nil
}

// Close flushes nothing (Produce waits for its records) and closes the
// client.
func (p *Producer) Close() { p.cl.Close() }

// Topic returns topic's partition count and partitioner, from a cache
// younger than Options.TopicCacheTTL or by asking the cluster (creating
// the topic if the broker auto-creates topics). Errors are DescribeTopic's.
func (p *Producer) Topic(ctx context.Context, topic string) (TopicInfo, error) {
	p.mu.Lock()
	c, ok := p.mu.topics[topic]
	p.mu.Unlock()
	if ok && time.Since(c.at) < p.opts.TopicCacheTTL {
		return c.info, nil
	}
	info, err := DescribeTopic(ctx, p.cl, topic, true)
	if err != nil {
		return info, err
	}
	p.mu.Lock()
	p.mu.topics[topic] = cachedTopic{info: info, at: time.Now()}
	p.mu.Unlock()
	return info, nil
}

func (p *Producer) forget(topic string) {
	p.mu.Lock()
	delete(p.mu.topics, topic)
	p.mu.Unlock()
}

// Produce writes recs to topic, placing the records whose Partition is -1
// with one call to the topic's partitioner, and waits until every record
// is acknowledged by all in-sync replicas or has failed.
//
// It returns the topic's description and one Result per record, in recs'
// order; a record that failed has its Kafka error in Result.Err. It
// returns an error instead, having written nothing, for an unknown topic
// (ErrUnknownTopic), a request it refuses (ErrInvalidRecord), a
// partitioner it does not have (ErrNoPartitioner) or one that fails, or
// when ctx ends before the topic is known. recs is not modified or kept.
func (p *Producer) Produce(ctx context.Context, topic string, recs []Record) (TopicInfo, []Result, error) {
	if len(recs) == 0 {
		return TopicInfo{Topic: topic}, nil, fmt.Errorf("%w: no records", ErrInvalidRecord)
	}
	info, err := p.Topic(ctx, topic)
	if err != nil {
		return info, nil, err
	}
	krecs := make([]*kgo.Record, len(recs))
	var toPlace []*kgo.Record
	for i, r := range recs {
		kr := &kgo.Record{Topic: topic, Key: r.Key, Value: r.Value, Partition: r.Partition, Timestamp: r.Timestamp}
		for _, h := range r.Headers {
			kr.Headers = append(kr.Headers, kgo.RecordHeader{Key: h.Key, Value: h.Value})
		}
		switch {
		case r.Partition < 0:
			toPlace = append(toPlace, kr)
		case r.Partition >= info.Partitions:
			return info, nil, fmt.Errorf("%w: record %d asks for partition %d, but topic %q has %d partitions (0 to %d)",
				ErrInvalidRecord, i, r.Partition, topic, info.Partitions, info.Partitions-1)
		}
		krecs[i] = kr
	}
	if len(toPlace) > 0 {
		part, ok := p.opts.Partitioners.Partitioner(info.Partitioner)
		if !ok {
			return info, nil, fmt.Errorf("%w: topic %q names weir.partitioner %q, which this node does not have; set it to a built-in (murmur2, roundrobin, uniform-sticky) or a [[plugins]] entry",
				ErrNoPartitioner, topic, info.Partitioner)
		}
		if err := Place(ctx, part, info.Partitions, toPlace); err != nil {
			return info, nil, err
		}
	}

	ctx, cancel := context.WithTimeout(ctx, p.opts.Timeout)
	defer cancel()
	results := make([]Result, len(recs))
	var wg sync.WaitGroup
	wg.Add(len(krecs))
	for i, kr := range krecs {
		p.cl.Produce(ctx, kr, func(r *kgo.Record, err error) {
			results[i] = Result{Partition: r.Partition, Offset: r.Offset, Err: err}
			if err != nil {
				results[i].Offset = -1
			}
			wg.Done()
		})
	}
	wg.Wait()
	for _, r := range results {
		if errors.Is(r.Err, kerr.UnknownTopicOrPartition) {
			p.forget(topic) // deleted, or partitions changed
			break
		}
	}
	return info, results, nil
}
