// Package partitioner turns a plain Go function into a WASM partitioner
// plugin: importing it exports weir_partition (and the ABI's required
// functions), and Register supplies the function the hook calls.
//
//	func init() {
//		partitioner.Register(func(topic string, n int32, keys [][]byte, out []int32) error {
//			...
//		})
//	}
//
// The hook decodes the host's batch of keys without copying, calls the
// function, and encodes its answer; a steady-state call allocates
// nothing. See sdk/wasm/ABI.md for the bytes.
package partitioner

import (
	"errors"
	"fmt"

	"github.com/weirmq/weir/sdk/wasm/abi"
	"github.com/weirmq/weir/sdk/wasm/internal/guest"
)

// Func places a batch of records: it writes into out[i] the partition, in
// [0, numPartitions), for the record whose key is keys[i] (nil for a
// record without a key; an empty non-nil slice is an empty key). len(out)
// equals len(keys).
//
// keys, their bytes and out belong to the caller and are reused after
// Func returns: copy anything to keep. topic is safe to keep. Returning an
// error wrapping wasm.ErrDecline hands the whole batch to the broker's
// built-in murmur2 partitioner; any other error fails the call (the broker
// falls back to murmur2 and logs the message). The broker checks every
// answer: an out-of-range partition counts as a failure.
type Func func(topic string, numPartitions int32, keys [][]byte, out []int32) error

var (
	fn    Func
	keys  [][]byte
	out   []int32
	topic string
)

// Register makes f the module's partitioner. Call it from init; it panics
// if f is nil or Register was already called.
func Register(f Func) {
	if f == nil {
		panic("weir/sdk/wasm/partitioner: Register(nil)")
	}
	if fn != nil {
		panic("weir/sdk/wasm/partitioner: Register called twice")
	}
	fn = f
}

// handle runs the weir_partition hook on an n-byte input in the guest
// buffer and returns the ABI return code.
func handle(n int32) (code int32) {
	defer guest.Recover(&code)
	if fn == nil {
		return guest.Fail(errors.New("no partitioner registered: call partitioner.Register from init"))
	}
	in, err := guest.Input(n)
	if err != nil {
		return guest.Fail(err)
	}
	req, err := abi.DecodePartitionInput(in, keys)
	if err != nil {
		return guest.Fail(err)
	}
	keys = req.Keys
	if string(req.Topic) != topic { // no allocation when the topic repeats
		topic = string(req.Topic)
	}
	if cap(out) < len(keys) {
		out = make([]int32, len(keys))
	}
	out = out[:len(keys)]
	if err := fn(topic, req.NumPartitions, keys, out); err != nil {
		return guest.Fail(err)
	}
	clear(keys) // drop references into the buffer
	return int32(putOutput(guest.Output(4*len(out)), out))
}

// CallForTesting runs the registered Func through the weir_partition hook
// as the broker would — encoding the input, decoding the answer — so that
// a plugin can be tested natively with `go test`. It returns the
// partitions, sdk.ErrDecline for a decline, or the plugin's error.
func CallForTesting(topic string, numPartitions int32, keys [][]byte) ([]int32, error) {
	in := make([]byte, abi.PartitionInputSize(topic, keys))
	abi.PutPartitionInput(in, topic, numPartitions, keys)
	res, err := guest.CallForTesting(in, handle)
	if err != nil {
		return nil, err
	}
	parts := make([]int32, len(keys))
	if err := abi.DecodePartitionOutput(res, parts); err != nil {
		return nil, fmt.Errorf("partitioner: bad answer: %w", err)
	}
	return parts, nil
}
