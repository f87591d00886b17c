package controller

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"
)

// syncBuffer is a log sink safe for concurrent writes.
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

// counterIDs returns a NewID that counts up from 1.
func counterIDs() func() [16]byte {
	var mu sync.Mutex
	var n uint64
	return func() [16]byte {
		mu.Lock()
		defer mu.Unlock()
		n++
		var id [16]byte
		binary.BigEndian.PutUint64(id[8:], n)
		return id
	}
}

func testOptions(logs *syncBuffer) LocalOptions {
	o := LocalOptions{NodeID: 1, Host: "localhost", Port: 9092, NewID: counterIDs()}
	if logs != nil {
		o.Logger = slog.New(slog.NewTextHandler(logs, nil))
	}
	return o
}

func openLocal(t testing.TB, dir string, opts LocalOptions) *Local {
	t.Helper()
	l, err := OpenLocal(dir, opts)
	if err != nil {
		t.Fatalf("OpenLocal: %v", err)
	}
	t.Cleanup(func() { l.Close() })
	return l
}

func submit(t testing.TB, l *Local, cmd Command) Result {
	t.Helper()
	res, err := l.Submit(context.Background(), cmd)
	if err != nil {
		t.Fatalf("Submit(%#v): %v", cmd, err)
	}
	return res
}

// workload submits commands of every kind through l.
func workload(t testing.TB, l *Local) {
	submit(t, l, RegisterBroker{ID: 2, Host: "h2", Port: 9092, Rack: "b"})
	for i := range 4 {
		a, err := AssignReplicas(l.Image().Brokers(), 3, 2, i)
		if err != nil {
			t.Fatal(err)
		}
		c := CreateTopic{Name: fmt.Sprintf("topic-%d", i), ID: l.NewTopicID(), Configs: map[string]string{"retention.ms": "1000"}}
		for _, r := range a {
			c.Partitions = append(c.Partitions, PartitionAssignment{Replicas: r})
		}
		submit(t, l, c)
	}
	t0, _ := l.Image().TopicByName("topic-0")
	submit(t, l, CreatePartitions{TopicID: t0.ID, Assignments: [][]int32{{2, 1}}})
	submit(t, l, AlterTopicConfigs{TopicID: t0.ID, Set: map[string]string{"cleanup.policy": "compact"}, Delete: []string{"retention.ms"}})
	submit(t, l, AlterBrokerConfigs{Set: map[string]string{"num.partitions": "3"}})
	submit(t, l, AllocateProducerIDs{Count: 1000})
	t1, _ := l.Image().TopicByName("topic-1")
	submit(t, l, DeleteTopic{ID: t1.ID})
}

func TestLocalFirstOpen(t *testing.T) {
	l := openLocal(t, t.TempDir(), testOptions(nil))
	img := l.Image()
	if want := "AAAAAAAAAAAAAAAAAAAAAQ"; img.ClusterID() != want {
		t.Errorf("cluster ID %q, want %q", img.ClusterID(), want)
	}
	b, ok := img.Broker(1)
	if want := (Broker{ID: 1, Host: "localhost", Port: 9092, Epoch: 2}); !ok || b != want || img.Offset() != 2 {
		t.Errorf("broker %+v at offset %d, want %+v", b, img.Offset(), want)
	}
	if id := l.NewTopicID(); id.IsZero() {
		t.Error("zero topic ID")
	}
	// The default NewID: random, version 4, Kafka-printable.
	o := testOptions(nil)
	o.NewID = nil
	r := openLocal(t, t.TempDir(), o)
	a, b2 := r.NewTopicID(), r.NewTopicID()
	if a == b2 || a.IsZero() || a[6]>>4 != 4 || strings.HasPrefix(a.String(), "-") || len(r.Image().ClusterID()) != 22 {
		t.Errorf("random IDs %v %v, cluster %q", a, b2, r.Image().ClusterID())
	}
}

func TestLocalReplay(t *testing.T) {
	dir := t.TempDir()
	opts := testOptions(nil)
	opts.SnapshotEvery = -1
	l := openLocal(t, dir, opts)
	workload(t, l)
	want := l.Image()
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	l2 := openLocal(t, dir, opts)
	if got := l2.Image(); !reflect.DeepEqual(got, want) {
		a, _ := got.MarshalJSON()
		b, _ := want.MarshalJSON()
		t.Fatalf("replayed image differs:\n%s\n%s", a, b)
	}
	l2.Close()

	// A new address re-registers the node.
	opts.Port = 9999
	l3 := openLocal(t, dir, opts)
	if b, _ := l3.Image().Broker(1); b.Port != 9999 || b.Epoch != want.Offset()+1 {
		t.Errorf("broker after re-registration: %+v", b)
	}
}

func TestLocalSubmitErrors(t *testing.T) {
	dir := t.TempDir()
	l := openLocal(t, dir, testOptions(nil))
	path := filepath.Join(dir, LogFileName)
	st, _ := os.Stat(path)
	before := l.Image()
	_, err := l.Submit(context.Background(), DeleteTopic{ID: id(9)})
	if !errors.Is(err, ErrUnknownTopic) {
		t.Fatalf("Submit: %v, want ErrUnknownTopic", err)
	}
	if st2, _ := os.Stat(path); st2.Size() != st.Size() || l.Image() != before {
		t.Errorf("a failed command changed the file (%d → %d bytes) or the image", st.Size(), st2.Size())
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := l.Submit(ctx, AllocateProducerIDs{Count: 1}); !errors.Is(err, context.Canceled) {
		t.Errorf("canceled Submit: %v", err)
	}

	// A write failure is sticky.
	l.sem <- struct{}{}
	l.mu.f.Close()
	<-l.sem
	if _, err := l.Submit(context.Background(), AllocateProducerIDs{Count: 1}); err == nil {
		t.Fatal("Submit to a closed file succeeded")
	}
	if _, err := l.Submit(context.Background(), AllocateProducerIDs{Count: 1}); err == nil || !strings.Contains(err.Error(), "refusing") {
		t.Errorf("second Submit after a failed write: %v", err)
	}
	if l.Image() != before {
		t.Error("the image changed after a failed write")
	}
}

func TestLocalClose(t *testing.T) {
	l := openLocal(t, t.TempDir(), testOptions(nil))
	img := l.Image()
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	if err := l.Close(); err != nil {
		t.Errorf("second Close: %v", err)
	}
	if _, err := l.Submit(context.Background(), AllocateProducerIDs{Count: 1}); !errors.Is(err, ErrClosed) {
		t.Errorf("Submit after Close: %v", err)
	}
	if l.Image() != img {
		t.Error("Image changed after Close")
	}
}

// buildLog submits commands one by one and returns the file size and
// image after each.
func buildLog(t *testing.T, dir string, opts LocalOptions) (sizes []int64, images []*Image) {
	l := openLocal(t, dir, opts)
	path := filepath.Join(dir, LogFileName)
	record := func() {
		st, err := os.Stat(path)
		if err != nil {
			t.Fatal(err)
		}
		sizes, images = append(sizes, st.Size()), append(images, l.Image())
	}
	record()
	submit(t, l, CreateTopic{Name: "a", ID: id(1), Partitions: []PartitionAssignment{{Replicas: []int32{1}}}})
	record()
	submit(t, l, AllocateProducerIDs{Count: 7})
	record()
	submit(t, l, CreateTopic{Name: "b", ID: id(2), Partitions: []PartitionAssignment{{Replicas: []int32{1}}, {Replicas: []int32{1}}}, Configs: map[string]string{"segment.ms": "1000"}})
	record()
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	return sizes, images
}

func TestLocalTornTail(t *testing.T) {
	src := t.TempDir()
	opts := testOptions(nil)
	sizes, images := buildLog(t, src, opts)
	data, err := os.ReadFile(filepath.Join(src, LogFileName))
	if err != nil {
		t.Fatal(err)
	}
	last := len(sizes) - 1
	for cut := sizes[last-1]; cut < sizes[last]; cut++ {
		dir := t.TempDir()
		path := filepath.Join(dir, LogFileName)
		if err := os.WriteFile(path, data[:cut], 0o644); err != nil {
			t.Fatal(err)
		}
		var logs syncBuffer
		o := testOptions(&logs)
		l, err := OpenLocal(dir, o)
		if err != nil {
			t.Fatalf("cut at %d: %v", cut, err)
		}
		if !reflect.DeepEqual(l.Image(), images[last-1]) {
			t.Fatalf("cut at %d: image differs from the one before the last command", cut)
		}
		if st, _ := os.Stat(path); st.Size() != sizes[last-1] {
			t.Fatalf("cut at %d: file is %d bytes, want %d", cut, st.Size(), sizes[last-1])
		}
		if cut > sizes[last-1] && !strings.Contains(logs.String(), "truncating") {
			t.Errorf("cut at %d: nothing logged: %s", cut, logs.String())
		}
		// The log goes on from there.
		submit(t, l, AllocateProducerIDs{Count: 1})
		want := l.Image()
		l.Close()
		l2 := openLocal(t, dir, o)
		if !reflect.DeepEqual(l2.Image(), want) {
			t.Fatalf("cut at %d: reopened image differs", cut)
		}
		l2.Close()
	}
}

// A corrupt record in the middle ends the replay there: the records after
// it are cut off (kept in metadata.log.discarded) and the broker starts
// with the image before it.
func TestLocalCorruptMiddle(t *testing.T) {
	dir := t.TempDir()
	sizes, images := buildLog(t, dir, testOptions(nil))
	path := filepath.Join(dir, LogFileName)
	data, _ := os.ReadFile(path)
	data[sizes[1]+12] ^= 0xff // inside the payload of the AllocateProducerIDs record
	os.WriteFile(path, data, 0o644)
	var logs syncBuffer
	l := openLocal(t, dir, testOptions(&logs))
	if !reflect.DeepEqual(l.Image(), images[1]) {
		t.Fatalf("image is not the one before the corrupt record")
	}
	if !strings.Contains(logs.String(), "checksum mismatch") {
		t.Errorf("log does not name the problem: %s", logs.String())
	}
	kept, err := os.ReadFile(path + ".discarded")
	if err != nil || !bytes.Equal(kept, data[sizes[1]:]) {
		t.Errorf("discarded bytes not kept: %v", err)
	}
}

// A valid record whose command no longer applies is skipped, and the
// records after it still replay.
func TestLocalSkipsFailingCommand(t *testing.T) {
	dir := t.TempDir()
	var file []byte
	for _, c := range []Command{
		InitCluster{ClusterID: "x"},
		RegisterBroker{ID: 1, Host: "localhost", Port: 9092},
		DeleteTopic{ID: id(5)},
		CreateTopic{Name: "a", ID: id(1), Partitions: []PartitionAssignment{{Replicas: []int32{1}}}},
	} {
		data, _ := MarshalCommand(c)
		frame, _ := encodeFrame(recordCommand, data)
		file = append(file, frame...)
	}
	os.WriteFile(filepath.Join(dir, LogFileName), file, 0o644)
	var logs syncBuffer
	l := openLocal(t, dir, testOptions(&logs))
	if _, ok := l.Image().TopicByName("a"); !ok || l.Image().Offset() != 3 {
		t.Errorf("topic a missing or offset %d", l.Image().Offset())
	}
	if !strings.Contains(logs.String(), "skipping") {
		t.Errorf("skip not logged: %s", logs.String())
	}
}

func TestLocalSnapshot(t *testing.T) {
	dir := t.TempDir()
	opts := testOptions(nil)
	opts.SnapshotEvery = 5
	l := openLocal(t, dir, opts)
	workload(t, l)
	for range 7 {
		submit(t, l, AllocateProducerIDs{Count: 3})
	}
	want := l.Image()
	l.Close()
	path := filepath.Join(dir, LogFileName)
	data, _ := os.ReadFile(path)
	records := 0
	scanFrames(bytes.NewReader(data), int64(len(data)), func(kind byte, _ []byte) error {
		if records == 0 && kind != recordSnapshot {
			t.Errorf("first record is of kind %d, want a snapshot", kind)
		}
		records++
		return nil
	})
	if records > 5 {
		t.Errorf("%d records after compaction, want at most 5", records)
	}
	os.WriteFile(path+".tmp", []byte("stale"), 0o644)
	l2 := openLocal(t, dir, opts)
	if !reflect.DeepEqual(l2.Image(), want) {
		t.Fatal("image after snapshot replay differs")
	}
	if _, err := os.Stat(path + ".tmp"); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("stale tmp file left: %v", err)
	}
}

func TestLocalWatch(t *testing.T) {
	l := openLocal(t, t.TempDir(), testOptions(nil))
	var seen [][2]*Image
	l.Watch(func(old, new *Image) { seen = append(seen, [2]*Image{old, new}) })
	if len(seen) != 1 || seen[0][0] != nil || seen[0][1] != l.Image() {
		t.Fatalf("first call %v", seen)
	}
	before := l.Image()
	submit(t, l, AllocateProducerIDs{Count: 1})
	l.Submit(context.Background(), DeleteTopic{ID: id(3)}) // fails: not seen
	if len(seen) != 2 || seen[1][0] != before || seen[1][1] != l.Image() {
		t.Fatalf("calls %v", seen)
	}
}

// A Submit waiting behind a slow one gives up when its context ends.
func TestLocalSubmitWaitsWithContext(t *testing.T) {
	l := openLocal(t, t.TempDir(), testOptions(nil))
	block, entered := make(chan struct{}), make(chan struct{})
	l.Watch(func(old, new *Image) {
		if old != nil {
			close(entered)
			<-block
		}
	})
	done := make(chan error)
	go func() {
		_, err := l.Submit(context.Background(), AllocateProducerIDs{Count: 1})
		done <- err
	}()
	<-entered
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
	defer cancel()
	if _, err := l.Submit(ctx, AllocateProducerIDs{Count: 1}); !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("waiting Submit: %v", err)
	}
	close(block)
	if err := <-done; err != nil {
		t.Error(err)
	}
}

func TestLocalConcurrentSubmit(t *testing.T) {
	dir := t.TempDir()
	opts := testOptions(nil)
	opts.SnapshotEvery = 10
	l := openLocal(t, dir, opts)
	var offsets []int64
	l.Watch(func(old, new *Image) {
		if old != nil {
			offsets = append(offsets, new.Offset())
		}
	})
	const workers, each = 8, 20
	firsts := make(chan int64, workers*each)
	var wg sync.WaitGroup
	for w := range workers {
		wg.Go(func() {
			for i := range each {
				if i%5 == 0 {
					name := fmt.Sprintf("t-%d-%d", w, i)
					submit(t, l, CreateTopic{Name: name, ID: l.NewTopicID(), Partitions: []PartitionAssignment{{Replicas: []int32{1}}}})
					continue
				}
				firsts <- submit(t, l, AllocateProducerIDs{Count: 2}).FirstProducerID
				_ = l.Image().TopicNames()
			}
		})
	}
	wg.Wait()
	close(firsts)
	seen := map[int64]bool{}
	for f := range firsts {
		if seen[f] || f%2 != 0 {
			t.Fatalf("producer ID %d handed out twice or misaligned", f)
		}
		seen[f] = true
	}
	for i := 1; i < len(offsets); i++ {
		if offsets[i] != offsets[i-1]+1 {
			t.Fatalf("watcher saw offsets out of order: %v", offsets)
		}
	}
	want := l.Image()
	if want.TopicCount() != workers*each/5 {
		t.Errorf("%d topics", want.TopicCount())
	}
	l.Close()
	if got := openLocal(t, dir, opts).Image(); !reflect.DeepEqual(got, want) {
		t.Fatal("reopened image differs")
	}
}

func TestOpenLocalBadRegistration(t *testing.T) {
	o := testOptions(nil)
	o.Host = ""
	if l, err := OpenLocal(t.TempDir(), o); !errors.Is(err, ErrInvalidBroker) {
		if l != nil {
			l.Close()
		}
		t.Fatalf("OpenLocal without a host: %v, want ErrInvalidBroker", err)
	}
}
