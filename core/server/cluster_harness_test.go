package server

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/weirmq/weir/codecs"
	"github.com/weirmq/weir/core/config"
	"github.com/weirmq/weir/core/controller"
	"github.com/weirmq/weir/core/log"
	"github.com/weirmq/weir/core/partition"
	"github.com/weirmq/weir/core/record"
	"github.com/weirmq/weir/sdk"
)

// testCluster is several real brokers in this process, each on
// 127.0.0.1:0 with its own data directory, sharing one controller.Local as
// their metadata store. Local has no heartbeats: a test moves leadership
// by submitting commands (FenceBroker, ElectLeaders, ...) itself.
type testCluster struct {
	t    testing.TB
	meta *controller.Local
	toml string // [broker] settings shared by every node

	mu    sync.Mutex
	nodes map[int32]*clusterNode
}

type clusterNode struct {
	id      int32
	dir     string
	logs    *log.Manager
	b       *Broker
	metrics *Metrics
	dialer  *gatedDialer // the broker's Options.Dial
}

// gatedDialer is a broker's Options.Dial that a test can cut: while cut,
// dials fail and the connections it made are closed — a network partition
// between this broker and the others, as the chaos harness's proxies make.
type gatedDialer struct {
	mu    sync.Mutex
	cut   bool
	dials int
	conns []net.Conn
}

func (d *gatedDialer) dial(ctx context.Context, network, addr string) (net.Conn, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.cut {
		return nil, fmt.Errorf("dial %s: cut off by the test", addr)
	}
	nc, err := (&net.Dialer{}).DialContext(ctx, network, addr)
	if err == nil {
		d.dials++
		d.conns = append(d.conns, nc)
	}
	return nc, err
}

// setCut cuts (closing the connections made so far) or heals.
func (d *gatedDialer) setCut(cut bool) {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.cut = cut
	if cut {
		for _, nc := range d.conns {
			nc.Close()
		}
		d.conns = nil
	}
}

func (d *gatedDialer) count() int {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.dials
}

// startCluster starts brokers 1..n. brokerTOML is the body of a [broker]
// table (Kafka names) for every node.
func startCluster(t testing.TB, n int, brokerTOML string) *testCluster {
	t.Helper()
	c := &testCluster{t: t, toml: brokerTOML, nodes: map[int32]*clusterNode{}}
	var err error
	c.meta, err = controller.OpenLocal(filepath.Join(t.TempDir(), "meta"), controller.LocalOptions{NodeID: 1, Host: "127.0.0.1", Port: 1, Logger: testLogger()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		for id := range c.snapshotNodes() {
			c.stop(id)
		}
		c.meta.Close()
	})
	for id := int32(1); id <= int32(n); id++ {
		c.nodes[id] = &clusterNode{id: id, dir: t.TempDir(), dialer: &gatedDialer{}}
		c.start(id)
	}
	return c
}

func testLogger() *slog.Logger {
	if os.Getenv("WEIR_TEST_LOG") != "" {
		return slog.Default()
	}
	return slog.New(slog.DiscardHandler)
}

func (c *testCluster) snapshotNodes() map[int32]*clusterNode {
	c.mu.Lock()
	defer c.mu.Unlock()
	out := make(map[int32]*clusterNode, len(c.nodes))
	for id, n := range c.nodes {
		out[id] = n
	}
	return out
}

func (c *testCluster) node(id int32) *clusterNode {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.nodes[id]
}

// start starts (or restarts) broker id over its data directory.
func (c *testCluster) start(id int32) {
	c.t.Helper()
	n := c.node(id)
	cfg, err := config.Parse([]byte(fmt.Sprintf("node_id = %d\n[broker]\n%s\n", id, c.toml)), "test.toml")
	if err != nil {
		c.t.Fatal(err)
	}
	cfg.DataDir = n.dir
	cfg.Listeners.Kafka = "127.0.0.1:0"
	cfg.Listeners.Controller = "127.0.0.1:0"
	cfg.Listeners.HTTP = "127.0.0.1:0"
	reg := sdk.NewRegistry()
	if err := codecs.Register(reg); err != nil {
		c.t.Fatal(err)
	}
	logger := testLogger().With("node", id)
	if n.logs, err = log.OpenManager(n.dir, log.ManagerOptions{Logger: logger, Codecs: reg}); err != nil {
		c.t.Fatal(err)
	}
	n.metrics = NewMetrics()
	b, err := Start(context.Background(), Options{Config: cfg, Logs: n.logs, Metadata: c.meta, Codecs: reg, Logger: logger,
		Metrics: n.metrics, HighWatermarkCheckpointInterval: 100 * time.Millisecond, Dial: n.dialer.dial})
	if err != nil {
		c.t.Fatal(err)
	}
	c.mu.Lock()
	n.b = b
	c.mu.Unlock()
}

// stop closes broker id cleanly; the controller still has it registered
// and live until a test fences it.
func (c *testCluster) stop(id int32) {
	n := c.node(id)
	c.mu.Lock()
	b := n.b
	n.b = nil
	c.mu.Unlock()
	if b == nil {
		return
	}
	b.Close()
	if err := n.logs.Close(); err != nil {
		c.t.Errorf("closing logs of broker %d: %v", id, err)
	}
}

// broker returns the running broker id, or nil.
func (c *testCluster) broker(id int32) *Broker {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.nodes[id].b
}

// addrs returns the Kafka addresses of the running brokers.
func (c *testCluster) addrs() []string {
	var out []string
	for _, n := range c.snapshotNodes() {
		if b := c.broker(n.id); b != nil {
			out = append(out, b.Addr().String())
		}
	}
	return out
}

// client returns a franz-go client seeded with every running broker.
func (c *testCluster) client(opts ...kgo.Opt) *kgo.Client {
	c.t.Helper()
	cl, err := kgo.NewClient(append([]kgo.Opt{kgo.SeedBrokers(c.addrs()...), kgo.MetadataMinAge(50 * time.Millisecond),
		kgo.RetryBackoffFn(func(int) time.Duration { return 50 * time.Millisecond })}, opts...)...)
	if err != nil {
		c.t.Fatal(err)
	}
	c.t.Cleanup(cl.Close)
	return cl
}

// submit applies a command to the shared controller.
func (c *testCluster) submit(cmd controller.Command) controller.Result {
	c.t.Helper()
	res, err := c.meta.Submit(context.Background(), cmd)
	if err != nil {
		c.t.Fatalf("submit %T: %v", cmd, err)
	}
	return res
}

// createTopic creates a topic with the given replica lists (first =
// preferred leader) and configs.
func (c *testCluster) createTopic(name string, replicas [][]int32, configs map[string]string) controller.TopicID {
	c.t.Helper()
	cmd := &controller.CreateTopic{Name: name, ID: c.meta.NewTopicID(), Configs: configs}
	for _, r := range replicas {
		cmd.Partitions = append(cmd.Partitions, controller.PartitionAssignment{Replicas: r})
	}
	c.submit(cmd)
	return cmd.ID
}

// partitionMeta returns the partition as the controller has it.
func (c *testCluster) partitionMeta(topic string, index int32) controller.Partition {
	c.t.Helper()
	t, ok := c.meta.Image().TopicByName(topic)
	if !ok || int(index) >= len(t.Partitions) {
		c.t.Fatalf("no partition %s-%d", topic, index)
	}
	return t.Partitions[index]
}

// replica returns broker id's replica of the partition, or nil.
func (c *testCluster) replica(id int32, topic string, index int32) *partition.Partition {
	b := c.broker(id)
	if b == nil {
		return nil
	}
	return b.partition(topic, index)
}

// fence fences broker id at its current registration, as the active
// controller does when a broker's session expires.
func (c *testCluster) fence(id int32) {
	c.t.Helper()
	br, ok := c.meta.Image().Broker(id)
	if !ok {
		c.t.Fatalf("broker %d is not registered", id)
	}
	c.submit(&controller.FenceBroker{ID: id, Epoch: br.Epoch})
}

// eventually polls cond until it holds, failing the test after 20 s with
// what it was waiting for.
func eventually(t testing.TB, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// batchesUpTo returns the log's record batches below offset, as stored.
func batchesUpTo(p *partition.Partition, upTo int64) ([]byte, error) {
	var out []byte
	for offset := p.LogStartOffset(); offset < upTo; {
		res, err := p.Log().Read(offset, upTo, 1<<20)
		if err != nil {
			return nil, fmt.Errorf("reading %s-%d at %d: %w", p.Topic(), p.Index(), offset, err)
		}
		if len(res.Slices) == 0 {
			break
		}
		for _, sl := range res.Slices {
			buf := make([]byte, sl.Len)
			if _, err := sl.File.ReadAt(buf, sl.Pos); err != nil {
				return nil, err
			}
			out = append(out, buf...)
		}
		offset = res.NextOffset
	}
	return out, nil
}

// requireSameLogs checks that the replicas of the partition on the given
// brokers come to hold byte-identical batches up to the leader's HW, once
// the HW covers want offsets.
func (c *testCluster) requireSameLogs(topic string, index int32, leader int32, want int64, ids ...int32) {
	c.t.Helper()
	lp := c.replica(leader, topic, index)
	eventually(c.t, fmt.Sprintf("leader %d's HW to reach %d", leader, want), func() bool { return lp.HighWatermark() >= want })
	hw := lp.HighWatermark()
	ref, err := batchesUpTo(lp, hw)
	if err != nil {
		c.t.Fatal(err)
	}
	for _, id := range ids {
		var got []byte
		var err error
		deadline := time.Now().Add(20 * time.Second)
		for {
			p := c.replica(id, topic, index)
			if p != nil {
				got, err = batchesUpTo(p, hw)
				if err == nil && bytes.Equal(got, ref) {
					break
				}
			}
			if time.Now().After(deadline) {
				c.t.Fatalf("broker %d's log differs from leader %d's below HW %d (%d vs %d bytes, err %v)\n%s\n%s",
					id, leader, hw, len(got), len(ref), err, describeBatches(got), describeBatches(ref))
			}
			time.Sleep(10 * time.Millisecond)
		}
	}
}

// describeBatches lists the batches' offsets and epochs, for failures.
func describeBatches(b []byte) string {
	var sb strings.Builder
	for len(b) > 0 {
		batch, rest, err := record.NextBatch(b)
		if err != nil {
			fmt.Fprintf(&sb, "[bad: %v]", err)
			break
		}
		h, _ := record.ReadHeader(batch)
		fmt.Fprintf(&sb, "[%d-%d e%d] ", h.BaseOffset, h.LastOffset(), h.PartitionLeaderEpoch)
		b = rest
	}
	return sb.String()
}
