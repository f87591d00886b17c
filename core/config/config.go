package config

import (
	"fmt"
	"net"
	"os"
	"strconv"
	"strings"
)

// Config is a Weir node's configuration: the contents of weir.toml, with
// defaults for what the file leaves out. Build one with Default, Load or
// Parse; after changing fields (command-line flags), call Validate.
// Methods that only read a Config are safe for concurrent use while nobody
// modifies it.
type Config struct {
	NodeID    int32  // node_id: this broker's id, ≥ 0
	DataDir   string // data_dir: relative paths are relative to the working directory
	Listeners Listeners
	Cluster   Cluster

	// Broker holds the [broker] settings the file sets, by Kafka name;
	// configs it does not hold have BrokerTable's defaults. Use
	// ResolveBroker for the typed view.
	Broker map[string]Value
	// TopicDefaults holds the [topic_defaults] settings the file sets, by
	// Kafka topic config name: the defaults of every topic in the cluster
	// unless a topic overrides them. Use ResolveTopic for the typed view.
	TopicDefaults map[string]Value

	Plugins []Plugin // [[plugins]], in file order

	Bridge Bridge // [bridge]: [[bridge.nats]] routes into topics

	// votersDerived: Cluster.Voters was not configured but derived as
	// this node alone (Default, or a file without voters); Apply keeps it
	// in step with node_id and the controller listener.
	votersDerived bool
}

// Listeners are the addresses the node listens on, each "host:port".
// Port 0 picks a free port (for tests).
type Listeners struct {
	Kafka      string // kafka: the Kafka protocol; advertised to clients as given
	Controller string // controller: Raft and broker-to-controller traffic
	HTTP       string // http: /metrics, /healthz, /readyz and the admin API
}

// Cluster describes the controller quorum.
type Cluster struct {
	// Voters are the controller quorum: 1, 3 or 5 nodes with distinct ids.
	// Every broker of a cluster lists the same voters. When the file does
	// not set them, the node is a quorum of one: node_id at the controller
	// listener.
	Voters []Voter
}

// Voter is one member of the controller quorum, written "id@host:port".
type Voter struct {
	ID   int32  // the voter's node_id
	Addr string // its controller listener, host:port
}

// String returns the voter as "id@host:port".
func (v Voter) String() string { return strconv.FormatInt(int64(v.ID), 10) + "@" + v.Addr }

// PluginKind is the extension point a plugin implements.
type PluginKind string

// The extension points (see package sdk).
const (
	PluginPartitioner      PluginKind = "partitioner"
	PluginAssignor         PluginKind = "assignor"
	PluginCompactionFilter PluginKind = "compaction_filter"
	PluginCodec            PluginKind = "codec"
)

var pluginKinds = []string{
	string(PluginPartitioner), string(PluginAssignor), string(PluginCompactionFilter), string(PluginCodec),
}

// Plugin is one [[plugins]] entry: an implementation of an extension point,
// run either as a WASM module in-process or as a go-plugin executable.
// Exactly one of WASM and Command is set.
type Plugin struct {
	Name    string     // name: how topic configs and groups refer to it; unique
	Kind    PluginKind // kind
	WASM    string     // wasm: path to a wasip1 module
	Command string     // command: path to a go-plugin executable
	// Config is the free-form [plugins.config] table, handed to the plugin
	// as decoded from TOML: string, int64, float64, bool, []any,
	// map[string]any and go-toml's date/time types. Nil when absent.
	Config map[string]any
}

// Default returns the configuration `weir serve` runs with when given no
// file: a single node, id 1, data in ./weir-data, listening on
// 127.0.0.1:9092 (Kafka), :9093 (controller) and :9094 (HTTP), a quorum of
// itself, Kafka's defaults for every broker and topic config. The Config is
// the caller's.
func Default() *Config {
	return &Config{
		NodeID:  1,
		DataDir: "./weir-data",
		Listeners: Listeners{
			Kafka:      "127.0.0.1:9092",
			Controller: "127.0.0.1:9093",
			HTTP:       "127.0.0.1:9094",
		},
		Cluster:       Cluster{Voters: []Voter{{ID: 1, Addr: "127.0.0.1:9093"}}},
		Broker:        map[string]Value{},
		TopicDefaults: map[string]Value{},
		votersDerived: true,
	}
}

// Overrides are the command-line flags that override the file
// (`weir serve --node-id --data-dir --kafka-addr --controller-addr
// --http-addr --voters`). Zero fields (nil, "") are not set.
type Overrides struct {
	NodeID         *int32
	DataDir        string
	KafkaAddr      string
	ControllerAddr string
	HTTPAddr       string
	Voters         []Voter // see ParseVoters
}

// Apply sets on c the fields o sets. When neither the file nor o lists
// voters, the quorum stays this node alone, at its new node id and
// controller address. Apply does not check values: call Validate after.
func (c *Config) Apply(o Overrides) {
	self := Voter{ID: c.NodeID, Addr: c.Listeners.Controller}
	if o.NodeID != nil {
		c.NodeID = *o.NodeID
	}
	if o.DataDir != "" {
		c.DataDir = o.DataDir
	}
	if o.KafkaAddr != "" {
		c.Listeners.Kafka = o.KafkaAddr
	}
	if o.ControllerAddr != "" {
		c.Listeners.Controller = o.ControllerAddr
	}
	if o.HTTPAddr != "" {
		c.Listeners.HTTP = o.HTTPAddr
	}
	switch {
	case o.Voters != nil:
		c.Cluster.Voters = append([]Voter(nil), o.Voters...)
		c.votersDerived = false
	case c.votersDerived && len(c.Cluster.Voters) == 1 && c.Cluster.Voters[0] == self:
		c.Cluster.Voters = []Voter{{ID: c.NodeID, Addr: c.Listeners.Controller}}
	}
}

// Load reads and parses the TOML file at path, as Parse does, naming the
// file by path in messages. It returns an error from reading the file, or
// the ErrorList of Parse.
func Load(path string) (*Config, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("config: %w", err)
	}
	return Parse(data, path)
}

// Parse parses a TOML configuration. Anything the document does not set
// keeps its Default value; voters, when not set, are node_id at the
// controller listener. source names the document in messages (a file
// name; "" for none). The document is not retained.
//
// On any problem Parse returns a nil Config and an ErrorList holding every
// problem found, in line order, each naming the line, the key and the
// value: invalid TOML, unknown keys (at the top level and in every table
// but a plugin's config), values of the wrong type (including an integer
// too large for an int config, a float for an integer or a quoted number),
// and impossible values (what Validate checks). A malformed document never
// makes Parse panic.
func Parse(data []byte, source string) (*Config, error) {
	return parse(data, source)
}

// Validate checks c as Parse checks a file's values: node id, data dir,
// listener addresses, voters, every [broker] and [topic_defaults] value
// and their relations, plugins, and [[bridge.nats]] routes. It returns nil or an ErrorList with
// every problem; the messages name keys as the file would, without lines.
func (c *Config) Validate() error {
	return c.validate(nil).err()
}

// ParseVoter parses "id@host:port". It returns an *Error (without a
// location) on failure.
func ParseVoter(s string) (Voter, error) {
	v, reason := parseVoter(s)
	if reason != "" {
		return Voter{}, &Error{Key: "voter", Value: strconv.Quote(s), Reason: reason, Err: ErrInvalidValue}
	}
	return v, nil
}

// ParseVoters parses a comma-separated list of voters, as the --voters flag
// takes them: "1@10.0.0.1:9093,2@10.0.0.2:9093,3@10.0.0.3:9093". It
// checks each voter, not the list (see Validate).
func ParseVoters(s string) ([]Voter, error) {
	var voters []Voter
	for _, part := range strings.Split(s, ",") {
		v, err := ParseVoter(strings.TrimSpace(part))
		if err != nil {
			return nil, err
		}
		voters = append(voters, v)
	}
	return voters, nil
}

func parseVoter(s string) (Voter, string) {
	const form = `expected "id@host:port", e.g. "1@127.0.0.1:9093"`
	id, addr, ok := strings.Cut(s, "@")
	if !ok {
		return Voter{}, form
	}
	n, err := strconv.ParseInt(id, 10, 32)
	if err != nil {
		return Voter{}, fmt.Sprintf("voter id %q is not a node id; %s", id, form)
	}
	if n < 0 {
		return Voter{}, "voter id must be at least 0"
	}
	if reason := checkAddr(addr); reason != "" {
		return Voter{}, "voter address: " + reason
	}
	return Voter{ID: int32(n), Addr: addr}, ""
}

// checkAddr checks a host:port address and returns "" or the reason it is
// not one. The port must be a number from 0 to 65535; the host must be set.
func checkAddr(addr string) string {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		reason := err.Error()
		if ae, ok := err.(*net.AddrError); ok {
			reason = ae.Err
		}
		return "not a host:port address (" + reason + ")"
	}
	if host == "" {
		return "the host is missing (use 0.0.0.0 to listen on every interface)"
	}
	if n, err := strconv.ParseUint(port, 10, 16); err != nil || strconv.FormatUint(n, 10) != port {
		return fmt.Sprintf("port %q is not a number from 0 to 65535", port)
	}
	return ""
}
