package wasm

import (
	"context"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"

	"github.com/tetratelabs/wazero"

	"github.com/weirmq/weir/sdk/wasm/abi"
)

// A generation is one compiled module and the pool of its instances.
// Reload replaces the Module's generation; the old one is retired and
// closed once no call holds it.
//
// refs counts the calls holding the generation (from acquire to release).
// A caller increments refs and then checks retired; retire sets retired
// and then checks refs. With sequentially consistent atomics at least one
// of the two sees the other, so a generation is never closed under a call
// and always closed once idle.
type generation struct {
	m        *Module
	compiled wazero.CompiledModule
	exports  exports
	sum      [32]byte // SHA-256 of the module's bytes
	source   []byte   // the module's bytes (Module.Source); never modified

	// slots holds PoolSize entries: an idle instance, or nil for a slot
	// whose instance has not been started or was discarded. Taking an
	// entry is the right to use that slot.
	slots chan *instance

	refs    atomic.Int64
	retired atomic.Bool
	once    sync.Once
	done    chan struct{} // closed when the generation is closed
}

func newGeneration(m *Module, compiled wazero.CompiledModule, ex exports) *generation {
	return &generation{m: m, compiled: compiled, exports: ex,
		slots: make(chan *instance, m.opts.PoolSize), done: make(chan struct{})}
}

// retire marks g as replaced and closes it if no call holds it.
func (g *generation) retire() {
	g.retired.Store(true)
	if g.refs.Load() == 0 {
		g.close()
	}
}

// unref releases one call's hold on g, closing g if it was the last hold
// on a retired generation.
func (g *generation) unref() {
	if g.refs.Add(-1) == 0 && g.retired.Load() {
		g.close()
	}
}

// close closes every idle instance and the compiled module. With no
// holds left, every slot is back in the channel.
func (g *generation) close() {
	g.once.Do(func() {
		ctx := context.Background()
		for drained := false; !drained; {
			select {
			case inst := <-g.slots:
				if inst != nil {
					_ = inst.mod.Close(ctx)
				}
			default:
				drained = true
			}
		}
		_ = g.compiled.Close(ctx)
		close(g.done)
	})
}

// acquire takes an instance of the current generation for one call,
// starting it if its slot is empty. It waits while all instances are
// busy, until ctx ends. The caller must pass both results to release.
func (m *Module) acquire(ctx context.Context) (*generation, *instance, error) {
	for {
		g := m.gen.Load()
		if g == nil {
			return nil, nil, fmt.Errorf("wasm plugin %q: %w", m.opts.Name, ErrClosed)
		}
		g.refs.Add(1)
		if g.retired.Load() {
			g.unref() // lost a race with Reload or Close; look again
			continue
		}
		var inst *instance
		select {
		case inst = <-g.slots:
		case <-ctx.Done():
			g.unref()
			return nil, nil, fmt.Errorf("wasm plugin %q: waiting for an instance: %w", m.opts.Name, ctx.Err())
		}
		if inst == nil {
			sctx, cancel := context.WithTimeout(ctx, startTimeout)
			var err error
			inst, err = g.start(sctx)
			cancel()
			if err != nil {
				g.slots <- nil
				g.unref()
				if ctx.Err() != nil {
					return nil, nil, fmt.Errorf("wasm plugin %q: starting an instance: %w", m.opts.Name, ctx.Err())
				}
				err = fmt.Errorf("wasm plugin %q: %w: starting an instance: %v", m.opts.Name, ErrInstanceFailed, err)
				m.hostLog.log(warnLevel, "wasm plugin instance failed to start", "err", err)
				return nil, nil, err
			}
		}
		return g, inst, nil
	}
}

// release returns inst to g's pool after a call, or discards it (leaving
// its slot empty for the next call to fill) if the call broke it.
func (m *Module) release(g *generation, inst *instance) {
	if inst.failure != nil {
		_ = inst.mod.Close(context.Background())
		m.hostLog.log(warnLevel, "wasm plugin instance discarded; the next call starts a fresh one", "err", inst.failure)
		g.slots <- nil
	} else {
		g.slots <- inst
	}
	g.unref()
}

// start instantiates the module (running its reactor initialiser), checks
// weir_abi_version and hands the instance its configuration.
func (g *generation) start(ctx context.Context) (*instance, error) {
	m := g.m
	cfg := m.modCfg.
		WithStdout(&lineLogger{limiter: m.limiter, stream: "stdout", level: slog.LevelInfo}).
		WithStderr(&lineLogger{limiter: m.limiter, stream: "stderr", level: slog.LevelWarn})
	mod, err := m.rt.InstantiateModule(ctx, g.compiled, cfg)
	if err != nil {
		return nil, fmt.Errorf("instantiate: %v", firstLine(err))
	}
	inst := &instance{g: g, mod: mod, mem: mod.Memory(),
		buffer:    mod.ExportedFunction(abi.ExportBuffer),
		configure: mod.ExportedFunction(abi.ExportConfigure),
		partition: mod.ExportedFunction(abi.ExportPartition),
		filter:    mod.ExportedFunction(abi.ExportFilter),
		assign:    mod.ExportedFunction(abi.ExportAssign),
	}
	fail := func(format string, args ...any) (*instance, error) {
		_ = mod.Close(context.Background())
		return nil, fmt.Errorf(format, args...)
	}
	if inst.mem == nil {
		return fail("it exports no memory")
	}
	r, err := inst.call(ctx, mod.ExportedFunction(abi.ExportVersion), 0)
	switch {
	case err != nil:
		return fail("%s: %v", abi.ExportVersion, err)
	case r != abi.Version:
		return fail("it speaks ABI version %d; this broker speaks version %d (rebuild it against a matching sdk/wasm)", r, abi.Version)
	}
	if m.config != nil {
		if err := inst.writeInput(ctx, m.config); err != nil {
			return fail("%s: %v", abi.ExportConfigure, err)
		}
		r, err := inst.call(ctx, inst.configure, uint32(len(m.config)))
		if err == nil {
			_, err = readResult(ctx, inst.mem, r, &inst.buf, inst)
		}
		if err != nil {
			return fail("%s refused the configuration: %v", abi.ExportConfigure, err)
		}
	}
	m.instancesStarted.Add(1)
	return inst, nil
}
