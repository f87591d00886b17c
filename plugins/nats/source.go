package nats

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// The two sources of a route. Core NATS delivers into a Go channel,
// JetStream into a msgQueue; the route drains either in batches (collect,
// msgQueue.collect): a batch is written when it holds batch_size
// messages, or linger_ms after its first message, whichever comes first.

// collect returns first and what arrives on in after it, up to max
// messages, waiting at most linger from now for more; it stops early when
// ctx is done or in is closed. timer is the caller's, stopped on return.
func collect[T any](ctx context.Context, in <-chan T, first T, max int, linger time.Duration, timer *time.Timer) []T {
	batch := make([]T, 1, max)
	batch[0] = first
	armed := false
	defer func() {
		if armed {
			timer.Stop()
		}
	}()
	for len(batch) < max {
		select { // what is already there, without waiting
		case m, ok := <-in:
			if !ok {
				return batch
			}
			batch = append(batch, m)
			continue
		default:
		}
		if linger <= 0 {
			return batch
		}
		if !armed {
			timer.Reset(linger)
			armed = true
		}
		select {
		case m, ok := <-in:
			if !ok {
				return batch
			}
			batch = append(batch, m)
		case <-timer.C:
			armed = false
			return batch
		case <-ctx.Done():
			return batch
		}
	}
	return batch
}

// msgQueue holds delivered JetStream messages until the route takes them.
// It keeps one delivery per stream sequence: a redelivery of a message
// still queued (JetStream redelivers every ack_wait while the route is
// stuck, e.g. while Kafka is down) replaces the older delivery in place,
// so the queue never holds more than the consumer's max_ack_pending
// messages. Safe for concurrent use.
type msgQueue struct {
	mu     sync.Mutex
	items  []jetstream.Msg
	at     map[uint64]int // stream sequence → index in items
	closed bool
	signal chan struct{} // capacity 1: something was pushed
}

func newMsgQueue() *msgQueue {
	return &msgQueue{signal: make(chan struct{}, 1), at: map[uint64]int{}}
}

// streamSeq is m's stream sequence, and whether it has one.
func streamSeq(m jetstream.Msg) (uint64, bool) {
	md, err := m.Metadata()
	if err != nil || md == nil {
		return 0, false
	}
	return md.Sequence.Stream, true
}

// push adds m; it reports false, keeping nothing, once the queue is closed.
func (q *msgQueue) push(m jetstream.Msg) bool {
	seq, hasSeq := streamSeq(m)
	q.mu.Lock()
	if q.closed {
		q.mu.Unlock()
		return false
	}
	if i, ok := q.at[seq]; hasSeq && ok {
		q.items[i] = m // the newer delivery is the one to ack
		q.mu.Unlock()
		return true
	}
	if hasSeq {
		q.at[seq] = len(q.items)
	}
	q.items = append(q.items, m)
	q.mu.Unlock()
	select {
	case q.signal <- struct{}{}:
	default:
	}
	return true
}

// take moves up to max-len(batch) messages to batch, oldest first.
func (q *msgQueue) take(batch []jetstream.Msg, max int) []jetstream.Msg {
	q.mu.Lock()
	defer q.mu.Unlock()
	n := min(max-len(batch), len(q.items))
	if n == 0 {
		return batch
	}
	batch = append(batch, q.items[:n]...)
	rest := copy(q.items, q.items[n:])
	clear(q.items[rest:])
	q.items = q.items[:rest]
	for seq, i := range q.at {
		if i < n {
			delete(q.at, seq)
		} else {
			q.at[seq] = i - n
		}
	}
	return batch
}

// close refuses further messages and returns those not taken.
func (q *msgQueue) close() []jetstream.Msg {
	q.mu.Lock()
	defer q.mu.Unlock()
	q.closed = true
	items := q.items
	q.items = nil
	clear(q.at)
	return items
}

// collect is collect for a msgQueue: it waits for a first message (until
// ctx or stopped is done, returning nil), then returns up to max messages,
// waiting at most linger for more.
func (q *msgQueue) collect(ctx context.Context, stopped <-chan struct{}, max int, linger time.Duration, timer *time.Timer) []jetstream.Msg {
	batch := make([]jetstream.Msg, 0, max)
	for {
		if batch = q.take(batch, max); len(batch) > 0 {
			break
		}
		select {
		case <-q.signal:
		case <-ctx.Done():
			return nil
		case <-stopped:
			return nil
		}
	}
	if len(batch) == max || linger <= 0 {
		return batch
	}
	timer.Reset(linger)
	defer timer.Stop()
	for len(batch) < max {
		select {
		case <-q.signal:
			batch = q.take(batch, max)
		case <-timer.C:
			return batch
		case <-ctx.Done():
			return batch
		}
	}
	return batch
}

func newStoppedTimer() *time.Timer {
	t := time.NewTimer(time.Hour)
	t.Stop()
	return t
}

// runCore subscribes and bridges until ctx is done or the subscription
// fails, producing under pctx (see run). Messages wait in a channel of pending_limit; when it is full the
// client drops them (a slow consumer) and counts them.
func (r *route) runCore(ctx, pctx context.Context, nc *nats.Conn) error {
	in := make(chan *nats.Msg, r.cfg.PendingLimit)
	var sub *nats.Subscription
	var err error
	if r.cfg.Queue != "" {
		sub, err = nc.ChanQueueSubscribe(r.cfg.Subject, r.cfg.Queue, in)
	} else {
		sub, err = nc.ChanSubscribe(r.cfg.Subject, in)
	}
	if err != nil {
		return fmt.Errorf("subscribing to %q: %w", r.cfg.Subject, err)
	}
	r.setSub(sub)
	r.pending.Store(&in)
	defer func() {
		r.setSub(nil) // before Unsubscribe, after which the count is gone
		_ = sub.Unsubscribe()
		r.pending.Store(nil)
		r.st.dropped.Add(uint64(len(in))) // received by the client, never written
	}()
	_ = nc.FlushTimeout(5 * time.Second) // the server knows the subscription before we say ready
	r.st.ready.Store(true)
	r.log.Info("subscribed", "subject", r.cfg.Subject, "queue", r.cfg.Queue, "topic", r.cfg.Topic)

	timer := newStoppedTimer()
	linger := time.Duration(r.cfg.LingerMs) * time.Millisecond
	for {
		var first *nats.Msg
		select {
		case first = <-in:
		case <-ctx.Done():
			return ctx.Err()
		}
		msgs := collect(ctx, in, first, r.cfg.BatchSize, linger, timer)
		batch := make([]message, len(msgs))
		for i, m := range msgs {
			batch[i] = message{subject: m.Subject, reply: m.Reply, header: m.Header, data: m.Data}
		}
		r.process(ctx, pctx, batch)
		if !sub.IsValid() {
			return fmt.Errorf("the subscription to %q was closed", r.cfg.Subject)
		}
	}
}

// pullBatch is how many messages a JetStream route asks the server for at
// a time (the client library keeps up to this many buffered): two
// batches, at least 1000 (with 1 KiB messages 1000–4000 measured alike,
// 250–500 slower), never more than max_ack_pending.
func pullBatch(batchSize, maxAckPending int) int {
	return max(1, min(maxAckPending, max(2*batchSize, 1000)))
}

// runJetStream creates (or updates) the durable pull consumer, fills the
// dedupe window the first time, and bridges until ctx is done or the
// consumer stops, producing under pctx (see run). At the end, messages the route took but did not write
// are nakked, so that JetStream redelivers them at once.
func (r *route) runJetStream(ctx, pctx context.Context, nc *nats.Conn) error {
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

	// The library's handler must not block (a blocking handler made
	// stalls much more frequent, and small pulls necessary). The queue
	// keeps one delivery per message, so it holds at most max_ack_pending
	// messages however often JetStream redelivers.
	in := newMsgQueue()
	cc, err := cons.Consume(func(m jetstream.Msg) {
		if !in.push(m) {
			_ = m.Nak() // stopping
		}
	},
		jetstream.PullMaxMessages(pullBatch(r.cfg.BatchSize, r.cfg.MaxAckPending)),
		// The library sometimes loses track of its pull requests (the
		// server holds none, the client waits for messages it thinks it
		// asked for); it notices the missing heartbeat after twice this
		// and pulls anew. The default (15 s) made such stalls 30 s long.
		jetstream.PullHeartbeat(time.Second),
		jetstream.ConsumeErrHandler(func(_ jetstream.ConsumeContext, err error) {
			r.log.Info("consumer", "stream", r.cfg.Stream, "durable", r.cfg.Durable, "note", err)
		}))
	if err != nil {
		return fmt.Errorf("pulling from consumer %q: %w", r.cfg.Durable, err)
	}
	defer func() {
		for _, m := range in.close() {
			_ = m.Nak()
		}
		cc.Drain() // what the library holds goes through the handler, which naks it
		select {
		case <-cc.Closed():
		case <-time.After(2 * time.Second):
			cc.Stop()
		}
	}()
	r.st.ready.Store(true)
	r.log.Info("pulling", "stream", r.cfg.Stream, "durable", r.cfg.Durable, "topic", r.cfg.Topic)

	timer := newStoppedTimer()
	linger := time.Duration(r.cfg.LingerMs) * time.Millisecond
	for {
		msgs := in.collect(ctx, cc.Closed(), r.cfg.BatchSize, linger, timer)
		if len(msgs) == 0 {
			if ctx.Err() != nil {
				return ctx.Err()
			}
			return errors.New("the consumer stopped (deleted, or the connection closed)")
		}
		batch := make([]message, 0, len(msgs))
		for _, m := range msgs {
			msg, err := fromJetStream(m)
			if err != nil {
				r.st.setError(err)
				_ = m.Term()
				continue
			}
			batch = append(batch, msg)
		}
		r.process(ctx, pctx, batch)
	}
}
