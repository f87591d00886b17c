// Package wasm hosts Weir's WASM plugins in-process with wazero: modules
// written against the ABI in sdk/wasm/ABI.md (in Go with the sdk/wasm
// helpers, TinyGo or Rust) that implement partitioners, compaction filters
// and assignors.
//
// Open compiles a module once (through an on-disk compilation cache when
// Options.CacheDir is set), checks its exports and ABI version, starts one
// instance and hands it the plugin's configuration. Module.Partitioner,
// CompactionFilter and Assignor return sdk implementations for the hooks
// the module exports; the registry wraps them with plugins/fallback, which
// turns failed calls into the built-in's answer, counts them in metrics
// and opens a circuit breaker after repeated failures.
//
// Every call:
//
//   - takes an instance from a pool of Options.PoolSize (each instance is
//     used by one goroutine at a time; function handles are cached per
//     instance; missing instances are started on demand);
//   - writes its input into the guest-owned buffer (weir_buffer), so no
//     guest allocation per call;
//   - runs under a deadline (Options.CallTimeout) and a memory limit
//     (Options.MaxMemoryPages);
//   - on a trap, a timeout, an exit (a Go guest's panic or out-of-memory)
//     or a malformed answer, discards the instance — the next call starts a
//     fresh one — and returns an error naming the plugin. An error the
//     guest reports through the ABI keeps the instance.
//
// Guests get WASI with no file system, no network, no environment and no
// arguments beyond the plugin's name; clocks and randomness are the host's.
// Their stdout and stderr go to the logger, as does the ABI's one host
// import, weir.log, at a limited rate.
//
// Module.Reload (and, with Options.WatchInterval, a change to the module
// file) compiles the new module and swaps it in without a restart: calls
// already running finish on the old module, which is closed when its last
// instance comes back. A module that fails to load leaves the old one in
// place.
//
// A Module is safe for concurrent use; it must be created with Open or
// OpenBytes and released with Close.
package wasm
