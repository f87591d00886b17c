package wasm

import (
	"context"
	"encoding/binary"
	"errors"
	"testing"

	"github.com/weirmq/weir/sdk"
	"github.com/weirmq/weir/sdk/wasm/abi"
)

// The host side of the ABI, fuzzed at the decoder level: whatever a guest
// returns — any return code, any bytes in its memory, any address from
// weir_buffer — the host never panics, never reads outside the guest's
// memory, and allocates at most in proportion to that memory.

// fakeMemory is guest memory for the fuzzers.
type fakeMemory []byte

func (m fakeMemory) Size() uint32 { return uint32(len(m)) }

func (m fakeMemory) Read(off, n uint32) ([]byte, bool) {
	if uint64(off)+uint64(n) > uint64(len(m)) {
		return nil, false
	}
	return m[off : off+n : off+n], true
}

// fakeGrower answers weir_buffer with a fixed address, or fails.
type fakeGrower struct {
	ptr  uint32
	fail bool
}

func (g fakeGrower) grow(context.Context, uint32) (uint32, error) {
	if g.fail {
		return 0, ErrInstanceFailed
	}
	return g.ptr, nil
}

// checkResultErr fails the test for an error outside the documented set.
func checkResultErr(t *testing.T, err error) {
	t.Helper()
	if err == nil {
		return
	}
	for _, ok := range []error{sdk.ErrDecline, ErrGuest, ErrMalformed, ErrInstanceFailed} {
		if errors.Is(err, ok) {
			return
		}
	}
	t.Fatalf("unexpected error class: %v", err)
}

func FuzzDecodePartitionResult(f *testing.F) {
	good := make([]byte, 64)
	binary.LittleEndian.PutUint32(good[16:], 3)
	binary.LittleEndian.PutUint32(good[20:], 1)
	f.Add(good, int32(8), uint32(16), uint32(8), uint32(16), uint16(2), false)
	f.Add(good, int32(-1), uint32(16), uint32(8), uint32(16), uint16(2), false)
	f.Add([]byte("xxerror!"), int32(-2-6), uint32(2), uint32(6), uint32(2), uint16(1), false)
	f.Add(good, int32(1<<30), uint32(16), uint32(8), uint32(0xFFFF0000), uint16(2), false)
	f.Add(good, int32(48), uint32(16), uint32(8), uint32(60), uint16(12), false)
	f.Add(good, int32(-1<<31), uint32(0), uint32(0), uint32(0), uint16(0), true)
	f.Fuzz(func(t *testing.T, mem []byte, r int32, ptr, size, growPtr uint32, keys uint16, growFails bool) {
		buf := guestBuffer{ptr: ptr, size: size}
		out := make([]int32, keys)
		err := decodePartitionResult(context.Background(), fakeMemory(mem), r, &buf, fakeGrower{growPtr, growFails}, out)
		checkResultErr(t, err)
		if err == nil && (r != int32(4*len(out)) || uint64(buf.ptr)+uint64(r) > uint64(len(mem))) {
			t.Fatalf("accepted r=%d at %#x for %d keys in %d bytes of memory", r, buf.ptr, keys, len(mem))
		}
		if errors.Is(err, ErrGuest) && len(err.Error()) > abi.MaxMessageLen*3+100 {
			t.Fatalf("guest message of %d bytes", len(err.Error()))
		}
	})
}

func FuzzDecodeFilterResult(f *testing.F) {
	out := abi.AppendFilterOutput(nil, []sdk.FilterDecision{
		{Action: sdk.Keep}, {Action: sdk.Drop},
		{Action: sdk.Rewrite, Value: []byte("v"), Headers: []sdk.Header{{Key: "h", Value: nil}, {Key: "k", Value: []byte("x")}}},
		{Action: sdk.Rewrite, Value: nil},
	})
	mem := append(make([]byte, 8), out...)
	f.Add(mem, int32(len(out)), uint32(8), uint32(len(out)), uint32(8), uint16(4))
	f.Add(mem, int32(len(out)), uint32(8), uint32(2), uint32(8), uint16(4))
	f.Add(mem, int32(3), uint32(8), uint32(3), uint32(8), uint16(4))
	f.Add([]byte{2, 0x7f, 0xff, 0xff, 0xff, 0x0f}, int32(6), uint32(0), uint32(6), uint32(0), uint16(1))
	f.Add([]byte{2, 1, 0xfe, 0xff, 0xff, 0xff, 0x0f}, int32(7), uint32(0), uint32(7), uint32(0), uint16(1))
	f.Fuzz(func(t *testing.T, mem []byte, r int32, ptr, size, growPtr uint32, records uint16) {
		buf := guestBuffer{ptr: ptr, size: size}
		decisions := make([]sdk.FilterDecision, records)
		err := decodeFilterResult(context.Background(), fakeMemory(mem), r, &buf, fakeGrower{ptr: growPtr}, decisions)
		checkResultErr(t, err)
		if err != nil {
			return
		}
		var before []byte
		for i, d := range decisions {
			if d.Action < sdk.Keep || d.Action > sdk.Rewrite {
				t.Fatalf("decision %d has action %d", i, d.Action)
			}
			before = abi.AppendFilterOutput(before, decisions[i:i+1])
		}
		// The decisions are copies: the guest reusing its memory does not
		// change them.
		clear(mem)
		if after := abi.AppendFilterOutput(nil, decisions); string(after) != string(before) {
			t.Fatal("decisions changed when guest memory was overwritten")
		}
	})
}

func FuzzDecodeAssignResult(f *testing.F) {
	good := []byte(`{"assignment":{"m1":{"t":[0,1]},"m2":{}}}`)
	f.Add(good, int32(len(good)))
	f.Add([]byte(`{"assignment":null}`), int32(19))
	f.Add([]byte(`[`), int32(1))
	f.Fuzz(func(t *testing.T, mem []byte, r int32) {
		buf := guestBuffer{ptr: 0, size: uint32(len(mem))}
		a, err := decodeAssignResult(context.Background(), fakeMemory(mem), r, &buf, fakeGrower{fail: true})
		checkResultErr(t, err)
		if err == nil && a == nil {
			t.Fatal("nil assignment without an error")
		}
	})
}
