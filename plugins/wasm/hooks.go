package wasm

import (
	"context"
	"fmt"

	"github.com/weirmq/weir/sdk"
	"github.com/weirmq/weir/sdk/wasm/abi"
)

// The sdk implementations hold the Module, not a generation, so they stay
// valid across Reload. Each call takes an instance from the current
// generation's pool, runs under a deadline of Options.CallTimeout, and
// returns the instance (or discards it if the call broke it).

// begin takes an instance for a call and the call's deadline context;
// end releases both and wraps the hook's error. Every hook is
//
//	g, inst, cctx, cancel, err := m.begin(ctx)
//	if err != nil { return err }
//	err = run(cctx, inst)
//	return m.end(ctx, g, inst, cancel, hook, err)
//
// written out rather than taking a func, so that a call allocates no
// closure.
func (m *Module) begin(ctx context.Context) (*generation, *instance, context.Context, context.CancelFunc, error) {
	g, inst, err := m.acquire(ctx)
	if err != nil {
		return nil, nil, nil, nil, err
	}
	cctx, cancel := context.WithTimeout(ctx, m.opts.CallTimeout)
	return g, inst, cctx, cancel, nil
}

func (m *Module) end(ctx context.Context, g *generation, inst *instance, cancel context.CancelFunc, hook string, err error) error {
	cancel()
	err = inst.finish(ctx, hook, err)
	m.release(g, inst)
	return err
}

func (m *Module) noHook(hook string) error {
	return fmt.Errorf("%w: the module does not export %s", ErrNoHook, hook)
}

type partitioner struct{ m *Module }

func (p *partitioner) Name() string { return p.m.opts.Name }

// Partition places in.Keys with the module's weir_partition. It returns an
// error naming the plugin: sdk.ErrDecline when the guest declines, and
// otherwise one wrapping ErrGuest, ErrInstanceFailed, ErrMalformed,
// ErrTooLarge, ErrNoHook or ErrClosed (see errors.go), or ctx's error.
// It does not check the partitions' range; sdk.CheckPartitions does.
func (p *partitioner) Partition(ctx context.Context, in sdk.PartitionInput, out []int32) error {
	if len(out) != len(in.Keys) {
		return fmt.Errorf("wasm plugin %q: %d keys but room for %d partitions", p.m.opts.Name, len(in.Keys), len(out))
	}
	if in.NumPartitions < 1 {
		return fmt.Errorf("wasm plugin %q: topic %q has %d partitions", p.m.opts.Name, in.Topic, in.NumPartitions)
	}
	if len(in.Keys) == 0 {
		return nil
	}
	g, inst, cctx, cancel, err := p.m.begin(ctx)
	if err != nil {
		return err
	}
	err = inst.runPartition(cctx, in, out)
	return p.m.end(ctx, g, inst, cancel, abi.ExportPartition, err)
}

func (in *instance) runPartition(ctx context.Context, req sdk.PartitionInput, out []int32) error {
	if in.partition == nil {
		return in.g.m.noHook(abi.ExportPartition)
	}
	dst, err := in.input(ctx, abi.PartitionInputSize(req.Topic, req.Keys))
	if err != nil {
		return err
	}
	n := abi.PutPartitionInput(dst, req.Topic, req.NumPartitions, req.Keys)
	r, err := in.call(ctx, in.partition, uint32(n))
	if err != nil {
		return err
	}
	return decodePartitionResult(ctx, in.mem, r, &in.buf, in, out)
}

type filter struct{ m *Module }

func (f *filter) Name() string { return f.m.opts.Name }

// Filter decides the chunk's records with the module's weir_filter.
// Rewritten values and headers are copies, owned by the caller. Errors are
// as for Partition; on error out's contents are undefined.
func (f *filter) Filter(ctx context.Context, in sdk.FilterInput, out []sdk.FilterDecision) error {
	if len(out) != len(in.Records) {
		return fmt.Errorf("wasm plugin %q: %d records but room for %d decisions", f.m.opts.Name, len(in.Records), len(out))
	}
	if len(in.Records) == 0 {
		return nil
	}
	size, err := abi.FilterInputSize(in)
	if err != nil {
		return fmt.Errorf("wasm plugin %q: %w", f.m.opts.Name, err)
	}
	g, inst, cctx, cancel, err := f.m.begin(ctx)
	if err != nil {
		return err
	}
	err = inst.runFilter(cctx, in, size, out)
	return f.m.end(ctx, g, inst, cancel, abi.ExportFilter, err)
}

func (in *instance) runFilter(ctx context.Context, req sdk.FilterInput, size int, out []sdk.FilterDecision) error {
	if in.filter == nil {
		return in.g.m.noHook(abi.ExportFilter)
	}
	dst, err := in.input(ctx, size)
	if err != nil {
		return err
	}
	n := abi.PutFilterInput(dst, req)
	r, err := in.call(ctx, in.filter, uint32(n))
	if err != nil {
		return err
	}
	return decodeFilterResult(ctx, in.mem, r, &in.buf, in, out)
}

type assignor struct{ m *Module }

func (a *assignor) Name() string { return a.m.opts.Name }

// Assign computes the assignment with the module's weir_assign. The
// Assignment is the caller's. Errors are as for Partition; the answer is
// not checked (the fallback wrapper checks it with Assignment.Check).
func (a *assignor) Assign(ctx context.Context, in sdk.AssignInput) (sdk.Assignment, error) {
	if err := in.Validate(); err != nil {
		return nil, err
	}
	b, err := abi.EncodeAssignInput(in)
	if err != nil {
		return nil, fmt.Errorf("wasm plugin %q: %w", a.m.opts.Name, err)
	}
	g, inst, cctx, cancel, err := a.m.begin(ctx)
	if err != nil {
		return nil, err
	}
	res, err := inst.runAssign(cctx, b)
	if err = a.m.end(ctx, g, inst, cancel, abi.ExportAssign, err); err != nil {
		return nil, err
	}
	return res, nil
}

func (in *instance) runAssign(ctx context.Context, req []byte) (sdk.Assignment, error) {
	if in.assign == nil {
		return nil, in.g.m.noHook(abi.ExportAssign)
	}
	if err := in.writeInput(ctx, req); err != nil {
		return nil, err
	}
	r, err := in.call(ctx, in.assign, uint32(len(req)))
	if err != nil {
		return nil, err
	}
	return decodeAssignResult(ctx, in.mem, r, &in.buf, in)
}
