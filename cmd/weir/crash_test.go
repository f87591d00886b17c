package main

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
)

// weirProcess is a `weir serve` process on ports the kernel picks.
type weirProcess struct {
	cmd    *exec.Cmd
	stderr *syncBuffer
	addr   string
}

var kafkaAddrRE = regexp.MustCompile(`kafka_addr=(\S+)`)

func startWeir(t *testing.T, bin, data string) *weirProcess {
	t.Helper()
	p := &weirProcess{stderr: &syncBuffer{}}
	p.cmd = exec.Command(bin, "serve", "--data-dir", data, "--kafka-addr", "127.0.0.1:0",
		"--controller-addr", "127.0.0.1:0", "--http-addr", "127.0.0.1:0")
	p.cmd.Stderr = p.stderr
	if err := p.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { p.cmd.Process.Kill(); p.cmd.Wait() })
	deadline := time.Now().Add(20 * time.Second)
	for {
		if m := kafkaAddrRE.FindStringSubmatch(p.stderr.String()); m != nil && strings.Contains(p.stderr.String(), "weir node started") {
			p.addr = m[1]
			return p
		}
		if time.Now().After(deadline) {
			t.Fatalf("weir did not start:\n%s", p.stderr.String())
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func (p *weirProcess) kill9(t *testing.T) {
	t.Helper()
	if err := p.cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	p.cmd.Wait()
}

func (p *weirProcess) terminate(t *testing.T) {
	t.Helper()
	p.cmd.Process.Signal(syscall.SIGTERM)
	if err := p.cmd.Wait(); err != nil {
		t.Fatalf("weir exited with %v:\n%s", err, p.stderr.String())
	}
}

// produceAcked produces n records with acks=all while reporting which were
// acknowledged; it stops early at the first error.
func produceAcked(t *testing.T, addr, topic string, from, n int) []string {
	t.Helper()
	cl, err := kgo.NewClient(kgo.SeedBrokers(addr), kgo.AllowAutoTopicCreation(), kgo.RequiredAcks(kgo.AllISRAcks()),
		kgo.RecordRetries(3))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	var acked []string
	for i := from; i < from+n; i++ {
		v := fmt.Sprintf("record-%06d", i)
		if err := cl.ProduceSync(ctx, &kgo.Record{Topic: topic, Value: []byte(v)}).FirstErr(); err != nil {
			break
		}
		acked = append(acked, v)
	}
	return acked
}

func consumeAll(t *testing.T, addr, topic string, want int) []string {
	t.Helper()
	cl, err := kgo.NewClient(kgo.SeedBrokers(addr), kgo.ConsumeTopics(topic), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	var got []string
	for len(got) < want {
		fs := cl.PollFetches(ctx)
		if ctx.Err() != nil {
			t.Fatalf("consumed %d of %d", len(got), want)
		}
		fs.EachRecord(func(r *kgo.Record) { got = append(got, string(r.Value)) })
	}
	return got
}

// TestKill9LosesNoAcknowledgedRecord kills the broker with SIGKILL in the
// middle of its life and restarts it: every record acknowledged with
// acks=all before the kill is still there, in order.
func TestKill9LosesNoAcknowledgedRecord(t *testing.T) {
	bin := buildWeir(t)
	data := filepath.Join(t.TempDir(), "data")
	p := startWeir(t, bin, data)
	acked := produceAcked(t, p.addr, "durable", 0, 300)
	if len(acked) != 300 {
		t.Fatalf("only %d records acknowledged", len(acked))
	}
	p.kill9(t)

	p = startWeir(t, bin, data)
	if !strings.Contains(p.stderr.String(), "clean_shutdown=false") {
		t.Fatalf("restart after kill -9 not seen as unclean:\n%s", p.stderr.String())
	}
	more := produceAcked(t, p.addr, "durable", 300, 50)
	got := consumeAll(t, p.addr, "durable", len(acked)+len(more))
	want := append(acked, more...)
	if !sort.StringsAreSorted(got) || strings.Join(got, ",") != strings.Join(want, ",") {
		t.Fatalf("after kill -9 and restart: got %d records, want %d (first %v)", len(got), len(want), got[:min(3, len(got))])
	}
	p.terminate(t)
}

// TestTornTailIsTruncatedOnStart appends garbage to the active segment
// while the broker is down: on start it is cut off and every whole record
// is still served.
func TestTornTailIsTruncatedOnStart(t *testing.T) {
	bin := buildWeir(t)
	data := filepath.Join(t.TempDir(), "data")
	p := startWeir(t, bin, data)
	acked := produceAcked(t, p.addr, "torn", 0, 100)
	p.terminate(t)

	seg := filepath.Join(data, "torn-0", "00000000000000000000.log")
	f, err := os.OpenFile(seg, os.O_WRONLY|os.O_APPEND, 0)
	if err != nil {
		t.Fatal(err)
	}
	// Half a batch header's worth of plausible bytes, then junk.
	f.Write([]byte{0, 0, 0, 0, 0, 0, 0, 100, 0, 0, 0, 80, 0, 0, 0, 0, 2, 0xde, 0xad, 0xbe, 0xef})
	f.Close()
	// A torn write happens in a crash, not a clean stop: remove the marker
	// as a crash would have left no marker.
	os.Remove(filepath.Join(data, ".clean-shutdown"))

	p = startWeir(t, bin, data)
	got := consumeAll(t, p.addr, "torn", len(acked))
	if strings.Join(got, ",") != strings.Join(acked, ",") {
		t.Fatalf("after torn tail: got %d records, want %d", len(got), len(acked))
	}
	more := produceAcked(t, p.addr, "torn", 100, 5)
	if len(more) != 5 {
		t.Fatal("cannot produce after recovery")
	}
	p.terminate(t)
}
