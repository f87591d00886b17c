// Command badversion speaks an ABI version the host does not know.
package main

import "unsafe"

var buf = make([]byte, 1<<16)

//go:wasmexport weir_abi_version
func version() int32 { return 99 }

//go:wasmexport weir_buffer
func buffer(size int32) uint32 {
	if int(size) > len(buf) {
		buf = make([]byte, size)
	}
	return uint32(uintptr(unsafe.Pointer(&buf[0])))
}

//go:wasmexport weir_partition
func partition(n int32) int32 { return 0 }

func main() {}
