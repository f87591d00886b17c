package server

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"strconv"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/weirmq/weir/core/log"
	"github.com/weirmq/weir/core/partition"
)

// Metrics are the broker's Prometheus metrics, in a registry of their own
// (no global state). Create them with NewMetrics, pass them in Options, and
// serve them with ServeHTTP.
type Metrics struct {
	reg          *prometheus.Registry
	requests     *prometheus.CounterVec
	latency      *prometheus.HistogramVec
	bytesInC     prometheus.Counter
	bytesOutC    prometheus.Counter
	sendfileC    prometheus.Counter
	conns        prometheus.Gauge
	producedC    *prometheus.CounterVec
	partitionsFn func() []partitionGauge
	isrShrinksC  prometheus.Counter // replication
	isrExpandsC  prometheus.Counter // replication
	cleanerFn    atomic.Pointer[func() log.CleanerStats]
}

type partitionGauge struct {
	topic          string
	partition      int32
	logEnd, hw, ls int64
	repl           partition.ReplicationStats
}

// NewMetrics returns the metrics, registered with a new registry that also
// carries the Go runtime and process collectors.
func NewMetrics() *Metrics {
	m := &Metrics{reg: prometheus.NewRegistry()}
	m.requests = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "weir_requests_total", Help: "Kafka requests served, by API."}, []string{"api"})
	m.latency = prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Name: "weir_request_duration_seconds", Help: "Time from a request's arrival to its response, by API.",
		Buckets: prometheus.ExponentialBuckets(0.0001, 4, 10)}, []string{"api"})
	m.bytesInC = prometheus.NewCounter(prometheus.CounterOpts{Name: "weir_network_bytes_in_total", Help: "Request bytes read."})
	m.bytesOutC = prometheus.NewCounter(prometheus.CounterOpts{Name: "weir_network_bytes_out_total", Help: "Response bytes written."})
	m.sendfileC = prometheus.NewCounter(prometheus.CounterOpts{Name: "weir_sendfile_bytes_total", Help: "Response bytes sent with sendfile (zero-copy fetch)."})
	m.conns = prometheus.NewGauge(prometheus.GaugeOpts{Name: "weir_connections", Help: "Open Kafka connections."})
	m.producedC = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "weir_produced_bytes_total", Help: "Record batch bytes appended by produce requests, by topic."}, []string{"topic"})
	m.isrShrinksC = prometheus.NewCounter(prometheus.CounterOpts{Name: "weir_isr_shrinks_total", Help: "Committed ISR changes that removed replicas, on partitions this broker leads."})
	m.isrExpandsC = prometheus.NewCounter(prometheus.CounterOpts{Name: "weir_isr_expands_total", Help: "Committed ISR changes that added replicas, on partitions this broker leads."})
	m.reg.MustRegister(m.isrShrinksC, m.isrExpandsC)
	m.reg.MustRegister(m.requests, m.latency, m.bytesInC, m.bytesOutC, m.sendfileC, m.conns, m.producedC,
		collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}), partitionCollector{m})
	m.reg.MustRegister(cleanerCollector{m})
	return m
}

// Registry returns the registry, for tests and for other packages that
// want their metrics served on the same endpoint.
func (m *Metrics) Registry() *prometheus.Registry { return m.reg }

func apiName(key int16) string {
	if name := kmsg.NameForKey(key); name != "" {
		return name
	}
	return strconv.Itoa(int(key))
}

func (m *Metrics) request(key int16, d time.Duration) {
	name := apiName(key)
	m.requests.WithLabelValues(name).Inc()
	m.latency.WithLabelValues(name).Observe(d.Seconds())
}
func (m *Metrics) connections(delta int) { m.conns.Add(float64(delta)) }
func (m *Metrics) bytesIn(n int)         { m.bytesInC.Add(float64(n)) }
func (m *Metrics) bytesOut(n, sendfile int64) {
	m.bytesOutC.Add(float64(n))
	m.sendfileC.Add(float64(sendfile))
}
func (m *Metrics) produced(topic string, n int) { m.producedC.WithLabelValues(topic).Add(float64(n)) }
func (m *Metrics) isrChanged(shrinks, expands int) {
	m.isrShrinksC.Add(float64(shrinks))
	m.isrExpandsC.Add(float64(expands))
}

var (
	leoDesc = prometheus.NewDesc("weir_partition_log_end_offset", "Log end offset of each hosted partition.", []string{"topic", "partition"}, nil)
	hwDesc  = prometheus.NewDesc("weir_partition_high_watermark", "High watermark of each hosted partition.", []string{"topic", "partition"}, nil)
	lsoDesc = prometheus.NewDesc("weir_partition_log_start_offset", "Log start offset of each hosted partition.", []string{"topic", "partition"}, nil)
	// Replication: on the partitions this broker leads.
	underReplicatedDesc = prometheus.NewDesc("weir_under_replicated_partitions", "Partitions this broker leads whose ISR is smaller than their replica set.", nil, nil)
	replicationLagDesc  = prometheus.NewDesc("weir_partition_replication_lag", "Offsets the furthest follower is behind the leader's log end offset, per partition this broker leads.", []string{"topic", "partition"}, nil)
	isrSizeDesc         = prometheus.NewDesc("weir_partition_isr_size", "In-sync replicas of each partition this broker leads.", []string{"topic", "partition"}, nil)
)

// partitionCollector reads partition offsets at scrape time.
type partitionCollector struct{ m *Metrics }

func (c partitionCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- leoDesc
	ch <- hwDesc
	ch <- lsoDesc
	ch <- underReplicatedDesc
	ch <- replicationLagDesc
	ch <- isrSizeDesc
}

func (c partitionCollector) Collect(ch chan<- prometheus.Metric) {
	if c.m.partitionsFn == nil {
		return
	}
	underReplicated := 0
	for _, g := range c.m.partitionsFn() {
		p := strconv.Itoa(int(g.partition))
		ch <- prometheus.MustNewConstMetric(leoDesc, prometheus.GaugeValue, float64(g.logEnd), g.topic, p)
		ch <- prometheus.MustNewConstMetric(hwDesc, prometheus.GaugeValue, float64(g.hw), g.topic, p)
		ch <- prometheus.MustNewConstMetric(lsoDesc, prometheus.GaugeValue, float64(g.ls), g.topic, p)
		if g.repl.Leader {
			if g.repl.ISR < g.repl.Replicas {
				underReplicated++
			}
			ch <- prometheus.MustNewConstMetric(replicationLagDesc, prometheus.GaugeValue, float64(g.repl.MaxFollowerLag), g.topic, p)
			ch <- prometheus.MustNewConstMetric(isrSizeDesc, prometheus.GaugeValue, float64(g.repl.ISR), g.topic, p)
		}
	}
	ch <- prometheus.MustNewConstMetric(underReplicatedDesc, prometheus.GaugeValue, float64(underReplicated))
}

// partitionGauges snapshots the offsets of every hosted partition.
func (b *Broker) partitionGauges() []partitionGauge {
	b.mu.RLock()
	defer b.mu.RUnlock()
	out := make([]partitionGauge, 0, len(b.mu.partitions))
	for tp, p := range b.mu.partitions {
		out = append(out, partitionGauge{tp.topic, tp.index, p.LogEndOffset(), p.HighWatermark(), p.LogStartOffset(), p.ReplicationStats()})
	}
	return out
}

// HTTPServer is the HTTP listener: /metrics, /healthz (the process is up)
// and /readyz (the broker serves Kafka).
type HTTPServer struct {
	srv *http.Server
	mux *http.ServeMux
	ln  net.Listener
}

// ServeHTTP starts the HTTP listener on addr. ready reports readiness.
func ServeHTTP(addr string, m *Metrics, ready func() bool, logger *slog.Logger) (*HTTPServer, error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("http listener %s: %w", addr, err)
	}
	mux := http.NewServeMux()
	mux.Handle("GET /metrics", promhttp.HandlerFor(m.reg, promhttp.HandlerOpts{}))
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) { fmt.Fprintln(w, "ok") })
	mux.HandleFunc("GET /readyz", func(w http.ResponseWriter, _ *http.Request) {
		if ready == nil || !ready() {
			http.Error(w, "not ready", http.StatusServiceUnavailable)
			return
		}
		fmt.Fprintln(w, "ready")
	})
	h := &HTTPServer{srv: &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}, mux: mux, ln: ln}
	go func() {
		if err := h.srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			logger.Error("http listener", "err", err)
		}
	}()
	return h, nil
}

// Handle adds a route to the listener, as http.ServeMux.Handle does (the
// pattern may name a method: "POST /v1/topics/{topic}/records"). Other
// parts of the node — the admin API, plugins, the NATS bridge — add their
// routes this way. It panics, as ServeMux does, on a pattern that is
// invalid or already taken. Safe for concurrent use.
func (h *HTTPServer) Handle(pattern string, handler http.Handler) { h.mux.Handle(pattern, handler) }

// Addr returns the bound address.
func (h *HTTPServer) Addr() net.Addr { return h.ln.Addr() }

// Close shuts the listener down, waiting briefly for in-flight requests.
func (h *HTTPServer) Close() error {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	return h.srv.Shutdown(ctx)
}

// SetCleanerStats makes the metrics report the log cleaner, read from
// stats (log.Manager.CleanerStats) at scrape time. Safe for concurrent use.
func (m *Metrics) SetCleanerStats(stats func() log.CleanerStats) { m.cleanerFn.Store(&stats) }

var (
	cleanerPartitionLabels = []string{"topic", "partition"}
	cleanerCounterDescs    = [...]*prometheus.Desc{
		prometheus.NewDesc("weir_log_cleaner_passes_total", "Cleaning passes that finished.", nil, nil),
		prometheus.NewDesc("weir_log_cleaner_failures_total", "Cleaning passes that failed or were abandoned.", nil, nil),
		prometheus.NewDesc("weir_log_cleaner_bytes_read_total", "Bytes the log cleaner read (mapping keys and rewriting).", nil, nil),
		prometheus.NewDesc("weir_log_cleaner_bytes_written_total", "Bytes of cleaned segments the log cleaner wrote.", nil, nil),
		prometheus.NewDesc("weir_log_cleaner_records_removed_total", "Records the log cleaner removed.", nil, nil),
		prometheus.NewDesc("weir_log_cleaner_pass_seconds_total", "Time spent in finished cleaning passes.", nil, nil),
	}
	cleanerLastPassDesc = prometheus.NewDesc("weir_log_cleaner_last_pass_seconds", "Duration of the last finished cleaning pass.", nil, nil)
	cleanerMaxPassDesc  = prometheus.NewDesc("weir_log_cleaner_max_pass_seconds", "Longest cleaning pass since start.", nil, nil)
	cleanerRatioDesc    = prometheus.NewDesc("weir_log_cleaner_dirty_ratio", "Share of a compacted partition's cleanable bytes not yet cleaned.", cleanerPartitionLabels, nil)
	cleanerDirtyDesc    = prometheus.NewDesc("weir_log_cleaner_dirty_bytes", "Bytes of a compacted partition not yet cleaned.", cleanerPartitionLabels, nil)
	cleanerLagDesc      = prometheus.NewDesc("weir_log_cleaner_lag_seconds", "Age of the oldest record of a compacted partition not yet cleaned.", cleanerPartitionLabels, nil)
	cleanerBadDesc      = prometheus.NewDesc("weir_log_cleaner_uncleanable", "1 when the cleaner found corruption in the partition and stopped cleaning it.", cleanerPartitionLabels, nil)
)

// cleanerCollector reads the log cleaner's stats at scrape time.
type cleanerCollector struct{ m *Metrics }

func (c cleanerCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range cleanerCounterDescs {
		ch <- d
	}
	for _, d := range []*prometheus.Desc{cleanerLastPassDesc, cleanerMaxPassDesc, cleanerRatioDesc, cleanerDirtyDesc, cleanerLagDesc, cleanerBadDesc} {
		ch <- d
	}
}

func (c cleanerCollector) Collect(ch chan<- prometheus.Metric) {
	fn := c.m.cleanerFn.Load()
	if fn == nil {
		return
	}
	st := (*fn)()
	for i, v := range []float64{float64(st.Passes), float64(st.Failures), float64(st.BytesRead), float64(st.BytesWritten),
		float64(st.RecordsRemoved), st.PassTime.Seconds()} {
		ch <- prometheus.MustNewConstMetric(cleanerCounterDescs[i], prometheus.CounterValue, v)
	}
	ch <- prometheus.MustNewConstMetric(cleanerLastPassDesc, prometheus.GaugeValue, st.LastPassTime.Seconds())
	ch <- prometheus.MustNewConstMetric(cleanerMaxPassDesc, prometheus.GaugeValue, st.MaxPassTime.Seconds())
	for _, p := range st.Partitions {
		if !p.Compact {
			continue
		}
		part := strconv.Itoa(int(p.Partition))
		bad := 0.0
		if p.Uncleanable != "" {
			bad = 1
		}
		ch <- prometheus.MustNewConstMetric(cleanerRatioDesc, prometheus.GaugeValue, p.DirtyRatio, p.Topic, part)
		ch <- prometheus.MustNewConstMetric(cleanerDirtyDesc, prometheus.GaugeValue, float64(p.DirtyBytes), p.Topic, part)
		ch <- prometheus.MustNewConstMetric(cleanerLagDesc, prometheus.GaugeValue, float64(p.LagMs)/1000, p.Topic, part)
		ch <- prometheus.MustNewConstMetric(cleanerBadDesc, prometheus.GaugeValue, bad, p.Topic, part)
	}
}
