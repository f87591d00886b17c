package server

import (
	"bufio"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"runtime/debug"
	"sync"
	"time"

	"github.com/twmb/franz-go/pkg/kmsg"
)

// conn is one client connection, served by one goroutine.
type conn struct {
	srv *Server
	nc  net.Conn
	ctx context.Context // ends when the server closes; handlers' context

	mu      sync.Mutex
	busy    bool // processing a request: stop lets it finish
	stopped bool

	buf       []byte // request frame, reused
	fetchWire fetchRespWire
	wbuf      []byte // response, reused
}

// errCloseConn marks a request the connection cannot survive: Kafka closes
// the connection on unknown APIs, unsupported versions and undecodable
// requests rather than answering them.
var errCloseConn = errors.New("closing connection")

// stop asks the connection to close once its current request is answered;
// an idle connection is unblocked at once.
func (c *conn) stop() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.stopped = true
	if !c.busy {
		c.nc.SetReadDeadline(time.Now())
	}
}

func (c *conn) setBusy(b bool) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.busy = b
	return c.stopped
}

func (c *conn) serve() {
	defer c.nc.Close()
	log := c.srv.logger.With("remote", c.nc.RemoteAddr().String())
	br := bufio.NewReaderSize(c.nc, 32<<10)
	for {
		if c.setBusy(false) {
			return
		}
		if d := c.srv.cfg.IdleTimeout; d > 0 {
			c.nc.SetReadDeadline(time.Now().Add(d))
		} else {
			c.nc.SetReadDeadline(time.Time{})
		}
		frame, pooled, err := c.readFrame(br)
		if err != nil {
			if !errors.Is(err, io.EOF) && !errors.Is(err, net.ErrClosed) && !isTimeout(err) {
				log.Info("closing connection", "err", err)
			}
			return
		}
		if c.setBusy(true) {
			return
		}
		err = c.handle(frame)
		// Nothing a handler returns refers to the frame once handle is
		// done (the log has the records), so a big buffer goes back.
		putFrame(pooled)
		if err != nil {
			log.Info("closing connection", "err", err)
			return
		}
	}
}

func isTimeout(err error) bool {
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}

// smallFrame is the largest request read into the connection's own
// buffer; larger ones borrow from the shared pools, so an idle connection
// pins at most this much.
const smallFrame = 1 << 20

// framePools hold request buffers by power-of-two size class above
// smallFrame: a producer sending multi-megabyte requests reuses buffers
// instead of allocating (and zeroing) one per request.
var framePools [32]sync.Pool

func frameClass(n int) int {
	c := 0
	for size := smallFrame; size < n; size <<= 1 {
		c++
	}
	return c
}

// putFrame returns a pooled frame buffer (nil is ignored).
func putFrame(b *[]byte) {
	if b != nil {
		framePools[frameClass(cap(*b))].Put(b)
	}
}

// readFrame reads one size-prefixed request. The size is checked against
// socket.request.max.bytes before anything is allocated for it. A large
// frame comes from the pools; the caller gives it back with putFrame.
func (c *conn) readFrame(br *bufio.Reader) (frame []byte, pooled *[]byte, err error) {
	var sz [4]byte
	if _, err := io.ReadFull(br, sz[:]); err != nil {
		return nil, nil, err
	}
	n := int32(binary.BigEndian.Uint32(sz[:]))
	if n < 8 || n > c.srv.cfg.MaxRequestBytes {
		return nil, nil, fmt.Errorf("request size %d outside [8, %d] (socket.request.max.bytes)", n, c.srv.cfg.MaxRequestBytes)
	}
	if n <= smallFrame {
		if cap(c.buf) < int(n) {
			size := 4096
			for size < int(n) {
				size <<= 1
			}
			c.buf = make([]byte, size)
		}
		frame = c.buf[:n]
	} else {
		class := frameClass(int(n))
		pooled, _ = framePools[class].Get().(*[]byte)
		if pooled == nil {
			b := make([]byte, smallFrame<<class)
			pooled = &b
		}
		frame = (*pooled)[:n]
	}
	if _, err := io.ReadFull(br, frame); err != nil {
		putFrame(pooled)
		return nil, nil, err
	}
	c.srv.metrics.bytesIn(int(n) + 4)
	return frame, pooled, nil
}

// handle parses the request header, dispatches, and writes the response.
// A handler that panics is a bug, but it costs one connection, never the
// broker.
func (c *conn) handle(frame []byte) (err error) {
	defer func() {
		if r := recover(); r != nil {
			c.srv.logger.Error("handler panicked; closing the connection", "panic", r, "stack", string(debug.Stack()))
			err = fmt.Errorf("%w: internal error", errCloseConn)
		}
	}()
	start := time.Now()
	rc := &requestContext{conn: c}
	rc.key = int16(binary.BigEndian.Uint16(frame[0:2]))
	rc.version = int16(binary.BigEndian.Uint16(frame[2:4]))
	rc.correlationID = int32(binary.BigEndian.Uint32(frame[4:8]))
	body := frame[8:]

	a, known := c.srv.apis[rc.key]
	if !known {
		return fmt.Errorf("%w: unknown API key %d", errCloseConn, rc.key)
	}
	req := kmsg.RequestForKey(rc.key)
	if rc.version < a.min || rc.version > a.max {
		if rc.key == apiVersionsKey {
			// Kafka answers an ApiVersions it cannot parse with version 0
			// and UNSUPPORTED_VERSION, so the client can pick a version.
			return c.writeResponse(rc, unsupportedAPIVersions(c.srv.apis))
		}
		return fmt.Errorf("%w: API %d version %d not supported (%d-%d)", errCloseConn, rc.key, rc.version, a.min, a.max)
	}
	req.SetVersion(rc.version)
	clientID, rest, err := readNullableString(body)
	if err != nil {
		return fmt.Errorf("%w: request header: %v", errCloseConn, err)
	}
	rc.clientID = clientID
	if req.IsFlexible() {
		if rest, err = skipTags(rest); err != nil {
			return fmt.Errorf("%w: request header tags: %v", errCloseConn, err)
		}
	}
	if err := req.ReadFrom(rest); err != nil {
		return fmt.Errorf("%w: decoding API %d v%d: %v", errCloseConn, rc.key, rc.version, err)
	}
	resp, err := a.serve(c.ctx, rc, req)
	if err != nil {
		return err
	}
	c.srv.metrics.request(rc.key, time.Since(start))
	if resp == nil {
		return nil
	}
	return c.writeResponse(rc, resp)
}

// writeResponse frames and sends a response.
func (c *conn) writeResponse(rc *requestContext, resp any) error {
	switch r := resp.(type) {
	case kmsg.Response:
		b := append(c.wbuf[:0], 0, 0, 0, 0)
		b = binary.BigEndian.AppendUint32(b, uint32(rc.correlationID))
		if r.IsFlexible() && rc.key != apiVersionsKey {
			b = append(b, 0) // response header v1: empty tag buffer
		}
		b = r.AppendTo(b)
		binary.BigEndian.PutUint32(b, uint32(len(b)-4))
		c.wbuf = b
		if cap(c.wbuf) > 1<<20 {
			c.wbuf = nil
		}
		n, err := c.nc.Write(b)
		c.srv.metrics.bytesOut(int64(n), 0)
		return err
	case wireWriter:
		n, sf, err := r.writeTo(c.nc)
		c.srv.metrics.bytesOut(n, sf)
		return err
	}
	return fmt.Errorf("internal error: response of type %T", resp)
}

// wireWriter is a response that writes itself (the zero-copy fetch).
type wireWriter interface {
	writeTo(nc net.Conn) (n, sendfile int64, err error)
}

// readNullableString reads the request header's client id (an int16
// length, -1 for null).
func readNullableString(b []byte) (string, []byte, error) {
	if len(b) < 2 {
		return "", nil, errors.New("truncated client id")
	}
	n := int16(binary.BigEndian.Uint16(b))
	b = b[2:]
	if n < 0 {
		return "", b, nil
	}
	if int(n) > len(b) {
		return "", nil, fmt.Errorf("client id length %d exceeds the %d bytes left", n, len(b))
	}
	return string(b[:n]), b[n:], nil
}

// skipTags skips a tagged-field section (KIP-482).
func skipTags(b []byte) ([]byte, error) {
	n, w := binary.Uvarint(b)
	if w <= 0 || n > uint64(len(b)) {
		return nil, errors.New("bad tag count")
	}
	b = b[w:]
	for i := uint64(0); i < n; i++ {
		if _, w = binary.Uvarint(b); w <= 0 {
			return nil, errors.New("bad tag")
		}
		b = b[w:]
		size, w := binary.Uvarint(b)
		if w <= 0 || size > uint64(len(b)-w) {
			return nil, errors.New("bad tag size")
		}
		b = b[w+int(size):]
	}
	return b, nil
}
