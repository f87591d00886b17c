package main

import (
	"github.com/spf13/cobra"
)

func newRootCommand() *cobra.Command {
	root := &cobra.Command{
		Use:           "weir",
		Short:         "Weir, a Kafka-compatible message broker",
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	root.AddCommand(newServeCommand())
	root.AddCommand(newTopicCommand(), newProduceCommand(), newConsumeCommand())
	root.AddCommand(newGroupCommand())
	root.AddCommand(newClusterCommand())
	root.AddCommand(newPluginCommand())
	root.AddCommand(newBridgeCommand())
	return root
}
