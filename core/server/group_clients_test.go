package server

import (
	"context"
	"errors"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/IBM/sarama"
	"github.com/segmentio/kafka-go"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
)

// Consumer groups of sarama and kafka-go against Weir.

// produceN writes n records to one partition (cl must partition
// manually).
func produceN(ctx context.Context, cl *kgo.Client, topic string, partition int32, n int) error {
	recs := make([]*kgo.Record, n)
	for i := range recs {
		recs[i] = &kgo.Record{Topic: topic, Partition: partition, Value: []byte("v")}
	}
	return cl.ProduceSync(ctx, recs...).FirstErr()
}

// saramaGroupHandler records the messages it is given, marks and commits
// each one.
type saramaGroupHandler struct {
	mu   sync.Mutex
	seen map[int32][]int64
}

func (h *saramaGroupHandler) Setup(sarama.ConsumerGroupSession) error   { return nil }
func (h *saramaGroupHandler) Cleanup(sarama.ConsumerGroupSession) error { return nil }
func (h *saramaGroupHandler) ConsumeClaim(sess sarama.ConsumerGroupSession, claim sarama.ConsumerGroupClaim) error {
	for msg := range claim.Messages() {
		h.mu.Lock()
		h.seen[msg.Partition] = append(h.seen[msg.Partition], msg.Offset)
		h.mu.Unlock()
		sess.MarkMessage(msg, "")
		sess.Commit()
	}
	return nil
}

func (h *saramaGroupHandler) count() int {
	h.mu.Lock()
	defer h.mu.Unlock()
	n := 0
	for _, offs := range h.seen {
		n += len(offs)
	}
	return n
}

// runSaramaGroup runs a sarama consumer group member until ctx ends.
func runSaramaGroup(ctx context.Context, t *testing.T, e *compatEnv, cfg *sarama.Config, group, topic string, h *saramaGroupHandler) <-chan struct{} {
	cg, err := sarama.NewConsumerGroup(e.addrs, group, cfg)
	if err != nil {
		t.Fatalf("sarama consumer group: %v", err)
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		defer cg.Close()
		for ctx.Err() == nil {
			if err := cg.Consume(ctx, []string{topic}, h); err != nil && !errors.Is(err, sarama.ErrClosedConsumerGroup) && ctx.Err() == nil {
				t.Errorf("sarama consume: %v", err)
				return
			}
		}
	}()
	return done
}

func TestGroupSarama(t *testing.T) {
	e := newCompatEnv(t, groupTOML)
	for _, v := range []struct {
		name     string
		version  sarama.KafkaVersion
		strategy sarama.BalanceStrategy
	}{
		{"2.1/range", sarama.V2_1_0_0, sarama.NewBalanceStrategyRange()},
		{"2.8/sticky", sarama.V2_8_0_0, sarama.NewBalanceStrategySticky()},
		{"3.6/roundrobin", sarama.V3_6_0_0, sarama.NewBalanceStrategyRoundRobin()},
	} {
		t.Run(v.name, func(t *testing.T) {
			ctx := compatCtx(t, 2*time.Minute)
			ct := e.newTopic(ctx, t, 4, nil)
			group := compatTopicName(t)
			cl := e.client(t, kgo.RecordPartitioner(kgo.ManualPartitioner()))
			produce := func(n int) {
				for p := int32(0); p < 4; p++ {
					if err := produceN(ctx, cl, ct.name, p, n); err != nil {
						t.Fatal(err)
					}
				}
			}
			cfg := saramaConfig(v.version)
			cfg.Consumer.Offsets.Initial = sarama.OffsetOldest
			cfg.Consumer.Group.Session.Timeout = 6 * time.Second
			cfg.Consumer.Group.Heartbeat.Interval = 200 * time.Millisecond
			cfg.Consumer.Group.Rebalance.GroupStrategies = []sarama.BalanceStrategy{v.strategy}
			cfg.Consumer.Offsets.AutoCommit.Enable = false

			produce(25)
			h := &saramaGroupHandler{seen: map[int32][]int64{}}
			mctx, stop := context.WithCancel(ctx)
			d1 := runSaramaGroup(mctx, t, e, cfg, group, ct.name, h)
			d2 := runSaramaGroup(mctx, t, e, cfg, group, ct.name, h)
			for h.count() < 100 {
				if ctx.Err() != nil {
					t.Fatalf("consumed %d of 100", h.count())
				}
				time.Sleep(10 * time.Millisecond)
			}
			stop()
			<-d1
			<-d2
			for p := int32(0); p < 4; p++ {
				if got := slices.Sorted(slices.Values(h.seen[p])); len(got) != 25 || got[0] != 0 || got[24] != 24 || len(slices.Compact(got)) != 25 {
					t.Fatalf("partition %d: consumed %v", p, got)
				}
			}
			committed, err := kadm.NewClient(cl).FetchOffsets(ctx, group)
			if err != nil {
				t.Fatal(err)
			}
			for p := int32(0); p < 4; p++ {
				if o, _ := committed.Lookup(ct.name, p); o.At != 25 {
					t.Fatalf("partition %d: committed %d, want 25", p, o.At)
				}
			}

			// A member that comes back resumes at the commits.
			produce(5)
			h2 := &saramaGroupHandler{seen: map[int32][]int64{}}
			mctx, stop = context.WithCancel(ctx)
			d := runSaramaGroup(mctx, t, e, cfg, group, ct.name, h2)
			for h2.count() < 20 {
				if ctx.Err() != nil {
					t.Fatalf("consumed %d of 20 after the restart", h2.count())
				}
				time.Sleep(10 * time.Millisecond)
			}
			stop()
			<-d
			for p := int32(0); p < 4; p++ {
				if got := slices.Sorted(slices.Values(h2.seen[p])); !slices.Equal(got, []int64{25, 26, 27, 28, 29}) {
					t.Fatalf("partition %d after the restart: consumed %v", p, got)
				}
			}
		})
	}
}

func TestGroupKafkaGo(t *testing.T) {
	e := newCompatEnv(t, groupTOML)
	ctx := compatCtx(t, 2*time.Minute)
	ct := e.newTopic(ctx, t, 2, nil)
	group := compatTopicName(t)
	cl := e.client(t, kgo.RecordPartitioner(kgo.ManualPartitioner()))
	produce := func(n int) {
		for p := int32(0); p < 2; p++ {
			if err := produceN(ctx, cl, ct.name, p, n); err != nil {
				t.Fatal(err)
			}
		}
	}
	reader := func() *kafka.Reader {
		return kafka.NewReader(kafka.ReaderConfig{
			Brokers: e.addrs, GroupID: group, Topic: ct.name,
			MinBytes: 1, MaxBytes: 1 << 20, MaxWait: 100 * time.Millisecond,
			SessionTimeout: 6 * time.Second, HeartbeatInterval: 200 * time.Millisecond,
			RebalanceTimeout: 10 * time.Second, JoinGroupBackoff: 100 * time.Millisecond,
			StartOffset: kafka.FirstOffset, ReadBatchTimeout: 5 * time.Second,
		})
	}
	read := func(r *kafka.Reader, n int) map[int][]int64 {
		got := map[int][]int64{}
		for i := 0; i < n; i++ {
			m, err := r.ReadMessage(ctx) // commits synchronously (CommitInterval 0)
			if err != nil {
				t.Fatalf("kafka-go read %d of %d: %v", i, n, err)
			}
			got[m.Partition] = append(got[m.Partition], m.Offset)
		}
		return got
	}

	produce(10)
	r := reader()
	got := read(r, 20)
	if err := r.Close(); err != nil {
		t.Fatal(err)
	}
	for p := 0; p < 2; p++ {
		if s := slices.Sorted(slices.Values(got[p])); len(s) != 10 || s[0] != 0 || s[9] != 9 {
			t.Fatalf("partition %d: read %v", p, s)
		}
	}
	produce(3)
	r = reader()
	defer r.Close()
	got = read(r, 6)
	for p := 0; p < 2; p++ {
		if s := slices.Sorted(slices.Values(got[p])); !slices.Equal(s, []int64{10, 11, 12}) {
			t.Fatalf("partition %d after rejoining: read %v", p, s)
		}
	}
}
