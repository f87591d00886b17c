package server

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
)

// BenchmarkGroupRebalance50 measures rebalances of a 50-member franz-go
// group (range balancer, 50 partitions, 100ms heartbeats, no initial
// rebalance delay):
//
//   - form: 50 members start at once; the time until the group is Stable
//     with all 50 (several rebalances, as members arrive).
//   - rejoin: a 51st member joins a stable group of 50; the time until the
//     group is Stable with 51 (the others learn of the rebalance by
//     heartbeat and rejoin).
func BenchmarkGroupRebalance50(b *testing.B) {
	const members = 50
	tb := startBroker(b, "", groupTOML)
	ctx := context.Background()
	adm := tb.admin()
	const topic = "bench-rebalance"
	if _, err := adm.CreateTopic(ctx, members, 1, nil, topic); err != nil {
		b.Fatal(err)
	}
	newMember := func(group string) *kgo.Client {
		cl, err := kgo.NewClient(kgo.SeedBrokers(tb.addr()), kgo.ConsumerGroup(group), kgo.ConsumeTopics(topic),
			kgo.Balancers(kgo.RangeBalancer()), kgo.HeartbeatInterval(100*time.Millisecond), kgo.SessionTimeout(30*time.Second))
		if err != nil {
			b.Fatal(err)
		}
		return cl
	}
	stable := func(group string, n int) {
		for {
			d, err := adm.DescribeGroups(ctx, group)
			if err == nil && d[group].State == "Stable" && len(d[group].Members) == n {
				return
			}
			time.Sleep(2 * time.Millisecond)
		}
	}
	closeAll := func(cls []*kgo.Client) {
		var wg sync.WaitGroup
		for _, cl := range cls {
			wg.Go(cl.Close)
		}
		wg.Wait()
	}
	var formed, rejoined time.Duration
	b.ReportAllocs()
	for i := 0; b.Loop(); i++ {
		group := fmt.Sprintf("bench-%d", i)
		start := time.Now()
		cls := make([]*kgo.Client, members)
		var wg sync.WaitGroup
		for j := range cls {
			wg.Go(func() { cls[j] = newMember(group) })
		}
		wg.Wait()
		stable(group, members)
		formed += time.Since(start)

		start = time.Now()
		extra := newMember(group)
		stable(group, members+1)
		rejoined += time.Since(start)
		closeAll(append(cls, extra))
	}
	n := float64(b.N)
	b.ReportMetric(float64(formed.Milliseconds())/n, "form-ms/op")
	b.ReportMetric(float64(rejoined.Milliseconds())/n, "rejoin-ms/op")
}
