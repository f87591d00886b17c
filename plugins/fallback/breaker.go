package fallback

import (
	"context"
	"errors"
	"log/slog"
	"sync"
	"sync/atomic"
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
// next call may go to the plugin. It is safe for concurrent use. A healthy
// plugin's calls take no lock: Allow and Success read one atomic flag.
type Breaker struct {
	plugin, point string
	opts          Options
	logger        *slog.Logger

	// healthy: closed with no failures counted; the lock-free fast path.
	healthy atomic.Bool
	calls   map[string]prometheus.Counter // by result; nil without metrics
	open    prometheus.Gauge              // nil without metrics

	mu struct {
		sync.Mutex
		failures   int
		openUntil  time.Time // zero: closed
		trial      bool      // a half-open trial call is in flight
		trialStart time.Time
		lastLog    time.Time
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
	b.healthy.Store(true)
	if m := opts.Metrics; m != nil {
		b.calls = map[string]prometheus.Counter{}
		for _, r := range []string{ResultOK, ResultDeclined, ResultFailed, ResultSkipped} {
			b.calls[r] = m.calls.WithLabelValues(plugin, point, r)
		}
		b.open = m.open.WithLabelValues(plugin, point)
		b.open.Set(0)
	}
	return b
}

// Allow reports whether the next call may go to the plugin. While the
// breaker is open it returns false (and counts the call as skipped), except
// for one trial call per OpenFor period. A trial whose outcome is never
// reported (Abandon not called, the caller gone) stops counting as in
// flight after OpenFor, so the breaker can never stay open for good.
func (b *Breaker) Allow() bool {
	if b.healthy.Load() {
		return true
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.mu.openUntil.IsZero() {
		return true
	}
	now := b.opts.Now()
	trialOver := !b.mu.trial || !now.Before(b.mu.trialStart.Add(b.opts.OpenFor))
	if trialOver && !now.Before(b.mu.openUntil) {
		b.mu.trial, b.mu.trialStart = true, now
		return true
	}
	b.count(ResultSkipped)
	return false
}

// Abandon records that a call Allow let through ended without an answer
// that says anything about the plugin (the caller's context ended), so a
// half-open breaker may try again at once.
func (b *Breaker) Abandon() {
	if b.healthy.Load() {
		return
	}
	b.mu.Lock()
	b.mu.trial = false
	b.mu.Unlock()
}

// Open reports whether the breaker is open.
func (b *Breaker) Open() bool {
	if b.healthy.Load() {
		return false
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	return !b.mu.openUntil.IsZero()
}

// Success records a call the plugin answered (result is ResultOK or
// ResultDeclined), closing the breaker.
func (b *Breaker) Success(result string) {
	b.count(result)
	if b.healthy.Load() {
		return
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	b.mu.failures = 0
	b.mu.trial = false
	if !b.mu.openUntil.IsZero() {
		b.mu.openUntil = time.Time{}
		b.setOpen(0)
		b.logger.Info("plugin recovered; circuit breaker closed")
	}
	b.healthy.Store(true)
}

// Failure records a failed call: it is logged (at most once a second per
// plugin, plus whenever the breaker opens) and counted, and after
// FailureThreshold consecutive failures the breaker opens for OpenFor.
func (b *Breaker) Failure(err error) {
	b.count(ResultFailed)
	b.mu.Lock()
	defer b.mu.Unlock()
	b.healthy.Store(false)
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
	if c := b.calls[result]; c != nil {
		c.Inc()
	}
}

func (b *Breaker) setOpen(v float64) {
	if b.open != nil {
		b.open.Set(v)
	}
}

// declined reports whether err is a plugin's sdk.ErrDecline.
func declined(err error) bool { return errors.Is(err, sdk.ErrDecline) }

// ctxErr reports whether err is only the caller's context ending, which is
// not the plugin's fault.
func ctxErr(ctx context.Context, err error) bool {
	return ctx.Err() != nil && (errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded))
}
