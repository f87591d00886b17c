package wire

import (
	"context"
	"errors"
	"fmt"

	"github.com/hashicorp/go-plugin"
	"google.golang.org/grpc"
	"google.golang.org/protobuf/types/known/wrapperspb"

	"github.com/weirmq/weir/sdk"
)

// ProtocolVersion is the version of this protocol. A host only talks to a
// guest that announces the same version in the go-plugin handshake.
const ProtocolVersion = 1

// Handshake is the go-plugin handshake both sides use. The cookie is not a
// secret: it only stops a plugin binary started by hand from waiting for a
// host that will never come, and a host from talking to a binary that is
// not a Weir plugin.
var Handshake = plugin.HandshakeConfig{
	ProtocolVersion:  ProtocolVersion,
	MagicCookieKey:   "WEIR_GOPLUGIN",
	MagicCookieValue: "0d8f6c52-weir-goplugin-v1",
}

// PluginSetName is the one entry of the go-plugin PluginSet on both sides.
const PluginSetName = "weir"

// ServiceName is the gRPC service a guest serves.
const ServiceName = "weir.goplugin.v1.Plugin"

// Method names the RPCs of ServiceName.
type Method string

// The methods. Each takes a request payload and returns a reply (a status
// byte, then the payload or an error message).
const (
	// Describe: empty request; reply: EncodeDescription.
	Describe Method = "Describe"
	// Configure: the [plugins.config] table as a JSON object; reply: empty.
	Configure Method = "Configure"
	// Partition: EncodePartitionRequest; reply: EncodePartitions.
	Partition Method = "Partition"
	// Filter: EncodeFilterRequest; reply: EncodeDecisions.
	Filter Method = "Filter"
	// Assign: EncodeAssignInput; reply: EncodeAssignment.
	Assign Method = "Assign"
)

var methods = []Method{Describe, Configure, Partition, Filter, Assign}

// FullName is m's gRPC method path, "/weir.goplugin.v1.Plugin/<m>".
func (m Method) FullName() string { return "/" + ServiceName + "/" + string(m) }

// MaxMessageSize bounds one request or reply, on both sides. Compaction
// filter chunks carry record values, so it is well above gRPC's default
// of 4 MiB.
const MaxMessageSize = 256 << 20

// Handler answers one call on the guest side: req is the request payload
// (owned by the handler), and the result is a complete reply built with
// OK, Declined or Failed. ctx carries the host's call deadline.
type Handler func(ctx context.Context, m Method, req []byte) []byte

// RegisterServer registers ServiceName on s, answering every method with h.
func RegisterServer(s *grpc.Server, h Handler) {
	desc := grpc.ServiceDesc{
		ServiceName: ServiceName,
		HandlerType: (*any)(nil),
		Metadata:    "weir/goplugin/v1",
	}
	for _, m := range methods {
		desc.Methods = append(desc.Methods, grpc.MethodDesc{
			MethodName: string(m),
			Handler: func(_ any, ctx context.Context, dec func(any) error, icept grpc.UnaryServerInterceptor) (any, error) {
				in := new(wrapperspb.BytesValue)
				if err := dec(in); err != nil {
					return nil, err
				}
				call := func(ctx context.Context, req any) (any, error) {
					return wrapperspb.Bytes(h(ctx, m, req.(*wrapperspb.BytesValue).GetValue())), nil
				}
				if icept == nil {
					return call(ctx, in)
				}
				return icept(ctx, in, &grpc.UnaryServerInfo{FullMethod: m.FullName()}, call)
			},
		})
	}
	s.RegisterService(&desc, nil)
}

// Invoke calls m on conn with the request payload req and returns the
// reply's payload. A gRPC failure (the transport, the process, ctx) is
// returned as it is, to be classified with the grpc status package; a
// guest that declined returns an error wrapping sdk.ErrDecline; a guest
// that failed returns a *RemoteError.
func Invoke(ctx context.Context, conn grpc.ClientConnInterface, m Method, req []byte) ([]byte, error) {
	out := new(wrapperspb.BytesValue)
	if err := conn.Invoke(ctx, m.FullName(), wrapperspb.Bytes(req), out); err != nil {
		return nil, err
	}
	return ParseReply(out.GetValue())
}

// Reply status bytes.
const (
	StatusOK       byte = 0
	StatusDeclined byte = 1
	StatusFailed   byte = 2
)

// OK starts a successful reply; append the payload to it.
func OK() []byte { return []byte{StatusOK} }

// Declined is the reply of a guest implementation returning sdk.ErrDecline.
func Declined() []byte { return []byte{StatusDeclined} }

// Failed is the reply of a guest implementation returning any other error.
func Failed(err error) []byte { return append([]byte{StatusFailed}, err.Error()...) }

// RemoteError is a guest implementation's error, as the host receives it.
type RemoteError struct{ Msg string }

func (e *RemoteError) Error() string { return e.Msg }

// ErrMalformed is wrapped by every decoding error.
var ErrMalformed = errors.New("malformed plugin message")

// ParseReply splits a reply into its payload (aliasing reply) and error:
// nil for StatusOK, an error wrapping sdk.ErrDecline for StatusDeclined, a
// *RemoteError for StatusFailed, and an error wrapping ErrMalformed for
// anything else.
func ParseReply(reply []byte) ([]byte, error) {
	if len(reply) == 0 {
		return nil, fmt.Errorf("%w: empty reply", ErrMalformed)
	}
	switch reply[0] {
	case StatusOK:
		return reply[1:], nil
	case StatusDeclined:
		return nil, fmt.Errorf("goplugin: %w", sdk.ErrDecline)
	case StatusFailed:
		return nil, &RemoteError{Msg: string(reply[1:])}
	default:
		return nil, fmt.Errorf("%w: unknown reply status %d", ErrMalformed, reply[0])
	}
}
