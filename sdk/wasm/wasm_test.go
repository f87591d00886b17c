package wasm_test

import (
	"errors"
	"testing"

	"github.com/weirmq/weir/sdk/wasm"
	"github.com/weirmq/weir/sdk/wasm/abi"
	"github.com/weirmq/weir/sdk/wasm/internal/guest"
)

// weir_configure hands the JSON config to the Configure function; its
// error is the call's error.
func TestConfigure(t *testing.T) {
	var got string
	wasm.Configure(func(config []byte) error {
		got = string(config)
		if got == `{"bad":true}` {
			return errors.New("bad config")
		}
		return nil
	})
	if _, err := guest.CallForTesting([]byte(`{"header":"ttl"}`), guest.HandleConfigure); err != nil || got != `{"header":"ttl"}` {
		t.Fatalf("got %q, %v", got, err)
	}
	if _, err := guest.CallForTesting([]byte(`{"bad":true}`), guest.HandleConfigure); err == nil || err.Error() != "bad config" {
		t.Fatalf("refused config: %v", err)
	}
	if wasm.LevelWarn != wasm.Level(abi.LevelWarn) {
		t.Fatal("level values differ from the ABI's")
	}
}
