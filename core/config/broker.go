package config

// brokerTable holds the Kafka broker configs Weir reads, with Kafka's names,
// types, defaults and rules (Kafka 4.x). Where Kafka has no rule and a value
// would make no sense, Weir adds one. Three of them (message.max.bytes,
// min.insync.replicas, unclean.leader.election.enable) are also the
// cluster-wide defaults of topic configs; see Def.BrokerSynonym.
var brokerTable = newTable("broker", []spec{
	{name: "auto.create.topics.enable", typ: TypeBoolean, dflt: "true",
		doc: "Create a topic when a client asks for metadata of, or produces to, a topic that does not exist."},
	{name: "auto.leader.rebalance.enable", typ: TypeBoolean, dflt: "true",
		doc: "Move leadership back to each partition's preferred replica when it has drifted."},
	{name: "broker.heartbeat.interval.ms", typ: TypeInt, dflt: "2000", rule: atLeast(1),
		doc: "How often a broker heartbeats to the active controller; must be less than broker.session.timeout.ms."},
	{name: "broker.rack", typ: TypeString, dflt: "",
		doc: "The rack of this broker, used to spread replicas across racks; empty for none."},
	{name: "broker.session.timeout.ms", typ: TypeInt, dflt: "9000", rule: atLeast(1),
		doc: "How long a broker may go without heartbeating before the controller fences it and moves its leaderships."},
	{name: "connections.max.idle.ms", typ: TypeLong, dflt: "600000", rule: atLeast(1),
		doc: "Close client connections idle for longer than this."},
	{name: "default.replication.factor", typ: TypeInt, dflt: "1", rule: atLeast(1),
		doc: "The replication factor of automatically created topics and of CreateTopics requests that leave it to the broker."},
	{name: "delete.topic.enable", typ: TypeBoolean, dflt: "true",
		doc: "Allow DeleteTopics; when false, deletion requests are refused."},
	{name: "fetch.max.bytes", typ: TypeInt, dflt: "57671680", rule: atLeast(1024),
		doc: "The most record bytes one Fetch response carries."},
	{name: "group.initial.rebalance.delay.ms", typ: TypeInt, dflt: "3000", rule: atLeast(0),
		doc: "How long a new classic group waits for more members before its first rebalance."},
	{name: "group.max.session.timeout.ms", typ: TypeInt, dflt: "1800000", rule: atLeast(1),
		doc: "The longest session timeout a classic-group member may ask for."},
	{name: "group.max.size", typ: TypeInt, dflt: maxInt, rule: atLeast(1),
		doc: "The most members one consumer group may have."},
	{name: "group.min.session.timeout.ms", typ: TypeInt, dflt: "6000", rule: atLeast(1),
		doc: "The shortest session timeout a classic-group member may ask for; must not exceed group.max.session.timeout.ms."},
	{name: "leader.imbalance.check.interval.seconds", typ: TypeLong, dflt: "300", rule: atLeast(1),
		doc: "How often the controller checks for leaders away from their preferred replica."},
	{name: "leader.imbalance.per.broker.percentage", typ: TypeInt, dflt: "10", rule: between(0, 100),
		doc: "The share of a broker's leaderships that may be away from their preferred replica before a rebalance is triggered."},
	{name: "log.cleaner.backoff.ms", typ: TypeLong, dflt: "15000", rule: atLeast(0),
		doc: "How long the log cleaner sleeps when there is nothing to clean."},
	{name: "log.cleaner.io.max.bytes.per.second", typ: TypeDouble, dflt: maxDouble, rule: positiveFloat(),
		doc: "The most bytes per second the log cleaner reads and writes, summed over its threads."},
	{name: "log.cleaner.threads", typ: TypeInt, dflt: "1", rule: atLeast(0),
		doc: "The number of log cleaner threads; 0 disables compaction."},
	{name: "log.flush.offset.checkpoint.interval.ms", typ: TypeInt, dflt: "60000", rule: atLeast(0),
		doc: "How often the recovery point of each log is checkpointed to disk."},
	{name: "log.flush.scheduler.interval.ms", typ: TypeLong, dflt: maxLong, rule: atLeast(1),
		doc: "How often the flusher checks whether a log is due an fsync under flush.ms."},
	{name: "log.flush.start.offset.checkpoint.interval.ms", typ: TypeInt, dflt: "60000", rule: atLeast(0),
		doc: "How often the log start offset of each log is checkpointed to disk."},
	{name: "log.retention.check.interval.ms", typ: TypeLong, dflt: "300000", rule: atLeast(1),
		doc: "How often segments are checked against retention.ms and retention.bytes."},
	{name: "max.connections", typ: TypeInt, dflt: maxInt, rule: atLeast(0),
		doc: "The most client connections the broker accepts at once."},
	{name: "max.connections.per.ip", typ: TypeInt, dflt: maxInt, rule: atLeast(0),
		doc: "The most client connections the broker accepts at once from one IP address."},
	{name: "message.max.bytes", typ: TypeInt, dflt: "1048588", rule: atLeast(0),
		doc: "The largest record batch a topic accepts unless it sets max.message.bytes."},
	{name: "min.insync.replicas", typ: TypeInt, dflt: "1", rule: atLeast(1),
		doc: "The min.insync.replicas of topics that do not set their own."},
	{name: "num.partitions", typ: TypeInt, dflt: "1", rule: atLeast(1),
		doc: "The partition count of automatically created topics and of CreateTopics requests that leave it to the broker."},
	{name: "num.recovery.threads.per.data.dir", typ: TypeInt, dflt: "2", rule: atLeast(1),
		doc: "Threads that recover logs at start-up after an unclean shutdown."},
	{name: "offsets.retention.minutes", typ: TypeInt, dflt: "10080", rule: atLeast(1),
		doc: "How long committed offsets of an empty group are kept."},
	{name: "offsets.topic.num.partitions", typ: TypeInt, dflt: "50", rule: atLeast(1),
		doc: "The partition count of __consumer_offsets; a group's coordinator leads partition hash(group) modulo this. Do not change it once the topic exists."},
	{name: "offsets.topic.replication.factor", typ: TypeShort, dflt: "3", rule: atLeast(1),
		doc: "The replication factor of __consumer_offsets; the controller caps it at the number of brokers, so a single node runs with 1."},
	{name: "offsets.topic.segment.bytes", typ: TypeInt, dflt: "104857600", rule: atLeast(1),
		doc: "The segment.bytes of __consumer_offsets."},
	{name: "producer.id.expiration.ms", typ: TypeInt, dflt: "86400000", rule: atLeast(1),
		doc: "How long the broker keeps the state of an idempotent producer that has stopped writing."},
	{name: "queued.max.requests", typ: TypeInt, dflt: "500", rule: atLeast(1),
		doc: "The most requests waiting to be handled before the broker stops reading from connections."},
	{name: "replica.fetch.max.bytes", typ: TypeInt, dflt: "1048576", rule: atLeast(0),
		doc: "The record bytes a follower asks for per partition in one fetch."},
	{name: "replica.fetch.min.bytes", typ: TypeInt, dflt: "1", rule: atLeast(1),
		doc: "The bytes a follower's fetch waits for before the leader answers."},
	{name: "replica.fetch.wait.max.ms", typ: TypeInt, dflt: "500", rule: atLeast(0),
		doc: "The longest the leader holds a follower's fetch waiting for replica.fetch.min.bytes; keep it below replica.lag.time.max.ms."},
	{name: "replica.lag.time.max.ms", typ: TypeLong, dflt: "30000", rule: atLeast(1),
		doc: "A follower that has not caught up with the leader's log end offset for this long leaves the ISR."},
	{name: "socket.request.max.bytes", typ: TypeInt, dflt: "104857600", rule: atLeast(1),
		doc: "The largest request frame the broker reads; larger frames close the connection before any allocation."},
	{name: "unclean.leader.election.enable", typ: TypeBoolean, dflt: "false",
		doc: "The unclean.leader.election.enable of topics that do not set their own."},
	{name: ConfigWeirGroupAssignor, typ: TypeString, dflt: "",
		doc: "The weir.assignor of classic consumer groups that do not set their own: the assignor the coordinator runs for them (a built-in or a [[plugins]] entry); empty leaves assignment to each group's leader, as in Kafka."},
})

// Broker is the resolved broker configuration: every broker config, typed,
// with durations in the unit of the Kafka name. Build it with
// (*Config).ResolveBroker; BrokerDefaults gives Kafka's defaults. Field
// comments name the Kafka config.
type Broker struct {
	AutoCreateTopicsEnable       bool   // auto.create.topics.enable
	AutoLeaderRebalanceEnable    bool   // auto.leader.rebalance.enable
	BrokerHeartbeatIntervalMs    int32  // broker.heartbeat.interval.ms
	BrokerRack                   string // broker.rack; "" for none
	BrokerSessionTimeoutMs       int32  // broker.session.timeout.ms
	ConnectionsMaxIdleMs         int64  // connections.max.idle.ms
	DefaultReplicationFactor     int32  // default.replication.factor
	DeleteTopicEnable            bool   // delete.topic.enable
	FetchMaxBytes                int32  // fetch.max.bytes
	GroupInitialRebalanceDelayMs int32  // group.initial.rebalance.delay.ms
	GroupMaxSessionTimeoutMs     int32  // group.max.session.timeout.ms
	GroupMaxSize                 int32  // group.max.size
	GroupMinSessionTimeoutMs     int32  // group.min.session.timeout.ms

	LeaderImbalanceCheckIntervalSeconds int64 // leader.imbalance.check.interval.seconds
	LeaderImbalancePerBrokerPercentage  int32 // leader.imbalance.per.broker.percentage

	LogCleanerBackoffMs                     int64   // log.cleaner.backoff.ms
	LogCleanerIoMaxBytesPerSecond           float64 // log.cleaner.io.max.bytes.per.second
	LogCleanerThreads                       int32   // log.cleaner.threads
	LogFlushOffsetCheckpointIntervalMs      int32   // log.flush.offset.checkpoint.interval.ms
	LogFlushSchedulerIntervalMs             int64   // log.flush.scheduler.interval.ms
	LogFlushStartOffsetCheckpointIntervalMs int32   // log.flush.start.offset.checkpoint.interval.ms
	LogRetentionCheckIntervalMs             int64   // log.retention.check.interval.ms

	MaxConnections                int32 // max.connections
	MaxConnectionsPerIP           int32 // max.connections.per.ip
	MessageMaxBytes               int32 // message.max.bytes
	MinInsyncReplicas             int32 // min.insync.replicas
	NumPartitions                 int32 // num.partitions
	NumRecoveryThreadsPerDataDir  int32 // num.recovery.threads.per.data.dir
	OffsetsRetentionMinutes       int32 // offsets.retention.minutes
	OffsetsTopicNumPartitions     int32 // offsets.topic.num.partitions
	OffsetsTopicReplicationFactor int16 // offsets.topic.replication.factor; capped at the broker count when the topic is created
	OffsetsTopicSegmentBytes      int32 // offsets.topic.segment.bytes
	ProducerIDExpirationMs        int32 // producer.id.expiration.ms
	QueuedMaxRequests             int32 // queued.max.requests
	ReplicaFetchMaxBytes          int32 // replica.fetch.max.bytes
	ReplicaFetchMinBytes          int32 // replica.fetch.min.bytes
	ReplicaFetchWaitMaxMs         int32 // replica.fetch.wait.max.ms
	ReplicaLagTimeMaxMs           int64 // replica.lag.time.max.ms
	SocketRequestMaxBytes         int32 // socket.request.max.bytes
	UncleanLeaderElectionEnable   bool  // unclean.leader.election.enable

	WeirGroupAssignor string // weir.group.assignor; "" for none
}

// newBroker builds a Broker from a complete set of checked values.
func newBroker(get func(name string) Value) Broker {
	return Broker{
		AutoCreateTopicsEnable:       get("auto.create.topics.enable").Bool(),
		AutoLeaderRebalanceEnable:    get("auto.leader.rebalance.enable").Bool(),
		BrokerHeartbeatIntervalMs:    get("broker.heartbeat.interval.ms").Int(),
		BrokerRack:                   get("broker.rack").String(),
		BrokerSessionTimeoutMs:       get("broker.session.timeout.ms").Int(),
		ConnectionsMaxIdleMs:         get("connections.max.idle.ms").Long(),
		DefaultReplicationFactor:     get("default.replication.factor").Int(),
		DeleteTopicEnable:            get("delete.topic.enable").Bool(),
		FetchMaxBytes:                get("fetch.max.bytes").Int(),
		GroupInitialRebalanceDelayMs: get("group.initial.rebalance.delay.ms").Int(),
		GroupMaxSessionTimeoutMs:     get("group.max.session.timeout.ms").Int(),
		GroupMaxSize:                 get("group.max.size").Int(),
		GroupMinSessionTimeoutMs:     get("group.min.session.timeout.ms").Int(),

		LeaderImbalanceCheckIntervalSeconds: get("leader.imbalance.check.interval.seconds").Long(),
		LeaderImbalancePerBrokerPercentage:  get("leader.imbalance.per.broker.percentage").Int(),

		LogCleanerBackoffMs:                     get("log.cleaner.backoff.ms").Long(),
		LogCleanerIoMaxBytesPerSecond:           get("log.cleaner.io.max.bytes.per.second").Double(),
		LogCleanerThreads:                       get("log.cleaner.threads").Int(),
		LogFlushOffsetCheckpointIntervalMs:      get("log.flush.offset.checkpoint.interval.ms").Int(),
		LogFlushSchedulerIntervalMs:             get("log.flush.scheduler.interval.ms").Long(),
		LogFlushStartOffsetCheckpointIntervalMs: get("log.flush.start.offset.checkpoint.interval.ms").Int(),
		LogRetentionCheckIntervalMs:             get("log.retention.check.interval.ms").Long(),

		MaxConnections:                get("max.connections").Int(),
		MaxConnectionsPerIP:           get("max.connections.per.ip").Int(),
		MessageMaxBytes:               get("message.max.bytes").Int(),
		MinInsyncReplicas:             get("min.insync.replicas").Int(),
		NumPartitions:                 get("num.partitions").Int(),
		NumRecoveryThreadsPerDataDir:  get("num.recovery.threads.per.data.dir").Int(),
		OffsetsRetentionMinutes:       get("offsets.retention.minutes").Int(),
		OffsetsTopicNumPartitions:     get("offsets.topic.num.partitions").Int(),
		OffsetsTopicReplicationFactor: int16(get("offsets.topic.replication.factor").Int()),
		OffsetsTopicSegmentBytes:      get("offsets.topic.segment.bytes").Int(),
		ProducerIDExpirationMs:        get("producer.id.expiration.ms").Int(),
		QueuedMaxRequests:             get("queued.max.requests").Int(),
		ReplicaFetchMaxBytes:          get("replica.fetch.max.bytes").Int(),
		ReplicaFetchMinBytes:          get("replica.fetch.min.bytes").Int(),
		ReplicaFetchWaitMaxMs:         get("replica.fetch.wait.max.ms").Int(),
		ReplicaLagTimeMaxMs:           get("replica.lag.time.max.ms").Long(),
		SocketRequestMaxBytes:         get("socket.request.max.bytes").Int(),
		UncleanLeaderElectionEnable:   get("unclean.leader.election.enable").Bool(),

		WeirGroupAssignor: get(ConfigWeirGroupAssignor).String(),
	}
}

// brokerRelations are the rules relating two broker configs.
var brokerRelations = []relation{
	{lo: "group.min.session.timeout.ms", hi: "group.max.session.timeout.ms"},
	{lo: "broker.heartbeat.interval.ms", hi: "broker.session.timeout.ms", strict: true},
}

// BrokerDefaults returns Kafka's default broker configuration, before
// anything in a weir.toml.
func BrokerDefaults() Broker {
	return newBroker(func(name string) Value {
		d, _ := brokerTable.Lookup(name)
		return d.Default
	})
}
