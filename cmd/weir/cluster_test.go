package main

import (
	"bytes"
	"strings"
	"testing"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kfake"
)

func TestClusterStatusAgainstThreeBrokers(t *testing.T) {
	seeds, external := testCluster(t, kfake.NumBrokers(3))
	name := uniqueTopic(t, "status")
	t.Cleanup(func() { runWeir(t, seeds, "", "topic", "delete", name, "--if-exists") })
	rf := "3"
	if external {
		rf = "1" // an external test cluster may have a single broker
	}
	mustWeir(t, seeds, "", "topic", "create", name, "--partitions", "4", "--replication-factor", rf)
	eventually(t, func() string {
		out := mustWeir(t, seeds, "", "cluster", "status")
		for _, want := range []string{"active controller", "under-replicated partitions: 0", "offline partitions: 0"} {
			if !strings.Contains(out, want) {
				return "cluster status lacks " + want + ":\n" + out
			}
		}
		if !external && !strings.Contains(out, "3 live brokers") {
			return "want 3 live brokers:\n" + out
		}
		return ""
	})
}

func TestClusterStatusNamesUnhealthyPartitions(t *testing.T) {
	md := kadm.Metadata{
		Cluster:    "c1",
		Controller: 2,
		Brokers:    kadm.BrokerDetails{{NodeID: 1, Host: "h1", Port: 9092}, {NodeID: 2, Host: "h2", Port: 9092}},
		Topics: kadm.TopicDetails{"orders": {Topic: "orders", Partitions: kadm.PartitionDetails{
			0: {Partition: 0, Leader: 1, Replicas: []int32{1, 2, 3}, ISR: []int32{1, 2}},
			1: {Partition: 1, Leader: 3, Replicas: []int32{3, 1, 2}, ISR: []int32{3}}, // leader 3 is not live
			2: {Partition: 2, Leader: 2, Replicas: []int32{2, 1}, ISR: []int32{2, 1}},
			3: {Partition: 3, Leader: -1, Replicas: []int32{3}, ISR: []int32{3}},
		}}},
	}
	var out bytes.Buffer
	if err := writeClusterStatus(&out, md); err != nil {
		t.Fatal(err)
	}
	s := out.String()
	for _, want := range []string{
		"cluster c1: 2 live brokers, active controller 2, 4 partitions",
		"under-replicated partitions: 2", "offline partitions: 2",
		"orders  0          1       1,2,3     1,2  under-replicated",
		"orders  1          3       3,1,2     3    offline",
		"orders  3          none    3         3    offline",
	} {
		if !strings.Contains(s, want) {
			t.Errorf("status lacks %q:\n%s", want, s)
		}
	}
	if strings.Contains(s, "orders  2 ") {
		t.Errorf("healthy partition listed:\n%s", s)
	}
}
