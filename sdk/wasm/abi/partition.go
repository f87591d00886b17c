package abi

import "encoding/binary"

// PartitionHeaderSize is the fixed part of a weir_partition input:
// num_partitions (int32) and key_count (int32).
const PartitionHeaderSize = 8

// PartitionRequest is a decoded weir_partition input. Topic and Keys alias
// the bytes it was decoded from.
type PartitionRequest struct {
	NumPartitions int32
	Topic         []byte
	Keys          [][]byte // nil for a record without a key
}

// PartitionInputSize returns the encoded size of a weir_partition input.
func PartitionInputSize(topic string, keys [][]byte) int {
	n := PartitionHeaderSize + varintLen(int64(len(topic))) + len(topic)
	for _, k := range keys {
		n += nullableBytesLen(k)
	}
	return n
}

// PutPartitionInput encodes a weir_partition input into dst, which must be
// at least PartitionInputSize(topic, keys) bytes, and returns the number of
// bytes written:
//
//	num_partitions int32 LE
//	key_count      int32 LE
//	topic          varint length + bytes
//	key_count ×    varint length (-1: null) + bytes
func PutPartitionInput(dst []byte, topic string, numPartitions int32, keys [][]byte) int {
	binary.LittleEndian.PutUint32(dst, uint32(numPartitions))
	binary.LittleEndian.PutUint32(dst[4:], uint32(len(keys)))
	i := PartitionHeaderSize
	i += binary.PutVarint(dst[i:], int64(len(topic)))
	i += copy(dst[i:], topic)
	for _, k := range keys {
		if k == nil {
			dst[i] = 1 // zigzag(-1)
			i++
			continue
		}
		i += binary.PutVarint(dst[i:], int64(len(k)))
		i += copy(dst[i:], k)
	}
	return i
}

// DecodePartitionInput decodes a weir_partition input. The keys are
// appended to scratch[:0] (pass the previous call's Keys to reuse it). It
// returns an error wrapping ErrMalformed for bytes that do not follow the
// layout, including trailing bytes.
func DecodePartitionInput(src []byte, scratch [][]byte) (PartitionRequest, error) {
	r := reader{b: src}
	req := PartitionRequest{NumPartitions: r.int32("num_partitions")}
	count := r.int32("key_count")
	req.Topic = r.bytes("topic")
	switch {
	case r.err != nil:
		return PartitionRequest{}, r.err
	case req.NumPartitions < 1:
		return PartitionRequest{}, malformed("num_partitions %d", req.NumPartitions)
	case count < 0 || int(count) > len(r.b): // every key takes at least one byte
		return PartitionRequest{}, malformed("key_count %d with %d bytes of keys", count, len(r.b))
	}
	keys, bad := decodeKeys(r.b, int(count), scratch)
	if bad >= 0 {
		return PartitionRequest{}, malformed("key %d of %d: bad length or truncated", bad, count)
	}
	req.Keys = keys
	return req, nil
}

// PutPartitionOutput encodes a weir_partition answer — one int32 LE per
// key — into dst, which must be at least 4*len(out) bytes, and returns
// the number of bytes written.
func PutPartitionOutput(dst []byte, out []int32) int {
	for i, p := range out {
		binary.LittleEndian.PutUint32(dst[4*i:], uint32(p))
	}
	return 4 * len(out)
}

// DecodePartitionOutput decodes a weir_partition answer into out. src
// must be exactly 4*len(out) bytes. It does not check the partitions'
// range (sdk.CheckPartitions does).
func DecodePartitionOutput(src []byte, out []int32) error {
	if len(src) != 4*len(out) {
		return malformed("partition answer of %d bytes for %d keys (want %d)", len(src), len(out), 4*len(out))
	}
	for i := range out {
		out[i] = int32(binary.LittleEndian.Uint32(src[4*i:]))
	}
	return nil
}

// decodeKeys decodes count nullable keys that must fill b exactly, into
// scratch (reallocated if too small). It returns the keys and -1, or the
// index of the first bad key (count for trailing bytes).
//
// It is written for a guest run with termination checks: the host checks
// at every loop iteration, and Go's WASM code also goes through a check
// whenever a jump crosses a call site, so the loop body holds no calls —
// no append, no error construction, varints decoded inline (nested ifs,
// not a loop), bounds checks the compiler can prove away.
func decodeKeys(b []byte, count int, scratch [][]byte) ([][]byte, int) {
	keys := scratch
	if cap(keys) < count {
		keys = make([][]byte, count)
	}
	keys = keys[:count]
	p, bad := 0, -1
	for i := range keys {
		// A Kafka varint of at most 5 bytes (32 bits), unrolled: the
		// usual one-byte length costs one comparison.
		if p >= len(b) {
			bad = i
			break
		}
		v := uint32(b[p])
		p++
		if v >= 0x80 { // 2 to 5 bytes: keys of 64 bytes or more
			v &= 0x7f
			if p >= len(b) {
				bad = i
				break
			}
			c := uint32(b[p])
			v |= (c & 0x7f) << 7
			if p++; c >= 0x80 {
				if p >= len(b) {
					bad = i
					break
				}
				c = uint32(b[p])
				v |= (c & 0x7f) << 14
				if p++; c >= 0x80 {
					if p >= len(b) {
						bad = i
						break
					}
					c = uint32(b[p])
					v |= (c & 0x7f) << 21
					if p++; c >= 0x80 {
						if p >= len(b) || b[p] > 0x0f {
							bad = i
							break
						}
						v |= uint32(b[p]) << 28
						p++
					}
				}
			}
		}
		n := int(int32(v>>1) ^ -int32(v&1))
		if n == -1 {
			keys[i] = nil
			continue
		}
		if n < 0 || n > len(b)-p {
			bad = i
			break
		}
		keys[i] = b[p : p+n : p+n]
		p += n
	}
	if bad < 0 && p != len(b) {
		bad = count
	}
	return keys, bad
}
