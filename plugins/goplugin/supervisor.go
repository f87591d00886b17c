package goplugin

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// supervise owns the plugin process: it replaces a broken instance after
// a backoff, performs reloads, and stops the process on Close. It is the
// only goroutine that starts or stops instances, so lifecycle changes
// never race each other.
func (c *Client) supervise(ctx context.Context, inst *instance) {
	defer c.wg.Done()
	failures := 0 // restarts since the process last ran for MaxRestartBackoff
	retry := time.NewTimer(time.Hour)
	retry.Stop() // Go 1.23 timers: no stale tick is delivered after Stop
	defer retry.Stop()
	var retryC <-chan time.Time // non-nil while a restart is pending
	for {
		var broken, exited <-chan struct{}
		if inst != nil {
			broken, exited = inst.broken, inst.exited
		}
		select {
		case <-c.done:
			c.setCurrent(nil, ErrClosed, true)
			if inst != nil {
				inst.stop(inst.isBroken() == nil, c.logger)
				c.logger.Info("plugin stopped", "pid", inst.pid)
			}
			return

		case req := <-c.reloads:
			// The reload ends with the requester's context or with Close,
			// whichever comes first.
			rctx, cancel := context.WithCancel(req.ctx)
			stopAfter := context.AfterFunc(ctx, cancel)
			next, err := c.reload(rctx)
			stopAfter()
			cancel()
			if err != nil {
				req.reply <- err
				continue
			}
			old := inst
			inst, failures, retryC = next, 0, nil
			retry.Stop()
			c.setCurrent(next, nil, false)
			if old != nil {
				old.stop(old.isBroken() == nil, c.logger)
			}
			c.logger.Info("plugin reloaded", "command", c.opts.commandLine(), "pid", next.pid, "serves", describe(next.points))
			req.reply <- nil

		case <-broken:
		case <-exited:
		case <-c.kick:

		case <-retryC:
			retryC = nil
			failures++
			next, err := c.start(ctx)
			if err != nil {
				backoff := c.backoff(failures)
				c.setCurrent(nil, err, false)
				c.logger.Error("plugin restart failed; trying again after a backoff", "err", err, "backoff", backoff, "attempt", failures)
				retry.Reset(backoff)
				retryC = retry.C
				continue
			}
			inst = next
			c.setCurrent(next, nil, false)
			c.mu.Lock()
			c.mu.restarts++
			restarts := c.mu.restarts
			c.mu.Unlock()
			if m := c.opts.Metrics; m != nil {
				m.restarts.WithLabelValues(c.opts.Name).Inc()
			}
			c.logger.Info("plugin restarted", "pid", next.pid, "restarts", restarts)
			continue
		}

		// An instance broke, exited, or a call said so.
		if inst == nil {
			continue
		}
		reason := inst.isBroken()
		if reason == nil {
			continue
		}
		if time.Since(inst.started) >= c.opts.MaxRestartBackoff {
			failures = 0
		}
		backoff := c.backoff(failures)
		c.setCurrent(nil, reason, false)
		c.logger.Warn("plugin process failed; restarting it after a backoff", "reason", reason, "pid", inst.pid, "backoff", backoff)
		inst.stop(false, c.logger)
		inst = nil
		retry.Reset(backoff)
		retryC = retry.C
	}
}

// backoff is the wait before restart number failures+1 in a row.
func (c *Client) backoff(failures int) time.Duration {
	d := c.opts.RestartBackoff
	for range min(failures, 40) {
		if d >= c.opts.MaxRestartBackoff {
			break
		}
		d *= 2
	}
	return min(d, c.opts.MaxRestartBackoff)
}

// start launches a new process that must serve every kind the Client
// hands out.
func (c *Client) start(ctx context.Context) (*instance, error) {
	next, err := launch(ctx, &c.opts, c.logger)
	if err != nil {
		return nil, err
	}
	for _, kind := range c.kinds {
		if !next.serves(kind) {
			next.stop(false, c.logger)
			return nil, fmt.Errorf("goplugin: plugin %q (%s) no longer serves the %s it served when it was opened", c.opts.Name, c.opts.commandLine(), kind)
		}
	}
	for _, p := range next.points {
		if !c.servesKind(p.Kind) {
			c.logger.Warn("plugin now serves an extension point it did not serve when opened; it is ignored until the plugin is opened again", "kind", p.Kind, "name", p.Name)
		}
	}
	return next, nil
}

func (c *Client) reload(ctx context.Context) (*instance, error) {
	next, err := c.start(ctx)
	if err != nil {
		c.logger.Error("plugin reload failed; the running process, if any, keeps serving", "err", err)
		return nil, err
	}
	return next, nil
}

// setCurrent makes inst the instance calls go to (nil: calls fail with
// reason), and marks the Client closed when closing.
func (c *Client) setCurrent(inst *instance, reason error, closing bool) {
	c.mu.Lock()
	c.mu.cur, c.mu.down = inst, reason
	if closing {
		c.mu.closed = true
	}
	c.mu.Unlock()
	c.setUp(inst != nil)
}

func (c *Client) setUp(up bool) {
	if m := c.opts.Metrics; m != nil {
		v := 0.0
		if up {
			v = 1
		}
		m.up.WithLabelValues(c.opts.Name).Set(v)
	}
}

// healthCheckFailures is how many health checks in a row must fail for
// the process to count as dead.
const healthCheckFailures = 2

// healthCheck pings the current process every HealthInterval.
func (c *Client) healthCheck(ctx context.Context) {
	defer c.wg.Done()
	t := time.NewTicker(c.opts.HealthInterval)
	defer t.Stop()
	for {
		select {
		case <-c.done:
			return
		case <-t.C:
		}
		inst, err := c.acquire()
		if err != nil {
			continue
		}
		if err := inst.ping(ctx, c.opts.HealthInterval); err != nil && ctx.Err() == nil {
			inst.pings++
			c.logger.Warn("plugin health check failed", "err", err, "failures", inst.pings, "pid", inst.pid)
			if inst.pings >= healthCheckFailures {
				inst.markBroken(fmt.Errorf("%d health checks in a row failed: %w", inst.pings, err))
				c.wake()
			}
		} else if err == nil {
			inst.pings = 0
		}
		inst.calls.Done()
	}
}

// Metrics are the go-plugin host's own metrics; call results and the
// fall-back to built-ins are counted by plugins/fallback.
type Metrics struct {
	restarts *prometheus.CounterVec
	up       *prometheus.GaugeVec
}

// NewMetrics creates the metrics and registers them with reg:
// weir_goplugin_restarts_total{plugin} (processes started again after
// dying) and weir_goplugin_up{plugin} (1 while the process serves calls).
// It fails if reg already holds them.
func NewMetrics(reg prometheus.Registerer) (*Metrics, error) {
	m := &Metrics{
		restarts: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "weir_goplugin_restarts_total",
			Help: "go-plugin processes started again after they died, hung or failed health checks.",
		}, []string{"plugin"}),
		up: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "weir_goplugin_up",
			Help: "1 while a go-plugin process is running and serving calls, 0 while it is being restarted.",
		}, []string{"plugin"}),
	}
	for _, col := range []prometheus.Collector{m.restarts, m.up} {
		if err := reg.Register(col); err != nil {
			return nil, errors.Join(errors.New("goplugin: register metrics"), err)
		}
	}
	return m, nil
}
