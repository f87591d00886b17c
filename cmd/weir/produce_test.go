package main

import (
	"encoding/json"
	"os"
	"os/exec"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kfake"
)

// consumedJSON consumes count records of topic as --format json (plus
// extra flags) and decodes them.
func consumedJSON(t *testing.T, seeds, topic string, count int, extra ...string) []jsonRecord {
	t.Helper()
	args := append([]string{"consume", topic, "--format", "json", "--count", strconv.Itoa(count), "--idle", "10s"}, extra...)
	out := mustWeir(t, seeds, "", args...)
	var recs []jsonRecord
	for _, line := range strings.Split(strings.TrimSuffix(out, "\n"), "\n") {
		if line == "" {
			continue
		}
		var r jsonRecord
		if err := json.Unmarshal([]byte(line), &r); err != nil {
			t.Fatalf("consume --format json printed %q: %v", line, err)
		}
		recs = append(recs, r)
	}
	if len(recs) != count {
		t.Fatalf("consumed %d records, want %d:\n%s", len(recs), count, out)
	}
	return recs
}

func values(recs []jsonRecord) []string {
	var vs []string
	for _, r := range recs {
		if r.Value == nil {
			vs = append(vs, "<null>")
		} else {
			vs = append(vs, *r.Value)
		}
	}
	return vs
}

func TestProduceReportsRecordsAndBytes(t *testing.T) {
	seeds, _ := testCluster(t)
	topic := createTopic(t, seeds, "summary", 1)
	// "\r\n" ends a line too; a final line without "\n" is still a record;
	// an empty line is an empty record.
	r := runWeir(t, seeds, "k1:v1\r\n\nk2:value2", "produce", topic, "--key-separator", ":")
	if r.err != nil {
		t.Fatal(r.err)
	}
	if want := "produced 3 records (12 bytes) to " + topic; !strings.Contains(r.stderr, want) {
		t.Fatalf("stderr %q, want %q", r.stderr, want)
	}
	got := values(consumedJSON(t, seeds, topic, 3))
	if want := []string{"v1", "", "value2"}; !slices.Equal(got, want) {
		t.Fatalf("values %q, want %q", got, want)
	}
}

func TestProduceToAMissingTopicFailsWithTheKafkaError(t *testing.T) {
	seeds, external := testCluster(t)
	if external {
		t.Skip("needs a broker with auto.create.topics.enable=false; kfake only")
	}
	missing := uniqueTopic(t, "missing")
	r := runWeir(t, seeds, "a\nb\n", "produce", missing)
	wantError(t, r, "UNKNOWN_TOPIC_OR_PARTITION", missing, "weir topic create")
	if strings.Contains(r.err.Error(), "goroutine") || !strings.Contains(r.stderr, "produced 0 records") {
		t.Fatalf("error %q, stderr %q", r.err, r.stderr)
	}
}

func TestProduceAutoCreatesWhereTheBrokerAllowsIt(t *testing.T) {
	if os.Getenv(testBrokersEnv) != "" {
		t.Skip("depends on the broker's auto.create.topics.enable")
	}
	seeds, _ := testCluster(t, kfake.AllowAutoTopicCreation())
	topic := uniqueTopic(t, "auto")
	mustWeir(t, seeds, "a\n", "produce", topic)
	if got := values(consumedJSON(t, seeds, topic, 1)); !slices.Equal(got, []string{"a"}) {
		t.Fatalf("values %q", got)
	}
}

func TestProduceWithEveryCompressionAcksAndAnExplicitPartition(t *testing.T) {
	seeds, _ := testCluster(t)
	topic := createTopic(t, seeds, "codecs", 2)
	var want []string
	for _, codec := range []string{"none", "gzip", "snappy", "lz4", "zstd"} {
		for _, acks := range []string{"all", "1", "0"} {
			if acks == "0" && codec != "none" {
				continue // nothing acknowledges acks=0; one run is enough
			}
			line := codec + "-" + acks
			want = append(want, line)
			mustWeir(t, seeds, line+"\n", "produce", topic, "--partition", "1",
				"--compression", codec, "--acks", acks)
		}
	}
	got := values(consumedJSON(t, seeds, topic, len(want), "--partition", "1"))
	if !slices.Equal(got, want) {
		t.Fatalf("partition 1 holds %q, want %q", got, want)
	}
	// Partition 0 got nothing: an idle stop without --count is success.
	if out := mustWeir(t, seeds, "", "consume", topic, "--partition", "0", "--idle", "300ms"); out != "" {
		t.Fatalf("partition 0 holds %q, want nothing", out)
	}
	wantError(t, runWeir(t, seeds, "x\n", "produce", topic, "--partition", "7"), "1 of 1 records")
}

func TestProduceNullValueMarker(t *testing.T) {
	seeds, _ := testCluster(t)
	topic := createTopic(t, seeds, "tombstones", 1)
	mustWeir(t, seeds, "k1=v1\nk1=NULL\nNULL\n", "produce", topic, "--key-separator", "=", "--null-value", "NULL")
	recs := consumedJSON(t, seeds, topic, 3)
	if got, want := values(recs), []string{"v1", "<null>", "<null>"}; !slices.Equal(got, want) {
		t.Fatalf("values %q, want %q", got, want)
	}
	if recs[1].Key == nil || *recs[1].Key != "k1" || recs[2].Key != nil {
		t.Fatalf("keys %v %v, want k1 and null", recs[1].Key, recs[2].Key)
	}
}

func TestProduceStopsCleanlyOnSIGINT(t *testing.T) {
	seeds, _ := testCluster(t)
	bin := buildWeir(t)
	topic := createTopic(t, seeds, "sigint", 1)
	var stderr syncBuffer
	cmd := exec.Command(bin, "produce", topic, "--brokers", seeds)
	cmd.Stderr = &stderr
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer stdin.Close()
	if _, err := stdin.Write([]byte("typed\n")); err != nil {
		t.Fatal(err)
	}
	// Wait for the record to arrive; stdin stays open, as at a terminal.
	if got := values(consumedJSON(t, seeds, topic, 1)); !slices.Equal(got, []string{"typed"}) {
		t.Fatalf("consumed %q", got)
	}
	if err := cmd.Process.Signal(os.Interrupt); err != nil {
		t.Fatal(err)
	}
	waited := make(chan error, 1)
	go func() { waited <- cmd.Wait() }()
	select {
	case err := <-waited:
		if err != nil {
			t.Fatalf("exit after SIGINT: %v\nstderr:\n%s", err, stderr.String())
		}
	case <-time.After(20 * time.Second):
		cmd.Process.Kill()
		t.Fatalf("produce did not exit after SIGINT; stderr:\n%s", stderr.String())
	}
	if want := "produced 1 records (5 bytes) to " + topic + " (interrupted)"; !strings.Contains(stderr.String(), want) {
		t.Fatalf("stderr %q, want %q", stderr.String(), want)
	}
}
