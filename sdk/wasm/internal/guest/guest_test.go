package guest

import (
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/weirmq/weir/sdk"
	"github.com/weirmq/weir/sdk/wasm/abi"
)

func TestGrowKeepsContents(t *testing.T) {
	b := Grow(10)
	copy(b, "hello")
	if len(b) < minBuffer {
		t.Fatalf("first buffer %d bytes", len(b))
	}
	b2 := Grow(len(b) + 1)
	if string(b2[:5]) != "hello" || len(b2) <= len(b) {
		t.Fatalf("grown buffer lost its contents or did not grow: %q, %d", b2[:5], len(b2))
	}
	if &Grow(5)[0] != &b2[0] {
		t.Fatal("a smaller request moved the buffer")
	}
	if Grow(-1) != nil {
		t.Fatal("negative size")
	}
	if _, err := Input(int32(len(b2) + 1)); err == nil {
		t.Fatal("input past the buffer accepted")
	}
}

func TestFail(t *testing.T) {
	if r := Fail(fmt.Errorf("wrapped: %w", sdk.ErrDecline)); r != abi.Decline {
		t.Fatalf("decline gave %d", r)
	}
	r := Fail(errors.New("nope"))
	if n := abi.MessageLen(r); n != 4 || string(Grow(0)[:n]) != "nope" {
		t.Fatalf("error code %d", r)
	}
	r = Fail(errors.New(strings.Repeat("x", 5000)))
	if abi.MessageLen(r) != abi.MaxMessageLen {
		t.Fatalf("long message: length %d", abi.MessageLen(r))
	}
}

// Without a Configure function, an empty config is accepted and any
// other is refused with a message saying why.
func TestConfigureWithoutHandler(t *testing.T) {
	for _, c := range []string{"", "{}", " null "} {
		if _, err := CallForTesting([]byte(c), HandleConfigure); err != nil {
			t.Fatalf("%q: %v", c, err)
		}
	}
	if _, err := CallForTesting([]byte(`{"a":1}`), HandleConfigure); err == nil || !strings.Contains(err.Error(), "takes no configuration") {
		t.Fatalf("config refused with %v", err)
	}
}
