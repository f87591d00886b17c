package main

import (
	"encoding/json"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/weirmq/weir/core/log"
	"github.com/weirmq/weir/core/record"
)

// TestTopicDescribeShowsTheCleanersDirtyRatio serves a node's log cleaner
// state with serve's handler over a real log manager, and checks that
// `weir topic describe --http` adds the DIRTY-RATIO column from it, and
// leaves the column out when the listener does not answer.
func TestTopicDescribeShowsTheCleanersDirtyRatio(t *testing.T) {
	seeds, _ := testCluster(t)
	name := uniqueTopic(t, "dirty")
	t.Cleanup(func() { runWeir(t, seeds, "", "topic", "delete", name, "--if-exists") })
	mustWeir(t, seeds, "", "topic", "create", name, "--partitions", "2", "--config", "cleanup.policy=compact")

	// The node hosts partition 0 compacted and all dirty, partition 1
	// with the delete policy.
	m, err := log.OpenManager(t.TempDir(), log.ManagerOptions{Logger: slog.New(slog.DiscardHandler), DisableBackgroundWorker: true})
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	cfg := log.DefaultConfig()
	cfg.SegmentIndexBytes = 4096
	compact := cfg
	compact.CleanupCompact, compact.CleanupDelete = true, false
	l0, err := m.OpenLog(log.TopicPartition{Topic: name, Partition: 0}, compact)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := m.OpenLog(log.TopicPartition{Topic: name, Partition: 1}, cfg); err != nil {
		t.Fatal(err)
	}
	b := record.NewBuilder(record.BuilderOptions{})
	b.Append([]byte("k"), []byte("v"), time.Now().UnixMilli(), nil)
	batch, err := b.Build(nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := l0.AppendAsLeader(batch, 0); err != nil {
		t.Fatal(err)
	}
	if err := l0.Roll(); err != nil {
		t.Fatal(err)
	}
	mux := http.NewServeMux()
	mux.Handle("GET /v1/topics/{topic}/cleaner", cleanerStatusHandler(m))
	srv := httptest.NewServer(mux)
	defer srv.Close()
	addr := strings.TrimPrefix(srv.URL, "http://")

	// The endpoint itself.
	resp, err := http.Get(srv.URL + "/v1/topics/" + name + "/cleaner")
	if err != nil {
		t.Fatal(err)
	}
	var body struct {
		Partitions []log.PartitionCleanerState `json:"partitions"`
	}
	err = json.NewDecoder(resp.Body).Decode(&body)
	resp.Body.Close()
	if err != nil || len(body.Partitions) != 2 || body.Partitions[0].DirtyRatio != 1 || !body.Partitions[0].Compact ||
		body.Partitions[0].DirtyBytes == 0 || body.Partitions[1].Compact {
		t.Fatalf("GET cleaner: %v %+v", err, body)
	}
	if resp, err := http.Get(srv.URL + "/v1/topics/elsewhere/cleaner"); err != nil || resp.StatusCode != http.StatusNotFound {
		t.Fatalf("a topic the node does not host: %v %v", resp.StatusCode, err)
	}

	out := mustWeir(t, seeds, "", "topic", "describe", name, "--http", addr)
	rows := partitionRows(out)
	if !strings.Contains(out, "DIRTY-RATIO") || len(rows) != 2 || len(rows[0]) != 8 || rows[0][7] != "1.00" || rows[1][7] != "-" {
		t.Fatalf("describe with the node's HTTP listener:\n%s", out)
	}
	// Nothing listening there: no column.
	srv.Close()
	out = mustWeir(t, seeds, "", "topic", "describe", name, "--http", addr)
	if rows := partitionRows(out); strings.Contains(out, "DIRTY-RATIO") || len(rows) != 2 || len(rows[0]) != 7 {
		t.Fatalf("describe without a reachable listener:\n%s", out)
	}
}
