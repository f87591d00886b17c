package record

import (
	"encoding/binary"
	"fmt"
	"hash/crc32"
	"math"

	"github.com/weirmq/weir/sdk"
)

// Sizes and the format version.
const (
	// LogOverhead is the part of a batch before the bytes its batchLength
	// counts: baseOffset (8) and batchLength (4). A batch's total size is
	// LogOverhead + batchLength.
	LogOverhead = 12

	// HeaderSize is the fixed size of a v2 batch header, LogOverhead
	// included. The records section starts at this offset.
	HeaderSize = 61

	// Magic is the only batch format version Weir reads and writes.
	Magic = 2

	// minRecordSize is the fewest bytes one encoded record can take: the
	// length varint and, at one byte each, attributes, timestampDelta,
	// offsetDelta, keyLength (-1), valueLength (-1) and the header count.
	minRecordSize = 7
)

// Byte offsets of the v2 header fields.
const (
	offBaseOffset           = 0
	offLength               = 8
	offPartitionLeaderEpoch = 12
	offMagic                = 16
	offCRC                  = 17
	offAttributes           = 21 // the CRC covers everything from here on
	offLastOffsetDelta      = 23
	offBaseTimestamp        = 27
	offMaxTimestamp         = 35
	offProducerID           = 43
	offProducerEpoch        = 51
	offBaseSequence         = 53
	offNumRecords           = 57

	// magicEnd is how many bytes are needed to read the magic byte, which
	// sits at the same place in every message format.
	magicEnd = offMagic + 1

	// maxLength keeps LogOverhead+Length within an int on 32-bit platforms.
	maxLength = math.MaxInt32 - LogOverhead
)

// castagnoli is the CRC-32C table; v2 batches use it rather than IEEE.
var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// Attributes is the int16 attributes field of a batch header.
type Attributes int16

// Attribute bits, as Kafka defines them.
const (
	compressionMask  Attributes = 0x07
	timestampTypeBit Attributes = 0x08
	transactionalBit Attributes = 0x10
	controlBit       Attributes = 0x20
	deleteHorizonBit Attributes = 0x40
)

// Compression returns the compression type in the low three bits.
func (a Attributes) Compression() sdk.CompressionID {
	return sdk.CompressionID(a & compressionMask)
}

// LogAppendTime reports whether the batch's timestamps are the broker's
// append time (message.timestamp.type=LogAppendTime) rather than the
// producer's create time. In such a batch every record's timestamp is the
// header's MaxTimestamp.
func (a Attributes) LogAppendTime() bool { return a&timestampTypeBit != 0 }

// Transactional reports whether the batch belongs to a transaction.
func (a Attributes) Transactional() bool { return a&transactionalBit != 0 }

// Control reports whether the batch holds control records (transaction
// commit/abort markers) rather than user data.
func (a Attributes) Control() bool { return a&controlBit != 0 }

// HasDeleteHorizon reports whether the batch's BaseTimestamp is the
// compaction delete horizon (KIP-534) rather than a record timestamp base.
func (a Attributes) HasDeleteHorizon() bool { return a&deleteHorizonBit != 0 }

// Header is the fixed 61-byte header of a v2 record batch, decoded.
type Header struct {
	BaseOffset           int64
	Length               int32 // the batchLength field: bytes after LogOverhead
	PartitionLeaderEpoch int32
	Magic                int8
	CRC                  uint32
	Attributes           Attributes
	LastOffsetDelta      int32
	BaseTimestamp        int64
	MaxTimestamp         int64
	ProducerID           int64
	ProducerEpoch        int16
	BaseSequence         int32
	NumRecords           int32
}

// Size returns the batch's total size in bytes: LogOverhead + Length.
func (h Header) Size() int { return LogOverhead + int(h.Length) }

// LastOffset returns the offset of the batch's last record (or, for a batch
// emptied by compaction, of the last record it once held).
func (h Header) LastOffset() int64 { return h.BaseOffset + int64(h.LastOffsetDelta) }

// NextOffset returns the offset just after the batch.
func (h Header) NextOffset() int64 { return h.LastOffset() + 1 }

// ReadHeader decodes the header in the first HeaderSize bytes of b; b may be
// just the header or longer (a whole batch, a whole segment).
//
// It checks the magic byte, that Length covers at least the header, that
// NumRecords and LastOffsetDelta are not negative, that NumRecords fits the
// offset range (NumRecords <= LastOffsetDelta+1; fewer is allowed, as
// compaction leaves gaps), and, for an uncompressed batch, that Length leaves
// room for NumRecords records. It does not check the CRC, nor that b holds
// the whole batch: use Validate for that.
//
// Errors wrap ErrTruncated (b is shorter than the header),
// ErrUnsupportedMagic (a v0 or v1 message set) or ErrCorrupt (anything else).
// The magic byte (at offset 16 in every format) is checked as soon as b
// reaches it, so a v0/v1 message set shorter than a v2 header still gets
// ErrUnsupportedMagic rather than ErrTruncated.
func ReadHeader(b []byte) (Header, error) {
	if len(b) < magicEnd {
		return Header{}, truncatedf("have %d bytes, need %d for a batch header", len(b), HeaderSize)
	}
	magic := int8(b[offMagic])
	switch {
	case magic == 0 || magic == 1:
		return Header{}, fmt.Errorf("%w: message-set v%d (magic %d) is not supported; "+
			"like Kafka 4, Weir accepts only record batch v2 (magic 2), which clients write since Kafka 0.11",
			ErrUnsupportedMagic, magic, magic)
	case magic != Magic:
		return Header{}, corruptf("magic byte is %d, want %d", magic, Magic)
	}
	if len(b) < HeaderSize {
		return Header{}, truncatedf("have %d bytes, need %d for a batch header", len(b), HeaderSize)
	}
	h := Header{
		BaseOffset:           int64(binary.BigEndian.Uint64(b[offBaseOffset:])),
		Length:               int32(binary.BigEndian.Uint32(b[offLength:])),
		PartitionLeaderEpoch: int32(binary.BigEndian.Uint32(b[offPartitionLeaderEpoch:])),
		Magic:                magic,
		CRC:                  binary.BigEndian.Uint32(b[offCRC:]),
		Attributes:           Attributes(binary.BigEndian.Uint16(b[offAttributes:])),
		LastOffsetDelta:      int32(binary.BigEndian.Uint32(b[offLastOffsetDelta:])),
		BaseTimestamp:        int64(binary.BigEndian.Uint64(b[offBaseTimestamp:])),
		MaxTimestamp:         int64(binary.BigEndian.Uint64(b[offMaxTimestamp:])),
		ProducerID:           int64(binary.BigEndian.Uint64(b[offProducerID:])),
		ProducerEpoch:        int16(binary.BigEndian.Uint16(b[offProducerEpoch:])),
		BaseSequence:         int32(binary.BigEndian.Uint32(b[offBaseSequence:])),
		NumRecords:           int32(binary.BigEndian.Uint32(b[offNumRecords:])),
	}
	if err := h.check(); err != nil {
		return Header{}, err
	}
	return h, nil
}

// check holds the header's internal-consistency rules.
func (h Header) check() error {
	if h.Length < HeaderSize-LogOverhead {
		return corruptf("batch length %d is less than the minimum %d", h.Length, HeaderSize-LogOverhead)
	}
	if h.Length > maxLength {
		return corruptf("batch length %d is more than the maximum %d", h.Length, maxLength)
	}
	if h.NumRecords < 0 {
		return corruptf("record count %d is negative", h.NumRecords)
	}
	if h.LastOffsetDelta < 0 {
		return corruptf("last offset delta %d is negative", h.LastOffsetDelta)
	}
	if int64(h.NumRecords) > int64(h.LastOffsetDelta)+1 {
		return corruptf("record count %d does not fit last offset delta %d (at most %d records)",
			h.NumRecords, h.LastOffsetDelta, int64(h.LastOffsetDelta)+1)
	}
	if h.Attributes.Compression() == sdk.CompressionNone {
		room := int64(h.Length) - (HeaderSize - LogOverhead)
		if int64(h.NumRecords)*minRecordSize > room {
			return corruptf("record count %d cannot fit in %d bytes of uncompressed records (each takes at least %d)",
				h.NumRecords, room, minRecordSize)
		}
	}
	return nil
}

// Validate checks that b is exactly one whole v2 batch: everything ReadHeader
// checks, that len(b) == Size(), and that the CRC-32C over b[21:] matches the
// header's CRC field. It returns the decoded header. It does not decode the
// records; an Iterator does that.
//
// Errors wrap ErrTruncated (b is shorter than the batch), ErrCorrupt (bad
// CRC, bytes after the batch, a bad field) or ErrUnsupportedMagic.
func Validate(b []byte) (Header, error) {
	h, err := ReadHeader(b)
	if err != nil {
		return Header{}, err
	}
	if size := h.Size(); len(b) != size {
		if len(b) < size {
			return Header{}, truncatedf("batch at offset %d is %d bytes (length %d) but only %d are present",
				h.BaseOffset, size, h.Length, len(b))
		}
		return Header{}, corruptf("batch at offset %d is %d bytes (length %d) but %d were given; %d bytes follow it",
			h.BaseOffset, size, h.Length, len(b), len(b)-size)
	}
	if crc := crc32.Checksum(b[offAttributes:], castagnoli); crc != h.CRC {
		return Header{}, corruptf("batch at offset %d: CRC is %#08x, header says %#08x", h.BaseOffset, crc, h.CRC)
	}
	return h, nil
}

// NextBatch splits the first batch off b, which may hold several (as a
// produce request's records field or a segment file may). It returns the
// batch, whose capacity is cut to its length so that appending to it cannot
// overwrite rest, and the bytes after it; both alias b.
//
// It checks what ReadHeader checks and that b holds the whole batch, but not
// the CRC. An empty or short b gives an error wrapping ErrTruncated;
// ErrCorrupt and ErrUnsupportedMagic are as for ReadHeader.
func NextBatch(b []byte) (batch, rest []byte, err error) {
	if len(b) == 0 {
		return nil, nil, truncatedf("no bytes left for a batch")
	}
	h, err := ReadHeader(b)
	if err != nil {
		return nil, b, err
	}
	size := h.Size()
	if len(b) < size {
		return nil, b, truncatedf("batch at offset %d is %d bytes (length %d) but only %d are present",
			h.BaseOffset, size, h.Length, len(b))
	}
	return b[:size:size], b[size:], nil
}

// SetBaseOffset writes off into the base offset field of the batch starting
// at b[0], in place. The field is outside the CRC, so the batch stays valid.
// b must hold at least LogOverhead bytes.
func SetBaseOffset(b []byte, off int64) {
	binary.BigEndian.PutUint64(b[offBaseOffset:offBaseOffset+8], uint64(off))
}

// SetPartitionLeaderEpoch writes e into the partition leader epoch field of
// the batch starting at b[0], in place. The field is outside the CRC, so the
// batch stays valid. b must hold at least HeaderSize bytes.
func SetPartitionLeaderEpoch(b []byte, e int32) {
	binary.BigEndian.PutUint32(b[offPartitionLeaderEpoch:offPartitionLeaderEpoch+4], uint32(e))
}

// SetMaxTimestamp sets the timestamp type bit (logAppendTime true for
// LogAppendTime, false for CreateTime) and the MaxTimestamp field of the
// batch b, in place, and recomputes the CRC. If neither changes, b is left
// alone.
//
// b must be exactly one whole batch, and should have passed Validate first:
// the CRC is recomputed from the bytes as they are, so corruption already in
// b would be hidden.
func SetMaxTimestamp(b []byte, logAppendTime bool, ts int64) {
	attr := Attributes(binary.BigEndian.Uint16(b[offAttributes:]))
	newAttr := attr &^ timestampTypeBit
	if logAppendTime {
		newAttr |= timestampTypeBit
	}
	if newAttr == attr && int64(binary.BigEndian.Uint64(b[offMaxTimestamp:])) == ts {
		return
	}
	binary.BigEndian.PutUint16(b[offAttributes:], uint16(newAttr))
	binary.BigEndian.PutUint64(b[offMaxTimestamp:], uint64(ts))
	binary.BigEndian.PutUint32(b[offCRC:], crc32.Checksum(b[offAttributes:], castagnoli))
}

// SetLogAppendTime marks batch b as LogAppendTime with append time ts
// (message.timestamp.type=LogAppendTime): every record in it then reads as
// timestamp ts. It is SetMaxTimestamp(b, true, ts), with the same rules.
func SetLogAppendTime(b []byte, ts int64) { SetMaxTimestamp(b, true, ts) }
