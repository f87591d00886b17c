package goplugin

import (
	"context"
	"fmt"
	"sync"

	"github.com/weirmq/weir/sdk"
	"github.com/weirmq/weir/sdk/goplugin/wire"
)

// bufs recycles request buffers: gRPC copies the request while sending,
// so the buffer is free again when the call returns.
var bufs = sync.Pool{New: func() any { return new([]byte) }}

// maxPooled keeps one huge request from pinning its buffer forever.
const maxPooled = 1 << 20

func getBuf() *[]byte { return bufs.Get().(*[]byte) }

func putBuf(b *[]byte) {
	if cap(*b) <= maxPooled {
		*b = (*b)[:0]
		bufs.Put(b)
	}
}

// partitioner is the plugin's sdk.Partitioner. Its errors are the
// Client's call errors.
type partitioner struct{ c *Client }

func (p partitioner) Name() string { return p.c.opts.Name }

func (p partitioner) Partition(ctx context.Context, in sdk.PartitionInput, out []int32) error {
	if len(out) != len(in.Keys) {
		return fmt.Errorf("goplugin: plugin %q: partition: %d keys but room for %d partitions", p.c.opts.Name, len(in.Keys), len(out))
	}
	buf := getBuf()
	defer putBuf(buf)
	*buf = wire.EncodePartitionRequest(*buf, in)
	payload, err := p.c.call(ctx, wire.Partition, *buf)
	if err != nil {
		return err
	}
	if err := wire.DecodePartitions(payload, out); err != nil {
		return fmt.Errorf("goplugin: plugin %q: partition: %w", p.c.opts.Name, err)
	}
	return nil
}

// filter is the plugin's sdk.CompactionFilter. A Rewrite decision's Value
// and Headers are the plugin's reply, owned by the caller.
type filter struct{ c *Client }

func (f filter) Name() string { return f.c.opts.Name }

func (f filter) Filter(ctx context.Context, in sdk.FilterInput, out []sdk.FilterDecision) error {
	if len(out) != len(in.Records) {
		return fmt.Errorf("goplugin: plugin %q: filter: %d records but room for %d decisions", f.c.opts.Name, len(in.Records), len(out))
	}
	buf := getBuf()
	defer putBuf(buf)
	*buf = wire.EncodeFilterRequest(*buf, in)
	payload, err := f.c.call(ctx, wire.Filter, *buf)
	if err != nil {
		return err
	}
	if err := wire.DecodeDecisions(payload, out); err != nil {
		return fmt.Errorf("goplugin: plugin %q: filter: %w", f.c.opts.Name, err)
	}
	return nil
}

// assignor is the plugin's sdk.Assignor. It validates the input before
// sending it, so invalid input fails with sdk.ErrInvalidAssignInput as the
// contract says; whether the answer is a valid assignment is for the
// caller (plugins/fallback) to check.
type assignor struct{ c *Client }

func (a assignor) Name() string { return a.c.opts.Name }

func (a assignor) Assign(ctx context.Context, in sdk.AssignInput) (sdk.Assignment, error) {
	if err := in.Validate(); err != nil {
		return nil, err
	}
	buf := getBuf()
	defer putBuf(buf)
	*buf = wire.EncodeAssignInput(*buf, in)
	payload, err := a.c.call(ctx, wire.Assign, *buf)
	if err != nil {
		return nil, err
	}
	res, err := wire.DecodeAssignment(payload)
	if err != nil {
		return nil, fmt.Errorf("goplugin: plugin %q: assign: %w", a.c.opts.Name, err)
	}
	return res, nil
}
