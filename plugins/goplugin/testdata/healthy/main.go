// Command healthy is a well-behaved test plugin serving a partitioner, a
// compaction filter and an assignor from one binary.
package main

import (
	"github.com/weirmq/weir/plugins/goplugin/internal/testplugin"
	"github.com/weirmq/weir/sdk/goplugin"
)

func main() {
	p := testplugin.New(false)
	goplugin.Logger().Info("healthy test plugin starting")
	goplugin.Serve(goplugin.Plugins{
		Partitioner:      p.Partitioner(),
		CompactionFilter: p.Filter(),
		Assignor:         p.Assignor(),
		Configure:        p.Configure,
	})
}
