package main

import (
	"os"
	"os/exec"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"
)

func TestConsumeFormatsRoundTripKeysValuesAndHeaders(t *testing.T) {
	seeds, _ := testCluster(t)
	topic := createTopic(t, seeds, "formats", 1)
	input := "k1=v1\nk2=v=2\nno key here\nk4=\xff\xfe\n"
	r := runWeir(t, seeds, input, "produce", topic, "--key-separator", "=",
		"--header", "source=cli", "--header", "eq=a=b")
	if r.err != nil {
		t.Fatal(r.err)
	}
	if !strings.Contains(r.stderr, "produced 4 records") {
		t.Fatalf("stderr %q", r.stderr)
	}

	consume := func(format string) string {
		return mustWeir(t, seeds, "", "consume", topic, "--count", "4", "--format", format)
	}
	if got, want := consume("value"), "v1\nv=2\nno key here\n\xff\xfe\n"; got != want {
		t.Errorf("--format value: %q, want %q", got, want)
	}
	if got, want := consume("kv"), "k1\tv1\nk2\tv=2\n\tno key here\nk4\t\xff\xfe\n"; got != want {
		t.Errorf("--format kv: %q, want %q", got, want)
	}
	tmpl := `{{.Topic}} {{.Partition}}/{{.Offset}} {{.Key}}={{.Value}}{{range .Headers}} {{.Key}}:{{.Value}}{{end}}`
	if got, want := consume(tmpl), topic+" 0/0 k1=v1 source:cli eq:a=b\n"; !strings.HasPrefix(got, want) {
		t.Errorf("--format template: %q, want it to start %q", got, want)
	}

	recs := consumedJSON(t, seeds, topic, 4)
	for i, rec := range recs {
		if rec.Topic != topic || rec.Partition != 0 || rec.Offset != int64(i) {
			t.Errorf("record %d at %s/%d/%d", i, rec.Topic, rec.Partition, rec.Offset)
		}
		if age := time.Since(time.UnixMilli(rec.Timestamp)); age < 0 || age > time.Minute {
			t.Errorf("record %d timestamp %d is not recent", i, rec.Timestamp)
		}
		if len(rec.Headers) != 2 || rec.Headers[0].Key != "source" || *rec.Headers[0].Value != "cli" ||
			rec.Headers[1].Key != "eq" || *rec.Headers[1].Value != "a=b" {
			t.Errorf("record %d headers %+v", i, rec.Headers)
		}
	}
	if recs[1].Key == nil || *recs[1].Key != "k2" || *recs[1].Value != "v=2" {
		t.Errorf("record 1: %+v", recs[1])
	}
	if recs[2].Key != nil || *recs[2].Value != "no key here" {
		t.Errorf("record 2 (no separator): %+v, want a null key", recs[2])
	}
	if recs[3].ValueEncoding != "base64" || *recs[3].Value != "//4=" || recs[3].KeyEncoding != "" {
		t.Errorf("record 3 (binary value): %+v, want base64 //4=", recs[3])
	}
}

func TestConsumeFromOffsetTimestampAndLatest(t *testing.T) {
	seeds, _ := testCluster(t)
	topic := createTopic(t, seeds, "from", 1)
	mustWeir(t, seeds, "a\nb\nc\n", "produce", topic)
	time.Sleep(20 * time.Millisecond) // so that d's timestamp is after c's
	mustWeir(t, seeds, "d\ne\n", "produce", topic)
	all := consumedJSON(t, seeds, topic, 5)

	if got := values(consumedJSON(t, seeds, topic, 3, "--from", "2")); !slices.Equal(got, []string{"c", "d", "e"}) {
		t.Errorf("--from 2: %q", got)
	}
	at := "@" + strconv.FormatInt(all[3].Timestamp, 10)
	if got := values(consumedJSON(t, seeds, topic, 2, "--from", at)); !slices.Equal(got, []string{"d", "e"}) {
		t.Errorf("--from %s: %q", at, got)
	}
	if got := values(consumedJSON(t, seeds, topic, 1, "--from", "4", "--partition", "0")); !slices.Equal(got, []string{"e"}) {
		t.Errorf("--from 4 --partition 0: %q", got)
	}
	// latest: nothing old is printed; without --count an idle stop is success,
	// with --count it is a failure naming how far it got.
	if out := mustWeir(t, seeds, "", "consume", topic, "--from", "latest", "--idle", "300ms"); out != "" {
		t.Errorf("--from latest printed %q", out)
	}
	r := runWeir(t, seeds, "", "consume", topic, "--from", "latest", "--count", "1", "--idle", "300ms")
	wantError(t, r, "stopped after 0 of 1 records")
}

func TestConsumeAsAGroupCommitsWhatItPrinted(t *testing.T) {
	seeds, _ := testCluster(t)
	topic := createTopic(t, seeds, "group", 2)
	var lines []string
	for i := range 6 {
		lines = append(lines, "k"+strconv.Itoa(i)+"=v"+strconv.Itoa(i))
	}
	mustWeir(t, seeds, strings.Join(lines, "\n")+"\n", "produce", topic, "--key-separator", "=")
	group := uniqueTopic(t, "group")

	first := consumedJSON(t, seeds, topic, 4, "--group", group)
	second := consumedJSON(t, seeds, topic, 2, "--group", group)
	got := append(values(first), values(second)...)
	slices.Sort(got)
	if want := []string{"v0", "v1", "v2", "v3", "v4", "v5"}; !slices.Equal(got, want) {
		t.Fatalf("two group runs read %q, want each record once: %q", got, want)
	}
	// Everything is committed: a third run finds nothing.
	if out := mustWeir(t, seeds, "", "consume", topic, "--group", group, "--idle", "2s"); out != "" {
		t.Fatalf("third group run printed %q, want nothing", out)
	}
}

func TestConsumeMissingTopicOrPartitionFails(t *testing.T) {
	seeds, _ := testCluster(t)
	missing := uniqueTopic(t, "missing")
	wantError(t, runWeir(t, seeds, "", "consume", missing, "--idle", "1s"), "UNKNOWN_TOPIC_OR_PARTITION", missing)
	topic := createTopic(t, seeds, "one", 1)
	wantError(t, runWeir(t, seeds, "", "consume", topic, "--partition", "3"), "no partition 3", "UNKNOWN_TOPIC_OR_PARTITION")
}

func TestConsumeStopsCleanlyOnSIGINTAndCommits(t *testing.T) {
	seeds, _ := testCluster(t)
	bin := buildWeir(t)
	topic := createTopic(t, seeds, "sigint", 1)
	group := uniqueTopic(t, "group")
	mustWeir(t, seeds, "first\n", "produce", topic)

	var stdout, stderr syncBuffer
	cmd := exec.Command(bin, "consume", topic, "--group", group, "--brokers", seeds)
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(20 * time.Second)
	for stdout.String() != "first\n" {
		if time.Now().After(deadline) {
			cmd.Process.Kill()
			t.Fatalf("consume printed %q; stderr:\n%s", stdout.String(), stderr.String())
		}
		time.Sleep(20 * time.Millisecond)
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
		t.Fatalf("consume did not exit after SIGINT; stderr:\n%s", stderr.String())
	}
	// The printed record was committed before exiting.
	mustWeir(t, seeds, "second\n", "produce", topic)
	if got := values(consumedJSON(t, seeds, topic, 1, "--group", group)); !slices.Equal(got, []string{"second"}) {
		t.Fatalf("after the interrupted run the group reads %q, want [second]", got)
	}
}
