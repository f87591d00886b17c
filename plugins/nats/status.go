package nats

import (
	"encoding/json"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// RouteStatus is one route's state, as GET /v1/bridge/status returns it
// (in a StatusReport) and `weir bridge status` prints it. Counters count
// from the bridge's start.
type RouteStatus struct {
	Name            string `json:"name"`
	Stream          string `json:"stream,omitempty"`  // JetStream routes
	Durable         string `json:"durable,omitempty"` // JetStream routes
	Subject         string `json:"subject,omitempty"` // core NATS routes
	Queue           string `json:"queue,omitempty"`
	Topic           string `json:"topic"`
	DeadLetterTopic string `json:"dead_letter_topic"`

	Connected bool `json:"connected"` // the NATS connection is up
	Ready     bool `json:"ready"`     // subscribed (core) or pulling from the consumer (JetStream)

	Received     uint64 `json:"received"`      // messages taken from NATS
	Written      uint64 `json:"written"`       // records committed to the topic
	Acked        uint64 `json:"acked"`         // JetStream acks sent, after the commit
	Dropped      uint64 `json:"dropped"`       // core NATS: lost by the client as a slow consumer, or not written
	DeadLettered uint64 `json:"dead_lettered"` // poison messages committed to the dead-letter topic
	Deduplicated uint64 `json:"deduplicated"`  // JetStream redeliveries of messages already written
	Errors       uint64 `json:"errors"`        // failures the route retried or gave up on
	// Lag is how many messages NATS holds for the route that are not yet
	// in Weir: for JetStream the consumer's pending plus unacked messages
	// (refreshed every few seconds), for core NATS the messages the
	// client has buffered or is writing.
	Lag       int64  `json:"lag"`
	LastError string `json:"last_error,omitempty"`
	// LastErrorAt is when LastError happened, RFC 3339; empty if never.
	LastErrorAt string `json:"last_error_at,omitempty"`
}

// StatusReport is the body of GET /v1/bridge/status.
type StatusReport struct {
	Routes []RouteStatus `json:"routes"`
}

// stats are a route's counters. Safe for concurrent use.
type stats struct {
	received, written, acked, dropped, deadLettered, deduplicated, errors atomic.Uint64

	inflight atomic.Int64 // records handed to the producer and not yet answered
	lag      atomic.Int64 // JetStream: last consumer info's pending + ack pending
	ready    atomic.Bool

	mu struct {
		sync.Mutex
		lastErr   string
		lastErrAt time.Time
	}
}

func (s *stats) setError(err error) {
	s.errors.Add(1)
	s.mu.Lock()
	s.mu.lastErr, s.mu.lastErrAt = err.Error(), time.Now()
	s.mu.Unlock()
}

// StatusHandler returns the handler of GET /v1/bridge/status: a
// StatusReport as JSON.
func (b *Bridge) StatusHandler() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		enc := json.NewEncoder(w)
		enc.SetIndent("", "  ")
		_ = enc.Encode(StatusReport{Routes: b.Status()})
	})
}

// metricDescs are the per-route Prometheus metrics.
var metricDescs = struct {
	received, written, acked, dropped, deadLettered, deduplicated, errors, lag, connected *prometheus.Desc
}{
	received:     desc("received_total", "Messages taken from NATS by the route."),
	written:      desc("written_total", "Records the route committed to its topic."),
	acked:        desc("acked_total", "JetStream messages acked after their record was committed."),
	dropped:      desc("dropped_total", "Core NATS messages lost: dropped by the client as a slow consumer, or not written."),
	deadLettered: desc("dead_lettered_total", "Poison messages committed to the dead-letter topic."),
	deduplicated: desc("deduplicated_total", "JetStream redeliveries of messages already written, acked without writing."),
	errors:       desc("errors_total", "Failures the route retried or gave up on."),
	lag:          desc("lag", "Messages NATS holds for the route that are not yet in Weir."),
	connected:    desc("connected", "1 when the route's NATS connection is up."),
}

func desc(name, help string) *prometheus.Desc {
	return prometheus.NewDesc("weir_bridge_nats_"+name, help, []string{"route"}, nil)
}

// collector exports every route's status to Prometheus.
type collector struct{ b *Bridge }

func (c collector) Describe(ch chan<- *prometheus.Desc) {
	d := metricDescs
	for _, x := range []*prometheus.Desc{d.received, d.written, d.acked, d.dropped, d.deadLettered, d.deduplicated, d.errors, d.lag, d.connected} {
		ch <- x
	}
}

func (c collector) Collect(ch chan<- prometheus.Metric) {
	d := metricDescs
	for _, s := range c.b.Status() {
		counter := func(desc *prometheus.Desc, v uint64) {
			ch <- prometheus.MustNewConstMetric(desc, prometheus.CounterValue, float64(v), s.Name)
		}
		counter(d.received, s.Received)
		counter(d.written, s.Written)
		counter(d.acked, s.Acked)
		counter(d.dropped, s.Dropped)
		counter(d.deadLettered, s.DeadLettered)
		counter(d.deduplicated, s.Deduplicated)
		counter(d.errors, s.Errors)
		ch <- prometheus.MustNewConstMetric(d.lag, prometheus.GaugeValue, float64(s.Lag), s.Name)
		up := 0.0
		if s.Connected {
			up = 1
		}
		ch <- prometheus.MustNewConstMetric(d.connected, prometheus.GaugeValue, up, s.Name)
	}
}
