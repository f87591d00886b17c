//go:build wasip1

package assignor

//go:wasmexport weir_assign
func weirAssign(n int32) int32 { return handle(n) }
