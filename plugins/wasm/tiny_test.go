package wasm

import (
	"context"
	"testing"

	"github.com/weirmq/weir/sdk"
)

// tinyPartitioner returns a hand-assembled module (no Go runtime, no
// imports, 1 page of memory) that implements the ABI directly: its buffer
// is fixed at address 1024, and weir_partition puts every key on
// partition 0. It stands for guests written in other languages, and it
// compiles in microseconds (a Go guest takes ~1 s, ~20 s under -race).
func tinyPartitioner() []byte {
	uleb := func(v int) []byte {
		var b []byte
		for {
			c := byte(v & 0x7f)
			v >>= 7
			if v != 0 {
				b = append(b, c|0x80)
				continue
			}
			return append(b, c)
		}
	}
	vec := func(items ...[]byte) []byte {
		b := uleb(len(items))
		for _, it := range items {
			b = append(b, it...)
		}
		return b
	}
	section := func(id byte, body []byte) []byte {
		return append(append([]byte{id}, uleb(len(body))...), body...)
	}
	name := func(s string) []byte { return append(uleb(len(s)), s...) }
	body := func(code ...byte) []byte { return append(uleb(len(code)), code...) }
	const i32 = 0x7f
	mod := []byte("\x00asm\x01\x00\x00\x00")
	mod = append(mod, section(1, vec( // types
		[]byte{0x60, 0x00, 0x01, i32},      // () -> i32
		[]byte{0x60, 0x01, i32, 0x01, i32}, // (i32) -> i32
	))...)
	mod = append(mod, section(3, vec([]byte{0}, []byte{1}, []byte{1}))...) // functions' types
	mod = append(mod, section(5, vec([]byte{0x00, 0x01}))...)              // memory: min 1 page
	mod = append(mod, section(7, vec(                                      // exports
		append(name("weir_abi_version"), 0x00, 0),
		append(name("weir_buffer"), 0x00, 1),
		append(name("weir_partition"), 0x00, 2),
		append(name("memory"), 0x02, 0),
	))...)
	mod = append(mod, section(10, vec( // code
		body(0x00, 0x41, 0x01, 0x0b),       // weir_abi_version: i32.const 1
		body(0x00, 0x41, 0x80, 0x08, 0x0b), // weir_buffer: i32.const 1024
		body(
			0x01, 0x02, i32, // locals 1 (count) and 2 (i)
			0x41, 0x00, 0x28, 0x02, 0x84, 0x08, // i32.load offset=1028: key_count
			0x21, 0x01, // local.set count
			0x02, 0x40, // block
			0x03, 0x40, // loop
			0x20, 0x02, 0x20, 0x01, 0x4e, 0x0d, 0x01, // br_if i >= count
			0x20, 0x02, 0x41, 0x02, 0x74, // i << 2
			0x41, 0x00, 0x36, 0x02, 0x80, 0x08, // i32.store offset=1024 0
			0x20, 0x02, 0x41, 0x01, 0x6a, 0x21, 0x02, // i++
			0x0c, 0x00, // br loop
			0x0b, 0x0b, // end loop, end block
			0x20, 0x01, 0x41, 0x02, 0x74, // return count << 2
			0x0b,
		),
	))...)
	return mod
}

// A guest with no Go runtime and no WASI imports, written against the
// ABI alone, works.
func TestHandWrittenGuest(t *testing.T) {
	m, err := OpenBytes(context.Background(), tinyPartitioner(), Options{Name: "tiny", PoolSize: 1, Logger: quiet})
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close(context.Background())
	p, _ := m.Partitioner()
	out := []int32{7, 7, 7}
	if err := p.Partition(context.Background(), sdk.PartitionInput{Topic: "t", NumPartitions: 3, Keys: [][]byte{nil, []byte("a"), {}}}, out); err != nil {
		t.Fatal(err)
	}
	if out[0] != 0 || out[1] != 0 || out[2] != 0 {
		t.Fatalf("out %v", out)
	}
}
