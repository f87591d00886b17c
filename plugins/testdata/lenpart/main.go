// Command lenpart is a test WASM plugin serving two extension points. As a
// partitioner it puts a key on partition (len(key) + shift) mod n; as a
// compaction filter it drops records whose key is "drop". shift is set at build time
// (-ldflags=-X main.shift=1) so that a test can tell two builds apart;
// with config {"fail": true} every call fails, and a "fail" that is not a
// boolean fails the configuration. It avoids encoding/json and strconv to
// stay small: a smaller module compiles faster, and the tests compile it.
package main

import (
	"bytes"
	"errors"

	"github.com/weirmq/weir/sdk"
	"github.com/weirmq/weir/sdk/wasm"
	"github.com/weirmq/weir/sdk/wasm/filter"
	"github.com/weirmq/weir/sdk/wasm/partitioner"
)

var (
	shift = "0"
	fail  bool
)

func init() {
	wasm.Configure(func(raw []byte) error {
		raw = bytes.ReplaceAll(raw, []byte(" "), nil)
		switch {
		case bytes.Contains(raw, []byte(`"fail":true`)):
			fail = true
		case bytes.Contains(raw, []byte(`"fail":false`)), !bytes.Contains(raw, []byte(`"fail"`)):
		default:
			return errors.New(`"fail" must be true or false`)
		}
		return nil
	})
	partitioner.Register(func(_ string, n int32, keys [][]byte, out []int32) error {
		if fail {
			return errors.New("configured to fail")
		}
		s := int(shift[0] - '0')
		for i, k := range keys {
			out[i] = int32(len(k)+s) % n
		}
		return nil
	})
	filter.Register(func(in sdk.FilterInput, out []sdk.FilterDecision) error {
		for i, r := range in.Records {
			if string(r.Key) == "drop" {
				out[i].Action = sdk.Drop
			}
		}
		return nil
	})
}

func main() {}
