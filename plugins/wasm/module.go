package wasm

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"runtime"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/tetratelabs/wazero"
	"github.com/tetratelabs/wazero/api"
	"github.com/tetratelabs/wazero/imports/wasi_snapshot_preview1"

	"github.com/weirmq/weir/sdk"
	"github.com/weirmq/weir/sdk/wasm/abi"
)

// Defaults for zero Options fields.
const (
	DefaultMaxMemoryPages = 256 // 16 MiB per instance
	DefaultCallTimeout    = 100 * time.Millisecond
	// startTimeout bounds starting an instance: the guest runtime's
	// initialisation, the ABI version check and weir_configure.
	startTimeout = 10 * time.Second
)

// The extension-point names Kinds returns, as the registry and the
// fallback metrics spell them.
const (
	KindPartitioner      = "partitioner"
	KindCompactionFilter = "compaction_filter"
	KindAssignor         = "assignor"
)

// terminationChecksForTesting is always true outside benchmarks: it makes
// wazero compile a check into every loop iteration so that a call can be
// stopped at its deadline. BenchmarkPartitioner turns it off for one
// sub-benchmark to show what the checks cost; a module opened without them
// cannot be stopped.
var terminationChecksForTesting = true

// Options configures a WASM plugin.
type Options struct {
	Name           string         // the [[plugins]] name, used in logs and errors
	Path           string         // the .wasm file
	Config         map[string]any // [plugins.config], handed to the guest at start (JSON)
	CacheDir       string         // on-disk compilation cache; "" for none
	MaxMemoryPages uint32         // per instance; 0: DefaultMaxMemoryPages (16 MiB)
	CallTimeout    time.Duration  // per call; 0: DefaultCallTimeout
	PoolSize       int            // instances; 0: GOMAXPROCS
	WatchInterval  time.Duration  // >0: poll Path and reload when it changes
	Logger         *slog.Logger   // nil: slog.Default()
}

// Module is a loaded WASM plugin: a compiled module and a pool of its
// instances, swapped as a whole by Reload. It is safe for concurrent use.
// Create it with Open or OpenBytes; Close releases it.
type Module struct {
	opts   Options
	logger *slog.Logger
	config []byte // Options.Config as JSON; nil when empty

	rt      wazero.Runtime
	cache   wazero.CompilationCache // nil without Options.CacheDir; closed after rt
	modCfg  wazero.ModuleConfig
	limiter *logLimiter // the guest's weir.log calls and output
	hostLog *logLimiter // the host's messages about the plugin

	gen atomic.Pointer[generation] // nil once closed

	reloadMu sync.Mutex // serialises Reload, the watcher's reloads and Close
	closed   bool       // guarded by reloadMu
	wasm     []byte     // OpenBytes' module, reused by Reload; guarded by reloadMu

	stopWatch chan struct{}
	watchDone chan struct{}

	// instancesStarted counts instances started over the Module's life
	// (tests use it to see that a failed instance was replaced).
	instancesStarted atomic.Int64
}

// Open loads the module at opts.Path: it compiles it (reusing
// opts.CacheDir), checks its exports and imports, starts one instance,
// checks weir_abi_version and hands it opts.Config. It returns an error
// wrapping ErrBadModule, naming the plugin and the problem, when the
// module cannot be used, and a plain error for bad Options or an
// unreadable file. With opts.WatchInterval > 0 it also starts a goroutine
// that reloads the module when the file changes; Close stops it.
func Open(ctx context.Context, opts Options) (*Module, error) {
	if opts.Name == "" {
		return nil, errors.New("wasm plugin: empty name")
	}
	if opts.Path == "" {
		return nil, fmt.Errorf("wasm plugin %q: no module path", opts.Name)
	}
	st, _ := os.Stat(opts.Path) // before reading: a change in between is seen by the watcher
	wasm, err := os.ReadFile(opts.Path)
	if err != nil {
		return nil, fmt.Errorf("wasm plugin %q: %w", opts.Name, err)
	}
	m, err := newModule(ctx, opts, nil, wasm)
	if err != nil {
		return nil, err
	}
	if opts.WatchInterval > 0 {
		m.stopWatch = make(chan struct{})
		m.watchDone = make(chan struct{})
		go m.watch(st)
	}
	return m, nil
}

// OpenBytes is Open for a module held in memory (fetched over HTTP, say);
// opts.Path and opts.WatchInterval are ignored, and Reload restarts the
// same module's instances. OpenBytes does not keep wasm after it returns
// (it keeps a copy).
func OpenBytes(ctx context.Context, wasm []byte, opts Options) (*Module, error) {
	opts.Path, opts.WatchInterval = "", 0
	return newModule(ctx, opts, slices.Clone(wasm), wasm)
}

func newModule(ctx context.Context, opts Options, keep, wasm []byte) (*Module, error) {
	if opts.Name == "" {
		return nil, errors.New("wasm plugin: empty name")
	}
	if opts.MaxMemoryPages == 0 {
		opts.MaxMemoryPages = DefaultMaxMemoryPages
	}
	if opts.MaxMemoryPages > 65536 {
		return nil, fmt.Errorf("wasm plugin %q: max memory pages %d exceeds the 65536 (4 GiB) a 32-bit module can address", opts.Name, opts.MaxMemoryPages)
	}
	if opts.CallTimeout <= 0 {
		opts.CallTimeout = DefaultCallTimeout
	}
	if opts.PoolSize <= 0 {
		opts.PoolSize = runtime.GOMAXPROCS(0)
	}
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	m := &Module{opts: opts, wasm: keep, logger: opts.Logger.With("plugin", opts.Name)}
	m.limiter = newLogLimiter(m.logger, guestLogRate, guestLogBurst)
	m.hostLog = newLogLimiter(m.logger, 1, 5)
	if len(opts.Config) > 0 {
		b, err := json.Marshal(opts.Config)
		if err != nil {
			return nil, fmt.Errorf("wasm plugin %q: config cannot be encoded as JSON: %w", opts.Name, err)
		}
		m.config = b
	}

	// NewRuntimeConfig picks the compiler where wazero has one (amd64,
	// arm64) and the interpreter elsewhere.
	rc := wazero.NewRuntimeConfig().
		WithMemoryLimitPages(opts.MaxMemoryPages).
		WithCloseOnContextDone(terminationChecksForTesting)
	if opts.CacheDir != "" {
		cache, err := wazero.NewCompilationCacheWithDir(opts.CacheDir)
		if err != nil {
			return nil, fmt.Errorf("wasm plugin %q: compilation cache %s: %w", opts.Name, opts.CacheDir, err)
		}
		rc = rc.WithCompilationCache(cache)
		m.cache = cache
	}
	m.rt = wazero.NewRuntimeWithConfig(ctx, rc)
	fail := func(err error) (*Module, error) {
		_ = m.closeRuntime(context.WithoutCancel(ctx))
		return nil, err
	}
	if _, err := wasi_snapshot_preview1.Instantiate(ctx, m.rt); err != nil {
		return fail(fmt.Errorf("wasm plugin %q: WASI: %w", opts.Name, err))
	}
	if err := m.instantiateHostModule(ctx); err != nil {
		return fail(fmt.Errorf("wasm plugin %q: host module: %w", opts.Name, err))
	}
	// No file system, environment or network; arguments are the name
	// only. Clocks and randomness are real: Go's wasip1 runtime needs them.
	m.modCfg = wazero.NewModuleConfig().
		WithName("").
		WithStartFunctions(abi.ExportInitialize).
		WithArgs(opts.Name).
		WithSysWalltime().WithSysNanotime().WithSysNanosleep().
		WithRandSource(rand.Reader)

	g, err := m.load(ctx, wasm)
	if err != nil {
		return fail(err)
	}
	m.gen.Store(g)
	m.logger.Debug("wasm plugin loaded", "kinds", g.kinds(), "pool_size", opts.PoolSize,
		"max_memory_pages", opts.MaxMemoryPages, "call_timeout", opts.CallTimeout)
	return m, nil
}

// Kinds returns the extension points the current module implements, in
// the order partitioner, compaction_filter, assignor. The caller owns the
// slice. It returns nil after Close.
func (m *Module) Kinds() []string {
	g := m.gen.Load()
	if g == nil {
		return nil
	}
	return g.kinds()
}

// Partitioner returns the module's partitioner, named Options.Name, and
// whether the module exports weir_partition. The partitioner stays valid
// across Reload; if a reloaded module drops the hook, its calls fail with
// ErrNoHook.
func (m *Module) Partitioner() (sdk.Partitioner, bool) {
	g := m.gen.Load()
	if g == nil || !g.exports.partition {
		return nil, false
	}
	return &partitioner{m: m}, true
}

// CompactionFilter returns the module's compaction filter, named
// Options.Name, and whether the module exports weir_filter. It stays valid
// across Reload.
func (m *Module) CompactionFilter() (sdk.CompactionFilter, bool) {
	g := m.gen.Load()
	if g == nil || !g.exports.filter {
		return nil, false
	}
	return &filter{m: m}, true
}

// Assignor returns the module's assignor, named Options.Name, and whether
// the module exports weir_assign. It stays valid across Reload.
func (m *Module) Assignor() (sdk.Assignor, bool) {
	g := m.gen.Load()
	if g == nil || !g.exports.assign {
		return nil, false
	}
	return &assignor{m: m}, true
}

// Reload reads the module again from Options.Path (or reuses OpenBytes'
// module), compiles it, starts an instance and checks it as Open does,
// then swaps it in: new calls go to it, calls already running finish on
// the old module, which is closed when its last instance comes back. On
// error (wrapping ErrBadModule for an unusable module, ErrClosed after
// Close) the old module stays in use. Safe for concurrent use.
func (m *Module) Reload(ctx context.Context) error {
	m.reloadMu.Lock()
	defer m.reloadMu.Unlock()
	if m.closed {
		return fmt.Errorf("wasm plugin %q: reload: %w", m.opts.Name, ErrClosed)
	}
	wasm := m.wasm
	if wasm == nil {
		b, err := os.ReadFile(m.opts.Path)
		if err != nil {
			return fmt.Errorf("wasm plugin %q: reload: %w", m.opts.Name, err)
		}
		wasm = b
	}
	return m.swap(ctx, wasm)
}

// swap loads wasm and makes it current. The caller holds reloadMu.
func (m *Module) swap(ctx context.Context, wasm []byte) error {
	g, err := m.load(ctx, wasm)
	if err != nil {
		return err
	}
	old := m.gen.Swap(g)
	old.retire()
	m.logger.Info("wasm plugin reloaded", "kinds", g.kinds())
	return nil
}

// Close stops the file watcher, stops taking calls (they fail with
// ErrClosed), waits until calls already running finish or ctx ends, and
// releases the runtime — which ends any call still running. It returns
// ctx.Err() if it stopped waiting early. Calling Close again returns nil.
func (m *Module) Close(ctx context.Context) error {
	m.reloadMu.Lock()
	if m.closed {
		m.reloadMu.Unlock()
		return nil
	}
	m.closed = true
	m.reloadMu.Unlock()
	if m.stopWatch != nil {
		close(m.stopWatch)
		<-m.watchDone
	}
	var err error
	if g := m.gen.Swap(nil); g != nil {
		g.retire()
		select {
		case <-g.done:
		case <-ctx.Done():
			err = ctx.Err()
		}
	}
	if cerr := m.closeRuntime(context.WithoutCancel(ctx)); err == nil && cerr != nil {
		err = fmt.Errorf("wasm plugin %q: close: %w", m.opts.Name, cerr)
	}
	return err
}

// Source returns the bytes of the module that runs now — after a reload,
// the new one — and their SHA-256; nil once the Module is closed. The
// caller must not modify the bytes. Safe for concurrent use.
func (m *Module) Source() ([]byte, [32]byte) {
	g := m.gen.Load()
	if g == nil {
		return nil, [32]byte{}
	}
	return g.source, g.sum
}

// closeRuntime closes the runtime and then the compilation cache, which
// owns the compiler engine when there is one (wazero leaves it open for
// the cache's other users; a Module's cache has none).
func (m *Module) closeRuntime(ctx context.Context) error {
	err := m.rt.Close(ctx)
	if m.cache != nil {
		err = errors.Join(err, m.cache.Close(ctx))
	}
	return err
}

// watch polls Options.Path every WatchInterval and swaps in the module
// when its contents change. A module that fails to load is logged and
// skipped until the file changes again. It runs until Close.
func (m *Module) watch(last os.FileInfo) {
	defer close(m.watchDone)
	t := time.NewTicker(m.opts.WatchInterval)
	defer t.Stop()
	failed := [32]byte{}
	for {
		select {
		case <-m.stopWatch:
			return
		case <-t.C:
		}
		st, err := os.Stat(m.opts.Path)
		if err != nil {
			continue // being replaced, perhaps; the old module stays
		}
		if last != nil && st.ModTime().Equal(last.ModTime()) && st.Size() == last.Size() {
			continue
		}
		wasm, err := os.ReadFile(m.opts.Path)
		if err != nil {
			continue
		}
		last = st
		sum := sha256.Sum256(wasm)
		if sum == failed {
			continue
		}
		m.reloadMu.Lock()
		if m.closed {
			m.reloadMu.Unlock()
			return
		}
		if g := m.gen.Load(); g != nil && g.sum == sum { // Reload got there first
			m.reloadMu.Unlock()
			continue
		}
		ctx, cancel := context.WithTimeout(context.Background(), startTimeout)
		err = m.swap(ctx, wasm)
		cancel()
		m.reloadMu.Unlock()
		if err != nil {
			failed = sum
			m.logger.Error("wasm plugin file changed but the new module cannot be used; keeping the old one", "path", m.opts.Path, "err", err)
		}
	}
}

// exports records which optional functions a module exports.
type exports struct {
	configure, partition, filter, assign bool
}

// load compiles wasm, checks its exports and imports, and starts the
// generation's first instance. Errors wrap ErrBadModule.
func (m *Module) load(ctx context.Context, wasm []byte) (*generation, error) {
	bad := func(format string, args ...any) error {
		return fmt.Errorf("wasm plugin %q: %w: %s", m.opts.Name, ErrBadModule, fmt.Sprintf(format, args...))
	}
	compiled, err := m.rt.CompileModule(ctx, wasm)
	if err != nil {
		return nil, bad("compile: %v", err)
	}
	ex, err := checkModule(compiled, m.config != nil)
	if err != nil {
		_ = compiled.Close(ctx)
		return nil, bad("%v", err)
	}
	g := newGeneration(m, compiled, ex)
	g.sum, g.source = sha256.Sum256(wasm), wasm
	sctx, cancel := context.WithTimeout(ctx, startTimeout)
	defer cancel()
	inst, err := g.start(sctx)
	if err != nil {
		_ = compiled.Close(ctx)
		return nil, bad("%v", err)
	}
	g.slots <- inst
	for range m.opts.PoolSize - 1 {
		g.slots <- nil // started on first use
	}
	return g, nil
}

// checkModule checks a compiled module's exports and imports against the
// ABI.
func checkModule(c wazero.CompiledModule, configured bool) (exports, error) {
	fns := c.ExportedFunctions()
	i32 := api.ValueTypeI32
	sig := func(name string, params, results []api.ValueType, required bool) (bool, error) {
		d, ok := fns[name]
		if !ok {
			if required {
				return false, fmt.Errorf("it does not export %s (is it built with the sdk/wasm helpers, or does it follow sdk/wasm/ABI.md?)", name)
			}
			return false, nil
		}
		if !slices.Equal(d.ParamTypes(), params) || !slices.Equal(d.ResultTypes(), results) {
			return false, fmt.Errorf("its %s has the signature %s -> %s; the ABI wants %s -> %s", name,
				typeNames(d.ParamTypes()), typeNames(d.ResultTypes()), typeNames(params), typeNames(results))
		}
		return true, nil
	}
	var ex exports
	var err error
	hook := []api.ValueType{i32}
	if _, ok := fns[abi.ExportInitialize]; !ok {
		if _, cmd := fns["_start"]; cmd {
			return ex, errors.New("it is a WASI command (exports _start), not a library: build it with -buildmode=c-shared")
		}
	}
	if _, err = sig(abi.ExportVersion, nil, hook, true); err != nil {
		return ex, err
	}
	if _, err = sig(abi.ExportBuffer, hook, hook, true); err != nil {
		return ex, err
	}
	if ex.configure, err = sig(abi.ExportConfigure, hook, hook, false); err != nil {
		return ex, err
	}
	if ex.partition, err = sig(abi.ExportPartition, hook, hook, false); err != nil {
		return ex, err
	}
	if ex.filter, err = sig(abi.ExportFilter, hook, hook, false); err != nil {
		return ex, err
	}
	if ex.assign, err = sig(abi.ExportAssign, hook, hook, false); err != nil {
		return ex, err
	}
	if !ex.partition && !ex.filter && !ex.assign {
		return ex, fmt.Errorf("it exports none of the hooks %s, %s, %s", abi.ExportPartition, abi.ExportFilter, abi.ExportAssign)
	}
	if configured && !ex.configure {
		return ex, fmt.Errorf("it takes no configuration (no %s export) but [plugins.config] is set", abi.ExportConfigure)
	}
	for _, d := range c.ImportedFunctions() {
		mod, name, _ := d.Import()
		switch {
		case mod == wasi_snapshot_preview1.ModuleName:
		case mod == abi.ImportModule && name == abi.ImportLog:
			if !slices.Equal(d.ParamTypes(), []api.ValueType{i32, i32, i32}) || len(d.ResultTypes()) != 0 {
				return ex, fmt.Errorf("it imports %s.%s with the signature %s -> %s; the ABI gives (i32, i32, i32) -> ()", mod, name,
					typeNames(d.ParamTypes()), typeNames(d.ResultTypes()))
			}
		default:
			return ex, fmt.Errorf("it imports %s.%s, which the host does not provide (only %s.%s and WASI preview 1)", mod, name, abi.ImportModule, abi.ImportLog)
		}
	}
	return ex, nil
}

func typeNames(ts []api.ValueType) string {
	s := "("
	for i, t := range ts {
		if i > 0 {
			s += ", "
		}
		s += api.ValueTypeName(t)
	}
	return s + ")"
}

func (g *generation) kinds() []string {
	var k []string
	if g.exports.partition {
		k = append(k, KindPartitioner)
	}
	if g.exports.filter {
		k = append(k, KindCompactionFilter)
	}
	if g.exports.assign {
		k = append(k, KindAssignor)
	}
	return k
}
