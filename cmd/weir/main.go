// Command weir is Weir's single binary: `weir serve` runs a node, and the
// other commands talk Kafka (or a node's HTTP API) to any broker; doc.go
// lists them.
package main

import (
	"fmt"
	"os"
)

func main() {
	if err := newRootCommand().Execute(); err != nil {
		fmt.Fprintln(os.Stderr, "weir:", err)
		os.Exit(1)
	}
}
