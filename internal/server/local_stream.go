package server

import (
	"context"
	"io"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/mem"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
)

// The REST gateway's watch streams run in process too (issue 19). Over the loopback
// connection each REST watcher held, besides net/http's goroutines, a client stream with
// its context watcher, a server-side handler goroutine and its share of the loopback
// transport, and every message was encoded to protobuf, framed over HTTP/2, written and
// read through two sockets and decoded before the gateway wrote its JSON. ServeStream
// instead runs the stream interceptor chain and the handler in the caller's goroutine
// (the HTTP request's), with a grpc.ServerStream that hands each message to the caller.
//
// What the handler and the interceptors see is what the port gives them, as for unary
// calls (local.go): the context (deadline, cancellation, incoming metadata, peer, the
// transport stream for grpc.SetHeader and grpc.SendHeader), the request decoded by the
// port's codec from the bytes the client's codec encodes, and the call's error as the
// client would receive it. The messages are handed over as they are, without the
// protobuf round trip: the caller must be done with a message (the gateway marshals it
// to JSON) before send returns, as grpc-go encodes it before SendMsg returns, since the
// handler may change it or share it with other watchers.

// ServeStream runs the server-streaming method (its full name, /package.Service/Method)
// with the request req in the calling goroutine until the handler returns or ctx ends.
// header is called once with the response headers (nil if none), when the port would
// send them: at SendHeader, before the first message, or before ServeStream returns.
// send is called with each message; an error from it ends the stream (the handler's
// SendMsg returns it). The error returned is the status the client would receive.
func (c *localConn) ServeStream(ctx context.Context, method string, req any, header func(metadata.MD), send func(any) error) error {
	m, ok := c.methods[method]
	if !ok || m.stream == nil || m.desc.ClientStreams {
		return status.Errorf(codes.Unimplemented, "unknown method %s", method)
	}
	if err := ctx.Err(); err != nil {
		return status.FromContextError(err).Err()
	}
	b, err := c.codec.Marshal(req)
	if err != nil {
		return status.Errorf(codes.Internal, "grpc: error while marshaling: %v", err.Error())
	}
	defer b.Free()
	st := &localStream{method: method, onHeader: header}
	sctx, end := c.serverContext(ctx, st)
	defer end()
	ss := &serverStream{ctx: sctx, ts: st, conn: c, req: b, send: send}
	info := &grpc.StreamServerInfo{FullMethod: method, IsClientStream: m.desc.ClientStreams, IsServerStream: m.desc.ServerStreams}
	var appErr error
	if c.streamChain != nil {
		appErr = c.streamChain(m.srv, ss, info, m.stream)
	} else {
		appErr = m.stream(m.srv, ss)
	}
	st.flushHeader()
	if appErr != nil {
		return callError(appErr)
	}
	return nil
}

// serverStream is the grpc.ServerStream of a stream served in process: one request,
// messages to send.
type serverStream struct {
	ctx  context.Context
	ts   *localStream
	conn *localConn
	req  mem.BufferSlice
	read bool
	send func(any) error
}

func (s *serverStream) Context() context.Context { return s.ctx }

// SetHeader, SendHeader and SetTrailer are grpc-go's: an empty md changes nothing.
func (s *serverStream) SetHeader(md metadata.MD) error {
	if md.Len() == 0 {
		return nil
	}
	return s.ts.SetHeader(md)
}

func (s *serverStream) SendHeader(md metadata.MD) error { return s.ts.SendHeader(md) }

func (s *serverStream) SetTrailer(md metadata.MD) {
	if md.Len() == 0 {
		return
	}
	_ = s.ts.SetTrailer(md)
}

// SendMsg hands m to the caller, after the headers if they were not sent. Once ctx has
// ended it fails as the port's does: with the context's status.
func (s *serverStream) SendMsg(m any) error {
	if err := s.ctx.Err(); err != nil {
		return status.FromContextError(err).Err()
	}
	s.ts.flushHeader()
	return s.send(m)
}

// RecvMsg gives the request once, then io.EOF: the client of a server stream sends one
// message and closes its side.
func (s *serverStream) RecvMsg(m any) error {
	if s.read {
		return io.EOF
	}
	s.read = true
	return s.conn.decode(s.req, m)
}
