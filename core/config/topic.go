package config

import "strings"

// Values of compression.type.
const (
	CompressionProducer     = "producer" // keep the producer's codec
	CompressionUncompressed = "uncompressed"
	CompressionGzip         = "gzip"
	CompressionSnappy       = "snappy"
	CompressionLz4          = "lz4"
	CompressionZstd         = "zstd"
)

// Values of message.timestamp.type.
const (
	TimestampCreateTime    = "CreateTime"
	TimestampLogAppendTime = "LogAppendTime"
)

// Values in cleanup.policy.
const (
	CleanupDelete  = "delete"
	CleanupCompact = "compact"
)

// Names of Weir's own topic configs.
const (
	ConfigWeirPartitioner        = "weir.partitioner"
	ConfigWeirPartitionerEnforce = "weir.partitioner.enforce"
	ConfigWeirCompactionFilter   = "weir.compaction.filter"
)

// topicTable holds Kafka's topic configs with Kafka's names, types,
// defaults and rules (Kafka 4.x), plus Weir's own weir.* configs. Where
// Kafka has no rule and a value would make no sense, Weir adds one.
var topicTable = newTable("topic", []spec{
	{name: "cleanup.policy", typ: TypeList, dflt: "delete", rule: listOf(CleanupDelete, CleanupCompact), synonym: "log.cleanup.policy",
		doc: "How old log segments are discarded: delete removes them by age and size (retention.ms, retention.bytes); compact keeps the latest record for each key. Both may be given."},
	{name: "compression.type", typ: TypeString, dflt: "producer",
		rule:    oneOf(CompressionProducer, CompressionUncompressed, CompressionGzip, CompressionSnappy, CompressionLz4, CompressionZstd),
		synonym: "compression.type",
		doc:     "The codec batches are stored with; producer keeps whatever the producer sent, anything else recompresses on append."},
	{name: "compression.gzip.level", typ: TypeInt, dflt: "-1", rule: minusOneOr(between(1, 9)), synonym: "compression.gzip.level",
		doc: "Compression level when compression.type is gzip; -1 is the codec's default."},
	{name: "compression.lz4.level", typ: TypeInt, dflt: "9", rule: between(1, 17), synonym: "compression.lz4.level",
		doc: "Compression level when compression.type is lz4."},
	{name: "compression.zstd.level", typ: TypeInt, dflt: "3", rule: between(-131072, 22), synonym: "compression.zstd.level",
		doc: "Compression level when compression.type is zstd."},
	{name: "delete.retention.ms", typ: TypeLong, dflt: "86400000", rule: atLeast(0), synonym: "log.cleaner.delete.retention.ms",
		doc: "How long tombstones (records with a null value) are kept in a compacted topic, so that consumers reading from the start see the deletion."},
	{name: "file.delete.delay.ms", typ: TypeLong, dflt: "60000", rule: atLeast(0), synonym: "log.segment.delete.delay.ms",
		doc: "How long a segment removed from the log waits before its files are deleted from disk."},
	{name: "flush.messages", typ: TypeLong, dflt: maxLong, rule: atLeast(1), synonym: "log.flush.interval.messages",
		doc: "Force an fsync of the log after this many records; the default leaves durability to replication and the operating system."},
	{name: "flush.ms", typ: TypeLong, dflt: maxLong, rule: atLeast(0), synonym: "log.flush.interval.ms",
		doc: "Force an fsync of the log when a record has been unflushed this long."},
	{name: "index.interval.bytes", typ: TypeInt, dflt: "4096", rule: atLeast(0), synonym: "log.index.interval.bytes",
		doc: "Bytes of log between two entries of the sparse offset index."},
	{name: "max.compaction.lag.ms", typ: TypeLong, dflt: maxLong, rule: atLeast(1), synonym: "log.cleaner.max.compaction.lag.ms",
		doc: "The longest a record stays uncompacted in a compacted topic."},
	{name: "max.message.bytes", typ: TypeInt, dflt: "1048588", rule: atLeast(0), synonym: "message.max.bytes",
		doc: "The largest record batch the topic accepts, after compression."},
	{name: "message.timestamp.after.max.ms", typ: TypeLong, dflt: "3600000", rule: atLeast(0), synonym: "log.message.timestamp.after.max.ms",
		doc: "How far in the future of the broker's clock a CreateTime timestamp may be before the batch is rejected."},
	{name: "message.timestamp.before.max.ms", typ: TypeLong, dflt: maxLong, rule: atLeast(0), synonym: "log.message.timestamp.before.max.ms",
		doc: "How far in the past of the broker's clock a CreateTime timestamp may be before the batch is rejected."},
	{name: "message.timestamp.type", typ: TypeString, dflt: "CreateTime", rule: oneOf(TimestampCreateTime, TimestampLogAppendTime),
		synonym: "log.message.timestamp.type",
		doc:     "Whether record timestamps are the producer's (CreateTime) or the broker's append time (LogAppendTime)."},
	{name: "min.cleanable.dirty.ratio", typ: TypeDouble, dflt: "0.5", rule: betweenFloat(0, 1), synonym: "log.cleaner.min.cleanable.ratio",
		doc: "The share of a compacted log that must be uncompacted before the cleaner compacts it."},
	{name: "min.compaction.lag.ms", typ: TypeLong, dflt: "0", rule: atLeast(0), synonym: "log.cleaner.min.compaction.lag.ms",
		doc: "The shortest a record stays uncompacted in a compacted topic."},
	{name: "min.insync.replicas", typ: TypeInt, dflt: "1", rule: atLeast(1), synonym: "min.insync.replicas",
		doc: "The fewest in-sync replicas an acks=all write needs; with fewer, producers get NOT_ENOUGH_REPLICAS."},
	{name: "preallocate", typ: TypeBoolean, dflt: "false", synonym: "log.preallocate",
		doc: "Preallocate the file of a new segment."},
	{name: "retention.bytes", typ: TypeLong, dflt: "-1", rule: atLeast(-1), synonym: "log.retention.bytes",
		doc: "The largest a partition may grow before its oldest segments are deleted (cleanup.policy delete); -1 means no limit."},
	{name: "retention.ms", typ: TypeLong, dflt: "604800000", rule: atLeast(-1), synonym: "log.retention.ms",
		doc: "How long a segment is kept after its newest record (cleanup.policy delete); -1 means forever."},
	{name: "segment.bytes", typ: TypeInt, dflt: "1073741824", rule: atLeast(14), synonym: "log.segment.bytes",
		doc: "The size at which a segment file is closed and a new one started."},
	{name: "segment.index.bytes", typ: TypeInt, dflt: "10485760", rule: atLeast(12), synonym: "log.index.size.max.bytes",
		doc: "The size each index file is preallocated to; a segment rolls when an index is full. At least 12, one time-index entry."},
	{name: "segment.jitter.ms", typ: TypeLong, dflt: "0", rule: atLeast(0), synonym: "log.roll.jitter.ms",
		doc: "The most by which segment.ms is randomly shortened, so segments of many partitions do not roll together."},
	{name: "segment.ms", typ: TypeLong, dflt: "604800000", rule: atLeast(1), synonym: "log.roll.ms",
		doc: "The age at which a segment is closed and a new one started, even when not full."},
	{name: "unclean.leader.election.enable", typ: TypeBoolean, dflt: "false", synonym: "unclean.leader.election.enable",
		doc: "Allow a replica outside the ISR to become leader when no ISR member is left, at the cost of losing acknowledged records."},
	{name: ConfigWeirPartitioner, typ: TypeString, dflt: "",
		doc: "The partitioner Weir's own producers (CLI, HTTP, NATS bridge, Go SDK) use for the topic: a built-in or a [[plugins]] entry; empty means murmur2, as the Java client."},
	{name: ConfigWeirPartitionerEnforce, typ: TypeBoolean, dflt: "false",
		doc: "Reject (INVALID_RECORD) a produce batch whose keyed records sit on a partition other than the one weir.partitioner chooses for their keys; keyless records, and topics whose partitioner is roundrobin, are not checked."},
	{name: ConfigWeirCompactionFilter, typ: TypeString, dflt: "",
		doc: "The compaction filter the log cleaner runs on the topic: a built-in or a [[plugins]] entry; empty means Kafka's rule, keep the latest record per key."},
})

// CleanupPolicy is the parsed cleanup.policy. Both may be set.
type CleanupPolicy struct {
	Delete  bool // segments are deleted by retention.ms and retention.bytes
	Compact bool // the log is compacted by key
}

// String returns the policy in Kafka's string form, e.g. "compact,delete".
func (p CleanupPolicy) String() string {
	var parts []string
	if p.Compact {
		parts = append(parts, CleanupCompact)
	}
	if p.Delete {
		parts = append(parts, CleanupDelete)
	}
	return strings.Join(parts, ",")
}

// Topic is the resolved configuration of one topic: every topic config,
// typed, with durations in milliseconds as in Kafka. Build it with
// ResolveTopic or (*Config).ResolveTopic; TopicDefaults gives Kafka's
// defaults. Field comments name the Kafka config.
type Topic struct {
	CleanupPolicy CleanupPolicy // cleanup.policy

	CompressionType      string // compression.type: one of the Compression* constants
	CompressionGzipLevel int32  // compression.gzip.level; -1 for the codec default
	CompressionLz4Level  int32  // compression.lz4.level
	CompressionZstdLevel int32  // compression.zstd.level

	DeleteRetentionMs int64 // delete.retention.ms
	FileDeleteDelayMs int64 // file.delete.delay.ms

	FlushMessages int64 // flush.messages; math.MaxInt64 means never
	FlushMs       int64 // flush.ms; math.MaxInt64 means never

	IndexIntervalBytes int32 // index.interval.bytes
	SegmentIndexBytes  int32 // segment.index.bytes
	SegmentBytes       int64 // segment.bytes; a Kafka int, so at most math.MaxInt32
	SegmentMs          int64 // segment.ms
	SegmentJitterMs    int64 // segment.jitter.ms
	Preallocate        bool  // preallocate

	MaxMessageBytes int32 // max.message.bytes

	MessageTimestampType        string // message.timestamp.type: TimestampCreateTime or TimestampLogAppendTime
	MessageTimestampBeforeMaxMs int64  // message.timestamp.before.max.ms
	MessageTimestampAfterMaxMs  int64  // message.timestamp.after.max.ms

	MinCleanableDirtyRatio float64 // min.cleanable.dirty.ratio
	MinCompactionLagMs     int64   // min.compaction.lag.ms
	MaxCompactionLagMs     int64   // max.compaction.lag.ms

	MinInsyncReplicas           int32 // min.insync.replicas
	UncleanLeaderElectionEnable bool  // unclean.leader.election.enable

	RetentionBytes int64 // retention.bytes; -1 means no limit
	RetentionMs    int64 // retention.ms; -1 means forever

	WeirPartitioner        string // weir.partitioner; "" for the default
	WeirPartitionerEnforce bool   // weir.partitioner.enforce
	WeirCompactionFilter   string // weir.compaction.filter; "" for the default
}

// newTopic builds a Topic from a complete set of checked values.
func newTopic(get func(name string) Value) Topic {
	var t Topic
	for _, p := range get("cleanup.policy").List() {
		switch p {
		case CleanupDelete:
			t.CleanupPolicy.Delete = true
		case CleanupCompact:
			t.CleanupPolicy.Compact = true
		}
	}
	t.CompressionType = get("compression.type").String()
	t.CompressionGzipLevel = get("compression.gzip.level").Int()
	t.CompressionLz4Level = get("compression.lz4.level").Int()
	t.CompressionZstdLevel = get("compression.zstd.level").Int()
	t.DeleteRetentionMs = get("delete.retention.ms").Long()
	t.FileDeleteDelayMs = get("file.delete.delay.ms").Long()
	t.FlushMessages = get("flush.messages").Long()
	t.FlushMs = get("flush.ms").Long()
	t.IndexIntervalBytes = get("index.interval.bytes").Int()
	t.SegmentIndexBytes = get("segment.index.bytes").Int()
	t.SegmentBytes = get("segment.bytes").Long()
	t.SegmentMs = get("segment.ms").Long()
	t.SegmentJitterMs = get("segment.jitter.ms").Long()
	t.Preallocate = get("preallocate").Bool()
	t.MaxMessageBytes = get("max.message.bytes").Int()
	t.MessageTimestampType = get("message.timestamp.type").String()
	t.MessageTimestampBeforeMaxMs = get("message.timestamp.before.max.ms").Long()
	t.MessageTimestampAfterMaxMs = get("message.timestamp.after.max.ms").Long()
	t.MinCleanableDirtyRatio = get("min.cleanable.dirty.ratio").Double()
	t.MinCompactionLagMs = get("min.compaction.lag.ms").Long()
	t.MaxCompactionLagMs = get("max.compaction.lag.ms").Long()
	t.MinInsyncReplicas = get("min.insync.replicas").Int()
	t.UncleanLeaderElectionEnable = get("unclean.leader.election.enable").Bool()
	t.RetentionBytes = get("retention.bytes").Long()
	t.RetentionMs = get("retention.ms").Long()
	t.WeirPartitioner = get(ConfigWeirPartitioner).String()
	t.WeirPartitionerEnforce = get(ConfigWeirPartitionerEnforce).Bool()
	t.WeirCompactionFilter = get(ConfigWeirCompactionFilter).String()
	return t
}

// topicRelations are the rules relating two topic configs, as in Kafka's
// LogConfig.validateValues.
var topicRelations = []relation{
	{lo: "min.compaction.lag.ms", hi: "max.compaction.lag.ms"},
}

// TopicDefaults returns Kafka's (and Weir's) default topic configuration,
// before anything in a weir.toml. Use (*Config).ResolveTopic for the
// defaults a running cluster applies.
func TopicDefaults() Topic {
	return newTopic(func(name string) Value {
		d, _ := topicTable.Lookup(name)
		return d.Default
	})
}

// ResolveTopic returns the configuration of a topic with the given
// overrides (Kafka names → Kafka string form, as CreateTopics carries them)
// on top of the built-in defaults. It is (*Config).ResolveTopic of
// Default(). It returns a *ValueError for the first bad override, in name
// order.
func ResolveTopic(overrides map[string]string) (Topic, error) {
	return Default().ResolveTopic(overrides)
}
