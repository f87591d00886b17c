package server

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
)

// BenchmarkProduceAcksAll measures acks=all produce through a real
// franz-go producer: one broker with RF=1 against three with RF=3 and
// min.insync.replicas=2, brokers in this process on loopback. Each op is
// one 1 KiB record. "pipelined" keeps the producer busy (throughput);
// "sync" produces one record at a time, and p50/p99 are its
// produce-to-acknowledgement latencies (for RF=3, a follower fetch round
// trip on top of the leader's append).
//
//	go test -run '^$' -bench ProduceAcksAll -benchtime 20000x ./core/server/
func BenchmarkProduceAcksAll(b *testing.B) {
	for _, tc := range []struct {
		name     string
		replicas []int32
	}{{"rf1", []int32{1}}, {"rf3", []int32{1, 2, 3}}} {
		for _, mode := range []string{"pipelined", "sync"} {
			b.Run(tc.name+"/"+mode, func(b *testing.B) {
				c := startCluster(b, len(tc.replicas), `"replica.fetch.wait.max.ms" = 500`)
				c.createTopic("bench", [][]int32{tc.replicas}, map[string]string{"min.insync.replicas": fmt.Sprint(min(2, len(tc.replicas)))})
				cl := c.client(kgo.RequiredAcks(kgo.AllISRAcks()), kgo.DefaultProduceTopic("bench"), kgo.ProducerLinger(0))
				ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
				defer cancel()
				if err := cl.ProduceSync(ctx, &kgo.Record{Value: []byte("warm-up")}).FirstErr(); err != nil {
					b.Fatal(err)
				}
				value := []byte(strings.Repeat("x", 1024))
				b.SetBytes(int64(len(value)))
				b.ReportAllocs()
				b.ResetTimer()
				if mode == "sync" {
					lat := make([]time.Duration, b.N)
					for i := range b.N {
						start := time.Now()
						if err := cl.ProduceSync(ctx, &kgo.Record{Value: value}).FirstErr(); err != nil {
							b.Fatal(err)
						}
						lat[i] = time.Since(start)
					}
					b.StopTimer()
					slices.Sort(lat)
					b.ReportMetric(float64(lat[len(lat)/2].Microseconds()), "p50-µs")
					b.ReportMetric(float64(lat[len(lat)*99/100].Microseconds()), "p99-µs")
					return
				}
				var wg sync.WaitGroup
				var errOnce sync.Once
				var firstErr error
				for range b.N {
					wg.Add(1)
					cl.Produce(ctx, &kgo.Record{Value: value}, func(_ *kgo.Record, err error) {
						defer wg.Done()
						if err != nil {
							errOnce.Do(func() { firstErr = err })
						}
					})
				}
				wg.Wait()
				b.StopTimer()
				if firstErr != nil {
					b.Fatal(firstErr)
				}
			})
		}
	}
}
