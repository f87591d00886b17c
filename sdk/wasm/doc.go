// Package wasm is the guest side of Weir's WASM plugins: what a plugin
// author imports to write a partitioner, compaction filter or assignor in
// plain Go and build it with
//
//	GOOS=wasip1 GOARCH=wasm go build -buildmode=c-shared -o plugin.wasm .
//
// A plugin is a main package that registers its hook in init and has an
// empty main:
//
//	package main
//
//	import "github.com/weirmq/weir/sdk/wasm/partitioner"
//
//	func init() {
//		partitioner.Register(func(topic string, n int32, keys [][]byte, out []int32) error {
//			for i := range keys {
//				out[i] = int32(len(keys[i])) % n
//			}
//			return nil
//		})
//	}
//
//	func main() {}
//
// Each hook lives in its own package — sdk/wasm/partitioner (weir_partition),
// sdk/wasm/filter (weir_filter), sdk/wasm/assignor (weir_assign) — and
// importing one exports that hook and nothing else, so a module declares
// what it implements by what it imports. Any of them also exports the
// ABI's required functions (weir_abi_version, weir_buffer) and
// weir_configure. This package adds what every plugin may use: Configure
// to receive the [plugins.config] table as JSON, Log to write to the
// broker's log, and ErrDecline to hand a call back to the built-in.
//
// The byte-level contract is in ABI.md next to this file, for guests
// written in other languages; sdk/wasm/abi implements it in Go.
//
// Guests get no file system, network or environment variables. A plugin's
// functions are called one at a time per instance (the host runs several
// instances for concurrency), so plugin code needs no locks; state kept in
// globals is per instance and lost when the host replaces the instance.
//
// Outside wasip1 the packages compile too (the hooks are then not
// exported and Log writes to standard error), so a plugin's logic can be
// unit-tested with an ordinary `go test`.
package wasm
