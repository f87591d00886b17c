package chaos

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"sync"
	"time"
)

// ClusterOptions describe a cluster of `weir serve` processes on loopback.
type ClusterOptions struct {
	Binary string // the weir binary; required
	Dir    string // root directory; node i lives in Dir/n<i>; required
	Nodes  int    // number of brokers, ids 1..Nodes; all are controller voters (default 3)

	// Broker settings ([broker], Kafka names) over DefaultBrokerSettings.
	Broker        map[string]any
	TopicDefaults map[string]any // [topic_defaults]

	// Proxied routes every connection between brokers through a Mesh of
	// proxies (passed to each broker in DialOverridesEnv), so that brokers
	// can be cut off from each other. Clients always dial brokers directly.
	Proxied bool

	StartTimeout time.Duration // per node start (default 60s)
}

// DefaultBrokerSettings returns the [broker] settings of a cluster of n
// brokers: replication factor n (at most 3) and min.insync.replicas 2
// when n >= 3, and the quick failure detection of the cluster contract
// (session 3 s, heartbeat 0.5 s, replica lag 3 s).
func DefaultBrokerSettings(n int) map[string]any {
	rf, minISR := min(n, 3), 1
	if n >= 3 {
		minISR = 2
	}
	return map[string]any{
		"default.replication.factor":   rf,
		"min.insync.replicas":          minISR,
		"broker.session.timeout.ms":    3000,
		"broker.heartbeat.interval.ms": 500,
		"replica.lag.time.max.ms":      3000,
	}
}

// Cluster is a set of `weir serve` processes that share one voters list,
// and the proxies between them when proxied.
//
// A Cluster is safe for concurrent use. It must be started with
// StartCluster and closed with Close, which kills every process and waits
// for the harness's goroutines; the directory stays for the caller to
// keep or remove.
type Cluster struct {
	opts  ClusterOptions
	nodes []*Node
	mesh  *Mesh // nil unless proxied

	closeOnce sync.Once
}

// StartCluster lays out and launches every node, then waits until each
// logs that it serves. Nodes are launched together because a controller
// quorum cannot form while its members start one at a time. On error
// every process started is killed.
func StartCluster(ctx context.Context, opts ClusterOptions) (*Cluster, error) {
	c, err := NewCluster(opts)
	if err != nil {
		return nil, err
	}
	if err := c.StartAll(ctx); err != nil {
		c.Close()
		return nil, err
	}
	return c, nil
}

// NewCluster picks ports, writes every node's configuration and starts
// the proxies when proxied, but starts no broker: StartAll or each
// Node's Start does that.
func NewCluster(opts ClusterOptions) (*Cluster, error) {
	if opts.Binary == "" || opts.Dir == "" {
		return nil, errors.New("chaos: ClusterOptions needs Binary and Dir")
	}
	if opts.Nodes == 0 {
		opts.Nodes = 3
	}
	if opts.StartTimeout == 0 {
		opts.StartTimeout = 60 * time.Second
	}
	ports, err := PickPorts(3 * opts.Nodes)
	if err != nil {
		return nil, err
	}
	c := &Cluster{opts: opts}
	var voters []string
	for i := range opts.Nodes {
		n := newNode(opts.Binary, opts.Dir, int32(i+1), ports[3*i], ports[3*i+1], ports[3*i+2])
		c.nodes = append(c.nodes, n)
		voters = append(voters, fmt.Sprintf("%d@%s", n.ID, n.ControllerAddr))
	}
	broker := DefaultBrokerSettings(opts.Nodes)
	maps.Copy(broker, opts.Broker)
	for _, n := range c.nodes {
		cfg, err := nodeConfig(n, voters, broker, opts.TopicDefaults)
		if err != nil {
			return nil, err
		}
		if err := mkNodeDir(n, cfg); err != nil {
			return nil, err
		}
	}
	if opts.Proxied {
		var mn []MeshNode
		for _, n := range c.nodes {
			mn = append(mn, MeshNode{ID: n.ID, KafkaAddr: n.KafkaAddr, ControllerAddr: n.ControllerAddr})
		}
		if c.mesh, err = NewMesh(mn); err != nil {
			return nil, err
		}
		for _, n := range c.nodes {
			n.env = append(n.env, DialOverridesEnv+"="+c.mesh.DialOverrides(n.ID))
		}
	}
	return c, nil
}

// StartAll launches every node that is down, then waits for each to
// serve. It returns the first error, with that node's log tail.
func (c *Cluster) StartAll(ctx context.Context) error {
	var launched []*Node
	for _, n := range c.nodes {
		if n.State() != NodeDown {
			continue
		}
		if err := n.Launch(); err != nil {
			return err
		}
		launched = append(launched, n)
	}
	ctx, cancel := context.WithTimeout(ctx, c.opts.StartTimeout)
	defer cancel()
	for _, n := range launched {
		if err := n.WaitStarted(ctx); err != nil {
			return err
		}
	}
	return nil
}

// Nodes returns the cluster's nodes in id order; the slice is the
// caller's, the nodes are shared.
func (c *Cluster) Nodes() []*Node { return append([]*Node(nil), c.nodes...) }

// Node returns the node with the given id, or nil.
func (c *Cluster) Node(id int32) *Node {
	for _, n := range c.nodes {
		if n.ID == id {
			return n
		}
	}
	return nil
}

// Seeds returns every broker's Kafka address, for clients.
func (c *Cluster) Seeds() []string {
	out := make([]string, len(c.nodes))
	for i, n := range c.nodes {
		out[i] = n.KafkaAddr
	}
	return out
}

// Mesh returns the proxies between brokers, or nil when not proxied.
func (c *Cluster) Mesh() *Mesh { return c.mesh }

// Dir returns the cluster's root directory.
func (c *Cluster) Dir() string { return c.opts.Dir }

// StopAll stops every node cleanly (Node.Stop), all at once, and returns
// the errors joined.
func (c *Cluster) StopAll(ctx context.Context) error {
	errs := make([]error, len(c.nodes))
	var wg sync.WaitGroup
	for i, n := range c.nodes {
		wg.Go(func() { errs[i] = n.Stop(ctx) })
	}
	wg.Wait()
	return errors.Join(errs...)
}

// Close kills every process, closes the proxies and waits for every
// goroutine of the cluster. It returns nil; closing twice is allowed.
func (c *Cluster) Close() error {
	c.closeOnce.Do(func() {
		for _, n := range c.nodes {
			n.Close()
		}
		if c.mesh != nil {
			c.mesh.Close()
		}
	})
	return nil
}
