// Package codecs holds Weir's built-in compression codecs: the five
// compression types a Kafka record batch can carry (none, gzip, snappy, lz4
// and zstd), each an sdk.Codec that compresses or decompresses the records
// section of one batch at a time.
//
// # Use
//
// Register the built-ins on the Registry that start-up builds, before any
// configured plugin codecs:
//
//	reg := sdk.NewRegistry()
//	if err := codecs.Register(reg); err != nil {
//		return err
//	}
//	// ... register plugins, then hand reg to the engine.
//
// The engine never imports this package: it finds a codec with
// reg.Codec(id) for a batch it reads, or reg.CodecByName(name) for a topic's
// compression.type, and calls it through the sdk.Codec interface. Replacing a
// built-in is a matter of registering something else under its ID instead of
// calling Register.
//
// To choose compression levels (Kafka's compression.gzip.level and
// compression.zstd.level), build the codecs one by one with NewGzipLevel and
// NewZstdLevel and register each with sdk.Registry.RegisterCodec.
//
// # Guarantees
//
// Every codec is safe for concurrent use by multiple goroutines. Encoders
// and decoders are pooled, so steady-state calls that reuse their dst
// buffer allocate little or nothing.
//
// Decode treats its input as hostile. It never appends more than maxSize
// bytes, and never allocates much more than maxSize whatever lengths the
// input claims: a "compression bomb" fails with an error wrapping
// sdk.ErrDecodedTooLarge, and malformed input fails with an error that names
// the codec and wraps ErrCorrupt. Decode does not panic on any input.
//
// On error, Encode and Decode return their dst argument unchanged in length;
// bytes in its spare capacity may have been overwritten.
//
// # Wire formats
//
// Each codec writes what the Java client writes, so that every Kafka client
// can read Weir's output, and reads what any mainstream client writes:
//
//   - gzip: RFC 1952; Decode accepts multi-member streams.
//   - snappy: Encode writes xerial (snappy-java) framing; Decode accepts
//     xerial framing and raw snappy blocks.
//   - lz4: the LZ4 frame format with independent blocks, as record batches
//     of magic 2 use it (not the broken header checksum of magic 0 and 1).
//   - zstd: RFC 8878 frames.
package codecs
