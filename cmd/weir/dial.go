package main

import (
	"context"
	"fmt"
	"net"
	"os"
	"strings"
)

// dialOverridesEnv names the environment variable through which the chaos
// harness (internal/chaos) puts a TCP proxy between every pair of brokers:
// "from=to,from=to,...", each side host:port. When this node dials a
// "from" address — another broker's controller or Kafka listener — it
// dials "to" instead. Tests only; production nodes leave it unset.
const dialOverridesEnv = "WEIR_DIAL_OVERRIDES_FOR_TESTING"

// dialFunc is how the node opens connections to other brokers.
type dialFunc func(ctx context.Context, network, addr string) (net.Conn, error)

// brokerDialer returns the dialer for broker-to-broker connections: a plain
// net.Dialer, through the overrides in dialOverridesEnv when it is set. A
// malformed variable is an error naming it.
func brokerDialer() (dialFunc, error) {
	var d net.Dialer
	spec := strings.TrimSpace(os.Getenv(dialOverridesEnv))
	if spec == "" {
		return d.DialContext, nil
	}
	over := map[string]string{}
	for _, pair := range strings.Split(spec, ",") {
		from, to, ok := strings.Cut(strings.TrimSpace(pair), "=")
		if !ok {
			return nil, fmt.Errorf("%s: %q is not from=to", dialOverridesEnv, pair)
		}
		for _, a := range []string{from, to} {
			if _, _, err := net.SplitHostPort(a); err != nil {
				return nil, fmt.Errorf("%s: %q: %w", dialOverridesEnv, pair, err)
			}
		}
		over[from] = to
	}
	return func(ctx context.Context, network, addr string) (net.Conn, error) {
		if to, ok := over[addr]; ok {
			addr = to
		}
		return d.DialContext(ctx, network, addr)
	}, nil
}
