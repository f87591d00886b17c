package main

// Broker benchmarks: Weir against franz-go's in-memory kfake, the same
// client and workload on both, measured in the same run (`make bench`).
//
// Weir runs as a separate `weir serve` process, so that its CPU and memory
// are its own; kfake runs inside the test process. kfake therefore shares
// the benchmark's garbage collector and CPU with the client, while Weir's
// client and broker only share the machine. kfake is no Kafka: it keeps
// every record in memory and writes nothing, so it is a floor for "the
// protocol and nothing else", not a real broker.
//
// The reported metrics are weir-MB/s, kfake-MB/s (record value bytes, in
// 10^6 bytes per second, as `go test`'s own MB/s) and ratio (weir/kfake).
// ns/op is both brokers' time together per record, and B/op and allocs/op
// are the test process's (client and kfake), never Weir's.

import (
	"bufio"
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// benchValueSize is the size of every record value the benchmarks write.
const benchValueSize = 1 << 10

// benchWarmupRecords are produced (and consumed) on every broker before
// the first measurement: connections, metadata and the producer ID are in
// place by then.
const benchWarmupRecords = 1000

// benchBin is the weir binary the benchmarks run, built once per process.
// buildWeir builds one per test into the test's own temporary directory,
// which a benchmark cannot share with the next one.
var benchBin struct {
	once sync.Once
	dir  string
	path string
	err  error
}

// TestMain removes the binary the benchmarks built once everything in the
// package has run.
func TestMain(m *testing.M) {
	code := m.Run()
	if benchBin.dir != "" {
		os.RemoveAll(benchBin.dir)
	}
	os.Exit(code)
}

// benchWeirBinary returns the path of the weir binary, building it on the
// first call.
func benchWeirBinary(b *testing.B) string {
	b.Helper()
	benchBin.once.Do(func() {
		if benchBin.dir, benchBin.err = os.MkdirTemp("", "weir-bench-bin-"); benchBin.err != nil {
			return
		}
		benchBin.path = filepath.Join(benchBin.dir, "weir")
		if out, err := exec.Command("go", "build", "-o", benchBin.path, ".").CombinedOutput(); err != nil {
			benchBin.err = fmt.Errorf("go build: %v\n%s", err, out)
		}
	})
	if benchBin.err != nil {
		b.Fatal(benchBin.err)
	}
	return benchBin.path
}

// startBenchWeir runs `weir serve` with its data under dir, auto-created
// topics getting the given number of partitions, as startWeir does for
// the tests (which take a *testing.T).
func startBenchWeir(b *testing.B, bin, dir string, partitions int32) *weirProcess {
	b.Helper()
	cfg := filepath.Join(dir, "weir.toml")
	if err := os.WriteFile(cfg, fmt.Appendf(nil, "[broker]\n\"num.partitions\" = %d\n", partitions), 0o644); err != nil {
		b.Fatal(err)
	}
	p := &weirProcess{stderr: &syncBuffer{}}
	p.cmd = exec.Command(bin, "serve", "--config", cfg, "--data-dir", filepath.Join(dir, "data"),
		"--kafka-addr", "127.0.0.1:0", "--controller-addr", "127.0.0.1:0", "--http-addr", "127.0.0.1:0")
	p.cmd.Stderr = p.stderr
	if err := p.cmd.Start(); err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { p.cmd.Process.Kill(); p.cmd.Wait() })
	deadline := time.Now().Add(20 * time.Second)
	for {
		out := p.stderr.String()
		if m := kafkaAddrRE.FindStringSubmatch(out); m != nil && strings.Contains(out, "weir node started") {
			p.addr = m[1]
			return p
		}
		if time.Now().After(deadline) {
			b.Fatalf("weir did not start:\n%s", out)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// createWeirTopic creates topic on Weir by auto-creation (the node's
// num.partitions decides its partitions) and waits until every partition
// has a leader.
func createWeirTopic(b *testing.B, addr, topic string, partitions int32) {
	b.Helper()
	cl := newBenchClient(b, addr)
	defer cl.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	for {
		req := kmsg.NewPtrMetadataRequest()
		rt := kmsg.NewMetadataRequestTopic()
		rt.Topic = kmsg.StringPtr(topic)
		req.Topics = append(req.Topics, rt)
		req.AllowAutoTopicCreation = true
		resp, err := req.RequestWith(ctx, cl)
		if err == nil && len(resp.Topics) == 1 && resp.Topics[0].ErrorCode == 0 {
			ps := resp.Topics[0].Partitions
			if int32(len(ps)) != partitions {
				b.Fatalf("topic %s has %d partitions, want %d", topic, len(ps), partitions)
			}
			led := 0
			for _, p := range ps {
				if p.ErrorCode == 0 && p.Leader >= 0 {
					led++
				}
			}
			if led == len(ps) {
				return
			}
		}
		if ctx.Err() != nil {
			b.Fatalf("topic %s not ready on weir: %v", topic, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func newBenchClient(b *testing.B, addr string, opts ...kgo.Opt) *kgo.Client {
	b.Helper()
	cl, err := kgo.NewClient(append([]kgo.Opt{kgo.SeedBrokers(addr)}, opts...)...)
	if err != nil {
		b.Fatal(err)
	}
	return cl
}

// newBenchProducer returns a producer with acks=all, idempotent (the
// default), default linger and batching. Compression is off: the values
// are random, and the client's snappy attempt would only spend the
// shared CPU.
func newBenchProducer(b *testing.B, addr string) *kgo.Client {
	return newBenchClient(b, addr, kgo.RequiredAcks(kgo.AllISRAcks()),
		kgo.ProducerBatchCompression(kgo.NoCompression()))
}

// benchBroker is one broker under test: its address and its warm
// clients.
type benchBroker struct {
	addr     string
	producer *kgo.Client
	consumer *kgo.Client // nil until startConsumers
}

// benchPair is Weir and kfake with the same topic.
type benchPair struct {
	topic       string
	weir, kfake *benchBroker
	weirProc    *weirProcess

	closers []func() // run in reverse by close
	once    sync.Once
	dir     string
}

// close stops both brokers and their clients and removes Weir's data.
func (pr *benchPair) close() {
	pr.once.Do(func() {
		for i := len(pr.closers) - 1; i >= 0; i-- {
			pr.closers[i]()
		}
		os.RemoveAll(pr.dir)
	})
}

// newBenchPair starts a Weir process and a kfake cluster, each with topic
// of the given partitions, and warms a producer on each.
func newBenchPair(b *testing.B, partitions int32) *benchPair {
	b.Helper()
	dir, err := os.MkdirTemp("", "weir-bench-")
	if err != nil {
		b.Fatal(err)
	}
	pr := &benchPair{topic: "bench", dir: dir}
	b.Cleanup(pr.close)

	pr.weirProc = startBenchWeir(b, benchWeirBinary(b), dir, partitions)
	pr.closers = append(pr.closers, func() { pr.weirProc.cmd.Process.Kill(); pr.weirProc.cmd.Wait() })
	createWeirTopic(b, pr.weirProc.addr, pr.topic, partitions)
	pr.weir = &benchBroker{addr: pr.weirProc.addr}

	// kfake runs in this process: its GC work is the benchmark's too.
	c, err := kfake.NewCluster(kfake.NumBrokers(1), kfake.SeedTopics(partitions, pr.topic))
	if err != nil {
		b.Fatal(err)
	}
	pr.closers = append(pr.closers, c.Close)
	pr.kfake = &benchBroker{addr: c.ListenAddrs()[0]}

	for _, br := range pr.brokers() {
		br.producer = newBenchProducer(b, br.addr)
		pr.closers = append(pr.closers, br.producer.Close)
		if err := produceN(br.producer, pr.topic, benchValue(), benchWarmupRecords); err != nil {
			b.Fatalf("warming up the producer on %s: %v", br.addr, err)
		}
	}
	return pr
}

func (pr *benchPair) brokers() []*benchBroker { return []*benchBroker{pr.weir, pr.kfake} }

// startConsumers starts a direct consumer of every partition from the
// start on each broker, reads the warm-up records and pauses it: each
// measurement resumes it with its connections and metadata in place.
func (pr *benchPair) startConsumers(b *testing.B, partitions int32) {
	b.Helper()
	for _, br := range pr.brokers() {
		offsets := map[int32]kgo.Offset{}
		for p := range partitions {
			offsets[p] = kgo.NewOffset().At(0)
		}
		br.consumer = newBenchClient(b, br.addr, kgo.ConsumePartitions(map[string]map[int32]kgo.Offset{pr.topic: offsets}))
		pr.closers = append(pr.closers, br.consumer.Close)
		if err := consumeN(br.consumer, benchWarmupRecords); err != nil {
			b.Fatalf("warming up the consumer on %s: %v", br.addr, err)
		}
		br.consumer.PauseFetchTopics(pr.topic)
	}
}

// benchValue returns a random value of benchValueSize bytes. Every record
// shares it: the client does not modify values.
func benchValue() []byte {
	v := make([]byte, benchValueSize)
	rand.Read(v)
	return v
}

// produceN produces n records of value to topic, pipelined (Produce, then
// one Flush), and returns the first error any of them got.
func produceN(cl *kgo.Client, topic string, value []byte, n int) error {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	var mu sync.Mutex
	var first error
	promise := func(_ *kgo.Record, err error) {
		if err != nil {
			mu.Lock()
			if first == nil {
				first = err
			}
			mu.Unlock()
		}
	}
	for range n {
		cl.Produce(ctx, &kgo.Record{Topic: topic, Value: value}, promise)
	}
	err := cl.Flush(ctx)
	mu.Lock()
	defer mu.Unlock()
	return errors.Join(err, first)
}

// consumeN polls until it has n records, and fails on more: the consumer
// must see exactly what was produced since the last call.
func consumeN(cl *kgo.Client, n int) error {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	got := 0
	for got < n {
		fetches := cl.PollFetches(ctx)
		if ctx.Err() != nil {
			return fmt.Errorf("consumed %d of %d records: %w", got, n, ctx.Err())
		}
		var err error
		fetches.EachError(func(t string, p int32, e error) { err = errors.Join(err, fmt.Errorf("%s-%d: %w", t, p, e)) })
		if err != nil {
			return err
		}
		got += fetches.NumRecords()
	}
	if got != n {
		return fmt.Errorf("consumed %d records, want %d", got, n)
	}
	return nil
}

// benchRoundRecords is how many records each broker gets at a time. A
// measurement alternates between the brokers in rounds, the other one
// first in every other round, so that both see the same machine: on a
// shared, noisy machine measuring one after the other compares two
// different moments rather than two brokers.
const benchRoundRecords = 20000

// measure runs b.N records through both brokers in rounds of at most
// benchRoundRecords: prepare (untimed, may be nil) with the round's size,
// then run on each broker, timed separately. It reports both rates and
// their ratio.
func (pr *benchPair) measure(b *testing.B, prepare func(n int), run func(br *benchBroker, n int)) {
	b.Helper()
	brokers := pr.brokers()
	var took [2]time.Duration
	b.ResetTimer()
	for r, left := 0, b.N; left > 0; r++ {
		n := min(left, benchRoundRecords)
		left -= n
		if prepare != nil {
			b.StopTimer()
			prepare(n)
			b.StartTimer()
		}
		for j := range brokers {
			i := (j + r) % len(brokers)
			start := time.Now()
			run(brokers[i], n)
			took[i] += time.Since(start)
		}
	}
	b.StopTimer()
	mb := float64(b.N) * benchValueSize / 1e6
	w, k := mb/took[0].Seconds(), mb/took[1].Seconds()
	b.ReportMetric(w, "weir-MB/s")
	b.ReportMetric(k, "kfake-MB/s")
	b.ReportMetric(w/k, "ratio")
}

var benchPartitions = []int32{1, 6}

// BenchmarkBrokerProduce produces b.N records of 1 KiB with acks=all to
// Weir and to kfake and reports each one's rate.
func BenchmarkBrokerProduce(b *testing.B) {
	for _, partitions := range benchPartitions {
		pr := newBenchPair(b, partitions)
		value := benchValue()
		b.Run(fmt.Sprintf("partitions=%d", partitions), func(b *testing.B) {
			pr.measure(b, nil, func(br *benchBroker, n int) {
				if err := produceN(br.producer, pr.topic, value, n); err != nil {
					b.Fatalf("producing to %s: %v", br.addr, err)
				}
			})
		})
		pr.close()
	}
}

// BenchmarkBrokerConsume fills the topic on Weir and on kfake (untimed),
// then consumes what was added from each without a group, b.N records in
// all, and reports each one's rate.
func BenchmarkBrokerConsume(b *testing.B) {
	for _, partitions := range benchPartitions {
		pr := newBenchPair(b, partitions)
		pr.startConsumers(b, partitions)
		value := benchValue()
		b.Run(fmt.Sprintf("partitions=%d", partitions), func(b *testing.B) {
			fill := func(n int) {
				for _, br := range pr.brokers() {
					if err := produceN(br.producer, pr.topic, value, n); err != nil {
						b.Fatalf("filling %s: %v", br.addr, err)
					}
				}
			}
			pr.measure(b, fill, func(br *benchBroker, n int) {
				br.consumer.ResumeFetchTopics(pr.topic)
				err := consumeN(br.consumer, n)
				br.consumer.PauseFetchTopics(pr.topic)
				if err != nil {
					b.Fatalf("consuming from %s: %v", br.addr, err)
				}
			})
		})
		pr.close()
	}
}

// BenchmarkBrokerRSS writes 2 GiB of 1 KiB records with acks=all to a
// six-partition topic on Weir and reports the broker process's resident
// memory: rss-MiB at the end, hwm-MiB its peak. The data belongs in the
// page cache, not the heap. The work is 2 GiB whatever b.N is: run it with
// -benchtime=1x.
func BenchmarkBrokerRSS(b *testing.B) {
	const total = 2 << 30
	const records = total / benchValueSize
	const partitions = 6
	var st syscall.Statfs_t
	if err := syscall.Statfs(os.TempDir(), &st); err != nil {
		b.Fatal(err)
	}
	// Record and batch headers and the indexes come on top of the values.
	if free := st.Bavail * uint64(st.Bsize); free < total*5/4 {
		b.Skipf("%s has %d MiB free; writing 2 GiB needs %d MiB", os.TempDir(), free>>20, (total*5/4)>>20)
	}
	b.StopTimer()
	dir := b.TempDir()
	p := startBenchWeir(b, benchWeirBinary(b), dir, partitions)
	createWeirTopic(b, p.addr, "rss", partitions)
	cl := newBenchProducer(b, p.addr)
	defer cl.Close()
	value := benchValue()
	before, err := procStatus(p.cmd.Process.Pid)
	if err != nil {
		b.Fatal(err)
	}

	b.StartTimer()
	start := time.Now()
	if err := produceN(cl, "rss", value, records); err != nil {
		b.Fatal(err)
	}
	took := time.Since(start)
	b.StopTimer()

	after, err := procStatus(p.cmd.Process.Pid)
	if err != nil {
		b.Fatal(err)
	}
	logBytes := segmentBytes(b, filepath.Join(dir, "data"))
	if logBytes < total {
		b.Fatalf("the segment files hold %d bytes, fewer than the %d written", logBytes, int64(total))
	}
	b.ReportMetric(float64(after["VmRSS"])/1024, "rss-MiB")
	b.ReportMetric(float64(after["VmHWM"])/1024, "hwm-MiB")
	b.ReportMetric(float64(total)/1e6/took.Seconds(), "weir-MB/s")
	b.Logf("weir pid %d: VmRSS %d→%d KiB (anon %d, file %d, shmem %d), VmHWM %d KiB; %d MiB in segment files",
		p.cmd.Process.Pid, before["VmRSS"], after["VmRSS"], after["RssAnon"], after["RssFile"], after["RssShmem"],
		after["VmHWM"], logBytes>>20)
}

// segmentBytes returns the total size of the segment (.log) files under
// dir.
func segmentBytes(b *testing.B, dir string) int64 {
	b.Helper()
	var n int64
	err := filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() || filepath.Ext(path) != ".log" {
			return err
		}
		info, err := d.Info()
		if err == nil {
			n += info.Size()
		}
		return err
	})
	if err != nil {
		b.Fatal(err)
	}
	return n
}

// procStatus returns the kB-valued fields of /proc/<pid>/status.
func procStatus(pid int) (map[string]int64, error) {
	f, err := os.Open(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return nil, err
	}
	defer f.Close()
	m := map[string]int64{}
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		key, rest, ok := strings.Cut(sc.Text(), ":")
		fields := strings.Fields(rest)
		if !ok || len(fields) != 2 || fields[1] != "kB" {
			continue
		}
		if v, err := strconv.ParseInt(fields[0], 10, 64); err == nil {
			m[key] = v
		}
	}
	if _, ok := m["VmRSS"]; !ok {
		return nil, fmt.Errorf("/proc/%d/status has no VmRSS", pid)
	}
	return m, sc.Err()
}
