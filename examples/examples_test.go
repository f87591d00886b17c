package examples

import (
	"testing"

	"github.com/weirmq/weir/core/config"
)

// TestExampleConfigLoads keeps examples/weir.toml a valid configuration.
func TestExampleConfigLoads(t *testing.T) {
	cfg, err := config.Load("weir.toml")
	if err != nil {
		t.Fatal(err)
	}
	if cfg.NodeID != 2 || len(cfg.Cluster.Voters) != 3 {
		t.Fatalf("unexpected example: node %d, %d voters", cfg.NodeID, len(cfg.Cluster.Voters))
	}
}
