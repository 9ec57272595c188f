package server

import (
	"context"
	"errors"
	"net"
	"sync"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/encoding"
	protocodec "google.golang.org/grpc/encoding/proto"
	"google.golang.org/grpc/mem"
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
// Server streams (the watch endpoints) run in process too, through ServeStream
// (local_stream.go); NewStream and methods not registered through New still go over the
// connection the gateway dials.

// localMethod is one registered method: unary (handler) or streaming (stream).
type localMethod struct {
	srv     any
	handler grpc.MethodHandler
	stream  grpc.StreamHandler
	desc    grpc.StreamDesc
}

// localRegistrar registers services on the gRPC server and remembers their methods for
// the in-process path.
type localRegistrar struct {
	gs      *grpc.Server
	methods map[string]localMethod
}

func (r *localRegistrar) RegisterService(desc *grpc.ServiceDesc, impl any) {
	r.gs.RegisterService(desc, impl)
	for _, m := range desc.Methods {
		r.methods["/"+desc.ServiceName+"/"+m.MethodName] = localMethod{srv: impl, handler: m.Handler}
	}
	for _, m := range desc.Streams {
		r.methods["/"+desc.ServiceName+"/"+m.StreamName] = localMethod{srv: impl, stream: m.Handler, desc: m}
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
	return &localConn{opts: opts, methods: s.methods, chain: s.chain, streamChain: s.streamChain,
		codec: encoding.GetCodecV2(protocodec.Name), serverCodec: newRequestCodec(), userAgent: "grpc-go/" + grpc.Version}
}

type localConn struct {
	opts        LocalOptions
	methods     map[string]localMethod
	chain       grpc.UnaryServerInterceptor
	streamChain grpc.StreamServerInterceptor
	codec       encoding.CodecV2 // the client's
	serverCodec encoding.CodecV2 // the port's (codec.go)
	userAgent   string
}

func (c *localConn) NewStream(ctx context.Context, desc *grpc.StreamDesc, method string, opts ...grpc.CallOption) (grpc.ClientStream, error) {
	return c.opts.Remote.NewStream(ctx, desc, method, opts...)
}

func (c *localConn) Invoke(ctx context.Context, method string, args, reply any, opts ...grpc.CallOption) error {
	m, ok := c.methods[method]
	if !ok || m.handler == nil {
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
	sctx, end := c.serverContext(ctx, st)
	defer end()
	resp, appErr := m.handler(m.srv, sctx, func(v any) error { return c.decode(req, v) }, c.chain)
	st.deliver(opts)
	if appErr != nil {
		return callError(appErr)
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

// serverContext is the context the port would give the handler of a call whose caller's
// context is ctx: see the comment atop this file.
// Call end when the call returns.
func (c *localConn) serverContext(ctx context.Context, st *localStream) (sctx context.Context, end func()) {
	sctx, end = callContext(ctx)
	sctx = metadata.NewIncomingContext(sctx, c.incoming(ctx))
	sctx = peer.NewContext(sctx, &peer.Peer{Addr: c.opts.Peer})
	return grpc.NewContextWithServerTransportStream(sctx, st), end
}

// decode decodes a request as the port does: refused over its size limit, by its codec.
func (c *localConn) decode(req mem.BufferSlice, v any) error {
	if n := req.Len(); n > c.opts.MaxRecvMsgSize {
		return status.Errorf(codes.ResourceExhausted, "grpc: received message larger than max (%d vs. %d)", n, c.opts.MaxRecvMsgSize)
	}
	if err := c.serverCodec.Unmarshal(req, v); err != nil {
		return status.Errorf(codes.Internal, "grpc: failed to unmarshal the received message: %v", err)
	}
	return nil
}

// callError is a handler's error as the client receives it: a status error as it is,
// context errors as CANCELED or DEADLINE_EXCEEDED, any other as UNKNOWN with its text.
func callError(err error) error {
	if s, ok := status.FromError(err); ok {
		return s.Err()
	}
	return status.FromContextError(err).Err()
}

// incoming is the metadata grpc-go's server would build from the caller's outgoing
// metadata (transport/http2_server.go, operateHeaders): lowercase keys, without the
// reserved headers, with :authority, content-type and the client's user-agent.
func (c *localConn) incoming(ctx context.Context) metadata.MD {
	// FromOutgoingContext returns a copy with lower-case keys: this call's to change.
	md, _ := metadata.FromOutgoingContext(ctx)
	if md == nil {
		md = make(metadata.MD, 3)
	}
	for k := range md {
		if reservedHeader(k) {
			delete(md, k)
		}
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
// cancellation, none of its values. It is a context of the context package's own, so that
// contexts derived from it (the interceptors', the handler's) follow it without a
// goroutine each: context.WithCancel starts a goroutine to follow a parent of another
// type, one per REST watcher and per unary call with a deadline when this was a type of
// its own that hid the caller's cancelCtx with its values. It ends when the caller's
// context does, or when the call returns (end), as the port's does.
func callContext(caller context.Context) (ctx context.Context, end func()) {
	var cancel context.CancelFunc
	if d, ok := caller.Deadline(); ok {
		ctx, cancel = context.WithDeadline(context.Background(), d)
	} else {
		ctx, cancel = context.WithCancel(context.Background())
	}
	stop := context.AfterFunc(caller, func() {
		if errors.Is(caller.Err(), context.DeadlineExceeded) {
			return // this one's timer ends it at the same deadline, as DEADLINE_EXCEEDED
		}
		cancel()
	})
	return ctx, func() { stop(); cancel() }
}

// localStream is the grpc.ServerTransportStream of an in-process call: it collects the
// response headers and trailers.
type localStream struct {
	method  string
	mu      sync.Mutex
	header  metadata.MD
	trailer metadata.MD
	sent    bool
	// onHeader, for a stream, is given the response headers when the port would send
	// them: at SendHeader, before the first message, or at the end (flushHeader).
	onHeader func(metadata.MD)
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
	if s.sent {
		s.mu.Unlock()
		return errHeaderSent
	}
	s.header = metadata.Join(s.header, md)
	s.sent = true
	header := s.header
	s.mu.Unlock()
	if s.onHeader != nil {
		s.onHeader(header)
	}
	return nil
}

// flushHeader sends the headers of a stream unless they were sent.
func (s *localStream) flushHeader() {
	s.mu.Lock()
	if s.sent {
		s.mu.Unlock()
		return
	}
	s.sent = true
	header := s.header
	s.mu.Unlock()
	if s.onHeader != nil {
		s.onHeader(header)
	}
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
