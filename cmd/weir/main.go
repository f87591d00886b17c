// Command weir is Weir's single binary: `weir serve` runs a node, and the
// other commands (arriving with the broker) talk Kafka to any broker.
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
