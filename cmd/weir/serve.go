package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/spf13/cobra"

	"github.com/weirmq/weir/codecs"
	"github.com/weirmq/weir/core/config"
	"github.com/weirmq/weir/core/log"
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
			return serve(ctx, cfg, slog.New(slog.NewTextHandler(os.Stderr, nil)))
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

// serve runs the node until ctx is cancelled, then shuts it down cleanly.
func serve(ctx context.Context, cfg *config.Config, logger *slog.Logger) error {
	broker, err := cfg.ResolveBroker()
	if err != nil {
		return err
	}
	reg := sdk.NewRegistry()
	if err := codecs.Register(reg); err != nil {
		return err
	}
	logs, err := log.OpenManager(cfg.DataDir, log.ManagerOptions{
		Logger:                 logger,
		Codecs:                 reg,
		RetentionCheckInterval: time.Duration(broker.LogRetentionCheckIntervalMs) * time.Millisecond,
		FlushCheckInterval:     time.Duration(broker.LogFlushSchedulerIntervalMs) * time.Millisecond,
		CheckpointInterval:     time.Duration(broker.LogFlushOffsetCheckpointIntervalMs) * time.Millisecond,
	})
	if err != nil {
		return fmt.Errorf("opening data directory %s: %w", cfg.DataDir, err)
	}
	topicDefaults, err := cfg.ResolveTopic(nil)
	if err != nil {
		return errors.Join(err, logs.Close())
	}
	// Open (and, after an unclean stop, recover) every partition on disk.
	tps, err := logs.Partitions()
	if err != nil {
		return errors.Join(err, logs.Close())
	}
	for _, tp := range tps {
		if _, err := logs.OpenLog(tp, log.ConfigFromTopic(topicDefaults)); err != nil {
			return errors.Join(fmt.Errorf("opening %s: %w", tp, err), logs.Close())
		}
	}
	logger.Info("weir node started",
		"node_id", cfg.NodeID, "data_dir", cfg.DataDir, "partitions", len(tps),
		"clean_shutdown", logs.CleanShutdown())
	logger.Warn("the Kafka listener is not implemented yet (it arrives with the broker issue); this node only maintains its data directory",
		"kafka_addr", cfg.Listeners.Kafka)

	<-ctx.Done()
	logger.Info("shutting down")
	if err := logs.Close(); err != nil {
		return fmt.Errorf("shutting down: %w", err)
	}
	logger.Info("clean shutdown complete")
	return nil
}
