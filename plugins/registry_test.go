package plugins

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/weirmq/weir/assignors"
	"github.com/weirmq/weir/core/config"
	"github.com/weirmq/weir/partitioners"
	"github.com/weirmq/weir/plugins/wasm"
	"github.com/weirmq/weir/sdk"
)

// The test plugins in testdata/, built once for the package in TestMain:
// lenpart (a WASM partitioner and compaction filter) twice, and a go-plugin
// assignor.
var bins struct {
	lenpart, lenpartShifted, firstassign string
	cache                                string // a WASM compilation cache the tests share
}

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "weir-plugins-test-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	code := func() int {
		bins.lenpart = filepath.Join(dir, "lenpart.wasm")
		bins.lenpartShifted = filepath.Join(dir, "lenpart-shifted.wasm")
		bins.firstassign = filepath.Join(dir, "firstassign")
		bins.cache = filepath.Join(dir, "cache")
		wasmEnv := []string{"GOOS=wasip1", "GOARCH=wasm"}
		builds := []struct {
			env  []string
			args []string
		}{
			{wasmEnv, []string{"-buildmode=c-shared", "-o", bins.lenpart, "./testdata/lenpart"}},
			{wasmEnv, []string{"-buildmode=c-shared", "-ldflags=-X main.shift=1", "-o", bins.lenpartShifted, "./testdata/lenpart"}},
			{nil, []string{"-o", bins.firstassign, "./testdata/firstassign"}},
		}
		errs := make([]error, len(builds))
		var wg sync.WaitGroup
		for i, b := range builds {
			wg.Go(func() {
				c := exec.Command("go", append([]string{"build"}, b.args...)...)
				c.Env = append(os.Environ(), b.env...)
				if out, err := c.CombinedOutput(); err != nil {
					errs[i] = fmt.Errorf("go build %v: %v\n%s", b.args, err, out)
				}
			})
		}
		wg.Wait()
		if err := errors.Join(errs...); err != nil {
			fmt.Fprintln(os.Stderr, err)
			return 1
		}
		// Compile each module once into the shared cache, two at a time
		// (a Go module takes seconds to compile; loading it from the
		// cache, a fraction of one).
		sem := make(chan struct{}, 2)
		for i, mod := range []string{bins.lenpart, bins.lenpartShifted} {
			wg.Go(func() {
				sem <- struct{}{}
				defer func() { <-sem }()
				m, err := wasm.Open(context.Background(), wasm.Options{Name: "warm", Path: mod, CacheDir: bins.cache, PoolSize: 1,
					Logger: slog.New(slog.DiscardHandler)})
				if err == nil {
					err = m.Close(context.Background())
				}
				errs[i] = err
			})
		}
		wg.Wait()
		if err := errors.Join(errs...); err != nil {
			fmt.Fprintln(os.Stderr, err)
			return 1
		}
		return m.Run()
	}()
	os.RemoveAll(dir)
	os.Exit(code)
}

// builtins returns a registry holding every built-in.
func builtins(t *testing.T) *sdk.Registry {
	t.Helper()
	reg := sdk.NewRegistry()
	if err := partitioners.Register(reg); err != nil {
		t.Fatal(err)
	}
	if err := assignors.Register(reg); err != nil {
		t.Fatal(err)
	}
	return reg
}

// logBuffer is a slog text handler's output, safe for concurrent use.
type logBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *logBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *logBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// load runs Load with a test logger and metrics registry, closing the Set
// at the end of the test.
func load(t *testing.T, reg *sdk.Registry, ps []config.Plugin, opts LoadOptions) (*Set, *prometheus.Registry, *logBuffer, error) {
	t.Helper()
	logs := &logBuffer{}
	opts.Logger = slog.New(slog.NewTextHandler(logs, nil))
	metrics := prometheus.NewRegistry()
	opts.Metrics = metrics
	if opts.WatchInterval == 0 {
		opts.WatchInterval = -1
	}
	if opts.CacheDir == "" {
		opts.CacheDir = bins.cache
	}
	cfg := config.Default()
	cfg.Plugins = ps
	set, err := Load(context.Background(), cfg, reg, opts)
	if err == nil {
		t.Cleanup(func() {
			if err := set.Close(context.Background()); err != nil {
				t.Error(err)
			}
		})
	}
	return set, metrics, logs, err
}

// TestLoadRegistersEachKindUnderItsName loads a WASM partitioner, a WASM
// compaction filter and a go-plugin assignor, and finds each in the
// registry under its [[plugins]] name, answering as the plugin does.
func TestLoadRegistersEachKindUnderItsName(t *testing.T) {
	t.Parallel()
	reg := builtins(t)
	set, _, logs, err := load(t, reg, []config.Plugin{
		{Name: "by-length", Kind: config.PluginPartitioner, WASM: bins.lenpart},
		{Name: "drop-some", Kind: config.PluginCompactionFilter, WASM: bins.lenpart},
		{Name: "pin-first", Kind: config.PluginAssignor, Command: bins.firstassign},
	}, LoadOptions{})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()

	p, ok := reg.Partitioner("by-length")
	if !ok || p.Name() != "by-length" {
		t.Fatalf("partitioner by-length: %v %v", p, ok)
	}
	out := make([]int32, 3)
	if err := p.Partition(ctx, sdk.PartitionInput{Topic: "t", NumPartitions: 4, Keys: [][]byte{[]byte("a"), []byte("abcde"), {}}}, out); err != nil {
		t.Fatal(err)
	}
	if fmt.Sprint(out) != "[1 1 0]" {
		t.Errorf("by-length placed %v, want [1 1 0]", out)
	}

	f, ok := reg.CompactionFilter("drop-some")
	if !ok {
		t.Fatal("compaction filter drop-some not registered")
	}
	dec := make([]sdk.FilterDecision, 2)
	if err := f.Filter(ctx, sdk.FilterInput{Topic: "t", Records: []sdk.Record{{Key: []byte("drop"), Value: []byte("x")}, {Key: []byte("keep"), Value: []byte("y")}}}, dec); err != nil {
		t.Fatal(err)
	}
	if dec[0].Action != sdk.Drop || dec[1].Action != sdk.Keep {
		t.Errorf("drop-some decided %+v", dec)
	}

	a, ok := reg.Assignor("pin-first")
	if !ok {
		t.Fatal("assignor pin-first not registered")
	}
	res, err := a.Assign(ctx, sdk.AssignInput{
		Members: []sdk.GroupMember{{MemberID: "b", Topics: []string{"t"}}, {MemberID: "a", Topics: []string{"t"}}},
		Topics:  map[string]sdk.TopicMetadata{"t": {Partitions: 3}},
	})
	if err != nil {
		t.Fatal(err)
	}
	if fmt.Sprint(res["a"]["t"], len(res["b"]["t"])) != "[0 1 2] 0" {
		t.Errorf("pin-first assigned %v", res)
	}

	list := set.List()
	if len(list) != 3 {
		t.Fatalf("List: %+v", list)
	}
	want := []struct{ name, kind, source string }{
		{"by-length", "partitioner", SourceWASM}, {"drop-some", "compaction_filter", SourceWASM}, {"pin-first", "assignor", SourceCommand},
	}
	for i, w := range want {
		if in := list[i]; in.Name != w.name || in.Kind != w.kind || in.Source != w.source || in.Breaker != "closed" || in.Loaded.IsZero() {
			t.Errorf("List()[%d] = %+v, want %v", i, in, w)
		}
	}
	if !strings.Contains(logs.String(), `msg="plugin loaded" plugin=pin-first kind=assignor source=command`) {
		t.Errorf("no load log line for pin-first:\n%s", logs)
	}
}

// TestLoadRefusesBadPlugins: each way a [[plugins]] entry can be wrong
// stops the load with an error naming the plugin and the problem, and
// closes what was started.
func TestLoadRefusesBadPlugins(t *testing.T) {
	t.Parallel()
	ok := config.Plugin{Name: "fine", Kind: config.PluginAssignor, Command: bins.firstassign}
	for _, tc := range []struct {
		name string
		p    config.Plugin
		want string
	}{
		{"wrong kind", config.Plugin{Name: "oops", Kind: config.PluginAssignor, WASM: bins.lenpart},
			`[[plugins]] #2 "oops": declared kind = "assignor", but wasm ` + bins.lenpart + ` does not implement it (it serves: [partitioner compaction_filter])`},
		{"wrong kind, command", config.Plugin{Name: "oops", Kind: config.PluginCompactionFilter, Command: bins.firstassign},
			`"oops": declared kind = "compaction_filter", but command ` + bins.firstassign + ` does not implement it (it serves: [assignor])`},
		{"missing file", config.Plugin{Name: "ghost", Kind: config.PluginPartitioner, WASM: "/nonexistent/ghost.wasm"},
			`[[plugins]] #2 "ghost": loading WASM module /nonexistent/ghost.wasm:`},
		{"missing command", config.Plugin{Name: "ghost", Kind: config.PluginAssignor, Command: "/nonexistent/ghost"},
			`[[plugins]] #2 "ghost": starting go-plugin command /nonexistent/ghost:`},
		{"not a module", config.Plugin{Name: "junk", Kind: config.PluginPartitioner, WASM: bins.firstassign},
			`[[plugins]] #2 "junk": loading WASM module`},
		{"name of a built-in", config.Plugin{Name: "murmur2", Kind: config.PluginPartitioner, WASM: bins.lenpart},
			`[[plugins]] #2 "murmur2": sdk: register partitioner "murmur2": name already registered (the name is taken`},
		{"codec", config.Plugin{Name: "zz", Kind: config.PluginCodec, WASM: bins.lenpart},
			`[[plugins]] #2 "zz": kind = "codec" cannot be loaded yet`},
		{"configure fails", config.Plugin{Name: "badcfg", Kind: config.PluginPartitioner, WASM: bins.lenpart, Config: map[string]any{"fail": "not a bool"}},
			`[[plugins]] #2 "badcfg": loading WASM module`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			reg := builtins(t)
			_, _, _, err := load(t, reg, []config.Plugin{ok, tc.p}, LoadOptions{})
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("Load: %v\nwant an error containing %q", err, tc.want)
			}
		})
	}
}

// TestFailingPluginFallsBackAndOpensTheBreaker: a partitioner whose every
// call fails is answered by murmur2; after the failure threshold its
// breaker opens, which List, the metrics and the log show.
func TestFailingPluginFallsBackAndOpensTheBreaker(t *testing.T) {
	t.Parallel()
	reg := builtins(t)
	set, metrics, logs, err := load(t, reg, []config.Plugin{
		{Name: "broken", Kind: config.PluginPartitioner, WASM: bins.lenpart, Config: map[string]any{"fail": true}},
	}, LoadOptions{FailureThreshold: 2, OpenFor: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	p, _ := reg.Partitioner("broken")
	keys := [][]byte{[]byte("k1"), []byte("another key")}
	for range 3 {
		out := make([]int32, 2)
		if err := p.Partition(context.Background(), sdk.PartitionInput{Topic: "t", NumPartitions: 7, Keys: keys}, out); err != nil {
			t.Fatal(err)
		}
		for i, k := range keys {
			if want := partitioners.Murmur2Partition(k, 7); out[i] != want {
				t.Errorf("key %q on %d, want murmur2's %d", k, out[i], want)
			}
		}
	}
	if b := set.List()[0].Breaker; b != "open" {
		t.Errorf("breaker %q, want open", b)
	}
	if n := gaugeValue(t, metrics, "weir_plugin_breaker_open"); n != 1 {
		t.Errorf("weir_plugin_breaker_open = %v", n)
	}
	if !strings.Contains(logs.String(), "plugin=broken point=partitioner") || !strings.Contains(logs.String(), "circuit breaker open") {
		t.Errorf("log does not name the broken plugin:\n%s", logs)
	}
}

// gaugeValue returns the value of the one series of a gauge family.
func gaugeValue(t *testing.T, reg *prometheus.Registry, name string) float64 {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() == name && len(mf.GetMetric()) == 1 {
			return mf.GetMetric()[0].GetGauge().GetValue()
		}
	}
	t.Fatalf("no single series of %s", name)
	return 0
}

// TestReloadSwapsTheModuleAndTheHTTPAPI: replacing a module file and
// reloading it (through the HTTP admin API) changes what the registered
// partitioner answers; a reload whose file is broken keeps the old module
// and says why; an unknown name is a 404.
func TestReloadSwapsTheModuleAndTheHTTPAPI(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	file := filepath.Join(dir, "p.wasm")
	copyFile(t, bins.lenpart, file)
	reg := builtins(t)
	set, _, _, err := load(t, reg, []config.Plugin{{Name: "swappy", Kind: config.PluginPartitioner, WASM: file}}, LoadOptions{})
	if err != nil {
		t.Fatal(err)
	}
	mux := http.NewServeMux()
	set.Routes(mux)
	srv := httptest.NewServer(mux)
	defer srv.Close()

	p, _ := reg.Partitioner("swappy")
	place := func() int32 {
		out := make([]int32, 1)
		if err := p.Partition(context.Background(), sdk.PartitionInput{Topic: "t", NumPartitions: 10, Keys: [][]byte{[]byte("abc")}}, out); err != nil {
			t.Fatal(err)
		}
		return out[0]
	}
	if got := place(); got != 3 {
		t.Fatalf("before reload: partition %d, want 3", got)
	}

	copyFile(t, bins.lenpartShifted, file)
	var rr ReloadResponse
	if status := post(t, srv.URL+"/v1/plugins/swappy/reload", &rr); status != http.StatusOK || rr.Plugin == nil || rr.Plugin.Reloads != 1 {
		t.Fatalf("reload: %d %+v", status, rr)
	}
	if got := place(); got != 4 {
		t.Fatalf("after reload: partition %d, want 4", got)
	}

	if err := os.WriteFile(file, []byte("not wasm"), 0o644); err != nil {
		t.Fatal(err)
	}
	rr = ReloadResponse{}
	if status := post(t, srv.URL+"/v1/plugins/swappy/reload", &rr); status != http.StatusInternalServerError ||
		!strings.Contains(rr.Error, `reloading "swappy"`) || rr.Plugin == nil || rr.Plugin.LastReloadError == "" {
		t.Fatalf("broken reload: %d %+v", status, rr)
	}
	if got := place(); got != 4 {
		t.Fatalf("after a failed reload: partition %d, want the old module's 4", got)
	}
	if status := post(t, srv.URL+"/v1/plugins/nobody/reload", &rr); status != http.StatusNotFound || !strings.Contains(rr.Error, `no such plugin "nobody"`) {
		t.Fatalf("unknown plugin: %d %+v", status, rr)
	}

	resp, err := http.Get(srv.URL + "/v1/plugins")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var lr ListResponse
	if err := json.NewDecoder(resp.Body).Decode(&lr); err != nil {
		t.Fatal(err)
	}
	if len(lr.Plugins) != 1 || lr.Plugins[0].Name != "swappy" || lr.Plugins[0].Reloads != 1 || lr.Plugins[0].LastReloadError == "" {
		t.Fatalf("GET /v1/plugins: %+v", lr)
	}

	// The partitioner endpoint serves the module that runs — the last one
	// that loaded — not the broken file now on disk, so clients place
	// records as the broker checks them.
	if src, ok := set.PluginSource("swappy"); !ok || src != SourceWASM {
		t.Errorf("PluginSource: %q %v", src, ok)
	}
	if b, _, err := set.PluginModule("swappy"); err != nil || !bytes.HasPrefix(b, []byte("\x00asm")) {
		t.Errorf("PluginModule: %d bytes starting %q, %v; want the running module", len(b), b[:min(len(b), 8)], err)
	}
}

func copyFile(t *testing.T, from, to string) {
	t.Helper()
	b, err := os.ReadFile(from)
	if err != nil {
		t.Fatal(err)
	}
	// Write beside and rename, as a deployment would, so that the file is
	// never seen half-written.
	if err := os.WriteFile(to+".tmp", b, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(to+".tmp", to); err != nil {
		t.Fatal(err)
	}
}

func post(t *testing.T, url string, out any) int {
	t.Helper()
	resp, err := http.Post(url, "application/json", nil)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if err := json.NewDecoder(resp.Body).Decode(out); err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode
}

// TestEmptySet: no [[plugins]] loads nothing, registers no metrics, and
// the API lists an empty array.
func TestEmptySet(t *testing.T) {
	set, metrics, _, err := load(t, builtins(t), nil, LoadOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if mfs, _ := metrics.Gather(); len(mfs) != 0 {
		t.Errorf("metrics registered without plugins: %d families", len(mfs))
	}
	mux := http.NewServeMux()
	set.Routes(mux)
	rec := httptest.NewRecorder()
	mux.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/v1/plugins", nil))
	if strings.TrimSpace(rec.Body.String()) != `{"plugins":[]}` {
		t.Errorf("GET /v1/plugins = %s", rec.Body)
	}
}
