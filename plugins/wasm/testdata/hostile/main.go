// Command hostile is a partitioner that misbehaves on purpose, written
// against the raw ABI (sdk/wasm/ABI.md) rather than the helpers so that it
// can break the ABI. The topic name picks the behaviour:
//
//	ok        every key to the last partition
//	slow      busy-wait 300 ms, then as ok
//	panic     a Go panic (the Go runtime exits with code 2)
//	trap      a load outside linear memory (a WASM trap)
//	loop      an infinite loop
//	grow      allocate without bound
//	badlen    a result length beyond the end of memory
//	badcount  one partition fewer than keys
//	badptr    a result longer than the buffer, then a buffer address
//	          outside memory from weir_buffer
//	error     an error with a message
//	decline   decline
//	log       500 log lines, then as ok
//	escape    try to read files, list directories and read the
//	          environment; the error message says what it got
package main

import (
	"encoding/binary"
	"fmt"
	"os"
	"strings"
	"time"
	"unsafe"
)

var (
	buf    = make([]byte, 1<<16)
	badPtr bool
	hoard  [][]byte
)

//go:wasmimport weir log
func hostLog(level int32, ptr unsafe.Pointer, n int32)

//go:wasmexport weir_abi_version
func version() int32 { return 1 }

//go:wasmexport weir_buffer
func buffer(size int32) uint32 {
	if badPtr {
		badPtr = false
		return 0xFFFF0000
	}
	if int(size) > len(buf) {
		nb := make([]byte, size)
		copy(nb, buf)
		buf = nb
	}
	return uint32(uintptr(unsafe.Pointer(&buf[0])))
}

//go:wasmexport weir_partition
func partition(n int32) int32 {
	in := buf[:n]
	parts := int32(binary.LittleEndian.Uint32(in))
	count := int(binary.LittleEndian.Uint32(in[4:]))
	tlen, w := binary.Varint(in[8:])
	topic := string(in[8+w : 8+w+int(tlen)])
	answer := func(count int) int32 {
		for i := range count {
			binary.LittleEndian.PutUint32(buf[4*i:], uint32(parts-1))
		}
		return int32(4 * count)
	}
	switch topic {
	case "ok":
	case "slow":
		for start := time.Now(); time.Since(start) < 300*time.Millisecond; {
		}
	case "panic":
		panic("hostile plugin panics")
	case "trap":
		return int32(*(*byte)(unsafe.Pointer(uintptr(0xFFFFFFF0))))
	case "loop":
		for {
		}
	case "grow":
		for {
			hoard = append(hoard, make([]byte, 1<<20))
		}
	case "badlen":
		return 1 << 30
	case "badcount":
		return answer(count - 1)
	case "badptr":
		badPtr = true
		return int32(len(buf) + 1)
	case "error":
		return -2 - int32(copy(buf, "hostile says no"))
	case "decline":
		return -1
	case "escape":
		var got []string
		for _, path := range []string{"/etc/hostname", "/etc/passwd", "go.mod", "main.go"} {
			if b, err := os.ReadFile(path); err == nil {
				got = append(got, fmt.Sprintf("read %s (%d bytes)", path, len(b)))
			}
		}
		for _, dir := range []string{"/", ".", "/tmp"} {
			if ents, err := os.ReadDir(dir); err == nil {
				got = append(got, fmt.Sprintf("listed %s (%d entries)", dir, len(ents)))
			}
		}
		if env := os.Environ(); len(env) > 0 {
			got = append(got, fmt.Sprintf("environment %v", env))
		}
		if err := os.WriteFile("/tmp/weir-escaped", []byte("x"), 0o644); err == nil {
			got = append(got, "wrote /tmp/weir-escaped")
		}
		got = append(got, fmt.Sprintf("args %q", os.Args))
		return -2 - int32(copy(buf, strings.Join(got, "; ")))
	case "log":
		msg := "hostile log line"
		for range 500 {
			hostLog(0, unsafe.Pointer(unsafe.StringData(msg)), int32(len(msg)))
		}
	}
	return answer(count)
}

func main() {}
