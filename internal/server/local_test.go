package server_test

import (
	"context"
	"io"
	"log/slog"
	"net"
	"testing"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/peer"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"

	rallyv1 "github.com/rallyhq/rally/gen/go/rally/v1"
	"github.com/rallyhq/rally/internal/server"
	"github.com/rallyhq/rally/internal/store/memory"
)

// TestLocalAsThePort calls the same methods over the gRPC port and in process
// (Server.Local, which the REST gateway uses) and expects the same answers: responses,
// statuses with their details, response headers, and what the interceptors see of the
// caller (metadata, peer, none of the caller's context values).
func TestLocalAsThePort(t *testing.T) {
	type seen struct {
		md    metadata.MD
		peer  string
		value any
	}
	type ctxKey struct{}
	var last seen
	spy := func(ctx context.Context, req any, _ *grpc.UnaryServerInfo, h grpc.UnaryHandler) (any, error) {
		md, _ := metadata.FromIncomingContext(ctx)
		p, _ := peer.FromContext(ctx)
		last = seen{md: md, peer: p.Addr.String(), value: ctx.Value(ctxKey{})}
		return h(ctx, req)
	}
	srv, err := server.New(server.Options{Store: memory.New(), AdminToken: adminToken, Now: newClock().Now,
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil)), BeforeAuthUnary: []grpc.UnaryServerInterceptor{spy},
		ServerOptions: []grpc.ServerOption{grpc.MaxRecvMsgSize(2048)}})
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
		Peer: &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 1234}, MaxRecvMsgSize: 2048})

	ctx := metadata.AppendToOutgoingContext(context.WithValue(t.Context(), ctxKey{}, "caller's"),
		"authorization", "Bearer "+adminToken, "X-Forwarded-For", "203.0.113.7", "x-request-id", "req-1")
	type result struct {
		resp           proto.Message
		code           codes.Code
		msg            string
		details        int
		header         metadata.MD
		md             metadata.MD
		peerIsLoopback bool
		value          any
	}
	call := func(cc grpc.ClientConnInterface, req *rallyv1.CreateCampaignRequest) result {
		var header metadata.MD
		resp, err := rallyv1.NewCampaignServiceClient(cc).CreateCampaign(ctx, req, grpc.Header(&header))
		st := status.Convert(err)
		delete(header, "content-type") // the port's transport header, which the gateway drops
		md := last.md
		delete(md, ":authority")
		host, _, _ := net.SplitHostPort(last.peer)
		return result{resp, st.Code(), st.Message(), len(st.Details()), header, md, net.ParseIP(host).IsLoopback(), last.value}
	}
	for _, c := range []struct {
		name string
		req  *rallyv1.CreateCampaignRequest
	}{
		{"created", &rallyv1.CreateCampaignRequest{Campaign: validCampaign(), CampaignId: "local-as-port"}},
		{"invalid", &rallyv1.CreateCampaignRequest{Campaign: &rallyv1.Campaign{}}},
		{"too large", &rallyv1.CreateCampaignRequest{Campaign: &rallyv1.Campaign{Title: string(make([]byte, 4096))}}},
		{"already there", &rallyv1.CreateCampaignRequest{Campaign: validCampaign(), CampaignId: "local-as-port"}},
	} {
		name, req := c.name, c.req
		port := call(remote, req)
		if name == "created" {
			req.CampaignId = "local-as-port-2" // the port created the first
		}
		in := call(local, req)
		if name == "created" {
			in.resp.(*rallyv1.Campaign).Name = port.resp.(*rallyv1.Campaign).Name
			in.resp.(*rallyv1.Campaign).Etag = port.resp.(*rallyv1.Campaign).Etag
		}
		if !proto.Equal(port.resp, in.resp) || port.code != in.code || port.msg != in.msg || port.details != in.details {
			t.Errorf("%s: port answered %v %v %q (%d details), in process %v %v %q (%d details)", name,
				port.resp, port.code, port.msg, port.details, in.resp, in.code, in.msg, in.details)
		}
		if name == "too large" {
			continue // refused before any interceptor
		}
		if !equalMD(port.header, in.header) {
			t.Errorf("%s: response headers: port %v, in process %v", name, port.header, in.header)
		}
		if !equalMD(port.md, in.md) {
			t.Errorf("%s: incoming metadata: port %v, in process %v", name, port.md, in.md)
		}
		if !in.peerIsLoopback || in.value != nil || port.value != nil {
			t.Errorf("%s: in process the peer is loopback: %v, a context value of the caller's: %v", name, in.peerIsLoopback, in.value)
		}
	}
	// Not registered through New: over the connection.
	if _, err := healthpb.NewHealthClient(local).Check(ctx, &healthpb.HealthCheckRequest{}); err != nil {
		t.Errorf("health Check through Local: %v", err)
	}
	cancelled, cancel := context.WithCancel(ctx)
	cancel()
	if _, err := rallyv1.NewCampaignServiceClient(local).GetCampaign(cancelled, &rallyv1.GetCampaignRequest{Name: "campaigns/x"}); status.Code(err) != codes.Canceled {
		t.Errorf("a cancelled call in process: %v, want CANCELED", err)
	}
}

func equalMD(a, b metadata.MD) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		w := b[k]
		if len(v) != len(w) {
			return false
		}
		for i := range v {
			if v[i] != w[i] {
				return false
			}
		}
	}
	return true
}
