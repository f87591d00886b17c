//go:build !wasip1

package guest

import (
	"fmt"
	"os"
)

// Log writes msg to standard error: outside a WASM host (in a plugin's
// native unit tests) there is no host logger.
func Log(level int32, msg string) {
	fmt.Fprintf(os.Stderr, "weir plugin log level=%d msg=%q\n", level, msg)
}
