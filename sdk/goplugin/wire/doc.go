// Package wire is the protocol between Weir (the host, plugins/goplugin)
// and a go-plugin binary (the guest, built with sdk/goplugin). Plugin
// authors do not need it: sdk/goplugin.Serve speaks it for them.
//
// The protocol has three layers:
//
//   - The go-plugin handshake (Handshake): a magic cookie that tells a
//     binary it was started by Weir, and ProtocolVersion, which both sides
//     must share. Any change below that an old peer cannot read bumps
//     ProtocolVersion.
//   - One gRPC service, ServiceName, defined by hand (RegisterServer,
//     Invoke) because protoc is not part of the build: every method takes
//     and returns a protobuf wrapperspb.BytesValue, so gRPC and go-plugin
//     see ordinary protobuf messages (and go-plugin's own health, stdio and
//     controller services are untouched) while the payload inside is the
//     compact encoding of this package.
//   - The payload encodings (encode.go): varints and length-prefixed bytes,
//     no field tags. Nullable byte strings are written as length+1, with 0
//     for nil, because Kafka distinguishes a nil key from an empty one.
//     Every reply starts with a status byte (StatusOK, StatusDeclined,
//     StatusFailed), so a guest's own errors travel as data and gRPC errors
//     mean only that the transport or the process failed.
//
// Decoders never trust a length or a count: each is checked against the
// bytes that remain before anything is allocated, so a corrupt or hostile
// message costs at most its own size. Decoded byte slices alias the input.
package wire
