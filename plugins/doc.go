// Package plugins loads the extensions named in weir.toml's [[plugins]]
// tables into the sdk.Registry the engine uses, and serves the plugin
// admin API. The hosts live below it: WASM modules run in-process by
// wazero (plugins/wasm), go-plugin executables run out of process
// (plugins/goplugin); plugins/fallback holds the circuit breaker and
// built-in fallbacks every plugin is wrapped in; plugins/nats is the NATS
// bridge. See ARCHITECTURE §4 and sdk/README.md.
//
// # Start-up
//
// cmd/weir builds one sdk.Registry: the built-ins first (codecs.Register,
// assignors.Register, partitioners.Register), then Load, which for each
// [[plugins]] entry, in file order:
//
//  1. opens the WASM module (compiled through the on-disk cache
//     <data_dir>/plugin-cache, and watched for changes) or starts the
//     go-plugin binary, handing it the entry's [plugins.config];
//  2. checks that it implements the entry's kind;
//  3. wraps it with plugins/fallback — a failing call is answered by
//     murmur2 (partitioners), keeps every record (compaction filters) or
//     by FallbackAssignor, "uniform" (assignors) — and registers it under
//     the entry's name, where topic and group configs find it as they
//     find a built-in: weir.partitioner, weir.compaction.filter,
//     weir.assignor and weir.group.assignor, and a KIP-848 member's
//     requested server assignor.
//
// Any failure stops start-up with an error naming the plugin. The
// returned Set lists the plugins (GET /v1/plugins), reloads one
// (POST /v1/plugins/{name}/reload: the registered value stays, the module
// or process behind it is swapped), gives a WASM partitioner's module to
// the producer package (GET /v1/topics/{topic}/partitioner), and closes
// them all at shutdown, after the broker.
//
// # Codecs
//
// Kind "codec" is refused. A codec is one of Kafka's compression ids,
// written in each batch's attributes and decoded by every consumer, so a
// plugin could only replace a built-in id's implementation, never add a
// format clients understand; and neither host offers a codec hook. Topics
// choose among the built-ins with compression.type, which the leader
// applies on append (core/server/recompress.go).
package plugins
