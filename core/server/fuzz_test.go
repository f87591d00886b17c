package server

import (
	"context"
	"net"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kmsg"
)

// discardConn is a net.Conn that swallows what is written to it.
type discardConn struct{ net.Conn }

func (discardConn) Write(b []byte) (int, error)        { return len(b), nil }
func (discardConn) Close() error                       { return nil }
func (discardConn) SetReadDeadline(time.Time) error    { return nil }
func (discardConn) RemoteAddr() net.Addr               { return &net.TCPAddr{} }
func (discardConn) SetWriteDeadline(t time.Time) error { return nil }

// FuzzRequest hands arbitrary request frames (after the size prefix) to a
// connection of a real broker: decoding and handling must never panic or
// hang, whatever the bytes say. Waits (long-poll fetches, acks=all) end at
// once: the connection's context is already cancelled.
func FuzzRequest(f *testing.F) {
	tb := startBroker(f, "", "")
	done, cancel := context.WithCancel(context.Background())
	cancel()
	for _, req := range []kmsg.Request{
		kmsg.NewPtrApiVersionsRequest(), kmsg.NewPtrMetadataRequest(), kmsg.NewPtrProduceRequest(),
		kmsg.NewPtrFetchRequest(), kmsg.NewPtrListOffsetsRequest(),
	} {
		for v := int16(0); v <= req.MaxVersion(); v++ {
			req.SetVersion(v)
			f.Add(rawFrame(req.Key(), v, req.AppendTo(nil))[4:])
		}
	}
	f.Fuzz(func(t *testing.T, frame []byte) {
		if len(frame) < 8 {
			return // readFrame refuses these before handle
		}
		c := &conn{srv: tb.b.srv, nc: discardConn{}, ctx: done}
		_ = c.handle(frame)
	})
}
