// Package server is Weir's Kafka protocol front end: the listener, the
// connection loop, one handler per Kafka API (files named by API key, as
// franz-go's kfake does: 00_produce.go, 01_fetch.go, ...), the hand-written
// zero-copy Fetch response writer, and the HTTP listener with /metrics,
// /healthz and /readyz.
//
// Start builds a Broker over collaborators the caller owns — the log
// manager, the metadata controller, the codec registry — registers the
// node with the controller and serves Kafka. The Broker reacts to every
// metadata change (controller Watch): it opens the partitions of topics it
// hosts, applies configuration changes, and deletes the logs of deleted
// topics.
//
// Requests are decoded and responses encoded with franz-go's kmsg; errors
// from the engine become Kafka error codes in one place (errors.go). A
// connection processes one request at a time, as Kafka does, so pipelined
// requests are answered in order. A malformed frame, an unknown API or an
// unsupported version closes the connection (ApiVersions answers with
// version 0 instead, so clients can negotiate); a handler that panics costs
// its connection, never the broker.
package server
