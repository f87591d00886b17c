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

// hookCall runs fn with an instance under the call deadline. fn returns
// the hook's error; finish wraps it.
func (m *Module) hookCall(ctx context.Context, hook string, fn func(ctx context.Context, in *instance) error) error {
	g, inst, err := m.acquire(ctx)
	if err != nil {
		return err
	}
	cctx, cancel := context.WithTimeout(ctx, m.opts.CallTimeout)
	err = fn(cctx, inst)
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
	return p.m.hookCall(ctx, abi.ExportPartition, func(ctx context.Context, inst *instance) error {
		if inst.partition == nil {
			return p.m.noHook(abi.ExportPartition)
		}
		dst, err := inst.input(ctx, abi.PartitionInputSize(in.Topic, in.Keys))
		if err != nil {
			return err
		}
		n := abi.PutPartitionInput(dst, in.Topic, in.NumPartitions, in.Keys)
		r, err := inst.call(ctx, inst.partition, uint32(n))
		if err != nil {
			return err
		}
		return decodePartitionResult(ctx, inst.mem, r, &inst.buf, inst, out)
	})
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
	return f.m.hookCall(ctx, abi.ExportFilter, func(ctx context.Context, inst *instance) error {
		if inst.filter == nil {
			return f.m.noHook(abi.ExportFilter)
		}
		dst, err := inst.input(ctx, size)
		if err != nil {
			return err
		}
		n := abi.PutFilterInput(dst, in)
		r, err := inst.call(ctx, inst.filter, uint32(n))
		if err != nil {
			return err
		}
		return decodeFilterResult(ctx, inst.mem, r, &inst.buf, inst, out)
	})
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
	var res sdk.Assignment
	err = a.m.hookCall(ctx, abi.ExportAssign, func(ctx context.Context, inst *instance) error {
		if inst.assign == nil {
			return a.m.noHook(abi.ExportAssign)
		}
		if err := inst.writeInput(ctx, b); err != nil {
			return err
		}
		r, err := inst.call(ctx, inst.assign, uint32(len(b)))
		if err != nil {
			return err
		}
		res, err = decodeAssignResult(ctx, inst.mem, r, &inst.buf, inst)
		return err
	})
	if err != nil {
		return nil, err
	}
	return res, nil
}
