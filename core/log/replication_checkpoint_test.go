package log

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestOffsetCheckpointRoundTripsInKafkasFormat(t *testing.T) {
	path := filepath.Join(t.TempDir(), ReplicationCheckpointFile)
	if got, err := ReadOffsetCheckpoint(path); err != nil || len(got) != 0 {
		t.Fatalf("missing file: %v %v", got, err)
	}
	want := map[TopicPartition]int64{
		{Topic: "orders", Partition: 10}:            7,
		{Topic: "orders", Partition: 2}:             123456789012,
		{Topic: "__consumer_offsets", Partition: 0}: 0,
	}
	if err := WriteOffsetCheckpoint(path, want); err != nil {
		t.Fatal(err)
	}
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	// Kafka's layout: version, count, then "topic partition offset" lines
	// (sorted here, so the file is the same for the same offsets).
	if s := string(data); s != "0\n3\n__consumer_offsets 0 0\norders 2 123456789012\norders 10 7\n" {
		t.Fatalf("file:\n%s", s)
	}
	got, err := ReadOffsetCheckpoint(path)
	if err != nil || len(got) != len(want) {
		t.Fatalf("read back %v %v", got, err)
	}
	for tp, o := range want {
		if got[tp] != o {
			t.Fatalf("%v: %d, want %d", tp, got[tp], o)
		}
	}
	if _, err := os.Stat(path + ".tmp"); !os.IsNotExist(err) {
		t.Fatalf("temporary file left behind: %v", err)
	}
}

func TestOffsetCheckpointRefusesMalformedFiles(t *testing.T) {
	dir := t.TempDir()
	for name, body := range map[string]string{
		"version":         "1\n1\nt 0 5\n",
		"count":           "0\n3\nt 0 5\n",
		"fields":          "0\n1\nt 0\n",
		"negative offset": "0\n1\nt 0 -5\n",
		"negative part":   "0\n1\nt -1 5\n",
		"not a number":    "0\n1\nt 0 five\n",
		"garbage":         "\x00\x01\x02",
		"huge count":      "0\n99999999999\n",
	} {
		path := filepath.Join(dir, strings.ReplaceAll(name, " ", "-"))
		if err := os.WriteFile(path, []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
		_, err := ReadOffsetCheckpoint(path)
		if err == nil || !strings.Contains(err.Error(), path) {
			t.Errorf("%s: err = %v, want an error naming the file", name, err)
		}
	}
	if err := WriteOffsetCheckpoint(filepath.Join(dir, "x"), map[TopicPartition]int64{{Topic: "a b", Partition: 0}: 1}); err == nil {
		t.Error("a topic name with a space was written")
	}
}
