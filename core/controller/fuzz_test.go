package controller

import (
	"os"
	"path/filepath"
	"reflect"
	"testing"
)

// FuzzReplay: any bytes as metadata.log open without error or panic, into
// a usable controller whose file then replays to the same image.
func FuzzReplay(f *testing.F) {
	skipSyncForTesting.Store(true)
	f.Cleanup(func() { skipSyncForTesting.Store(false) })
	dir := f.TempDir()
	opts := testOptions(nil)
	l, err := OpenLocal(dir, opts)
	if err != nil {
		f.Fatal(err)
	}
	submit(f, l, CreateTopic{Name: "a", ID: id(1), Partitions: []PartitionAssignment{{Replicas: []int32{1}}}, Configs: map[string]string{"segment.ms": "1000"}})
	submit(f, l, AllocateProducerIDs{Count: 7})
	l.Close()
	valid, err := os.ReadFile(filepath.Join(dir, LogFileName))
	if err != nil {
		f.Fatal(err)
	}
	snap, _ := l.Image().MarshalJSON()
	snapFrame, _ := encodeFrame(recordSnapshot, snap)
	f.Add(valid)
	f.Add(valid[:len(valid)-3])
	f.Add(snapFrame)
	f.Add(append(snapFrame, valid[:40]...))
	f.Add([]byte{})
	f.Add([]byte{0, 0, 0, 1, 0, 0, 0, 0, 1})
	f.Add([]byte{0xff, 0xff, 0xff, 0xff, 1, 2, 3, 4})
	f.Fuzz(func(t *testing.T, data []byte) {
		dir := t.TempDir()
		path := filepath.Join(dir, LogFileName)
		if err := os.WriteFile(path, data, 0o644); err != nil {
			t.Fatal(err)
		}
		opts := testOptions(nil)
		opts.SnapshotEvery = 3
		l, err := OpenLocal(dir, opts)
		if err != nil {
			t.Fatalf("OpenLocal: %v", err)
		}
		img := l.Image()
		if img.ClusterID() == "" {
			t.Fatal("no cluster ID")
		}
		if b, ok := img.Broker(1); !ok || b.Port != 9092 {
			t.Fatalf("node not registered: %+v", b)
		}
		if _, err := img.MarshalJSON(); err != nil {
			t.Fatal(err)
		}
		if err := l.Close(); err != nil {
			t.Fatal(err)
		}
		l2, err := OpenLocal(dir, opts)
		if err != nil {
			t.Fatalf("second OpenLocal: %v", err)
		}
		defer l2.Close()
		if !reflect.DeepEqual(l2.Image(), img) {
			t.Fatal("second open gives another image")
		}
	})
}

// FuzzUnmarshalCommand: decoding never panics, and what decodes applies
// (or fails) without panicking and survives another round trip.
func FuzzUnmarshalCommand(f *testing.F) {
	for _, c := range script() {
		data, _ := MarshalCommand(c)
		f.Add(data)
	}
	base := cluster(f)
	f.Fuzz(func(t *testing.T, data []byte) {
		cmd, err := UnmarshalCommand(data)
		if err != nil {
			return
		}
		base.Apply(cmd)
		again, err := MarshalCommand(cmd)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := UnmarshalCommand(again); err != nil {
			t.Fatalf("re-encoded command does not decode: %v\n%s", err, again)
		}
	})
}
