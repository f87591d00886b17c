package controller

import (
	"errors"
	"reflect"
	"strings"
	"testing"

	"github.com/weirmq/weir/core/config"
)

// id returns a topic ID made of b.
func id(b byte) TopicID {
	var t TopicID
	for i := range t {
		t[i] = b
	}
	return t
}

// mustApply applies cmds in order, failing the test on any error.
func mustApply(t testing.TB, img *Image, cmds ...Command) *Image {
	t.Helper()
	for _, c := range cmds {
		next, _, err := img.Apply(c)
		if err != nil {
			t.Fatalf("Apply(%#v): %v", c, err)
		}
		img = next
	}
	return img
}

// cluster returns an image with three brokers and topic "orders" (ID 1:
// two partitions, RF 2, retention.ms overridden).
func cluster(t testing.TB) *Image {
	return mustApply(t, NewImage(),
		InitCluster{ClusterID: "c1"},
		RegisterBroker{ID: 1, Host: "h1", Port: 9092, Rack: "a"},
		RegisterBroker{ID: 2, Host: "h2", Port: 9092, Rack: "b"},
		RegisterBroker{ID: 3, Host: "h3", Port: 9092, Rack: "a"},
		CreateTopic{Name: "orders", ID: id(1), Partitions: []PartitionAssignment{{Replicas: []int32{1, 2}}, {Replicas: []int32{2, 3}}},
			Configs: map[string]string{"retention.ms": "1000"}},
	)
}

func TestApply(t *testing.T) {
	base := cluster(t)
	fenced := func() *Image {
		img := mustApply(t, base)
		b := img.brokers[3]
		b.Fenced = true
		cp := *img
		cp.brokers = map[int32]Broker{1: img.brokers[1], 2: img.brokers[2], 3: b}
		return &cp
	}()
	long := strings.Repeat("x", 250)
	tests := []struct {
		name    string
		img     *Image // base when nil
		cmd     Command
		wantErr []error
		inMsg   string // the error message contains it
		check   func(t *testing.T, img *Image, res Result)
	}{
		{name: "init cluster", img: NewImage(), cmd: InitCluster{ClusterID: "abc"}, check: func(t *testing.T, img *Image, res Result) {
			if img.ClusterID() != "abc" || res.Offset != 1 {
				t.Errorf("cluster %q offset %d", img.ClusterID(), res.Offset)
			}
		}},
		{name: "init cluster again, same ID", cmd: &InitCluster{ClusterID: "c1"}},
		{name: "init cluster, other ID", cmd: InitCluster{ClusterID: "c2"}, wantErr: []error{ErrInconsistentClusterID}, inMsg: `"c2"`},
		{name: "init cluster, empty ID", img: NewImage(), cmd: InitCluster{}, wantErr: []error{ErrInvalidCommand}},

		{name: "register broker", cmd: RegisterBroker{ClusterID: "c1", ID: 4, Host: "h4", Port: 1, Rack: "c"}, check: func(t *testing.T, img *Image, res Result) {
			b, ok := img.Broker(4)
			want := Broker{ID: 4, Host: "h4", Port: 1, Rack: "c", Epoch: base.Offset() + 1}
			if !ok || b != want || res.BrokerEpoch != want.Epoch {
				t.Errorf("broker %+v, epoch %d; want %+v", b, res.BrokerEpoch, want)
			}
		}},
		{name: "re-register unfences and bumps the epoch", img: fenced, cmd: RegisterBroker{ID: 3, Host: "new", Port: 9093}, check: func(t *testing.T, img *Image, res Result) {
			b, _ := img.Broker(3)
			if b.Fenced || b.Host != "new" || b.Rack != "" || b.Epoch != img.Offset() {
				t.Errorf("broker %+v", b)
			}
		}},
		{name: "register, other cluster", cmd: RegisterBroker{ClusterID: "zz", ID: 4, Host: "h", Port: 1}, wantErr: []error{ErrInconsistentClusterID}, inMsg: "broker 4"},
		{name: "register, negative ID", cmd: RegisterBroker{ID: -1, Host: "h", Port: 1}, wantErr: []error{ErrInvalidBroker}, inMsg: "-1"},
		{name: "register, no host", cmd: RegisterBroker{ID: 4, Port: 1}, wantErr: []error{ErrInvalidBroker}, inMsg: "broker 4: host"},
		{name: "register, bad port", cmd: RegisterBroker{ID: 4, Host: "h", Port: 70000}, wantErr: []error{ErrInvalidBroker}, inMsg: "port 70000"},

		{name: "create topic", cmd: CreateTopic{Name: "t-1_x.y", ID: id(2), Partitions: []PartitionAssignment{{Replicas: []int32{3, 1}}},
			Configs: map[string]string{"cleanup.policy": "compact, delete", "max.message.bytes": "100"}},
			check: func(t *testing.T, img *Image, res Result) {
				tp, ok := img.TopicByName("t-1_x.y")
				want := Topic{Name: "t-1_x.y", ID: id(2), Configs: map[string]string{"cleanup.policy": "compact,delete", "max.message.bytes": "100"},
					Partitions: []Partition{{Replicas: []int32{3, 1}, ISR: []int32{3, 1}, Leader: 3}}}
				if !ok || !reflect.DeepEqual(tp, want) {
					t.Errorf("topic %+v\nwant %+v", tp, want)
				}
				if byID, _ := img.TopicByID(id(2)); byID.Name != "t-1_x.y" {
					t.Errorf("by ID: %+v", byID)
				}
				if got := img.TopicNames(); !reflect.DeepEqual(got, []string{"orders", "t-1_x.y"}) {
					t.Errorf("names %v", got)
				}
			}},
		{name: "create, exists", cmd: CreateTopic{Name: "orders", ID: id(2), Partitions: []PartitionAssignment{{Replicas: []int32{1}}}}, wantErr: []error{ErrTopicExists}, inMsg: `"orders"`},
		{name: "create, collides", img: mustApply(t, base, CreateTopic{Name: "a.b", ID: id(5), Partitions: []PartitionAssignment{{Replicas: []int32{1}}}}),
			cmd: CreateTopic{Name: "a_b", ID: id(2), Partitions: []PartitionAssignment{{Replicas: []int32{1}}}}, wantErr: []error{ErrInvalidTopicName, ErrTopicNameCollision}, inMsg: `"a.b"`},
		{name: "create, empty name", cmd: CreateTopic{ID: id(2), Partitions: []PartitionAssignment{{Replicas: []int32{1}}}}, wantErr: []error{ErrInvalidTopicName}, inMsg: "empty"},
		{name: "create, dot", cmd: CreateTopic{Name: ".", ID: id(2)}, wantErr: []error{ErrInvalidTopicName}},
		{name: "create, dot dot", cmd: CreateTopic{Name: "..", ID: id(2)}, wantErr: []error{ErrInvalidTopicName}},
		{name: "create, bad char", cmd: CreateTopic{Name: "a/b", ID: id(2)}, wantErr: []error{ErrInvalidTopicName}, inMsg: `"/"`},
		{name: "create, too long", cmd: CreateTopic{Name: long, ID: id(2)}, wantErr: []error{ErrInvalidTopicName}, inMsg: "250"},
		{name: "create, 249 chars", cmd: CreateTopic{Name: long[:249], ID: id(2), Partitions: []PartitionAssignment{{Replicas: []int32{1}}}}},
		{name: "create, zero ID", cmd: CreateTopic{Name: "t", Partitions: []PartitionAssignment{{Replicas: []int32{1}}}}, wantErr: []error{ErrInvalidCommand}, inMsg: "zero"},
		{name: "create, ID in use", cmd: CreateTopic{Name: "t", ID: id(1), Partitions: []PartitionAssignment{{Replicas: []int32{1}}}}, wantErr: []error{ErrInvalidCommand}, inMsg: `"orders"`},
		{name: "create, no partitions", cmd: CreateTopic{Name: "t", ID: id(2)}, wantErr: []error{ErrInvalidPartitions}, inMsg: `"t"`},
		{name: "create, empty replicas", cmd: CreateTopic{Name: "t", ID: id(2), Partitions: []PartitionAssignment{{}}}, wantErr: []error{ErrInvalidReplicaAssignment}, inMsg: "t-0"},
		{name: "create, uneven", cmd: CreateTopic{Name: "t", ID: id(2), Partitions: []PartitionAssignment{{Replicas: []int32{1}}, {Replicas: []int32{1, 2}}}}, wantErr: []error{ErrInvalidReplicaAssignment}, inMsg: "t-1"},
		{name: "create, duplicate", cmd: CreateTopic{Name: "t", ID: id(2), Partitions: []PartitionAssignment{{Replicas: []int32{2, 2}}}}, wantErr: []error{ErrInvalidReplicaAssignment}, inMsg: "broker 2 twice"},
		{name: "create, unknown broker", cmd: CreateTopic{Name: "t", ID: id(2), Partitions: []PartitionAssignment{{Replicas: []int32{1, 9}}}}, wantErr: []error{ErrInvalidReplicaAssignment}, inMsg: "broker 9 is not registered"},
		{name: "create, fenced broker", img: fenced, cmd: CreateTopic{Name: "t", ID: id(2), Partitions: []PartitionAssignment{{Replicas: []int32{3}}}}, wantErr: []error{ErrInvalidReplicaAssignment}, inMsg: "broker 3 is fenced"},
		{name: "create, unknown config", cmd: CreateTopic{Name: "t", ID: id(2), Partitions: []PartitionAssignment{{Replicas: []int32{1}}}, Configs: map[string]string{"retention.msx": "1"}},
			wantErr: []error{ErrInvalidConfig, config.ErrUnknownConfig}, inMsg: `topic "t": invalid config "retention.msx"`},
		{name: "create, bad config", cmd: CreateTopic{Name: "t", ID: id(2), Partitions: []PartitionAssignment{{Replicas: []int32{1}}}, Configs: map[string]string{"segment.bytes": "10"}},
			wantErr: []error{ErrInvalidConfig, config.ErrInvalidValue}, inMsg: `"segment.bytes" = "10": must be at least 14`},

		{name: "delete topic", cmd: DeleteTopic{ID: id(1)}, check: func(t *testing.T, img *Image, res Result) {
			if _, ok := img.TopicByName("orders"); ok || img.TopicCount() != 0 || img.topics != nil || img.topicIDs != nil {
				t.Errorf("topic still there: %v", img.TopicNames())
			}
		}},
		{name: "delete, unknown", cmd: DeleteTopic{ID: id(9)}, wantErr: []error{ErrUnknownTopic}, inMsg: id(9).String()},

		{name: "create partitions", cmd: CreatePartitions{TopicID: id(1), Assignments: [][]int32{{3, 1}}, Count: 3}, check: func(t *testing.T, img *Image, res Result) {
			p, ok := img.Partition(id(1), 2)
			if want := (Partition{Replicas: []int32{3, 1}, ISR: []int32{3, 1}, Leader: 3}); !ok || !reflect.DeepEqual(p, want) {
				t.Errorf("partition 2: %+v", p)
			}
			if old, _ := base.TopicByID(id(1)); len(old.Partitions) != 2 {
				t.Errorf("the old image changed: %d partitions", len(old.Partitions))
			}
		}},
		{name: "create partitions, none", cmd: CreatePartitions{TopicID: id(1)}, wantErr: []error{ErrInvalidPartitions}, inMsg: `"orders" already has 2`},
		{name: "create partitions, count raced", cmd: CreatePartitions{TopicID: id(1), Assignments: [][]int32{{3, 1}}, Count: 4}, wantErr: []error{ErrInvalidPartitions}},
		{name: "create partitions, unknown topic", cmd: CreatePartitions{TopicID: id(9), Assignments: [][]int32{{1, 2}}}, wantErr: []error{ErrUnknownTopic}},
		{name: "create partitions, other RF", cmd: CreatePartitions{TopicID: id(1), Assignments: [][]int32{{1}}}, wantErr: []error{ErrInvalidReplicaAssignment}, inMsg: "orders-2"},
		{name: "create partitions, unknown broker", cmd: CreatePartitions{TopicID: id(1), Assignments: [][]int32{{1, 7}}}, wantErr: []error{ErrInvalidReplicaAssignment}, inMsg: "broker 7"},

		{name: "alter topic configs", cmd: AlterTopicConfigs{TopicID: id(1), Set: map[string]string{"segment.ms": "60000"}, Delete: []string{"retention.ms", "retention.bytes"}},
			check: func(t *testing.T, img *Image, res Result) {
				tp, _ := img.TopicByID(id(1))
				if !reflect.DeepEqual(tp.Configs, map[string]string{"segment.ms": "60000"}) {
					t.Errorf("configs %v", tp.Configs)
				}
			}},
		{name: "alter topic configs, delete all", cmd: AlterTopicConfigs{TopicID: id(1), Delete: []string{"retention.ms"}}, check: func(t *testing.T, img *Image, res Result) {
			if tp, _ := img.TopicByID(id(1)); tp.Configs != nil {
				t.Errorf("configs %#v, want nil", tp.Configs)
			}
		}},
		{name: "alter topic configs, unknown topic", cmd: AlterTopicConfigs{TopicID: id(9)}, wantErr: []error{ErrUnknownTopic}},
		{name: "alter topic configs, unknown", cmd: AlterTopicConfigs{TopicID: id(1), Set: map[string]string{"retention.ms": "5", "nope": "1"}}, wantErr: []error{ErrInvalidConfig, config.ErrUnknownConfig}, inMsg: `"nope"`},
		{name: "alter topic configs, wrong type", cmd: AlterTopicConfigs{TopicID: id(1), Set: map[string]string{"retention.ms": "soon"}}, wantErr: []error{ErrInvalidConfig, config.ErrWrongType}, inMsg: `"retention.ms" = "soon"`},
		{name: "alter topic configs, delete unknown", cmd: AlterTopicConfigs{TopicID: id(1), Delete: []string{"retention.mss"}}, wantErr: []error{ErrInvalidConfig, config.ErrUnknownConfig}, inMsg: `did you mean "retention.ms"`},
		{name: "alter topic configs, set and delete", cmd: AlterTopicConfigs{TopicID: id(1), Set: map[string]string{"retention.ms": "5"}, Delete: []string{"retention.ms"}}, wantErr: []error{ErrInvalidConfig}, inMsg: "both set and deleted"},

		{name: "alter broker configs", cmd: AlterBrokerConfigs{Set: map[string]string{"num.partitions": "3", "log.cleaner.threads": "2"}}, check: func(t *testing.T, img *Image, res Result) {
			if v, ok := img.BrokerConfig("num.partitions"); !ok || v != "3" || len(img.BrokerConfigs()) != 2 {
				t.Errorf("broker configs %v", img.BrokerConfigs())
			}
		}},
		{name: "alter broker configs, delete", img: mustApply(t, base, AlterBrokerConfigs{Set: map[string]string{"num.partitions": "3"}}), cmd: AlterBrokerConfigs{Delete: []string{"num.partitions"}},
			check: func(t *testing.T, img *Image, res Result) {
				if img.BrokerConfigs() != nil || img.brokerConfigs != nil {
					t.Errorf("broker configs %v", img.BrokerConfigs())
				}
			}},
		{name: "alter broker configs, bad value", cmd: AlterBrokerConfigs{Set: map[string]string{"num.partitions": "0"}}, wantErr: []error{ErrInvalidConfig, config.ErrInvalidValue}, inMsg: `"num.partitions" = "0"`},
		{name: "alter broker configs, topic name", cmd: AlterBrokerConfigs{Set: map[string]string{"retention.ms": "1"}}, wantErr: []error{ErrInvalidConfig, config.ErrUnknownConfig}},

		{name: "alter group configs", cmd: AlterGroupConfigs{Group: "g1", Set: map[string]string{"weir.assignor": " range "}}, check: func(t *testing.T, img *Image, res Result) {
			if v, ok := img.GroupConfig("g1", "weir.assignor"); !ok || v != "range" || !reflect.DeepEqual(img.GroupConfigs("g1"), map[string]string{"weir.assignor": "range"}) {
				t.Errorf("group configs %v", img.GroupConfigs("g1"))
			}
			if img.GroupConfigs("g2") != nil {
				t.Errorf("another group's configs %v", img.GroupConfigs("g2"))
			}
		}},
		{name: "alter group configs, empty value", cmd: AlterGroupConfigs{Group: "g1", Set: map[string]string{"weir.assignor": ""}}, check: func(t *testing.T, img *Image, res Result) {
			if v, ok := img.GroupConfig("g1", "weir.assignor"); !ok || v != "" {
				t.Errorf("weir.assignor %q, %v; want an empty override", v, ok)
			}
		}},
		{name: "alter group configs, delete", img: mustApply(t, base, AlterGroupConfigs{Group: "g1", Set: map[string]string{"weir.assignor": "range"}}, AlterGroupConfigs{Group: "g2", Set: map[string]string{"weir.assignor": "uniform"}}),
			cmd: AlterGroupConfigs{Group: "g1", Delete: []string{"weir.assignor"}}, check: func(t *testing.T, img *Image, res Result) {
				if img.GroupConfigs("g1") != nil || img.groupConfigs["g1"] != nil {
					t.Errorf("g1's configs %v", img.GroupConfigs("g1"))
				}
				if v, _ := img.GroupConfig("g2", "weir.assignor"); v != "uniform" {
					t.Errorf("g2's configs %v", img.GroupConfigs("g2"))
				}
			}},
		{name: "alter group configs, delete the last", img: mustApply(t, base, AlterGroupConfigs{Group: "g1", Set: map[string]string{"weir.assignor": "range"}}),
			cmd: AlterGroupConfigs{Group: "g1", Delete: []string{"weir.assignor"}}, check: func(t *testing.T, img *Image, res Result) {
				if img.groupConfigs != nil {
					t.Errorf("group configs %v, want none", img.groupConfigs)
				}
			}},
		{name: "alter group configs, delete unset", cmd: AlterGroupConfigs{Group: "g1", Delete: []string{"weir.assignor"}}, check: func(t *testing.T, img *Image, res Result) {
			if img.groupConfigs != nil {
				t.Errorf("group configs %v, want none", img.groupConfigs)
			}
		}},
		{name: "alter group configs, unknown", cmd: AlterGroupConfigs{Group: "g1", Set: map[string]string{"weir.asignor": "range"}}, wantErr: []error{ErrInvalidConfig, config.ErrUnknownConfig}, inMsg: `group "g1": invalid config "weir.asignor": unknown group config (did you mean "weir.assignor"?)`},
		{name: "alter group configs, topic config", cmd: AlterGroupConfigs{Group: "g1", Set: map[string]string{"retention.ms": "1"}}, wantErr: []error{ErrInvalidConfig, config.ErrUnknownConfig}, inMsg: `"retention.ms"`},
		{name: "alter group configs, delete unknown", cmd: AlterGroupConfigs{Group: "g1", Delete: []string{"session.timeout.ms"}}, wantErr: []error{ErrInvalidConfig, config.ErrUnknownConfig}, inMsg: "cannot delete config"},
		{name: "alter group configs, set and delete", cmd: AlterGroupConfigs{Group: "g1", Set: map[string]string{"weir.assignor": "range"}, Delete: []string{"weir.assignor"}}, wantErr: []error{ErrInvalidConfig}, inMsg: "both set and deleted"},
		{name: "alter group configs, no group", cmd: AlterGroupConfigs{Set: map[string]string{"weir.assignor": "range"}}, wantErr: []error{ErrInvalidCommand}, inMsg: "group name is empty"},
		{name: "alter group configs, nil pointer", cmd: (*AlterGroupConfigs)(nil), wantErr: []error{ErrInvalidCommand}},

		{name: "allocate producer IDs", img: mustApply(t, base, AllocateProducerIDs{Count: 1000}), cmd: AllocateProducerIDs{Count: 10}, check: func(t *testing.T, img *Image, res Result) {
			if res.FirstProducerID != 1000 || img.NextProducerID() != 1010 {
				t.Errorf("first %d next %d", res.FirstProducerID, img.NextProducerID())
			}
		}},
		{name: "allocate zero", cmd: AllocateProducerIDs{}, wantErr: []error{ErrInvalidCommand}},
		{name: "allocate exhausted", img: func() *Image { cp := *base; cp.nextProducerID = 1<<63 - 5; return &cp }(), cmd: AllocateProducerIDs{Count: 10}, wantErr: []error{ErrInvalidCommand}, inMsg: "exhausted"},

		{name: "nil", cmd: nil, wantErr: []error{ErrInvalidCommand}},
		{name: "nil pointer", cmd: (*CreateTopic)(nil), wantErr: []error{ErrInvalidCommand}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			img := tc.img
			if img == nil {
				img = base
			}
			before, _ := img.MarshalJSON()
			next, res, err := img.Apply(tc.cmd)
			after, _ := img.MarshalJSON()
			if string(before) != string(after) {
				t.Fatalf("Apply modified its image:\n%s\n%s", before, after)
			}
			if tc.wantErr != nil {
				if err == nil {
					t.Fatalf("no error, want %v", tc.wantErr)
				}
				for _, w := range tc.wantErr {
					if !errors.Is(err, w) {
						t.Errorf("error %q does not wrap %q", err, w)
					}
				}
				if !strings.Contains(err.Error(), tc.inMsg) {
					t.Errorf("error %q does not contain %q", err, tc.inMsg)
				}
				if next != img || !reflect.DeepEqual(res, Result{}) {
					t.Errorf("failed Apply returned a new image or a result %+v", res)
				}
				return
			}
			if err != nil {
				t.Fatalf("Apply: %v", err)
			}
			if next.Offset() != img.Offset()+1 || res.Offset != next.Offset() {
				t.Errorf("offset %d (result %d), want %d", next.Offset(), res.Offset, img.Offset()+1)
			}
			if tc.check != nil {
				tc.check(t, next, res)
			}
		})
	}
}

func TestValidateTopicName(t *testing.T) {
	for _, name := range []string{"a", "A-z_0.9", "__consumer_offsets", strings.Repeat("a", 249), "..."} {
		if err := ValidateTopicName(name); err != nil {
			t.Errorf("%q: %v", name, err)
		}
	}
	for _, name := range []string{"", ".", "..", "a b", "é", "a\x00", strings.Repeat("a", 250)} {
		if err := ValidateTopicName(name); !errors.Is(err, ErrInvalidTopicName) {
			t.Errorf("%q: %v, want ErrInvalidTopicName", name, err)
		}
	}
}

func TestTopicIDText(t *testing.T) {
	in := TopicID{0xdb, 0x10, 0x39, 0x39, 0x88, 0x41, 0x41, 0x67, 0x83, 0xcb, 0x53, 0xab, 0x46, 0xfa, 0x37, 0x17}
	s := in.String()
	if len(s) != 22 || strings.ContainsAny(s, "+/=") {
		t.Fatalf("String() = %q", s)
	}
	out, err := ParseTopicID(s)
	if err != nil || out != in {
		t.Fatalf("ParseTopicID(%q) = %v, %v", s, out, err)
	}
	for _, bad := range []string{"", "abc", strings.Repeat("!", 22), s + "A"} {
		if _, err := ParseTopicID(bad); !errors.Is(err, ErrInvalidCommand) {
			t.Errorf("ParseTopicID(%q): %v", bad, err)
		}
	}
}
