package config

import (
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

func TestDefault(t *testing.T) {
	c := Default()
	if err := c.Validate(); err != nil {
		t.Fatalf("Default().Validate() = %v", err)
	}
	if c.NodeID != 1 || c.DataDir != "./weir-data" {
		t.Errorf("node/data dir = %d %q", c.NodeID, c.DataDir)
	}
	want := Listeners{Kafka: "127.0.0.1:9092", Controller: "127.0.0.1:9093", HTTP: "127.0.0.1:9094"}
	if c.Listeners != want {
		t.Errorf("listeners = %+v, want %+v", c.Listeners, want)
	}
	if len(c.Cluster.Voters) != 1 || c.Cluster.Voters[0].String() != "1@127.0.0.1:9093" {
		t.Errorf("voters = %v", c.Cluster.Voters)
	}
	// An empty file is the default configuration.
	p, err := Parse(nil, "empty.toml")
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(p, c) {
		t.Errorf("Parse(empty) = %+v, want %+v", p, c)
	}
}

func TestVotersDefaultToSelf(t *testing.T) {
	c, err := Parse([]byte("node_id = 7\n[listeners]\ncontroller = \"127.0.0.1:0\"\nkafka = \"127.0.0.1:0\"\n"), "")
	if err != nil {
		t.Fatal(err)
	}
	if want := []Voter{{ID: 7, Addr: "127.0.0.1:0"}}; !reflect.DeepEqual(c.Cluster.Voters, want) {
		t.Errorf("voters = %v, want %v", c.Cluster.Voters, want)
	}
}

func TestApply(t *testing.T) {
	id := int32(2)
	c := Default()
	c.Apply(Overrides{NodeID: &id, ControllerAddr: "127.0.0.1:19093", DataDir: "/d", KafkaAddr: "127.0.0.1:0", HTTPAddr: "127.0.0.1:0"})
	want := Listeners{Kafka: "127.0.0.1:0", Controller: "127.0.0.1:19093", HTTP: "127.0.0.1:0"}
	if c.NodeID != 2 || c.DataDir != "/d" || c.Listeners != want {
		t.Errorf("after Apply: %+v", c)
	}
	// The default quorum of one follows the node.
	if wantV := []Voter{{2, "127.0.0.1:19093"}}; !reflect.DeepEqual(c.Cluster.Voters, wantV) {
		t.Errorf("voters = %v, want %v", c.Cluster.Voters, wantV)
	}
	if err := c.Validate(); err != nil {
		t.Error(err)
	}

	// Voters from the file are kept.
	c, err := Load(filepath.Join("testdata", "full.toml"))
	if err != nil {
		t.Fatal(err)
	}
	before := c.Cluster.Voters
	c.Apply(Overrides{NodeID: &id, ControllerAddr: "10.0.0.9:9093"})
	if !reflect.DeepEqual(c.Cluster.Voters, before) {
		t.Errorf("file voters changed to %v", c.Cluster.Voters)
	}

	// Voters from flags win, and then stay.
	vs, _ := ParseVoters("1@h:1,2@h:2,3@h:3")
	c = Default()
	c.Apply(Overrides{Voters: vs})
	c.Apply(Overrides{NodeID: &id})
	if !reflect.DeepEqual(c.Cluster.Voters, vs) {
		t.Errorf("flag voters = %v", c.Cluster.Voters)
	}
}

func TestLoadFull(t *testing.T) {
	c, err := Load(filepath.Join("testdata", "full.toml"))
	if err != nil {
		t.Fatal(err)
	}
	if c.NodeID != 2 || c.DataDir != "/var/lib/weir/2" || c.Listeners.Kafka != "10.0.0.2:9092" {
		t.Errorf("top level = %d %q %+v", c.NodeID, c.DataDir, c.Listeners)
	}
	wantVoters := []Voter{{1, "10.0.0.1:9093"}, {2, "10.0.0.2:9093"}, {3, "10.0.0.3:9093"}}
	if !reflect.DeepEqual(c.Cluster.Voters, wantVoters) {
		t.Errorf("voters = %v", c.Cluster.Voters)
	}
	b, err := c.ResolveBroker()
	if err != nil {
		t.Fatal(err)
	}
	if b.AutoCreateTopicsEnable || b.NumPartitions != 3 || b.DefaultReplicationFactor != 3 ||
		b.MinInsyncReplicas != 2 || b.BrokerRack != "rack-b" || b.LogCleanerThreads != 2 ||
		b.LogCleanerIoMaxBytesPerSecond != 52428800 || b.MaxConnections != 10000 {
		t.Errorf("broker = %+v", b)
	}
	topic, err := c.ResolveTopic(nil)
	if err != nil {
		t.Fatal(err)
	}
	if topic.MinInsyncReplicas != 2 { // from [broker] min.insync.replicas
		t.Errorf("topic min.insync.replicas = %d, want 2", topic.MinInsyncReplicas)
	}
	if topic.WeirPartitioner != "region-partitioner" || !topic.CleanupPolicy.Delete || topic.CleanupPolicy.Compact {
		t.Errorf("topic = %+v", topic)
	}
	if len(c.Plugins) != 2 {
		t.Fatalf("plugins = %+v", c.Plugins)
	}
	p := c.Plugins[0]
	if p.Name != "region-partitioner" || p.Kind != PluginPartitioner || p.WASM != "/etc/weir/plugins/region.wasm" || p.Command != "" {
		t.Errorf("plugin 0 = %+v", p)
	}
	if want := map[string]any{"regions": []any{"eu", "us", "ap"}, "default": "eu"}; !reflect.DeepEqual(p.Config, want) {
		t.Errorf("plugin 0 config = %#v", p.Config)
	}
	if p := c.Plugins[1]; p.Kind != PluginAssignor || p.Command == "" || p.WASM != "" || p.Config != nil {
		t.Errorf("plugin 1 = %+v", p)
	}
	if err := c.Validate(); err != nil {
		t.Errorf("Validate after Load: %v", err)
	}
}

func TestLoadMissingFile(t *testing.T) {
	_, err := Load(filepath.Join(t.TempDir(), "nope.toml"))
	if !errors.Is(err, os.ErrNotExist) {
		t.Errorf("Load(missing) = %v, want ErrNotExist", err)
	}
}

func TestAlternativeSpellings(t *testing.T) {
	doc := `plugins = [{ name = "p", kind = "codec", command = "/bin/p", config = { level = 3 } }]
listeners = { kafka = "127.0.0.1:0", controller = "127.0.0.1:0", http = "127.0.0.1:0" }

[broker]
num.partitions = 4                     # dotted, not quoted
[topic_defaults]
"cleanup.policy" = "compact, delete"   # Kafka's comma-separated form
"min.cleanable.dirty.ratio" = 1        # an integer is a valid double
`
	c, err := Parse([]byte(doc), "w.toml")
	if err != nil {
		t.Fatal(err)
	}
	if v := c.Broker["num.partitions"]; v.Int() != 4 {
		t.Errorf("num.partitions = %v", v)
	}
	topic, err := c.ResolveTopic(nil)
	if err != nil {
		t.Fatal(err)
	}
	if topic.CleanupPolicy != (CleanupPolicy{Delete: true, Compact: true}) || topic.MinCleanableDirtyRatio != 1 {
		t.Errorf("topic = %+v", topic)
	}
	if len(c.Plugins) != 1 || c.Plugins[0].Config["level"] != int64(3) {
		t.Errorf("plugins = %+v", c.Plugins)
	}
	if c.Listeners.Kafka != "127.0.0.1:0" || c.Cluster.Voters[0].Addr != "127.0.0.1:0" {
		t.Errorf("listeners = %+v, voters = %v", c.Listeners, c.Cluster.Voters)
	}
}

// TestParseErrors holds one case per class of mistake. Each must be
// reported with its line, naming the key, wrapping the right class.
func TestParseErrors(t *testing.T) {
	tests := []struct {
		name  string
		doc   string
		line  int
		want  []string // substrings of the message for that line
		class error
	}{
		// Unknown keys, everywhere a key is checked.
		{"unknown top-level key", "node_id = 1\nnode = 2\n", 2, []string{"node = 2", "unknown key", `"node_id"`}, ErrUnknownConfig},
		{"unknown top-level key lists keys", "zzz = 2\n", 1, []string{"zzz", "expected node_id, data_dir"}, ErrUnknownConfig},
		{"broker setting at top level", "\n\"num.partitions\" = 3\n", 2, []string{`"num.partitions"`, "go under [broker]"}, ErrUnknownConfig},
		{"unknown key in broker", "[broker]\n\"num.partitions\" = 3\n\"num.partition\" = 3\n", 3,
			[]string{`[broker] "num.partition" = 3`, "unknown broker config", `did you mean "num.partitions"`}, ErrUnknownConfig},
		{"topic config in broker", "[broker]\n\"retention.ms\" = 1\n", 2, []string{`[broker] "retention.ms"`, "under [topic_defaults]"}, ErrUnknownConfig},
		{"kafka broker name in broker", "[broker]\n\n\"log.retention.ms\" = 1\n", 3, []string{`"log.retention.ms"`, `set "retention.ms" under [topic_defaults]`}, ErrUnknownConfig},
		{"unknown key in topic_defaults", "[topic_defaults]\n\"retention.msec\" = 1\n", 2,
			[]string{`[topic_defaults] "retention.msec"`, "unknown topic config", `did you mean "retention.ms"`}, ErrUnknownConfig},
		{"broker config in topic_defaults", "[topic_defaults]\n\"num.partitions\" = 1\n", 2, []string{"is a broker config: set it under [broker]"}, ErrUnknownConfig},
		{"unknown dotted key in topic_defaults", "[topic_defaults]\nretention.msx = 1\n", 2, []string{`"retention.msx"`, "unknown topic config"}, ErrUnknownConfig},
		{"unknown key in listeners", "[listeners]\nkafka = \"127.0.0.1:9092\"\nkafak = \"127.0.0.1:9095\"\n", 3,
			[]string{"[listeners] kafak", "unknown listener", `did you mean "kafka"`}, ErrUnknownConfig},
		{"unknown key in cluster", "[cluster]\nvoter = [\"1@127.0.0.1:9093\"]\n", 2, []string{"[cluster] voter", "unknown key in [cluster]"}, ErrUnknownConfig},
		{"unknown key in plugins", "[[plugins]]\nname = \"p\"\nkind = \"codec\"\ncommand = \"/bin/p\"\n\n[[plugins]]\nname = \"q\"\nkind = \"codec\"\nwams = \"q.wasm\"\n", 9,
			[]string{"[[plugins]] #2 wams", "unknown plugin key", `did you mean "wasm"`}, ErrUnknownConfig},

		// Wrong types.
		{"float for int", "\n\nnode_id = 1.5\n", 3, []string{"node_id = 1.5", "expected an int", "got a float"}, ErrWrongType},
		{"string for int", "[topic_defaults]\n\"segment.bytes\" = \"1024\"\n", 2,
			[]string{`"segment.bytes" = "1024"`, "expected an int", "got a string", "without quotes"}, ErrWrongType},
		{"string for bool", "[broker]\n\"auto.create.topics.enable\" = \"true\"\n", 2, []string{"expected a boolean", "got a string"}, ErrWrongType},
		{"int for string", "[topic_defaults]\n\"compression.type\" = 1\n", 2, []string{`"compression.type" = 1`, "expected a string", "got an integer"}, ErrWrongType},
		{"int in a list", "[topic_defaults]\n\"cleanup.policy\" = [\"delete\", 2]\n", 2, []string{`"cleanup.policy"`, "array holding an integer"}, ErrWrongType},
		{"float for double is fine but bool is not", "[topic_defaults]\n\"min.cleanable.dirty.ratio\" = true\n", 2, []string{"expected a double"}, ErrWrongType},
		{"table for data_dir", "[data_dir]\nx = 1\n", 1, []string{"data_dir", "expected a string, got a table"}, ErrWrongType},
		{"listeners not a table", "listeners = \"127.0.0.1:9092\"\n", 1, []string{"listeners", "expected a table"}, ErrWrongType},
		{"listener not a string", "[listeners]\nkafka = 9092\n", 2, []string{"[listeners] kafka = 9092", "expected a string"}, ErrWrongType},
		{"voters not an array", "[cluster]\nvoters = \"1@127.0.0.1:9093\"\n", 2, []string{"[cluster] voters", "expected an array"}, ErrWrongType},
		{"plugin config not a table", "[[plugins]]\nname = \"p\"\nkind = \"codec\"\ncommand = \"/bin/p\"\nconfig = 3\n", 5, []string{"[[plugins]] #1 config = 3", "expected a table"}, ErrWrongType},
		{"plugins not an array of tables", "plugins = [1]\n", 1, []string{"[[plugins]] #1", "expected a table"}, ErrWrongType},

		// Integers that do not fit the config's type.
		{"2^40 for an int", "[topic_defaults]\n\"max.message.bytes\" = 1099511627776\n", 2,
			[]string{`"max.message.bytes" = 1099511627776`, "out of range for an int"}, ErrInvalidValue},
		{"40000 for a short", "[broker]\n\"offsets.topic.replication.factor\" = 40000\n", 2, []string{"out of range for a short"}, ErrInvalidValue},
		{"2^40 for node_id", "node_id = 1099511627776\n", 1, []string{"node_id", "out of range for an int"}, ErrInvalidValue},

		// Out-of-range values.
		{"segment.bytes below 14", "node_id = 1\n[topic_defaults]\n\"segment.bytes\" = 10\n", 3,
			[]string{`[topic_defaults] "segment.bytes" = 10: must be at least 14`}, ErrInvalidValue},
		{"negative node_id", "node_id = -1\n", 1, []string{"node_id = -1: must be at least 0"}, ErrInvalidValue},
		{"retention.ms below -1", "[topic_defaults]\n\"retention.ms\" = -2\n", 2, []string{"must be at least -1"}, ErrInvalidValue},
		{"ratio above 1", "[topic_defaults]\n\"min.cleanable.dirty.ratio\" = 1.5\n", 2, []string{"= 1.5: must be between 0 and 1"}, ErrInvalidValue},
		{"nan ratio", "[topic_defaults]\n\"min.cleanable.dirty.ratio\" = nan\n", 2, []string{"not nan"}, ErrInvalidValue},
		{"num.partitions zero", "[broker]\nnum.partitions = 0\n", 2, []string{`[broker] "num.partitions" = 0: must be at least 1`}, ErrInvalidValue},
		{"segment.index.bytes too small for an entry", "[topic_defaults]\n\"segment.index.bytes\" = 8\n", 2, []string{"must be at least 12"}, ErrInvalidValue},
		{"empty data_dir", "data_dir = \"\"\n", 1, []string{`data_dir = ""`, "must name a directory"}, ErrInvalidValue},

		// Bad enums.
		{"bad compression", "[topic_defaults]\n\"compression.type\" = \"lz5\"\n", 2, []string{`= "lz5": must be one of producer, uncompressed, gzip`}, ErrInvalidValue},
		{"bad timestamp type", "[topic_defaults]\n\"message.timestamp.type\" = \"createtime\"\n", 2, []string{"must be one of CreateTime, LogAppendTime"}, ErrInvalidValue},
		{"bad cleanup policy", "[topic_defaults]\n\"cleanup.policy\" = [\"delete\", \"archive\"]\n", 2, []string{`"archive" is not one of delete, compact`}, ErrInvalidValue},
		{"empty cleanup policy", "[topic_defaults]\n\"cleanup.policy\" = []\n", 2, []string{"must name at least one of delete, compact"}, ErrInvalidValue},
		{"bad plugin kind", "[[plugins]]\nname = \"p\"\nkind = \"partitoner\"\nwasm = \"p.wasm\"\n", 3, []string{`[[plugins]] #1 kind = "partitoner": must be one of partitioner, assignor`}, ErrInvalidValue},

		// Voters.
		{"two voters", "[cluster]\nvoters = [\"1@127.0.0.1:9093\", \"2@127.0.0.2:9093\"]\n", 2, []string{"[cluster] voters", "1, 3 or 5", "not 2"}, ErrInvalidValue},
		{"six voters", "[cluster]\nvoters = [\"1@h:1\", \"2@h:2\", \"3@h:3\", \"4@h:4\", \"5@h:5\", \"6@h:6\"]\n", 2, []string{"not 6"}, ErrInvalidValue},
		{"no voters", "[cluster]\nvoters = []\n", 2, []string{"not 0"}, ErrInvalidValue},
		{"duplicate voter id", "[cluster]\nvoters = [\n  \"1@10.0.0.1:9093\",\n  \"2@10.0.0.2:9093\",\n  \"1@10.0.0.3:9093\",\n]\n", 5,
			[]string{`[cluster] voters #3 = "1@10.0.0.3:9093"`, "voter id 1 is also voter #1"}, ErrInvalidValue},
		{"duplicate voter address", "[cluster]\nvoters = [\"1@h:1\", \"2@h:2\", \"3@h:1\"]\n", 2, []string{"voters #3", "also voter #1's"}, ErrInvalidValue},
		{"voter without id", "[cluster]\nvoters = [\n\"10.0.0.1:9093\"]\n", 3, []string{`voters #1 = "10.0.0.1:9093"`, `expected "id@host:port"`}, ErrInvalidValue},
		{"voter with bad id", "[cluster]\nvoters = [\"one@10.0.0.1:9093\"]\n", 2, []string{`voter id "one" is not a node id`}, ErrInvalidValue},
		{"voter with negative id", "[cluster]\nvoters = [\"-1@10.0.0.1:9093\"]\n", 2, []string{"voter id must be at least 0"}, ErrInvalidValue},
		{"voter without port", "[cluster]\nvoters = [\"1@10.0.0.1\"]\n", 2, []string{"voter address", "missing port"}, ErrInvalidValue},
		{"voter not a string", "[cluster]\nvoters = [1]\n", 2, []string{"voters #1 = 1", "expected an \"id@host:port\" string"}, ErrWrongType},

		// Listener addresses.
		{"listener without port", "[listeners]\n\nkafka = \"localhost\"\n", 3, []string{`[listeners] kafka = "localhost"`, "not a host:port address"}, ErrInvalidValue},
		{"listener without host", "[listeners]\nhttp = \":9094\"\n", 2, []string{"[listeners] http", "host is missing"}, ErrInvalidValue},
		{"listener port too big", "[listeners]\ncontroller = \"127.0.0.1:99999\"\n", 2, []string{`port "99999" is not a number from 0 to 65535`}, ErrInvalidValue},
		{"listener named port", "[listeners]\nkafka = \"127.0.0.1:http\"\n", 2, []string{`port "http"`}, ErrInvalidValue},
		{"listeners share an address", "[listeners]\nkafka = \"127.0.0.1:9092\"\nhttp = \"127.0.0.1:9092\"\n", 3, []string{"[listeners] http", "same address as [listeners] kafka"}, ErrInvalidValue},

		// Plugins.
		{"plugin with wasm and command", "[[plugins]]\nname = \"p\"\nkind = \"codec\"\nwasm = \"p.wasm\"\ncommand = \"/bin/p\"\n", 5,
			[]string{`[[plugins]] #1 command = "/bin/p"`, "set wasm or command, not both"}, ErrInvalidValue},
		{"plugin with neither", "name_is_not_here = 0\n[[plugins]]\nname = \"p\"\nkind = \"codec\"\n", 2, []string{"[[plugins]] #1: needs wasm"}, ErrInvalidValue},
		{"plugin without name", "[[plugins]]\nkind = \"codec\"\nwasm = \"p.wasm\"\n", 1, []string{"[[plugins]] #1: needs a name"}, ErrInvalidValue},
		{"plugin names clash", "[[plugins]]\nname = \"p\"\nkind = \"codec\"\nwasm = \"p.wasm\"\n[[plugins]]\nname = \"p\"\nkind = \"codec\"\nwasm = \"q.wasm\"\n", 6,
			[]string{`[[plugins]] #2 name = "p"`, "also used by [[plugins]] #1"}, ErrInvalidValue},
		{"inline plugin", "plugins = [\n  { name = \"p\", kind = \"codec\" },\n]\n", 2, []string{"[[plugins]] #1: needs wasm"}, ErrInvalidValue},
		{"partitioner names an assignor", "[topic_defaults]\n\"weir.partitioner\" = \"a\"\n[[plugins]]\nname = \"a\"\nkind = \"assignor\"\ncommand = \"/bin/a\"\n", 2,
			[]string{`"weir.partitioner" = "a"`, `plugin "a" is a assignor, not a partitioner`}, ErrInvalidValue},
		{"group assignor names a codec", "[broker]\n\"weir.group.assignor\" = \"z\"\n[[plugins]]\nname = \"z\"\nkind = \"codec\"\ncommand = \"/bin/z\"\n", 2,
			[]string{`[broker] "weir.group.assignor" = "z"`, `plugin "z" is a codec, not a assignor`}, ErrInvalidValue},

		// Relations between values.
		{"broker and topic_defaults disagree", "[broker]\n\"min.insync.replicas\" = 2\n[topic_defaults]\n\"min.insync.replicas\" = 1\n", 4,
			[]string{`[topic_defaults] "min.insync.replicas" = 1: conflicts with [broker] "min.insync.replicas" = 2 (line 2)`}, ErrInvalidValue},
		{"compaction lags crossed", "[topic_defaults]\n\"max.compaction.lag.ms\" = 10\n\"min.compaction.lag.ms\" = 20\n", 3,
			[]string{`"min.compaction.lag.ms" = 20: must not exceed max.compaction.lag.ms (10)`}, ErrInvalidValue},
		{"session timeouts crossed", "[broker]\n\"group.min.session.timeout.ms\" = 60000\n\"group.max.session.timeout.ms\" = 30000\n", 2,
			[]string{"must not exceed group.max.session.timeout.ms (30000)"}, ErrInvalidValue},
		{"session timeout not above heartbeat", "[broker]\n\"broker.session.timeout.ms\" = 1000\n", 2,
			[]string{`[broker] "broker.session.timeout.ms" = 1000: must be greater than broker.heartbeat.interval.ms (2000)`}, ErrInvalidValue},
		{"heartbeat not below session timeout", "[broker]\n\"broker.heartbeat.interval.ms\" = 9000\n", 2,
			[]string{`[broker] "broker.heartbeat.interval.ms" = 9000: must be less than broker.session.timeout.ms (9000)`}, ErrInvalidValue},
		{"empty subtable in topic_defaults", "[topic_defaults]\n\"min.compaction.lag.ms\" = 100\n[broker]\n[topic_defaults.x]\n", 4,
			[]string{`"x"`, "unknown topic config"}, ErrUnknownConfig},
		{"same config dotted and quoted", "[broker]\n\"num.partitions\" = 1\nnum.partitions = 2\n", 2, []string{"set twice: also on line 3"}, ErrInvalidValue},

		// Not TOML.
		{"syntax error", "node_id = 1\n[listeners\n", 2, []string{"w.toml:2:", "invalid TOML"}, ErrSyntax},
		{"key defined twice", "node_id = 1\nnode_id = 2\n", 2, []string{"w.toml:2:", "invalid TOML", "already defined"}, ErrSyntax},
		{"integer beyond 64 bits", "[topic_defaults]\n\"retention.ms\" = 99999999999999999999\n", 2, []string{"invalid TOML"}, ErrSyntax},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := Parse([]byte(tt.doc), "w.toml")
			if err == nil {
				t.Fatalf("Parse succeeded: %+v", c)
			}
			if c != nil {
				t.Errorf("Parse returned a Config with an error")
			}
			if !errors.Is(err, tt.class) {
				t.Errorf("error %q is not %v", err, tt.class)
			}
			var list ErrorList
			if !errors.As(err, &list) {
				t.Fatalf("error %T is not an ErrorList", err)
			}
			for _, e := range list {
				if e.Line != tt.line {
					continue
				}
				msg := e.Error()
				ok := strings.HasPrefix(msg, "w.toml:")
				for _, w := range tt.want {
					ok = ok && strings.Contains(msg, w)
				}
				if ok {
					return
				}
			}
			t.Errorf("no problem on line %d containing %q in:\n%v", tt.line, tt.want, err)
		})
	}
}

func TestParseRejectsHugeDocument(t *testing.T) {
	doc := make([]byte, maxDocument+1)
	for i := range doc {
		doc[i] = '\n'
	}
	_, err := Parse(doc, "big.toml")
	if !errors.Is(err, ErrSyntax) || !strings.Contains(err.Error(), "big.toml: ") {
		t.Errorf("Parse(huge) = %v", err)
	}
}

func TestParseErrorMessageExact(t *testing.T) {
	doc := strings.Repeat("\n", 11) + "[topic_defaults]\n\"retention.ms\" = 1\n\"segment.bytes\" = 10\n"
	_, err := Parse([]byte(doc), "weir.toml")
	want := `weir.toml:14: [topic_defaults] "segment.bytes" = 10: must be at least 14`
	if err == nil || err.Error() != want {
		t.Errorf("err = %v\nwant  %s", err, want)
	}
}

func TestParseCollectsEveryProblemInLineOrder(t *testing.T) {
	doc := `node_id = -3
colour = "blue"
[listeners]
kafka = "nowhere"
[broker]
"num.partitions" = 0
[topic_defaults]
"segment.bytes" = 1.5
"retention.ms" = -7
`
	_, err := Parse([]byte(doc), "w.toml")
	var list ErrorList
	if !errors.As(err, &list) {
		t.Fatalf("err = %v", err)
	}
	var lines []int
	for _, e := range list {
		lines = append(lines, e.Line)
	}
	if want := []int{1, 2, 4, 6, 8, 9}; !reflect.DeepEqual(lines, want) {
		t.Errorf("lines = %v, want %v\n%v", lines, want, err)
	}
}

func TestValidateWithoutFile(t *testing.T) {
	c := Default()
	c.NodeID = -1
	c.Listeners.HTTP = "nohost"
	c.Cluster.Voters = append(c.Cluster.Voters, Voter{ID: 2, Addr: "127.0.0.1:19093"})
	c.Broker["num.partitions"] = IntValue(0)
	c.Broker["no.such.thing"] = IntValue(1)
	c.TopicDefaults["segment.bytes"] = StringValue("big")
	c.Plugins = []Plugin{{Name: "x", Kind: "codec"}}
	err := c.Validate()
	for _, want := range []string{
		"node_id = -1: must be at least 0",
		`[listeners] http = "nohost": not a host:port address`,
		"[cluster] voters",
		`[broker] "num.partitions" = 0: must be at least 1`,
		`[broker] "no.such.thing" = 1: unknown broker config`,
		`[topic_defaults] "segment.bytes" = "big": expected an int (32-bit integer), got a string`,
		"[[plugins]] #1: needs wasm",
	} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("Validate() = %v\nwant it to contain %q", err, want)
		}
	}
	if err != nil && strings.Contains(err.Error(), "line") {
		t.Errorf("Validate without a file mentions lines: %v", err)
	}
}

func TestParseVoters(t *testing.T) {
	vs, err := ParseVoters("1@10.0.0.1:9093, 2@10.0.0.2:9093,3@[::1]:9093")
	if err != nil {
		t.Fatal(err)
	}
	want := []Voter{{1, "10.0.0.1:9093"}, {2, "10.0.0.2:9093"}, {3, "[::1]:9093"}}
	if !reflect.DeepEqual(vs, want) {
		t.Errorf("voters = %v", vs)
	}
	for _, bad := range []string{"", "1@", "x@h:1", "1@h", "1@h:1,"} {
		if _, err := ParseVoters(bad); !errors.Is(err, ErrInvalidValue) {
			t.Errorf("ParseVoters(%q) = %v, want ErrInvalidValue", bad, err)
		}
	}
}

func TestFieldString(t *testing.T) {
	for _, tt := range []struct {
		f    field
		want string
	}{
		{field{key: "node_id"}, "node_id"},
		{field{section: "listeners", key: "kafka"}, "[listeners] kafka"},
		{field{section: "broker", key: "num.partitions"}, `[broker] "num.partitions"`},
		{field{section: "topic_defaults", key: "retention.ms"}, `[topic_defaults] "retention.ms"`},
		{field{section: "cluster", key: "voters", item: 2}, "[cluster] voters #2"},
		{field{section: "plugins", elem: 3, key: "kind"}, "[[plugins]] #3 kind"},
		{field{section: "plugins", elem: 3}, "[[plugins]] #3"},
		{field{key: "a b"}, `"a b"`},
	} {
		if got := tt.f.String(); got != tt.want {
			t.Errorf("%+v.String() = %q, want %q", tt.f, got, tt.want)
		}
	}
}

func TestIndexLines(t *testing.T) {
	doc := `a = 1
b.c = 2
"d.e" = 3
[t]
x = { y = 4,
  z = 5 }
arr = [
  1,
  [2, 3],
]
[[p]]
n = 1
[p.q]
r = 1
[[p]]
n = 2
`
	got := indexLines([]byte(doc))
	root := ""
	for _, tt := range []struct {
		path string
		line int
	}{
		{keyPath(root, "a"), 1},
		{keyPath(keyPath(root, "b"), "c"), 2},
		{keyPath(root, "d.e"), 3},
		{keyPath(keyPath(keyPath(root, "t"), "x"), "y"), 5},
		{keyPath(keyPath(keyPath(root, "t"), "x"), "z"), 6},
		{elemPath(keyPath(keyPath(root, "t"), "arr"), 0), 8},
		{elemPath(elemPath(keyPath(keyPath(root, "t"), "arr"), 1), 0), 9},
		{elemPath(keyPath(root, "p"), 0), 11},
		{keyPath(keyPath(elemPath(keyPath(root, "p"), 0), "q"), "r"), 14},
		{keyPath(elemPath(keyPath(root, "p"), 1), "n"), 16},
	} {
		if got[tt.path] != tt.line {
			t.Errorf("line of %s = %d, want %d", tt.path, got[tt.path], tt.line)
		}
	}
}
