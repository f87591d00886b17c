package plugins

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/weirmq/weir/assignors"
	"github.com/weirmq/weir/core/config"
	"github.com/weirmq/weir/partitioners"
	"github.com/weirmq/weir/plugins/fallback"
	"github.com/weirmq/weir/plugins/goplugin"
	"github.com/weirmq/weir/plugins/wasm"
	"github.com/weirmq/weir/sdk"
)

// FallbackAssignor is the built-in that answers for a failing plugin
// assignor: "uniform", KIP-848's default, because it is balanced whatever
// the members subscribe to and sticky (a plugin's failure moves as few
// partitions as balance allows), and it suits both KIP-848 groups and
// classic groups assigned by the coordinator.
const FallbackAssignor = "uniform"

// Sources of a plugin: how it runs.
const (
	SourceWASM    = "wasm"    // a WASM module run in-process by wazero
	SourceCommand = "command" // a go-plugin executable run out of process
)

// ErrUnknownPlugin is returned (wrapped) by Set methods given a name no
// [[plugins]] entry has.
var ErrUnknownPlugin = errors.New("no such plugin")

// LoadOptions configure Load.
type LoadOptions struct {
	// CacheDir is the WASM compilation cache (cmd/weir uses
	// <data_dir>/plugin-cache); "" compiles every module at every start.
	CacheDir string
	// Logger receives the plugins' logs and the fallbacks' warnings, with
	// the plugin's name. nil: slog.Default().
	Logger *slog.Logger
	// Metrics, when not nil, gets weir_plugin_calls_total,
	// weir_plugin_breaker_open and the go-plugin process metrics. Load
	// registers them, so give each Load its own registry.
	Metrics prometheus.Registerer
	// FailureThreshold and OpenFor tune every plugin's circuit breaker
	// (fallback.Options); zero takes fallback's defaults (5 failures, 30 s).
	FailureThreshold int
	OpenFor          time.Duration
	// WatchInterval is how often WASM module files are checked for
	// changes, which reload them; 0 means 2 seconds, negative never.
	WatchInterval time.Duration
	// CallTimeout bounds every plugin call; 0 takes each host's default
	// (100 ms for WASM, 1 s for go-plugin).
	CallTimeout time.Duration
	// StartTimeout bounds starting a go-plugin process; 0 takes its
	// default (10 s).
	StartTimeout time.Duration
}

// Set is the plugins Load started: one per [[plugins]] entry, registered
// by name. It is safe for concurrent use. Close stops them.
type Set struct {
	logger *slog.Logger
	mu     sync.RWMutex // guards entries: set by Load, emptied by Close
	// entries are in config order.
	entries []*entry
}

// entry is one loaded plugin.
type entry struct {
	cfg  config.Plugin
	wasm *wasm.Module     // for SourceWASM
	gp   *goplugin.Client // for SourceCommand
	impl any              // the registered, fallback-wrapped implementation

	mu struct {
		sync.Mutex
		loaded    time.Time
		reloads   int
		reloadErr string // the last Reload's error, "" after a success
	}
}

// Info describes one plugin of a Set, as GET /v1/plugins and `weir plugin
// list` show it.
type Info struct {
	Name   string `json:"name"`
	Kind   string `json:"kind"`   // the extension point it is registered for
	Source string `json:"source"` // SourceWASM or SourceCommand
	Path   string `json:"path"`   // the module file or the command
	// Serves lists every extension point the module or binary implements
	// ("partitioner", "compaction_filter", "assignor"); only Kind is used.
	Serves []string `json:"serves"`
	// Breaker is "closed" (calls go to the plugin) or "open" (calls go to
	// the built-in fallback after repeated failures).
	Breaker         string    `json:"breaker"`
	Loaded          time.Time `json:"loaded"` // start, or the last successful reload
	Reloads         int       `json:"reloads"`
	LastReloadError string    `json:"last_reload_error,omitempty"`
}

// Load starts every [[plugins]] entry of cfg — opening its WASM module or
// launching its go-plugin binary —, checks that it implements the kind the
// entry declares, wraps it with plugins/fallback (built-in fallbacks:
// murmur2 for partitioners, keeping every record for compaction filters,
// FallbackAssignor for assignors) and registers it in reg under the
// entry's name. Register the built-ins in reg first, so that a plugin
// named like one is refused.
//
// A plugin that fails to start, does not implement its kind, or whose
// name is taken stops the whole load: Load closes the plugins it started
// and returns an error naming the plugin and the problem. reg may then
// hold some of the plugins and should be discarded. Plugins of kind
// "codec" are refused (see doc.go).
func Load(ctx context.Context, cfg *config.Config, reg *sdk.Registry, opts LoadOptions) (*Set, error) {
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	switch {
	case opts.WatchInterval == 0:
		opts.WatchInterval = 2 * time.Second
	case opts.WatchInterval < 0:
		opts.WatchInterval = 0
	}
	fb := fallback.Options{Logger: opts.Logger, FailureThreshold: opts.FailureThreshold, OpenFor: opts.OpenFor}
	var gpMetrics *goplugin.Metrics
	if opts.Metrics != nil && len(cfg.Plugins) > 0 {
		var err error
		if fb.Metrics, err = fallback.NewMetrics(opts.Metrics); err != nil {
			return nil, fmt.Errorf("plugins: metrics: %w", err)
		}
		if gpMetrics, err = goplugin.NewMetrics(opts.Metrics); err != nil {
			return nil, fmt.Errorf("plugins: metrics: %w", err)
		}
	}
	s := &Set{logger: opts.Logger}
	for i, pc := range cfg.Plugins {
		e, err := open(ctx, pc, opts, gpMetrics)
		if err == nil {
			err = e.register(reg, fb)
			if err != nil {
				e.close(ctx)
			}
		}
		if err != nil {
			cerr := s.Close(ctx)
			return nil, errors.Join(fmt.Errorf("[[plugins]] #%d %q: %w", i+1, pc.Name, err), cerr)
		}
		s.entries = append(s.entries, e)
		opts.Logger.Info("plugin loaded", "plugin", pc.Name, "kind", pc.Kind, "source", e.source(), "path", e.path(), "serves", e.kinds())
	}
	return s, nil
}

// open starts one plugin.
func open(ctx context.Context, pc config.Plugin, opts LoadOptions, gpMetrics *goplugin.Metrics) (*entry, error) {
	e := &entry{cfg: pc}
	switch pc.Kind {
	case config.PluginPartitioner, config.PluginCompactionFilter, config.PluginAssignor:
	case config.PluginCodec:
		return nil, errors.New(`kind = "codec" cannot be loaded yet: a codec stands for one of Kafka's compression ids, which every client must be able to decode, and neither plugin host offers a codec interface; use a built-in codec (compression.type)`)
	default:
		return nil, fmt.Errorf("unknown kind %q", pc.Kind)
	}
	logger := opts.Logger // both hosts add plugin=<name> themselves
	var err error
	switch {
	case pc.WASM != "":
		e.wasm, err = wasm.Open(ctx, wasm.Options{
			Name: pc.Name, Path: pc.WASM, Config: pc.Config, CacheDir: opts.CacheDir,
			CallTimeout: opts.CallTimeout, WatchInterval: opts.WatchInterval, Logger: logger,
		})
		if err != nil {
			return nil, fmt.Errorf("loading WASM module %s: %w", pc.WASM, err)
		}
	case pc.Command != "":
		e.gp, err = goplugin.Open(ctx, goplugin.Options{
			Name: pc.Name, Command: pc.Command, Config: pc.Config,
			StartTimeout: opts.StartTimeout, CallTimeout: opts.CallTimeout, Logger: logger, Metrics: gpMetrics,
		})
		if err != nil {
			return nil, fmt.Errorf("starting go-plugin command %s: %w", pc.Command, err)
		}
	default:
		return nil, errors.New(`needs wasm = "path/to/module.wasm" or command = "path/to/executable"`)
	}
	e.mu.loaded = time.Now()
	return e, nil
}

// register checks that e implements its kind, wraps it and adds it to reg.
func (e *entry) register(reg *sdk.Registry, fb fallback.Options) error {
	name := e.cfg.Name
	missing := func() error {
		return fmt.Errorf("declared kind = %q, but %s %s does not implement it (it serves: %s)",
			e.cfg.Kind, e.source(), e.path(), describeKinds(e.kinds()))
	}
	taken := func(err error) error {
		return fmt.Errorf("%w (the name is taken, by a built-in or another plugin; choose another name)", err)
	}
	switch e.cfg.Kind {
	case config.PluginPartitioner:
		p, ok := e.partitioner()
		if !ok {
			return missing()
		}
		w := fallback.Partitioner(namedPartitioner{p, name}, partitioners.Murmur2(), fb)
		if err := reg.RegisterPartitioner(w); err != nil {
			return taken(err)
		}
		e.impl = w
	case config.PluginCompactionFilter:
		f, ok := e.filter()
		if !ok {
			return missing()
		}
		w := fallback.CompactionFilter(namedFilter{f, name}, fb)
		if err := reg.RegisterCompactionFilter(w); err != nil {
			return taken(err)
		}
		e.impl = w
	case config.PluginAssignor:
		a, ok := e.assignor()
		if !ok {
			return missing()
		}
		w := fallback.Assignor(namedAssignor{a, name}, assignors.NewUniform(), fb)
		if err := reg.RegisterAssignor(w); err != nil {
			return taken(err)
		}
		e.impl = w
	}
	return nil
}

func (e *entry) partitioner() (sdk.Partitioner, bool) {
	if e.wasm != nil {
		return e.wasm.Partitioner()
	}
	return e.gp.Partitioner()
}

func (e *entry) filter() (sdk.CompactionFilter, bool) {
	if e.wasm != nil {
		return e.wasm.CompactionFilter()
	}
	return e.gp.CompactionFilter()
}

func (e *entry) assignor() (sdk.Assignor, bool) {
	if e.wasm != nil {
		return e.wasm.Assignor()
	}
	return e.gp.Assignor()
}

func (e *entry) kinds() []string {
	if e.wasm != nil {
		return e.wasm.Kinds()
	}
	return e.gp.Kinds()
}

func (e *entry) source() string {
	if e.wasm != nil {
		return SourceWASM
	}
	return SourceCommand
}

func (e *entry) path() string {
	if e.wasm != nil {
		return e.cfg.WASM
	}
	return e.cfg.Command
}

func (e *entry) close(ctx context.Context) error {
	if e.wasm != nil {
		return e.wasm.Close(ctx)
	}
	return e.gp.Close()
}

func describeKinds(k []string) string {
	if len(k) == 0 {
		return "nothing"
	}
	return fmt.Sprint(k)
}

func (s *Set) find(name string) (*entry, error) {
	if s != nil {
		s.mu.RLock()
		defer s.mu.RUnlock()
		for _, e := range s.entries {
			if e.cfg.Name == name {
				return e, nil
			}
		}
	}
	return nil, fmt.Errorf("plugins: %w %q", ErrUnknownPlugin, name)
}

// List describes every plugin, in [[plugins]] order. The slice is the
// caller's.
func (s *Set) List() []Info {
	if s == nil {
		return nil
	}
	s.mu.RLock()
	defer s.mu.RUnlock()
	out := make([]Info, 0, len(s.entries))
	for _, e := range s.entries {
		out = append(out, e.info())
	}
	return out
}

func (e *entry) info() Info {
	in := Info{Name: e.cfg.Name, Kind: string(e.cfg.Kind), Source: e.source(), Path: e.path(),
		Serves: e.kinds(), Breaker: "closed"}
	if br, ok := fallback.BreakerOf(e.impl); ok && br.Open() {
		in.Breaker = "open"
	}
	e.mu.Lock()
	in.Loaded, in.Reloads, in.LastReloadError = e.mu.loaded, e.mu.reloads, e.mu.reloadErr
	e.mu.Unlock()
	return in
}

// Reload loads the named plugin again — recompiling its WASM module from
// its file, or restarting its go-plugin process from its command — and
// swaps it in: calls already running finish on the old one, later calls go
// to the new one. The registered implementation stays the same value, so
// topics and groups need no change. The plugin's configuration is the one
// it was started with.
//
// It returns an error wrapping ErrUnknownPlugin for an unknown name, or
// the host's error, in which case the old module or process stays in use;
// or, after a swap, an error saying that the new one no longer implements
// the plugin's kind (its calls then fall back to the built-in). On success
// it returns the plugin's new Info.
func (s *Set) Reload(ctx context.Context, name string) (Info, error) {
	e, err := s.find(name)
	if err != nil {
		return Info{}, err
	}
	if e.wasm != nil {
		err = e.wasm.Reload(ctx)
	} else {
		err = e.gp.Reload(ctx)
	}
	if err == nil && !slices.Contains(e.kinds(), string(e.cfg.Kind)) {
		err = fmt.Errorf("reloaded, but it no longer implements kind %q (it serves: %s); its calls fall back to the built-in",
			e.cfg.Kind, describeKinds(e.kinds()))
	}
	e.mu.Lock()
	if err != nil {
		e.mu.reloadErr = err.Error()
	} else {
		e.mu.reloads++
		e.mu.loaded = time.Now()
		e.mu.reloadErr = ""
	}
	e.mu.Unlock()
	if err != nil {
		s.logger.Warn("plugin reload failed", "plugin", name, "err", err)
		return e.info(), fmt.Errorf("plugins: reloading %q: %w", name, err)
	}
	s.logger.Info("plugin reloaded", "plugin", name, "source", e.source(), "path", e.path())
	return e.info(), nil
}

// PluginSource returns how the named plugin runs (SourceWASM or
// SourceCommand), and false for an unknown name. With PluginModule it
// lets producer.Producer serve a topic's WASM partitioner.
func (s *Set) PluginSource(name string) (string, bool) {
	e, err := s.find(name)
	if err != nil {
		return "", false
	}
	return e.source(), true
}

// PluginModule returns the named WASM plugin's module — the one running
// now, which the broker also uses, so clients place records exactly as it
// checks them — and its configuration. The caller must modify neither. It
// returns an error for an unknown plugin, a go-plugin command, or a closed
// Set.
func (s *Set) PluginModule(name string) ([]byte, map[string]any, error) {
	e, err := s.find(name)
	if err != nil {
		return nil, nil, err
	}
	if e.wasm == nil {
		return nil, nil, fmt.Errorf("plugins: %q is a go-plugin command, not a WASM module", name)
	}
	b, _ := e.wasm.Source()
	if b == nil {
		return nil, nil, fmt.Errorf("plugins: %q is closed", name)
	}
	return b, e.cfg.Config, nil
}

// Close stops every plugin: WASM modules are released, go-plugin
// processes stopped. It returns the errors of those that failed to stop.
// The registered implementations must not be called after.
func (s *Set) Close(ctx context.Context) error {
	if s == nil {
		return nil
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	var errs []error
	for _, e := range s.entries {
		if err := e.close(ctx); err != nil {
			errs = append(errs, fmt.Errorf("plugins: closing %q: %w", e.cfg.Name, err))
		}
	}
	s.entries = nil
	return errors.Join(errs...)
}

// The named* adapters make sure a plugin is registered, and falls back,
// under its [[plugins]] name whatever name its host gives it.

type namedPartitioner struct {
	sdk.Partitioner
	name string
}

func (p namedPartitioner) Name() string { return p.name }

type namedFilter struct {
	sdk.CompactionFilter
	name string
}

func (f namedFilter) Name() string { return f.name }

type namedAssignor struct {
	sdk.Assignor
	name string
}

func (a namedAssignor) Name() string { return a.name }
