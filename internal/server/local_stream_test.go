package server_test

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"net"
	"runtime"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/peer"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"

	rallyv1 "github.com/rallyhq/rally/gen/go/rally/v1"
	"github.com/rallyhq/rally/internal/pubsub/memory"
	"github.com/rallyhq/rally/internal/server"
	memstore "github.com/rallyhq/rally/internal/store/memory"
)

// streamServer is what Server.Local's connection offers the gateway for server streams.
type streamServer interface {
	ServeStream(ctx context.Context, method string, req any, header func(metadata.MD), send func(any) error) error
}

// TestLocalStreamAsThePort opens the same watch streams over the gRPC port and in process
// (ServeStream, which the REST gateway uses) and expects the same: the first message,
// the response headers, the status of refused and failed streams, and what the stream
// interceptors see of the caller (metadata, peer, none of the caller's context values).
// Contexts derived from the stream's start no goroutine; the caller's cancellation ends
// the stream.
func TestLocalStreamAsThePort(t *testing.T) {
	type seen struct {
		md         metadata.MD
		peer       string
		value      any
		goroutines int // started by deriving 100 cancellable contexts from the stream's
	}
	type ctxKey struct{}
	seenc := make(chan seen, 1)
	spy := func(srv any, ss grpc.ServerStream, _ *grpc.StreamServerInfo, h grpc.StreamHandler) error {
		ctx := ss.Context()
		md, _ := metadata.FromIncomingContext(ctx)
		p, _ := peer.FromContext(ctx)
		before := runtime.NumGoroutine()
		for range 100 {
			_, cancel := context.WithCancel(ctx)
			defer cancel()
		}
		select {
		case seenc <- seen{md: md, peer: p.Addr.String(), value: ctx.Value(ctxKey{}), goroutines: runtime.NumGoroutine() - before}:
		default:
		}
		return h(srv, ss)
	}
	now := time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC)
	srv, err := server.New(server.Options{Store: memstore.New(), AdminToken: adminToken, Now: func() time.Time { return now },
		Broker: memory.New(), Logger: slog.New(slog.NewTextHandler(io.Discard, nil)),
		BeforeAuthStream: []grpc.StreamServerInterceptor{spy}, ServerOptions: []grpc.ServerOption{grpc.MaxRecvMsgSize(2048)}})
	if err != nil {
		t.Fatal(err)
	}
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go func() { _ = srv.GRPC.Serve(lis) }()
	t.Cleanup(srv.GRPC.Stop)
	remote, err := grpc.NewClient(lis.Addr().String(), grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { remote.Close() })
	local := srv.Local(server.LocalOptions{Remote: remote, Authority: lis.Addr().String(),
		Peer: &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 1234}, MaxRecvMsgSize: 2048}).(streamServer)

	adminCtx := admin(t.Context())
	e, err := rallyv1.NewEventServiceClient(remote).CreateEvent(adminCtx, &rallyv1.CreateEventRequest{EventId: "streamed", Event: validEvent("")})
	if err != nil {
		t.Fatal(err)
	}

	type result struct {
		first  proto.Message
		code   codes.Code
		msg    string
		header metadata.MD
		seen   seen
	}
	const method = "/rally.v1.EventService/WatchEvent"
	errFirst := status.Error(codes.Canceled, "the first message is enough")
	overPort := func(ctx context.Context, req *rallyv1.WatchEventRequest) result {
		ctx, cancel := context.WithCancel(ctx)
		defer cancel()
		st, err := rallyv1.NewEventServiceClient(remote).WatchEvent(ctx, req)
		if err != nil {
			t.Fatal(err)
		}
		var r result
		first, err := st.Recv()
		if err == nil {
			r.first = first
		}
		r.code, r.msg = status.Code(err), status.Convert(err).Message()
		r.header, _ = st.Header()
		delete(r.header, "content-type") // the port's transport header, which the gateway drops
		r.seen = <-seenc
		return r
	}
	inProcess := func(ctx context.Context, req *rallyv1.WatchEventRequest) result {
		var r result
		headers := 0
		err := local.ServeStream(ctx, method, req, func(md metadata.MD) { headers++; r.header = md }, func(m any) error {
			if headers != 1 {
				t.Errorf("a message after %d headers, want 1", headers)
			}
			r.first = m.(proto.Message)
			return errFirst
		})
		if headers != 1 {
			t.Errorf("%d headers, want 1", headers)
		}
		if r.first == nil {
			r.code, r.msg = status.Code(err), status.Convert(err).Message()
		} else if !errors.Is(err, errFirst) {
			t.Errorf("the error of send is not the stream's: %v", err)
		}
		r.seen = <-seenc
		return r
	}

	ctx := metadata.AppendToOutgoingContext(context.WithValue(t.Context(), ctxKey{}, "caller's"),
		"X-Forwarded-For", "203.0.113.7", "x-request-id", "req-1")
	for _, c := range []struct {
		name string
		ctx  context.Context
		req  *rallyv1.WatchEventRequest
		code codes.Code
	}{
		{"anonymous", ctx, &rallyv1.WatchEventRequest{Name: e.GetName()}, codes.OK},
		{"organiser", metadata.AppendToOutgoingContext(ctx, "authorization", "Bearer "+adminToken), &rallyv1.WatchEventRequest{Name: e.GetName()}, codes.OK},
		{"not found", ctx, &rallyv1.WatchEventRequest{Name: "events/nowhere"}, codes.NotFound},
		{"invalid", ctx, &rallyv1.WatchEventRequest{Name: "NOT A NAME"}, codes.InvalidArgument},
		{"bad token", metadata.AppendToOutgoingContext(ctx, "authorization", "Bearer rly_rsvp_nonsense"), &rallyv1.WatchEventRequest{Name: e.GetName()}, codes.Unauthenticated},
		{"too large", ctx, &rallyv1.WatchEventRequest{Name: e.GetName(), Cursor: strings.Repeat("c", 4096)}, codes.ResourceExhausted},
	} {
		port, in := overPort(c.ctx, c.req), inProcess(c.ctx, c.req)
		if port.code != c.code {
			t.Errorf("%s: over the port %v %q, want %v", c.name, port.code, port.msg, c.code)
		}
		if !proto.Equal(port.first, in.first) || port.code != in.code || port.msg != in.msg {
			t.Errorf("%s: over the port %v %v %q, in process %v %v %q", c.name, port.first, port.code, port.msg, in.first, in.code, in.msg)
		}
		if !equalMD(port.header, in.header) {
			t.Errorf("%s: response headers: port %v, in process %v", c.name, port.header, in.header)
		}
		delete(port.seen.md, ":authority")
		delete(in.seen.md, ":authority")
		if !equalMD(port.seen.md, in.seen.md) {
			t.Errorf("%s: incoming metadata: port %v, in process %v", c.name, port.seen.md, in.seen.md)
		}
		host, _, _ := net.SplitHostPort(in.seen.peer)
		if !net.ParseIP(host).IsLoopback() || in.seen.value != nil {
			t.Errorf("%s: in process the peer %s, a value of the caller's context %v", c.name, in.seen.peer, in.seen.value)
		}
		if in.seen.goroutines > 10 {
			t.Errorf("%s: 100 contexts derived from the stream's started %d goroutines", c.name, in.seen.goroutines)
		}
	}

	// The caller's cancellation ends the stream, as CANCELED.
	cctx, cancel := context.WithCancel(t.Context())
	done := make(chan error, 1)
	go func() {
		done <- local.ServeStream(cctx, method, &rallyv1.WatchEventRequest{Name: e.GetName()}, func(metadata.MD) {}, func(any) error {
			cancel() // after the snapshot
			return nil
		})
	}()
	select {
	case err := <-done:
		if status.Code(err) != codes.Canceled {
			t.Errorf("a cancelled stream ended with %v, want CANCELED", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("the stream did not end when its caller's context did")
	}
	<-seenc
	if err := local.ServeStream(t.Context(), "/rally.v1.EventService/Nothing", &rallyv1.WatchEventRequest{}, nil, nil); status.Code(err) != codes.Unimplemented {
		t.Errorf("an unknown method: %v, want UNIMPLEMENTED", err)
	}
}
