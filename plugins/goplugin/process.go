package goplugin

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os/exec"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hashicorp/go-plugin"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/status"

	"github.com/weirmq/weir/sdk/goplugin/wire"
)

// instance is one running plugin process and its gRPC connection. The
// Client replaces it when it dies or is reloaded; calls that started on
// it finish on it (see acquire and stop).
type instance struct {
	pc      *plugin.Client
	cmd     *exec.Cmd
	conn    *grpc.ClientConn
	exited  <-chan struct{} // closed by go-plugin when the process exits
	pid     int
	started time.Time
	points  []wire.Point

	calls    sync.WaitGroup // calls in flight; Add only while the instance is current
	timeouts atomic.Int32   // consecutive calls that overran CallTimeout
	pings    int            // consecutive failed health checks; the health goroutine's

	brokenOnce sync.Once
	broken     chan struct{} // closed by markBroken
	brokenErr  error         // set before broken is closed
}

// hostPlugin is the host side of go-plugin's PluginSet: it hands back the
// gRPC connection and go-plugin's "process exited" context.
type hostPlugin struct{ plugin.NetRPCUnsupportedPlugin }

type hostConn struct {
	conn   *grpc.ClientConn
	exited <-chan struct{}
}

func (hostPlugin) GRPCServer(*plugin.GRPCBroker, *grpc.Server) error {
	return errors.New("goplugin: the host serves nothing")
}

func (hostPlugin) GRPCClient(ctx context.Context, _ *plugin.GRPCBroker, conn *grpc.ClientConn) (any, error) {
	return &hostConn{conn: conn, exited: ctx.Done()}, nil
}

// launch starts the plugin's binary, completes the handshake, asks what
// it serves and configures it. On error nothing is left running.
func launch(ctx context.Context, opts *Options, logger *slog.Logger) (*instance, error) {
	startTimeout := opts.StartTimeout
	if deadline, ok := ctx.Deadline(); ok {
		startTimeout = min(startTimeout, time.Until(deadline))
	}
	// One deadline for the whole start: process, handshake, Describe and
	// Configure.
	ctx, cancel := context.WithTimeout(ctx, startTimeout)
	defer cancel()
	if err := ctx.Err(); err != nil || startTimeout <= 0 {
		if err == nil {
			err = context.DeadlineExceeded
		}
		return nil, fmt.Errorf("goplugin: plugin %q: start %s: %w", opts.Name, opts.commandLine(), err)
	}
	cmd := exec.Command(opts.Command, opts.Args...)
	dieWithHost(cmd)
	tail := &tailBuffer{}
	pc := plugin.NewClient(&plugin.ClientConfig{
		HandshakeConfig:  wire.Handshake,
		Plugins:          plugin.PluginSet{wire.PluginSetName: hostPlugin{}},
		Cmd:              cmd,
		AllowedProtocols: []plugin.Protocol{plugin.ProtocolGRPC},
		StartTimeout:     startTimeout,
		Logger:           newHclog(logger),
		Stderr:           tail,
		SyncStdout:       &lineLogger{log: func(line string) { logger.Info("plugin stdout", "line", line) }},
		SyncStderr:       &lineLogger{log: func(line string) { logger.Info("plugin stderr", "line", line) }},
		GRPCDialOptions: []grpc.DialOption{grpc.WithDefaultCallOptions(
			grpc.MaxCallRecvMsgSize(wire.MaxMessageSize), grpc.MaxCallSendMsgSize(wire.MaxMessageSize))},
	})
	startErr := func(err error) error {
		pc.Kill()
		msg := strings.TrimSpace(err.Error())
		out := tail.String()
		if out != "" && !strings.Contains(msg, out) {
			msg += "; its stderr ends: " + out
		}
		if strings.Contains(out, "This binary is a plugin") {
			// go-plugin's answer to a magic cookie it does not expect.
			msg += "; it is a go-plugin binary, but for another program (its magic cookie is not Weir's)"
		}
		return fmt.Errorf("goplugin: plugin %q: start %s: %s (a plugin must be a Go program that calls sdk/goplugin.Serve, protocol version %d)",
			opts.Name, opts.commandLine(), msg, wire.ProtocolVersion)
	}
	rpc, err := pc.Client()
	if err != nil {
		return nil, startErr(err)
	}
	raw, err := rpc.Dispense(wire.PluginSetName)
	if err != nil {
		return nil, startErr(err)
	}
	hc := raw.(*hostConn)
	inst := &instance{
		pc: pc, cmd: cmd, conn: hc.conn, exited: hc.exited, started: time.Now(),
		broken: make(chan struct{}),
	}
	if cmd.Process != nil {
		inst.pid = cmd.Process.Pid
	}

	fail := func(what string, err error) (*instance, error) {
		inst.stop(false, logger)
		return nil, fmt.Errorf("goplugin: plugin %q (%s): %s: %w", opts.Name, opts.commandLine(), what, err)
	}
	payload, err := wire.Invoke(ctx, inst.conn, wire.Describe, nil)
	if err != nil {
		return fail("describe", err)
	}
	if inst.points, err = wire.DecodeDescription(payload); err != nil {
		return fail("describe", err)
	}
	known := inst.points[:0]
	for _, p := range inst.points {
		switch p.Kind {
		case wire.KindPartitioner, wire.KindCompactionFilter, wire.KindAssignor:
			known = append(known, p)
		default:
			logger.Warn("plugin serves an extension point this broker does not know; ignoring it", "kind", p.Kind, "name", p.Name)
		}
	}
	if inst.points = known; len(known) == 0 {
		return fail("describe", errors.New("it serves no extension point this broker knows"))
	}
	config := opts.Config
	if config == nil {
		config = map[string]any{}
	}
	js, err := json.Marshal(config)
	if err != nil {
		return fail("configure", fmt.Errorf("[plugins.config] cannot be sent as JSON: %w", err))
	}
	if _, err := wire.Invoke(ctx, inst.conn, wire.Configure, js); err != nil {
		return fail("configure", err)
	}
	return inst, nil
}

// serves reports whether the instance serves kind.
func (i *instance) serves(kind string) bool {
	for _, p := range i.points {
		if p.Kind == kind {
			return true
		}
	}
	return false
}

// markBroken records that the instance can no longer be trusted with
// calls; the first reason wins. The supervisor sees broken close and
// replaces the instance.
func (i *instance) markBroken(err error) {
	i.brokenOnce.Do(func() {
		i.brokenErr = err
		close(i.broken)
	})
}

// isBroken returns the reason the instance is broken, or nil.
func (i *instance) isBroken() error {
	select {
	case <-i.broken:
		return i.brokenErr
	case <-i.exited:
		i.markBroken(errors.New("the plugin process exited"))
		return i.brokenErr
	default:
		return nil
	}
}

// ping runs one gRPC health check (go-plugin's guests serve the health
// service) with the given timeout.
func (i *instance) ping(ctx context.Context, timeout time.Duration) error {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	resp, err := grpc_health_v1.NewHealthClient(i.conn).Check(ctx,
		&grpc_health_v1.HealthCheckRequest{Service: plugin.GRPCServiceName})
	if err != nil {
		return err
	}
	if resp.GetStatus() != grpc_health_v1.HealthCheckResponse_SERVING {
		return fmt.Errorf("health status %s", resp.GetStatus())
	}
	return nil
}

// transportFailure reports whether a gRPC error means the process or the
// connection is gone, rather than one call going wrong.
func transportFailure(err error) bool {
	switch status.Code(err) {
	case codes.Unavailable, codes.Canceled:
		return true
	}
	return false
}

// killGrace is how long stop waits for go-plugin's graceful shutdown, and
// then for the process to go after SIGKILL.
const killGrace = 3 * time.Second

// stop ends the instance. Graceful: calls in flight finish first (each is
// bounded by the call timeout), then go-plugin asks the process to exit.
// Otherwise (a dead, hung or misbehaving process) it is killed at once.
// Either way stop waits for go-plugin's goroutines, up to killGrace twice.
// The instance must no longer be current, so that no call can start on it.
func (i *instance) stop(graceful bool, logger *slog.Logger) {
	if !graceful {
		i.kill()
	}
	i.calls.Wait()
	done := make(chan struct{})
	go func() {
		defer close(done)
		i.pc.Kill()
	}()
	select {
	case <-done:
		return
	case <-time.After(killGrace):
	}
	i.kill()
	select {
	case <-done:
	case <-time.After(killGrace):
		// go-plugin still waits for the process's output pipes (a child
		// of the plugin may hold them). Nothing more can be done; its
		// goroutine ends when the pipes close.
		logger.Error("plugin process does not exit after SIGKILL; giving up on it", "pid", i.pid)
	}
}

func (i *instance) kill() {
	if i.cmd.Process != nil {
		_ = i.cmd.Process.Kill()
	}
}
