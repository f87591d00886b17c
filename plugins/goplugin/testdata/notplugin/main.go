// Command notplugin is an ordinary program, not a plugin: it greets and
// exits.
package main

import (
	"fmt"
	"os"
)

func main() {
	fmt.Println("hello, I am not a plugin")
	fmt.Fprintln(os.Stderr, "notplugin: nothing to do")
}
