package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"os"
	"os/signal"
	"path/filepath"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/spf13/cobra"

	"github.com/weirmq/weir/assignors"
	"github.com/weirmq/weir/codecs"
	"github.com/weirmq/weir/core/config"
	"github.com/weirmq/weir/core/log"
	"github.com/weirmq/weir/core/server"
	"github.com/weirmq/weir/partitioners"
	"github.com/weirmq/weir/plugins"
	"github.com/weirmq/weir/producer"
	"github.com/weirmq/weir/sdk"
)

type serveFlags struct {
	configPath     string
	nodeID         int32
	dataDir        string
	kafkaAddr      string
	controllerAddr string
	httpAddr       string
	voters         string
}

func newServeCommand() *cobra.Command {
	var f serveFlags
	cmd := &cobra.Command{
		Use:   "serve",
		Short: "Run a Weir node (single node with embedded defaults when given no flags)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			cfg, err := loadServeConfig(cmd, f)
			if err != nil {
				return err
			}
			ctx, stop := signal.NotifyContext(cmd.Context(), os.Interrupt, syscall.SIGTERM)
			defer stop()
			logger := slog.New(slog.NewTextHandler(os.Stderr, nil))
			if err := serve(ctx, cfg, logger); err != nil {
				return err
			}
			logger.Info("clean shutdown complete")
			return nil
		},
	}
	fl := cmd.Flags()
	fl.StringVar(&f.configPath, "config", "", "TOML configuration file (default: embedded single-node defaults)")
	fl.Int32Var(&f.nodeID, "node-id", 0, "override node_id")
	fl.StringVar(&f.dataDir, "data-dir", "", "override data_dir")
	fl.StringVar(&f.kafkaAddr, "kafka-addr", "", "override listeners.kafka (host:port)")
	fl.StringVar(&f.controllerAddr, "controller-addr", "", "override listeners.controller (host:port)")
	fl.StringVar(&f.httpAddr, "http-addr", "", "override listeners.http (host:port)")
	fl.StringVar(&f.voters, "voters", "", "override cluster.voters (comma-separated id@host:port)")
	return cmd
}

// loadServeConfig reads the file (or the defaults), applies the flags that
// were given, and validates the result.
func loadServeConfig(cmd *cobra.Command, f serveFlags) (*config.Config, error) {
	cfg := config.Default()
	if f.configPath != "" {
		var err error
		if cfg, err = config.Load(f.configPath); err != nil {
			return nil, err
		}
	}
	var o config.Overrides
	if cmd.Flags().Changed("node-id") {
		o.NodeID = &f.nodeID
	}
	o.DataDir, o.KafkaAddr, o.ControllerAddr, o.HTTPAddr = f.dataDir, f.kafkaAddr, f.controllerAddr, f.httpAddr
	if f.voters != "" {
		v, err := config.ParseVoters(f.voters)
		if err != nil {
			return nil, fmt.Errorf("--voters: %w", err)
		}
		o.Voters = v
	}
	cfg.Apply(o)
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	return cfg, nil
}

// serve runs the node until ctx is cancelled, then shuts it down cleanly:
// the Kafka listener stops taking requests and finishes the ones in
// flight, then logs are flushed, checkpoints written and the clean-shutdown
// marker left for the next start.
func serve(ctx context.Context, cfg *config.Config, logger *slog.Logger) (err error) {
	broker, err := cfg.ResolveBroker()
	if err != nil {
		return err
	}
	reg := sdk.NewRegistry()
	if err := codecs.Register(reg); err != nil {
		return err
	}
	if err := assignors.Register(reg); err != nil { // server-side assignors of KIP-848 groups
		return err
	}
	if err := partitioners.Register(reg); err != nil { // built-ins for weir.partitioner
		return err
	}
	metrics := server.NewMetrics()
	pluginSet, err := plugins.Load(ctx, cfg, reg, plugins.LoadOptions{ // [[plugins]], registered by name
		CacheDir: filepath.Join(cfg.DataDir, "plugin-cache"), Logger: logger, Metrics: metrics.Registry(),
	})
	if err != nil {
		return err
	}
	defer func() { err = errors.Join(err, pluginSet.Close(context.Background())) }()
	logs, err := log.OpenManager(cfg.DataDir, log.ManagerOptions{
		Logger:                 logger,
		Codecs:                 reg,
		RetentionCheckInterval: time.Duration(broker.LogRetentionCheckIntervalMs) * time.Millisecond,
		FlushCheckInterval:     time.Duration(broker.LogFlushSchedulerIntervalMs) * time.Millisecond,
		CheckpointInterval:     time.Duration(broker.LogFlushOffsetCheckpointIntervalMs) * time.Millisecond,
		// The log cleaner; weir.compaction.filter names filters in reg.
		CleanerThreads:          int(broker.LogCleanerThreads),
		CleanerBackoff:          time.Duration(broker.LogCleanerBackoffMs) * time.Millisecond,
		CleanerIOBytesPerSecond: broker.LogCleanerIoMaxBytesPerSecond,
		CompactionFilters:       reg,
		CleanLimitFromOwner:     true, // partitions clean only below their HW
	})
	if err != nil {
		return fmt.Errorf("opening data directory %s: %w", cfg.DataDir, err)
	}
	defer func() {
		if cerr := logs.Close(); cerr != nil {
			err = errors.Join(err, fmt.Errorf("closing logs: %w", cerr))
		}
	}()
	dial, err := brokerDialer()
	if err != nil {
		return err
	}
	meta, err := openController(cfg, broker, dial, logger)
	if err != nil {
		return err
	}
	defer func() { err = errors.Join(err, meta.Close()) }()

	var ready atomic.Bool
	httpSrv, err := server.ServeHTTP(cfg.Listeners.HTTP, metrics, ready.Load, logger)
	if err != nil {
		return err
	}
	defer func() { err = errors.Join(err, httpSrv.Close()) }()
	metrics.SetCleanerStats(logs.CleanerStats)
	httpSrv.Handle("GET /v1/topics/{topic}/cleaner", cleanerStatusHandler(logs))

	b, err := server.Start(ctx, server.Options{Config: cfg, Logs: logs, Metadata: meta, Codecs: reg, Assignors: reg, Partitioners: reg, CompactionFilters: reg, Logger: logger, Metrics: metrics, Dial: dial})
	if err != nil {
		return err
	}
	prod, err := producer.Open(producer.Options{Seeds: []string{b.Addr().String()}, Partitioners: reg, Modules: pluginSet, Logger: logger})
	if err != nil {
		b.Close()
		return err
	}
	defer prod.Close()
	prod.Routes(httpSrv)      // POST /v1/topics/{topic}/records, GET /v1/topics/{topic}/partitioner
	pluginSet.Routes(httpSrv) // GET /v1/plugins, POST /v1/plugins/{name}/reload
	// [[bridge.nats]] routes, producing to this node; GET /v1/bridge/status.
	stopBridge, err := startBridge(cfg, b.Addr().String(), reg, metrics.Registry(), httpSrv, logger)
	if err != nil {
		b.Close()
		return err
	}
	ready.Store(true)
	logger.Info("weir node started",
		"node_id", cfg.NodeID, "data_dir", cfg.DataDir, "kafka_addr", b.Addr().String(),
		"http_addr", httpSrv.Addr().String(), "clean_shutdown", logs.CleanShutdown())

	<-ctx.Done()
	logger.Info("shutting down")
	ready.Store(false)
	stopBridge() // writes what it has in flight while the broker still takes it
	// Controlled shutdown: leadership moves to other in-sync replicas while
	// this node still answers, so clients move on without timeouts.
	sctx, cancel := context.WithTimeout(context.Background(), time.Duration(broker.BrokerSessionTimeoutMs)*time.Millisecond)
	if err := b.ControlledShutdown(sctx); err != nil {
		logger.Warn("controlled shutdown did not finish; stopping anyway", "err", err)
	}
	cancel()
	if err := b.Close(); err != nil {
		logger.Warn("closing the Kafka listener", "err", err)
	}
	return nil
}

// cleanerStatusHandler answers GET /v1/topics/{topic}/cleaner with the log
// cleaner's state of each of the topic's partitions this node hosts, as
// JSON (`weir topic describe` shows the dirty ratios); 404 when it hosts
// none.
func cleanerStatusHandler(logs *log.Manager) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		st := logs.CleanerStatus(r.PathValue("topic"))
		if len(st) == 0 {
			http.Error(w, "no partition of this topic is hosted here", http.StatusNotFound)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(map[string]any{"partitions": st})
	})
}
