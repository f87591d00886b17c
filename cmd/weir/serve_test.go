package main

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// buildWeir builds the weir binary once per test run.
func buildWeir(t *testing.T) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "weir")
	out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput()
	if err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	return bin
}

func TestServeRejectsABadConfigNamingKeyAndLine(t *testing.T) {
	bin := buildWeir(t)
	dir := t.TempDir()
	cfg := filepath.Join(dir, "weir.toml")
	body := "node_id = 1\n\n[topic_defaults]\n\"segment.bytes\" = 10\n"
	if err := os.WriteFile(cfg, []byte(body), 0o644); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(bin, "serve", "--config", cfg, "--data-dir", filepath.Join(dir, "data"))
	out, err := cmd.CombinedOutput()
	if err == nil {
		t.Fatalf("serve accepted segment.bytes = 10:\n%s", out)
	}
	msg := string(out)
	if !strings.Contains(msg, "segment.bytes") || !strings.Contains(msg, ":4") {
		t.Fatalf("message does not name the key and line 4:\n%s", msg)
	}
	if _, err := os.Stat(filepath.Join(dir, "data")); !os.IsNotExist(err) {
		t.Fatal("the data directory was created despite the bad config")
	}
}

func TestServeShutsDownCleanlyOnSIGTERM(t *testing.T) {
	bin := buildWeir(t)
	data := filepath.Join(t.TempDir(), "data")
	for round := 0; round < 2; round++ {
		var stderr syncBuffer
		cmd := exec.Command(bin, "serve", "--data-dir", data, "--kafka-addr", "127.0.0.1:0",
			"--controller-addr", "127.0.0.1:0", "--http-addr", "127.0.0.1:0")
		cmd.Stderr = &stderr
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		deadline := time.Now().Add(10 * time.Second)
		for !strings.Contains(stderr.String(), "weir node started") {
			if time.Now().After(deadline) {
				cmd.Process.Kill()
				t.Fatalf("no start-up line:\n%s", stderr.String())
			}
			time.Sleep(20 * time.Millisecond)
		}
		if want := "clean_shutdown=" + map[int]string{0: "false", 1: "true"}[round]; !strings.Contains(stderr.String(), want) {
			t.Fatalf("round %d: start-up line lacks %s:\n%s", round, want, stderr.String())
		}
		if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
			t.Fatal(err)
		}
		if err := cmd.Wait(); err != nil {
			t.Fatalf("exit after SIGTERM: %v\n%s", err, stderr.String())
		}
		if _, err := os.Stat(filepath.Join(data, ".clean-shutdown")); err != nil {
			t.Fatalf("no clean-shutdown marker: %v", err)
		}
	}
}

// syncBuffer is a bytes.Buffer safe for one writer (the process's output
// copier) and a reader (the test).
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}
