// Package assignor turns a plain Go function into a WASM consumer-group
// assignor plugin: importing it exports weir_assign (and the ABI's
// required functions), and Register supplies the function the hook calls.
//
//	func init() {
//		assignor.Register(func(in sdk.AssignInput) (sdk.Assignment, error) {
//			...
//		})
//	}
//
// The assignor is called once per rebalance, so its input and output
// cross the boundary as JSON (see sdk/wasm/ABI.md).
package assignor

import (
	"errors"
	"fmt"

	"github.com/weirmq/weir/sdk"
	"github.com/weirmq/weir/sdk/wasm/abi"
	"github.com/weirmq/weir/sdk/wasm/internal/guest"
)

// Func computes a group's target assignment, with the contract of
// sdk.Assignor.Assign: one entry per member, each partition to at most
// one member subscribed to its topic, each list sorted. The broker checks
// the answer with sdk.Assignment.Check and falls back to its built-in
// assignor when the check fails, Func returns an error, or it returns an
// error wrapping wasm.ErrDecline. Func owns in.
type Func func(in sdk.AssignInput) (sdk.Assignment, error)

var fn Func

// Register makes f the module's assignor. Call it from init; it panics if
// f is nil or Register was already called.
func Register(f Func) {
	if f == nil {
		panic("weir/sdk/wasm/assignor: Register(nil)")
	}
	if fn != nil {
		panic("weir/sdk/wasm/assignor: Register called twice")
	}
	fn = f
}

// handle runs the weir_assign hook on an n-byte input in the guest buffer
// and returns the ABI return code.
func handle(n int32) (code int32) {
	defer guest.Recover(&code)
	if fn == nil {
		return guest.Fail(errors.New("no assignor registered: call assignor.Register from init"))
	}
	b, err := guest.Input(n)
	if err != nil {
		return guest.Fail(err)
	}
	in, err := abi.DecodeAssignInput(b)
	if err != nil {
		return guest.Fail(err)
	}
	a, err := fn(in)
	if err != nil {
		return guest.Fail(err)
	}
	res, err := abi.EncodeAssignOutput(a)
	if err != nil {
		return guest.Fail(err)
	}
	return guest.SetOutput(res)
}

// CallForTesting runs the registered Func through the weir_assign hook as
// the broker would — JSON in, JSON out — so that a plugin can be tested
// natively with `go test`. It returns the assignment, sdk.ErrDecline for
// a decline, or the plugin's error.
func CallForTesting(in sdk.AssignInput) (sdk.Assignment, error) {
	b, err := abi.EncodeAssignInput(in)
	if err != nil {
		return nil, err
	}
	res, err := guest.CallForTesting(b, handle)
	if err != nil {
		return nil, err
	}
	a, err := abi.DecodeAssignOutput(res)
	if err != nil {
		return nil, fmt.Errorf("assignor: bad answer: %w", err)
	}
	return a, nil
}
