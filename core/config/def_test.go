package config

import (
	"errors"
	"math"
	"strings"
	"testing"
)

// kafkaDefaults are Kafka's names, types and defaults (in Kafka's string
// form), written out independently of the tables so a slip in either shows.
var kafkaTopicDefaults = []struct {
	name, dflt string
	typ        Type
}{
	{"cleanup.policy", "delete", TypeList},
	{"compression.type", "producer", TypeString},
	{"compression.gzip.level", "-1", TypeInt},
	{"compression.lz4.level", "9", TypeInt},
	{"compression.zstd.level", "3", TypeInt},
	{"delete.retention.ms", "86400000", TypeLong},
	{"file.delete.delay.ms", "60000", TypeLong},
	{"flush.messages", "9223372036854775807", TypeLong},
	{"flush.ms", "9223372036854775807", TypeLong},
	{"index.interval.bytes", "4096", TypeInt},
	{"max.compaction.lag.ms", "9223372036854775807", TypeLong},
	{"max.message.bytes", "1048588", TypeInt},
	{"message.timestamp.after.max.ms", "3600000", TypeLong},
	{"message.timestamp.before.max.ms", "9223372036854775807", TypeLong},
	{"message.timestamp.type", "CreateTime", TypeString},
	{"min.cleanable.dirty.ratio", "0.5", TypeDouble},
	{"min.compaction.lag.ms", "0", TypeLong},
	{"min.insync.replicas", "1", TypeInt},
	{"preallocate", "false", TypeBoolean},
	{"retention.bytes", "-1", TypeLong},
	{"retention.ms", "604800000", TypeLong},
	{"segment.bytes", "1073741824", TypeInt},
	{"segment.index.bytes", "10485760", TypeInt},
	{"segment.jitter.ms", "0", TypeLong},
	{"segment.ms", "604800000", TypeLong},
	{"unclean.leader.election.enable", "false", TypeBoolean},
	{"weir.compaction.filter", "", TypeString},
	{"weir.partitioner", "", TypeString},
	{"weir.partitioner.enforce", "false", TypeBoolean},
}

var kafkaBrokerDefaults = []struct {
	name, dflt string
	typ        Type
}{
	{"auto.create.topics.enable", "true", TypeBoolean},
	{"auto.leader.rebalance.enable", "true", TypeBoolean},
	{"broker.heartbeat.interval.ms", "2000", TypeInt},
	{"broker.rack", "", TypeString},
	{"broker.session.timeout.ms", "9000", TypeInt},
	{"connections.max.idle.ms", "600000", TypeLong},
	{"default.replication.factor", "1", TypeInt},
	{"delete.topic.enable", "true", TypeBoolean},
	{"fetch.max.bytes", "57671680", TypeInt},
	{"group.initial.rebalance.delay.ms", "3000", TypeInt},
	{"group.max.session.timeout.ms", "1800000", TypeInt},
	{"group.max.size", "2147483647", TypeInt},
	{"group.min.session.timeout.ms", "6000", TypeInt},
	{"leader.imbalance.check.interval.seconds", "300", TypeLong},
	{"leader.imbalance.per.broker.percentage", "10", TypeInt},
	{"log.cleaner.backoff.ms", "15000", TypeLong},
	{"log.cleaner.io.max.bytes.per.second", "1.7976931348623157E308", TypeDouble},
	{"log.cleaner.threads", "1", TypeInt},
	{"log.flush.offset.checkpoint.interval.ms", "60000", TypeInt},
	{"log.flush.scheduler.interval.ms", "9223372036854775807", TypeLong},
	{"log.flush.start.offset.checkpoint.interval.ms", "60000", TypeInt},
	{"log.retention.check.interval.ms", "300000", TypeLong},
	{"max.connections", "2147483647", TypeInt},
	{"max.connections.per.ip", "2147483647", TypeInt},
	{"message.max.bytes", "1048588", TypeInt},
	{"min.insync.replicas", "1", TypeInt},
	{"num.partitions", "1", TypeInt},
	{"num.recovery.threads.per.data.dir", "2", TypeInt},
	{"offsets.retention.minutes", "10080", TypeInt},
	{"offsets.topic.num.partitions", "50", TypeInt},
	{"offsets.topic.replication.factor", "3", TypeShort},
	{"offsets.topic.segment.bytes", "104857600", TypeInt},
	{"producer.id.expiration.ms", "86400000", TypeInt},
	{"queued.max.requests", "500", TypeInt},
	{"replica.fetch.max.bytes", "1048576", TypeInt},
	{"replica.fetch.min.bytes", "1", TypeInt},
	{"replica.fetch.wait.max.ms", "500", TypeInt},
	{"replica.lag.time.max.ms", "30000", TypeLong},
	{"socket.request.max.bytes", "104857600", TypeInt},
	{"unclean.leader.election.enable", "false", TypeBoolean},
	{"weir.group.assignor", "", TypeString},
}

var kafkaGroupDefaults = []struct {
	name, dflt string
	typ        Type
}{
	{"weir.assignor", "", TypeString},
}

func TestDefaultsMatchKafka(t *testing.T) {
	check := func(tbl *Table, want []struct {
		name, dflt string
		typ        Type
	}) {
		if got := len(tbl.Defs()); got != len(want) {
			t.Errorf("%s table has %d configs, the test lists %d", tbl.Kind(), got, len(want))
		}
		for _, w := range want {
			d, ok := tbl.Lookup(w.name)
			if !ok {
				t.Errorf("%s config %s missing", tbl.Kind(), w.name)
				continue
			}
			if d.Type != w.typ || d.Default.String() != w.dflt {
				t.Errorf("%s: %s default %q, want %s %q", w.name, d.Type, d.Default, w.typ, w.dflt)
			}
		}
	}
	check(TopicTable(), kafkaTopicDefaults)
	check(BrokerTable(), kafkaBrokerDefaults)
	check(GroupTable(), kafkaGroupDefaults)
}

func TestDefsWellFormed(t *testing.T) {
	for _, tbl := range []*Table{TopicTable(), BrokerTable(), GroupTable()} {
		for _, d := range tbl.Defs() {
			if d.Doc == "" || !strings.HasSuffix(d.Doc, ".") {
				t.Errorf("%s: doc %q", d.Name, d.Doc)
			}
			if err := d.Check(d.Default); err != nil {
				t.Errorf("%s: default invalid: %v", d.Name, err)
			}
			// Kafka's string form of every default parses back to it.
			v, err := d.Parse(d.Default.String())
			if err != nil || !v.Equal(d.Default) {
				t.Errorf("%s: Parse(%q) = %v, %v", d.Name, d.Default.String(), v, err)
			}
			if d.BrokerSynonym != "" && tbl == BrokerTable() {
				t.Errorf("broker config %s has a broker synonym", d.Name)
			}
			if bd, ok := BrokerTable().Lookup(d.BrokerSynonym); ok && bd.Type != d.Type {
				t.Errorf("%s: type %s but its broker synonym %s is %s", d.Name, d.Type, bd.Name, bd.Type)
			}
		}
	}
	// The three topic configs whose default [broker] sets.
	for _, name := range []string{"max.message.bytes", "min.insync.replicas", "unclean.leader.election.enable"} {
		d, _ := TopicTable().Lookup(name)
		if _, ok := BrokerTable().Lookup(d.BrokerSynonym); !ok {
			t.Errorf("%s: synonym %q not in the broker table", name, d.BrokerSynonym)
		}
	}
	if d, _ := TopicTable().Lookup("segment.bytes"); d.Valid != "[14,...]" {
		t.Errorf("segment.bytes Valid = %q", d.Valid)
	}
	if d, _ := TopicTable().Lookup("min.cleanable.dirty.ratio"); d.Valid != "[0,...,1]" {
		t.Errorf("min.cleanable.dirty.ratio Valid = %q", d.Valid)
	}
}

func TestParseTopicValue(t *testing.T) {
	tests := []struct {
		name, in string
		want     string // Kafka string form of the result; "" with class set
		class    error
	}{
		// boolean
		{"preallocate", "true", "true", nil},
		{"preallocate", " FALSE ", "false", nil},
		{"preallocate", "yes", "", ErrWrongType},
		// int
		{"segment.bytes", "14", "14", nil},
		{"segment.bytes", " 2147483647 ", "2147483647", nil},
		{"segment.bytes", "13", "", ErrInvalidValue},
		{"segment.bytes", "2147483648", "", ErrInvalidValue},
		{"segment.bytes", "1.5", "", ErrWrongType},
		{"segment.bytes", "", "", ErrWrongType},
		{"compression.gzip.level", "-1", "-1", nil},
		{"compression.gzip.level", "9", "9", nil},
		{"compression.gzip.level", "0", "", ErrInvalidValue},
		{"compression.zstd.level", "-131072", "-131072", nil},
		// long
		{"retention.ms", "-1", "-1", nil},
		{"retention.ms", "+5", "5", nil},
		{"retention.ms", "-2", "", ErrInvalidValue},
		{"retention.ms", "9223372036854775807", "9223372036854775807", nil},
		{"retention.ms", "9223372036854775808", "", ErrInvalidValue},
		{"retention.ms", "1e3", "", ErrWrongType},
		{"flush.messages", "0", "", ErrInvalidValue},
		// double
		{"min.cleanable.dirty.ratio", "0.25", "0.25", nil},
		{"min.cleanable.dirty.ratio", "1", "1.0", nil},
		{"min.cleanable.dirty.ratio", "1.5", "", ErrInvalidValue},
		{"min.cleanable.dirty.ratio", "NaN", "", ErrWrongType},
		{"min.cleanable.dirty.ratio", "half", "", ErrWrongType},
		// list
		{"cleanup.policy", "compact", "compact", nil},
		{"cleanup.policy", " compact , delete ", "compact,delete", nil},
		{"cleanup.policy", "", "", ErrInvalidValue},
		{"cleanup.policy", "compact,", "", ErrInvalidValue},
		{"cleanup.policy", "Compact", "", ErrInvalidValue},
		// string, enumerated
		{"compression.type", "zstd", "zstd", nil},
		{"compression.type", " lz4 ", "lz4", nil},
		{"compression.type", "ZSTD", "", ErrInvalidValue},
		{"message.timestamp.type", "LogAppendTime", "LogAppendTime", nil},
		// string, free
		{"weir.partitioner", "murmur2", "murmur2", nil},
		// unknown
		{"retention.msx", "1", "", ErrUnknownConfig},
		{"log.retention.ms", "1", "", ErrUnknownConfig},
	}
	for _, tt := range tests {
		v, err := ParseTopicValue(tt.name, tt.in)
		switch {
		case tt.class == nil && err != nil:
			t.Errorf("ParseTopicValue(%q, %q) = %v", tt.name, tt.in, err)
		case tt.class == nil && v.String() != tt.want:
			t.Errorf("ParseTopicValue(%q, %q) = %q, want %q", tt.name, tt.in, v, tt.want)
		case tt.class != nil && !errors.Is(err, tt.class):
			t.Errorf("ParseTopicValue(%q, %q) = %v, %v; want %v", tt.name, tt.in, v, err, tt.class)
		case tt.class != nil:
			var ve *ValueError
			if !errors.As(err, &ve) || ve.Name != tt.name || !strings.Contains(err.Error(), tt.name) {
				t.Errorf("ParseTopicValue(%q, %q) error %v does not name the config", tt.name, tt.in, err)
			}
		}
	}
	_, err := ParseTopicValue("retention.msx", "1")
	if err == nil || err.Error() != `"retention.msx": unknown topic config (did you mean "retention.ms"?)` {
		t.Errorf("unknown config message = %v", err)
	}
	_, err = ParseTopicValue("segment.bytes", "10")
	if err == nil || err.Error() != `"segment.bytes" = "10": must be at least 14` {
		t.Errorf("out of range message = %v", err)
	}
}

func TestParseBrokerValue(t *testing.T) {
	if v, err := ParseBrokerValue("offsets.topic.replication.factor", "32767"); err != nil || v.Type() != TypeShort || v.Int() != 32767 {
		t.Errorf("short = %v, %v", v, err)
	}
	if _, err := ParseBrokerValue("offsets.topic.replication.factor", "32768"); !errors.Is(err, ErrInvalidValue) {
		t.Errorf("short overflow = %v", err)
	}
	if v, err := ParseBrokerValue("log.cleaner.io.max.bytes.per.second", "1.7976931348623157E308"); err != nil || v.Double() != math.MaxFloat64 {
		t.Errorf("double = %v, %v", v, err)
	}
	if _, err := ParseBrokerValue("log.cleaner.io.max.bytes.per.second", "0"); !errors.Is(err, ErrInvalidValue) {
		t.Errorf("zero rate = %v", err)
	}
	if v, err := ParseBrokerValue("broker.rack", " r1 "); err != nil || v.String() != "r1" {
		t.Errorf("string = %q, %v", v, err)
	}
	if _, err := ParseBrokerValue("segment.bytes", "1"); !errors.Is(err, ErrUnknownConfig) {
		t.Errorf("topic config as broker config = %v", err)
	}
}

func TestParseGroupValue(t *testing.T) {
	if v, err := ParseGroupValue(ConfigWeirAssignor, " range "); err != nil || v.String() != "range" {
		t.Errorf("weir.assignor = %q, %v", v, err)
	}
	if v, err := ParseGroupValue(ConfigWeirAssignor, ""); err != nil || v.String() != "" {
		t.Errorf("empty weir.assignor = %q, %v", v, err)
	}
	_, err := ParseGroupValue("weir.asignor", "range")
	if !errors.Is(err, ErrUnknownConfig) || !strings.Contains(err.Error(), `unknown group config (did you mean "weir.assignor"?)`) {
		t.Errorf("misspelt group config = %v", err)
	}
	if _, err := ParseGroupValue("retention.ms", "1"); !errors.Is(err, ErrUnknownConfig) {
		t.Errorf("topic config as group config = %v", err)
	}
	if d, _ := GroupTable().Lookup(ConfigWeirAssignor); d.BrokerSynonym != ConfigWeirGroupAssignor {
		t.Errorf("weir.assignor's broker synonym is %q", d.BrokerSynonym)
	}
}

func TestCheckType(t *testing.T) {
	d, _ := TopicTable().Lookup("segment.bytes")
	for _, v := range []Value{{}, LongValue(100), StringValue("100"), ShortValue(100)} {
		if err := d.Check(v); !errors.Is(err, ErrWrongType) {
			t.Errorf("Check(%s %v) = %v, want ErrWrongType", v.Type(), v, err)
		}
	}
	if err := d.Check(IntValue(100)); err != nil {
		t.Errorf("Check(int 100) = %v", err)
	}
}

func TestJavaDouble(t *testing.T) {
	for _, tt := range []struct {
		f    float64
		want string
	}{
		{0, "0.0"},
		{math.Copysign(0, -1), "-0.0"},
		{0.5, "0.5"},
		{1, "1.0"},
		{-2.25, "-2.25"},
		{0.001, "0.001"},
		{0.0001, "1.0E-4"},
		{1234567, "1234567.0"},
		{1e7, "1.0E7"},
		{52428800, "5.24288E7"},
		{math.MaxFloat64, "1.7976931348623157E308"},
		{math.Inf(1), "Infinity"},
		{math.NaN(), "NaN"},
	} {
		if got := javaDouble(tt.f); got != tt.want {
			t.Errorf("javaDouble(%g) = %q, want %q", tt.f, got, tt.want)
		}
	}
}

func TestValueAccessors(t *testing.T) {
	l := ListValue("a", "b")
	items := l.List()
	items[0] = "changed"
	if l.String() != "a,b" {
		t.Errorf("List() shares its slice: %q", l)
	}
	if BoolValue(true).Long() != 0 || IntValue(3).Bool() || StringValue("x").Int() != 0 || LongValue(1<<40).Int() != 0 {
		t.Error("accessor of another type returned a value")
	}
	if !ListValue("a").Equal(ListValue("a")) || ListValue("a").Equal(ListValue("b")) || IntValue(1).Equal(LongValue(1)) {
		t.Error("Equal")
	}
}

func TestSuggest(t *testing.T) {
	names := TopicTable().Names()
	for in, want := range map[string]string{
		"retention.msec":  "retention.ms",
		"segmnet.bytes":   "segment.bytes",
		"Retention.Ms":    "retention.ms",
		"clean.policy":    "cleanup.policy",
		"totally.unknown": "",
		"":                "",
	} {
		if got := suggest(in, names); got != want {
			t.Errorf("suggest(%q) = %q, want %q", in, got, want)
		}
	}
}
