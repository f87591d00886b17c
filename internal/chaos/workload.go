package chaos

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"hash/fnv"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
)

// Record is one record of the workload where the harness saw it: acknowledged
// to the producer, fetched by a consumer, or read back at the end. Values
// are not kept, only their FNV-1a 64-bit sum and the producer's sequence
// number parsed from them, so that a long run fits in memory.
type Record struct {
	Partition int32
	Offset    int64
	Seq       int64  // the producer's sequence number; -1 if the value is not the workload's
	Sum       uint64 // FNV-1a 64 of the value
}

// valuePrefix starts every workload value: "weir-chaos-<seq, 12 digits>-".
const valuePrefix = "weir-chaos-"

// MinValueSize is the smallest workload value: the prefix and sequence.
const MinValueSize = len(valuePrefix) + 12 + 1

// Value returns the workload's value for sequence number seq, size bytes
// long (at least MinValueSize): the prefix, the sequence, then filler that
// depends on seq, so that two values never share a sum by accident.
func Value(seq int64, size int) []byte {
	size = max(size, MinValueSize)
	b := make([]byte, 0, size)
	b = append(b, valuePrefix...)
	b = fmt.Appendf(b, "%012d-", seq)
	for i := len(b); i < size; i++ {
		b = append(b, 'a'+byte((seq+int64(i))%26))
	}
	return b
}

// ParseSeq returns the sequence number in a workload value, or -1 if v is
// not one.
func ParseSeq(v []byte) int64 {
	if !bytes.HasPrefix(v, []byte(valuePrefix)) || len(v) < MinValueSize || v[MinValueSize-1] != '-' {
		return -1
	}
	n, err := strconv.ParseInt(string(v[len(valuePrefix):MinValueSize-1]), 10, 64)
	if err != nil {
		return -1
	}
	return n
}

// Sum returns the FNV-1a 64-bit sum of v.
func Sum(v []byte) uint64 {
	h := fnv.New64a()
	h.Write(v)
	return h.Sum64()
}

// RecordOf describes a value found at partition/offset.
func RecordOf(partition int32, offset int64, value []byte) Record {
	return Record{Partition: partition, Offset: offset, Seq: ParseSeq(value), Sum: Sum(value)}
}

// ProducerOptions configure the workload's producer.
type ProducerOptions struct {
	Seeds      []string
	Topic      string
	Partitions int32 // records go round-robin by sequence number: seq % Partitions
	Rate       int   // records per second (default 2000)
	ValueSize  int   // bytes per value (default 100, at least MinValueSize)
}

// Producer writes the workload continuously with franz-go: idempotent,
// acks=all, retried without limit, at a steady rate, and records every
// record the cluster acknowledged with its partition and offset.
//
// A Producer is safe for concurrent use. It must be started with
// StartProducer and stopped with Stop, which waits for its goroutine.
type Producer struct {
	opts      ProducerOptions
	cl        *kgo.Client
	recordCtx context.Context // the context of every record; cancelled only when Stop gives up
	cancelRec context.CancelFunc
	stop      chan struct{}
	done      chan struct{}

	mu struct {
		sync.Mutex
		produced int64
		acks     []Record
		failed   map[string]int // error text → records failed with it
		lastAck  time.Time
	}
}

// StartProducer connects and starts producing. It returns an error if the
// client cannot be created; producing errors are counted, not returned.
func StartProducer(opts ProducerOptions) (*Producer, error) {
	if opts.Rate <= 0 {
		opts.Rate = 2000
	}
	if opts.ValueSize == 0 {
		opts.ValueSize = 100
	}
	if opts.Partitions <= 0 {
		return nil, errors.New("chaos: ProducerOptions.Partitions must be positive")
	}
	cl, err := kgo.NewClient(
		kgo.SeedBrokers(opts.Seeds...),
		kgo.RequiredAcks(kgo.AllISRAcks()), // idempotence is kgo's default
		kgo.RecordPartitioner(kgo.ManualPartitioner()),
		kgo.ProducerBatchCompression(kgo.NoCompression()),
		kgo.ProducerLinger(5*time.Millisecond),
		kgo.MaxBufferedRecords(max(opts.Rate, 1000)),
		kgo.DialTimeout(2*time.Second),
		kgo.ProduceRequestTimeout(5*time.Second),
		kgo.MetadataMinAge(100*time.Millisecond),
	)
	if err != nil {
		return nil, err
	}
	p := &Producer{opts: opts, cl: cl, stop: make(chan struct{}), done: make(chan struct{})}
	p.recordCtx, p.cancelRec = context.WithCancel(context.Background())
	p.mu.failed = map[string]int{}
	go p.run()
	return p, nil
}

// run produces at the configured rate until Stop. Produce blocks while
// the client's buffer is full (the cluster is not acknowledging); the
// records not sent meanwhile are skipped rather than sent in a burst
// afterwards: at most a fifth of a second's worth accumulates.
func (p *Producer) run() {
	defer close(p.done)
	tick := time.NewTicker(10 * time.Millisecond)
	defer tick.Stop()
	var seq int64
	tokens, last := 0.0, time.Now()
	maxTokens := max(float64(p.opts.Rate)/5, 1)
	for {
		select {
		case <-p.stop:
			return
		case now := <-tick.C:
			tokens = min(tokens+now.Sub(last).Seconds()*float64(p.opts.Rate), maxTokens)
			last = now
		}
		for ; tokens >= 1; tokens-- {
			select {
			case <-p.stop:
				return
			default:
			}
			s := seq
			seq++
			r := &kgo.Record{Topic: p.opts.Topic, Partition: int32(s % int64(p.opts.Partitions)), Value: Value(s, p.opts.ValueSize)}
			p.mu.Lock()
			p.mu.produced++
			p.mu.Unlock()
			p.cl.Produce(p.recordCtx, r, func(r *kgo.Record, err error) { p.promise(s, r, err) })
		}
	}
}

func (p *Producer) promise(seq int64, r *kgo.Record, err error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if err != nil {
		p.mu.failed[err.Error()]++
		return
	}
	p.mu.acks = append(p.mu.acks, Record{Partition: r.Partition, Offset: r.Offset, Seq: seq, Sum: Sum(r.Value)})
	p.mu.lastAck = time.Now()
}

// Acked returns how many records have been acknowledged so far.
func (p *Producer) Acked() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return len(p.mu.acks)
}

// ProducerResult is what a Producer did.
type ProducerResult struct {
	Produced int64          // records handed to the client
	Acks     []Record       // acknowledged records, in acknowledgement order; the caller's
	Failed   map[string]int // failed records by error text
	// Unsettled counts records neither acknowledged nor failed when Stop
	// returned; FlushErr says why Stop stopped waiting for them.
	Unsettled int64
	FlushErr  error
}

// FailedCount returns the number of failed records.
func (r ProducerResult) FailedCount() int {
	n := 0
	for _, c := range r.Failed {
		n += c
	}
	return n
}

// Stop stops producing new records and waits until every buffered record
// is acknowledged or failed, or ctx ends; then buffered records are
// failed (those already sent may still be written: their outcome is
// unknown) and the client closed. The result is complete either way.
func (p *Producer) Stop(ctx context.Context) ProducerResult {
	close(p.stop)
	<-p.done
	flushErr := p.cl.Flush(ctx)
	p.cancelRec()
	p.cl.Close()
	p.mu.Lock()
	defer p.mu.Unlock()
	res := ProducerResult{Produced: p.mu.produced, Acks: p.mu.acks, Failed: p.mu.failed, FlushErr: flushErr}
	res.Unsettled = res.Produced - int64(len(res.Acks)) - int64(res.FailedCount())
	return res
}

// ConsumerResult is what a consumer saw.
type ConsumerResult struct {
	Name   string
	Seen   []Record       // every record fetched, in the order fetched; the caller's
	Errors map[string]int // fetch errors by text
}

// Consumer reads every partition of a topic continuously from offset 0,
// without a group, recording every record it is served.
//
// A Consumer is safe for concurrent use. Start one with
// StartFranzConsumer or StartSaramaConsumer; Stop waits for its
// goroutines.
type Consumer struct {
	name string
	stop func() // stops the client's reading and waits for it

	mu struct {
		sync.Mutex
		seen   []Record
		next   map[int32]int64 // one past the highest offset seen per partition
		errors map[string]int
	}
}

func newConsumer(name string) *Consumer {
	c := &Consumer{name: name}
	c.mu.next = map[int32]int64{}
	c.mu.errors = map[string]int{}
	return c
}

// Name returns the consumer's name ("franz-go", "sarama").
func (c *Consumer) Name() string { return c.name }

func (c *Consumer) saw(r Record) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.mu.seen = append(c.mu.seen, r)
	c.mu.next[r.Partition] = max(c.mu.next[r.Partition], r.Offset+1)
}

func (c *Consumer) failed(err error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.mu.errors[err.Error()]++
}

// WaitCaughtUp waits until the consumer has seen, in every partition of
// hw, the record just below its high watermark. It returns nil then, or
// an error naming the partitions behind when ctx ends.
func (c *Consumer) WaitCaughtUp(ctx context.Context, hw map[int32]int64) error {
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	for {
		var behind []string
		c.mu.Lock()
		for p, h := range hw {
			if c.mu.next[p] < h {
				behind = append(behind, fmt.Sprintf("%d at %d of %d", p, c.mu.next[p], h))
			}
		}
		c.mu.Unlock()
		if len(behind) == 0 {
			return nil
		}
		select {
		case <-ctx.Done():
			sort.Strings(behind)
			return fmt.Errorf("%s consumer did not catch up: partitions %s: %w", c.name, strings.Join(behind, ", "), ctx.Err())
		case <-tick.C:
		}
	}
}

// Stop stops reading, waits for the consumer's goroutines and returns
// what it saw.
func (c *Consumer) Stop() ConsumerResult {
	c.stop()
	c.mu.Lock()
	defer c.mu.Unlock()
	return ConsumerResult{Name: c.name, Seen: c.mu.seen, Errors: c.mu.errors}
}

// StartFranzConsumer starts a franz-go consumer of every partition of
// topic from offset 0. It returns an error if the client cannot be
// created.
func StartFranzConsumer(seeds []string, topic string, partitions int32) (*Consumer, error) {
	offsets := map[int32]kgo.Offset{}
	for p := range partitions {
		offsets[p] = kgo.NewOffset().At(0)
	}
	cl, err := kgo.NewClient(
		kgo.SeedBrokers(seeds...),
		kgo.ConsumePartitions(map[string]map[int32]kgo.Offset{topic: offsets}),
		kgo.FetchMaxWait(250*time.Millisecond),
		kgo.DialTimeout(2*time.Second),
		kgo.MetadataMinAge(100*time.Millisecond),
	)
	if err != nil {
		return nil, err
	}
	c := newConsumer("franz-go")
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		for ctx.Err() == nil {
			fs := cl.PollFetches(ctx)
			fs.EachError(func(_ string, p int32, err error) {
				if !errors.Is(err, context.Canceled) {
					c.failed(fmt.Errorf("partition %d: %w", p, err))
				}
			})
			fs.EachRecord(func(r *kgo.Record) { c.saw(RecordOf(r.Partition, r.Offset, r.Value)) })
		}
	}()
	c.stop = func() {
		cancel()
		<-done
		cl.Close()
	}
	return c, nil
}

// ReadAll reads every partition of topic from offset 0 up to (not
// including) its high watermark in hw with a new franz-go client, and
// returns the records of each partition in offset order. It returns an
// error if ctx ends first or a fetch fails with a non-retriable error.
func ReadAll(ctx context.Context, seeds []string, topic string, hw map[int32]int64) (map[int32][]Record, error) {
	offsets := map[int32]kgo.Offset{}
	out := map[int32][]Record{}
	left := 0
	for p, h := range hw {
		out[p] = nil
		if h > 0 {
			offsets[p] = kgo.NewOffset().At(0)
			left++
		}
	}
	if left == 0 {
		return out, nil
	}
	cl, err := kgo.NewClient(
		kgo.SeedBrokers(seeds...),
		kgo.ConsumePartitions(map[string]map[int32]kgo.Offset{topic: offsets}),
		kgo.FetchMaxWait(250*time.Millisecond),
	)
	if err != nil {
		return nil, err
	}
	defer cl.Close()
	// A client that resets its position re-reads records: keep each
	// offset once, in order.
	next := map[int32]int64{}
	done := map[int32]bool{}
	for left > 0 {
		fs := cl.PollFetches(ctx)
		if ctx.Err() != nil {
			return out, fmt.Errorf("reading %s back: %d partitions unfinished: %w", topic, left, ctx.Err())
		}
		var ferr error
		fs.EachError(func(_ string, p int32, err error) {
			ferr = errors.Join(ferr, fmt.Errorf("partition %d: %w", p, err))
		})
		if ferr != nil {
			return out, fmt.Errorf("reading %s back: %w", topic, ferr)
		}
		fs.EachRecord(func(r *kgo.Record) {
			if r.Offset >= hw[r.Partition] || r.Offset < next[r.Partition] || done[r.Partition] {
				return
			}
			next[r.Partition] = r.Offset + 1
			out[r.Partition] = append(out[r.Partition], RecordOf(r.Partition, r.Offset, r.Value))
			if r.Offset == hw[r.Partition]-1 {
				done[r.Partition] = true
				left--
			}
		})
	}
	return out, nil
}
