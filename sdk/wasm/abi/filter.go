package abi

import (
	"encoding/binary"
	"fmt"
	"math"

	"github.com/weirmq/weir/sdk"
)

// FilterHeaderSize is the fixed part of a weir_filter input: base_offset,
// base_timestamp and now_ms (int64 each), partition and record_count
// (int32 each).
const FilterHeaderSize = 32

// FilterRequest is a decoded weir_filter input. Its records' keys, values
// and header values alias the bytes it was decoded from; header keys and
// the topic are copies.
type FilterRequest struct {
	Topic     string
	Partition int32
	NowMs     int64
	Records   []sdk.Record
}

// FilterInputSize returns the encoded size of a weir_filter input, or an
// error when the records are not in offset order or a record's offset is
// too far from the first record's for Kafka's 32-bit offset delta.
func FilterInputSize(in sdk.FilterInput) (int, error) {
	n := FilterHeaderSize + varintLen(int64(len(in.Topic))) + len(in.Topic)
	if len(in.Records) == 0 {
		return n, nil
	}
	base := &in.Records[0]
	for i := range in.Records {
		body, err := recordBodyLen(&in.Records[i], base.Offset, base.TimestampMs)
		if err != nil {
			return 0, err
		}
		n += varintLen(int64(body)) + body
	}
	return n, nil
}

func recordBodyLen(rec *sdk.Record, baseOffset, baseTimestamp int64) (int, error) {
	delta := rec.Offset - baseOffset
	if delta < 0 || delta > math.MaxInt32 {
		return 0, fmt.Errorf("abi: record at offset %d cannot follow the chunk's first record at offset %d: records must be in offset order, within 2^31 offsets of the first", rec.Offset, baseOffset)
	}
	n := 1 + varintLen(rec.TimestampMs-baseTimestamp) + varintLen(delta) +
		nullableBytesLen(rec.Key) + nullableBytesLen(rec.Value) + varintLen(int64(len(rec.Headers)))
	for _, h := range rec.Headers {
		n += varintLen(int64(len(h.Key))) + len(h.Key) + nullableBytesLen(h.Value)
	}
	return n, nil
}

// PutFilterInput encodes a weir_filter input into dst, which must be at
// least FilterInputSize(in) bytes (call it first: it also checks the
// offsets), and returns the number of bytes written:
//
//	base_offset    int64 LE  (the first record's offset; 0 when empty)
//	base_timestamp int64 LE  (the first record's timestamp)
//	now_ms         int64 LE
//	partition      int32 LE
//	record_count   int32 LE
//	topic          varint length + bytes
//	record_count × Kafka records (the record batch v2 encoding):
//	    length varint, attributes int8, timestamp_delta varlong,
//	    offset_delta varint, key, value (varint length, -1: null),
//	    header_count varint, headers (key: varint length + bytes,
//	    value: varint length, -1: null)
func PutFilterInput(dst []byte, in sdk.FilterInput) int {
	var baseOffset, baseTimestamp int64
	if len(in.Records) > 0 {
		baseOffset, baseTimestamp = in.Records[0].Offset, in.Records[0].TimestampMs
	}
	le := binary.LittleEndian
	le.PutUint64(dst[0:], uint64(baseOffset))
	le.PutUint64(dst[8:], uint64(baseTimestamp))
	le.PutUint64(dst[16:], uint64(in.NowMs))
	le.PutUint32(dst[24:], uint32(in.Partition))
	le.PutUint32(dst[28:], uint32(len(in.Records)))
	b := appendString(dst[:FilterHeaderSize], in.Topic)
	for i := range in.Records {
		rec := &in.Records[i]
		body, _ := recordBodyLen(rec, baseOffset, baseTimestamp)
		b = binary.AppendVarint(b, int64(body))
		b = append(b, 0) // attributes
		b = binary.AppendVarint(b, rec.TimestampMs-baseTimestamp)
		b = binary.AppendVarint(b, rec.Offset-baseOffset)
		b = appendNullableBytes(b, rec.Key)
		b = appendNullableBytes(b, rec.Value)
		b = binary.AppendVarint(b, int64(len(rec.Headers)))
		for _, h := range rec.Headers {
			b = appendString(b, h.Key)
			b = appendNullableBytes(b, h.Value)
		}
	}
	return len(b)
}

// AppendFilterInput appends the encoding PutFilterInput writes to dst.
func AppendFilterInput(dst []byte, in sdk.FilterInput) ([]byte, error) {
	n, err := FilterInputSize(in)
	if err != nil {
		return dst, err
	}
	start := len(dst)
	dst = append(dst, make([]byte, n)...)
	PutFilterInput(dst[start:], in)
	return dst, nil
}

// DecodeFilterInput decodes a weir_filter input. Records are appended to
// records[:0] and all their headers to headers[:0] (pass the previous
// call's slices back to reuse them). It returns an error wrapping
// ErrMalformed for bytes that do not follow the layout.
func DecodeFilterInput(src []byte, records []sdk.Record, headers []sdk.Header) (FilterRequest, []sdk.Header, error) {
	r := reader{b: src}
	baseOffset := r.int64("base_offset")
	baseTimestamp := r.int64("base_timestamp")
	req := FilterRequest{NowMs: r.int64("now_ms"), Partition: r.int32("partition")}
	count := r.int32("record_count")
	topic := r.bytes("topic")
	if r.err != nil {
		return FilterRequest{}, headers, r.err
	}
	// A record takes at least 7 bytes: length, attributes, timestamp and
	// offset deltas, key, value, header count.
	if count < 0 || int64(count)*7 > int64(len(r.b)) {
		return FilterRequest{}, headers, malformed("record_count %d with %d bytes of records", count, len(r.b))
	}
	req.Topic = string(topic)
	recs := records[:0]
	if cap(recs) < int(count) {
		recs = make([]sdk.Record, 0, count)
	}
	headers = headers[:0]
	for i := range count {
		length := r.varint("record length")
		if r.err != nil {
			return FilterRequest{}, headers, r.err
		}
		if length < 0 || int(length) > len(r.b) {
			return FilterRequest{}, headers, malformed("record %d: length %d with %d bytes left", i, length, len(r.b))
		}
		rr := reader{b: r.b[:length]}
		r.b = r.b[length:]
		rr.int8("attributes")
		tsDelta := rr.varlong("timestamp_delta")
		offDelta := rr.varint("offset_delta")
		rec := sdk.Record{
			Offset:      baseOffset + int64(offDelta),
			TimestampMs: baseTimestamp + tsDelta,
			Key:         rr.nullableBytes("key"),
			Value:       rr.nullableBytes("value"),
		}
		var ok bool
		rec.Headers, headers, ok = decodeHeaders(&rr, headers)
		switch {
		case !ok || rr.err != nil:
			return FilterRequest{}, headers, fmtRecordErr(i, rr.err)
		case len(rr.b) != 0:
			return FilterRequest{}, headers, malformed("record %d: %d bytes after its headers", i, len(rr.b))
		}
		recs = append(recs, rec)
	}
	if len(r.b) != 0 {
		return FilterRequest{}, headers, malformed("%d bytes after the last record", len(r.b))
	}
	req.Records = recs
	return req, headers, nil
}

func fmtRecordErr(i int32, err error) error {
	if err == nil {
		return malformed("record %d: bad headers", i)
	}
	return malformed("record %d: %v", i, err)
}

// decodeHeaders reads a header count and the headers, appending them to
// all; the record's headers are the returned sub-slice (nil for none).
func decodeHeaders(r *reader, all []sdk.Header) ([]sdk.Header, []sdk.Header, bool) {
	n := r.varint("header_count")
	if r.err != nil {
		return nil, all, false
	}
	if n < 0 || int(n) > len(r.b)/2 { // a header takes at least 2 bytes
		r.fail("header_count %d with %d bytes left", n, len(r.b))
		return nil, all, false
	}
	if n == 0 {
		return nil, all, true
	}
	start := len(all)
	for range n {
		k := r.bytes("header key")
		v := r.nullableBytes("header value")
		if r.err != nil {
			return nil, all, false
		}
		all = append(all, sdk.Header{Key: string(k), Value: v})
	}
	return all[start:len(all):len(all)], all, true
}

// AppendFilterOutput appends a weir_filter answer for out to dst:
//
//	per record, in input order:
//	    action int8 (0 keep, 1 drop, 2 rewrite)
//	    rewrite only: value (varint length, -1: null), header_count
//	    varint, headers (as in the input)
func AppendFilterOutput(dst []byte, out []sdk.FilterDecision) []byte {
	for i := range out {
		d := &out[i]
		dst = append(dst, byte(d.Action))
		if d.Action != sdk.Rewrite {
			continue
		}
		dst = appendNullableBytes(dst, d.Value)
		dst = binary.AppendVarint(dst, int64(len(d.Headers)))
		for _, h := range d.Headers {
			dst = appendString(dst, h.Key)
			dst = appendNullableBytes(dst, h.Value)
		}
	}
	return dst
}

// DecodeFilterOutput decodes a weir_filter answer into out: exactly
// len(out) decisions and no trailing bytes. Rewritten values and header
// values alias src. It returns an error wrapping ErrMalformed for an
// unknown action or bytes that do not follow the layout; out's contents
// are then undefined.
func DecodeFilterOutput(src []byte, out []sdk.FilterDecision) error {
	r := reader{b: src}
	for i := range out {
		a := sdk.FilterAction(r.int8("action"))
		if r.err != nil {
			return malformed("decision %d of %d: truncated", i, len(out))
		}
		out[i] = sdk.FilterDecision{Action: a}
		switch a {
		case sdk.Keep, sdk.Drop:
			continue
		case sdk.Rewrite:
		default:
			return malformed("decision %d: unknown action %d", i, a)
		}
		out[i].Value = r.nullableBytes("rewritten value")
		hs, _, ok := decodeHeaders(&r, nil)
		if !ok || r.err != nil {
			return malformed("decision %d: %v", i, r.err)
		}
		out[i].Headers = hs
	}
	if len(r.b) != 0 {
		return malformed("%d bytes after the last of %d decisions", len(r.b), len(out))
	}
	return nil
}
