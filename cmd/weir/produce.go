package main

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strings"
	"sync"
	"syscall"

	"github.com/spf13/cobra"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/weirmq/weir/producer"
)

type produceFlags struct {
	keySeparator string
	headers      []string
	acks         string
	partition    int32
	compression  string
	nullValue    string
	httpAddr     string
	cacheDir     string
}

func newProduceCommand() *cobra.Command {
	var (
		cf clientFlags
		f  produceFlags
	)
	cmd := &cobra.Command{
		Use:   "produce TOPIC",
		Short: "Produce lines from stdin to a topic, one record per line",
		Long: `Read stdin and produce one record per line ("\n" or "\r\n" ends a line and is
not part of the record; an empty line is an empty record).

With --key-separator SEP, the part of a line before the first SEP is the
record's key and the rest its value; a line without SEP has a null key.
With --null-value MARKER, a value equal to MARKER is sent as a null value
(a tombstone for compacted topics).

Records go to the partition the topic's partitioner (its weir.partitioner
config) picks, unless --partition is given. The built-ins run here:
murmur2 (the default: by key hash as the Java client, sticky for records
without a key), uniform-sticky (the same) and roundrobin. A WASM plugin
partitioner is fetched from the node's HTTP API (--http) and run here, so
records land exactly where the broker's own producers would put them; a
go-plugin partitioner runs only inside the broker (use the HTTP produce
endpoint, POST /v1/topics/TOPIC/records, or --partition). Against a broker
without weir.partitioner the client's default partitioner is used.
The producer asks the broker to auto-create a missing topic; brokers with
auto.create.topics.enable=false answer UNKNOWN_TOPIC_OR_PARTITION instead.

At the end a summary (records, bytes of keys and values) goes to stderr.
If any record fails, reading stops, the first Kafka error is shown and the
exit status is 1. SIGINT or SIGTERM stop reading; records already read are
still delivered.`,
		Example: `  printf 'k1:v1\nk2:v2\n' | weir produce orders --key-separator : --header source=cli
  weir produce orders --partition 0 --acks 1 --compression zstd < lines.txt`,
		Args: argsOrUsage(cobra.ExactArgs(1)),
		RunE: func(cmd *cobra.Command, args []string) error {
			return runProduce(cmd, &cf, &f, args[0])
		},
	}
	addClientFlags(cmd, &cf)
	fl := cmd.Flags()
	fl.StringVar(&f.keySeparator, "key-separator", "", "split each line at the first SEP into key and value (unset: no key)")
	fl.StringArrayVar(&f.headers, "header", nil, "add header key=value to every record (repeatable)")
	fl.StringVar(&f.acks, "acks", "all", "acknowledgements to wait for: all, 1 or 0 (1 and 0 turn off idempotent writes)")
	fl.Int32Var(&f.partition, "partition", -1, "produce every record to this partition; -1 leaves it to the client's default partitioner")
	fl.StringVar(&f.compression, "compression", "none", "batch compression: none, gzip, snappy, lz4 or zstd")
	fl.StringVar(&f.nullValue, "null-value", "", "send a value equal to this marker as null (off unless given)")
	httpDef := httpAPIAddrDefault
	if v := strings.TrimSpace(os.Getenv(httpAPIEnv)); v != "" {
		httpDef = v
	}
	fl.StringVar(&f.httpAddr, "http", httpDef, "the node's HTTP listener, to fetch a plugin partitioner from; $"+httpAPIEnv+" sets the default")
	fl.StringVar(&f.cacheDir, "cache-dir", defaultPluginCache(), "the compilation cache for a fetched WASM partitioner (\"\" for none)")
	return cmd
}

// producerOptions turns the flags into client options, or a usage error.
func (f *produceFlags) producerOptions(cmd *cobra.Command, cf *clientFlags) ([]kgo.Opt, error) {
	opts := []kgo.Opt{
		kgo.AllowAutoTopicCreation(),
		kgo.RecordDeliveryTimeout(cf.timeout),
	}
	switch f.acks {
	case "all", "-1":
		opts = append(opts, kgo.RequiredAcks(kgo.AllISRAcks()))
	case "1":
		opts = append(opts, kgo.RequiredAcks(kgo.LeaderAck()), kgo.DisableIdempotentWrite())
	case "0":
		opts = append(opts, kgo.RequiredAcks(kgo.NoAck()), kgo.DisableIdempotentWrite())
	default:
		return nil, usageError(cmd, "--acks must be all, 1 or 0, got %q", f.acks)
	}
	codecs := map[string]kgo.CompressionCodec{
		"none":   kgo.NoCompression(),
		"gzip":   kgo.GzipCompression(),
		"snappy": kgo.SnappyCompression(),
		"lz4":    kgo.Lz4Compression(),
		"zstd":   kgo.ZstdCompression(),
	}
	codec, ok := codecs[f.compression]
	if !ok {
		return nil, usageError(cmd, "--compression must be none, gzip, snappy, lz4 or zstd, got %q", f.compression)
	}
	opts = append(opts, kgo.ProducerBatchCompression(codec))
	switch {
	case f.partition < -1:
		return nil, usageError(cmd, "--partition must be 0 or more (or -1 for the default partitioner), got %d", f.partition)
	case f.partition >= 0:
		opts = append(opts, kgo.RecordPartitioner(kgo.ManualPartitioner()))
	}
	return opts, nil
}

// produceTally counts delivery results; the client calls its promise from
// its own goroutines.
type produceTally struct {
	failedCh chan struct{} // closed at the first failure
	mu       struct {
		sync.Mutex
		delivered, failed int
		bytes             int64
		firstErr          error
	}
}

func (t *produceTally) promise(r *kgo.Record, err error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if err != nil {
		if t.mu.failed == 0 {
			t.mu.firstErr = err
			close(t.failedCh)
		}
		t.mu.failed++
		return
	}
	t.mu.delivered++
	t.mu.bytes += int64(len(r.Key) + len(r.Value))
}

func runProduce(cmd *cobra.Command, cf *clientFlags, f *produceFlags, topic string) error {
	opts, err := f.producerOptions(cmd, cf)
	if err != nil {
		return err
	}
	headers := make([]kgo.RecordHeader, 0, len(f.headers))
	for _, h := range f.headers {
		k, v, err := parseKeyValue(h)
		if err != nil {
			return usageError(cmd, "--header: %v", err)
		}
		headers = append(headers, kgo.RecordHeader{Key: k, Value: []byte(v)})
	}
	useNull := cmd.Flags().Changed("null-value")
	sigCtx, stop := signal.NotifyContext(cmd.Context(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if f.partition < 0 {
		popt, closePartitioner, err := topicPartitioner(sigCtx, cmd, cf, f, topic)
		if err != nil {
			return err
		}
		defer closePartitioner()
		opts = append(opts, popt...)
	}
	cl, err := cf.connect(sigCtx, cmd, opts...)
	if err != nil {
		return err
	}
	defer cl.Close()

	// Lines are read on their own goroutine so that a signal can end the
	// loop while a read blocks. The goroutine ends at EOF or a read error;
	// after a signal it may stay blocked in Read until the process exits.
	done := make(chan struct{})
	defer close(done)
	lines := make(chan []byte, 64)
	readErr := make(chan error, 1)
	go readLines(cmd.InOrStdin(), lines, readErr, done)

	tally := &produceTally{failedCh: make(chan struct{})}
	sent := 0
	interrupted := false
loop:
	for {
		select {
		case <-sigCtx.Done():
			interrupted = true
			break loop
		case <-tally.failedCh:
			break loop
		case line, ok := <-lines:
			if !ok {
				break loop
			}
			r := &kgo.Record{Topic: topic, Value: line, Headers: headers}
			if f.keySeparator != "" {
				if k, v, found := bytes.Cut(line, []byte(f.keySeparator)); found {
					r.Key, r.Value = k, v
				}
			}
			if useNull && string(r.Value) == f.nullValue {
				r.Value = nil
			}
			if f.partition >= 0 {
				r.Partition = f.partition
			}
			sent++
			// Not sigCtx: records already read are delivered after a signal.
			cl.Produce(cmd.Context(), r, tally.promise)
		}
	}
	stop() // a second signal now ends the process at once
	var rerr error
	if !interrupted {
		select {
		case rerr = <-readErr:
		default:
		}
	}
	if err := cl.Flush(cmd.Context()); err != nil {
		return fmt.Errorf("waiting for deliveries: %w", err)
	}

	tally.mu.Lock()
	defer tally.mu.Unlock()
	stderr := cmd.ErrOrStderr()
	fmt.Fprintf(stderr, "produced %d records (%d bytes) to %s", tally.mu.delivered, tally.mu.bytes, topic)
	if interrupted {
		fmt.Fprint(stderr, " (interrupted)")
	}
	fmt.Fprintln(stderr)
	if tally.mu.failed > 0 {
		err := tally.mu.firstErr
		hint := ""
		if errors.Is(err, kerr.UnknownTopicOrPartition) {
			hint = fmt.Sprintf(" (does the topic exist? create it with `weir topic create %s`)", topic)
		}
		return fmt.Errorf("%d of %d records to %q failed; first error: %w%s", tally.mu.failed, sent, topic, err, hint)
	}
	if rerr != nil {
		return fmt.Errorf("reading stdin: %w", rerr)
	}
	return nil
}

// readLines sends each line of r, without its "\n" or "\r\n", on lines and
// closes it at EOF; a read error goes to errc first. It returns early when
// done is closed.
func readLines(r io.Reader, lines chan<- []byte, errc chan<- error, done <-chan struct{}) {
	defer close(lines)
	br := bufio.NewReaderSize(r, 64<<10)
	for {
		line, err := br.ReadBytes('\n')
		if len(line) > 0 {
			if line[len(line)-1] == '\n' {
				line = bytes.TrimSuffix(line[:len(line)-1], []byte("\r"))
			}
			select {
			case lines <- line:
			case <-done:
				return
			}
		}
		if err != nil {
			if !errors.Is(err, io.EOF) {
				errc <- err
			}
			return
		}
	}
}

// topicPartitioner returns the client option that places records with
// the topic's partitioner, and a function releasing it. It asks the
// cluster for the topic's weir.partitioner (creating the topic when the
// broker auto-creates topics, as producing would). Built-ins run as
// franz-go's equivalents; a WASM plugin is fetched from the node's HTTP
// API. A topic that does not exist yet, or a broker that does not answer
// (or is not Weir), keeps the client's default partitioner, so that the
// produce itself reports the problem.
func topicPartitioner(ctx context.Context, cmd *cobra.Command, cf *clientFlags, f *produceFlags, topic string) ([]kgo.Opt, func(), error) {
	none := func() {}
	cl, err := cf.connect(ctx, cmd)
	if err != nil {
		return nil, none, err
	}
	lctx, cancel := cf.requestContext(ctx)
	info, err := producer.DescribeTopic(lctx, cl, topic, true)
	cancel()
	cl.Close()
	switch {
	case errors.Is(err, producer.ErrUnknownTopic):
		return nil, none, nil
	case err != nil:
		fmt.Fprintf(cmd.ErrOrStderr(), "warning: cannot read the partitioner of %q (%v); using the client's default\n", topic, err)
		return nil, none, nil
	}
	switch info.Partitioner {
	case "murmur2", "uniform-sticky":
		// franz-go's default places keyed records by murmur2 exactly as
		// these do, and keeps keyless records sticky.
		return nil, none, nil
	case "roundrobin":
		return []kgo.Opt{kgo.RecordPartitioner(kgo.RoundRobinPartitioner())}, none, nil
	}
	fctx, cancel := cf.requestContext(ctx)
	defer cancel()
	fetched, err := producer.FetchPartitioner(fctx, f.httpAddr, topic, producer.FetchOptions{Logger: newStderrLogger(cmd.ErrOrStderr()), CacheDir: f.cacheDir})
	if err != nil {
		return nil, none, fmt.Errorf("topic %q uses partitioner %q: %w", topic, info.Partitioner, err)
	}
	fmt.Fprintf(cmd.ErrOrStderr(), "placing records with partitioner %s (%s, from %s)\n", info.Partitioner, fetched.Info.Source, f.httpAddr)
	release := func() { fetched.Close(context.Background()) }
	return []kgo.Opt{kgo.RecordPartitioner(producer.Partitioner(fetched.Partitioner))}, release, nil
}
