// Package examples will hold runnable examples, one directory each: a WASM
// partitioner in plain Go, a go-plugin assignor, a compaction filter, and a
// NATS bridge configuration. They arrive with the plugins and NATS issues;
// `make examples` will build them.
package examples
