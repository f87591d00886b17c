package server

import (
	"context"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
)

// TestDynamicBrokerConfigsApply sets broker configs with
// IncrementalAlterConfigs and sees the running broker use them: the
// partition count of auto-created topics, and a topic default.
func TestDynamicBrokerConfigsApply(t *testing.T) {
	tb := startBroker(t, "", "")
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	adm := tb.admin()
	v := "3"
	if _, err := adm.AlterBrokerConfigs(ctx, []kadm.AlterConfig{{Name: "num.partitions", Value: &v}}); err != nil {
		t.Fatal(err)
	}
	if bc := tb.b.brokerConfig(); bc.NumPartitions != 3 {
		t.Fatalf("num.partitions %d after the dynamic change, want 3", bc.NumPartitions)
	}
	if _, err := tb.b.autoCreateTopic(ctx, "dyn"); err != nil {
		t.Fatal(err)
	}
	tds, err := adm.ListTopics(ctx, "dyn")
	if err != nil {
		t.Fatal(err)
	}
	if n := len(tds["dyn"].Partitions); n != 3 {
		t.Fatalf("auto-created topic has %d partitions, want 3", n)
	}
	mib := "2097152"
	if _, err := adm.AlterBrokerConfigs(ctx, []kadm.AlterConfig{{Name: "message.max.bytes", Value: &mib}}); err != nil {
		t.Fatal(err)
	}
	if tc, ok := tb.b.topicConfig("dyn"); !ok || tc.MaxMessageBytes != 2097152 {
		t.Fatalf("topic max.message.bytes %d after the broker default changed, want 2097152", tc.MaxMessageBytes)
	}
}
