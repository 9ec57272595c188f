package server

import (
	"context"
	"errors"
	"net"
	"strings"
	"sync"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/encoding"
	protocodec "google.golang.org/grpc/encoding/proto"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/peer"
	"google.golang.org/grpc/status"
)

// The REST gateway's unary calls reach the gRPC services in process (issue 19): through
// the same interceptor chain, handlers and request codec as a call on the gRPC port, with
// the request and response copied as protobuf bytes as the port would, but without
// HTTP/2, a loopback connection, flow control and the goroutines that carry them. That
// was about a third of the CPU of a REST CreateRsvp. What a handler or interceptor can
// see of a call is what the port gives it:
//   - a context with the caller's deadline and cancellation and none of its values (the
//     HTTP request's), with incoming metadata as grpc-go's server builds it from the
//     caller's outgoing metadata (keys lowercased, reserved headers dropped, :authority,
//     content-type and user-agent added), the peer address the caller names (loopback, as the port
//     would see the gateway's connection), and a ServerTransportStream that collects
//     the response headers and trailers for grpc.Header and grpc.Trailer;
//   - the request decoded by requestCodec from the bytes the client's codec encodes,
//     refused over the port's size limit with the port's own status;
//   - a handler's error as the client would receive it: a status error, context errors
//     as CANCELED/DEADLINE_EXCEEDED, any other error as UNKNOWN with its text.
//
// Streams (the watch endpoints) and methods not registered through New still go over
// the connection the gateway dials.

// unaryMethod is one registered unary method.
type unaryMethod struct {
	srv     any
	handler grpc.MethodHandler
}

// localRegistrar registers services on the gRPC server and remembers their unary
// methods for the in-process path.
type localRegistrar struct {
	gs      *grpc.Server
	methods map[string]unaryMethod
}

func (r *localRegistrar) RegisterService(desc *grpc.ServiceDesc, impl any) {
	r.gs.RegisterService(desc, impl)
	for _, m := range desc.Methods {
		r.methods["/"+desc.ServiceName+"/"+m.MethodName] = unaryMethod{srv: impl, handler: m.Handler}
	}
}

// chainUnary is grpc-go's chaining of unary interceptors (server.go,
// chainUnaryInterceptors), which it does not export: the first is outermost.
func chainUnary(ints []grpc.UnaryServerInterceptor) grpc.UnaryServerInterceptor {
	return func(ctx context.Context, req any, info *grpc.UnaryServerInfo, handler grpc.UnaryHandler) (any, error) {
		return ints[0](ctx, req, info, chainedHandler(ints, 0, info, handler))
	}
}

func chainedHandler(ints []grpc.UnaryServerInterceptor, curr int, info *grpc.UnaryServerInfo, final grpc.UnaryHandler) grpc.UnaryHandler {
	if curr == len(ints)-1 {
		return final
	}
	return func(ctx context.Context, req any) (any, error) {
		return ints[curr+1](ctx, req, info, chainedHandler(ints, curr+1, info, final))
	}
}

// LocalOptions configure Server.Local.
type LocalOptions struct {
	// Remote carries what the in-process path does not: streams, and methods not
	// registered through New. It is the connection to the gRPC port.
	Remote grpc.ClientConnInterface
	// Authority is the :authority the port would see: the address the gateway dials.
	Authority string
	// Peer is the client address the port would see for the gateway's connection, a
	// loopback address (clientip.FromGRPC believes the gateway only from loopback).
	Peer net.Addr
	// MaxRecvMsgSize is the port's grpc.MaxRecvMsgSize; 0 means grpc-go's default, 4 MiB.
	MaxRecvMsgSize int
}

// Local returns a connection to this server's services in process, for the gateway.
func (s *Server) Local(opts LocalOptions) grpc.ClientConnInterface {
	if opts.MaxRecvMsgSize <= 0 {
		opts.MaxRecvMsgSize = 4 << 20
	}
	return &localConn{opts: opts, methods: s.methods, chain: s.chain, codec: encoding.GetCodecV2(protocodec.Name),
		serverCodec: newRequestCodec(), userAgent: "grpc-go/" + grpc.Version}
}

type localConn struct {
	opts        LocalOptions
	methods     map[string]unaryMethod
	chain       grpc.UnaryServerInterceptor
	codec       encoding.CodecV2 // the client's
	serverCodec encoding.CodecV2 // the port's (codec.go)
	userAgent   string
}

func (c *localConn) NewStream(ctx context.Context, desc *grpc.StreamDesc, method string, opts ...grpc.CallOption) (grpc.ClientStream, error) {
	return c.opts.Remote.NewStream(ctx, desc, method, opts...)
}

func (c *localConn) Invoke(ctx context.Context, method string, args, reply any, opts ...grpc.CallOption) error {
	m, ok := c.methods[method]
	if !ok {
		return c.opts.Remote.Invoke(ctx, method, args, reply, opts...)
	}
	if err := ctx.Err(); err != nil {
		return status.FromContextError(err).Err()
	}
	req, err := c.codec.Marshal(args)
	if err != nil {
		return status.Errorf(codes.Internal, "grpc: error while marshaling: %v", err.Error())
	}
	defer req.Free()
	st := &localStream{method: method}
	sctx := metadata.NewIncomingContext(callContext{ctx}, c.incoming(ctx))
	sctx = peer.NewContext(sctx, &peer.Peer{Addr: c.opts.Peer})
	sctx = grpc.NewContextWithServerTransportStream(sctx, st)
	dec := func(v any) error {
		if n := req.Len(); n > c.opts.MaxRecvMsgSize {
			return status.Errorf(codes.ResourceExhausted, "grpc: received message larger than max (%d vs. %d)", n, c.opts.MaxRecvMsgSize)
		}
		if err := c.serverCodec.Unmarshal(req, v); err != nil {
			return status.Errorf(codes.Internal, "grpc: failed to unmarshal the received message: %v", err)
		}
		return nil
	}
	resp, appErr := m.handler(m.srv, sctx, dec, c.chain)
	st.deliver(opts)
	if appErr != nil {
		if s, ok := status.FromError(appErr); ok {
			return s.Err()
		}
		return status.FromContextError(appErr).Err()
	}
	if err := ctx.Err(); err != nil {
		// The client would have given up at the deadline or cancellation.
		return status.FromContextError(err).Err()
	}
	out, err := c.serverCodec.Marshal(resp)
	if err != nil {
		return status.Errorf(codes.Internal, "grpc: error while marshaling: %v", err.Error())
	}
	defer out.Free()
	if err := c.codec.Unmarshal(out, reply); err != nil {
		return status.Errorf(codes.Internal, "grpc: failed to unmarshal the received message: %v", err)
	}
	return nil
}

// incoming is the metadata grpc-go's server would build from the caller's outgoing
// metadata (transport/http2_server.go, operateHeaders): lowercase keys, without the
// reserved headers, with :authority, content-type and the client's user-agent.
func (c *localConn) incoming(ctx context.Context) metadata.MD {
	out, _ := metadata.FromOutgoingContext(ctx)
	md := make(metadata.MD, len(out)+3)
	for k, vs := range out {
		k = strings.ToLower(k)
		if reservedHeader(k) {
			continue
		}
		md[k] = append(md[k], vs...)
	}
	md[":authority"] = []string{c.opts.Authority}
	md["content-type"] = contentType
	md["user-agent"] = []string{c.userAgent}
	return md
}

// contentType is the content-type grpc-go's server keeps in the metadata. Shared: no
// interceptor writes to the metadata it reads.
var contentType = []string{"application/grpc"}

// reservedHeader is grpc-go's isReservedHeader (transport/http_util.go): headers a
// client cannot send as metadata.
func reservedHeader(k string) bool {
	if k != "" && k[0] == ':' {
		return true
	}
	switch k {
	case "content-type", "user-agent", "grpc-message-type", "grpc-encoding", "grpc-message", "grpc-status", "grpc-timeout", "te":
		return true
	}
	return false
}

// callContext is the server's context of an in-process call: the caller's deadline and
// cancellation, none of its values.
type callContext struct{ caller context.Context }

func (c callContext) Deadline() (time.Time, bool) { return c.caller.Deadline() }
func (c callContext) Done() <-chan struct{}       { return c.caller.Done() }
func (c callContext) Err() error                  { return c.caller.Err() }
func (c callContext) Value(any) any               { return nil }

// AfterFunc lets contexts derived from this one follow the caller's cancellation
// without a goroutine each (context.propagateCancel looks for it).
func (c callContext) AfterFunc(f func()) func() bool { return context.AfterFunc(c.caller, f) }

// localStream is the grpc.ServerTransportStream of an in-process call: it collects the
// response headers and trailers.
type localStream struct {
	method  string
	mu      sync.Mutex
	header  metadata.MD
	trailer metadata.MD
	sent    bool
}

var errHeaderSent = errors.New("transport: the stream is done or WriteHeader was already called")

func (s *localStream) Method() string { return s.method }

func (s *localStream) SetHeader(md metadata.MD) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.sent {
		return errHeaderSent
	}
	s.header = metadata.Join(s.header, md)
	return nil
}

func (s *localStream) SendHeader(md metadata.MD) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.sent {
		return errHeaderSent
	}
	s.header = metadata.Join(s.header, md)
	s.sent = true
	return nil
}

func (s *localStream) SetTrailer(md metadata.MD) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.trailer = metadata.Join(s.trailer, md)
	return nil
}

// deliver hands the headers and trailers to the caller's grpc.Header and grpc.Trailer
// options.
func (s *localStream) deliver(opts []grpc.CallOption) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.sent = true
	for _, o := range opts {
		switch o := o.(type) {
		case grpc.HeaderCallOption:
			*o.HeaderAddr = s.header
		case grpc.TrailerCallOption:
			*o.TrailerAddr = s.trailer
		}
	}
}
