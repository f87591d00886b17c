package server

import (
	"errors"
	"slices"
	"testing"

	"github.com/IBM/sarama"
)

// TestSaramaClusterAdminRoundTrip runs the admin APIs through a second
// client family: sarama's ClusterAdmin, at its default protocol version.
func TestSaramaClusterAdminRoundTrip(t *testing.T) {
	tb := startBroker(t, "", "")
	cfg := sarama.NewConfig()
	cfg.ClientID = "weir-test"
	admin, err := sarama.NewClusterAdmin([]string{tb.addr()}, cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer admin.Close()

	retention := "3600000"
	detail := &sarama.TopicDetail{NumPartitions: 2, ReplicationFactor: 1, ConfigEntries: map[string]*string{"retention.ms": &retention}}
	if err := admin.CreateTopic("sarama-topic", detail, false); err != nil {
		t.Fatal(err)
	}
	if err := admin.CreateTopic("sarama-topic", detail, false); !errors.Is(err, sarama.ErrTopicAlreadyExists) {
		t.Errorf("creating it again: %v", err)
	}

	entries, err := admin.DescribeConfig(sarama.ConfigResource{Type: sarama.TopicResource, Name: "sarama-topic"})
	if err != nil {
		t.Fatal(err)
	}
	i := slices.IndexFunc(entries, func(e sarama.ConfigEntry) bool { return e.Name == "retention.ms" })
	if i < 0 || entries[i].Value != retention || entries[i].Source != sarama.SourceTopic {
		t.Fatalf("retention.ms described as %+v", entries)
	}
	j := slices.IndexFunc(entries, func(e sarama.ConfigEntry) bool { return e.Name == "cleanup.policy" })
	if j < 0 || entries[j].Value != "delete" || entries[j].Source != sarama.SourceDefault || !entries[j].Default {
		t.Errorf("cleanup.policy described as %+v", entries[j])
	}

	if err := admin.CreatePartitions("sarama-topic", 3, nil, false); err != nil {
		t.Fatal(err)
	}
	topics, err := admin.ListTopics()
	if err != nil {
		t.Fatal(err)
	}
	if d, ok := topics["sarama-topic"]; !ok || d.NumPartitions != 3 {
		t.Fatalf("listed %+v", topics)
	}
	brokers, controller, err := admin.DescribeCluster()
	if err != nil || len(brokers) != 1 || controller != tb.cfg.NodeID {
		t.Errorf("describe cluster: %v, %d brokers, controller %d", err, len(brokers), controller)
	}

	if err := admin.DeleteTopic("sarama-topic"); err != nil {
		t.Fatal(err)
	}
	if topics, err = admin.ListTopics(); err != nil {
		t.Fatal(err)
	}
	if _, ok := topics["sarama-topic"]; ok {
		t.Fatal("the topic is still listed after deletion")
	}
	if err := admin.DeleteTopic("sarama-topic"); !errors.Is(err, sarama.ErrUnknownTopicOrPartition) {
		t.Errorf("deleting it again: %v", err)
	}
}
