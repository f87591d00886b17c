package nats

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	natsserver "github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/weirmq/weir/codecs"
	"github.com/weirmq/weir/core/config"
	"github.com/weirmq/weir/core/controller"
	"github.com/weirmq/weir/core/log"
	weirserver "github.com/weirmq/weir/core/server"
	"github.com/weirmq/weir/partitioners"
	"github.com/weirmq/weir/sdk"
)

// testLogger discards logs unless WEIR_TEST_LOG is set.
func testLogger() *slog.Logger {
	if os.Getenv("WEIR_TEST_LOG") != "" {
		return slog.Default()
	}
	return slog.New(slog.DiscardHandler)
}

// testWeir is a real Weir broker, in-process, on 127.0.0.1:0 with its own
// data directory.
type testWeir struct {
	addr string
	stop func()
}

func startWeir(t testing.TB) *testWeir {
	t.Helper()
	dir := t.TempDir()
	cfg := config.Default()
	cfg.DataDir = dir
	cfg.Listeners.Kafka = "127.0.0.1:0"
	cfg.Listeners.Controller = "127.0.0.1:0"
	cfg.Listeners.HTTP = "127.0.0.1:0"
	reg := registry(t)
	logger := testLogger()
	logs, err := log.OpenManager(dir, log.ManagerOptions{Logger: logger, Codecs: reg})
	if err != nil {
		t.Fatal(err)
	}
	meta, err := controller.OpenLocal(filepath.Join(dir, "meta"), controller.LocalOptions{NodeID: cfg.NodeID, Host: "127.0.0.1", Port: 1, Logger: logger})
	if err != nil {
		t.Fatal(err)
	}
	b, err := weirserver.Start(context.Background(), weirserver.Options{Config: cfg, Logs: logs, Metadata: meta, Codecs: reg, Logger: logger})
	if err != nil {
		t.Fatal(err)
	}
	w := &testWeir{addr: b.Addr().String()}
	stopped := false
	w.stop = func() {
		if stopped {
			return
		}
		stopped = true
		b.Close()
		meta.Close()
		if err := logs.Close(); err != nil {
			t.Errorf("closing logs: %v", err)
		}
	}
	t.Cleanup(w.stop)
	return w
}

// registry returns a registry with the built-in codecs and partitioners.
func registry(t testing.TB) *sdk.Registry {
	t.Helper()
	reg := sdk.NewRegistry()
	if err := codecs.Register(reg); err != nil {
		t.Fatal(err)
	}
	if err := partitioners.Register(reg); err != nil {
		t.Fatal(err)
	}
	return reg
}

func (w *testWeir) client(t testing.TB, opts ...kgo.Opt) *kgo.Client {
	t.Helper()
	cl, err := kgo.NewClient(append([]kgo.Opt{kgo.SeedBrokers(w.addr)}, opts...)...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(cl.Close)
	return cl
}

// createTopic creates a topic with n partitions and the given configs.
func (w *testWeir) createTopic(t testing.TB, topic string, n int32, configs map[string]string) {
	t.Helper()
	cfgs := map[string]*string{}
	for k, v := range configs {
		cfgs[k] = &v
	}
	resp, err := kadm.NewClient(w.client(t)).CreateTopic(context.Background(), n, 1, cfgs, topic)
	if err == nil {
		err = resp.Err
	}
	if err != nil {
		t.Fatalf("creating %s: %v", topic, err)
	}
}

// consume reads every record of topic until it has want of them, or fails
// the test after timeout. The records are in partition order.
func (w *testWeir) consume(t testing.TB, topic string, want int, timeout time.Duration) []*kgo.Record {
	t.Helper()
	cl := w.client(t, kgo.ConsumeTopics(topic), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	var got []*kgo.Record
	for len(got) < want {
		fs := cl.PollFetches(ctx)
		if ctx.Err() != nil {
			t.Fatalf("topic %s: consumed %d records of %d", topic, len(got), want)
		}
		fs.EachRecord(func(r *kgo.Record) { got = append(got, r) })
	}
	return got
}

// endOffsets returns the high watermark of every partition of topic.
func (w *testWeir) endOffsets(t testing.TB, topic string) map[int32]int64 {
	t.Helper()
	offs, err := kadm.NewClient(w.client(t)).ListEndOffsets(context.Background(), topic)
	if err != nil {
		t.Fatal(err)
	}
	out := map[int32]int64{}
	offs.Each(func(o kadm.ListedOffset) {
		if o.Err == nil {
			out[o.Partition] = o.Offset
		}
	})
	return out
}

func total(offs map[int32]int64) int64 {
	var n int64
	for _, o := range offs {
		n += o
	}
	return n
}

// startNATS starts a real NATS server with JetStream stored in storeDir,
// on port (-1: any free port).
func startNATS(t testing.TB, storeDir string, port int) *natsserver.Server {
	t.Helper()
	s, err := natsserver.NewServer(&natsserver.Options{
		Host: "127.0.0.1", Port: port, JetStream: true, StoreDir: storeDir,
		NoLog: true, NoSigs: true,
	})
	if err != nil {
		t.Fatal(err)
	}
	go s.Start()
	if !s.ReadyForConnections(10 * time.Second) {
		t.Fatal("NATS server did not start")
	}
	t.Cleanup(func() { s.Shutdown(); s.WaitForShutdown() })
	return s
}

func connectNATS(t testing.TB, url string) (*nats.Conn, jetstream.JetStream) {
	t.Helper()
	nc, err := nats.Connect(url, nats.MaxReconnects(-1), nats.ReconnectWait(100*time.Millisecond))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(nc.Close)
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	return nc, js
}

func createStream(t testing.TB, js jetstream.JetStream, name string, subjects ...string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if _, err := js.CreateStream(ctx, jetstream.StreamConfig{Name: name, Subjects: subjects, Storage: jetstream.FileStorage}); err != nil {
		t.Fatal(err)
	}
}

// publishAsync publishes msgs to JetStream, waiting for every ack.
func publishAsync(t testing.TB, js jetstream.JetStream, msgs []*nats.Msg) {
	t.Helper()
	const window = 2000 // below the client's default limit of outstanding async publishes (4000)
	for start := 0; start < len(msgs); start += window {
		var futures []jetstream.PubAckFuture
		for _, m := range msgs[start:min(start+window, len(msgs))] {
			f, err := js.PublishMsgAsync(m)
			if err != nil {
				t.Fatal(err)
			}
			futures = append(futures, f)
		}
		select {
		case <-js.PublishAsyncComplete():
		case <-time.After(30 * time.Second):
			t.Fatal("publishing timed out")
		}
		for _, f := range futures {
			select {
			case err := <-f.Err():
				t.Fatalf("publish: %v", err)
			case <-f.Ok():
			}
		}
	}
}

// openBridge opens a bridge on the routes against w, closed at test end.
func openBridge(t testing.TB, w *testWeir, routes ...config.NATSRoute) *Bridge {
	t.Helper()
	b, err := Open(Options{Routes: routes, Brokers: []string{w.addr}, Partitioners: registry(t), Logger: testLogger()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { b.Close() })
	return b
}

// waitFor polls cond until it holds, failing the test after timeout with
// what describe says.
func waitFor(t testing.TB, timeout time.Duration, cond func() bool, describe func() string) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %v: %s", timeout, describe())
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func waitReady(t testing.TB, b *Bridge) {
	t.Helper()
	waitFor(t, 20*time.Second, func() bool {
		for _, s := range b.Status() {
			if !s.Ready {
				return false
			}
		}
		return true
	}, func() string { return fmt.Sprintf("routes not ready: %+v", b.Status()) })
}

// consumerSettled reports whether a durable consumer has nothing pending
// and nothing waiting for an ack.
func consumerSettled(t testing.TB, js jetstream.JetStream, stream, durable string) (bool, string) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	c, err := js.Consumer(ctx, stream, durable)
	if err != nil {
		return false, err.Error()
	}
	info, err := c.Info(ctx)
	if err != nil {
		return false, err.Error()
	}
	return info.NumPending == 0 && info.NumAckPending == 0,
		"pending " + strconv.FormatUint(info.NumPending, 10) + ", ack pending " + strconv.Itoa(info.NumAckPending)
}

func header(r *kgo.Record, key string) (string, bool) {
	for _, h := range r.Headers {
		if h.Key == key {
			return string(h.Value), true
		}
	}
	return "", false
}
