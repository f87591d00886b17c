package producer

import (
	"context"
	"log/slog"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/weirmq/weir/codecs"
	"github.com/weirmq/weir/core/config"
	"github.com/weirmq/weir/core/controller"
	"github.com/weirmq/weir/core/log"
	"github.com/weirmq/weir/core/server"
	"github.com/weirmq/weir/partitioners"
	"github.com/weirmq/weir/sdk"
)

// firstByte is a test partitioner: a key goes to partition key[0] mod n,
// an empty or missing key to 0.
type firstByte struct{}

func (firstByte) Name() string { return "first-byte" }
func (firstByte) Partition(_ context.Context, in sdk.PartitionInput, out []int32) error {
	for i, k := range in.Keys {
		out[i] = 0
		if len(k) > 0 {
			out[i] = int32(k[0]) % in.NumPartitions
		}
	}
	return nil
}

// node is a Weir node in-process — broker, HTTP listener, and a Producer
// serving its routes there — as cmd/weir's serve wires them.
type node struct {
	kafka, http string
	reg         *sdk.Registry
	prod        *Producer
	meta        *controller.Local
}

// startNode starts a node whose registry has the codecs, the built-in
// partitioners and first-byte; toml is added to the defaults.
func startNode(t testing.TB, toml string, modules ModuleSource) *node {
	t.Helper()
	dir := t.TempDir()
	cfg := config.Default()
	if toml != "" {
		var err error
		if cfg, err = config.Parse([]byte(toml), "test.toml"); err != nil {
			t.Fatal(err)
		}
	}
	cfg.DataDir = dir
	cfg.Listeners.Kafka, cfg.Listeners.Controller, cfg.Listeners.HTTP = "127.0.0.1:0", "127.0.0.1:0", "127.0.0.1:0"
	logger := slog.New(slog.DiscardHandler)
	if os.Getenv("WEIR_TEST_LOG") != "" {
		logger = slog.Default()
	}
	reg := sdk.NewRegistry()
	for _, err := range []error{codecs.Register(reg), partitioners.Register(reg), reg.RegisterPartitioner(firstByte{})} {
		if err != nil {
			t.Fatal(err)
		}
	}
	logs, err := log.OpenManager(dir, log.ManagerOptions{Logger: logger, Codecs: reg})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { logs.Close() })
	meta, err := controller.OpenLocal(filepath.Join(dir, "meta"), controller.LocalOptions{NodeID: cfg.NodeID, Host: "127.0.0.1", Port: 1, Logger: logger})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { meta.Close() })
	metrics := server.NewMetrics()
	httpSrv, err := server.ServeHTTP(cfg.Listeners.HTTP, metrics, func() bool { return true }, logger)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { httpSrv.Close() })
	b, err := server.Start(context.Background(), server.Options{Config: cfg, Logs: logs, Metadata: meta, Codecs: reg, Partitioners: reg, Logger: logger, Metrics: metrics})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { b.Close() })
	prod, err := Open(Options{Seeds: []string{b.Addr().String()}, Partitioners: reg, Modules: modules, Logger: logger, TopicCacheTTL: time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(prod.Close)
	prod.Routes(httpSrv)
	return &node{kafka: b.Addr().String(), http: httpSrv.Addr().String(), reg: reg, prod: prod, meta: meta}
}

func (n *node) client(t testing.TB, opts ...kgo.Opt) *kgo.Client {
	t.Helper()
	cl, err := kgo.NewClient(append([]kgo.Opt{kgo.SeedBrokers(n.kafka)}, opts...)...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(cl.Close)
	return cl
}

func testCtx(t testing.TB) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	t.Cleanup(cancel)
	return ctx
}

// createTopicUnchecked creates a topic through the controller, skipping
// the broker's CreateTopics checks: a topic whose weir.partitioner names a
// plugin this node does not have (one removed since, or one the fake
// ModuleSource serves without a registry entry).
func (n *node) createTopicUnchecked(t testing.TB, name string, partitions int32, configs map[string]string) {
	t.Helper()
	cmd := &controller.CreateTopic{Name: name, ID: n.meta.NewTopicID(), Configs: configs}
	for range partitions {
		cmd.Partitions = append(cmd.Partitions, controller.PartitionAssignment{Replicas: []int32{1}})
	}
	if _, err := n.meta.Submit(testCtx(t), cmd); err != nil {
		t.Fatalf("creating %s: %v", name, err)
	}
}

// createTopic creates a topic with configs.
func (n *node) createTopic(t testing.TB, name string, partitions int32, configs map[string]string) {
	t.Helper()
	cs := map[string]*string{}
	for k, v := range configs {
		cs[k] = &v
	}
	resp, err := kadm.NewClient(n.client(t)).CreateTopic(testCtx(t), partitions, 1, cs, name)
	if err == nil {
		err = resp.Err
	}
	if err != nil {
		t.Fatalf("creating %s: %v (%s)", name, err, resp.ErrMessage)
	}
}

// consume reads count records of topic from the start.
func (n *node) consume(t *testing.T, topic string, count int) []*kgo.Record {
	t.Helper()
	cl := n.client(t, kgo.ConsumeTopics(topic), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	ctx := testCtx(t)
	var out []*kgo.Record
	for len(out) < count {
		fs := cl.PollFetches(ctx)
		if ctx.Err() != nil {
			t.Fatalf("consumed %d of %d records of %s", len(out), count, topic)
		}
		out = append(out, fs.Records()...)
	}
	return out
}
