package controller

import (
	"errors"
	"fmt"
	"reflect"
	"testing"
)

// script is a run of commands of every type, some of which fail.
func script() []Command {
	return []Command{
		InitCluster{ClusterID: "Zm9vYmFyYmF6cXV4cXV1eA"},
		RegisterBroker{ID: 1, Host: "h1", Port: 9092, Rack: "a"},
		&RegisterBroker{ID: 2, Host: "h2", Port: 9092, Rack: "b"},
		RegisterBroker{ID: 3, Host: "h3", Port: 9092},
		CreateTopic{Name: "orders", ID: id(1), Partitions: []PartitionAssignment{{Replicas: []int32{1, 2}}, {Replicas: []int32{2, 3}}},
			Configs: map[string]string{"retention.ms": "1000", "cleanup.policy": "compact", "weir.partitioner": "murmur2"}},
		CreateTopic{Name: "orders", ID: id(2), Partitions: []PartitionAssignment{{Replicas: []int32{1}}}}, // fails: exists
		&CreateTopic{Name: "payments", ID: id(3), Partitions: []PartitionAssignment{{Replicas: []int32{3}}}},
		CreatePartitions{TopicID: id(1), Assignments: [][]int32{{3, 1}, {1, 2}}},
		AlterTopicConfigs{TopicID: id(1), Set: map[string]string{"segment.ms": "60000"}, Delete: []string{"retention.ms"}},
		AlterTopicConfigs{TopicID: id(1), Set: map[string]string{"segment.ms": "-1"}}, // fails: bad value
		AlterBrokerConfigs{Set: map[string]string{"num.partitions": "6", "message.max.bytes": "2000000"}},
		AlterGroupConfigs{Group: "billing", Set: map[string]string{"weir.assignor": "range"}},
		&AlterGroupConfigs{Group: "audit", Set: map[string]string{"weir.assignor": "uniform"}},
		AlterGroupConfigs{Group: "billing", Set: map[string]string{"weir.assignr": "range"}}, // fails: unknown config
		AlterGroupConfigs{Group: "audit", Delete: []string{"weir.assignor"}},
		AllocateProducerIDs{Count: 1000},
		&AllocateProducerIDs{Count: 1000},
		DeleteTopic{ID: id(3)},
		DeleteTopic{ID: id(3)}, // fails: unknown
		RegisterBroker{ID: 2, Host: "h2b", Port: 9093, Rack: "b"},
		AlterBrokerConfigs{Delete: []string{"message.max.bytes"}},
		// The cluster commands. Broker 1 registered at offset 2, 3 at 4.
		FenceBroker{ID: 3, Epoch: 4},
		&FenceBroker{ID: 3, Epoch: 3}, // fails: stale epoch
		UnfenceBroker{ID: 3, Epoch: 4},
		&ControlledShutdown{ID: 1, Epoch: 2},
		ElectLeaders{},
		&ElectLeaders{Unclean: true, Partitions: []TopicPartition{{TopicID: id(1), Partition: 0}, {TopicID: id(1), Partition: 7}}},
		RegisterBroker{ID: 1, Host: "h1", Port: 9092, Rack: "a"},
		AlterPartitionReassignments{Reassignments: []Reassignment{{TopicID: id(1), Partition: 1, Replicas: []int32{1, 3}}, {TopicID: id(1), Partition: 2}}},
		&AlterPartitionReassignments{Reassignments: []Reassignment{{TopicID: id(1), Partition: 3, Replicas: []int32{2, 1}}}},
		AlterPartition{TopicID: id(1), Partition: 0, BrokerID: 1, BrokerEpoch: 2, ISR: []int32{1}},  // fails: stale broker epoch
		&AlterPartition{TopicID: id(1), Partition: 9, BrokerID: 1, BrokerEpoch: 2, ISR: []int32{1}}, // fails: unknown partition
	}
}

// run applies cmds, ignoring the ones that fail, and returns the image and
// the results (errors as strings).
func run(img *Image, cmds []Command) (*Image, []string) {
	var out []string
	for _, c := range cmds {
		next, res, err := img.Apply(c)
		out = append(out, fmt.Sprintf("%+v %v", res, err))
		img = next
	}
	return img, out
}

func TestApplyDeterministic(t *testing.T) {
	a, ra := run(NewImage(), script())
	b, rb := run(&Image{}, script())
	if !reflect.DeepEqual(a, b) || !reflect.DeepEqual(ra, rb) {
		t.Fatalf("the same commands gave different images or results:\n%v\n%v", ra, rb)
	}
	if a.Offset() != int64(len(script())-7) {
		t.Errorf("offset %d, want %d", a.Offset(), len(script())-7)
	}
	if v, _ := a.GroupConfig("billing", "weir.assignor"); v != "range" || a.GroupConfigs("audit") != nil {
		t.Errorf("group configs: billing %v, audit %v", a.GroupConfigs("billing"), a.GroupConfigs("audit"))
	}

	// The same commands after a JSON round trip.
	var decoded []Command
	for _, c := range script() {
		data, err := MarshalCommand(c)
		if err != nil {
			t.Fatal(err)
		}
		again, _ := MarshalCommand(c)
		if string(again) != string(data) {
			t.Fatalf("MarshalCommand is not stable:\n%s\n%s", data, again)
		}
		d, err := UnmarshalCommand(data)
		if err != nil {
			t.Fatalf("UnmarshalCommand(%s): %v", data, err)
		}
		if want := reflect.ValueOf(c); want.Kind() != reflect.Pointer {
			if got := reflect.ValueOf(d).Elem().Interface(); !reflect.DeepEqual(got, c) {
				t.Errorf("round trip of %s:\n got %#v\nwant %#v", data, got, c)
			}
		}
		decoded = append(decoded, d)
	}
	c, rc := run(NewImage(), decoded)
	if !reflect.DeepEqual(a, c) || !reflect.DeepEqual(ra, rc) {
		t.Fatalf("decoded commands gave a different image:\n%v\n%v", ra, rc)
	}

	// The image's own round trip.
	data, err := a.MarshalJSON()
	if err != nil {
		t.Fatal(err)
	}
	restored, err := DecodeImage(data)
	if err != nil {
		t.Fatalf("DecodeImage: %v\n%s", err, data)
	}
	if !reflect.DeepEqual(a, restored) {
		t.Fatalf("image round trip differs:\n%s", data)
	}
	if again, _ := restored.MarshalJSON(); string(again) != string(data) {
		t.Fatalf("image encodings differ:\n%s\n%s", data, again)
	}
	// Applying to the restored image gives what applying to the original does.
	more := []Command{CreatePartitions{TopicID: id(1), Assignments: [][]int32{{2, 3}}}, AllocateProducerIDs{Count: 1}}
	x, rx := run(a, more)
	y, ry := run(restored, more)
	if !reflect.DeepEqual(x, y) || !reflect.DeepEqual(rx, ry) {
		t.Fatalf("restored image diverged: %v %v", rx, ry)
	}
}

func TestUnmarshalCommandErrors(t *testing.T) {
	for _, in := range []string{
		``,
		`null`,
		`{"version":1,"type":"Nope","command":{}}`,
		`{"version":2,"type":"DeleteTopic","command":{"id":"AQEBAQEBAQEBAQEBAQEBAQ"}}`,
		`{"version":1,"type":"DeleteTopic","command":{"id":"AQEBAQEBAQEBAQEBAQEBAQ","extra":1}}`,
		`{"version":1,"type":"DeleteTopic","command":{"id":"short"}}`,
		`{"version":1,"type":"DeleteTopic","command":{"id":"AQEBAQEBAQEBAQEBAQEBAQ"}} {}`,
		`{"version":1,"type":"AllocateProducerIDs","command":{"count":"1"}}`,
	} {
		if c, err := UnmarshalCommand([]byte(in)); !errors.Is(err, ErrInvalidCommand) {
			t.Errorf("UnmarshalCommand(%s) = %#v, %v; want ErrInvalidCommand", in, c, err)
		}
	}
	if _, err := MarshalCommand(nil); !errors.Is(err, ErrInvalidCommand) {
		t.Errorf("MarshalCommand(nil): %v", err)
	}
	if _, err := MarshalCommand((*DeleteTopic)(nil)); !errors.Is(err, ErrInvalidCommand) {
		t.Errorf("MarshalCommand(nil pointer): %v", err)
	}
}

func TestDecodeImageErrors(t *testing.T) {
	for _, in := range []string{
		`{}`,
		`{"version":2}`,
		`{"version":1,"brokers":[{"id":1,"host":"h","port":1,"epoch":1},{"id":1,"host":"h","port":1,"epoch":1}]}`,
		`{"version":1,"topics":[{"name":"a","id":"AAAAAAAAAAAAAAAAAAAAAA","partitions":[{"replicas":[1],"isr":[1],"leader":1,"leader_epoch":0,"partition_epoch":0}]}]}`,
		`{"version":1,"topics":[{"name":"a b","id":"AQEBAQEBAQEBAQEBAQEBAQ","partitions":[{"replicas":[1],"isr":[1],"leader":1,"leader_epoch":0,"partition_epoch":0}]}]}`,
		`{"version":1,"topics":[{"name":"a","id":"AQEBAQEBAQEBAQEBAQEBAQ","partitions":[]}]}`,
		`{"version":1,"topics":[{"name":"a","id":"AQEBAQEBAQEBAQEBAQEBAQ","partitions":[{"replicas":[],"isr":[],"leader":1,"leader_epoch":0,"partition_epoch":0}]}]}`,
		`{"version":1,"group_configs":{"":{"weir.assignor":"range"}}}`,
	} {
		if _, err := DecodeImage([]byte(in)); err == nil {
			t.Errorf("DecodeImage(%s) succeeded", in)
		}
	}
}
