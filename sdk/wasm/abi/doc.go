// Package abi is the byte-level contract between Weir's WASM plugin host
// (plugins/wasm) and guest modules, written down in sdk/wasm/ABI.md: the
// export and import names, the return-code rules, and encoders and decoders
// for every hook's input and output.
//
// Both sides use this package — the host to encode inputs and decode the
// guest's answers, the Go guest helpers (sdk/wasm/partitioner, .../filter,
// .../assignor) to decode inputs and encode answers — so the two cannot
// drift apart. It is plain Go with no build constraints; a guest written in
// another language (TinyGo, Rust) implements the same layouts from ABI.md.
//
// Every decoder treats its input as hostile: it never panics, never reads
// out of bounds, and never allocates more than the input's length justifies.
// Decoders return slices that alias their input; callers that keep them
// must copy.
package abi
