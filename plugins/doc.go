// Package plugins will hold the hosts that load extensions into Weir: WASM
// modules run in-process by wazero (plugins/wasm), out-of-process
// go-plugin binaries (plugins/goplugin), the code that fills an
// sdk.Registry from the [[plugins]] entries of the TOML config, and
// built-in plugins such as the NATS bridge (plugins/nats). See
// ARCHITECTURE §4. It is empty until the plugins issue lands.
package plugins
