// Package sdk is the contract between Weir and the code that extends it.
//
// Each extension point is one interface in its own file: Partitioner
// (partitioner.go), Assignor (assignor.go), CompactionFilter
// (compaction.go) and Codec (codec.go). Implementations — the built-ins in codecs/, partitioners/
// and assignors/, and WASM or go-plugin modules loaded by plugins/ — are
// handed to the engine through a Registry value built at start-up; there is
// no global registry.
//
// A published interface never gains a method. New capabilities arrive as
// optional interfaces that callers detect with a type assertion.
//
// To write a plugin, start with README.md in this directory: it takes a
// partitioner from an empty directory to records placed by it in a
// running Weir (sdk/wasm and sdk/goplugin are the guest-side helpers).
package sdk
