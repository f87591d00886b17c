package config

import (
	"errors"
	"math"
	"reflect"
	"slices"
	"testing"
)

func TestTopicDefaults(t *testing.T) {
	want := Topic{
		CleanupPolicy:               CleanupPolicy{Delete: true},
		CompressionType:             CompressionProducer,
		CompressionGzipLevel:        -1,
		CompressionLz4Level:         9,
		CompressionZstdLevel:        3,
		DeleteRetentionMs:           86400000,
		FileDeleteDelayMs:           60000,
		FlushMessages:               math.MaxInt64,
		FlushMs:                     math.MaxInt64,
		IndexIntervalBytes:          4096,
		SegmentIndexBytes:           10485760,
		SegmentBytes:                1073741824,
		SegmentMs:                   604800000,
		SegmentJitterMs:             0,
		MaxMessageBytes:             1048588,
		MessageTimestampType:        TimestampCreateTime,
		MessageTimestampBeforeMaxMs: math.MaxInt64,
		MessageTimestampAfterMaxMs:  3600000,
		MinCleanableDirtyRatio:      0.5,
		MinCompactionLagMs:          0,
		MaxCompactionLagMs:          math.MaxInt64,
		MinInsyncReplicas:           1,
		RetentionBytes:              -1,
		RetentionMs:                 604800000,
	}
	if got := TopicDefaults(); got != want {
		t.Errorf("TopicDefaults() =\n%+v\nwant\n%+v", got, want)
	}
	got, err := ResolveTopic(nil)
	if err != nil || got != want {
		t.Errorf("ResolveTopic(nil) = %+v, %v", got, err)
	}
}

func TestBrokerDefaults(t *testing.T) {
	b := BrokerDefaults()
	if !b.AutoCreateTopicsEnable || b.NumPartitions != 1 || b.DefaultReplicationFactor != 1 ||
		b.SocketRequestMaxBytes != 104857600 || b.MessageMaxBytes != 1048588 || b.MaxConnections != math.MaxInt32 ||
		b.ConnectionsMaxIdleMs != 600000 || b.OffsetsTopicNumPartitions != 50 || b.OffsetsTopicReplicationFactor != 3 ||
		b.OffsetsRetentionMinutes != 10080 || b.GroupInitialRebalanceDelayMs != 3000 ||
		b.GroupMinSessionTimeoutMs != 6000 || b.GroupMaxSessionTimeoutMs != 1800000 ||
		b.BrokerSessionTimeoutMs != 9000 || b.BrokerHeartbeatIntervalMs != 2000 || b.ReplicaLagTimeMaxMs != 30000 ||
		b.MinInsyncReplicas != 1 || b.UncleanLeaderElectionEnable || !b.AutoLeaderRebalanceEnable || b.BrokerRack != "" ||
		b.LogCleanerThreads != 1 || b.LogCleanerBackoffMs != 15000 || b.LogCleanerIoMaxBytesPerSecond != math.MaxFloat64 ||
		b.LogRetentionCheckIntervalMs != 300000 || b.LogFlushOffsetCheckpointIntervalMs != 60000 ||
		b.LogFlushSchedulerIntervalMs != math.MaxInt64 {
		t.Errorf("BrokerDefaults() = %+v", b)
	}
	got, err := Default().ResolveBroker()
	if err != nil || got != b {
		t.Errorf("Default().ResolveBroker() = %+v, %v", got, err)
	}
}

func TestResolveTopicOverrides(t *testing.T) {
	topic, err := ResolveTopic(map[string]string{
		"cleanup.policy":         "compact",
		"segment.bytes":          "1048576",
		"segment.ms":             "3600000",
		"retention.bytes":        "1073741824",
		"compression.type":       "zstd",
		"message.timestamp.type": "LogAppendTime",
		"weir.partitioner":       "roundrobin",
	})
	if err != nil {
		t.Fatal(err)
	}
	want := TopicDefaults()
	want.CleanupPolicy = CleanupPolicy{Compact: true}
	want.SegmentBytes = 1048576
	want.SegmentMs = 3600000
	want.RetentionBytes = 1073741824
	want.CompressionType = CompressionZstd
	want.MessageTimestampType = TimestampLogAppendTime
	want.WeirPartitioner = "roundrobin"
	if topic != want {
		t.Errorf("ResolveTopic =\n%+v\nwant\n%+v", topic, want)
	}

	for _, tt := range []struct {
		overrides map[string]string
		name      string
		class     error
	}{
		{map[string]string{"retention.ms": "forever"}, "retention.ms", ErrWrongType},
		{map[string]string{"segment.bytes": "1"}, "segment.bytes", ErrInvalidValue},
		{map[string]string{"retention.msx": "1", "segment.bytes": "1"}, "retention.msx", ErrUnknownConfig},
		{map[string]string{"max.compaction.lag.ms": "10", "min.compaction.lag.ms": "20"}, "min.compaction.lag.ms", ErrInvalidValue},
	} {
		_, err := ResolveTopic(tt.overrides)
		var ve *ValueError
		if !errors.As(err, &ve) || ve.Name != tt.name || !errors.Is(err, tt.class) {
			t.Errorf("ResolveTopic(%v) = %v, want %v naming %s", tt.overrides, err, tt.class, tt.name)
		}
	}
}

func TestResolveTopicLayers(t *testing.T) {
	c, err := Parse([]byte(`
[broker]
"min.insync.replicas" = 2
"message.max.bytes" = 2000000
[topic_defaults]
"retention.ms" = 86400000
"min.compaction.lag.ms" = 1000
`), "w.toml")
	if err != nil {
		t.Fatal(err)
	}
	entries, err := c.DescribeTopic(map[string]string{"retention.ms": "-1", "segment.ms": "60000"})
	if err != nil {
		t.Fatal(err)
	}
	if len(entries) != len(TopicTable().Defs()) {
		t.Errorf("DescribeTopic lists %d configs, want all %d", len(entries), len(TopicTable().Defs()))
	}
	want := map[string]struct {
		value  string
		source Source
	}{
		"retention.ms":          {"-1", SourceTopic},
		"segment.ms":            {"60000", SourceTopic},
		"min.compaction.lag.ms": {"1000", SourceStatic},
		"min.insync.replicas":   {"2", SourceStatic},
		"max.message.bytes":     {"2000000", SourceStatic},
		"segment.bytes":         {"1073741824", SourceDefault},
		"cleanup.policy":        {"delete", SourceDefault},
	}
	var names []string
	for _, e := range entries {
		names = append(names, e.Name)
		if e.Def.Name != e.Name {
			t.Errorf("entry %s has def %s", e.Name, e.Def.Name)
		}
		w, ok := want[e.Name]
		if !ok {
			if !e.IsDefault() {
				t.Errorf("%s: source %v, want default", e.Name, e.Source)
			}
			continue
		}
		if e.Value.String() != w.value || e.Source != w.source {
			t.Errorf("%s = %q (%v), want %q (%v)", e.Name, e.Value, e.Source, w.value, w.source)
		}
	}
	if !slices.IsSorted(names) {
		t.Errorf("entries not in name order: %v", names)
	}

	// An override that breaks a relation with weir.toml is blamed, not the file.
	_, err = c.ResolveTopic(map[string]string{"max.compaction.lag.ms": "500"})
	var ve *ValueError
	if !errors.As(err, &ve) || ve.Name != "max.compaction.lag.ms" || ve.Reason != "must not be below min.compaction.lag.ms (1000)" {
		t.Errorf("ResolveTopic with crossed lags = %v", err)
	}
}

func TestDescribeBroker(t *testing.T) {
	c := Default()
	c.Broker["num.partitions"] = IntValue(6)
	entries, err := c.DescribeBroker()
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		if (e.Name == "num.partitions") != (e.Source == SourceStatic) {
			t.Errorf("%s: source %v", e.Name, e.Source)
		}
	}
	c.Broker["num.partitions"] = LongValue(6)
	if _, err := c.ResolveBroker(); !errors.Is(err, ErrWrongType) {
		t.Errorf("ResolveBroker with a long for an int = %v", err)
	}
	delete(c.Broker, "num.partitions")
	c.Broker["nope"] = IntValue(1)
	if _, err := c.ResolveBroker(); !errors.Is(err, ErrUnknownConfig) {
		t.Errorf("ResolveBroker with an unknown name = %v", err)
	}
}

// otherValue returns a valid value of d other than its default.
func otherValue(t *testing.T, d Def) Value {
	t.Helper()
	var candidates []Value
	switch d.Type {
	case TypeBoolean:
		candidates = []Value{BoolValue(!d.Default.Bool())}
	case TypeShort, TypeInt, TypeLong:
		n := d.Default.Long()
		for _, m := range []int64{n + 1, n - 1, 2, 1, 0} {
			candidates = append(candidates, Value{typ: d.Type, num: m})
		}
	case TypeDouble:
		candidates = []Value{DoubleValue(d.Default.Double() / 2), DoubleValue(0.25)}
	case TypeString:
		for _, s := range []string{CompressionZstd, TimestampLogAppendTime, "some-plugin"} {
			candidates = append(candidates, StringValue(s))
		}
	case TypeList:
		candidates = []Value{ListValue(CleanupCompact), ListValue(CleanupCompact, CleanupDelete)}
	}
	for _, v := range candidates {
		if d.Check(v) == nil && !v.Equal(d.Default) {
			return v
		}
	}
	t.Fatalf("no other value for %s", d.Name)
	return Value{}
}

// TestTypedViewsCoverTables holds the typed Topic and Broker to the
// tables: each reads exactly the table's names, and each config changes
// the typed view.
func TestTypedViewsCoverTables(t *testing.T) {
	for _, tc := range []struct {
		tbl   *Table
		build func(get func(string) Value) any
	}{
		{TopicTable(), func(get func(string) Value) any { return newTopic(get) }},
		{BrokerTable(), func(get func(string) Value) any { return newBroker(get) }},
	} {
		defaults := func(name string) Value {
			d, ok := tc.tbl.Lookup(name)
			if !ok {
				t.Errorf("typed %s view reads %q, not in the table", tc.tbl.Kind(), name)
			}
			return d.Default
		}
		var read []string
		base := tc.build(func(name string) Value {
			read = append(read, name)
			return defaults(name)
		})
		slices.Sort(read)
		if !slices.Equal(read, tc.tbl.Names()) {
			t.Errorf("typed %s view reads %v\nwant %v", tc.tbl.Kind(), read, tc.tbl.Names())
		}
		for _, d := range tc.tbl.Defs() {
			other := otherValue(t, d)
			changed := tc.build(func(name string) Value {
				if name == d.Name {
					return other
				}
				return defaults(name)
			})
			if reflect.DeepEqual(changed, base) {
				t.Errorf("%s config %s = %v does not change the typed view", tc.tbl.Kind(), d.Name, other)
			}
		}
	}
}

func TestCleanupPolicyString(t *testing.T) {
	for p, want := range map[CleanupPolicy]string{
		{Delete: true}:                "delete",
		{Compact: true}:               "compact",
		{Delete: true, Compact: true}: "compact,delete",
	} {
		if p.String() != want {
			t.Errorf("%+v.String() = %q, want %q", p, p.String(), want)
		}
	}
}
