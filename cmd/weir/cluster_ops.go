package main

import (
	"fmt"
	"maps"
	"slices"
	"strconv"
	"strings"
	"text/tabwriter"

	"github.com/spf13/cobra"
	"github.com/twmb/franz-go/pkg/kadm"
)

// parsePartitionArg parses "TOPIC:PARTITION".
func parsePartitionArg(s string) (string, int32, error) {
	i := strings.LastIndexByte(s, ':')
	if i <= 0 {
		return "", 0, fmt.Errorf("%q: want TOPIC:PARTITION", s)
	}
	p, err := strconv.ParseInt(s[i+1:], 10, 32)
	if err != nil || p < 0 {
		return "", 0, fmt.Errorf("%q: the partition must be a number ≥ 0", s)
	}
	return s[:i], int32(p), nil
}

func newClusterReassignCommand(cf *clientFlags) *cobra.Command {
	var cancel bool
	cmd := &cobra.Command{
		Use:   "reassign TOPIC:PARTITION=BROKER,BROKER,... ...",
		Short: "Move partitions' replicas to other brokers (or cancel a move with --cancel TOPIC:PARTITION)",
		Long: `Start moving each named partition to the listed brokers, the first of them
the preferred leader (KIP-455). The new replicas copy the log as followers;
the controller completes the move once they are in sync, so the command
returns at once: follow it with 'weir cluster reassignments'. --cancel
stops ongoing moves of the named partitions.`,
		Args: argsOrUsage(cobra.MinimumNArgs(1)),
		RunE: func(cmd *cobra.Command, args []string) error {
			req := kadm.AlterPartitionAssignmentsReq{}
			for _, a := range args {
				target, replicas, _ := strings.Cut(a, "=")
				topic, p, err := parsePartitionArg(target)
				if err != nil {
					return usageError(cmd, "%v", err)
				}
				if cancel {
					if replicas != "" {
						return usageError(cmd, "%q: --cancel takes TOPIC:PARTITION without brokers", a)
					}
					req.CancelAssign(topic, p)
					continue
				}
				var brokers []int32
				for _, s := range strings.Split(replicas, ",") {
					id, err := strconv.ParseInt(strings.TrimSpace(s), 10, 32)
					if err != nil {
						return usageError(cmd, "%q: brokers must be comma-separated node ids", a)
					}
					brokers = append(brokers, int32(id))
				}
				req.Assign(topic, p, brokers)
			}
			ctx, adm, done, err := cf.adminSession(cmd)
			if err != nil {
				return err
			}
			defer done()
			resps, err := adm.AlterPartitionAssignments(ctx, req)
			if err != nil {
				return fmt.Errorf("reassigning: %w", err)
			}
			failed := 0
			for _, topic := range slices.Sorted(maps.Keys(resps)) {
				for _, p := range slices.Sorted(maps.Keys(resps[topic])) {
					r := resps[topic][p]
					if r.Err != nil {
						failed++
						fmt.Fprintf(cmd.OutOrStdout(), "%s:%d: %v\n", topic, p, withBrokerMessage(r.Err, r.ErrMessage))
						continue
					}
					verb := "moving"
					if cancel {
						verb = "cancelled"
					}
					fmt.Fprintf(cmd.OutOrStdout(), "%s:%d: %s\n", topic, p, verb)
				}
			}
			if failed > 0 {
				return fmt.Errorf("%d of the partitions were refused", failed)
			}
			return nil
		},
	}
	cmd.Flags().BoolVar(&cancel, "cancel", false, "cancel the ongoing moves of the named partitions")
	return cmd
}

func newClusterReassignmentsCommand(cf *clientFlags) *cobra.Command {
	return &cobra.Command{
		Use:   "reassignments",
		Short: "List the ongoing partition moves",
		Args:  argsOrUsage(cobra.NoArgs),
		RunE: func(cmd *cobra.Command, _ []string) error {
			ctx, adm, done, err := cf.adminSession(cmd)
			if err != nil {
				return err
			}
			defer done()
			list, err := adm.ListPartitionReassignments(ctx, nil)
			if err != nil {
				return fmt.Errorf("listing reassignments: %w", err)
			}
			tw := tabwriter.NewWriter(cmd.OutOrStdout(), 0, 4, 2, ' ', 0)
			fmt.Fprintln(tw, "TOPIC\tPARTITION\tREPLICAS\tADDING\tREMOVING")
			for _, topic := range slices.Sorted(maps.Keys(list)) {
				for _, p := range slices.Sorted(maps.Keys(list[topic])) {
					r := list[topic][p]
					fmt.Fprintf(tw, "%s\t%d\t%s\t%s\t%s\n", topic, p, joinInt32s(r.Replicas), dash(joinInt32s(r.AddingReplicas)), dash(joinInt32s(r.RemovingReplicas)))
				}
			}
			return tw.Flush()
		},
	}
}

func newClusterElectLeadersCommand(cf *clientFlags) *cobra.Command {
	var unclean bool
	cmd := &cobra.Command{
		Use:   "elect-leaders [TOPIC:PARTITION ...]",
		Short: "Give partitions back to their preferred leaders (or, with --unclean, give leaderless partitions any live replica)",
		Long: `Run leader elections: by default preferred-leader elections, which move
each partition to its first replica when that broker is live and in sync;
with --unclean, partitions without a leader take any live replica, which
may lose acknowledged records. With no arguments, every partition.`,
		RunE: func(cmd *cobra.Command, args []string) error {
			var set kadm.TopicsSet
			if len(args) > 0 {
				set = kadm.TopicsSet{}
				for _, a := range args {
					topic, p, err := parsePartitionArg(a)
					if err != nil {
						return usageError(cmd, "%v", err)
					}
					set.Add(topic, p)
				}
			}
			how := kadm.ElectPreferredReplica
			if unclean {
				how = kadm.ElectLiveReplica
			}
			ctx, adm, done, err := cf.adminSession(cmd)
			if err != nil {
				return err
			}
			defer done()
			res, err := adm.ElectLeaders(ctx, how, set)
			if err != nil {
				return fmt.Errorf("electing leaders: %w", err)
			}
			elected := 0
			for _, topic := range slices.Sorted(maps.Keys(res)) {
				for _, p := range slices.Sorted(maps.Keys(res[topic])) {
					r := res[topic][p]
					if r.Err != nil {
						fmt.Fprintf(cmd.OutOrStdout(), "%s:%d: %v\n", topic, p, withBrokerMessage(r.Err, r.ErrMessage))
						continue
					}
					elected++
					fmt.Fprintf(cmd.OutOrStdout(), "%s:%d: new leader elected\n", topic, p)
				}
			}
			fmt.Fprintf(cmd.OutOrStdout(), "%d partitions got a new leader\n", elected)
			return nil
		},
	}
	cmd.Flags().BoolVar(&unclean, "unclean", false, "elect any live replica for partitions without a leader (may lose records)")
	return cmd
}
