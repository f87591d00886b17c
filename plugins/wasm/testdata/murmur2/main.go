// Command murmur2 is a WASM partitioner written with the sdk/wasm
// helpers: the Java client's murmur2 for keyed records, round-robin for
// records without a key — the same rules as the built-in, written
// independently so that the differential test compares two
// implementations.
package main

import "github.com/weirmq/weir/sdk/wasm/partitioner"

var next uint32 // round-robin position for records without a key

func murmur2(b []byte) uint32 {
	const m = 0x5bd1e995
	h := uint32(0x9747b28c) ^ uint32(len(b))
	i := 0
	for ; i+4 <= len(b); i += 4 {
		k := uint32(b[i]) | uint32(b[i+1])<<8 | uint32(b[i+2])<<16 | uint32(b[i+3])<<24
		k *= m
		k ^= k >> 24
		k *= m
		h = h*m ^ k
	}
	switch rest := b[i:]; len(rest) {
	case 3:
		h ^= uint32(rest[2]) << 16
		fallthrough
	case 2:
		h ^= uint32(rest[1]) << 8
		fallthrough
	case 1:
		h ^= uint32(rest[0])
		h *= m
	}
	h ^= h >> 13
	h *= m
	h ^= h >> 15
	return h
}

func init() {
	partitioner.Register(func(_ string, n int32, keys [][]byte, out []int32) error {
		for i, k := range keys {
			if k == nil {
				out[i] = int32(next % uint32(n))
				next++
				continue
			}
			out[i] = int32(murmur2(k)&0x7fffffff) % n
		}
		return nil
	})
}

func main() {}
