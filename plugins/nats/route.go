package nats

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/weirmq/weir/core/config"
	"github.com/weirmq/weir/sdk"
)

// route is one [[bridge.nats]] entry at work. Its goroutine (run) reads
// batches from NATS, turns them into records, places them and hands them
// to its own franz-go client; the client's promises ack JetStream
// messages once their records are committed. A second goroutine writes
// the records the cluster refused to the dead-letter topic, and a third
// refreshes the lag.
type route struct {
	cfg      config.NATSRoute
	key      config.NATSKey
	tmpl     config.TopicTemplate
	natsOpts []nats.Option
	seeds    []string
	extra    []kgo.Opt
	log      *slog.Logger

	cl     *kgo.Client
	adm    *kadm.Client
	topics *topics
	win    *window
	st     stats

	// closing is set when the flush timeout has passed at Close: records
	// failing from then on are handed back to NATS, not counted as errors.
	closing atomic.Bool

	nc           atomic.Pointer[nats.Conn]
	pending      atomic.Pointer[chan *nats.Msg] // core NATS: messages waiting for the route
	cons         atomic.Value                   // jetstream.Consumer
	windowLoaded bool                           // run's goroutine only

	// core NATS: the subscription, and the drops the client counted on
	// earlier ones (together, so a status never counts one twice).
	subs struct {
		sync.Mutex
		current *nats.Subscription
		dropped uint64
	}

	refused refusedQueue
}

func newRoute(rc config.NATSRoute, opts Options, murmur2 sdk.Partitioner, log *slog.Logger) (*route, error) {
	key, err := config.ParseNATSKey(rc.Key)
	if err != nil {
		return nil, fmt.Errorf("key = %q: %w", rc.Key, err)
	}
	tmpl, err := config.ParseTopicTemplate(rc.Topic)
	if err != nil {
		return nil, fmt.Errorf("topic = %q: %w", rc.Topic, err)
	}
	if (rc.Subject == "") == (rc.Stream == "") {
		return nil, errors.New("set exactly one of subject and stream")
	}
	if rc.Stream != "" && rc.Durable == "" {
		return nil, errors.New("a stream route needs a durable consumer name")
	}
	natsOpts, err := natsOptions(&rc)
	if err != nil {
		return nil, err
	}
	r := &route{cfg: rc, key: key, tmpl: tmpl, natsOpts: natsOpts, seeds: opts.Brokers, extra: opts.KafkaOpts, log: log}
	r.refused.signal = make(chan struct{}, 1)
	window := 0
	if rc.IsJetStream() {
		window = rc.DedupeWindow
	}
	r.win = newWindow(window)
	r.topics = newTopics(opts.Partitioners, murmur2, log) // before the client, which asks it for batch sizes
	r.cl, err = kgo.NewClient(append(r.kafkaOpts(),
		kgo.RecordPartitioner(kgo.ManualPartitioner()),
		kgo.RequiredAcks(kgo.AllISRAcks()),
		// The route batches already (linger_ms); a second linger in the
		// client only delays (measured: ~10% less throughput at 5ms).
		kgo.ProducerLinger(0),
		kgo.MaxBufferedRecords(max(rc.MaxAckPending, 4*rc.BatchSize)),
		kgo.ProducerBatchMaxBytesFn(func(topic string) int32 { return r.topics.batchMaxBytes(topic) }),
		kgo.ProducerBatchCompression(kgo.NoCompression()),
	)...)
	if err != nil {
		return nil, fmt.Errorf("kafka client: %w", err)
	}
	r.adm = kadm.NewClient(r.cl)
	r.topics.cl, r.topics.adm = r.cl, r.adm
	return r, nil
}

// kafkaOpts are the client options every client of the route starts from.
func (r *route) kafkaOpts() []kgo.Opt {
	return append([]kgo.Opt{kgo.SeedBrokers(r.seeds...)}, r.extra...)
}

// backoff returns the wait before retry n (0-based): 100ms doubling to 5s.
func backoff(n int) time.Duration {
	return min(100*time.Millisecond<<min(n, 6), 5*time.Second)
}

// sleep waits d or until ctx is done, and reports whether d passed.
func sleep(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-ctx.Done():
		return false
	}
}

// run is the route's life: connect, then read and write until ctx is
// done, starting over (with backoff) after any failure; then flush and
// close.
//
// Records are produced under pctx, the produce context, which outlives
// ctx by the flush timeout: canceling a record's context fails it, and
// records already handed over should be written at Close, not failed.
func (r *route) run(ctx context.Context, flushTimeout time.Duration) {
	pctx, cancelProduce := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	defer func() {
		// Records handed over are written (and acked) if the cluster
		// allows within the flush timeout; the rest are failed.
		fctx, cancel := context.WithTimeout(context.Background(), flushTimeout)
		if err := r.cl.Flush(fctx); err != nil {
			r.log.Warn("records still unwritten at close; JetStream will redeliver them", "err", err)
		}
		cancel()
		r.closing.Store(true)
		cancelProduce()
		wg.Wait()
		r.cl.Close()
		if nc := r.nc.Load(); nc != nil {
			_ = nc.FlushTimeout(time.Second) // the last acks
			nc.Close()
		}
	}()

	nc, err := nats.Connect(r.cfg.URL, r.natsOpts...)
	if err != nil { // with RetryOnFailedConnect only bad options fail here
		r.st.setError(fmt.Errorf("connecting to %s: %w", r.cfg.URL, err))
		r.log.Error("cannot connect to NATS", "url", r.cfg.URL, "err", err)
		<-ctx.Done()
		return
	}
	r.nc.Store(nc)
	wg.Add(2)
	go func() { defer wg.Done(); r.writeRefused(pctx) }()
	go func() { defer wg.Done(); r.refreshLag(ctx) }()

	for attempt := 0; ctx.Err() == nil; attempt++ {
		started := time.Now()
		if r.cfg.IsJetStream() {
			err = r.runJetStream(ctx, pctx, nc)
		} else {
			err = r.runCore(ctx, pctx, nc)
		}
		r.st.ready.Store(false)
		if ctx.Err() != nil {
			return
		}
		if time.Since(started) > time.Minute {
			attempt = 0
		}
		r.st.setError(err)
		r.log.Warn("route stopped; starting it again", "err", err, "retry_in", backoff(attempt))
		sleep(ctx, backoff(attempt))
	}
}

// pending is a record on its way, with the message it came from.
type pending struct {
	m   *message
	rec *kgo.Record
}

// process writes one batch: it drops redeliveries of messages already
// written, sends poison messages to the dead-letter topic, places the
// rest with each topic's partitioner (one call per topic) and hands them
// to the producer, under pctx (see run). It returns once every record is
// handed over; the promises finish the work.
func (r *route) process(ctx, pctx context.Context, batch []message) {
	r.st.received.Add(uint64(len(batch)))
	byTopic := map[string][]pending{}
	var order []string
	for i := range batch {
		m := &batch[i]
		if m.js != nil {
			switch r.win.begin(m.id, m.js) {
			case beginDuplicate:
				r.st.deduplicated.Add(1)
				r.ack(m.js)
				continue
			case beginWaiting:
				r.st.deduplicated.Add(1)
				continue
			}
		}
		var tokens []string
		tok := func() []string {
			if tokens == nil {
				tokens = strings.Split(m.subject, ".")
			}
			return tokens
		}
		topic := r.tmpl.String()
		var err error
		if !r.tmpl.Static() {
			topic, err = r.tmpl.Render(tok())
		}
		if err != nil {
			r.deadLetter(ctx, pctx, m, nil, "", "topic: "+err.Error(), false)
			continue
		}
		key, err := extractKey(&r.key, m, tok)
		if err != nil {
			r.deadLetter(ctx, pctx, m, nil, topic, err.Error(), false)
			continue
		}
		rec := &kgo.Record{Topic: topic, Key: key, Value: m.data, Headers: recordHeaders(m), Timestamp: m.ts}
		if _, ok := byTopic[topic]; !ok {
			order = append(order, topic)
		}
		byTopic[topic] = append(byTopic[topic], pending{m, rec})
	}
	for _, topic := range order {
		ps := byTopic[topic]
		info, err := r.topicInfo(ctx, topic)
		if err != nil { // shutting down: leave them to redelivery
			for _, p := range ps {
				r.abandon(p.m)
			}
			continue
		}
		recs := make([]*kgo.Record, 0, len(ps))
		keep := ps[:0]
		for _, p := range ps {
			switch size := recordSize(p.rec); {
			case info.fatal != nil:
				r.deadLetter(ctx, pctx, p.m, p.rec.Key, topic, info.fatal.Error(), false)
			case size > info.maxBytes:
				r.deadLetter(ctx, pctx, p.m, p.rec.Key, topic,
					fmt.Sprintf("too large: the record takes %d bytes and topic %q takes at most %d (max.message.bytes)", size, topic, info.maxBytes), true)
			default:
				recs = append(recs, p.rec)
				keep = append(keep, p)
			}
		}
		if len(recs) == 0 {
			continue
		}
		r.topics.place(ctx, info, recs)
		for _, p := range keep {
			m := p.m
			r.st.inflight.Add(1)
			r.cl.Produce(pctx, p.rec, func(rec *kgo.Record, err error) { r.written(m, rec, err) })
		}
	}
}

// topicInfo returns what is known of topic, retrying until the cluster
// answers; it fails only when ctx is done.
func (r *route) topicInfo(ctx context.Context, topic string) (*topicInfo, error) {
	for attempt := 0; ; attempt++ {
		info, err := r.topics.get(ctx, topic)
		if err == nil {
			return info, nil
		}
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
		r.st.setError(err)
		if attempt == 0 {
			r.log.Warn("cannot read topic metadata; retrying", "topic", topic, "err", err)
		}
		if !sleep(ctx, backoff(attempt)) {
			return nil, ctx.Err()
		}
	}
}

// written is the promise of a record bound for the route's topic.
func (r *route) written(m *message, rec *kgo.Record, err error) {
	r.st.inflight.Add(-1)
	if err == nil {
		r.st.written.Add(1)
		if m.js != nil {
			r.ackWritten(m)
		}
		return
	}
	if refusedByCluster(err) {
		r.refused.push(refusal{m: m, key: rec.Key, topic: rec.Topic, reason: "refused by the cluster: " + err.Error(),
			tooLarge: errors.Is(err, kerr.MessageTooLarge) || errors.Is(err, kerr.RecordListTooLarge)})
		return
	}
	if errors.Is(err, kerr.UnknownTopicOrPartition) {
		r.topics.forget(rec.Topic)
	}
	r.failed(m, fmt.Errorf("writing to %q: %w", rec.Topic, err), false)
}

// refusedByCluster says whether err means the cluster will never take
// this record because of the record itself (its size, timestamp, key or
// contents, or a topic policy): the message is poison. Everything else —
// outages, shutdowns, permissions, UNKNOWN_SERVER_ERROR — is not: the
// message is retried, never dead-lettered.
func refusedByCluster(err error) bool {
	var ke *kerr.Error
	if !errors.As(err, &ke) {
		return false
	}
	switch ke {
	case kerr.MessageTooLarge, kerr.RecordListTooLarge, kerr.InvalidRecord, kerr.InvalidTimestamp,
		kerr.CorruptMessage, kerr.PolicyViolation, kerr.InvalidTopicException, kerr.UnsupportedForMessageFormat:
		return true
	}
	return false
}

// ackWritten acks a JetStream message whose record is committed, with the
// redeliveries that waited for it.
func (r *route) ackWritten(m *message) {
	for _, w := range r.win.commit(m.id) {
		r.ack(w)
	}
	r.ack(m.js)
}

func (r *route) ack(m jetstream.Msg) {
	if err := m.Ack(); err != nil {
		r.st.setError(fmt.Errorf("acking a message: %w", err))
		return // JetStream redelivers it after ack_wait; the window skips it
	}
	r.st.acked.Add(1)
}

// failed gives up on a message for now: a JetStream message is nakked (to
// be redelivered), a core NATS one is lost. terminal: the message can
// never be written; JetStream stops redelivering it.
func (r *route) failed(m *message, err error, terminal bool) {
	if r.closing.Load() || errors.Is(err, kgo.ErrClientClosed) {
		r.abandon(m) // closing: JetStream redelivers to the next bridge
		return
	}
	r.st.setError(err)
	if m.js == nil {
		r.st.dropped.Add(1)
		return
	}
	settle := func(js jetstream.Msg) {
		if terminal {
			_ = js.TermWithReason(err.Error())
		} else {
			_ = js.NakWithDelay(time.Second)
		}
	}
	for _, w := range r.win.abort(m.id) {
		settle(w)
	}
	settle(m.js)
}

// abandon gives a message up at shutdown: a JetStream message is nakked,
// so that the next bridge gets it at once; a core NATS one is lost.
func (r *route) abandon(m *message) {
	if m.js == nil {
		r.st.dropped.Add(1)
		return
	}
	for _, w := range r.win.abort(m.id) {
		_ = w.Nak()
	}
	_ = m.js.Nak()
}

// deadLetter hands a poison message's dead-letter record to the producer,
// under pctx (see run); ctx bounds the wait for the topic's metadata.
func (r *route) deadLetter(ctx, pctx context.Context, m *message, key []byte, topic, reason string, dropValue bool) {
	dlq := r.cfg.DeadLetter()
	rec := deadLetter(dlq, m, key, topic, reason, dropValue)
	info, err := r.topicInfo(ctx, dlq)
	if err != nil {
		r.abandon(m)
		return
	}
	if info.fatal != nil {
		r.failed(m, fmt.Errorf("dead-lettering a message (%s): %w", reason, info.fatal), false)
		return
	}
	r.topics.place(ctx, info, []*kgo.Record{rec})
	r.st.inflight.Add(1)
	r.cl.Produce(pctx, rec, func(rec *kgo.Record, err error) {
		r.st.inflight.Add(-1)
		if err != nil {
			r.failed(m, fmt.Errorf("dead-lettering a message (%s): %w", reason, err), refusedByCluster(err))
			return
		}
		r.st.deadLettered.Add(1)
		if m.js != nil {
			r.ackWritten(m)
		}
	})
}

// refusal is a record the cluster refused, to be dead-lettered.
type refusal struct {
	m             *message
	key           []byte
	topic, reason string
	tooLarge      bool // the payload is left out of the dead-letter record
}

// refusedQueue hands refusals from the producer's promises, which must
// not block, to writeRefused. Safe for concurrent use.
type refusedQueue struct {
	mu     sync.Mutex
	items  []refusal
	signal chan struct{} // capacity 1
}

func (q *refusedQueue) push(x refusal) {
	q.mu.Lock()
	q.items = append(q.items, x)
	q.mu.Unlock()
	select {
	case q.signal <- struct{}{}:
	default:
	}
}

func (q *refusedQueue) take() []refusal {
	q.mu.Lock()
	defer q.mu.Unlock()
	items := q.items
	q.items = nil
	return items
}

// writeRefused dead-letters the records the cluster refused, until pctx
// (the produce context, see run) is done.
func (r *route) writeRefused(pctx context.Context) {
	for {
		select {
		case <-pctx.Done():
			for _, x := range r.refused.take() {
				r.abandon(x.m)
			}
			return
		case <-r.refused.signal:
		}
		for _, x := range r.refused.take() {
			r.log.Warn("the cluster refused a record; dead-lettering it", "topic", x.topic, "reason", x.reason)
			r.deadLetter(pctx, pctx, x.m, x.key, x.topic, x.reason, x.tooLarge)
		}
	}
}

// lagInterval is how often a JetStream route asks for its consumer's
// pending counts.
const lagInterval = 2 * time.Second

func (r *route) refreshLag(ctx context.Context) {
	if !r.cfg.IsJetStream() {
		return
	}
	t := time.NewTicker(lagInterval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		cons, _ := r.cons.Load().(jetstream.Consumer)
		if cons == nil {
			continue
		}
		ictx, cancel := context.WithTimeout(ctx, lagInterval)
		info, err := cons.Info(ictx)
		cancel()
		if err == nil {
			r.st.lag.Store(int64(info.NumPending) + int64(info.NumAckPending))
		}
	}
}

// subDropped returns how many messages the NATS client dropped for the
// route's subscriptions (slow consumer).
func (r *route) subDropped() uint64 {
	r.subs.Lock()
	defer r.subs.Unlock()
	n := r.subs.dropped
	if r.subs.current != nil {
		if d, err := r.subs.current.Dropped(); err == nil {
			n += uint64(d)
		}
	}
	return n
}

// setSub makes sub the route's subscription (nil: none), keeping the drop
// count of the one it replaces.
func (r *route) setSub(sub *nats.Subscription) {
	r.subs.Lock()
	defer r.subs.Unlock()
	if old := r.subs.current; old != nil {
		if d, err := old.Dropped(); err == nil {
			r.subs.dropped += uint64(d)
		}
	}
	r.subs.current = sub
}

// status returns the route's status.
func (r *route) status() RouteStatus {
	s := RouteStatus{
		Name: r.cfg.Name, Stream: r.cfg.Stream, Durable: r.cfg.Durable, Subject: r.cfg.Subject, Queue: r.cfg.Queue,
		Topic: r.cfg.Topic, DeadLetterTopic: r.cfg.DeadLetter(),
		Ready:    r.st.ready.Load(),
		Received: r.st.received.Load(), Written: r.st.written.Load(), Acked: r.st.acked.Load(),
		Dropped: r.st.dropped.Load() + r.subDropped(), DeadLettered: r.st.deadLettered.Load(),
		Deduplicated: r.st.deduplicated.Load(), Errors: r.st.errors.Load(),
	}
	if nc := r.nc.Load(); nc != nil {
		s.Connected = nc.IsConnected()
	}
	if r.cfg.IsJetStream() {
		s.Lag = r.st.lag.Load()
	} else {
		s.Lag = r.st.inflight.Load()
		if in := r.pending.Load(); in != nil {
			s.Lag += int64(len(*in))
		}
	}
	s.Ready = s.Ready && s.Connected
	r.st.mu.Lock()
	s.LastError = r.st.mu.lastErr
	if !r.st.mu.lastErrAt.IsZero() {
		s.LastErrorAt = r.st.mu.lastErrAt.UTC().Format(time.RFC3339)
	}
	r.st.mu.Unlock()
	return s
}
