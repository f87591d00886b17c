// Command healthy is a well-behaved test plugin serving a partitioner, a
// compaction filter and an assignor from one binary.
package main

import (
	"context"
	"encoding/json"
	"fmt"

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
		Configure: func(ctx context.Context, config json.RawMessage) error {
			fmt.Printf("configuring with %s\n", config) // forwarded to the host's log
			return p.Configure(ctx, config)
		},
	})
}
