package abi

import (
	"encoding/binary"
	"errors"
	"fmt"
)

// Version is the ABI version this package implements. A guest's
// weir_abi_version export returns it; the host refuses a module whose
// version it does not know.
const Version = 1

// Export and import names. A module declares which hooks it implements by
// the functions it exports.
const (
	ExportVersion   = "weir_abi_version" // () -> i32; required
	ExportBuffer    = "weir_buffer"      // (size i32) -> i32 address; required
	ExportConfigure = "weir_configure"   // (len i32) -> i32; optional
	ExportPartition = "weir_partition"   // (len i32) -> i32; the partitioner hook
	ExportFilter    = "weir_filter"      // (len i32) -> i32; the compaction-filter hook
	ExportAssign    = "weir_assign"      // (len i32) -> i32; the assignor hook

	// ExportInitialize is the reactor initialiser Go, TinyGo and Rust
	// emit for a library ("c-shared", "cdylib") build; the host calls it
	// once per instance before anything else.
	ExportInitialize = "_initialize"

	ImportModule = "weir" // the host module guests import from
	ImportLog    = "log"  // weir.log(level i32, ptr i32, len i32)
)

// Return codes of weir_configure and the hooks. A result r >= 0 is the
// length in bytes of the hook's output, which the guest has written at
// the start of its buffer.
const (
	// Decline (-1) means "use the built-in for this call".
	Decline int32 = -1
	// ErrorBase (-2) and below mean the call failed: the guest has written
	// a UTF-8 message of MessageLen(r) bytes at the start of its buffer.
	ErrorBase int32 = -2
)

// MaxMessageLen is the longest error or log message, in bytes, a host
// reads; guests truncate longer ones.
const MaxMessageLen = 1024

// ErrorCode returns the return code for an error whose message is msgLen
// bytes long: -2 - msgLen. msgLen is clamped to [0, MaxMessageLen].
func ErrorCode(msgLen int) int32 {
	msgLen = max(0, min(msgLen, MaxMessageLen))
	return ErrorBase - int32(msgLen)
}

// MessageLen returns the message length an error code r (r <= ErrorBase)
// announces: -2 - r. The host clamps it to MaxMessageLen.
func MessageLen(r int32) int {
	return int(int64(ErrorBase) - int64(r))
}

// Log levels for weir.log; they are log/slog's level values.
const (
	LevelDebug int32 = -4
	LevelInfo  int32 = 0
	LevelWarn  int32 = 4
	LevelError int32 = 8
)

// ErrMalformed is wrapped by every error a decoder returns: the bytes do
// not follow the layout ABI.md gives.
var ErrMalformed = errors.New("malformed ABI data")

func malformed(format string, args ...any) error {
	return fmt.Errorf("%w: %s", ErrMalformed, fmt.Sprintf(format, args...))
}

// reader decodes from a byte slice, remembering the first error.
type reader struct {
	b   []byte
	err error
}

func (r *reader) fail(format string, args ...any) {
	if r.err == nil {
		r.err = malformed(format, args...)
	}
	r.b = nil
}

func (r *reader) int32(what string) int32 {
	if len(r.b) < 4 {
		r.fail("%s: truncated", what)
		return 0
	}
	v := int32(binary.LittleEndian.Uint32(r.b))
	r.b = r.b[4:]
	return v
}

func (r *reader) int64(what string) int64 {
	if len(r.b) < 8 {
		r.fail("%s: truncated", what)
		return 0
	}
	v := int64(binary.LittleEndian.Uint64(r.b))
	r.b = r.b[8:]
	return v
}

func (r *reader) int8(what string) int8 {
	if len(r.b) < 1 {
		r.fail("%s: truncated", what)
		return 0
	}
	v := int8(r.b[0])
	r.b = r.b[1:]
	return v
}

// varlong reads a Kafka varlong: zigzag, base-128, at most 10 bytes.
func (r *reader) varlong(what string) int64 {
	v, n := binary.Varint(r.b)
	if n <= 0 {
		r.fail("%s: bad varint", what)
		return 0
	}
	r.b = r.b[n:]
	return v
}

// varint reads a Kafka varint: at most 5 bytes, and a value that fits in
// 32 bits (Kafka's ByteUtils.readVarint refuses longer encodings too).
func (r *reader) varint(what string) int32 {
	v, n := binary.Varint(r.b)
	if n <= 0 || n > 5 {
		r.fail("%s: bad varint", what)
		return 0
	}
	if v < -1<<31 || v > 1<<31-1 {
		r.fail("%s: varint %d out of 32-bit range", what, v)
		return 0
	}
	r.b = r.b[n:]
	return int32(v)
}

// nullableBytes reads Kafka's nullable bytes: a varint length (-1 for
// null) and that many bytes. The result aliases the input; a null is nil,
// an empty value is non-nil and empty.
func (r *reader) nullableBytes(what string) []byte {
	n := r.varint(what + " length")
	switch {
	case r.err != nil:
		return nil
	case n == -1:
		return nil
	case n < -1:
		r.fail("%s: negative length %d", what, n)
		return nil
	case int(n) > len(r.b):
		r.fail("%s: length %d but %d bytes left", what, n, len(r.b))
		return nil
	}
	v := r.b[:n:n]
	r.b = r.b[n:]
	return v
}

// bytes reads non-nullable bytes (a varint length >= 0).
func (r *reader) bytes(what string) []byte {
	v := r.nullableBytes(what)
	if r.err == nil && v == nil {
		r.fail("%s: null where a value is required", what)
	}
	return v
}

// varintLen is the encoded size of v as a Kafka varlong.
func varintLen(v int64) int {
	u := uint64(v<<1) ^ uint64(v>>63)
	n := 1
	for u >= 0x80 {
		u >>= 7
		n++
	}
	return n
}

func nullableBytesLen(b []byte) int {
	if b == nil {
		return 1
	}
	return varintLen(int64(len(b))) + len(b)
}

func appendNullableBytes(dst, b []byte) []byte {
	if b == nil {
		return binary.AppendVarint(dst, -1)
	}
	dst = binary.AppendVarint(dst, int64(len(b)))
	return append(dst, b...)
}

func appendString(dst []byte, s string) []byte {
	dst = binary.AppendVarint(dst, int64(len(s)))
	return append(dst, s...)
}
