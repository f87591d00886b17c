package codecs

import (
	"errors"
	"fmt"
	"io"
	"math"

	"github.com/weirmq/weir/sdk"
)

// ErrCorrupt is wrapped by every error Decode returns for input that is not
// valid for its codec: bad magic numbers, failed checksums, truncated
// streams, lengths that contradict the data. Corrupt input is never worth
// retrying.
var ErrCorrupt = errors.New("corrupt compressed data")

// All returns a new instance of each built-in codec, in compression ID order:
// none, gzip, snappy, lz4, zstd. Each instance has its own pools.
func All() []sdk.Codec {
	return []sdk.Codec{NewNone(), NewGzip(), NewSnappy(), NewLZ4(), NewZstd()}
}

// Register adds every codec returned by All to r. If r is nil, or any
// built-in's name or compression ID is already registered, Register returns
// an error and registers none of them.
func Register(r *sdk.Registry) error {
	if r == nil {
		return errors.New("codecs: register built-in codecs: nil registry")
	}
	all := All()
	for _, c := range all {
		if old, ok := r.Codec(c.ID()); ok {
			return fmt.Errorf("codecs: register built-in codec %q: compression id %d is already registered by %q", c.Name(), c.ID(), old.Name())
		}
		if _, ok := r.CodecByName(c.Name()); ok {
			return fmt.Errorf("codecs: register built-in codec %q: name is already registered", c.Name())
		}
	}
	for _, c := range all {
		if err := r.RegisterCodec(c); err != nil {
			return fmt.Errorf("codecs: register built-in codecs: %w", err)
		}
	}
	return nil
}

// tooLarge is the error Decode returns when output would pass maxSize.
func tooLarge(id sdk.CompressionID, maxSize int) error {
	return fmt.Errorf("codecs: %s: %w (limit %d bytes)", id, sdk.ErrDecodedTooLarge, max(maxSize, 0))
}

// corrupt is the error Decode returns for invalid input.
func corrupt(id sdk.CompressionID, format string, args ...any) error {
	return fmt.Errorf("codecs: %s: %w: %s", id, ErrCorrupt, fmt.Sprintf(format, args...))
}

// corruptCause is corrupt with the underlying library's error kept in the
// chain.
func corruptCause(id sdk.CompressionID, cause error) error {
	return fmt.Errorf("codecs: %s: %w: %w", id, ErrCorrupt, cause)
}

// decodeLimit is the largest len the output slice may reach when Decode
// started with start bytes in dst. A negative maxSize counts as zero.
func decodeLimit(start, maxSize int) int {
	if maxSize <= 0 {
		return start
	}
	if maxSize > math.MaxInt-start {
		return math.MaxInt
	}
	return start + maxSize
}

// minGrow is the smallest step by which reserve grows a buffer, so that
// output arriving in small pieces does not reallocate on each one.
const minGrow = 4 << 10

// reserve returns out with room for at least n more bytes. A new buffer
// roughly doubles the decoded part (out[start:]) but never lets the capacity
// pass limit: that is what keeps Decode's allocations near maxSize. Callers
// ensure len(out)+n <= limit.
func reserve(out []byte, n, start, limit int) []byte {
	if cap(out)-len(out) >= n {
		return out
	}
	grow := min(max(n, len(out)-start, minGrow), limit-len(out))
	buf := make([]byte, len(out), len(out)+grow)
	copy(buf, out)
	return buf
}

// sameArray reports whether a and b start at the same element of one
// backing array.
func sameArray(a, b []byte) bool {
	return cap(a) > 0 && cap(b) > 0 && &a[:1][0] == &b[:1][0]
}

// readAll appends to dst everything r yields until io.EOF, failing with
// sdk.ErrDecodedTooLarge once it would append more than maxSize bytes. It
// first makes room for hint bytes (callers pass a size the input claims,
// already capped at maxSize), which in the common case is the only
// allocation. probe is a one-byte scratch buffer that lives with the caller's
// pooled state, used to check for the end of the stream when dst is full
// without growing it.
func readAll(id sdk.CompressionID, dst []byte, r io.Reader, maxSize, hint int, probe []byte) ([]byte, error) {
	start := len(dst)
	limit := decodeLimit(start, maxSize)
	out := dst
	if hint > 0 {
		out = reserve(out, min(hint, limit-start), start, limit)
	}
	for {
		if len(out) == cap(out) || len(out) == limit {
			// Out of room: read one byte to learn whether there is more
			// before paying for a bigger buffer.
			n, err := r.Read(probe[:1])
			if n == 1 {
				if len(out) == limit {
					return dst, tooLarge(id, maxSize)
				}
				out = reserve(out, 1, start, limit)
				out = append(out, probe[0])
			}
			if err == io.EOF {
				return out, nil
			}
			if err != nil {
				return dst, corruptCause(id, err)
			}
			continue
		}
		end := min(cap(out), limit)
		n, err := r.Read(out[len(out):end])
		out = out[:len(out)+n]
		if err == io.EOF {
			return out, nil
		}
		if err != nil {
			return dst, corruptCause(id, err)
		}
	}
}
