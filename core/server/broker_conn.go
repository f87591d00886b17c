package server

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// brokerConn is a connection from this broker to another one's Kafka
// listener, for the replica fetcher: requests encoded with kmsg and
// answered one at a time. It learns the peer's versions with ApiVersions
// when it connects and sends each request at the newest version both
// sides know. It is not safe for concurrent use; its owner closes it.
type brokerConn struct {
	nc       net.Conn
	versions map[int16]int16 // the peer's newest version of each API
	format   *kmsg.RequestFormatter
	corr     int32
	maxResp  int32
	buf      []byte
}

// dialFunc dials a network address; Options.Dial, or a net.Dialer's.
type dialFunc func(ctx context.Context, network, addr string) (net.Conn, error)

// dialBroker connects to addr and exchanges ApiVersions. maxResp bounds
// the size of any response it will read.
func dialBroker(ctx context.Context, dial dialFunc, addr, clientID string, maxResp int32) (*brokerConn, error) {
	nc, err := dial(ctx, "tcp", addr)
	if err != nil {
		return nil, err
	}
	c := &brokerConn{nc: nc, format: kmsg.NewRequestFormatter(kmsg.FormatterClientID(clientID)), maxResp: maxResp}
	req := kmsg.NewPtrApiVersionsRequest()
	req.ClientSoftwareName, req.ClientSoftwareVersion = "weir-replica-fetcher", "1"
	c.versions = map[int16]int16{req.Key(): 3}
	resp, err := c.request(ctx, req)
	if err != nil {
		nc.Close()
		return nil, fmt.Errorf("ApiVersions to %s: %w", addr, err)
	}
	av := resp.(*kmsg.ApiVersionsResponse)
	if err := kerr.ErrorForCode(av.ErrorCode); err != nil {
		nc.Close()
		return nil, fmt.Errorf("ApiVersions to %s: %w", addr, err)
	}
	for _, k := range av.ApiKeys {
		c.versions[k.ApiKey] = k.MaxVersion
	}
	return c, nil
}

func (c *brokerConn) close() error { return c.nc.Close() }

// request sends req at the newest version both sides have (at least
// minVersion) and reads its response. ctx's deadline and cancellation
// apply to the whole exchange. Any error leaves the connection unusable:
// close it.
func (c *brokerConn) request(ctx context.Context, req kmsg.Request) (kmsg.Response, error) {
	return c.requestAtLeast(ctx, req, 0)
}

func (c *brokerConn) requestAtLeast(ctx context.Context, req kmsg.Request, minVersion int16) (kmsg.Response, error) {
	peer, ok := c.versions[req.Key()]
	v := min(req.MaxVersion(), peer)
	if !ok || v < minVersion {
		return nil, fmt.Errorf("the peer does not offer %s v%d or later", kmsg.NameForKey(req.Key()), minVersion)
	}
	req.SetVersion(v)
	c.corr++
	c.buf = c.format.AppendRequest(c.buf[:0], req, c.corr)

	// The request's deadline first, then the cancellation hook, so that a
	// cancellation can never be overwritten by the deadline.
	if d, ok := ctx.Deadline(); ok {
		c.nc.SetDeadline(d)
	} else {
		c.nc.SetDeadline(time.Time{})
	}
	stop := context.AfterFunc(ctx, func() { c.nc.SetDeadline(time.Now()) })
	defer stop()
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	if _, err := c.nc.Write(c.buf); err != nil {
		return nil, c.ctxErr(ctx, err)
	}
	var head [8]byte
	if _, err := io.ReadFull(c.nc, head[:]); err != nil {
		return nil, c.ctxErr(ctx, err)
	}
	size := int32(binary.BigEndian.Uint32(head[:4]))
	if size < 4 || size > c.maxResp {
		return nil, fmt.Errorf("response of %d bytes (limit %d)", size, c.maxResp)
	}
	if got := int32(binary.BigEndian.Uint32(head[4:])); got != c.corr {
		return nil, fmt.Errorf("response correlation id %d, sent %d", got, c.corr)
	}
	body := make([]byte, size-4)
	if _, err := io.ReadFull(c.nc, body); err != nil {
		return nil, c.ctxErr(ctx, err)
	}
	resp := req.ResponseKind()
	resp.SetVersion(v)
	if resp.IsFlexible() && req.Key() != kmsg.ApiVersions.Int16() {
		// Response header v1: a tag buffer after the correlation id.
		rest, err := skipTags(body)
		if err != nil {
			return nil, fmt.Errorf("response header: %w", err)
		}
		body = rest
	}
	if err := resp.ReadFrom(body); err != nil {
		return nil, fmt.Errorf("decoding %s v%d response: %w", kmsg.NameForKey(req.Key()), v, err)
	}
	return resp, nil
}

// ctxErr prefers the context's error to the deadline error it caused.
func (c *brokerConn) ctxErr(ctx context.Context, err error) error {
	if ctx.Err() != nil {
		return errors.Join(ctx.Err(), err)
	}
	return err
}
