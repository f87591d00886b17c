package main

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/weirmq/weir/internal/chaos"
)

// TestReassignAndElectPreferredLeader moves a partition between real
// brokers with `weir cluster reassign`, watches it with `weir cluster
// reassignments`, then hands leadership to the new preferred replica with
// `weir cluster elect-leaders`; every record written before survives.
func TestReassignAndElectPreferredLeader(t *testing.T) {
	bin := chaosBinary(t)
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	c, err := chaos.StartCluster(ctx, chaos.ClusterOptions{Binary: bin, Dir: chaosDir(t), Nodes: 3, Broker: chaosBroker(t, 2000)})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	seeds := strings.Join(c.Seeds(), ",")
	cl, err := kgo.NewClient(kgo.SeedBrokers(c.Seeds()...), kgo.DefaultProduceTopic("moves"))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	adm := kadm.NewClient(cl)
	if _, err := adm.CreateTopic(ctx, 1, 2, nil, "moves"); err != nil {
		t.Fatal(err)
	}
	partition := func() kadm.PartitionDetail {
		t.Helper()
		md, err := adm.Metadata(ctx, "moves")
		if err != nil {
			t.Fatal(err)
		}
		p, ok := md.Topics["moves"].Partitions[0]
		if !ok {
			p.Leader = -1
		}
		return p
	}
	// Metadata reaches every broker a moment after CreateTopics answers.
	var before kadm.PartitionDetail
	eventually(t, func() string {
		before = partition()
		if before.Leader < 1 || len(before.ISR) != 2 {
			return fmt.Sprintf("new partition: leader %d, isr %v", before.Leader, before.ISR)
		}
		return ""
	})
	var outsider int32
	for id := int32(1); id <= 3; id++ {
		if !slices.Contains(before.Replicas, id) {
			outsider = id
		}
	}
	for i := 0; i < 100; i++ {
		if err := cl.ProduceSync(ctx, &kgo.Record{Value: []byte(fmt.Sprint(i))}).FirstErr(); err != nil {
			t.Fatal(err)
		}
	}

	// Move the partition to {outsider, leader}: the outsider becomes the
	// preferred leader, the other old replica goes.
	target := fmt.Sprintf("moves:0=%d,%d", outsider, before.Leader)
	out := mustWeir(t, seeds, "", "cluster", "reassign", target)
	if !strings.Contains(out, "moves:0: moving") {
		t.Fatalf("reassign output: %q", out)
	}
	eventually(t, func() string {
		p := partition()
		if !slices.Equal(p.Replicas, []int32{outsider, before.Leader}) || len(p.ISR) != 2 {
			return fmt.Sprintf("replicas %v isr %v, want [%d %d] both in sync", p.Replicas, p.ISR, outsider, before.Leader)
		}
		if out := mustWeir(t, seeds, "", "cluster", "reassignments"); strings.Contains(out, "moves") {
			return "reassignment still listed:\n" + out
		}
		return ""
	})

	out = mustWeir(t, seeds, "", "cluster", "elect-leaders", "moves:0")
	if !strings.Contains(out, "moves:0: new leader elected") {
		t.Fatalf("elect-leaders output: %q", out)
	}
	eventually(t, func() string {
		if p := partition(); p.Leader != outsider {
			return fmt.Sprintf("leader %d, want the preferred %d", p.Leader, outsider)
		}
		return ""
	})
	if out := mustWeir(t, seeds, "", "cluster", "elect-leaders", "moves:0"); !strings.Contains(out, "ELECTION_NOT_NEEDED") {
		t.Fatalf("a second election: %q", out)
	}

	cons, err := kgo.NewClient(kgo.SeedBrokers(c.Seeds()...), kgo.ConsumeTopics("moves"), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	if err != nil {
		t.Fatal(err)
	}
	defer cons.Close()
	var got []string
	for len(got) < 100 {
		fs := cons.PollFetches(ctx)
		if err := fs.Err(); err != nil {
			t.Fatal(err)
		}
		fs.EachRecord(func(r *kgo.Record) { got = append(got, string(r.Value)) })
	}
	for i, v := range got {
		if v != fmt.Sprint(i) {
			t.Fatalf("record %d is %q after the move", i, v)
		}
	}
}
