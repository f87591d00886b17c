package main

// weir plugin list|reload talk to a node's HTTP admin API; weir plugin
// test runs a plugin file locally; weir plugin build compiles a WASM one.

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/weirmq/weir/partitioners"
	"github.com/weirmq/weir/plugins"
	"github.com/weirmq/weir/plugins/goplugin"
	"github.com/weirmq/weir/plugins/wasm"
	"github.com/weirmq/weir/sdk"
)

const (
	// httpAPIEnv names the environment variable that supplies --http's
	// default.
	httpAPIEnv         = "WEIR_HTTP"
	httpAPIAddrDefault = "127.0.0.1:9094"
)

// httpAPIFlags are the flags of commands that use a node's HTTP API.
type httpAPIFlags struct {
	addr    string
	timeout time.Duration
}

func addHTTPAPIFlags(cmd *cobra.Command, f *httpAPIFlags) {
	def := httpAPIAddrDefault
	if v := strings.TrimSpace(os.Getenv(httpAPIEnv)); v != "" {
		def = v
	}
	pf := cmd.PersistentFlags()
	pf.StringVar(&f.addr, "http", def, "the node's HTTP listener, host:port; $"+httpAPIEnv+" sets the default")
	pf.DurationVar(&f.timeout, "timeout", 30*time.Second, "how long to wait for the node")
}

// url returns the URL of path on the node.
func (f *httpAPIFlags) url(path string) string {
	base := f.addr
	if !strings.Contains(base, "://") {
		base = "http://" + base
	}
	return strings.TrimRight(base, "/") + path
}

// call sends a request to the node and decodes its JSON answer into out
// (for any status). It returns the status, or an error when the node
// cannot be reached or answers something that is not JSON.
func (f *httpAPIFlags) call(ctx context.Context, method, path string, out any) (int, error) {
	ctx, cancel := context.WithTimeout(ctx, f.timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, method, f.url(path), nil)
	if err != nil {
		return 0, err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0, fmt.Errorf("cannot reach the node's HTTP API at %s (set --http): %w", f.addr, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 16<<20))
	if err != nil {
		return resp.StatusCode, fmt.Errorf("reading the answer of %s %s: %w", method, f.url(path), err)
	}
	if err := json.Unmarshal(body, out); err != nil {
		return resp.StatusCode, fmt.Errorf("%s %s answered %s, not JSON: %.200s", method, f.url(path), resp.Status, body)
	}
	return resp.StatusCode, nil
}

func newPluginCommand() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "plugin",
		Short: "List, reload, test and build plugins",
		Long: `Plugins are partitioners, compaction filters and assignors that run as WASM
modules inside the broker or as go-plugin executables beside it, declared in
weir.toml's [[plugins]] tables. See sdk/README.md for writing one.`,
		Args: cobra.ArbitraryArgs,
		RunE: helpOrUnknown,
	}
	cmd.AddCommand(newPluginListCommand(), newPluginReloadCommand(), newPluginTestCommand(), newPluginBuildCommand())
	return cmd
}

func newPluginListCommand() *cobra.Command {
	var (
		hf      httpAPIFlags
		asJSON  bool
		current = time.Now
	)
	cmd := &cobra.Command{
		Use:   "list",
		Short: "List the plugins a node runs, with their circuit breakers",
		Long: `List the node's plugins: name, kind, whether it is a WASM module or a
go-plugin command, its circuit breaker (open: its calls are going to the
built-in fallback after repeated failures), reloads, and its file.`,
		Args: argsOrUsage(cobra.NoArgs),
		RunE: func(cmd *cobra.Command, _ []string) error {
			var lr plugins.ListResponse
			status, err := hf.call(cmd.Context(), http.MethodGet, "/v1/plugins", &lr)
			if err != nil {
				return err
			}
			if status != http.StatusOK {
				return fmt.Errorf("GET /v1/plugins: status %d", status)
			}
			if asJSON {
				enc := json.NewEncoder(cmd.OutOrStdout())
				enc.SetIndent("", "  ")
				return enc.Encode(lr)
			}
			return writePluginList(cmd.OutOrStdout(), lr.Plugins, current())
		},
	}
	addHTTPAPIFlags(cmd, &hf)
	cmd.Flags().BoolVar(&asJSON, "json", false, "print the node's JSON answer")
	return cmd
}

// writePluginList prints plugins as a table.
func writePluginList(w io.Writer, list []plugins.Info, now time.Time) error {
	if len(list) == 0 {
		_, err := fmt.Fprintln(w, "no plugins: declare them in weir.toml's [[plugins]] tables")
		return err
	}
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "NAME\tKIND\tSOURCE\tBREAKER\tRELOADS\tLOADED\tPATH")
	for _, p := range list {
		reloads := fmt.Sprint(p.Reloads)
		if p.LastReloadError != "" {
			reloads += " (last failed)"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s ago\t%s\n", p.Name, p.Kind, p.Source, p.Breaker, reloads,
			now.Sub(p.Loaded).Round(time.Second), p.Path)
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	for _, p := range list {
		if p.LastReloadError != "" {
			fmt.Fprintf(w, "%s: last reload failed: %s\n", p.Name, p.LastReloadError)
		}
	}
	return nil
}

func newPluginReloadCommand() *cobra.Command {
	var hf httpAPIFlags
	cmd := &cobra.Command{
		Use:   "reload NAME",
		Short: "Load a plugin's module or binary again, without restarting the node",
		Long: `Reload a plugin: a WASM module is compiled again from its file, a go-plugin
process restarted from its command. Calls in flight finish on the old one;
if the new one does not load, the old one stays and the error is shown.
(WASM files are also reloaded when they change on disk.)`,
		Args: argsOrUsage(cobra.ExactArgs(1)),
		RunE: func(cmd *cobra.Command, args []string) error {
			var rr plugins.ReloadResponse
			status, err := hf.call(cmd.Context(), http.MethodPost, "/v1/plugins/"+args[0]+"/reload", &rr)
			if err != nil {
				return err
			}
			if status != http.StatusOK {
				return fmt.Errorf("reload %s failed: %s", args[0], rr.Error)
			}
			fmt.Fprintf(cmd.OutOrStdout(), "reloaded %s (%s %s); serves %s\n", rr.Plugin.Name, rr.Plugin.Source, rr.Plugin.Path, strings.Join(rr.Plugin.Serves, ", "))
			return nil
		},
	}
	addHTTPAPIFlags(cmd, &hf)
	return cmd
}

func newPluginBuildCommand() *cobra.Command {
	var out, goBin string
	cmd := &cobra.Command{
		Use:   "build DIR [-o FILE.wasm] [-- GO BUILD FLAGS...]",
		Short: "Build a WASM plugin written in Go",
		Long: `Build the Go main package in DIR as a WASM plugin, running
  GOOS=wasip1 GOARCH=wasm go build -buildmode=c-shared -o FILE.wasm
in DIR (so DIR's go.mod applies). FILE defaults to DIR's name with .wasm, in
the current directory. Flags after -- go to go build.`,
		Example: `  weir plugin build ./tenant-partitioner -o tenant.wasm
  weir plugin build . -o p.wasm -- -trimpath`,
		Args: argsOrUsage(cobra.MinimumNArgs(1)),
		RunE: func(cmd *cobra.Command, args []string) error {
			dir := args[0]
			extra := args[1:]
			if n := cmd.ArgsLenAtDash(); n >= 0 && n != 1 {
				return usageError(cmd, "build takes one DIR before --, got %d", n)
			} else if n < 0 && len(args) > 1 {
				return usageError(cmd, "build takes one DIR (put go build flags after --)")
			}
			return buildWASM(cmd.Context(), cmd.OutOrStdout(), cmd.ErrOrStderr(), goBin, dir, out, extra)
		},
	}
	cmd.Flags().StringVarP(&out, "output", "o", "", "the module file to write (default DIR's name + .wasm)")
	cmd.Flags().StringVar(&goBin, "go", "go", "the go command to build with")
	return cmd
}

// buildWASM runs the wasip1 build of dir into out.
func buildWASM(ctx context.Context, stdout, stderr io.Writer, goBin, dir, out string, extra []string) error {
	abs, err := filepath.Abs(dir)
	if err != nil {
		return err
	}
	if st, err := os.Stat(abs); err != nil || !st.IsDir() {
		return fmt.Errorf("%s is not a directory with a Go main package", dir)
	}
	if out == "" {
		out = filepath.Base(abs) + ".wasm"
	}
	if out, err = filepath.Abs(out); err != nil {
		return err
	}
	args := append([]string{"build", "-buildmode=c-shared", "-o", out}, extra...)
	args = append(args, ".")
	c := exec.CommandContext(ctx, goBin, args...)
	c.Dir = abs
	c.Env = append(os.Environ(), "GOOS=wasip1", "GOARCH=wasm")
	c.Stdout, c.Stderr = stderr, stderr
	if err := c.Run(); err != nil {
		return fmt.Errorf("GOOS=wasip1 GOARCH=wasm %s %s (in %s): %w", goBin, strings.Join(args, " "), abs, err)
	}
	st, err := os.Stat(out)
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "built %s (%d bytes); try it with: weir plugin test --wasm %s\n", out, st.Size(), out)
	return nil
}

// pluginTestFlags are the flags of weir plugin test.
type pluginTestFlags struct {
	wasmFile, command string
	kind              string
	config            string
	topic             string
	partitions        int32
	keys              []string
	nullKeys          int
	keysFile          string
	input             string
	nowMs             int64
	asJSON            bool
	cacheDir          string
}

func newPluginTestCommand() *cobra.Command {
	var f pluginTestFlags
	cmd := &cobra.Command{
		Use:   "test (--wasm FILE | --command FILE) [--kind KIND] [input flags]",
		Short: "Run a plugin file on sample input and print what it decided",
		Long: `Load a plugin locally — a WASM module (--wasm) or a go-plugin executable
(--command) — as the broker would, run it once on sample input, and print its
decisions. No broker is needed. --kind picks the extension point when the
plugin serves several.

Partitioners: keys from --key (repeatable), --null-keys N (records without a
key) or --keys-file (one key per line), placed over --partitions partitions
of --topic.

Assignors: --input FILE, a JSON group:
  {"members": [{"member_id": "m1", "instance_id": "pin-a", "rack": "",
                "topics": ["orders"], "owned": {"orders": [0]}}],
   "topics": {"orders": {"partitions": 6}}}

Compaction filters: --input FILE, JSON records:
  [{"offset": 0, "timestamp": 1700000000000, "key": "k", "value": "v",
    "headers": {"ttl": "1700000001000"}}]
with --now (ms since the epoch) as the cleaner's clock.

--config passes the plugin's [plugins.config] as a JSON object. The exit
status is 1 if the plugin fails; a plugin that declines says so.`,
		Example: `  weir plugin test --wasm tenant.wasm --partitions 6 --key acme/1 --key globex/7 --null-keys 1
  weir plugin test --command ./pinning --kind assignor --input group.json --config '{"pins":{"pin-a":[0,1]}}'
  weir plugin test --wasm ttl.wasm --input records.json --now 1700000000500`,
		Args: argsOrUsage(cobra.NoArgs),
		RunE: func(cmd *cobra.Command, _ []string) error {
			return runPluginTest(cmd, &f)
		},
	}
	fl := cmd.Flags()
	fl.StringVar(&f.wasmFile, "wasm", "", "the WASM module to test")
	fl.StringVar(&f.command, "command", "", "the go-plugin executable to test")
	fl.StringVar(&f.kind, "kind", "", "partitioner, assignor or compaction_filter (default: what the plugin serves, if just one)")
	fl.StringVar(&f.config, "config", "", "the plugin's configuration, a JSON object")
	fl.StringVar(&f.topic, "topic", "test", "partitioners and filters: the topic name the plugin is told")
	fl.Int32Var(&f.partitions, "partitions", 6, "partitioners: the topic's partition count")
	fl.StringArrayVar(&f.keys, "key", nil, "partitioners: a record key (repeatable)")
	fl.IntVar(&f.nullKeys, "null-keys", 0, "partitioners: this many records without a key, after the others")
	fl.StringVar(&f.keysFile, "keys-file", "", "partitioners: a file of keys, one per line")
	fl.StringVar(&f.input, "input", "", "assignors and filters: the JSON input file (- for stdin)")
	fl.Int64Var(&f.nowMs, "now", 0, "filters: the cleaner's clock, ms since the epoch (default: now)")
	fl.BoolVar(&f.asJSON, "json", false, "print the decisions as JSON")
	fl.StringVar(&f.cacheDir, "cache-dir", defaultPluginCache(), "the WASM compilation cache (\"\" for none): a module tested again loads in a fraction of the time")
	return cmd
}

// defaultPluginCache is where the client commands keep compiled WASM
// modules: the user's cache directory, or "" (none) without one.
func defaultPluginCache() string {
	dir, err := os.UserCacheDir()
	if err != nil {
		return ""
	}
	return filepath.Join(dir, "weir", "plugin-cache")
}

// testedPlugin is a plugin opened by weir plugin test.
type testedPlugin struct {
	kinds  []string
	part   func() (sdk.Partitioner, bool)
	filter func() (sdk.CompactionFilter, bool)
	assign func() (sdk.Assignor, bool)
	close  func() error
}

func runPluginTest(cmd *cobra.Command, f *pluginTestFlags) error {
	if (f.wasmFile == "") == (f.command == "") {
		return usageError(cmd, "give one of --wasm FILE and --command FILE")
	}
	var cfg map[string]any
	if f.config != "" {
		if err := json.Unmarshal([]byte(f.config), &cfg); err != nil {
			return usageError(cmd, "--config must be a JSON object: %v", err)
		}
	}
	ctx, cancel := context.WithTimeout(cmd.Context(), 2*time.Minute)
	defer cancel()
	logger := newStderrLogger(cmd.ErrOrStderr())
	var tp testedPlugin
	if f.wasmFile != "" {
		m, err := wasm.Open(ctx, wasm.Options{Name: filepath.Base(f.wasmFile), Path: f.wasmFile, Config: cfg, Logger: logger,
			CacheDir: f.cacheDir, PoolSize: 1, CallTimeout: 5 * time.Second})
		if err != nil {
			return fmt.Errorf("loading %s: %w", f.wasmFile, err)
		}
		tp = testedPlugin{kinds: m.Kinds(), part: m.Partitioner, filter: m.CompactionFilter, assign: m.Assignor,
			close: func() error { return m.Close(context.Background()) }}
	} else {
		c, err := goplugin.Open(ctx, goplugin.Options{Name: filepath.Base(f.command), Command: f.command, Config: cfg, Logger: logger, CallTimeout: 30 * time.Second})
		if err != nil {
			return fmt.Errorf("starting %s: %w", f.command, err)
		}
		tp = testedPlugin{kinds: c.Kinds(), part: c.Partitioner, filter: c.CompactionFilter, assign: c.Assignor, close: c.Close}
	}
	defer tp.close()
	kind := f.kind
	if kind == "" {
		if len(tp.kinds) != 1 {
			return usageError(cmd, "the plugin serves %s: pick one with --kind", strings.Join(tp.kinds, ", "))
		}
		kind = tp.kinds[0]
	}
	if !slices.Contains(tp.kinds, kind) {
		return fmt.Errorf("the plugin does not implement %q (it serves: %s)", kind, strings.Join(tp.kinds, ", "))
	}
	w := cmd.OutOrStdout()
	switch kind {
	case "partitioner":
		p, _ := tp.part()
		return testPartitioner(ctx, cmd, w, f, p)
	case "compaction_filter":
		flt, _ := tp.filter()
		return testFilter(ctx, cmd, w, f, flt)
	case "assignor":
		a, _ := tp.assign()
		return testAssignor(ctx, cmd, w, f, a)
	}
	return usageError(cmd, "--kind must be partitioner, assignor or compaction_filter, got %q", kind)
}

func testPartitioner(ctx context.Context, cmd *cobra.Command, w io.Writer, f *pluginTestFlags, p sdk.Partitioner) error {
	var keys [][]byte
	for _, k := range f.keys {
		keys = append(keys, []byte(k))
	}
	if f.keysFile != "" {
		data, err := os.ReadFile(f.keysFile)
		if err != nil {
			return err
		}
		for line := range strings.Lines(string(data)) {
			keys = append(keys, []byte(strings.TrimRight(line, "\r\n")))
		}
	}
	for range f.nullKeys {
		keys = append(keys, nil)
	}
	if len(keys) == 0 {
		return usageError(cmd, "give keys with --key, --null-keys or --keys-file")
	}
	if f.partitions < 1 {
		return usageError(cmd, "--partitions must be at least 1, got %d", f.partitions)
	}
	in := sdk.PartitionInput{Topic: f.topic, NumPartitions: f.partitions, Keys: keys}
	out := make([]int32, len(keys))
	err := p.Partition(ctx, in, out)
	declined := errors.Is(err, sdk.ErrDecline)
	switch {
	case declined:
		if err := partitioners.Murmur2().Partition(ctx, in, out); err != nil {
			return err
		}
	case err != nil:
		return fmt.Errorf("the partitioner failed (the broker would fall back to murmur2): %w", err)
	}
	if err := sdk.CheckPartitions(in, out); err != nil {
		return fmt.Errorf("the partitioner's answer is invalid (the broker would fall back to murmur2): %w", err)
	}
	if f.asJSON {
		type row struct {
			Key       *string `json:"key"`
			Partition int32   `json:"partition"`
		}
		rows := make([]row, len(keys))
		for i, k := range keys {
			rows[i].Partition = out[i]
			if k != nil {
				s := string(k)
				rows[i].Key = &s
			}
		}
		return json.NewEncoder(w).Encode(map[string]any{"declined": declined, "placements": rows})
	}
	if declined {
		fmt.Fprintln(w, "the plugin declined this batch: the broker places it with murmur2, as below")
	}
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintf(tw, "KEY\tPARTITION (of %d)\n", f.partitions)
	for i, k := range keys {
		fmt.Fprintf(tw, "%s\t%d\n", showTestKey(k), out[i])
	}
	return tw.Flush()
}

func showTestKey(k []byte) string {
	if k == nil {
		return "(no key)"
	}
	return fmt.Sprintf("%q", k)
}

// readInput reads --input (or stdin for "-").
func readInput(cmd *cobra.Command, f *pluginTestFlags) ([]byte, error) {
	switch f.input {
	case "":
		return nil, usageError(cmd, "give the sample input with --input FILE")
	case "-":
		return io.ReadAll(cmd.InOrStdin())
	}
	return os.ReadFile(f.input)
}

// testRecord is one record of a filter's --input.
type testRecord struct {
	Offset    int64              `json:"offset"`
	Timestamp int64              `json:"timestamp"`
	Key       *string            `json:"key"`
	Value     *string            `json:"value"`
	Headers   map[string]*string `json:"headers"`
}

func testFilter(ctx context.Context, cmd *cobra.Command, w io.Writer, f *pluginTestFlags, flt sdk.CompactionFilter) error {
	data, err := readInput(cmd, f)
	if err != nil {
		return err
	}
	var recs []testRecord
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&recs); err != nil {
		return fmt.Errorf("--input: want a JSON array of records: %w", err)
	}
	now := f.nowMs
	if now == 0 {
		now = time.Now().UnixMilli()
	}
	in := sdk.FilterInput{Topic: f.topic, NowMs: now}
	for _, r := range recs {
		sr := sdk.Record{Offset: r.Offset, TimestampMs: r.Timestamp}
		if r.Key != nil {
			sr.Key = []byte(*r.Key)
		}
		if r.Value != nil {
			sr.Value = []byte(*r.Value)
		}
		names := make([]string, 0, len(r.Headers))
		for k := range r.Headers {
			names = append(names, k)
		}
		slices.Sort(names)
		for _, k := range names {
			h := sdk.Header{Key: k}
			if v := r.Headers[k]; v != nil {
				h.Value = []byte(*v)
			}
			sr.Headers = append(sr.Headers, h)
		}
		in.Records = append(in.Records, sr)
	}
	out := make([]sdk.FilterDecision, len(in.Records))
	err = flt.Filter(ctx, in, out)
	declined := errors.Is(err, sdk.ErrDecline)
	switch {
	case declined:
		clear(out)
	case err != nil:
		return fmt.Errorf("the filter failed (the cleaner would keep every record of the chunk): %w", err)
	}
	names := map[sdk.FilterAction]string{sdk.Keep: "keep", sdk.Drop: "drop", sdk.Rewrite: "rewrite"}
	for i, d := range out {
		if _, ok := names[d.Action]; !ok {
			return fmt.Errorf("the filter gave record %d the unknown action %d (the cleaner would keep every record of the chunk)", i, d.Action)
		}
	}
	if f.asJSON {
		type row struct {
			Offset int64   `json:"offset"`
			Action string  `json:"action"`
			Value  *string `json:"value,omitempty"`
		}
		rows := make([]row, len(out))
		for i, d := range out {
			rows[i] = row{Offset: in.Records[i].Offset, Action: names[d.Action]}
			if d.Action == sdk.Rewrite && d.Value != nil {
				s := string(d.Value)
				rows[i].Value = &s
			}
		}
		return json.NewEncoder(w).Encode(map[string]any{"declined": declined, "decisions": rows})
	}
	if declined {
		fmt.Fprintln(w, "the filter declined this chunk: the cleaner keeps every record, as Kafka would")
	}
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "OFFSET\tKEY\tACTION")
	for i, d := range out {
		action := names[d.Action]
		if d.Action == sdk.Rewrite {
			action += fmt.Sprintf(" → value %s, %d headers", showTestValue(d.Value), len(d.Headers))
		}
		fmt.Fprintf(tw, "%d\t%s\t%s\n", in.Records[i].Offset, showTestKey(in.Records[i].Key), action)
	}
	return tw.Flush()
}

func showTestValue(v []byte) string {
	if v == nil {
		return "null"
	}
	return fmt.Sprintf("%q", v)
}

// testGroup is an assignor's --input.
type testGroup struct {
	Members []struct {
		MemberID   string             `json:"member_id"`
		InstanceID string             `json:"instance_id"`
		Rack       string             `json:"rack"`
		Topics     []string           `json:"topics"`
		Owned      map[string][]int32 `json:"owned"`
	} `json:"members"`
	Topics map[string]struct {
		Partitions int32 `json:"partitions"`
	} `json:"topics"`
}

func testAssignor(ctx context.Context, cmd *cobra.Command, w io.Writer, f *pluginTestFlags, a sdk.Assignor) error {
	data, err := readInput(cmd, f)
	if err != nil {
		return err
	}
	var g testGroup
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&g); err != nil {
		return fmt.Errorf("--input: want a JSON group {\"members\": [...], \"topics\": {...}}: %w", err)
	}
	in := sdk.AssignInput{Topics: map[string]sdk.TopicMetadata{}}
	for _, m := range g.Members {
		in.Members = append(in.Members, sdk.GroupMember{MemberID: m.MemberID, InstanceID: m.InstanceID, Rack: m.Rack,
			Topics: m.Topics, Owned: m.Owned})
	}
	for name, t := range g.Topics {
		in.Topics[name] = sdk.TopicMetadata{Partitions: t.Partitions}
	}
	if err := in.Validate(); err != nil {
		return fmt.Errorf("--input: %w", err)
	}
	res, err := a.Assign(ctx, in)
	if err != nil {
		return fmt.Errorf("the assignor failed (the coordinator would fall back to %q): %w", plugins.FallbackAssignor, err)
	}
	if err := res.Check(in); err != nil {
		return fmt.Errorf("the assignor's answer is invalid (the coordinator would fall back to %q): %w", plugins.FallbackAssignor, err)
	}
	if f.asJSON {
		return json.NewEncoder(w).Encode(res)
	}
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "MEMBER\tINSTANCE\tTOPIC\tPARTITIONS")
	for _, m := range in.Members {
		tps := res[m.MemberID]
		if len(tps) == 0 {
			fmt.Fprintf(tw, "%s\t%s\t-\t-\n", m.MemberID, orDash(m.InstanceID))
			continue
		}
		for _, topic := range slices.Sorted(maps.Keys(tps)) {
			fmt.Fprintf(tw, "%s\t%s\t%s\t%v\n", m.MemberID, orDash(m.InstanceID), topic, tps[topic])
		}
	}
	return tw.Flush()
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

// newStderrLogger shows a tested plugin's log lines.
func newStderrLogger(w io.Writer) *slog.Logger {
	return slog.New(slog.NewTextHandler(w, &slog.HandlerOptions{Level: slog.LevelDebug}))
}
