package main

import (
	"regexp"
	"strings"
	"testing"
)

// listRow returns the `topic list` row for name as its fields, or nil.
func listRow(out, name string) []string {
	for _, line := range strings.Split(out, "\n") {
		if f := strings.Fields(line); len(f) > 0 && f[0] == name {
			return f
		}
	}
	return nil
}

// partitionRows returns the partition table rows of `topic describe`
// output, each as its fields.
func partitionRows(out string) [][]string {
	var rows [][]string
	digits := regexp.MustCompile(`^\s+\d+\s`)
	for _, line := range strings.Split(out, "\n") {
		if digits.MatchString(line) {
			rows = append(rows, strings.Fields(line))
		}
	}
	return rows
}

func TestTopicLifecycle(t *testing.T) {
	seeds, _ := testCluster(t)
	name := uniqueTopic(t, "lifecycle")
	t.Cleanup(func() { runWeir(t, seeds, "", "topic", "delete", name, "--if-exists") })

	out := mustWeir(t, seeds, "", "topic", "create", name, "--partitions", "3", "--replication-factor", "1",
		"--config", "retention.ms=3600000", "--config", "max.message.bytes=100000")
	if !strings.Contains(out, "created topic "+name) {
		t.Fatalf("create output: %q", out)
	}
	wantError(t, runWeir(t, seeds, "", "topic", "create", name), "TOPIC_ALREADY_EXISTS", name)
	mustWeir(t, seeds, "", "topic", "create", name, "--if-not-exists")

	eventually(t, func() string {
		out := mustWeir(t, seeds, "", "topic", "list")
		if row := listRow(out, name); len(row) < 3 || row[1] != "3" || row[2] != "1" {
			return "topic list, want " + name + " 3 1:\n" + out
		}
		return ""
	})

	// Two records in partition 0, so the describe shows a log end offset.
	mustWeir(t, seeds, "a\nb\n", "produce", name, "--partition", "0")
	out = mustWeir(t, seeds, "", "topic", "describe", name)
	rows := partitionRows(out)
	if len(rows) != 3 {
		t.Fatalf("describe shows %d partitions, want 3:\n%s", len(rows), out)
	}
	// PARTITION LEADER EPOCH REPLICAS ISR LOG-START LOG-END
	if r := rows[0]; len(r) != 7 || r[0] != "0" || r[5] != "0" || r[6] != "2" {
		t.Fatalf("partition 0 row %q, want offsets 0..2:\n%s", r, out)
	}
	if r := rows[1]; r[5] != "0" || r[6] != "0" || r[3] != r[4] || r[1] == "-1" {
		t.Fatalf("partition 1 row %q, want a leader, ISR = replicas, empty log:\n%s", r, out)
	}
	for _, want := range []string{"Topic: " + name, "retention.ms=3600000", "max.message.bytes=100000"} {
		if !strings.Contains(out, want) {
			t.Fatalf("describe lacks %q:\n%s", want, out)
		}
	}

	out = mustWeir(t, seeds, "", "topic", "alter", name, "--partitions", "5",
		"--set", "cleanup.policy=compact", "--delete", "retention.ms")
	for _, want := range []string{"now 5 partitions", "set cleanup.policy=compact", "deleted retention.ms"} {
		if !strings.Contains(out, want) {
			t.Fatalf("alter output lacks %q:\n%s", want, out)
		}
	}
	eventually(t, func() string {
		out := mustWeir(t, seeds, "", "topic", "describe", name)
		switch {
		case len(partitionRows(out)) != 5:
			return "describe after alter, want 5 partitions:\n" + out
		case !strings.Contains(out, "cleanup.policy=compact"), strings.Contains(out, "retention.ms=3600000"):
			return "describe after alter, want cleanup.policy=compact and no retention.ms override:\n" + out
		}
		return ""
	})
	wantError(t, runWeir(t, seeds, "", "topic", "alter", name, "--partitions", "2"), "INVALID_PARTITIONS")

	out = mustWeir(t, seeds, "", "topic", "delete", name)
	if !strings.Contains(out, "deleted topic "+name) {
		t.Fatalf("delete output: %q", out)
	}
	eventually(t, func() string {
		if out := mustWeir(t, seeds, "", "topic", "list"); listRow(out, name) != nil {
			return "topic list still shows the deleted topic:\n" + out
		}
		return ""
	})
	wantError(t, runWeir(t, seeds, "", "topic", "delete", name), "UNKNOWN_TOPIC_OR_PARTITION", name)
	mustWeir(t, seeds, "", "topic", "delete", name, "--if-exists")
	wantError(t, runWeir(t, seeds, "", "topic", "describe", name), "UNKNOWN_TOPIC_OR_PARTITION", name)
	wantError(t, runWeir(t, seeds, "", "topic", "alter", name, "--set", "retention.ms=1"), "UNKNOWN_TOPIC_OR_PARTITION")
}

func TestTopicDescribeShowsFoundTopicsAndFailsForMissingOnes(t *testing.T) {
	seeds, _ := testCluster(t)
	name := createTopic(t, seeds, "present", 1)
	missing := uniqueTopic(t, "missing")
	r := runWeir(t, seeds, "", "topic", "describe", name, missing)
	wantError(t, r, "UNKNOWN_TOPIC_OR_PARTITION", missing)
	if !strings.Contains(r.stdout, "Topic: "+name) || !strings.Contains(r.stdout, "Configs: all defaults") {
		t.Fatalf("describe of the present topic missing from the output:\n%s", r.stdout)
	}
}

func TestTopicListHidesInternalTopicsUnlessAll(t *testing.T) {
	seeds, external := testCluster(t)
	topic := createTopic(t, seeds, "visible", 1)
	internal := "__consumer_offsets"
	if external {
		// Committing a group's offsets makes a broker create __consumer_offsets.
		mustWeir(t, seeds, "x\n", "produce", topic)
		mustWeir(t, seeds, "", "consume", topic, "--group", uniqueTopic(t, "g"), "--count", "1")
	} else {
		// kfake has no __consumer_offsets; it marks topics internal by a config.
		internal = uniqueTopic(t, "internal")
		mustWeir(t, seeds, "", "topic", "create", internal, "--config", "kfake.is_internal=true")
	}
	eventually(t, func() string {
		all := mustWeir(t, seeds, "", "topic", "list", "--all")
		if listRow(all, internal) == nil || listRow(all, topic) == nil {
			return "topic list --all lacks " + internal + " or " + topic + ":\n" + all
		}
		return ""
	})
	if out := mustWeir(t, seeds, "", "topic", "list"); listRow(out, internal) != nil || listRow(out, topic) == nil {
		t.Fatalf("topic list shows %s or lacks %s:\n%s", internal, topic, out)
	}
}
