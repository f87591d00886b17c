package record

import "github.com/weirmq/weir/sdk"

// Recompress appends to dst batch rewritten with its records compressed by
// codec (nil or the none codec: uncompressed), as a broker does for a topic
// whose compression.type names a codec. Everything else is kept: base
// offset, leader epoch, producer id, epoch and base sequence, the
// transactional and timestamp-type flags, base timestamp, offset and
// timestamp deltas, keys, values and headers; the CRC is recomputed.
// codecs decompresses the original, bounded by maxDecoded bytes. A batch
// already in codec's compression, and a control batch, are appended
// unchanged.
//
// Errors: ErrCorrupt and the other Validate errors for a bad batch,
// ErrUnsupportedCompression when codecs lacks the batch's codec, ErrTooLarge
// when it decompresses past maxDecoded, and codec's Encode errors.
func Recompress(dst, batch []byte, codec sdk.Codec, codecs CodecSource, maxDecoded int) ([]byte, error) {
	h, err := Validate(batch)
	if err != nil {
		return nil, err
	}
	want := sdk.CompressionNone
	if codec != nil {
		want = codec.ID()
	}
	if h.Attributes.Control() || h.Attributes.Compression() == want {
		return append(dst, batch...), nil
	}
	it, err := NewIterator(batch, codecs, maxDecoded)
	if err != nil {
		return nil, err
	}
	b := NewBuilder(BuilderOptions{
		Codec:                codec,
		BaseOffset:           h.BaseOffset,
		PartitionLeaderEpoch: h.PartitionLeaderEpoch,
		HasProducerID:        h.ProducerID >= 0,
		ProducerID:           h.ProducerID,
		ProducerEpoch:        h.ProducerEpoch,
		BaseSequence:         h.BaseSequence,
		Transactional:        h.Attributes.Transactional(),
		LogAppendTime:        h.Attributes.LogAppendTime(),
		BaseTimestamp:        h.BaseTimestamp,
		LastOffsetDelta:      h.LastOffsetDelta,
	})
	for r, ok := it.Next(); ok; r, ok = it.Next() {
		if err := b.AppendRecord(r); err != nil {
			return nil, err
		}
	}
	if err := it.Err(); err != nil {
		return nil, err
	}
	return b.Build(dst)
}
