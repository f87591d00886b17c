package fallback

import (
	"context"
	"errors"
	"log/slog"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/weirmq/weir/sdk"
)

// Options configures a wrapped plugin.
type Options struct {
	Logger  *slog.Logger // nil: slog.Default()
	Metrics *Metrics     // nil: no metrics

	// FailureThreshold is how many consecutive failures open the breaker.
	// Zero means 5.
	FailureThreshold int
	// OpenFor is how long an open breaker sends every call to the
	// fallback before trying the plugin again. Zero means 30 seconds.
	OpenFor time.Duration
	// Now is the clock; nil means time.Now.
	Now func() time.Time
}

// Metrics are the counters every wrapped plugin reports into.
type Metrics struct {
	calls *prometheus.CounterVec
	open  *prometheus.GaugeVec
}

// Call results, the "result" label of weir_plugin_calls_total.
const (
	ResultOK       = "ok"       // the plugin answered
	ResultDeclined = "declined" // the plugin declined; the built-in answered
	ResultFailed   = "failed"   // the plugin failed; the fallback answered
	ResultSkipped  = "skipped"  // the breaker was open; the fallback answered
)

// NewMetrics creates the plugin metrics and registers them with reg:
// weir_plugin_calls_total{plugin,point,result} and
// weir_plugin_breaker_open{plugin,point} (1 while the breaker is open). It
// fails if reg already holds them.
func NewMetrics(reg prometheus.Registerer) (*Metrics, error) {
	m := &Metrics{
		calls: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "weir_plugin_calls_total",
			Help: "Calls into plugins by extension point and result: ok, declined, failed (fell back), skipped (breaker open, fell back).",
		}, []string{"plugin", "point", "result"}),
		open: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "weir_plugin_breaker_open",
			Help: "1 while a plugin's circuit breaker is open and its calls go to the built-in fallback.",
		}, []string{"plugin", "point"}),
	}
	for _, c := range []prometheus.Collector{m.calls, m.open} {
		if err := reg.Register(c); err != nil {
			return nil, err
		}
	}
	return m, nil
}

// Breaker counts a plugin's consecutive failures and decides whether the
// next call may go to the plugin. It is safe for concurrent use.
type Breaker struct {
	plugin, point string
	opts          Options
	logger        *slog.Logger

	mu struct {
		sync.Mutex
		failures  int
		openUntil time.Time // zero: closed
		trial     bool      // a half-open trial call is in flight
		lastLog   time.Time
	}
}

// NewBreaker returns a closed breaker for the named plugin at the named
// extension point ("partitioner", "assignor", "compaction_filter").
func NewBreaker(plugin, point string, opts Options) *Breaker {
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	if opts.FailureThreshold <= 0 {
		opts.FailureThreshold = 5
	}
	if opts.OpenFor <= 0 {
		opts.OpenFor = 30 * time.Second
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	b := &Breaker{plugin: plugin, point: point, opts: opts,
		logger: opts.Logger.With("plugin", plugin, "point", point)}
	if m := opts.Metrics; m != nil {
		m.open.WithLabelValues(plugin, point).Set(0)
	}
	return b
}

// Allow reports whether the next call may go to the plugin. While the
// breaker is open it returns false (and counts the call as skipped), except
// for one trial call per OpenFor period.
func (b *Breaker) Allow() bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.mu.openUntil.IsZero() {
		return true
	}
	if !b.mu.trial && !b.opts.Now().Before(b.mu.openUntil) {
		b.mu.trial = true
		return true
	}
	b.count(ResultSkipped)
	return false
}

// Open reports whether the breaker is open.
func (b *Breaker) Open() bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	return !b.mu.openUntil.IsZero()
}

// Success records a call the plugin answered (result is ResultOK or
// ResultDeclined), closing the breaker.
func (b *Breaker) Success(result string) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.count(result)
	b.mu.failures = 0
	b.mu.trial = false
	if !b.mu.openUntil.IsZero() {
		b.mu.openUntil = time.Time{}
		b.setOpen(0)
		b.logger.Info("plugin recovered; circuit breaker closed")
	}
}

// Failure records a failed call: it is logged (at most once a second per
// plugin, plus whenever the breaker opens) and counted, and after
// FailureThreshold consecutive failures the breaker opens for OpenFor.
func (b *Breaker) Failure(err error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.count(ResultFailed)
	b.mu.failures++
	now := b.opts.Now()
	wasTrial := b.mu.trial
	b.mu.trial = false
	if b.mu.failures >= b.opts.FailureThreshold || wasTrial {
		opening := b.mu.openUntil.IsZero()
		b.mu.openUntil = now.Add(b.opts.OpenFor)
		if opening {
			b.setOpen(1)
			b.logger.Warn("plugin keeps failing; circuit breaker open, using the built-in",
				"failures", b.mu.failures, "open_for", b.opts.OpenFor, "err", err)
			b.mu.lastLog = now
			return
		}
	}
	if now.Sub(b.mu.lastLog) >= time.Second {
		b.mu.lastLog = now
		b.logger.Warn("plugin call failed; using the fallback", "failures", b.mu.failures, "err", err)
	}
}

func (b *Breaker) count(result string) {
	if m := b.opts.Metrics; m != nil {
		m.calls.WithLabelValues(b.plugin, b.point, result).Inc()
	}
}

func (b *Breaker) setOpen(v float64) {
	if m := b.opts.Metrics; m != nil {
		m.open.WithLabelValues(b.plugin, b.point).Set(v)
	}
}

// declined reports whether err is a plugin's sdk.ErrDecline.
func declined(err error) bool { return errors.Is(err, sdk.ErrDecline) }

// ctxErr reports whether err is only the caller's context ending, which is
// not the plugin's fault.
func ctxErr(ctx context.Context, err error) bool {
	return ctx.Err() != nil && (errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded))
}
