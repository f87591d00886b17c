package record

import (
	"encoding/binary"
	"fmt"
	"hash/crc32"
	"math"
	"math/bits"

	"github.com/weirmq/weir/sdk"
)

// BuilderOptions are the batch-wide fields of a batch a Builder makes.
type BuilderOptions struct {
	// Codec compresses the records section. nil, or a codec whose ID is
	// sdk.CompressionNone, writes the records uncompressed.
	Codec sdk.Codec

	BaseOffset           int64
	PartitionLeaderEpoch int32

	// HasProducerID writes ProducerID, ProducerEpoch and BaseSequence as
	// given. When it is false (the zero value) all three are written as -1,
	// Kafka's "no producer", whatever they hold; this keeps a zero
	// BuilderOptions from claiming producer id 0.
	HasProducerID bool
	ProducerID    int64
	ProducerEpoch int16
	BaseSequence  int32

	Transactional bool
	Control       bool

	// LogAppendTime sets the timestamp type to LogAppendTime; readers then
	// see every record's timestamp as the batch's MaxTimestamp, so pass the
	// append time as each record's timestamp.
	LogAppendTime bool

	// BaseTimestamp, if not zero, is the batch's base timestamp, from which
	// record timestamps are stored as deltas. Zero means the first record's
	// timestamp, as Kafka's producer does. A batch with no records gets
	// BaseTimestamp as both its base and its max timestamp.
	BaseTimestamp int64

	// DeleteHorizon marks BaseTimestamp as the compaction delete horizon
	// (KIP-534); set BaseTimestamp with it.
	DeleteHorizon bool

	// LastOffsetDelta, if greater than the last record's offset delta, is
	// written instead, so that a batch rewritten by compaction keeps the
	// offset range of the batch it came from even when its last records (or
	// all of them) were dropped.
	LastOffsetDelta int32
}

// Builder encodes records into one v2 batch. Append records, then Build;
// Reset makes it ready for the next batch while keeping its buffer, so a
// reused Builder building uncompressed batches into a large-enough dst
// allocates nothing.
//
// A Builder is not safe for concurrent use.
type Builder struct {
	opts      BuilderOptions
	recs      []byte // the encoded records section, uncompressed
	n         int32  // records appended
	lastDelta int64  // offset delta of the last record; -1 before the first
	baseTS    int64
	maxTS     int64
	err       error // the first Append error, reported by Build
}

// NewBuilder returns a Builder for a batch with the given options.
func NewBuilder(opts BuilderOptions) *Builder {
	b := &Builder{}
	b.Reset(opts)
	return b
}

// Reset discards the records appended so far and starts a new batch with
// opts, keeping the Builder's buffer.
func (b *Builder) Reset(opts BuilderOptions) {
	b.opts = opts
	b.recs = b.recs[:0]
	b.n = 0
	b.lastDelta = -1
	b.baseTS = opts.BaseTimestamp
	b.maxTS = math.MinInt64
	b.err = nil
}

// Len returns the number of records appended since the last Reset.
func (b *Builder) Len() int { return int(b.n) }

// Size returns the size the batch would have if built now without
// compression: exact for an uncompressed batch, usually an overestimate for
// a compressed one.
func (b *Builder) Size() int { return HeaderSize + len(b.recs) }

// Append adds a record with the next offset delta (one more than the last
// record's, 0 for the first). A nil key or value is written as null; a nil
// header value likewise. key, value and headers are copied, not retained.
// Errors (a field too large for the format) are reported by Build.
func (b *Builder) Append(key, value []byte, timestamp int64, headers []RecordHeader) {
	b.appendRecord(0, b.lastDelta+1, timestamp, key, value, headers)
}

// AppendRecord adds r with its own OffsetDelta, Attributes and absolute
// Timestamp (its Offset and TimestampDelta are ignored), as compaction does
// when it copies the surviving records of a batch. It returns an error
// wrapping ErrCorrupt, and adds nothing, if r.OffsetDelta is not greater
// than the last record's (or is negative).
func (b *Builder) AppendRecord(r Record) error {
	if int64(r.OffsetDelta) <= b.lastDelta {
		return corruptf("builder: offset delta %d is not greater than the previous %d", r.OffsetDelta, b.lastDelta)
	}
	b.appendRecord(r.Attributes, int64(r.OffsetDelta), r.Timestamp, r.Key, r.Value, r.Headers)
	return nil
}

func (b *Builder) appendRecord(attr int8, offDelta int64, ts int64, key, value []byte, headers []RecordHeader) {
	if b.err != nil {
		return
	}
	if offDelta > math.MaxInt32 {
		b.err = fmt.Errorf("%w: builder: offset delta %d does not fit in int32", ErrTooLarge, offDelta)
		return
	}
	if b.n == 0 && b.opts.BaseTimestamp == 0 {
		b.baseTS = ts
	}
	tsDelta := ts - b.baseTS

	size := 1 + varintLen(tsDelta) + varintLen(offDelta) + bytesLen(key) + bytesLen(value) + varintLen(int64(len(headers)))
	for _, h := range headers {
		size += varintLen(int64(len(h.Key))) + len(h.Key) + bytesLen(h.Value)
	}
	if size > maxLength-(HeaderSize-LogOverhead)-len(b.recs) {
		b.err = fmt.Errorf("%w: builder: record %d of %d bytes does not fit in a batch", ErrTooLarge, b.n, size)
		return
	}

	p := b.recs
	p = binary.AppendVarint(p, int64(size))
	p = append(p, byte(attr))
	p = binary.AppendVarint(p, tsDelta)
	p = binary.AppendVarint(p, offDelta)
	p = appendNullableBytes(p, key)
	p = appendNullableBytes(p, value)
	p = binary.AppendVarint(p, int64(len(headers)))
	for _, h := range headers {
		p = binary.AppendVarint(p, int64(len(h.Key)))
		p = append(p, h.Key...)
		p = appendNullableBytes(p, h.Value)
	}
	b.recs = p

	b.n++
	b.lastDelta = offDelta
	b.maxTS = max(b.maxTS, ts)
}

// Build appends the finished batch to dst and returns the extended slice:
// header filled in, records compressed with opts.Codec if there is one,
// MaxTimestamp the greatest record timestamp, CRC computed. The Builder is
// left as it was; call Reset before building the next batch.
//
// On error dst is returned unextended. Errors wrap ErrTooLarge (the batch
// would exceed the int32 batch length, or a record was too large),
// ErrUnsupportedCompression (the codec's ID is not a Kafka compression
// type) or report the codec's failure.
func (b *Builder) Build(dst []byte) ([]byte, error) {
	if b.err != nil {
		return dst, b.err
	}
	o := &b.opts
	attr := Attributes(0)
	if o.Codec != nil {
		if id := o.Codec.ID(); id != sdk.CompressionNone {
			if id < 0 || Attributes(id) > compressionMask {
				return dst, fmt.Errorf("%w: builder: codec %q has id %d, outside Kafka's 0..7",
					ErrUnsupportedCompression, o.Codec.Name(), id)
			}
			attr |= Attributes(id)
		}
	}
	if o.LogAppendTime {
		attr |= timestampTypeBit
	}
	if o.Transactional {
		attr |= transactionalBit
	}
	if o.Control {
		attr |= controlBit
	}
	if o.DeleteHorizon {
		attr |= deleteHorizonBit
	}

	orig, start := dst, len(dst)
	dst = append(dst, make([]byte, HeaderSize)...)
	if attr.Compression() != sdk.CompressionNone {
		var err error
		if dst, err = o.Codec.Encode(dst, b.recs); err != nil {
			return orig[:start], fmt.Errorf("record: builder: %s encode of %d bytes: %w", o.Codec.Name(), len(b.recs), err)
		}
	} else {
		dst = append(dst, b.recs...)
	}
	length := len(dst) - start - LogOverhead
	if length > maxLength {
		return orig[:start], fmt.Errorf("%w: builder: batch length %d is more than the maximum %d", ErrTooLarge, length, maxLength)
	}

	lastDelta := max(b.lastDelta, int64(o.LastOffsetDelta), 0)
	baseTS, maxTS := b.baseTS, b.maxTS
	if b.n == 0 {
		baseTS, maxTS = o.BaseTimestamp, o.BaseTimestamp
	}
	producerID, producerEpoch, baseSequence := int64(-1), int16(-1), int32(-1)
	if o.HasProducerID {
		producerID, producerEpoch, baseSequence = o.ProducerID, o.ProducerEpoch, o.BaseSequence
	}

	h := dst[start : start+HeaderSize]
	binary.BigEndian.PutUint64(h[offBaseOffset:], uint64(o.BaseOffset))
	binary.BigEndian.PutUint32(h[offLength:], uint32(length))
	binary.BigEndian.PutUint32(h[offPartitionLeaderEpoch:], uint32(o.PartitionLeaderEpoch))
	h[offMagic] = Magic
	binary.BigEndian.PutUint16(h[offAttributes:], uint16(attr))
	binary.BigEndian.PutUint32(h[offLastOffsetDelta:], uint32(lastDelta))
	binary.BigEndian.PutUint64(h[offBaseTimestamp:], uint64(baseTS))
	binary.BigEndian.PutUint64(h[offMaxTimestamp:], uint64(maxTS))
	binary.BigEndian.PutUint64(h[offProducerID:], uint64(producerID))
	binary.BigEndian.PutUint16(h[offProducerEpoch:], uint16(producerEpoch))
	binary.BigEndian.PutUint32(h[offBaseSequence:], uint32(baseSequence))
	binary.BigEndian.PutUint32(h[offNumRecords:], uint32(b.n))
	binary.BigEndian.PutUint32(h[offCRC:], crc32.Checksum(dst[start+offAttributes:], castagnoli))
	return dst, nil
}

// varintLen is the size of v as a zigzag varint.
func varintLen(v int64) int {
	ux := uint64(v<<1) ^ uint64(v>>63)
	return (bits.Len64(ux|1) + 6) / 7
}

// bytesLen is the encoded size of a nullable byte string: its length varint
// (-1 for nil) and its bytes.
func bytesLen(p []byte) int {
	if p == nil {
		return 1
	}
	return varintLen(int64(len(p))) + len(p)
}

func appendNullableBytes(dst, p []byte) []byte {
	if p == nil {
		return binary.AppendVarint(dst, -1)
	}
	dst = binary.AppendVarint(dst, int64(len(p)))
	return append(dst, p...)
}
