package goplugin

import (
	"bufio"
	"context"
	"errors"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/weirmq/weir/assignors"
	"github.com/weirmq/weir/partitioners"
	"github.com/weirmq/weir/plugins/fallback"
	"github.com/weirmq/weir/plugins/goplugin/internal/testplugin"
	"github.com/weirmq/weir/sdk"
)

// The crashing plugin behind plugins/fallback, as the registry wires it:
// the broker's calls keep being answered (by the built-in while the
// plugin is down), the failure is counted and logged with the plugin's
// name, and the plugin answers again once restarted.
func TestFallbackAnswersForACrashingPlugin(t *testing.T) {
	t.Parallel()
	c, hostLogs := openPlugin(t, "hostile", nil)
	reg := prometheus.NewRegistry()
	metrics, err := fallback.NewMetrics(reg)
	if err != nil {
		t.Fatal(err)
	}
	fbLogger, fbLogs := testLogger()
	fbOpts := fallback.Options{Logger: fbLogger, Metrics: metrics, FailureThreshold: 5}
	plugged, _ := c.Partitioner()
	p := fallback.Partitioner(plugged, partitioners.Murmur2(), fbOpts)
	pluggedAssignor, _ := c.Assignor()
	builtinAssignor := assignors.NewRange()
	a := fallback.Assignor(pluggedAssignor, builtinAssignor, fbOpts)
	ctx := context.Background()

	keys := [][]byte{[]byte("alpha"), testplugin.KeyCrash, []byte("gamma")}
	got, err := partitionKeys(ctx, p, keys...)
	if err != nil {
		t.Fatalf("the fallback wrapper returned %v", err)
	}
	for i, k := range keys {
		if want := partitioners.Murmur2Partition(k, 8); got[i] != want {
			t.Fatalf("key %q went to %d, want murmur2's %d", k, got[i], want)
		}
	}
	// While the plugin restarts, the assignor falls back to range too.
	in := sdk.AssignInput{
		Members: []sdk.GroupMember{{MemberID: "m1", Topics: []string{"t"}}, {MemberID: "m2", Topics: []string{"t"}}},
		Topics:  map[string]sdk.TopicMetadata{"t": {Partitions: 4}},
	}
	if res, err := a.Assign(ctx, in); err != nil || res.Check(in) != nil {
		t.Fatalf("assign while the plugin is down: %v %v", res, err)
	}

	if v := metricValue(t, counter(t, reg, "weir_plugin_calls_total", "test-hostile", "partitioner", fallback.ResultFailed)); v != 1 {
		t.Fatalf("failed partitioner calls = %v, want 1", v)
	}
	if lines := fbLogs.lines("plugin call failed; using the fallback", "plugin=test-hostile", "point=partitioner"); len(lines) != 1 {
		t.Fatalf("no fallback log line naming the plugin:\n%s", fbLogs)
	}
	waitFor(t, "the restart", func() bool { return c.Restarts() == 1 && c.pidForTesting() != 0 })
	if len(hostLogs.lines("plugin process failed; restarting it after a backoff", "plugin=test-hostile")) != 1 {
		t.Fatalf("no restart log line naming the plugin:\n%s", hostLogs)
	}
	// Restarted, the plugin answers (shift 0: the same as murmur2 for
	// keyed records; a nil key tells them apart).
	out := make([]int32, 2)
	if err := p.Partition(ctx, sdk.PartitionInput{Topic: "t", NumPartitions: 8, Keys: [][]byte{nil, []byte("x")}}, out); err != nil || out[0] != 2 {
		t.Fatalf("after the restart: %v %v, want the plugin's answer 2 for a nil key", out, err)
	}
	if v := metricValue(t, counter(t, reg, "weir_plugin_calls_total", "test-hostile", "partitioner", fallback.ResultOK)); v != 1 {
		t.Fatalf("ok partitioner calls = %v, want 1", v)
	}

	// An assignor whose process dies mid-call falls back as well.
	crashing := in
	crashing.Members = append(append([]sdk.GroupMember(nil), in.Members...), sdk.GroupMember{MemberID: "crash", Topics: []string{"t"}})
	res, err := a.Assign(ctx, crashing)
	if err != nil {
		t.Fatal(err)
	}
	want, _ := builtinAssignor.Assign(ctx, crashing)
	if !sameAssignment(res, want) {
		t.Fatalf("assignor fallback gave %v, want range's %v", res, want)
	}
	waitFor(t, "the second restart", func() bool { return c.Restarts() == 2 && c.pidForTesting() != 0 })
}

func counter(t *testing.T, reg *prometheus.Registry, name string, labels ...string) prometheus.Metric {
	t.Helper()
	families, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range families {
		if f.GetName() != name {
			continue
		}
	metrics:
		for _, m := range f.GetMetric() {
			for i, l := range m.GetLabel() {
				if i >= len(labels) || l.GetValue() != labels[i] {
					continue metrics
				}
			}
			return prometheus.MustNewConstMetric(prometheus.NewDesc(name, "", nil, nil), prometheus.CounterValue, m.GetCounter().GetValue())
		}
	}
	return prometheus.MustNewConstMetric(prometheus.NewDesc(name, "", nil, nil), prometheus.CounterValue, 0)
}

// copyFile installs src at dst the way a deploy does: write a new file
// and rename it over the old one (a running binary cannot be rewritten).
func copyFile(t *testing.T, src, dst string) {
	t.Helper()
	in, err := os.Open(src)
	if err != nil {
		t.Fatal(err)
	}
	defer in.Close()
	tmp := dst + ".new"
	out, err := os.OpenFile(tmp, os.O_CREATE|os.O_TRUNC|os.O_WRONLY, 0o755)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := io.Copy(out, in); err != nil {
		t.Fatal(err)
	}
	if err := out.Close(); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(tmp, dst); err != nil {
		t.Fatal(err)
	}
}

func TestReloadSwapsTheBinary(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "plugin")
	copyFile(t, bins["healthy"], path)
	logger, logs := testLogger()
	c, err := Open(context.Background(), Options{Name: "swappable", Command: path, Logger: logger, CallTimeout: 5 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	p, _ := c.Partitioner()
	ctx := context.Background()

	// Calls run throughout; none may fail, across every reload.
	stop := make(chan struct{})
	var wg sync.WaitGroup
	errs := make(chan error, 8)
	for range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				select {
				case <-stop:
					return
				default:
				}
				if _, err := partitionKeys(ctx, p, []byte("a"), []byte("b")); err != nil {
					errs <- err
					return
				}
			}
		}()
	}

	pid := c.pidForTesting()
	if err := c.Reload(ctx); err != nil {
		t.Fatal(err)
	}
	if c.pidForTesting() == pid {
		t.Fatal("Reload kept the old process")
	}
	waitFor(t, "the old process to go", func() bool { return !processAlive(pid) })

	// A broken binary on disk: Reload fails and the old process serves on.
	pid = c.pidForTesting()
	copyFile(t, bins["notplugin"], path)
	if err := c.Reload(ctx); err == nil || !strings.Contains(err.Error(), `plugin "swappable"`) {
		t.Fatalf("Reload to a non-plugin: %v", err)
	}
	// A plugin that no longer serves the compaction filter it did: the
	// registry already handed it out, so Reload refuses.
	copyFile(t, bins["hostile"], path)
	if err := c.Reload(ctx); err == nil || !strings.Contains(err.Error(), "no longer serves the compaction_filter") {
		t.Fatalf("Reload to a plugin serving less: %v", err)
	}
	if c.pidForTesting() != pid || !processAlive(pid) {
		t.Fatal("a failed Reload replaced or stopped the running process")
	}
	copyFile(t, bins["healthy"], path)
	if err := c.Reload(ctx); err != nil {
		t.Fatal(err)
	}
	close(stop)
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Errorf("a call failed during reloads: %v", err)
	}
	if n := len(logs.lines("plugin reloaded", "plugin=swappable")); n != 2 {
		t.Errorf("%d reload log lines, want 2", n)
	}
	if c.Restarts() != 0 {
		t.Errorf("reloads counted as restarts: %d", c.Restarts())
	}
}

func TestCloseStopsTheProcess(t *testing.T) {
	t.Parallel()
	logger := slog.New(slog.NewTextHandler(io.Discard, nil))
	c, err := Open(context.Background(), Options{Name: "short-lived", Command: bins["healthy"], Logger: logger})
	if err != nil {
		t.Fatal(err)
	}
	p, _ := c.Partitioner()
	pid := c.pidForTesting()
	if err := c.Close(); err != nil {
		t.Fatal(err)
	}
	if processAlive(pid) {
		t.Fatalf("process %d runs after Close", pid)
	}
	if _, err := partitionKeys(context.Background(), p, []byte("a")); !errors.Is(err, ErrClosed) {
		t.Fatalf("call after Close: %v", err)
	}
	if err := c.Reload(context.Background()); !errors.Is(err, ErrClosed) {
		t.Fatalf("Reload after Close: %v", err)
	}
	if err := c.Close(); err != nil {
		t.Fatal(err)
	}
}

// Closing while the process is down (between a crash and its restart)
// cancels the restart.
func TestCloseDuringBackoff(t *testing.T) {
	t.Parallel()
	c, _ := openPlugin(t, "hostile", func(o *Options) { o.RestartBackoff = time.Hour })
	p, _ := c.Partitioner()
	if _, err := partitionKeys(context.Background(), p, testplugin.KeyCrash); err == nil {
		t.Fatal("crash call succeeded")
	}
	waitFor(t, "the process to be down", func() bool { return c.pidForTesting() == 0 })
	done := make(chan struct{})
	go func() {
		c.Close()
		close(done)
	}()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		t.Fatal("Close waited for the restart backoff")
	}
}

// A caller's context that ends is the caller's error, not the plugin's.
func TestCallerContextEnds(t *testing.T) {
	t.Parallel()
	c, _ := openPlugin(t, "hostile", nil)
	p, _ := c.Partitioner()
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	_, err := partitionKeys(ctx, p, testplugin.KeyHang)
	if !errors.Is(err, context.DeadlineExceeded) || errors.Is(err, ErrCallTimeout) {
		t.Fatalf("call with an expiring context: %v, want context.DeadlineExceeded", err)
	}
	if c.Restarts() != 0 {
		t.Fatal("the caller's deadline restarted the plugin")
	}
}

// A broker killed with SIGKILL cannot stop its plugins; the kernel does.
func TestPluginDiesWithItsHost(t *testing.T) {
	t.Parallel()
	host := exec.Command(os.Args[0], "-test.run=^$")
	host.Env = append(os.Environ(), hostEnv+"="+bins["healthy"])
	stdout, err := host.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := host.Start(); err != nil {
		t.Fatal(err)
	}
	line, err := bufio.NewReader(stdout).ReadString('\n')
	if err != nil {
		host.Process.Kill()
		host.Wait()
		t.Fatalf("reading the plugin's pid: %v", err)
	}
	pid, err := strconv.Atoi(strings.TrimSpace(line))
	if err != nil || !processAlive(pid) {
		host.Process.Kill()
		host.Wait()
		t.Fatalf("host said %q", line)
	}
	if err := host.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	host.Wait()
	waitFor(t, "the orphaned plugin to die", func() bool { return !processAlive(pid) })
}
