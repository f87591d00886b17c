package main

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/weirmq/weir/core/log"
)

func newTopicCommand() *cobra.Command {
	var cf clientFlags
	cmd := &cobra.Command{
		Use:   "topic",
		Short: "Create, list, describe, alter and delete topics on any Kafka-compatible broker",
		Long: `Manage topics with the Kafka admin APIs (CreateTopics, Metadata, ListOffsets,
DescribeConfigs, CreatePartitions, IncrementalAlterConfigs, DeleteTopics).
They work against Weir and against any Kafka-compatible broker.

Broker errors are shown by their Kafka name and the broker's message, e.g.
"TOPIC_ALREADY_EXISTS: Topic 'orders' already exists.", and make the
command exit with status 1.`,
		Args: cobra.ArbitraryArgs,
		RunE: helpOrUnknown,
	}
	addClientFlags(cmd, &cf)
	cmd.AddCommand(
		newTopicCreateCommand(&cf),
		newTopicListCommand(&cf),
		newTopicDescribeCommand(&cf),
		newTopicAlterCommand(&cf),
		newTopicDeleteCommand(&cf),
	)
	return cmd
}

func newTopicCreateCommand(cf *clientFlags) *cobra.Command {
	var (
		partitions  int32
		replication int16
		configs     []string
		ifNotExists bool
	)
	cmd := &cobra.Command{
		Use:   "create NAME",
		Short: "Create a topic",
		Long: `Create a topic. Without --partitions or --replication-factor the broker's
defaults (num.partitions, default.replication.factor) apply.`,
		Example: `  weir topic create orders --partitions 6 --config retention.ms=86400000`,
		Args:    argsOrUsage(cobra.ExactArgs(1)),
		RunE: func(cmd *cobra.Command, args []string) error {
			name := args[0]
			if cmd.Flags().Changed("partitions") && partitions < 1 {
				return usageError(cmd, "--partitions must be at least 1, got %d", partitions)
			}
			if cmd.Flags().Changed("replication-factor") && replication < 1 {
				return usageError(cmd, "--replication-factor must be at least 1, got %d", replication)
			}
			cfgs := make(map[string]*string, len(configs))
			for _, c := range configs {
				k, v, err := parseKeyValue(c)
				if err != nil {
					return usageError(cmd, "--config: %v", err)
				}
				cfgs[k] = &v
			}
			ctx, adm, done, err := cf.adminSession(cmd)
			if err != nil {
				return err
			}
			defer done()
			rs, err := adm.CreateTopics(ctx, partitions, replication, cfgs, name)
			if err != nil {
				return fmt.Errorf("creating topic %q: %w", name, err)
			}
			r, ok := rs[name]
			if !ok {
				return fmt.Errorf("creating topic %q: the broker's response does not mention it", name)
			}
			if r.Err != nil {
				if ifNotExists && errors.Is(r.Err, kerr.TopicAlreadyExists) {
					return nil
				}
				return fmt.Errorf("creating topic %q: %w", name, withBrokerMessage(r.Err, r.ErrMessage))
			}
			out := cmd.OutOrStdout()
			if r.NumPartitions > 0 && r.ReplicationFactor > 0 {
				fmt.Fprintf(out, "created topic %s: %d partitions, replication factor %d\n",
					name, r.NumPartitions, r.ReplicationFactor)
			} else {
				fmt.Fprintf(out, "created topic %s\n", name)
			}
			return nil
		},
	}
	fl := cmd.Flags()
	fl.Int32Var(&partitions, "partitions", -1, "number of partitions; -1 takes the broker's num.partitions")
	fl.Int16Var(&replication, "replication-factor", -1, "replicas per partition; -1 takes the broker's default.replication.factor")
	fl.StringArrayVar(&configs, "config", nil, "topic config key=value, by its Kafka name (repeatable)")
	fl.BoolVar(&ifNotExists, "if-not-exists", false, "succeed when the topic already exists")
	return cmd
}

func newTopicListCommand(cf *clientFlags) *cobra.Command {
	var all bool
	cmd := &cobra.Command{
		Use:   "list",
		Short: "List topics with their partition count and replication factor",
		Long: `List topics, sorted by name, with their partition count and replication
factor. Internal topics (such as __consumer_offsets) are hidden unless --all.`,
		Args: argsOrUsage(cobra.NoArgs),
		RunE: func(cmd *cobra.Command, _ []string) error {
			ctx, adm, done, err := cf.adminSession(cmd)
			if err != nil {
				return err
			}
			defer done()
			var tds kadm.TopicDetails
			if all {
				tds, err = adm.ListTopicsWithInternal(ctx)
			} else {
				tds, err = adm.ListTopics(ctx)
			}
			if err != nil {
				return fmt.Errorf("listing topics: %w", err)
			}
			tw := tabwriter.NewWriter(cmd.OutOrStdout(), 0, 4, 2, ' ', 0)
			fmt.Fprintln(tw, "TOPIC\tPARTITIONS\tREPLICATION-FACTOR")
			for _, td := range tds.Sorted() {
				if td.Err != nil {
					fmt.Fprintf(tw, "%s\t?\t?\t%v\n", td.Topic, withBrokerMessage(td.Err, ""))
					continue
				}
				fmt.Fprintf(tw, "%s\t%d\t%d\n", td.Topic, len(td.Partitions), td.Partitions.NumReplicas())
			}
			return tw.Flush()
		},
	}
	cmd.Flags().BoolVar(&all, "all", false, "include internal topics")
	return cmd
}

func newTopicDescribeCommand(cf *clientFlags) *cobra.Command {
	var httpAddr string
	cmd := &cobra.Command{
		Use:   "describe NAME...",
		Short: "Show topics' partitions, replicas, ISR, offsets and non-default configs",
		Long: `Show, for each topic: its id, and per partition the leader, leader epoch,
replicas, in-sync replicas, log start offset and log end offset (from
ListOffsets); then the topic's configs whose value is not the built-in default
(from DescribeConfigs), with where each comes from when that is not the topic
itself. A topic that does not exist is reported and the others still shown;
the exit status is then 1.

When a Weir node's HTTP listener answers at --http, a DIRTY-RATIO column
shows each compacted partition's share of cleanable bytes the log cleaner
has not compacted yet (not part of any Kafka API); otherwise it is left out.`,
		Args: argsOrUsage(cobra.MinimumNArgs(1)),
		RunE: func(cmd *cobra.Command, args []string) error {
			names := uniqueStrings(args)
			ctx, adm, done, err := cf.adminSession(cmd)
			if err != nil {
				return err
			}
			defer done()
			tds, err := adm.ListTopicsWithInternal(ctx, names...)
			if err != nil {
				return fmt.Errorf("describing topics: %w", err)
			}
			var found []string
			var errs []error
			for _, n := range names {
				td, ok := tds[n]
				switch {
				case !ok:
					errs = append(errs, fmt.Errorf("topic %q: %w", n, withBrokerMessage(kerr.UnknownTopicOrPartition, "")))
				case td.Err != nil:
					errs = append(errs, fmt.Errorf("topic %q: %w", n, withBrokerMessage(td.Err, "")))
				default:
					found = append(found, n)
				}
			}
			if len(found) == 0 {
				return errors.Join(errs...)
			}
			starts, err := adm.ListStartOffsets(ctx, found...)
			if err = partialOK(err); err != nil {
				return fmt.Errorf("listing log start offsets: %w", err)
			}
			ends, err := adm.ListEndOffsets(ctx, found...)
			if err = partialOK(err); err != nil {
				return fmt.Errorf("listing log end offsets: %w", err)
			}
			cfgs, err := adm.DescribeTopicConfigs(ctx, found...)
			if err = partialOK(err); err != nil {
				return fmt.Errorf("describing topic configs: %w", err)
			}
			out := cmd.OutOrStdout()
			for i, n := range found {
				if i > 0 {
					fmt.Fprintln(out)
				}
				rc, cerr := cfgs.On(n, nil)
				if cerr == nil && rc.Err != nil {
					cerr = withBrokerMessage(rc.Err, rc.ErrMessage)
				}
				dirty := fetchDirtyRatios(cmd.Context(), httpAddr, n, min(cf.timeout, 2*time.Second))
				if err := writeTopicDescription(out, tds[n], starts, ends, rc, cerr, dirty); err != nil {
					return err
				}
			}
			return errors.Join(errs...)
		},
	}
	cmd.Flags().StringVar(&httpAddr, "http", "127.0.0.1:9094", "a Weir node's HTTP listener (host:port), for the log cleaner's dirty ratios")
	return cmd
}

// fetchDirtyRatios asks a Weir node's HTTP listener for the log cleaner's
// state of topic's partitions: the dirty ratio of each compacted one, -1
// for the others. nil when the listener does not answer with it.
func fetchDirtyRatios(ctx context.Context, addr, topic string, timeout time.Duration) map[int32]float64 {
	if addr == "" {
		return nil
	}
	if ctx == nil {
		ctx = context.Background()
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+addr+"/v1/topics/"+url.PathEscape(topic)+"/cleaner", nil)
	if err != nil {
		return nil
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return nil
	}
	defer resp.Body.Close()
	var body struct {
		Partitions []log.PartitionCleanerState `json:"partitions"`
	}
	if resp.StatusCode != http.StatusOK || json.NewDecoder(io.LimitReader(resp.Body, 16<<20)).Decode(&body) != nil {
		return nil
	}
	out := make(map[int32]float64, len(body.Partitions))
	for _, p := range body.Partitions {
		out[p.Partition] = -1
		if p.Compact {
			out[p.Partition] = p.DirtyRatio
		}
	}
	return out
}

// writeTopicDescription writes one topic's block of `weir topic describe`.
// cerr is the error, if any, that kept the topic's configs from loading.
// dirty, when not nil, adds the log cleaner's dirty ratio per partition (-1
// for a partition that is not compacted).
func writeTopicDescription(w io.Writer, td kadm.TopicDetail, starts, ends kadm.ListedOffsets, rc kadm.ResourceConfig, cerr error, dirty map[int32]float64) error {
	fmt.Fprintf(w, "Topic: %s\n", td.Topic)
	fmt.Fprintf(w, "  ID: %s  Partitions: %d  Replication factor: %d  Internal: %t\n",
		base64.RawURLEncoding.EncodeToString(td.ID[:]), len(td.Partitions), td.Partitions.NumReplicas(), td.IsInternal)
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	header := "  PARTITION\tLEADER\tEPOCH\tREPLICAS\tISR\tLOG-START\tLOG-END"
	if dirty != nil {
		header += "\tDIRTY-RATIO"
	}
	fmt.Fprintln(tw, header)
	for _, p := range td.Partitions.Sorted() {
		if p.Err != nil {
			fmt.Fprintf(tw, "  %d\t?\t?\t?\t?\t?\t?\t%v\n", p.Partition, withBrokerMessage(p.Err, ""))
			continue
		}
		ratio := ""
		if dirty != nil {
			ratio = "\t-"
			if r, ok := dirty[p.Partition]; ok && r >= 0 {
				ratio = "\t" + strconv.FormatFloat(r, 'f', 2, 64)
			}
		}
		fmt.Fprintf(tw, "  %d\t%d\t%d\t%s\t%s\t%s\t%s%s\n", p.Partition, p.Leader, p.LeaderEpoch,
			joinInt32s(p.Replicas), joinInt32s(p.ISR),
			listedOffset(starts, td.Topic, p.Partition), listedOffset(ends, td.Topic, p.Partition), ratio)
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	if cerr != nil {
		fmt.Fprintf(w, "  Configs: unavailable: %v\n", cerr)
		return nil
	}
	var lines []string
	for _, c := range rc.Configs {
		if c.Source == kmsg.ConfigSourceDefaultConfig {
			continue
		}
		v := c.MaybeValue()
		if c.Sensitive {
			v = "(sensitive)"
		}
		line := c.Key + "=" + v
		if c.Source != kmsg.ConfigSourceDynamicTopicConfig {
			line += "  (" + c.Source.String() + ")"
		}
		lines = append(lines, line)
	}
	if len(lines) == 0 {
		fmt.Fprintln(w, "  Configs: all defaults")
		return nil
	}
	slices.Sort(lines)
	fmt.Fprintln(w, "  Configs:")
	for _, l := range lines {
		fmt.Fprintf(w, "    %s\n", l)
	}
	return nil
}

func newTopicAlterCommand(cf *clientFlags) *cobra.Command {
	var (
		partitions int
		set        []string
		del        []string
	)
	cmd := &cobra.Command{
		Use:   "alter NAME",
		Short: "Add partitions to a topic or change its configs",
		Long: `Alter a topic. --partitions sets the new total partition count
(CreatePartitions; it can only grow). --set and --delete change topic configs
incrementally (IncrementalAlterConfigs): --delete returns a key to its default.
Partitions are changed first, then configs.`,
		Example: `  weir topic alter orders --partitions 12 --set retention.ms=3600000 --delete cleanup.policy`,
		Args:    argsOrUsage(cobra.ExactArgs(1)),
		RunE: func(cmd *cobra.Command, args []string) error {
			name := args[0]
			setPartitions := cmd.Flags().Changed("partitions")
			if !setPartitions && len(set) == 0 && len(del) == 0 {
				return usageError(cmd, "nothing to alter: give --partitions, --set or --delete")
			}
			if setPartitions && partitions < 1 {
				return usageError(cmd, "--partitions must be at least 1, got %d", partitions)
			}
			var ops []kadm.AlterConfig
			seen := map[string]bool{}
			for _, s := range set {
				k, v, err := parseKeyValue(s)
				if err != nil {
					return usageError(cmd, "--set: %v", err)
				}
				ops = append(ops, kadm.AlterConfig{Op: kadm.SetConfig, Name: k, Value: &v})
				seen[k] = true
			}
			for _, k := range del {
				if k == "" || seen[k] {
					return usageError(cmd, "--delete %q: empty, or also given to --set", k)
				}
				ops = append(ops, kadm.AlterConfig{Op: kadm.DeleteConfig, Name: k})
			}
			ctx, adm, done, err := cf.adminSession(cmd)
			if err != nil {
				return err
			}
			defer done()
			out := cmd.OutOrStdout()
			if setPartitions {
				rs, err := adm.UpdatePartitions(ctx, partitions, name)
				if err != nil {
					return fmt.Errorf("setting partitions of %q: %w", name, err)
				}
				r, err := rs.On(name, nil)
				if err == nil {
					err = r.Err
				}
				if err != nil {
					return fmt.Errorf("setting partitions of %q to %d: %w", name, partitions, withBrokerMessage(err, r.ErrMessage))
				}
				fmt.Fprintf(out, "topic %s: now %d partitions\n", name, partitions)
			}
			if len(ops) == 0 {
				return nil
			}
			rs, err := adm.AlterTopicConfigs(ctx, ops, name)
			if err != nil {
				return fmt.Errorf("altering configs of %q: %w", name, err)
			}
			r, err := rs.On(name, nil)
			if err == nil {
				err = r.Err
			}
			if err != nil {
				return fmt.Errorf("altering configs of %q: %w", name, withBrokerMessage(err, r.ErrMessage))
			}
			for _, op := range ops {
				if op.Op == kadm.SetConfig {
					fmt.Fprintf(out, "topic %s: set %s=%s\n", name, op.Name, *op.Value)
				} else {
					fmt.Fprintf(out, "topic %s: deleted %s (back to its default)\n", name, op.Name)
				}
			}
			return nil
		},
	}
	fl := cmd.Flags()
	fl.IntVar(&partitions, "partitions", 0, "new total number of partitions (must be more than now)")
	fl.StringArrayVar(&set, "set", nil, "set topic config key=value (repeatable)")
	fl.StringArrayVar(&del, "delete", nil, "remove topic config key, restoring its default (repeatable)")
	return cmd
}

func newTopicDeleteCommand(cf *clientFlags) *cobra.Command {
	var ifExists bool
	cmd := &cobra.Command{
		Use:   "delete NAME...",
		Short: "Delete topics",
		Long: `Delete topics. Each is attempted; any failure makes the exit status 1.
With --if-exists a topic that does not exist is not an error.`,
		Args: argsOrUsage(cobra.MinimumNArgs(1)),
		RunE: func(cmd *cobra.Command, args []string) error {
			names := uniqueStrings(args)
			ctx, adm, done, err := cf.adminSession(cmd)
			if err != nil {
				return err
			}
			defer done()
			rs, err := adm.DeleteTopics(ctx, names...)
			if err != nil {
				return fmt.Errorf("deleting topics: %w", err)
			}
			var errs []error
			for _, n := range names {
				r, ok := rs[n]
				switch {
				case !ok:
					errs = append(errs, fmt.Errorf("deleting topic %q: the broker's response does not mention it", n))
				case r.Err == nil:
					fmt.Fprintf(cmd.OutOrStdout(), "deleted topic %s\n", n)
				case ifExists && errors.Is(r.Err, kerr.UnknownTopicOrPartition):
				default:
					errs = append(errs, fmt.Errorf("deleting topic %q: %w", n, withBrokerMessage(r.Err, r.ErrMessage)))
				}
			}
			return errors.Join(errs...)
		},
	}
	cmd.Flags().BoolVar(&ifExists, "if-exists", false, "succeed for topics that do not exist")
	return cmd
}

// listedOffset formats a ListOffsets result for the describe table.
func listedOffset(l kadm.ListedOffsets, topic string, p int32) string {
	o, ok := l.Lookup(topic, p)
	switch {
	case !ok:
		return "?"
	case o.Err != nil:
		var ke *kerr.Error
		if errors.As(o.Err, &ke) {
			return ke.Message
		}
		return "error"
	}
	return strconv.FormatInt(o.Offset, 10)
}

func joinInt32s(s []int32) string {
	if len(s) == 0 {
		return "-"
	}
	parts := make([]string, len(s))
	for i, v := range s {
		parts[i] = strconv.FormatInt(int64(v), 10)
	}
	return strings.Join(parts, ",")
}

// uniqueStrings returns s without repeats, in first-seen order.
func uniqueStrings(s []string) []string {
	var out []string
	seen := make(map[string]bool, len(s))
	for _, v := range s {
		if !seen[v] {
			seen[v] = true
			out = append(out, v)
		}
	}
	return out
}
