// Package goplugin serves Weir extension points from a separate program,
// run by the broker with hashicorp/go-plugin over gRPC.
//
// A plugin is an ordinary Go main package. It builds its implementations
// of the sdk interfaces and hands them to Serve, which never returns:
//
//	func main() {
//		goplugin.Serve(goplugin.Plugins{
//			Assignor:    myAssignor{},
//			Partitioner: myPartitioner{}, // one binary may serve several points
//			Configure: func(ctx context.Context, config json.RawMessage) error {
//				return json.Unmarshal(config, &settings)
//			},
//		})
//	}
//
// and the broker runs it when a [[plugins]] entry of its configuration
// names the binary (sdk/README.md has the details):
//
//	[[plugins]]
//	name    = "tenant-assignor"   # how groups and topics refer to it
//	kind    = "assignor"
//	command = "/usr/local/bin/my-plugin"
//	[plugins.config]              # handed to Configure as JSON
//	weights = { a = 2, b = 1 }
//
// The broker starts the binary, checks the go-plugin handshake (a magic
// cookie and protocol version wire.ProtocolVersion), asks which points it
// serves, and calls Configure (if set) with the [plugins.config] table as a
// JSON object before any other call. Every call then carries the broker's
// deadline in its context. An implementation that returns sdk.ErrDecline
// tells the broker to use its built-in for that call; any other error, a
// panic (recovered by Serve and reported as an error), a call that
// overruns its deadline or a process that exits, counts as a failure: the
// broker falls back to the built-in, logs the plugin's name, and restarts
// the process if it died.
//
// A plugin writes its logs with Logger, whose lines the broker re-logs
// under the plugin's name with their level. Anything the plugin writes to
// os.Stdout or os.Stderr after Serve starts is forwarded to the broker's
// log too.
//
// Implementations must be safe for concurrent use: the broker may make
// several calls at once.
package goplugin
