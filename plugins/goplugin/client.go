package goplugin

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/weirmq/weir/sdk"
	"github.com/weirmq/weir/sdk/goplugin/wire"
)

// Options configures one go-plugin plugin: one [[plugins]] entry.
type Options struct {
	// Name is the [[plugins]] name: the Name of every implementation the
	// Client returns, and the "plugin" attribute of every log line.
	// Required.
	Name string
	// Command is the plugin binary (a path, or a name looked up in PATH),
	// and Args its arguments. Command is required.
	Command string
	Args    []string
	// Config is the [plugins.config] table, sent to the plugin as a JSON
	// object before any call. nil sends {}.
	Config map[string]any

	// StartTimeout bounds starting the process, the handshake, Describe
	// and Configure. Zero means 10 seconds.
	StartTimeout time.Duration
	// CallTimeout bounds every call into the plugin (the caller's
	// context may end it sooner). Zero means 1 second.
	CallTimeout time.Duration
	// HealthInterval is how often the process is health-checked (a gRPC
	// health ping, timing out after the same interval). Two failed
	// checks in a row count as a dead process. Zero means 2 seconds.
	HealthInterval time.Duration
	// RestartBackoff is the wait before the first restart of a dead
	// process; each further restart waits twice as long as the one
	// before, up to MaxRestartBackoff. A process that ran for
	// MaxRestartBackoff before dying starts the sequence again. Zero
	// means 250 milliseconds and 30 seconds.
	RestartBackoff, MaxRestartBackoff time.Duration

	// Logger receives the host's and the plugin's logs, with the plugin's
	// name as the "plugin" attribute. nil means slog.Default().
	Logger *slog.Logger
	// Metrics, when not nil, counts restarts and reports whether the
	// process is up. Several Clients may share one Metrics.
	Metrics *Metrics
}

// The defaults for zero Options fields.
const (
	DefaultStartTimeout      = 10 * time.Second
	DefaultCallTimeout       = time.Second
	DefaultHealthInterval    = 2 * time.Second
	DefaultRestartBackoff    = 250 * time.Millisecond
	DefaultMaxRestartBackoff = 30 * time.Second
)

func (o *Options) commandLine() string {
	return strings.Join(append([]string{o.Command}, o.Args...), " ")
}

// Errors a call can wrap. Every error also names the plugin.
var (
	// ErrNotRunning: the plugin process is dead or unhealthy and is being
	// restarted; the call was not sent.
	ErrNotRunning = errors.New("plugin process is not running")
	// ErrCallTimeout: the plugin did not answer within CallTimeout.
	ErrCallTimeout = errors.New("plugin call timed out")
	// ErrClosed: the Client is closed.
	ErrClosed = errors.New("plugin client is closed")
)

// maxTimeouts is how many calls in a row may overrun CallTimeout before
// the process counts as hung and is restarted.
const maxTimeouts = 3

// Client runs one plugin binary and hands out the extension points it
// serves. It keeps the process alive: a process that exits, fails two
// health checks in a row, or lets maxTimeouts calls in a row time out is
// killed and started again after a backoff, each restart logged with the
// plugin's name. While it is down, calls fail at once with ErrNotRunning;
// the registry wraps the implementations with plugins/fallback, which
// answers them with the built-in.
//
// A Client is safe for concurrent use. It must be created with Open and
// closed with Close.
type Client struct {
	opts   Options
	logger *slog.Logger
	kinds  []string // what the first process served; fixed for the Client's life

	reloads chan reloadRequest
	kick    chan struct{}      // an instance broke; buffered 1
	done    chan struct{}      // closed by Close
	stop    context.CancelFunc // cancels the goroutines' context, on Close
	wg      sync.WaitGroup
	close   sync.Once

	mu struct {
		sync.Mutex
		cur      *instance // nil while the process is down or after Close
		closed   bool
		down     error // why cur is nil
		restarts int
	}
}

type reloadRequest struct {
	ctx   context.Context
	reply chan error
}

// Open starts the plugin binary opts.Command, checks the handshake, asks
// which extension points it serves and configures it. It returns an error
// naming the plugin and the command when any of that fails (the binary is
// missing, exits, is not a Weir go-plugin, speaks another protocol version,
// serves nothing, or rejects its config); nothing is left running then.
// ctx bounds the start together with opts.StartTimeout.
func Open(ctx context.Context, opts Options) (*Client, error) {
	if opts.Name == "" {
		return nil, errors.New("goplugin: a plugin needs a name")
	}
	if opts.Command == "" {
		return nil, fmt.Errorf("goplugin: plugin %q: no command to run", opts.Name)
	}
	opts.Args = append([]string(nil), opts.Args...)
	defaultDuration(&opts.StartTimeout, DefaultStartTimeout)
	defaultDuration(&opts.CallTimeout, DefaultCallTimeout)
	defaultDuration(&opts.HealthInterval, DefaultHealthInterval)
	defaultDuration(&opts.RestartBackoff, DefaultRestartBackoff)
	defaultDuration(&opts.MaxRestartBackoff, DefaultMaxRestartBackoff)
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	c := &Client{
		opts:    opts,
		logger:  opts.Logger.With("plugin", opts.Name),
		reloads: make(chan reloadRequest),
		kick:    make(chan struct{}, 1),
		done:    make(chan struct{}),
	}
	inst, err := launch(ctx, &c.opts, c.logger)
	if err != nil {
		return nil, err
	}
	for _, kind := range []string{wire.KindPartitioner, wire.KindCompactionFilter, wire.KindAssignor} {
		if inst.serves(kind) {
			c.kinds = append(c.kinds, kind)
		}
	}
	c.mu.cur = inst
	c.setUp(true)
	c.logger.Info("plugin started", "command", c.opts.commandLine(), "pid", inst.pid, "serves", describe(inst.points))
	// The goroutines' context ends on Close, cutting short a restart or
	// a health check in progress.
	runCtx, stop := context.WithCancel(context.Background())
	c.stop = stop
	c.wg.Add(2)
	go c.supervise(runCtx, inst)
	go c.healthCheck(runCtx)
	return c, nil
}

func defaultDuration(d *time.Duration, def time.Duration) {
	if *d <= 0 {
		*d = def
	}
}

func describe(points []wire.Point) string {
	var b strings.Builder
	for i, p := range points {
		if i > 0 {
			b.WriteString(", ")
		}
		fmt.Fprintf(&b, "%s %q", p.Kind, p.Name)
	}
	return b.String()
}

// Kinds lists the extension points the plugin serves, of
// "partitioner", "compaction_filter" and "assignor", in that order. The
// caller owns the returned slice.
func (c *Client) Kinds() []string { return append([]string(nil), c.kinds...) }

func (c *Client) servesKind(kind string) bool {
	for _, k := range c.kinds {
		if k == kind {
			return true
		}
	}
	return false
}

// Partitioner returns the plugin's partitioner, named opts.Name, and
// whether the plugin serves one. It stays valid across restarts and
// Reload, and fails every call once the Client is closed.
func (c *Client) Partitioner() (sdk.Partitioner, bool) {
	if !c.servesKind(wire.KindPartitioner) {
		return nil, false
	}
	return partitioner{c}, true
}

// CompactionFilter returns the plugin's compaction filter, named
// opts.Name, and whether the plugin serves one. Like Partitioner's, it
// stays valid across restarts and Reload.
func (c *Client) CompactionFilter() (sdk.CompactionFilter, bool) {
	if !c.servesKind(wire.KindCompactionFilter) {
		return nil, false
	}
	return filter{c}, true
}

// Assignor returns the plugin's assignor, named opts.Name, and whether the
// plugin serves one. Like Partitioner's, it stays valid across restarts
// and Reload.
func (c *Client) Assignor() (sdk.Assignor, bool) {
	if !c.servesKind(wire.KindAssignor) {
		return nil, false
	}
	return assignor{c}, true
}

// Restarts returns how many times the process has been started again
// after dying (Reload does not count).
func (c *Client) Restarts() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.mu.restarts
}

// Reload starts the plugin again from opts.Command — a binary replaced on
// disk takes effect — and swaps it in: new calls go to the new process,
// calls in flight finish on the old one, which is then stopped. If the new
// process fails to start, or no longer serves an extension point the old
// one did, Reload returns the error (naming the plugin) and the old
// process keeps serving. It returns ErrClosed after Close, and ctx's error
// if ctx ends first (the reload may still complete).
func (c *Client) Reload(ctx context.Context) error {
	req := reloadRequest{ctx: ctx, reply: make(chan error, 1)}
	select {
	case c.reloads <- req:
	case <-c.done:
		return fmt.Errorf("goplugin: plugin %q: reload: %w", c.opts.Name, ErrClosed)
	case <-ctx.Done():
		return ctx.Err()
	}
	select {
	case err := <-req.reply:
		return err
	case <-ctx.Done():
		return ctx.Err()
	}
}

// Close stops the plugin process (calls in flight finish first) and waits
// for the Client's goroutines. Calls made after Close fail with ErrClosed.
// Close always returns nil; calling it again does nothing.
func (c *Client) Close() error {
	c.close.Do(func() {
		close(c.done)
		c.stop()
		c.wg.Wait()
	})
	return nil
}

// acquire returns the current instance with a call counted in flight on
// it, or the error a call must fail with: ErrClosed, or ErrNotRunning
// while the process is down or broken. The caller must call
// inst.calls.Done.
func (c *Client) acquire() (*instance, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	switch {
	case c.mu.closed:
		return nil, fmt.Errorf("goplugin: plugin %q: %w", c.opts.Name, ErrClosed)
	case c.mu.cur == nil:
		return nil, fmt.Errorf("goplugin: plugin %q: %w (%v); restarting it", c.opts.Name, ErrNotRunning, c.mu.down)
	}
	inst := c.mu.cur
	if err := inst.isBroken(); err != nil {
		c.wake()
		return nil, fmt.Errorf("goplugin: plugin %q: %w (%v); restarting it", c.opts.Name, ErrNotRunning, err)
	}
	inst.calls.Add(1)
	return inst, nil
}

// wake tells the supervisor to look at the current instance.
func (c *Client) wake() {
	select {
	case c.kick <- struct{}{}:
	default:
	}
}

// call sends one call to the plugin under CallTimeout and returns the
// reply's payload. Every error names the plugin and the method, and wraps
// ErrNotRunning, ErrCallTimeout, ErrClosed, sdk.ErrDecline, a
// *wire.RemoteError (the plugin's own error), wire.ErrMalformed, or ctx's
// error when the caller's context ended. A transport failure or a run of
// timeouts marks the process broken, for the supervisor to restart.
func (c *Client) call(ctx context.Context, m wire.Method, req []byte) ([]byte, error) {
	inst, err := c.acquire()
	if err != nil {
		return nil, err
	}
	defer inst.calls.Done()
	cctx, cancel := context.WithTimeout(ctx, c.opts.CallTimeout)
	defer cancel()
	payload, err := wire.Invoke(cctx, inst.conn, m, req)
	if err == nil {
		inst.timeouts.Store(0)
		return payload, nil
	}
	var remote *wire.RemoteError
	switch {
	case errors.Is(err, sdk.ErrDecline), errors.As(err, &remote), errors.Is(err, wire.ErrMalformed):
		inst.timeouts.Store(0)
		return nil, fmt.Errorf("goplugin: plugin %q: %s: %w", c.opts.Name, m, err)
	case ctx.Err() != nil || timedOut(cctx, err) && callerBound(ctx, cctx):
		// The caller's deadline was the binding one. Its timer may fire
		// a moment after ours (or after the server's, which gRPC reports
		// as DeadlineExceeded), so wait for it to report the caller's
		// error rather than blame the plugin.
		<-ctx.Done()
		return nil, fmt.Errorf("goplugin: plugin %q: %s: %w", c.opts.Name, m, ctx.Err())
	case timedOut(cctx, err):
		if n := inst.timeouts.Add(1); n >= maxTimeouts {
			inst.markBroken(fmt.Errorf("%d calls in a row timed out after %v", n, c.opts.CallTimeout))
			c.wake()
		}
		return nil, fmt.Errorf("goplugin: plugin %q: %s: %w after %v", c.opts.Name, m, ErrCallTimeout, c.opts.CallTimeout)
	}
	if transportFailure(err) || inst.isBroken() != nil {
		inst.markBroken(fmt.Errorf("call %s failed: %w", m, err))
		c.wake()
		return nil, fmt.Errorf("goplugin: plugin %q: %s: %w (%v)", c.opts.Name, m, ErrNotRunning, err)
	}
	return nil, fmt.Errorf("goplugin: plugin %q: %s: %w", c.opts.Name, m, err)
}

// callerBound reports whether cctx, derived from ctx, has ctx's deadline
// rather than a shorter one of its own.
func callerBound(ctx, cctx context.Context) bool {
	parent, ok := ctx.Deadline()
	own, _ := cctx.Deadline()
	return ok && !parent.After(own)
}

// timedOut reports whether a call under cctx ended by its deadline, as
// seen by the client's timer or by the server's.
func timedOut(cctx context.Context, err error) bool {
	return cctx.Err() != nil || status.Code(err) == codes.DeadlineExceeded
}
