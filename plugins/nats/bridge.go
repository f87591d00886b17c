package nats

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/weirmq/weir/core/config"
)

// Options configure a Bridge.
type Options struct {
	// Routes are the [[bridge.nats]] entries. Zero settings get their
	// defaults (config.NATSRoute.SetDefaults).
	Routes []config.NATSRoute
	// Brokers are the Kafka seed brokers, host:port: the node's own Kafka
	// listener inside `weir serve`, any Kafka-compatible cluster
	// standalone. Required.
	Brokers []string
	// KafkaOpts are added to every route's franz-go client options (TLS,
	// SASL, tuning). They must not change the partitioner, acks or
	// idempotence.
	KafkaOpts []kgo.Opt
	// Partitioners finds the partitioner a topic's weir.partitioner
	// names. It must know "murmur2", the default. Required.
	Partitioners PartitionerLookup
	// Metrics, when set, receives the per-route metrics
	// (weir_bridge_nats_*{route=...}).
	Metrics prometheus.Registerer
	// Logger receives the bridge's logs; nil discards them.
	Logger *slog.Logger
	// FlushTimeout bounds how long Close waits for records in flight to be
	// written (and their JetStream messages acked). Default 10s.
	FlushTimeout time.Duration
}

// Bridge copies NATS messages into Kafka topics, one goroutine per route.
// Create it with Open and stop it with Close. Its methods are safe for
// concurrent use.
type Bridge struct {
	routes  []*route
	metrics prometheus.Registerer
	coll    collector
	cancel  context.CancelFunc
	wg      sync.WaitGroup
	once    sync.Once
}

// Open checks every route and starts them. A route that is wrong — a key
// or topic it cannot parse, a credentials or TLS file it cannot read —
// stops Open with an error naming the route; nothing is started then. A
// NATS server or Kafka cluster that cannot be reached is not an error: the
// route retries until it can (see Status).
func Open(opts Options) (*Bridge, error) {
	if len(opts.Brokers) == 0 {
		return nil, errors.New("nats bridge: no Kafka brokers given")
	}
	if opts.Partitioners == nil {
		return nil, errors.New("nats bridge: no partitioner lookup given")
	}
	murmur2, ok := opts.Partitioners.Partitioner(defaultPartitioner)
	if !ok {
		return nil, fmt.Errorf("nats bridge: the partitioner lookup has no %q", defaultPartitioner)
	}
	logger := opts.Logger
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	if opts.FlushTimeout <= 0 {
		opts.FlushTimeout = 10 * time.Second
	}
	b := &Bridge{metrics: opts.Metrics}
	b.coll = collector{b}
	names := map[string]int{}
	for i, rc := range opts.Routes {
		rc.SetDefaults(i + 1) // routes built in code; a no-op for config.Load's
		if rc.BatchSize < 1 {
			b.closeClients()
			return nil, fmt.Errorf("nats bridge: [[bridge.nats]] #%d (%s): batch_size must be at least 1", i+1, rc.Name)
		}
		if j, dup := names[rc.Name]; dup {
			b.closeClients()
			return nil, fmt.Errorf("nats bridge: [[bridge.nats]] #%d: name %q is also route #%d's", i+1, rc.Name, j)
		}
		names[rc.Name] = i + 1
		r, err := newRoute(rc, opts, murmur2, logger.With("route", rc.Name))
		if err != nil {
			b.closeClients()
			return nil, fmt.Errorf("nats bridge: [[bridge.nats]] #%d %q: %w", i+1, rc.Name, err)
		}
		b.routes = append(b.routes, r)
	}
	if b.metrics != nil {
		if err := b.metrics.Register(b.coll); err != nil {
			b.closeClients()
			return nil, fmt.Errorf("nats bridge: registering metrics: %w", err)
		}
	}
	ctx, cancel := context.WithCancel(context.Background())
	b.cancel = cancel
	for _, r := range b.routes {
		b.wg.Add(1)
		go func() {
			defer b.wg.Done()
			r.run(ctx, opts.FlushTimeout)
		}()
	}
	return b, nil
}

func (b *Bridge) closeClients() {
	for _, r := range b.routes {
		r.cl.Close()
	}
}

// Close stops every route: it stops taking messages from NATS, waits up
// to FlushTimeout for the records in flight to be written and their
// JetStream messages acked, and closes the connections. JetStream
// messages not acked by then are redelivered to the next bridge. Close
// returns nil; calling it again does nothing.
func (b *Bridge) Close() error {
	b.once.Do(func() {
		b.cancel()
		b.wg.Wait()
		if b.metrics != nil {
			b.metrics.Unregister(b.coll)
		}
	})
	return nil
}

// Status returns every route's status, in configuration order. The slice
// is the caller's.
func (b *Bridge) Status() []RouteStatus {
	out := make([]RouteStatus, len(b.routes))
	for i, r := range b.routes {
		out[i] = r.status()
	}
	return out
}
