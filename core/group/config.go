package group

import "time"

// Config is the coordinator's part of the broker configuration. The
// broker reads it again for every request, so dynamic changes apply to the
// next request.
type Config struct {
	MinSessionTimeout     time.Duration // group.min.session.timeout.ms
	MaxSessionTimeout     time.Duration // group.max.session.timeout.ms
	InitialRebalanceDelay time.Duration // group.initial.rebalance.delay.ms
	MaxSize               int           // group.max.size
	OffsetsRetention      time.Duration // offsets.retention.minutes
	// OffsetsRetentionCheckInterval is how often expired offsets are
	// looked for (Kafka's offsets.retention.check.interval.ms).
	OffsetsRetentionCheckInterval time.Duration
	// OffsetMetadataMaxBytes is the longest metadata string a commit may
	// carry (Kafka's offset.metadata.max.bytes).
	OffsetMetadataMaxBytes int

	// KIP-848 consumer groups. The broker's configuration table does not
	// have these yet: they keep Kafka's defaults.
	ConsumerSessionTimeout    time.Duration // group.consumer.session.timeout.ms
	ConsumerHeartbeatInterval time.Duration // group.consumer.heartbeat.interval.ms
	ConsumerMaxSize           int           // group.consumer.max.size
	// ConsumerAssignor is the server assignor of members that name none:
	// the first of Kafka's group.consumer.assignors.
	ConsumerAssignor string
}

// DefaultConfig returns Kafka's defaults.
func DefaultConfig() Config {
	return Config{
		MinSessionTimeout:             6 * time.Second,
		MaxSessionTimeout:             30 * time.Minute,
		InitialRebalanceDelay:         3 * time.Second,
		MaxSize:                       1<<31 - 1,
		OffsetsRetention:              7 * 24 * time.Hour,
		OffsetsRetentionCheckInterval: 10 * time.Minute,
		OffsetMetadataMaxBytes:        4096,
		ConsumerSessionTimeout:        45 * time.Second,
		ConsumerHeartbeatInterval:     5 * time.Second,
		ConsumerMaxSize:               1<<31 - 1,
		ConsumerAssignor:              "uniform",
	}
}

// newMemberJoinTimeout bounds how long a member that joined during a
// rebalance may wait for it without ever having been part of a generation
// (Kafka's GroupCoordinator.NewMemberJoinTimeoutMs).
const newMemberJoinTimeout = 5 * time.Minute
