// Package goplugin runs Weir plugins that are separate programs, built
// with sdk/goplugin and started with hashicorp/go-plugin over gRPC: the
// host side of ARCHITECTURE §4's out-of-process plugins. They suit hooks
// that are called rarely or need the outside world (assignors, heavy
// compaction filters); a call costs a local gRPC round trip.
//
// Use, in order:
//
//  1. Open starts the binary (go-plugin's handshake: magic cookie and
//     protocol version wire.ProtocolVersion), asks which extension points
//     it serves (Describe) and sends it its [plugins.config] (Configure).
//     A binary that is missing, is not a Weir plugin, speaks another
//     protocol version or rejects its config fails Open with an error
//     naming the plugin and the command.
//  2. Partitioner, CompactionFilter and Assignor return the points it
//     serves, each named after the plugin (Options.Name). The registry
//     wraps each with plugins/fallback before the engine sees it.
//  3. Reload starts the binary again (a new build on disk takes effect)
//     and swaps it in; Close stops it.
//
// Failure rules. Every call runs under Options.CallTimeout. A call fails
// with an error — never a panic, never a hang — when the plugin returns an
// error, overruns the timeout, or its process is gone; plugins/fallback
// then answers with the built-in and counts and logs the failure with the
// plugin's name. The Client keeps the process alive: a process that
// exits, fails two health checks (gRPC health pings every
// Options.HealthInterval) or lets three calls in a row time out is marked
// broken, calls fail at once with ErrNotRunning, and a supervisor
// goroutine kills it and starts it again after an exponential backoff
// (Options.RestartBackoff doubling up to Options.MaxRestartBackoff),
// logging each restart with the plugin's name and counting it in
// weir_goplugin_restarts_total.
//
// Logs: the host's own log lines, and every line the plugin writes to its
// stderr (hclog JSON lines from sdk/goplugin.Logger keep their level),
// go to Options.Logger with the attribute plugin=<name>.
package goplugin
