package server

import (
	"fmt"

	"github.com/twmb/franz-go/pkg/kerr"

	"github.com/weirmq/weir/core/config"
	"github.com/weirmq/weir/core/record"
	"github.com/weirmq/weir/sdk"
)

// compressionIDs maps compression.type values to Kafka compression ids.
var compressionIDs = map[string]sdk.CompressionID{
	config.CompressionUncompressed: sdk.CompressionNone,
	config.CompressionGzip:         sdk.CompressionGzip,
	config.CompressionSnappy:       sdk.CompressionSnappy,
	config.CompressionLz4:          sdk.CompressionLZ4,
	config.CompressionZstd:         sdk.CompressionZstd,
}

// storageCompression returns records as the topic stores them: unchanged
// for compression.type=producer (the default) and for a batch already in
// the topic's codec, and otherwise recompressed with the codec the topic
// names (Kafka's broker-side compression). The codec comes from the
// broker's codec registry, so a registered implementation of that
// compression id is the one used. Errors wrap kerr.InvalidRecord (the
// batch cannot be decoded) or kerr.UnknownServerError (no codec).
// Compression levels (compression.*.level) are the codec's defaults.
func (b *Broker) storageCompression(topic string, records []byte) ([]byte, error) {
	tc, ok := b.topicConfig(topic)
	if !ok || tc.CompressionType == config.CompressionProducer || tc.CompressionType == "" {
		return records, nil
	}
	id, ok := compressionIDs[tc.CompressionType]
	if !ok {
		return records, nil
	}
	var codec sdk.Codec
	if id != sdk.CompressionNone {
		if codec, ok = b.opts.Codecs.Codec(id); !ok {
			return nil, fmt.Errorf("%w: topic %q stores %s, and no codec for it is registered", kerr.UnknownServerError, topic, tc.CompressionType)
		}
	}
	h, err := record.ReadHeader(records)
	if err != nil || h.Attributes.Compression() == id || h.Attributes.Control() {
		return records, nil // the append reports a bad batch with its own code
	}
	out, err := record.Recompress(nil, records, codec, b.opts.Codecs, maxEnforceDecoded)
	if err != nil {
		return nil, fmt.Errorf("%w: topic %q stores %s and the batch could not be recompressed: %v", kerr.InvalidRecord, topic, tc.CompressionType, err)
	}
	return out, nil
}
