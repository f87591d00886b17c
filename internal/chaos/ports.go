package chaos

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
	"strconv"
	"sync"
)

// Brokers listen on fixed ports they keep across restarts, so the ports
// must come from outside the kernel's ephemeral range (32768–60999 on
// Linux): an ephemeral port freed by a killed broker could be handed to an
// outgoing connection before the broker comes back. Ports are picked at
// random in [minPort, maxPort) so that test processes running at the same
// time rarely try the same one, and each is checked free by listening on it.
const (
	minPort = 20000
	maxPort = 32000
)

// taken remembers every port handed out by this process, so that two
// clusters of one test binary never get the same port even after the
// first one's listener has closed.
var taken struct {
	mu    sync.Mutex
	ports map[int]bool
}

// PickPorts returns n distinct loopback ports in [20000, 32000) that were
// free when checked and have not been handed out before in this process.
// It returns an error when it cannot find n after many tries. It is safe
// for concurrent use.
func PickPorts(n int) ([]int, error) {
	taken.mu.Lock()
	defer taken.mu.Unlock()
	if taken.ports == nil {
		taken.ports = map[int]bool{}
	}
	var out []int
	for tries := 0; len(out) < n; tries++ {
		if tries > 100*n+1000 {
			return nil, fmt.Errorf("found only %d free ports of %d in [%d, %d)", len(out), n, minPort, maxPort)
		}
		p := minPort + rand.IntN(maxPort-minPort)
		if taken.ports[p] || !portFree(p) {
			continue
		}
		taken.ports[p] = true
		out = append(out, p)
	}
	return out, nil
}

// portFree reports whether 127.0.0.1:p can be listened on now.
func portFree(p int) bool {
	l, err := net.Listen("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(p)))
	if err != nil {
		return false
	}
	return l.Close() == nil
}

// errClosed is returned by operations on a closed Proxy, Mesh or Cluster.
var errClosed = errors.New("chaos: closed")
