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

	// prodCtx is the context of every Produce: it outlives the route's
	// context by the flush timeout, so that records already handed over
	// are written rather than failed at Close.
	prodCtx context.Context

	nc           atomic.Pointer[nats.Conn]
	sub          atomic.Pointer[nats.Subscription] // core NATS
	cons         atomic.Value                      // jetstream.Consumer
	droppedSubs  atomic.Uint64                     // drops counted by earlier subscriptions
	windowLoaded bool                              // run's goroutine only

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
		kgo.ProducerLinger(time.Duration(rc.LingerMs)*time.Millisecond),
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
func (r *route) run(ctx context.Context, flushTimeout time.Duration) {
	prodCtx, cancelProd := context.WithCancel(context.Background())
	r.prodCtx = prodCtx
	var wg sync.WaitGroup
	defer func() {
		// Records handed over are written (and acked) if the cluster
		// allows within the flush timeout; the rest are failed.
		fctx, cancel := context.WithTimeout(context.Background(), flushTimeout)
		if err := r.cl.Flush(fctx); err != nil {
			r.log.Warn("records still unwritten at close; JetStream will redeliver them", "err", err)
		}
		cancel()
		cancelProd()
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
	go func() { defer wg.Done(); r.writeRefused(prodCtx) }()
	go func() { defer wg.Done(); r.refreshLag(ctx) }()

	for attempt := 0; ctx.Err() == nil; attempt++ {
		started := time.Now()
		if r.cfg.IsJetStream() {
			err = r.runJetStream(ctx, nc)
		} else {
			err = r.runCore(ctx, nc)
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

// runCore subscribes and bridges until ctx is done or the subscription
// fails.
func (r *route) runCore(ctx context.Context, nc *nats.Conn) error {
	var sub *nats.Subscription
	var err error
	if r.cfg.Queue != "" {
		sub, err = nc.QueueSubscribeSync(r.cfg.Subject, r.cfg.Queue)
	} else {
		sub, err = nc.SubscribeSync(r.cfg.Subject)
	}
	if err != nil {
		return fmt.Errorf("subscribing to %q: %w", r.cfg.Subject, err)
	}
	if err := sub.SetPendingLimits(r.cfg.PendingLimit, -1); err != nil {
		_ = sub.Unsubscribe()
		return fmt.Errorf("subscribing to %q: %w", r.cfg.Subject, err)
	}
	r.sub.Store(sub)
	defer func() {
		if n, err := sub.Dropped(); err == nil {
			r.droppedSubs.Add(uint64(n))
		}
		r.sub.Store(nil)
		_ = sub.Unsubscribe()
	}()
	_ = nc.FlushTimeout(5 * time.Second) // the server knows the subscription before we say ready
	r.st.ready.Store(true)
	r.log.Info("subscribed", "subject", r.cfg.Subject, "queue", r.cfg.Queue, "topic", r.cfg.Topic)

	linger := max(time.Duration(r.cfg.LingerMs)*time.Millisecond, 100*time.Microsecond)
	for {
		m, err := sub.NextMsgWithContext(ctx)
		if err != nil {
			if errors.Is(err, nats.ErrSlowConsumer) {
				continue // counted by sub.Dropped
			}
			return fmt.Errorf("reading %q: %w", r.cfg.Subject, err)
		}
		batch := make([]message, 0, r.cfg.BatchSize)
		batch = append(batch, message{subject: m.Subject, reply: m.Reply, header: m.Header, data: m.Data})
		lctx, cancel := context.WithTimeout(ctx, linger)
		for len(batch) < r.cfg.BatchSize {
			m, err := sub.NextMsgWithContext(lctx)
			if err != nil {
				if errors.Is(err, nats.ErrSlowConsumer) {
					continue
				}
				break // the linger is over, or the subscription failed: the next read says which
			}
			batch = append(batch, message{subject: m.Subject, reply: m.Reply, header: m.Header, data: m.Data})
		}
		cancel()
		r.process(ctx, batch)
	}
}

// runJetStream creates (or updates) the durable pull consumer, fills the
// dedupe window the first time, and bridges until ctx is done or the
// consumer fails.
func (r *route) runJetStream(ctx context.Context, nc *nats.Conn) error {
	js, err := jetstream.New(nc)
	if err != nil {
		return err
	}
	cctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	cons, err := js.CreateOrUpdateConsumer(cctx, r.cfg.Stream, jetstream.ConsumerConfig{
		Durable:       r.cfg.Durable,
		AckPolicy:     jetstream.AckExplicitPolicy,
		AckWait:       time.Duration(r.cfg.AckWaitMs) * time.Millisecond,
		MaxAckPending: r.cfg.MaxAckPending,
		FilterSubject: r.cfg.FilterSubject,
		DeliverPolicy: jetstream.DeliverAllPolicy,
	})
	cancel()
	if err != nil {
		return fmt.Errorf("creating consumer %q on stream %q: %w", r.cfg.Durable, r.cfg.Stream, err)
	}
	r.cons.Store(cons)
	if !r.windowLoaded {
		n, err := r.loadWindow(ctx)
		if err != nil {
			return fmt.Errorf("reading back what the route wrote before: %w", err)
		}
		r.windowLoaded = true
		r.log.Info("dedupe window loaded from the topics", "identities", n)
	}
	it, err := cons.Messages(jetstream.PullMaxMessages(min(r.cfg.MaxAckPending, max(4*r.cfg.BatchSize, 1000))))
	if err != nil {
		return fmt.Errorf("pulling from consumer %q: %w", r.cfg.Durable, err)
	}
	defer it.Stop()
	r.st.ready.Store(true)
	r.log.Info("pulling", "stream", r.cfg.Stream, "durable", r.cfg.Durable, "topic", r.cfg.Topic)

	linger := max(time.Duration(r.cfg.LingerMs)*time.Millisecond, 100*time.Microsecond)
	for {
		m, err := it.Next(jetstream.NextContext(ctx))
		if err != nil {
			if ctx.Err() != nil {
				returnBuffered(it)
			}
			return fmt.Errorf("pulling from consumer %q: %w", r.cfg.Durable, err)
		}
		batch := make([]message, 0, r.cfg.BatchSize)
		batch = r.appendJS(batch, m)
		lctx, cancel := context.WithTimeout(ctx, linger)
		for len(batch) < r.cfg.BatchSize {
			m, err := it.Next(jetstream.NextContext(lctx))
			if err != nil {
				break // the linger is over, or the iterator failed: the next read says which
			}
			batch = r.appendJS(batch, m)
		}
		cancel()
		r.process(ctx, batch)
	}
}

// returnBuffered hands back, at shutdown, the messages the client library
// pulled but the route never took, so that JetStream redelivers them at
// once instead of after ack_wait.
func returnBuffered(it jetstream.MessagesContext) {
	it.Drain()
	for {
		m, err := it.Next(jetstream.NextMaxWait(100 * time.Millisecond))
		if err != nil {
			return
		}
		_ = m.Nak()
	}
}

func (r *route) appendJS(batch []message, m jetstream.Msg) []message {
	msg, err := fromJetStream(m)
	if err != nil {
		r.st.setError(err)
		_ = m.Term()
		return batch
	}
	return append(batch, msg)
}

// pending is a record on its way, with the message it came from.
type pending struct {
	m   *message
	rec *kgo.Record
}

// process writes one batch: it drops redeliveries of messages already
// written, sends poison messages to the dead-letter topic, places the
// rest with each topic's partitioner (one call per topic) and hands them
// to the producer. It returns once every record is handed over; the
// promises finish the work.
func (r *route) process(ctx context.Context, batch []message) {
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
		topic, err := r.tmpl.Render(tok())
		if err != nil {
			r.deadLetter(ctx, m, nil, "", "topic: "+err.Error(), false)
			continue
		}
		key, err := extractKey(&r.key, m, tok)
		if err != nil {
			r.deadLetter(ctx, m, nil, topic, err.Error(), false)
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
				r.deadLetter(ctx, p.m, p.rec.Key, topic, info.fatal.Error(), false)
			case size > info.maxBytes:
				r.deadLetter(ctx, p.m, p.rec.Key, topic,
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
			r.cl.Produce(r.prodCtx, p.rec, func(rec *kgo.Record, err error) { r.written(m, rec, err) })
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

// refusedByCluster says whether err means the cluster will never take the
// record (not an outage, not a shutdown): the message is poison.
func refusedByCluster(err error) bool {
	var ke *kerr.Error
	return errors.As(err, &ke) && !ke.Retriable && ke != kerr.UnknownTopicOrPartition
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
	if r.prodCtx.Err() != nil || errors.Is(err, kgo.ErrClientClosed) {
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

// deadLetter hands a poison message's dead-letter record to the producer.
func (r *route) deadLetter(ctx context.Context, m *message, key []byte, topic, reason string, dropValue bool) {
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
	r.cl.Produce(r.prodCtx, rec, func(rec *kgo.Record, err error) {
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

// writeRefused dead-letters the records the cluster refused, until ctx
// (the produce context) is done.
func (r *route) writeRefused(ctx context.Context) {
	for {
		select {
		case <-ctx.Done():
			for _, x := range r.refused.take() {
				r.abandon(x.m)
			}
			return
		case <-r.refused.signal:
		}
		for _, x := range r.refused.take() {
			r.log.Warn("the cluster refused a record; dead-lettering it", "topic", x.topic, "reason", x.reason)
			r.deadLetterRefused(ctx, x)
		}
	}
}

// deadLetterRefused is deadLetter for writeRefused's goroutine, which
// must not share the run goroutine's scratch space.
func (r *route) deadLetterRefused(ctx context.Context, x refusal) {
	dlq := r.cfg.DeadLetter()
	rec := deadLetter(dlq, x.m, x.key, x.topic, x.reason, x.tooLarge)
	info, err := r.topicInfo(ctx, dlq)
	if err != nil {
		r.abandon(x.m)
		return
	}
	if info.fatal != nil {
		r.failed(x.m, fmt.Errorf("dead-lettering a message (%s): %w", x.reason, info.fatal), false)
		return
	}
	r.topics.place(ctx, info, []*kgo.Record{rec})
	r.st.inflight.Add(1)
	m := x.m
	r.cl.Produce(ctx, rec, func(rec *kgo.Record, err error) {
		r.st.inflight.Add(-1)
		if err != nil {
			r.failed(m, fmt.Errorf("dead-lettering a message (%s): %w", x.reason, err), refusedByCluster(err))
			return
		}
		r.st.deadLettered.Add(1)
		if m.js != nil {
			r.ackWritten(m)
		}
	})
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

// status returns the route's status.
func (r *route) status() RouteStatus {
	s := RouteStatus{
		Name: r.cfg.Name, Stream: r.cfg.Stream, Durable: r.cfg.Durable, Subject: r.cfg.Subject, Queue: r.cfg.Queue,
		Topic: r.cfg.Topic, DeadLetterTopic: r.cfg.DeadLetter(),
		Ready:    r.st.ready.Load(),
		Received: r.st.received.Load(), Written: r.st.written.Load(), Acked: r.st.acked.Load(),
		Dropped: r.st.dropped.Load() + r.droppedSubs.Load(), DeadLettered: r.st.deadLettered.Load(),
		Deduplicated: r.st.deduplicated.Load(), Errors: r.st.errors.Load(),
	}
	if nc := r.nc.Load(); nc != nil {
		s.Connected = nc.IsConnected()
	}
	if r.cfg.IsJetStream() {
		s.Lag = r.st.lag.Load()
	} else {
		s.Lag = r.st.inflight.Load()
		if sub := r.sub.Load(); sub != nil {
			if n, err := sub.Dropped(); err == nil {
				s.Dropped += uint64(n)
			}
			if n, _, err := sub.Pending(); err == nil {
				s.Lag += int64(n)
			}
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
