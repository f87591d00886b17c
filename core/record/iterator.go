package record

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math"

	"github.com/weirmq/weir/sdk"
)

// RecordHeader is one header of a record. Key is never null in Kafka; a nil
// Value is a null header value.
type RecordHeader struct {
	Key   string
	Value []byte
}

// Record is one record of a batch, decoded.
//
// Key, Value and each header's Value alias the bytes they were read from:
// the batch itself if it is uncompressed, the Iterator's decompression
// buffer if not (see Iterator). The Headers slice and the header keys belong
// to the caller. Clone makes a Record that shares nothing.
type Record struct {
	Attributes     int8  // unused by Kafka today; carried as read
	TimestampDelta int64 // relative to the batch's BaseTimestamp
	OffsetDelta    int32 // relative to the batch's BaseOffset

	// Offset is BaseOffset + OffsetDelta. Timestamp is BaseTimestamp +
	// TimestampDelta, or the batch's MaxTimestamp in a LogAppendTime batch.
	Offset    int64
	Timestamp int64

	Key   []byte // nil is a null key
	Value []byte // nil is a null value: a tombstone in a compacted topic

	Headers []RecordHeader // nil when the record has none
}

// Clone returns a deep copy of r that aliases no buffer. Null (nil) keys and
// values stay nil; empty ones stay empty and non-nil.
func (r Record) Clone() Record {
	c := r
	c.Key = cloneBytes(r.Key)
	c.Value = cloneBytes(r.Value)
	if r.Headers != nil {
		c.Headers = make([]RecordHeader, len(r.Headers))
		for i, h := range r.Headers {
			c.Headers[i] = RecordHeader{Key: h.Key, Value: cloneBytes(h.Value)}
		}
	}
	return c
}

func cloneBytes(b []byte) []byte {
	if b == nil {
		return nil
	}
	return append(make([]byte, 0, len(b)), b...)
}

// CodecSource gives the codec for a compression type. *sdk.Registry
// satisfies it.
type CodecSource interface {
	Codec(sdk.CompressionID) (sdk.Codec, bool)
}

// Iterator walks the records of one batch in order, decompressing the
// records section first if the batch is compressed.
//
// Use:
//
//	it, err := record.NewIterator(batch, registry, maxDecoded)
//	if err != nil { ... }
//	for r, ok := it.Next(); ok; r, ok = it.Next() { ... }
//	if err := it.Err(); err != nil { ... }
//
// Every length, count and varint is checked against the bytes that are
// actually there before anything is sliced, and decompression stops at
// maxDecoded bytes, so hostile input yields an error, never a panic or an
// allocation sized by a length field. NumRecords must match the records
// present, each record's offset delta must be greater than the one before
// and at most LastOffsetDelta, and nothing may follow the last record; any
// of these failing is an error wrapping ErrCorrupt.
//
// Ownership: for an uncompressed batch, Record.Key, Value and header Values
// alias the batch, which the caller must leave unchanged while it uses them.
// For a compressed batch they alias a buffer the Iterator owns, valid until
// the Iterator is Reset; Clone a record to keep it longer.
//
// An Iterator is not safe for concurrent use. Reset lets one Iterator (and
// its decompression buffer) serve many batches.
type Iterator struct {
	h         Header
	data      []byte // the records not yet read
	decoded   []byte // decompression buffer, kept across Reset
	left      int32  // records the header says are still to come
	prevDelta int64  // offset delta of the last record read; -1 before the first
	err       error
}

// NewIterator returns an Iterator over the records of batch, which must be
// exactly one whole batch (as from NextBatch; ideally one that passed
// Validate: the Iterator does not check the CRC). codecs supplies the codec
// for a compressed batch and may be nil if none are expected; maxDecoded is
// the most bytes a compressed batch may decompress to (a compressed batch is
// refused if it is <= 0).
//
// Errors wrap ErrTruncated, ErrCorrupt or ErrUnsupportedMagic as for
// Validate; ErrUnsupportedCompression if codecs has no codec for the batch's
// compression type; ErrTooLarge if the records decompress to more than
// maxDecoded bytes; ErrCorrupt if the codec fails or the record count cannot
// fit the decompressed bytes.
func NewIterator(batch []byte, codecs CodecSource, maxDecoded int) (*Iterator, error) {
	it := &Iterator{}
	if err := it.Reset(batch, codecs, maxDecoded); err != nil {
		return nil, err
	}
	return it, nil
}

// Reset points the Iterator at a new batch, as NewIterator does, keeping its
// decompression buffer; records read from the previous batch that alias that
// buffer become invalid. On error the Iterator yields no records and Err
// returns the error.
func (it *Iterator) Reset(batch []byte, codecs CodecSource, maxDecoded int) error {
	it.h, it.data, it.left, it.prevDelta, it.err = Header{}, nil, 0, -1, nil
	err := it.reset(batch, codecs, maxDecoded)
	if err != nil {
		it.data, it.left, it.err = nil, 0, err
	}
	return err
}

func (it *Iterator) reset(batch []byte, codecs CodecSource, maxDecoded int) error {
	h, err := ReadHeader(batch)
	if err != nil {
		return err
	}
	if size := h.Size(); len(batch) != size {
		if len(batch) < size {
			return truncatedf("batch at offset %d is %d bytes (length %d) but only %d are present",
				h.BaseOffset, size, h.Length, len(batch))
		}
		return corruptf("batch at offset %d is %d bytes (length %d) but %d were given",
			h.BaseOffset, size, h.Length, len(batch))
	}
	it.h = h
	payload := batch[HeaderSize:]
	id := h.Attributes.Compression()
	switch {
	case id == sdk.CompressionNone:
		it.data = payload
	case h.NumRecords == 0 && len(payload) == 0:
		// An empty batch, as compaction may leave, has nothing to decode.
		it.data = payload
	default:
		data, err := it.decode(h, id, payload, codecs, maxDecoded)
		if err != nil {
			return err
		}
		it.data = data
	}
	if int64(h.NumRecords)*minRecordSize > int64(len(it.data)) {
		return corruptf("batch at offset %d: record count %d cannot fit in %d bytes of records (each takes at least %d)",
			h.BaseOffset, h.NumRecords, len(it.data), minRecordSize)
	}
	it.left = h.NumRecords
	return nil
}

func (it *Iterator) decode(h Header, id sdk.CompressionID, payload []byte, codecs CodecSource, maxDecoded int) ([]byte, error) {
	var codec sdk.Codec
	ok := false
	if codecs != nil {
		codec, ok = codecs.Codec(id)
	}
	if !ok || codec == nil {
		return nil, fmt.Errorf("%w: batch at offset %d is compressed with %s and no codec for it is registered",
			ErrUnsupportedCompression, h.BaseOffset, id)
	}
	if maxDecoded <= 0 {
		return nil, fmt.Errorf("%w: batch at offset %d is compressed with %s but the decode limit is %d bytes",
			ErrTooLarge, h.BaseOffset, id, maxDecoded)
	}
	data, err := codec.Decode(it.decoded[:0], payload, maxDecoded)
	if err != nil {
		if errors.Is(err, sdk.ErrDecodedTooLarge) {
			return nil, fmt.Errorf("%w: batch at offset %d decompresses (%s) to more than %d bytes: %w",
				ErrTooLarge, h.BaseOffset, id, maxDecoded, err)
		}
		return nil, fmt.Errorf("%w: batch at offset %d: %d bytes of %s data do not decompress: %w",
			ErrCorrupt, h.BaseOffset, len(payload), id, err)
	}
	if len(data) > maxDecoded {
		// The codec broke its contract; do not pass the excess on.
		return nil, fmt.Errorf("%w: batch at offset %d decompresses (%s) to %d bytes, more than the limit %d",
			ErrTooLarge, h.BaseOffset, id, len(data), maxDecoded)
	}
	it.decoded = data
	return data, nil
}

// Header returns the header of the batch being iterated.
func (it *Iterator) Header() Header { return it.h }

// Remaining returns how many records the header says are still to come.
func (it *Iterator) Remaining() int { return int(it.left) }

// Next returns the next record and true, or a zero Record and false when
// there are no more records or an error stopped the walk; Err tells which.
// See Iterator for who owns the record's slices.
func (it *Iterator) Next() (Record, bool) {
	r, ok := it.next(true)
	return r, ok
}

// Verify reads every remaining record, checking each as Next does but
// without building its headers (so it allocates nothing), and returns Err.
// Use it to check a compressed batch's records without looking at them.
func (it *Iterator) Verify() error {
	for {
		if _, ok := it.next(false); !ok {
			return it.err
		}
	}
}

// Err returns the error that stopped the walk, or nil if it has not stopped
// or stopped at the end of a well-formed batch. Errors wrap ErrCorrupt.
func (it *Iterator) Err() error { return it.err }

func (it *Iterator) next(wantHeaders bool) (Record, bool) {
	if it.err != nil {
		return Record{}, false
	}
	h := &it.h
	if it.left == 0 {
		if len(it.data) != 0 {
			it.err = corruptf("batch at offset %d: %d bytes follow the last of its %d records",
				h.BaseOffset, len(it.data), h.NumRecords)
			it.data = nil
		}
		return Record{}, false
	}
	index := h.NumRecords - it.left
	if len(it.data) == 0 {
		it.err = corruptf("batch at offset %d: header says %d records but the data holds only %d",
			h.BaseOffset, h.NumRecords, index)
		return Record{}, false
	}
	r, n, err := parseRecord(it.data, wantHeaders)
	if err != nil {
		it.err = corruptf("batch at offset %d, record %d of %d: %v", h.BaseOffset, index, h.NumRecords, err)
		it.data = nil
		return Record{}, false
	}
	if int64(r.OffsetDelta) <= it.prevDelta || r.OffsetDelta > h.LastOffsetDelta {
		it.err = corruptf("batch at offset %d, record %d of %d: offset delta %d is not in (%d, %d]",
			h.BaseOffset, index, h.NumRecords, r.OffsetDelta, it.prevDelta, h.LastOffsetDelta)
		it.data = nil
		return Record{}, false
	}
	it.prevDelta = int64(r.OffsetDelta)
	it.data = it.data[n:]
	it.left--
	r.Offset = h.BaseOffset + int64(r.OffsetDelta)
	if h.Attributes.LogAppendTime() {
		r.Timestamp = h.MaxTimestamp
	} else {
		r.Timestamp = h.BaseTimestamp + r.TimestampDelta
	}
	return r, true
}

// parseRecord decodes the record at the start of b and returns it with the
// number of bytes it took. Errors are plain descriptions; the caller wraps
// them with ErrCorrupt and the record's position.
func parseRecord(b []byte, wantHeaders bool) (Record, int, error) {
	length, n := binary.Varint(b)
	if n <= 0 || n > binary.MaxVarintLen32 || length > math.MaxInt32 || length < math.MinInt32 {
		return Record{}, 0, errors.New("record length is not a valid varint")
	}
	if length < 0 {
		return Record{}, 0, fmt.Errorf("record length %d is negative", length)
	}
	if length > int64(len(b)-n) {
		return Record{}, 0, fmt.Errorf("record length %d is more than the %d bytes left", length, len(b)-n)
	}
	total := n + int(length)
	rd := reader{b: b[n:total:total]}

	var r Record
	var err error
	if r.Attributes, err = rd.int8("attributes"); err != nil {
		return Record{}, 0, err
	}
	if r.TimestampDelta, err = rd.varint64("timestamp delta"); err != nil {
		return Record{}, 0, err
	}
	if r.OffsetDelta, err = rd.varint32("offset delta"); err != nil {
		return Record{}, 0, err
	}
	if r.Key, err = rd.nullableBytes("key length", "key"); err != nil {
		return Record{}, 0, err
	}
	if r.Value, err = rd.nullableBytes("value length", "value"); err != nil {
		return Record{}, 0, err
	}
	count, err := rd.varint32("header count")
	if err != nil {
		return Record{}, 0, err
	}
	if count < 0 {
		return Record{}, 0, fmt.Errorf("header count %d is negative", count)
	}
	// Each header takes at least two bytes (two one-byte lengths), so this
	// bounds the allocation below by the record's own size.
	if int64(count)*2 > int64(len(rd.b)) {
		return Record{}, 0, fmt.Errorf("header count %d cannot fit in the %d bytes left", count, len(rd.b))
	}
	if count > 0 && wantHeaders {
		r.Headers = make([]RecordHeader, count)
	}
	for i := range int(count) {
		klen, err := rd.varint32("header key length")
		if err != nil {
			return Record{}, 0, err
		}
		if klen < 0 {
			return Record{}, 0, fmt.Errorf("header %d: key length %d is negative", i, klen)
		}
		key, err := rd.bytes(klen, "header key")
		if err != nil {
			return Record{}, 0, err
		}
		value, err := rd.nullableBytes("header value length", "header value")
		if err != nil {
			return Record{}, 0, err
		}
		if wantHeaders {
			r.Headers[i] = RecordHeader{Key: string(key), Value: value}
		}
	}
	if len(rd.b) != 0 {
		return Record{}, 0, fmt.Errorf("record length %d but its fields take %d bytes", length, int(length)-len(rd.b))
	}
	return r, total, nil
}

// reader consumes the fields of one record body.
type reader struct{ b []byte }

func (rd *reader) int8(field string) (int8, error) {
	if len(rd.b) < 1 {
		return 0, fmt.Errorf("record ends before its %s", field)
	}
	v := int8(rd.b[0])
	rd.b = rd.b[1:]
	return v, nil
}

func (rd *reader) varint64(field string) (int64, error) {
	v, n := binary.Varint(rd.b)
	if n <= 0 {
		if n == 0 {
			return 0, fmt.Errorf("record ends inside its %s varint", field)
		}
		return 0, fmt.Errorf("%s varint overflows 64 bits", field)
	}
	rd.b = rd.b[n:]
	return v, nil
}

func (rd *reader) varint32(field string) (int32, error) {
	v, n := binary.Varint(rd.b)
	if n <= 0 {
		if n == 0 {
			return 0, fmt.Errorf("record ends inside its %s varint", field)
		}
		return 0, fmt.Errorf("%s varint overflows 64 bits", field)
	}
	if n > binary.MaxVarintLen32 || v > math.MaxInt32 || v < math.MinInt32 {
		return 0, fmt.Errorf("%s %d does not fit a 32-bit varint", field, v)
	}
	rd.b = rd.b[n:]
	return int32(v), nil
}

// bytes takes n >= 0 bytes; the result's capacity is cut to its length.
func (rd *reader) bytes(n int32, field string) ([]byte, error) {
	if int64(n) > int64(len(rd.b)) {
		return nil, fmt.Errorf("%s length %d is more than the %d bytes left", field, n, len(rd.b))
	}
	v := rd.b[:n:n]
	rd.b = rd.b[n:]
	return v, nil
}

// nullableBytes reads a varint length (-1 for null) and that many bytes.
// lengthField names the length in errors ("key length"), field the bytes.
func (rd *reader) nullableBytes(lengthField, field string) ([]byte, error) {
	n, err := rd.varint32(lengthField)
	if err != nil {
		return nil, err
	}
	if n == -1 {
		return nil, nil
	}
	if n < 0 {
		return nil, fmt.Errorf("%s %d is negative and not -1 (null)", lengthField, n)
	}
	return rd.bytes(n, field)
}
