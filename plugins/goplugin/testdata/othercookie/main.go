// Command othercookie is a go-plugin binary for some other program: its
// magic cookie is not Weir's.
package main

import (
	"context"

	"github.com/hashicorp/go-plugin"
	"google.golang.org/grpc"

	"github.com/weirmq/weir/sdk/goplugin/wire"
)

type nothing struct{ plugin.NetRPCUnsupportedPlugin }

func (nothing) GRPCServer(*plugin.GRPCBroker, *grpc.Server) error { return nil }
func (nothing) GRPCClient(context.Context, *plugin.GRPCBroker, *grpc.ClientConn) (any, error) {
	return nil, nil
}

func main() {
	hs := wire.Handshake
	hs.MagicCookieKey, hs.MagicCookieValue = "OTHER_APP_PLUGIN", "not-weir"
	plugin.Serve(&plugin.ServeConfig{
		HandshakeConfig: hs,
		Plugins:         plugin.PluginSet{wire.PluginSetName: nothing{}},
		GRPCServer:      plugin.DefaultGRPCServer,
	})
}
