//go:build wasip1

package partitioner

//go:wasmexport weir_partition
func weirPartition(n int32) int32 { return handle(n) }
