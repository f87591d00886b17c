//go:build wasip1

package guest

import (
	"unsafe"

	"github.com/weirmq/weir/sdk/wasm/abi"
)

//go:wasmexport weir_abi_version
func weirABIVersion() int32 { return abi.Version }

// weirBuffer returns the address of the buffer, grown to at least size
// bytes (contents kept), or 0 for a negative size.
//
//go:wasmexport weir_buffer
func weirBuffer(size int32) uint32 {
	b := Grow(int(size))
	if b == nil {
		return 0
	}
	return uint32(uintptr(unsafe.Pointer(unsafe.SliceData(b))))
}

//go:wasmexport weir_configure
func weirConfigure(n int32) int32 { return HandleConfigure(n) }

//go:wasmimport weir log
func hostLog(level int32, ptr unsafe.Pointer, n int32)

// Log sends msg to the host's logger at level.
func Log(level int32, msg string) {
	if len(msg) > abi.MaxMessageLen {
		msg = msg[:abi.MaxMessageLen]
	}
	hostLog(level, unsafe.Pointer(unsafe.StringData(msg)), int32(len(msg)))
}
