package chaos

import (
	"errors"
	"fmt"
	"sort"
	"strings"
	"sync"
)

// DialOverridesEnv is the environment variable through which `weir serve`
// takes its test-only dial overrides: a comma-separated list of
// "addr=replacement" pairs. When the broker dials addr (Raft, broker-to-
// controller RPC, replica fetches) it dials replacement instead. Clients
// of the cluster are not affected: they dial brokers directly.
const DialOverridesEnv = "WEIR_DIAL_OVERRIDES_FOR_TESTING"

// Listener names one of a broker's listeners that other brokers dial.
type Listener string

// The listeners that carry traffic between brokers.
const (
	ListenerKafka      Listener = "kafka"      // replica fetches
	ListenerController Listener = "controller" // Raft and broker-to-controller RPC
)

// MeshNode is one broker as the mesh sees it: its id and the real
// addresses of the listeners other brokers dial.
type MeshNode struct {
	ID             int32
	KafkaAddr      string
	ControllerAddr string
}

// link is one direction of traffic between two brokers on one listener:
// From dials To's listener.
type link struct {
	from, to int32
	listener Listener
}

// Mesh is a set of proxies, one per ordered pair of brokers and per
// listener, through which every connection between brokers goes: broker
// i reaches broker j's Kafka listener through the proxy (i→j, kafka), and
// its controller listener through (i→j, controller). Cutting a broker off
// cuts every proxy into and out of it; see Proxy for what a cut proxy
// does with connections.
//
// A Mesh is safe for concurrent use. It must be created with NewMesh and
// closed with Close.
type Mesh struct {
	nodes   []MeshNode
	proxies map[link]*Proxy

	mu struct {
		sync.Mutex
		isolated map[int32]bool
		cutPairs map[[2]int32]bool // unordered pairs, smaller id first
		closed   bool
	}
}

// NewMesh starts the proxies for nodes (ids distinct). It returns an error
// naming the problem if the ids repeat or a proxy cannot listen; nothing
// is left running then.
func NewMesh(nodes []MeshNode) (*Mesh, error) {
	m := &Mesh{nodes: append([]MeshNode(nil), nodes...), proxies: map[link]*Proxy{}}
	m.mu.isolated = map[int32]bool{}
	m.mu.cutPairs = map[[2]int32]bool{}
	seen := map[int32]bool{}
	for _, n := range nodes {
		if seen[n.ID] {
			return nil, fmt.Errorf("chaos: node id %d appears twice in the mesh", n.ID)
		}
		seen[n.ID] = true
	}
	for _, from := range nodes {
		for _, to := range nodes {
			if from.ID == to.ID {
				continue
			}
			for _, l := range []Listener{ListenerKafka, ListenerController} {
				target := to.KafkaAddr
				if l == ListenerController {
					target = to.ControllerAddr
				}
				p, err := NewProxy(fmt.Sprintf("%d->%d/%s", from.ID, to.ID, l), target)
				if err != nil {
					m.Close()
					return nil, fmt.Errorf("chaos: starting proxy %d->%d %s: %w", from.ID, to.ID, l, err)
				}
				m.proxies[link{from.ID, to.ID, l}] = p
			}
		}
	}
	return m, nil
}

// DialOverrides returns the value of DialOverridesEnv for broker from:
// every other broker's listener addresses mapped to the proxies from
// takes to reach them, in a stable order.
func (m *Mesh) DialOverrides(from int32) string {
	var pairs []string
	for _, to := range m.nodes {
		if to.ID == from {
			continue
		}
		pairs = append(pairs,
			to.KafkaAddr+"="+m.proxies[link{from, to.ID, ListenerKafka}].Addr(),
			to.ControllerAddr+"="+m.proxies[link{from, to.ID, ListenerController}].Addr())
	}
	sort.Strings(pairs)
	return strings.Join(pairs, ",")
}

// Proxy returns the proxy broker from dials to reach broker to's listener
// l, or nil if there is none.
func (m *Mesh) Proxy(from, to int32, l Listener) *Proxy {
	return m.proxies[link{from, to, l}]
}

// Isolate cuts broker id off from every other broker, both ways, on every
// listener.
func (m *Mesh) Isolate(id int32) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.mu.isolated[id] = true
	m.applyLocked()
}

// Heal undoes Isolate(id). Links to brokers that are themselves isolated,
// or pairs cut with CutPair, stay cut.
func (m *Mesh) Heal(id int32) {
	m.mu.Lock()
	defer m.mu.Unlock()
	delete(m.mu.isolated, id)
	m.applyLocked()
}

// CutPair cuts the traffic between brokers a and b, both ways, leaving
// their links to other brokers alone.
func (m *Mesh) CutPair(a, b int32) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.mu.cutPairs[pairKey(a, b)] = true
	m.applyLocked()
}

// HealAll undoes every Isolate and CutPair.
func (m *Mesh) HealAll() {
	m.mu.Lock()
	defer m.mu.Unlock()
	clear(m.mu.isolated)
	clear(m.mu.cutPairs)
	m.applyLocked()
}

// Isolated returns the ids of the brokers that are cut off, in order.
func (m *Mesh) Isolated() []int32 {
	m.mu.Lock()
	defer m.mu.Unlock()
	var out []int32
	for id := range m.mu.isolated {
		out = append(out, id)
	}
	sort.Slice(out, func(i, j int) bool { return out[i] < out[j] })
	return out
}

func pairKey(a, b int32) [2]int32 {
	if a > b {
		a, b = b, a
	}
	return [2]int32{a, b}
}

// applyLocked cuts exactly the proxies that should be cut now.
func (m *Mesh) applyLocked() {
	if m.mu.closed {
		return
	}
	for l, p := range m.proxies {
		if m.mu.isolated[l.from] || m.mu.isolated[l.to] || m.mu.cutPairs[pairKey(l.from, l.to)] {
			p.Cut()
		} else {
			p.Heal()
		}
	}
}

// Close closes every proxy and waits for their goroutines. It returns
// nil; closing twice is allowed.
func (m *Mesh) Close() error {
	m.mu.Lock()
	m.mu.closed = true
	m.mu.Unlock()
	var errs []error
	for _, p := range m.proxies {
		errs = append(errs, p.Close())
	}
	return errors.Join(errs...)
}
