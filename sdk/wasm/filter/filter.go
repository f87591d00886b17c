// Package filter turns a plain Go function into a WASM compaction-filter
// plugin: importing it exports weir_filter (and the ABI's required
// functions), and Register supplies the function the hook calls.
//
//	func init() {
//		filter.Register(func(in sdk.FilterInput, out []sdk.FilterDecision) error {
//			for i, rec := range in.Records {
//				if expired(rec, in.NowMs) {
//					out[i].Action = sdk.Drop
//				}
//			}
//			return nil
//		})
//	}
//
// The hook decodes the chunk's records from Kafka's record encoding (keys,
// values and header values point into the input, not copied), calls the
// function, and encodes its decisions. See sdk/wasm/ABI.md for the bytes.
package filter

import (
	"errors"
	"fmt"

	"github.com/weirmq/weir/sdk"
	"github.com/weirmq/weir/sdk/wasm/abi"
	"github.com/weirmq/weir/sdk/wasm/internal/guest"
)

// Func decides the fate of one chunk of records of one partition: it
// writes into out[i] the decision for in.Records[i]. len(out) equals
// len(in.Records), and every entry starts as Keep.
//
// in, its records' bytes and out belong to the caller and are reused after
// Func returns: copy anything to keep. A Rewrite's Value and Headers may
// point into in. Returning an error wrapping wasm.ErrDecline keeps the
// whole chunk, as Kafka would; any other error also keeps the whole chunk
// (a failing filter never deletes) and is logged by the broker.
type Func func(in sdk.FilterInput, out []sdk.FilterDecision) error

var (
	fn      Func
	records []sdk.Record
	headers []sdk.Header
	out     []sdk.FilterDecision
	enc     []byte
)

// Register makes f the module's compaction filter. Call it from init; it
// panics if f is nil or Register was already called.
func Register(f Func) {
	if f == nil {
		panic("weir/sdk/wasm/filter: Register(nil)")
	}
	if fn != nil {
		panic("weir/sdk/wasm/filter: Register called twice")
	}
	fn = f
}

// handle runs the weir_filter hook on an n-byte input in the guest buffer
// and returns the ABI return code.
func handle(n int32) (code int32) {
	defer guest.Recover(&code)
	if fn == nil {
		return guest.Fail(errors.New("no compaction filter registered: call filter.Register from init"))
	}
	in, err := guest.Input(n)
	if err != nil {
		return guest.Fail(err)
	}
	req, hs, err := abi.DecodeFilterInput(in, records, headers)
	headers = hs
	if err != nil {
		return guest.Fail(err)
	}
	records = req.Records
	if cap(out) < len(records) {
		out = make([]sdk.FilterDecision, len(records))
	}
	out = out[:len(records)]
	clear(out)
	input := sdk.FilterInput{Topic: req.Topic, Partition: req.Partition, NowMs: req.NowMs, Records: records}
	if err := fn(input, out); err != nil {
		return guest.Fail(err)
	}
	for i := range out {
		if a := out[i].Action; a < sdk.Keep || a > sdk.Rewrite {
			return guest.Fail(fmt.Errorf("filter gave record %d (offset %d) the unknown action %d", i, records[i].Offset, a))
		}
	}
	// Rewrites may point into the input, which shares the buffer with the
	// output: encode aside, then copy.
	enc = abi.AppendFilterOutput(enc[:0], out)
	code = guest.SetOutput(enc)
	clear(records)
	clear(headers)
	clear(out)
	return code
}

// CallForTesting runs the registered Func through the weir_filter hook as
// the broker would — encoding the records, decoding the decisions — so
// that a plugin can be tested natively with `go test`. It returns the
// decisions (sharing no memory with the hook), sdk.ErrDecline for a
// decline, or the plugin's error.
func CallForTesting(in sdk.FilterInput) ([]sdk.FilterDecision, error) {
	b, err := abi.AppendFilterInput(nil, in)
	if err != nil {
		return nil, err
	}
	res, err := guest.CallForTesting(b, handle)
	if err != nil {
		return nil, err
	}
	d := make([]sdk.FilterDecision, len(in.Records))
	if err := abi.DecodeFilterOutput(res, d); err != nil {
		return nil, fmt.Errorf("filter: bad answer: %w", err)
	}
	return d, nil
}
