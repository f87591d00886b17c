package main

import (
	"fmt"
	"log/slog"
	"path/filepath"
	"time"

	"github.com/weirmq/weir/core/config"
	"github.com/weirmq/weir/core/controller"
)

// openController opens this node's Raft controller in <data_dir>/raft: a
// voter when cfg.Cluster.Voters lists node_id, a non-voter otherwise,
// listening on the controller listener and dialling other nodes with dial.
//
// A quorum of one (the default) elects itself within ~100 ms: there is
// nobody to disagree with, so its Raft timeouts are short. Larger quorums
// use 500 ms heartbeat and election timeouts, trading a little tolerance
// of slow networks for failover within a second or two.
func openController(cfg *config.Config, broker config.Broker, dial dialFunc, logger *slog.Logger) (*controller.Raft, error) {
	opts := controller.RaftOptions{
		NodeID:   cfg.NodeID,
		Voters:   cfg.Cluster.Voters,
		BindAddr: cfg.Listeners.Controller,
		Dial:     dial,
		Logger:   logger.With("component", "controller"),
	}
	if !isVoter(cfg) {
		opts.AdvertiseAddr = cfg.Listeners.Controller
	}
	opts.SetBrokerConfig(broker)
	if len(cfg.Cluster.Voters) == 1 {
		opts.HeartbeatTimeout, opts.ElectionTimeout, opts.LeaderLeaseTimeout = 100*time.Millisecond, 100*time.Millisecond, 100*time.Millisecond
	} else {
		opts.HeartbeatTimeout, opts.ElectionTimeout, opts.LeaderLeaseTimeout = 500*time.Millisecond, 500*time.Millisecond, 250*time.Millisecond
	}
	dir := filepath.Join(cfg.DataDir, "raft")
	r, err := controller.OpenRaft(dir, opts)
	if err != nil {
		return nil, fmt.Errorf("opening the controller in %s: %w", dir, err)
	}
	return r, nil
}

func isVoter(cfg *config.Config) bool {
	for _, v := range cfg.Cluster.Voters {
		if v.ID == cfg.NodeID {
			return true
		}
	}
	return false
}
