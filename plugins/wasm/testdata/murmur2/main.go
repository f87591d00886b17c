// Command murmur2 is a WASM partitioner written with the sdk/wasm
// helpers: the Java client's murmur2 for keyed records, round-robin for
// records without a key — the same rules as the built-in, written
// independently so that the differential test compares two
// implementations.
//
// It is written flat for speed in a Go guest: the host stops runaway
// guests with a check at every loop iteration, and Go's WASM code makes
// every non-inlined call with calls of its own a loop too, so the per-key
// path is one loop over the keys and one over 16-byte strides, with the
// rest unrolled.
package main

import (
	"encoding/binary"

	"github.com/weirmq/weir/sdk/wasm/partitioner"
)

var next uint32 // round-robin position for records without a key

const m = 0x5bd1e995

// mix folds one 4-byte block into h.
func mix(h, k uint32) uint32 {
	k *= m
	k ^= k >> 24
	k *= m
	return h*m ^ k
}

func place(_ string, n int32, keys [][]byte, out []int32) error {
	for i, b := range keys {
		if b == nil {
			out[i] = int32(next % uint32(n))
			next++
			continue
		}
		h := uint32(0x9747b28c) ^ uint32(len(b))
		for len(b) >= 16 {
			h = mix(h, binary.LittleEndian.Uint32(b))
			h = mix(h, binary.LittleEndian.Uint32(b[4:]))
			h = mix(h, binary.LittleEndian.Uint32(b[8:]))
			h = mix(h, binary.LittleEndian.Uint32(b[12:]))
			b = b[16:]
		}
		if len(b) >= 8 {
			h = mix(h, binary.LittleEndian.Uint32(b))
			h = mix(h, binary.LittleEndian.Uint32(b[4:]))
			b = b[8:]
		}
		if len(b) >= 4 {
			h = mix(h, binary.LittleEndian.Uint32(b))
			b = b[4:]
		}
		switch len(b) {
		case 3:
			h ^= uint32(b[2]) << 16
			fallthrough
		case 2:
			h ^= uint32(b[1]) << 8
			fallthrough
		case 1:
			h ^= uint32(b[0])
			h *= m
		}
		h ^= h >> 13
		h *= m
		h ^= h >> 15
		out[i] = int32(h&0x7fffffff) % n
	}
	return nil
}

func init() { partitioner.Register(place) }

func main() {}
