package goplugin

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"

	"github.com/weirmq/weir/plugins/goplugin/internal/testplugin"
	"github.com/weirmq/weir/sdk"
)

func partitionKeys(ctx context.Context, p sdk.Partitioner, keys ...[]byte) ([]int32, error) {
	out := make([]int32, len(keys))
	err := p.Partition(ctx, sdk.PartitionInput{Topic: "t", NumPartitions: 8, Keys: keys}, out)
	return out, err
}

func TestCrashingPluginIsRestartedWithBackoff(t *testing.T) {
	t.Parallel()
	reg := prometheus.NewRegistry()
	metrics, err := NewMetrics(reg)
	if err != nil {
		t.Fatal(err)
	}
	c, logs := openPlugin(t, "hostile", func(o *Options) { o.Metrics = metrics })
	p, _ := c.Partitioner()
	ctx := context.Background()

	for crash := 1; crash <= 2; crash++ {
		pid := c.pidForTesting()
		_, err := partitionKeys(ctx, p, []byte("a"), testplugin.KeyCrash)
		if !errors.Is(err, ErrNotRunning) || !strings.Contains(err.Error(), `plugin "test-hostile"`) {
			t.Fatalf("crash %d: the call returned %v, want ErrNotRunning naming the plugin", crash, err)
		}
		// Until the restart, calls fail at once instead of waiting.
		start := time.Now()
		if _, err := partitionKeys(ctx, p, []byte("a")); err != nil && !errors.Is(err, ErrNotRunning) {
			t.Fatalf("crash %d: a call while restarting: %v", crash, err)
		}
		if d := time.Since(start); d > time.Second {
			t.Fatalf("crash %d: a call while restarting took %v", crash, d)
		}
		waitFor(t, "the restart", func() bool { return c.Restarts() == crash && c.pidForTesting() != 0 })
		if c.pidForTesting() == pid {
			t.Fatalf("crash %d: same pid %d after the restart", crash, pid)
		}
		if _, err := partitionKeys(ctx, p, []byte("a"), []byte("b")); err != nil {
			t.Fatalf("crash %d: after the restart: %v", crash, err)
		}
	}
	// Each restart is logged with the plugin's name, and the backoff
	// doubles: the restarted process died young.
	failed := logs.lines("plugin process failed; restarting it after a backoff", "plugin=test-hostile")
	if len(failed) != 2 || !strings.Contains(failed[0], "backoff=50ms") || !strings.Contains(failed[1], "backoff=100ms") {
		t.Fatalf("restart log lines %q, want two with backoffs 50ms then 100ms\n%s", failed, logs)
	}
	if n := len(logs.lines("plugin restarted", "plugin=test-hostile")); n != 2 {
		t.Fatalf("%d 'plugin restarted' lines, want 2", n)
	}
	if got := metricValue(t, metrics.restarts.WithLabelValues("test-hostile")); got != 2 {
		t.Fatalf("weir_goplugin_restarts_total = %v, want 2", got)
	}
	if got := metricValue(t, metrics.up.WithLabelValues("test-hostile")); got != 1 {
		t.Fatalf("weir_goplugin_up = %v, want 1", got)
	}
}

func TestBackoffDoublesUpToTheCap(t *testing.T) {
	c := &Client{opts: Options{RestartBackoff: 250 * time.Millisecond, MaxRestartBackoff: 30 * time.Second}}
	want := []time.Duration{250 * time.Millisecond, 500 * time.Millisecond, time.Second, 2 * time.Second, 4 * time.Second,
		8 * time.Second, 16 * time.Second, 30 * time.Second, 30 * time.Second}
	for i, w := range want {
		if got := c.backoff(i); got != w {
			t.Errorf("backoff(%d) = %v, want %v", i, got, w)
		}
	}
	if got := c.backoff(1 << 20); got != 30*time.Second {
		t.Errorf("backoff(huge) = %v", got)
	}
}

func TestHangingPluginTimesOut(t *testing.T) {
	t.Parallel()
	c, logs := openPlugin(t, "hostile", func(o *Options) { o.CallTimeout = 200 * time.Millisecond })
	p, _ := c.Partitioner()
	ctx := context.Background()
	pid := c.pidForTesting()

	hang := func() {
		t.Helper()
		start := time.Now()
		_, err := partitionKeys(ctx, p, testplugin.KeyHang)
		if !errors.Is(err, ErrCallTimeout) || !strings.Contains(err.Error(), `plugin "test-hostile"`) {
			t.Fatalf("hanging call returned %v, want ErrCallTimeout naming the plugin", err)
		}
		if d := time.Since(start); d > 3*time.Second {
			t.Fatalf("hanging call took %v with a 200ms timeout", d)
		}
	}
	// One hung call is one failed call: the process keeps serving, and a
	// good answer resets the count.
	for range maxTimeouts - 1 {
		hang()
	}
	if _, err := partitionKeys(ctx, p, []byte("a")); err != nil {
		t.Fatal(err)
	}
	if c.Restarts() != 0 || c.pidForTesting() != pid {
		t.Fatal("a timed-out call restarted the process")
	}
	// maxTimeouts in a row: the process counts as hung and is replaced.
	for range maxTimeouts {
		hang()
	}
	waitFor(t, "the restart of the hung process", func() bool { return c.Restarts() == 1 && c.pidForTesting() != 0 })
	if _, err := partitionKeys(ctx, p, []byte("a")); err != nil {
		t.Fatal(err)
	}
	if len(logs.lines("plugin process failed", "3 calls in a row timed out", "plugin=test-hostile")) != 1 {
		t.Fatalf("no log line saying why the plugin was restarted:\n%s", logs)
	}
	if processAlive(pid) {
		t.Fatalf("the hung process %d is still running", pid)
	}
}

func TestStoppedProcessFailsHealthChecks(t *testing.T) {
	t.Parallel()
	c, logs := openPlugin(t, "healthy", func(o *Options) { o.HealthInterval = 100 * time.Millisecond })
	pid := c.pidForTesting()
	if err := syscall.Kill(pid, syscall.SIGSTOP); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the restart of the stopped process", func() bool { return c.Restarts() == 1 && c.pidForTesting() != 0 })
	p, _ := c.Partitioner()
	if _, err := partitionKeys(context.Background(), p, []byte("a")); err != nil {
		t.Fatal(err)
	}
	if len(logs.lines("plugin process failed", "health checks in a row failed", "plugin=test-healthy")) != 1 {
		t.Fatalf("no log line saying the health checks failed:\n%s", logs)
	}
	waitFor(t, "the stopped process to be killed", func() bool { return !processAlive(pid) })
}

// processAlive reports whether pid runs. A zombie (dead, not yet reaped:
// an orphan waits for init to reap it) counts as dead.
func processAlive(pid int) bool {
	stat, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if errors.Is(err, os.ErrNotExist) {
		return false
	}
	if err == nil {
		// pid (comm) state ...; comm may hold spaces and parentheses.
		if i := bytes.LastIndexByte(stat, ')'); i >= 0 && i+2 < len(stat) {
			return stat[i+2] != 'Z' && stat[i+2] != 'X'
		}
	}
	return syscall.Kill(pid, 0) == nil
}

func TestOpenRejectsWhatIsNotAPlugin(t *testing.T) {
	t.Parallel()
	missing := filepath.Join(t.TempDir(), "no-such-plugin")
	for _, tc := range []struct {
		name    string
		opts    Options
		want    []string
		command string
	}{
		{"missing binary", Options{Name: "ghost", Command: missing}, []string{"no such file"}, missing},
		{"not a plugin", Options{Name: "greeter", Command: bins["notplugin"]},
			[]string{"hello, I am not a plugin", "sdk/goplugin.Serve"}, bins["notplugin"]},
		{"exits at once", Options{Name: "broken", Command: "/bin/sh", Args: []string{"-c", "echo 'boom: libfoo.so missing' >&2; exit 1"}},
			[]string{"Failed to read any lines", "its stderr ends: boom: libfoo.so missing"}, "/bin/sh -c"},
		{"wrong protocol version", Options{Name: "future", Command: bins["badversion"]},
			[]string{"incompatible API version", "Plugin version: 2", "protocol version 1"}, bins["badversion"]},
		{"another program's plugin", Options{Name: "alien", Command: bins["othercookie"]},
			[]string{"This binary is a plugin", "for another program (its magic cookie is not Weir's)"}, bins["othercookie"]},
		{"config rejected", Options{Name: "picky", Command: bins["healthy"], Config: map[string]any{"reject": true}},
			[]string{"configure", "config says reject"}, bins["healthy"]},
		{"unknown config key", Options{Name: "picky", Command: bins["healthy"], Args: []string{"-v"}, Config: map[string]any{"colour": "red"}},
			[]string{"configure", `unknown field "colour"`}, bins["healthy"] + " -v"},
		{"config not JSON", Options{Name: "odd", Command: bins["healthy"], Config: map[string]any{"f": func() {}}},
			[]string{"cannot be sent as JSON"}, bins["healthy"]},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			logger, _ := testLogger()
			tc.opts.Logger = logger
			tc.opts.StartTimeout = 5 * time.Second
			c, err := Open(context.Background(), tc.opts)
			if err == nil {
				c.Close()
				t.Fatal("Open succeeded")
			}
			msg := err.Error()
			for _, want := range append(tc.want, `plugin "`+tc.opts.Name+`"`, tc.command) {
				if !strings.Contains(msg, want) {
					t.Errorf("error %q does not contain %q", msg, want)
				}
			}
		})
	}
	for _, opts := range []Options{{Command: bins["healthy"]}, {Name: "nameless-command"}} {
		if _, err := Open(context.Background(), opts); err == nil {
			t.Errorf("Open(%+v) succeeded", opts)
		}
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := Open(ctx, Options{Name: "late", Command: bins["healthy"]}); !errors.Is(err, context.DeadlineExceeded) && !errors.Is(err, context.Canceled) {
		t.Errorf("Open with a done context: %v", err)
	}
}

// An ordinary program that happens to run forever is caught by the start
// timeout, not waited for.
func TestOpenTimesOutOnASilentProgram(t *testing.T) {
	t.Parallel()
	sleeper, err := exec.LookPath("sleep")
	if err != nil {
		t.Fatal(err)
	}
	logger, _ := testLogger()
	start := time.Now()
	_, err = Open(context.Background(), Options{Name: "sleepy", Command: sleeper, Args: []string{"60"}, StartTimeout: 300 * time.Millisecond, Logger: logger})
	if err == nil || !strings.Contains(err.Error(), "timeout") || !strings.Contains(err.Error(), `plugin "sleepy"`) {
		t.Fatalf("Open of sleep 60: %v", err)
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Fatalf("Open took %v with a 300ms start timeout", d)
	}
}

func metricValue(t *testing.T, m prometheus.Metric) float64 {
	t.Helper()
	var pb dto.Metric
	if err := m.Write(&pb); err != nil {
		t.Fatal(err)
	}
	if pb.Counter != nil {
		return pb.Counter.GetValue()
	}
	return pb.Gauge.GetValue()
}
