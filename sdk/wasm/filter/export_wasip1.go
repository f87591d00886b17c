//go:build wasip1

package filter

//go:wasmexport weir_filter
func weirFilter(n int32) int32 { return handle(n) }
