package partitioner

import (
	"errors"
	"slices"
	"strings"
	"testing"

	"github.com/weirmq/weir/sdk"
	"github.com/weirmq/weir/sdk/wasm"
)

// The test plugin: partition = key length, except for topics that ask
// for a decline, an error, a panic or an out-of-range answer.
func init() {
	Register(func(topic string, n int32, keys [][]byte, out []int32) error {
		switch topic {
		case "decline":
			return wasm.ErrDecline
		case "error":
			return errors.New("no partitions for you")
		case "panic":
			panic("boom")
		}
		for i, k := range keys {
			if k == nil {
				out[i] = n - 1
				continue
			}
			out[i] = int32(len(k)) % n
		}
		return nil
	})
}

func TestHookRoundTrip(t *testing.T) {
	got, err := CallForTesting("t", 10, [][]byte{nil, {}, []byte("abc"), []byte(strings.Repeat("x", 1000))})
	if err != nil || !slices.Equal(got, []int32{9, 0, 3, 0}) {
		t.Fatalf("%v %v", got, err)
	}
	// A bigger batch than the buffer's first size grows it.
	keys := make([][]byte, 50_000)
	for i := range keys {
		keys[i] = []byte("ab")
	}
	got, err = CallForTesting("t", 5, keys)
	if err != nil || len(got) != len(keys) || got[49_999] != 2 {
		t.Fatalf("large batch: %d answers, err %v", len(got), err)
	}
}

func TestHookErrors(t *testing.T) {
	if _, err := CallForTesting("decline", 3, [][]byte{nil}); !errors.Is(err, sdk.ErrDecline) {
		t.Fatalf("decline: %v", err)
	}
	if _, err := CallForTesting("error", 3, [][]byte{nil}); err == nil || err.Error() != "no partitions for you" {
		t.Fatalf("error: %v", err)
	}
	if _, err := CallForTesting("panic", 3, [][]byte{nil}); err == nil || !strings.Contains(err.Error(), "plugin panic: boom") {
		t.Fatalf("panic: %v", err)
	}
}

func TestRegisterTwicePanics(t *testing.T) {
	defer func() {
		if recover() == nil {
			t.Fatal("no panic")
		}
	}()
	Register(func(string, int32, [][]byte, []int32) error { return nil })
}
