package config

// Names of Weir's own group and broker configs for server-side assignment
// of classic groups.
const (
	// ConfigWeirAssignor is the group config naming the assignor the
	// coordinator runs for a classic consumer group ("" leaves assignment
	// to the group's leader, as in Kafka).
	ConfigWeirAssignor = "weir.assignor"
	// ConfigWeirGroupAssignor is the broker config that is the default
	// of weir.assignor for groups that do not set it.
	ConfigWeirGroupAssignor = "weir.group.assignor"
)

// groupTable holds the group configs (Kafka's GROUP config resource,
// KIP-848) Weir understands: today only Weir's own weir.assignor. A
// group's overrides are kept in the cluster metadata; a config the group
// does not set takes its broker synonym's value.
var groupTable = newTable("group", []spec{
	{name: ConfigWeirAssignor, typ: TypeString, dflt: "", synonym: ConfigWeirGroupAssignor,
		doc: "The assignor the coordinator runs for this classic consumer group, by name (a built-in or a [[plugins]] entry), handing each member its partitions in SyncGroup whatever the leader sent; empty leaves assignment to the group's leader, as in Kafka."},
})

// GroupTable returns the definitions of every group config.
func GroupTable() *Table { return groupTable }

// ParseGroupValue parses s, Kafka's string form of a value for the named
// group config, and checks it. It returns a *ValueError on failure.
func ParseGroupValue(name, s string) (Value, error) { return groupTable.Parse(name, s) }
