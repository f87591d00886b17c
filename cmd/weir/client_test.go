package main

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kfake"
)

// The client command tests run the cobra commands in-process against an
// in-memory kfake cluster, or, when WEIR_TEST_BROKERS is set (comma-separated
// host:port, as franz-go's KGO_SEEDS), against that running broker: a Weir
// node or any Kafka-compatible broker. They make uniquely named topics and
// delete them afterwards, so they can share a broker.
const testBrokersEnv = "WEIR_TEST_BROKERS"

// testCluster returns the seed brokers for a test and whether they are an
// external broker. A kfake cluster, given opts, is closed when the test ends.
func testCluster(t *testing.T, opts ...kfake.Opt) (seeds string, external bool) {
	t.Helper()
	if s := os.Getenv(testBrokersEnv); s != "" {
		return s, true
	}
	c, err := kfake.NewCluster(append([]kfake.Opt{kfake.NumBrokers(1)}, opts...)...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Close)
	return strings.Join(c.ListenAddrs(), ","), false
}

// result is what one `weir ...` run produced.
type result struct {
	stdout, stderr string
	err            error
}

// runWeir runs the weir root command in-process with args, stdin, and
// --brokers seeds --timeout 10s appended.
func runWeir(t *testing.T, seeds, stdin string, args ...string) result {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 60*time.Second)
	defer cancel()
	root := newRootCommand()
	var stdout, stderr bytes.Buffer
	root.SetIn(strings.NewReader(stdin))
	root.SetOut(&stdout)
	root.SetErr(&stderr)
	root.SetArgs(append(append([]string(nil), args...), "--brokers", seeds, "--timeout", "10s"))
	err := root.ExecuteContext(ctx)
	return result{stdout: stdout.String(), stderr: stderr.String(), err: err}
}

// mustWeir is runWeir failing the test on an error; it returns stdout.
func mustWeir(t *testing.T, seeds, stdin string, args ...string) string {
	t.Helper()
	r := runWeir(t, seeds, stdin, args...)
	if r.err != nil {
		t.Fatalf("weir %s: %v\nstderr:\n%s", strings.Join(args, " "), r.err, r.stderr)
	}
	return r.stdout
}

// wantError fails the test unless the run failed with an error containing
// every one of parts.
func wantError(t *testing.T, r result, parts ...string) {
	t.Helper()
	if r.err == nil {
		t.Fatalf("succeeded, want an error containing %q\nstdout:\n%s", parts, r.stdout)
	}
	for _, p := range parts {
		if !strings.Contains(r.err.Error(), p) {
			t.Fatalf("error %q does not contain %q", r.err, p)
		}
	}
}

// uniqueTopic returns base with a random suffix.
func uniqueTopic(t *testing.T, base string) string {
	t.Helper()
	b := make([]byte, 4)
	if _, err := rand.Read(b); err != nil {
		t.Fatal(err)
	}
	return base + "-" + hex.EncodeToString(b)
}

// createTopic creates a uniquely named topic and deletes it when the test
// ends. It returns the name.
func createTopic(t *testing.T, seeds, base string, partitions int) string {
	t.Helper()
	name := uniqueTopic(t, base)
	mustWeir(t, seeds, "", "topic", "create", name, "--partitions", strconv.Itoa(partitions))
	t.Cleanup(func() { runWeir(t, seeds, "", "topic", "delete", name, "--if-exists") })
	return name
}

// eventually retries check until it returns "" or 10s pass; brokers may
// answer metadata from a slightly older view right after a change.
func eventually(t *testing.T, check func() string) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		msg := check()
		if msg == "" {
			return
		}
		if time.Now().After(deadline) {
			t.Fatal(msg)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func TestClientCommandsReportUnreachableBrokers(t *testing.T) {
	root := newRootCommand()
	var stdout, stderr bytes.Buffer
	root.SetOut(&stdout)
	root.SetErr(&stderr)
	root.SetArgs([]string{"topic", "list", "--brokers", "127.0.0.1:1", "--timeout", "1s"})
	start := time.Now()
	err := root.ExecuteContext(t.Context())
	wantError(t, result{stdout: stdout.String(), stderr: stderr.String(), err: err}, "cannot reach any of the brokers 127.0.0.1:1")
	if waited := time.Since(start); waited < time.Second {
		t.Fatalf("gave up after %v, before --timeout: a starting broker deserves retries", waited)
	}
}

func TestBrokersDefaultComesFromTheEnvironment(t *testing.T) {
	seeds, _ := testCluster(t)
	name := createTopic(t, seeds, "env", 1)
	t.Setenv(brokersEnv, seeds)
	root := newRootCommand()
	var stdout, stderr bytes.Buffer
	root.SetOut(&stdout)
	root.SetErr(&stderr)
	root.SetArgs([]string{"topic", "list"})
	if err := root.ExecuteContext(t.Context()); err != nil {
		t.Fatalf("topic list with %s=%s: %v\n%s", brokersEnv, seeds, err, stderr.String())
	}
	if !strings.Contains(stdout.String(), name) {
		t.Fatalf("topic list does not show %s:\n%s", name, stdout.String())
	}
}

func TestUsageMistakesPrintTheUsage(t *testing.T) {
	seeds, _ := testCluster(t)
	for _, args := range [][]string{
		{"topic", "create"},
		{"topic", "create", "a", "b"},
		{"topic", "create", "t", "--config", "novalue"},
		{"topic", "alter", "t"},
		{"topic", "describe"},
		{"topic", "nosuchcommand"},
		{"topic", "list", "--no-such-flag"},
		{"produce", "t", "--acks", "2"},
		{"produce", "t", "--compression", "brotli"},
		{"produce", "t", "--header", "=v"},
		{"produce"},
		{"consume", "t", "--format", "xml"},
		{"consume", "t", "--format", "{{.Nope"},
		{"consume", "t", "--from", "yesterday"},
		{"consume", "t", "--group", "g", "--partition", "0"},
		{"consume", "t", "--count", "x"},
	} {
		r := runWeir(t, seeds, "", args...)
		if r.err == nil {
			t.Errorf("weir %s: succeeded, want a usage error", strings.Join(args, " "))
			continue
		}
		if !strings.Contains(r.stderr, "Usage:") {
			t.Errorf("weir %s: %v; no usage on stderr:\n%s", strings.Join(args, " "), r.err, r.stderr)
		}
	}
}
