// Package config is Weir's configuration: the weir.toml file, and the
// definitions of every Kafka broker and topic config Weir understands.
//
// # The file
//
// A node's file (ARCHITECTURE.md §5) sets node_id, data_dir, the
// [listeners], the controller quorum in [cluster] voters, Kafka broker
// settings in [broker] and topic config defaults in [topic_defaults] (both
// by their Kafka names), [[plugins]], and the NATS bridge's routes in
// [[bridge.nats]] (Bridge, NATSRoute). testdata/full.toml shows every
// part. Everything is optional: Default is what `weir serve` runs with and
// what a file starts from.
//
// The caller's duties, in order:
//
//  1. Load (or Parse) the file, or take Default when there is none.
//  2. Apply the command-line flags with (*Config).Apply (ParseVoters
//     reads --voters), which keeps a quorum of one in step with a new
//     --node-id or --controller-addr.
//  3. Call Validate, and stop on error.
//  4. Hand ResolveBroker's Broker to the engine, and resolve each topic's
//     configuration with ResolveTopic.
//
// Load, Parse and Validate report every problem at once, as an ErrorList.
// Each problem names the file, line, key and value as written, and says
// what is wrong:
//
//	weir.toml:12: [topic_defaults] "segment.bytes" = 10: must be at least 14
//	weir.toml:3: [listeners] kafak = "127.0.0.1:9092": unknown listener (did you mean "kafka"?)
//
// Unknown keys are errors everywhere except inside a plugin's free-form
// config table. Values must have the config's type: an integer that does
// not fit an int config, a float for an integer or a quoted number is an
// error, never converted. Each problem wraps one of ErrUnknownConfig,
// ErrWrongType, ErrInvalidValue and ErrSyntax.
//
// # Config definitions
//
// TopicTable and BrokerTable hold one Def per config, with Kafka's name,
// type, default, valid values and documentation. Every path that sets a
// config goes through them: [topic_defaults] and [broker] in the file, and
// later CreateTopics, AlterConfigs and DescribeConfigs, which carry values
// in Kafka's string form (ParseTopicValue, Value.String). The Type and
// Source numbers are the ones DescribeConfigs sends. GroupTable holds the
// configs of Kafka's GROUP resource (KIP-848) that Weir understands —
// today only its own weir.assignor, whose default is the broker setting
// weir.group.assignor (its BrokerSynonym); they are set per group through
// IncrementalAlterConfigs and kept in the cluster metadata, not in the
// file.
//
// A topic's configuration resolves through layers, most specific last:
// Kafka's default; the [broker] setting that Kafka uses as the cluster
// default (min.insync.replicas, message.max.bytes for max.message.bytes,
// unclean.leader.election.enable); [topic_defaults]; the topic's own
// overrides. (*Config).ResolveTopic returns the typed Topic that the log,
// partition and cleaner code read; (*Config).DescribeTopic lists every
// config with its value and Source, as DescribeConfigs reports them.
// ResolveBroker and DescribeBroker do the same for broker settings.
//
// Tables, Defs and Values never change after package initialisation and
// are safe for concurrent use; a Config is safe for concurrent reads.
package config
