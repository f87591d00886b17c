package server

import (
	"context"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/weirmq/weir/assignors"
	"github.com/weirmq/weir/codecs"
	"github.com/weirmq/weir/core/config"
	"github.com/weirmq/weir/core/controller"
	"github.com/weirmq/weir/core/log"
	"github.com/weirmq/weir/sdk"
)

// testBroker is a real broker, in-process, on 127.0.0.1:0 with its own
// data directory.
type testBroker struct {
	t       testing.TB
	dir     string
	cfg     *config.Config
	logs    *log.Manager
	meta    *controller.Local
	b       *Broker
	metrics *Metrics
}

// startBroker starts a broker in dir (a new temp dir when ""), with extra
// TOML applied on top of the defaults.
func startBroker(t testing.TB, dir string, toml string) *testBroker {
	t.Helper()
	return startBrokerWith(t, dir, toml, nil)
}

// startBrokerWith is startBroker with the broker's Options adjusted by
// tweak (when not nil) before it starts.
func startBrokerWith(t testing.TB, dir string, toml string, tweak func(*Options)) *testBroker {
	t.Helper()
	if dir == "" {
		dir = t.TempDir()
	}
	cfg := config.Default()
	if toml != "" {
		var err error
		if cfg, err = config.Parse([]byte(toml), "test.toml"); err != nil {
			t.Fatal(err)
		}
	}
	cfg.DataDir = dir
	cfg.Listeners.Kafka = "127.0.0.1:0"
	cfg.Listeners.Controller = "127.0.0.1:0"
	cfg.Listeners.HTTP = "127.0.0.1:0"
	reg := sdk.NewRegistry()
	if err := codecs.Register(reg); err != nil {
		t.Fatal(err)
	}
	if err := assignors.Register(reg); err != nil { // server-side assignors of KIP-848 groups
		t.Fatal(err)
	}
	logger := slog.New(slog.DiscardHandler)
	if os.Getenv("WEIR_TEST_LOG") != "" {
		logger = slog.Default()
	}
	tb := &testBroker{t: t, dir: dir, cfg: cfg, metrics: NewMetrics()}
	var err error
	if tb.logs, err = log.OpenManager(dir, log.ManagerOptions{Logger: logger, Codecs: reg}); err != nil {
		t.Fatal(err)
	}
	if tb.meta, err = controller.OpenLocal(filepath.Join(dir, "meta"), controller.LocalOptions{NodeID: cfg.NodeID, Host: "127.0.0.1", Port: 1, Logger: logger}); err != nil {
		t.Fatal(err)
	}
	opts := Options{Config: cfg, Logs: tb.logs, Metadata: tb.meta, Codecs: reg, Assignors: reg, Logger: logger, Metrics: tb.metrics}
	if tweak != nil {
		tweak(&opts)
	}
	if tb.b, err = Start(context.Background(), opts); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(tb.stop)
	return tb
}

func (tb *testBroker) addr() string { return tb.b.Addr().String() }

// stop shuts the broker down cleanly (idempotent).
func (tb *testBroker) stop() {
	if tb.b == nil {
		return
	}
	tb.b.Close()
	tb.meta.Close()
	if err := tb.logs.Close(); err != nil {
		tb.t.Errorf("closing logs: %v", err)
	}
	tb.b = nil
}

// client returns a franz-go client for the broker, closed at test end.
func (tb *testBroker) client(opts ...kgo.Opt) *kgo.Client {
	tb.t.Helper()
	cl, err := kgo.NewClient(append([]kgo.Opt{kgo.SeedBrokers(tb.addr())}, opts...)...)
	if err != nil {
		tb.t.Fatal(err)
	}
	tb.t.Cleanup(cl.Close)
	return cl
}

func (tb *testBroker) admin() *kadm.Client { return kadm.NewClient(tb.client()) }

func isUnknownAPI(err error) bool { return err != nil && strings.Contains(err.Error(), "unknown") }
