package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/spf13/cobra"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
)

type consumeFlags struct {
	from      string
	partition int32
	group     string
	count     int
	format    string
	idle      time.Duration

	// assigned is set once a group member has been given partitions:
	// --idle counts from then, not from the join (which may wait for the
	// group's initial rebalance delay).
	assigned atomic.Bool
}

func newConsumeCommand() *cobra.Command {
	var (
		cf clientFlags
		f  consumeFlags
	)
	cmd := &cobra.Command{
		Use:   "consume TOPIC",
		Short: "Print a topic's records to stdout",
		Long: `Consume a topic and print its records to stdout.

Without --group the command reads the partitions directly (all of them, or
only --partition) and commits nothing. With --group it joins that consumer
group, reads the partitions the group assigns it, and commits the offsets of
the records it printed when it stops.

--from says where to start:
  earliest       the log start offset of each partition (the default)
  latest         the log end offset: only records produced from now on
  N              offset N in each partition (clamped to the log)
  @MS            the first record with a timestamp at or after MS, in
                 milliseconds since the Unix epoch
With --group, --from applies only to partitions the group has no committed
offset for.

--format says how each record is printed:
  value          the value, one per line (the default)
  kv             the key, a tab, the value
  json           one JSON object per line: topic, partition, offset,
                 timestamp (ms since the epoch), key, value (null when null)
                 and headers (a list of {"key","value"}); a key or value that
                 is not valid UTF-8 is base64 and flagged by "key_encoding"
                 or "value_encoding": "base64"
  a Go template  any --format containing "{{", run per record and followed by
                 a newline; fields .Topic .Partition .Offset .Timestamp
                 (time.Time) .Key .Value (strings) .Headers (list of .Key
                 .Value)

The command runs until SIGINT or SIGTERM (exit status 0), until --count
records have been printed, or, with --idle D, until no record has arrived for
D. Stopping on --idle before --count is reached exits with status 1, so that
scripts can wait for an expected number of records:
  weir consume orders --count 100 --idle 30s >out.txt || echo "short read"
With --count and stderr on a terminal, a progress line (records/total, rate)
is shown on stderr.`,
		Example: `  weir consume orders --from @1700000000000 --format json
  weir consume orders --group audit --count 10 --format kv
  weir consume orders --format '{{.Partition}}:{{.Offset}} {{.Key}}={{.Value}}'`,
		Args: argsOrUsage(cobra.ExactArgs(1)),
		RunE: func(cmd *cobra.Command, args []string) error {
			return runConsume(cmd, &cf, &f, args[0])
		},
	}
	addClientFlags(cmd, &cf)
	fl := cmd.Flags()
	fl.StringVar(&f.from, "from", "earliest", "where to start: earliest, latest, an offset N, or @MS (a timestamp in ms since the epoch)")
	fl.Int32Var(&f.partition, "partition", -1, "consume only this partition; -1 means all (not with --group)")
	fl.StringVar(&f.group, "group", "", "consume as a member of this consumer group and commit what was printed")
	fl.IntVar(&f.count, "count", 0, "stop after printing this many records (0: no limit)")
	fl.StringVar(&f.format, "format", "value", `record format: value, kv, json, or a Go text/template containing "{{"`)
	fl.DurationVar(&f.idle, "idle", 0, "stop after this long without a record, e.g. 5s (0: wait forever)")
	return cmd
}

// parseFrom parses --from.
func parseFrom(s string) (kgo.Offset, error) {
	switch {
	case s == "earliest":
		return kgo.NewOffset().AtStart(), nil
	case s == "latest":
		return kgo.NewOffset().AtEnd(), nil
	case strings.HasPrefix(s, "@"):
		ms, err := strconv.ParseInt(s[1:], 10, 64)
		if err != nil || ms < 0 {
			return kgo.Offset{}, fmt.Errorf("--from %q: want @ and a timestamp in milliseconds since the epoch", s)
		}
		return kgo.NewOffset().AfterMilli(ms), nil
	}
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil || n < 0 {
		return kgo.Offset{}, fmt.Errorf("--from %q: want earliest, latest, an offset (0 or more) or @timestamp-ms", s)
	}
	return kgo.NewOffset().At(n), nil
}

// consumerOptions turns the flags into client options, or a usage error.
func (f *consumeFlags) consumerOptions(cmd *cobra.Command, topic string) ([]kgo.Opt, error) {
	from, err := parseFrom(f.from)
	if err != nil {
		return nil, usageError(cmd, "%v", err)
	}
	if f.count < 0 {
		return nil, usageError(cmd, "--count must be 0 or more, got %d", f.count)
	}
	if f.idle < 0 {
		return nil, usageError(cmd, "--idle must be 0 or more, got %v", f.idle)
	}
	if f.partition < -1 {
		return nil, usageError(cmd, "--partition must be 0 or more (or -1 for all), got %d", f.partition)
	}
	partitionGiven := f.partition >= 0
	if partitionGiven && f.group != "" {
		return nil, usageError(cmd, "--partition and --group cannot be used together: a group decides the partitions")
	}
	switch {
	case f.group != "":
		return []kgo.Opt{
			kgo.ConsumerGroup(f.group),
			kgo.ConsumeTopics(topic),
			kgo.ConsumeResetOffset(from),
			// Commit exactly what was printed (marked), not what was polled.
			kgo.AutoCommitMarks(),
			kgo.OnPartitionsAssigned(func(context.Context, *kgo.Client, map[string][]int32) { f.assigned.Store(true) }),
		}, nil
	case partitionGiven:
		return []kgo.Opt{
			kgo.ConsumePartitions(map[string]map[int32]kgo.Offset{topic: {f.partition: from}}),
			kgo.ConsumeResetOffset(from),
		}, nil
	default:
		return []kgo.Opt{kgo.ConsumeTopics(topic), kgo.ConsumeResetOffset(from)}, nil
	}
}

func runConsume(cmd *cobra.Command, cf *clientFlags, f *consumeFlags, topic string) error {
	opts, err := f.consumerOptions(cmd, topic)
	if err != nil {
		return err
	}
	format, err := newRecordFormatter(f.format)
	if err != nil {
		return usageError(cmd, "--format: %v", err)
	}
	sigCtx, stop := signal.NotifyContext(cmd.Context(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	cl, err := cf.connect(sigCtx, cmd, opts...)
	if err != nil {
		return err
	}
	defer cl.Close()
	if err := checkConsumable(sigCtx, cf, kadm.NewClient(cl), topic, f.partition); err != nil {
		if sigCtx.Err() != nil {
			return nil
		}
		return err
	}

	out := bufio.NewWriter(cmd.OutOrStdout())
	var prog *progress
	if f.count > 0 && isTerminal(cmd.ErrOrStderr()) {
		prog = &progress{w: cmd.ErrOrStderr(), total: f.count, start: time.Now()}
	}
	n := 0
	idled := false
	var fetchErr error
	for (f.count == 0 || n < f.count) && fetchErr == nil {
		pctx, cancel := sigCtx, context.CancelFunc(func() {})
		if f.idle > 0 {
			pctx, cancel = context.WithTimeout(sigCtx, f.idle)
		}
		limit := -1
		if f.count > 0 {
			limit = f.count - n
		}
		fetches := cl.PollRecords(pctx, limit)
		cancel()
		got := 0
		var werr error
		fetches.EachRecord(func(r *kgo.Record) {
			if werr != nil || (f.count > 0 && n >= f.count) {
				return
			}
			if werr = format(out, r); werr != nil {
				return
			}
			n++
			got++
			if f.group != "" {
				cl.MarkCommitRecords(r)
			}
		})
		if werr != nil {
			return fmt.Errorf("writing stdout: %w", werr)
		}
		if err := out.Flush(); err != nil {
			return fmt.Errorf("writing stdout: %w", err)
		}
		prog.update(n, false)
		for _, fe := range fetches.Errors() {
			if errors.Is(fe.Err, context.Canceled) || errors.Is(fe.Err, context.DeadlineExceeded) || errors.Is(fe.Err, kgo.ErrClientClosed) {
				continue
			}
			// Informational: consumption goes on after these.
			var dataLoss *kgo.ErrDataLoss
			var session *kgo.ErrGroupSession
			if errors.As(fe.Err, &dataLoss) || errors.As(fe.Err, &session) {
				fmt.Fprintf(cmd.ErrOrStderr(), "weir: warning: %v\n", fe.Err)
				continue
			}
			fetchErr = fmt.Errorf("fetching %s partition %d: %w", fe.Topic, fe.Partition, withBrokerMessage(fe.Err, ""))
			break
		}
		if sigCtx.Err() != nil {
			break
		}
		if got == 0 && pctx.Err() != nil {
			if f.group != "" && !f.assigned.Load() {
				continue // still joining the group
			}
			idled = true
			break
		}
	}
	prog.update(n, true)

	if f.group != "" {
		cctx, cancel := cf.requestContext(cmd.Context())
		defer cancel()
		if err := cl.CommitMarkedOffsets(cctx); err != nil {
			return errors.Join(fetchErr, fmt.Errorf("committing offsets for group %q: %w", f.group, withBrokerMessage(err, "")))
		}
	}
	if fetchErr != nil {
		return fetchErr
	}
	if idled && f.count > 0 && n < f.count {
		return fmt.Errorf("stopped after %d of %d records: none arrived for %v", n, f.count, f.idle)
	}
	return nil
}

// checkConsumable fails with UNKNOWN_TOPIC_OR_PARTITION when the topic, or
// the given partition (p >= 0), does not exist: the consumer itself would
// wait for it silently.
func checkConsumable(ctx context.Context, cf *clientFlags, adm *kadm.Client, topic string, p int32) error {
	rctx, cancel := cf.requestContext(ctx)
	defer cancel()
	tds, err := adm.ListTopicsWithInternal(rctx, topic)
	if err != nil {
		return fmt.Errorf("looking up topic %q: %w", topic, err)
	}
	td, ok := tds[topic]
	if !ok {
		return fmt.Errorf("topic %q: %w", topic, withBrokerMessage(kerr.UnknownTopicOrPartition, ""))
	}
	if td.Err != nil {
		return fmt.Errorf("topic %q: %w", topic, withBrokerMessage(td.Err, ""))
	}
	if _, ok := td.Partitions[p]; p >= 0 && !ok {
		return fmt.Errorf("topic %q has %d partitions, no partition %d: %w", topic, len(td.Partitions), p,
			withBrokerMessage(kerr.UnknownTopicOrPartition, ""))
	}
	return nil
}

// progress draws "records/total, rate" on one terminal line. A nil
// *progress draws nothing.
type progress struct {
	w     io.Writer
	total int
	start time.Time
	drawn time.Time
}

// update redraws the line at most ten times a second; final always draws
// and ends the line.
func (p *progress) update(n int, final bool) {
	if p == nil {
		return
	}
	now := time.Now()
	if !final && now.Sub(p.drawn) < 100*time.Millisecond {
		return
	}
	p.drawn = now
	rate := 0.0
	if secs := now.Sub(p.start).Seconds(); secs > 0 {
		rate = float64(n) / secs
	}
	fmt.Fprintf(p.w, "\r\x1b[K%d/%d records  %.0f records/s", n, p.total, rate)
	if final {
		fmt.Fprintln(p.w)
	}
}
