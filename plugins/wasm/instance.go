package wasm

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/tetratelabs/wazero/api"
	"github.com/tetratelabs/wazero/sys"

	"github.com/weirmq/weir/sdk"
	"github.com/weirmq/weir/sdk/wasm/abi"
)

// An instance is one instantiated module with its cached function
// handles. It is used by one goroutine at a time (the one that took it
// from the pool).
type instance struct {
	g   *generation
	mod api.Module
	mem api.Memory

	buffer, configure, partition, filter, assign api.Function // nil: not exported

	buf   guestBuffer
	stack [1]uint64 // CallWithStack's parameters and results: one i32 each way

	// failure is set when a call broke the instance (trap, exit,
	// timeout, malformed answer); release then discards it.
	failure error
}

// memory is the part of api.Memory the result decoders read; fuzz tests
// pass a byte slice.
type memory interface {
	Size() uint32
	Read(offset, byteCount uint32) ([]byte, bool)
}

// grower asks the guest for its buffer (weir_buffer).
type grower interface {
	grow(ctx context.Context, n uint32) (uint32, error)
}

// guestBuffer is what the host knows of the guest's buffer: its address
// and a size it is known to have (it may be larger).
type guestBuffer struct {
	ptr, size uint32
}

// ensure makes sure the buffer is known to hold at least n bytes, asking
// the guest through g when it is not, and checks the guest's answer
// against its memory.
func (b *guestBuffer) ensure(ctx context.Context, mem memory, n uint32, g grower) error {
	if b.ptr != 0 && n <= b.size {
		return nil
	}
	if n > 1<<31-1 {
		return fmt.Errorf("%w: a buffer of %d bytes does not fit an i32", ErrMalformed, n)
	}
	ptr, err := g.grow(ctx, n)
	if err != nil {
		return fmt.Errorf("%s(%d): %w", abi.ExportBuffer, n, err)
	}
	if ptr == 0 {
		return fmt.Errorf("%w: %s(%d) returned address 0", ErrMalformed, abi.ExportBuffer, n)
	}
	if uint64(ptr)+uint64(n) > uint64(mem.Size()) {
		return fmt.Errorf("%w: %s(%d) returned address %#x, which puts the buffer past the end of the guest's %d-byte memory",
			ErrMalformed, abi.ExportBuffer, n, ptr, mem.Size())
	}
	b.ptr, b.size = ptr, n
	return nil
}

// readResult interprets a hook's return code r. For r >= 0 it returns the
// r-byte output at the start of the guest's buffer (a view of guest
// memory, valid until the next call into the instance); for abi.Decline,
// sdk.ErrDecline; for an error code, an error wrapping ErrGuest with the
// guest's message. An answer outside the guest's memory is an error
// wrapping ErrMalformed. Whatever r and the memory hold, readResult reads
// at most the memory's size and allocates at most abi.MaxMessageLen.
func readResult(ctx context.Context, mem memory, r int32, buf *guestBuffer, g grower) ([]byte, error) {
	if r == abi.Decline {
		return nil, sdk.ErrDecline
	}
	n, isErr := uint32(r), r <= abi.ErrorBase
	if isErr {
		n = uint32(min(abi.MessageLen(r), abi.MaxMessageLen))
	}
	if uint64(n) > uint64(mem.Size()) {
		return nil, fmt.Errorf("%w: result length %d exceeds the guest's %d-byte memory", ErrMalformed, n, mem.Size())
	}
	if err := buf.ensure(ctx, mem, n, g); err != nil {
		return nil, err
	}
	b, ok := mem.Read(buf.ptr, n)
	if !ok {
		return nil, fmt.Errorf("%w: result [%#x, +%d) is outside the guest's %d-byte memory", ErrMalformed, buf.ptr, n, mem.Size())
	}
	if isErr {
		msg := strings.ToValidUTF8(string(b), "\uFFFD")
		if msg == "" {
			msg = "(no message)"
		}
		return nil, fmt.Errorf("%w: %s", ErrGuest, msg)
	}
	return b, nil
}

// decodePartitionResult decodes a weir_partition answer into out.
func decodePartitionResult(ctx context.Context, mem memory, r int32, buf *guestBuffer, g grower, out []int32) error {
	b, err := readResult(ctx, mem, r, buf, g)
	if err != nil {
		return err
	}
	if err := abi.DecodePartitionOutput(b, out); err != nil {
		return fmt.Errorf("%w: %v", ErrMalformed, err)
	}
	return nil
}

// decodeFilterResult decodes a weir_filter answer into out. Rewritten
// values and headers are copied out of guest memory.
func decodeFilterResult(ctx context.Context, mem memory, r int32, buf *guestBuffer, g grower, out []sdk.FilterDecision) error {
	b, err := readResult(ctx, mem, r, buf, g)
	if err != nil {
		return err
	}
	if len(b) != len(out) { // not all one-byte keep/drop: decisions will alias b
		b = bytes.Clone(b)
	}
	if err := abi.DecodeFilterOutput(b, out); err != nil {
		return fmt.Errorf("%w: %v", ErrMalformed, err)
	}
	return nil
}

// decodeAssignResult decodes a weir_assign answer.
func decodeAssignResult(ctx context.Context, mem memory, r int32, buf *guestBuffer, g grower) (sdk.Assignment, error) {
	b, err := readResult(ctx, mem, r, buf, g)
	if err != nil {
		return nil, err
	}
	a, err := abi.DecodeAssignOutput(b)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrMalformed, err)
	}
	return a, nil
}

// call calls fn with one i32 argument n (ignored by a function taking
// none) and returns its i32 result. A failed call (trap, exit, deadline)
// leaves the instance unusable: call records the failure and returns it.
func (in *instance) call(ctx context.Context, fn api.Function, n uint32) (int32, error) {
	in.stack[0] = uint64(n)
	if err := fn.CallWithStack(ctx, in.stack[:]); err != nil {
		in.failure = in.classify(err)
		return 0, in.failure
	}
	return int32(uint32(in.stack[0])), nil
}

// grow implements grower with weir_buffer.
func (in *instance) grow(ctx context.Context, n uint32) (uint32, error) {
	r, err := in.call(ctx, in.buffer, n)
	return uint32(r), err
}

// classify turns a failed call's error into one wrapping
// ErrInstanceFailed (and ErrTimeout for a deadline).
func (in *instance) classify(err error) error {
	opts := &in.g.m.opts
	mem := fmt.Sprintf("memory %d of %d pages", in.mem.Size()/65536, opts.MaxMemoryPages)
	var exit *sys.ExitError
	if errors.As(err, &exit) {
		switch exit.ExitCode() {
		case sys.ExitCodeDeadlineExceeded:
			return fmt.Errorf("%w: %w: ran past its %v deadline", ErrInstanceFailed, ErrTimeout, opts.CallTimeout)
		case sys.ExitCodeContextCanceled:
			return fmt.Errorf("%w: canceled", ErrInstanceFailed)
		}
		return fmt.Errorf("%w: exited with code %d (%s; its stderr is in the log)", ErrInstanceFailed, exit.ExitCode(), mem)
	}
	// A Go guest's panic, and its runtime's fatal out-of-memory error,
	// end in "unreachable" after printing to stderr.
	return fmt.Errorf("%w: trapped (%s; its stderr is in the log): %s", ErrInstanceFailed, mem, firstLine(err))
}

// input makes room for an n-byte input in the guest's buffer and returns
// the view of guest memory to write it into. An input larger than the
// memory limit is an error wrapping ErrTooLarge.
func (in *instance) input(ctx context.Context, n int) ([]byte, error) {
	limit := uint64(in.g.m.opts.MaxMemoryPages) * 65536
	if uint64(n) >= limit || n > 1<<31-1 {
		return nil, fmt.Errorf("%w: %d bytes of input for a plugin limited to %d bytes of memory", ErrTooLarge, n, limit)
	}
	if err := in.buf.ensure(ctx, in.mem, uint32(n), in); err != nil {
		return nil, err
	}
	dst, ok := in.mem.Read(in.buf.ptr, uint32(n))
	if !ok { // ensure checked the range
		return nil, fmt.Errorf("%w: buffer [%#x, +%d) outside memory", ErrMalformed, in.buf.ptr, n)
	}
	return dst, nil
}

// writeInput copies b into the guest's buffer.
func (in *instance) writeInput(ctx context.Context, b []byte) error {
	dst, err := in.input(ctx, len(b))
	if err != nil {
		return err
	}
	copy(dst, b)
	return nil
}

// finish wraps a hook's error with the plugin's name and the hook, and
// marks the instance for discarding if the error says the guest broke
// the ABI. A call that failed because the caller's ctx ended returns
// ctx.Err() wrapped, so that the fallback wrapper does not count it
// against the plugin.
func (in *instance) finish(ctx context.Context, hook string, err error) error {
	if err == nil || errors.Is(err, sdk.ErrDecline) {
		return err
	}
	if errors.Is(err, ErrMalformed) && in.failure == nil {
		in.failure = err
	}
	name := in.g.m.opts.Name
	if in.failure != nil && ctx.Err() != nil {
		return fmt.Errorf("wasm plugin %q: %s: %w", name, hook, ctx.Err())
	}
	if in.failure != nil {
		in.failure = fmt.Errorf("wasm plugin %q: %s: %w", name, hook, in.failure)
	}
	return fmt.Errorf("wasm plugin %q: %s: %w", name, hook, err)
}

// firstLine returns err's message up to its first newline: wazero
// appends a WASM stack trace to traps.
func firstLine(err error) string {
	s := err.Error()
	if i := strings.IndexByte(s, '\n'); i >= 0 {
		s = s[:i]
	}
	return s
}
