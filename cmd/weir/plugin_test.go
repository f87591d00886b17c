package main

import (
	"bytes"
	"context"
	"encoding/json"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/weirmq/weir/core/config"
	"github.com/weirmq/weir/plugins"
	"github.com/weirmq/weir/sdk"
)

// runPlugin runs `weir plugin ARGS...` in-process and returns what it
// printed.
func runPlugin(t *testing.T, stdin string, args ...string) result {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 2*time.Minute)
	defer cancel()
	root := newRootCommand()
	var stdout, stderr bytes.Buffer
	root.SetIn(strings.NewReader(stdin))
	root.SetOut(&stdout)
	root.SetErr(&stderr)
	root.SetArgs(append([]string{"plugin"}, args...))
	err := root.ExecuteContext(ctx)
	return result{stdout: stdout.String(), stderr: stderr.String(), err: err}
}

// pluginFiles are the plugins the plugin command tests run: lenpart (a
// WASM partitioner and compaction filter from plugins/testdata, built by
// `weir plugin build`) and firstassign (a go-plugin assignor), with a WASM
// compilation cache they share.
type pluginFiles struct {
	lenpart, firstassign, cache string
	buildOut                    result
}

// TestPluginCommands builds the test plugins once and runs the plugin
// command tests on them.
func TestPluginCommands(t *testing.T) {
	dir := t.TempDir()
	pf := pluginFiles{lenpart: filepath.Join(dir, "lenpart.wasm"), firstassign: filepath.Join(dir, "firstassign"), cache: filepath.Join(dir, "cache")}
	pf.buildOut = runPlugin(t, "", "build", "../../plugins/testdata/lenpart", "-o", pf.lenpart)
	if pf.buildOut.err != nil {
		t.Fatalf("weir plugin build: %v\n%s", pf.buildOut.err, pf.buildOut.stderr)
	}
	if out, err := exec.Command("go", "build", "-o", pf.firstassign, "../../plugins/testdata/firstassign").CombinedOutput(); err != nil {
		t.Fatalf("go build firstassign: %v\n%s", err, out)
	}
	t.Run("BuildAndTestAPartitioner", func(t *testing.T) { testPluginBuildAndTestAPartitioner(t, pf) })
	t.Run("TestAFilterAndAnAssignor", func(t *testing.T) { testPluginTestAFilterAndAnAssignor(t, pf) })
	t.Run("TestMistakes", func(t *testing.T) { testPluginTestMistakes(t, pf) })
	t.Run("ListAndReload", func(t *testing.T) { testPluginListAndReload(t, pf) })
}

// testPluginBuildAndTestAPartitioner: `weir plugin build` makes a module
// from a Go main package; `weir plugin test` shows where it puts keys, as
// a table and as JSON.
func testPluginBuildAndTestAPartitioner(t *testing.T, pf pluginFiles) {
	mod, cache := pf.lenpart, pf.cache
	if !strings.Contains(pf.buildOut.stdout, "built "+mod) {
		t.Errorf("build said: %q", pf.buildOut.stdout)
	}
	r := runPlugin(t, "", "test", "--wasm", mod, "--cache-dir", cache, "--kind", "partitioner", "--partitions", "4",
		"--key", "a", "--key", "abcde", "--null-keys", "1")
	if r.err != nil {
		t.Fatalf("%v\n%s", r.err, r.stderr)
	}
	// lenpart: (len(key)) mod 4; no key counts as length 0.
	for _, want := range []string{`KEY       PARTITION (of 4)`, `"a"       1`, `"abcde"   1`, `(no key)  0`} {
		if !strings.Contains(r.stdout, want) {
			t.Errorf("output lacks %q:\n%s", want, r.stdout)
		}
	}
	r = runPlugin(t, "", "test", "--wasm", mod, "--cache-dir", cache, "--kind", "partitioner", "--partitions", "3", "--key", "xy", "--json")
	if r.err != nil || strings.TrimSpace(r.stdout) != `{"declined":false,"placements":[{"key":"xy","partition":2}]}` {
		t.Errorf("--json: %v %q", r.err, r.stdout)
	}
}

// testPluginTestAFilterAndAnAssignor: a compaction filter's decisions on
// records from a file, and a go-plugin assignor's assignment of a group.
func testPluginTestAFilterAndAnAssignor(t *testing.T, pf pluginFiles) {
	mod, assignor, cache := pf.lenpart, pf.firstassign, pf.cache
	dir := t.TempDir()
	recs := filepath.Join(dir, "records.json")
	os.WriteFile(recs, []byte(`[{"offset": 7, "key": "drop", "value": "x"}, {"offset": 9, "key": "keep", "value": "y", "headers": {"h": "1"}}]`), 0o644)
	r := runPlugin(t, "", "test", "--wasm", mod, "--cache-dir", cache, "--kind", "compaction_filter", "--input", recs)
	if r.err != nil {
		t.Fatalf("%v\n%s", r.err, r.stderr)
	}
	for _, want := range []string{"OFFSET  KEY     ACTION", `7       "drop"  drop`, `9       "keep"  keep`} {
		if !strings.Contains(r.stdout, want) {
			t.Errorf("filter output lacks %q:\n%s", want, r.stdout)
		}
	}

	group := `{"members": [{"member_id": "m2", "topics": ["t"]}, {"member_id": "m1", "instance_id": "i1", "topics": ["t"]}],
		"topics": {"t": {"partitions": 3}}}`
	r = runPlugin(t, group, "test", "--command", assignor, "--input", "-")
	if r.err != nil {
		t.Fatalf("%v\n%s", r.err, r.stderr)
	}
	for _, want := range []string{"MEMBER  INSTANCE  TOPIC  PARTITIONS", "m2      -         -      -", "m1      i1        t      [0 1 2]"} {
		if !strings.Contains(r.stdout, want) {
			t.Errorf("assignor output lacks %q:\n%s", want, r.stdout)
		}
	}
}

// testPluginTestMistakes: what `weir plugin test` says when it cannot do
// what it is asked, or the plugin fails.
func testPluginTestMistakes(t *testing.T, pf pluginFiles) {
	mod, assignor, cache := pf.lenpart, pf.firstassign, pf.cache
	for _, tc := range []struct {
		name  string
		stdin string
		args  []string
		want  string
	}{
		{"no plugin", "", []string{"test", "--key", "a"}, "give one of --wasm FILE and --command FILE"},
		{"two kinds, none chosen", "", []string{"test", "--wasm", mod, "--cache-dir", cache, "--key", "a"}, "the plugin serves partitioner, compaction_filter: pick one with --kind"},
		{"kind not served", "", []string{"test", "--command", assignor, "--kind", "partitioner", "--key", "a"}, `the plugin does not implement "partitioner" (it serves: assignor)`},
		{"no keys", "", []string{"test", "--wasm", mod, "--cache-dir", cache, "--kind", "partitioner"}, "give keys with --key"},
		{"bad config", "", []string{"test", "--wasm", mod, "--config", "[1]", "--key", "a"}, "--config must be a JSON object"},
		{"failing plugin", "", []string{"test", "--wasm", mod, "--cache-dir", cache, "--kind", "partitioner", "--config", `{"fail": true}`, "--key", "a"},
			"the partitioner failed (the broker would fall back to murmur2)"},
		{"bad group", `{"members": [{"member_id": ""}]}`, []string{"test", "--command", assignor, "--input", "-"}, "member 0 has an empty member id"},
		{"not a module", "", []string{"test", "--wasm", assignor, "--cache-dir", cache, "--key", "a"}, "loading " + assignor},
	} {
		r := runPlugin(t, tc.stdin, tc.args...)
		if r.err == nil || !strings.Contains(r.err.Error(), tc.want) {
			t.Errorf("%s: %v, want an error containing %q", tc.name, r.err, tc.want)
		}
	}
}

// testPluginListAndReload: list and reload against a node's plugin API
// (here the API alone, over a Set of one WASM plugin).
func testPluginListAndReload(t *testing.T, pf pluginFiles) {
	mod, cache := pf.lenpart, pf.cache
	cfg := config.Default()
	cfg.Plugins = []config.Plugin{{Name: "by-length", Kind: config.PluginPartitioner, WASM: mod}}
	set, err := plugins.Load(context.Background(), cfg, sdk.NewRegistry(), plugins.LoadOptions{CacheDir: cache, WatchInterval: -1, Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	defer set.Close(context.Background())
	mux := http.NewServeMux()
	set.Routes(mux)
	srv := httptest.NewServer(mux)
	defer srv.Close()

	r := runPlugin(t, "", "list", "--http", srv.URL)
	if r.err != nil {
		t.Fatal(r.err)
	}
	if !strings.Contains(r.stdout, "NAME       KIND         SOURCE  BREAKER  RELOADS  LOADED") ||
		!strings.Contains(r.stdout, "by-length  partitioner  wasm    closed   0") || !strings.Contains(r.stdout, mod) {
		t.Errorf("list:\n%s", r.stdout)
	}
	r = runPlugin(t, "", "reload", "by-length", "--http", strings.TrimPrefix(srv.URL, "http://"))
	if r.err != nil || !strings.Contains(r.stdout, "reloaded by-length (wasm "+mod+"); serves partitioner, compaction_filter") {
		t.Errorf("reload: %v %q", r.err, r.stdout)
	}
	r = runPlugin(t, "", "list", "--http", srv.URL, "--json")
	var lr plugins.ListResponse
	if err := json.Unmarshal([]byte(r.stdout), &lr); err != nil || len(lr.Plugins) != 1 || lr.Plugins[0].Reloads != 1 {
		t.Errorf("list --json: %v %s", err, r.stdout)
	}
	if r = runPlugin(t, "", "reload", "nobody", "--http", srv.URL); r.err == nil || !strings.Contains(r.err.Error(), `reload nobody failed: plugins: no such plugin "nobody"`) {
		t.Errorf("reload nobody: %v", r.err)
	}
	if r = runPlugin(t, "", "list", "--http", "127.0.0.1:1"); r.err == nil || !strings.Contains(r.err.Error(), "cannot reach the node's HTTP API at 127.0.0.1:1") {
		t.Errorf("unreachable: %v", r.err)
	}
}

// TestPluginBuildMistakes: build needs a directory holding a main
// package, and shows go build's complaint when it is not one.
func TestPluginBuildMistakes(t *testing.T) {
	if r := runPlugin(t, "", "build", "/nonexistent/dir"); r.err == nil || !strings.Contains(r.err.Error(), "is not a directory") {
		t.Errorf("missing dir: %v", r.err)
	}
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, "go.mod"), []byte("module broken\n\ngo 1.26\n"), 0o644)
	os.WriteFile(filepath.Join(dir, "main.go"), []byte("package main\n\nfunc main() { undefined() }\n"), 0o644)
	r := runPlugin(t, "", "build", dir, "-o", filepath.Join(dir, "x.wasm"))
	if r.err == nil || !strings.Contains(r.err.Error(), "GOOS=wasip1 GOARCH=wasm go build -buildmode=c-shared") || !strings.Contains(r.stderr, "undefined: undefined") {
		t.Errorf("broken package: %v\n%s", r.err, r.stderr)
	}
}
