//go:build !wasip1

package partitioner

import "github.com/weirmq/weir/sdk/wasm/abi"

// putOutput writes out into dst as the ABI's little-endian int32s.
func putOutput(dst []byte, out []int32) int { return abi.PutPartitionOutput(dst, out) }
