//go:build wasip1

package partitioner

import "unsafe"

//go:wasmexport weir_partition
func weirPartition(n int32) int32 { return handle(n) }

// putOutput writes out into dst as the ABI's little-endian int32s. WASM is
// little-endian, so that is out's own memory: one copy instead of a loop
// (each loop iteration costs a termination check in the host).
func putOutput(dst []byte, out []int32) int {
	if len(out) == 0 {
		return 0
	}
	return copy(dst, unsafe.Slice((*byte)(unsafe.Pointer(&out[0])), 4*len(out)))
}
