// Package fallback wraps plugin implementations of the sdk extension points
// with the rules every plugin host shares: a failing call falls back to the
// built-in, repeated failures open a circuit breaker so that a broken plugin
// stops costing time, and every failure shows up in the log (naming the
// plugin) and in metrics.
//
// The hosts (plugins/wasm, plugins/goplugin) return plain sdk
// implementations that report failures as errors; the registry wraps each
// one here before handing it to the engine, so the engine never sees a
// plugin error it has to interpret.
//
// What "falling back" means per extension point:
//
//   - Partitioner: the call is answered by the built-in partitioner given
//     to Partitioner (murmur2). A plugin returning sdk.ErrDecline is
//     answered the same way without counting as a failure. An answer that
//     fails sdk.CheckPartitions is a failure.
//   - CompactionFilter: every record of the chunk is kept (a failing filter
//     never deletes). sdk.ErrDecline keeps everything without counting as a
//     failure. An out-of-range action is a failure.
//   - Assignor: the call is answered by the built-in assignor given to
//     Assignor. An assignment that fails Assignment.Check is a failure.
//
// The breaker opens after Options.FailureThreshold consecutive failures;
// while open, calls go straight to the fallback. After Options.OpenFor it
// lets one call through to the plugin (half-open): success closes it,
// failure keeps it open for another OpenFor.
package fallback
