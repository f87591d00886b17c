// Command hostile is a test plugin serving a partitioner and an assignor
// that exits the process on the key "crash" and never answers the key
// "hang".
package main

import (
	"github.com/weirmq/weir/plugins/goplugin/internal/testplugin"
	"github.com/weirmq/weir/sdk/goplugin"
)

func main() {
	p := testplugin.New(true)
	goplugin.Serve(goplugin.Plugins{
		Partitioner: p.Partitioner(),
		Assignor:    p.Assignor(),
		Configure:   p.Configure,
	})
}
