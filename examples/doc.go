// Package examples holds runnable examples, one directory each, with a
// README and a test that builds the example and runs it through a real
// Weir:
//
//   - wasm-partitioner: a WASM partitioner in plain Go that routes records
//     by the tenant prefix of their key, used by the HTTP produce endpoint,
//     `weir produce` and a franz-go client, and enforced by the broker;
//   - goplugin-assignor: a go-plugin assignor that pins static members to
//     partitions, for classic (weir.assignor) and KIP-848 groups;
//   - wasm-ttl-filter: a WASM compaction filter that drops records whose
//     ttl header has passed;
//   - weir.toml: a full configuration, with those plugins and a NATS
//     bridge.
//
// `go test ./examples/...` builds and tests them (`make test` includes
// them). Their shared test harness is examples/internal/weirtest; no
// example imports core.
package examples
