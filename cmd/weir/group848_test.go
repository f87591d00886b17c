package main

import (
	"context"
	"fmt"
	"path/filepath"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
)

// TestGroupDescribeShowsAKIP848Group describes a group run by franz-go's
// next-generation consumer (KIP-848) against a real weir process: such a
// group is not a classic group, so describe falls back to
// ConsumerGroupDescribe.
func TestGroupDescribeShowsAKIP848Group(t *testing.T) {
	bin := buildWeir(t)
	p := startWeir(t, bin, filepath.Join(t.TempDir(), "data"))
	mustWeir(t, p.addr, "", "topic", "create", "kip848", "--partitions", "2")
	lines := ""
	for i := 0; i < 10; i++ {
		lines += fmt.Sprintf("v%d\n", i)
	}
	mustWeir(t, p.addr, lines, "produce", "kip848")

	cl, err := kgo.NewClient(kgo.SeedBrokers(p.addr), kgo.ConsumerGroup("g848"), kgo.ConsumeTopics("kip848"),
		kgo.ServerSideBalancer(), kgo.Balancers(kgo.CooperativeStickyBalancer()),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	for n := 0; n < 10; {
		fs := cl.PollFetches(ctx)
		if ctx.Err() != nil {
			t.Fatalf("consumed %d of 10", n)
		}
		n += fs.NumRecords()
	}
	if err := cl.CommitUncommittedOffsets(ctx); err != nil {
		t.Fatal(err)
	}
	d := describeJSON(t, p.addr, "g848")
	if d.ProtocolType != "consumer" || d.Protocol != "uniform" || len(d.Members) != 1 {
		t.Fatalf("described %+v", d)
	}
	if len(d.Offsets) != 2 || d.TotalLag != 0 {
		t.Fatalf("offsets %+v, total lag %d", d.Offsets, d.TotalLag)
	}
	for _, o := range d.Offsets {
		// Records without keys may all land in one partition: an empty one
		// has nothing to commit.
		if o.LogEnd == nil || (*o.LogEnd > 0 && (o.Committed == nil || *o.Committed != *o.LogEnd)) ||
			o.MemberID == nil || *o.MemberID != d.Members[0].MemberID {
			t.Fatalf("partition %d: %+v", o.Partition, o)
		}
	}
}
