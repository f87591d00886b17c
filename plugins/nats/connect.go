package nats

import (
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"os"
	"strings"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/weirmq/weir/core/config"
)

// natsOptions returns the connection options of a route: authentication,
// TLS, and reconnecting forever. It reads the credential, nkey and TLS
// files now, so that a missing or unreadable file stops start-up with an
// error naming it.
func natsOptions(r *config.NATSRoute) ([]nats.Option, error) {
	opts := []nats.Option{
		nats.Name("weir-bridge-" + r.Name),
		nats.MaxReconnects(-1),
		nats.ReconnectWait(250 * time.Millisecond),
		nats.ReconnectJitter(100*time.Millisecond, time.Second),
		nats.RetryOnFailedConnect(true),
		// Acks sent while disconnected are buffered up to this; beyond it
		// they fail and the messages are redelivered.
		nats.ReconnectBufSize(16 << 20),
	}
	switch {
	case r.Credentials != "":
		if _, err := os.ReadFile(r.Credentials); err != nil {
			return nil, fmt.Errorf("credentials: %w", err)
		}
		opts = append(opts, nats.UserCredentials(r.Credentials))
	case r.NKey != "":
		o, err := nats.NkeyOptionFromSeed(r.NKey)
		if err != nil {
			return nil, fmt.Errorf("nkey %s: %w", r.NKey, err)
		}
		opts = append(opts, o)
	case r.Token != "":
		opts = append(opts, nats.Token(r.Token))
	case r.User != "":
		opts = append(opts, nats.UserInfo(r.User, r.Password))
	}
	if r.TLSCA != "" || r.TLSCert != "" || urlsNeedTLS(r.URL) {
		tc := &tls.Config{MinVersion: tls.VersionTLS12}
		if r.TLSCA != "" {
			pem, err := os.ReadFile(r.TLSCA)
			if err != nil {
				return nil, fmt.Errorf("tls_ca: %w", err)
			}
			pool := x509.NewCertPool()
			if !pool.AppendCertsFromPEM(pem) {
				return nil, fmt.Errorf("tls_ca: %s holds no PEM certificate", r.TLSCA)
			}
			tc.RootCAs = pool
		}
		if r.TLSCert != "" {
			cert, err := tls.LoadX509KeyPair(r.TLSCert, r.TLSKey)
			if err != nil {
				return nil, fmt.Errorf("tls_cert/tls_key: %w", err)
			}
			tc.Certificates = []tls.Certificate{cert}
		}
		opts = append(opts, nats.Secure(tc))
	}
	return opts, nil
}

func urlsNeedTLS(urls string) bool {
	for u := range strings.SplitSeq(urls, ",") {
		u = strings.TrimSpace(u)
		if strings.HasPrefix(u, "tls://") || strings.HasPrefix(u, "wss://") {
			return true
		}
	}
	return false
}
