// Package guest is the runtime the Go guest helpers share inside a WASM
// module: the guest-owned buffer behind weir_buffer, the configuration
// handler behind weir_configure, and the return-code conventions of
// sdk/wasm/ABI.md. The wasip1 build exports weir_abi_version, weir_buffer
// and weir_configure; other builds compile the same logic so that it can
// be tested natively.
//
// A WASM instance runs one call at a time, so nothing here is locked. On
// a native build the functions are not safe for concurrent use.
package guest

import (
	"errors"
	"fmt"
	"strings"
	"unicode/utf8"

	"github.com/weirmq/weir/sdk"
	"github.com/weirmq/weir/sdk/wasm/abi"
)

// minBuffer is the buffer's first size; it grows on demand and is never
// shrunk, so a plugin's steady state allocates nothing per call.
const minBuffer = 64 << 10

// buf is the guest-owned buffer; len(buf) == cap(buf) always.
var buf []byte

// Grow returns the buffer with at least size bytes, keeping its contents.
// It returns nil for a negative size. A grown buffer is a new allocation:
// slices of the old one stay valid but no longer alias the buffer.
func Grow(size int) []byte {
	if size < 0 {
		return nil
	}
	if size > len(buf) {
		nb := make([]byte, max(size, 2*len(buf), minBuffer))
		copy(nb, buf)
		buf = nb
	}
	return buf
}

// Input returns the first n bytes of the buffer, where the host wrote a
// call's input, or an error when n is negative or larger than the buffer.
func Input(n int32) ([]byte, error) {
	if n < 0 || int(n) > len(buf) {
		return nil, fmt.Errorf("input length %d does not fit the %d-byte buffer", n, len(buf))
	}
	return buf[:n:n], nil
}

// Output returns the first n bytes of the buffer (grown if needed) for a
// call's answer. Anything of the input still needed must be read first.
func Output(n int) []byte { return Grow(n)[:n] }

// SetOutput copies out to the start of the buffer and returns the return
// code announcing it, len(out). out may alias the buffer.
func SetOutput(out []byte) int32 {
	if len(out) > 0 && len(buf) > 0 && &out[0] == &buf[0] {
		return int32(len(out))
	}
	copy(Output(len(out)), out)
	return int32(len(out))
}

// Fail returns the return code for err: abi.Decline for an error wrapping
// sdk.ErrDecline, otherwise an error code with err's message (truncated to
// abi.MaxMessageLen bytes at a character boundary) at the start of the
// buffer.
func Fail(err error) int32 {
	if errors.Is(err, sdk.ErrDecline) {
		return abi.Decline
	}
	msg := err.Error()
	if msg == "" {
		msg = "error with no message"
	}
	if len(msg) > abi.MaxMessageLen {
		cut := abi.MaxMessageLen
		for cut > 0 && !utf8.RuneStart(msg[cut]) {
			cut--
		}
		msg = msg[:cut]
	}
	n := copy(Output(len(msg)), msg)
	return abi.ErrorCode(n)
}

// Recover turns a panic in a plugin's function into an error return code
// in *code. Use it as `defer guest.Recover(&code)` in a hook.
func Recover(code *int32) {
	if v := recover(); v != nil {
		*code = Fail(fmt.Errorf("plugin panic: %v", v))
	}
}

var configure func(config []byte) error

// SetConfigure installs the weir_configure handler. It panics if one is
// already installed.
func SetConfigure(f func(config []byte) error) {
	if f == nil {
		panic("weir/sdk/wasm: Configure(nil)")
	}
	if configure != nil {
		panic("weir/sdk/wasm: Configure called twice")
	}
	configure = f
}

// HandleConfigure runs weir_configure on an n-byte JSON config in the
// buffer and returns the return code.
func HandleConfigure(n int32) (code int32) {
	defer Recover(&code)
	in, err := Input(n)
	if err != nil {
		return Fail(err)
	}
	if configure == nil {
		if c := strings.TrimSpace(string(in)); c == "" || c == "{}" || c == "null" {
			return 0
		}
		return Fail(errors.New("this plugin takes no configuration (it does not call wasm.Configure); remove [plugins.config]"))
	}
	// The handler may keep what it is given; the buffer is reused.
	if err := configure(append([]byte(nil), in...)); err != nil {
		return Fail(err)
	}
	return 0
}

// CallForTesting runs hook as the host would: it writes input into the
// buffer, calls hook with its length, and returns a copy of the output,
// sdk.ErrDecline for a decline, or the guest's error message as an error.
func CallForTesting(input []byte, hook func(n int32) int32) ([]byte, error) {
	copy(Grow(len(input)), input)
	r := hook(int32(len(input)))
	switch {
	case r >= 0:
		return append([]byte(nil), Grow(int(r))[:r]...), nil
	case r == abi.Decline:
		return nil, sdk.ErrDecline
	}
	n := min(abi.MessageLen(r), abi.MaxMessageLen)
	return nil, errors.New(string(Grow(n)[:n]))
}
