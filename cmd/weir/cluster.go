package main

import (
	"fmt"
	"io"
	"slices"
	"text/tabwriter"

	"github.com/spf13/cobra"
	"github.com/twmb/franz-go/pkg/kadm"
)

func newClusterCommand() *cobra.Command {
	var cf clientFlags
	cmd := &cobra.Command{
		Use:   "cluster",
		Short: "Inspect the cluster",
		Args:  cobra.ArbitraryArgs,
		RunE:  helpOrUnknown,
	}
	addClientFlags(cmd, &cf)
	cmd.AddCommand(newClusterStatusCommand(&cf), newClusterReassignCommand(&cf), newClusterReassignmentsCommand(&cf), newClusterElectLeadersCommand(&cf))
	return cmd
}

func newClusterStatusCommand(cf *clientFlags) *cobra.Command {
	return &cobra.Command{
		Use:   "status",
		Short: "Show the brokers, the active controller, and under-replicated and offline partitions",
		Long: `Show the live brokers (the active controller marked), how many partitions
each leads, and every partition that is under-replicated (fewer in-sync
replicas than replicas) or offline (no live leader). It asks any one broker
through the Kafka protocol, so it works against any Kafka-compatible
cluster. Exit status 0 whatever the cluster's health: read the output.`,
		Args: argsOrUsage(cobra.NoArgs),
		RunE: func(cmd *cobra.Command, _ []string) error {
			ctx, adm, done, err := cf.adminSession(cmd)
			if err != nil {
				return err
			}
			defer done()
			md, err := adm.Metadata(ctx)
			if err != nil {
				return fmt.Errorf("reading cluster metadata: %w", err)
			}
			return writeClusterStatus(cmd.OutOrStdout(), md)
		},
	}
}

// writeClusterStatus prints md as `weir cluster status` shows it.
func writeClusterStatus(w io.Writer, md kadm.Metadata) error {
	live := map[int32]bool{}
	leads := map[int32]int{}
	for _, b := range md.Brokers {
		live[b.NodeID] = true
	}
	type problem struct {
		topic          string
		partition      int32
		leader         int32
		replicas, isr  []int32
		offline, under bool
	}
	var problems []problem
	total := 0
	for _, td := range md.Topics.Sorted() {
		if td.Err != nil {
			continue
		}
		for _, p := range td.Partitions.Sorted() {
			total++
			offline := p.Leader < 0 || !live[p.Leader]
			if !offline {
				leads[p.Leader]++
			}
			under := len(p.ISR) < len(p.Replicas)
			if offline || under {
				problems = append(problems, problem{td.Topic, p.Partition, p.Leader, p.Replicas, p.ISR, offline, under})
			}
		}
	}
	fmt.Fprintf(w, "cluster %s: %d live brokers, active controller %s, %d partitions\n\n",
		md.Cluster, len(md.Brokers), controllerName(md.Controller), total)
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "BROKER\tADDRESS\tRACK\tLEADS\tROLE")
	brokers := slices.Clone(md.Brokers)
	slices.SortFunc(brokers, func(a, b kadm.BrokerDetail) int { return int(a.NodeID - b.NodeID) })
	for _, b := range brokers {
		rack, role := "-", ""
		if b.Rack != nil && *b.Rack != "" {
			rack = *b.Rack
		}
		if b.NodeID == md.Controller {
			role = "active controller"
		}
		fmt.Fprintf(tw, "%d\t%s:%d\t%s\t%d\t%s\n", b.NodeID, b.Host, b.Port, rack, leads[b.NodeID], role)
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	offline, under := 0, 0
	for _, p := range problems {
		if p.offline {
			offline++
		}
		if p.under {
			under++
		}
	}
	fmt.Fprintf(w, "\nunder-replicated partitions: %d\noffline partitions: %d\n", under, offline)
	if len(problems) == 0 {
		return nil
	}
	fmt.Fprintln(w)
	tw = tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "TOPIC\tPARTITION\tLEADER\tREPLICAS\tISR\tSTATE")
	for _, p := range problems {
		state := "under-replicated"
		if p.offline {
			state = "offline"
		}
		leader := fmt.Sprint(p.leader)
		if p.leader < 0 {
			leader = "none"
		}
		fmt.Fprintf(tw, "%s\t%d\t%s\t%s\t%s\t%s\n", p.topic, p.partition, leader, joinInt32s(p.replicas), joinInt32s(p.isr), state)
	}
	return tw.Flush()
}

func controllerName(id int32) string {
	if id < 0 {
		return "unknown"
	}
	return fmt.Sprint(id)
}
