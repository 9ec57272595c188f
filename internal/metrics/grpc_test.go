package metrics

import (
	"context"
	"errors"
	"strings"
	"testing"

	grpcprom "github.com/grpc-ecosystem/go-grpc-middleware/providers/prometheus"
	"github.com/prometheus/client_golang/prometheus"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

type services map[string]grpc.ServiceInfo

func (s services) GetServiceInfo() map[string]grpc.ServiceInfo { return s }

type fakeStream struct {
	grpc.ServerStream
	ctx context.Context
}

func (s fakeStream) Context() context.Context { return s.ctx }
func (s fakeStream) SendMsg(any) error        { return nil }
func (s fakeStream) RecvMsg(any) error        { return nil }

// The grpc_server_* counters are go-grpc-middleware's, series for series: the same
// names, labels and values for the same calls, from InitializeMethods on.
func TestServerCountersAsGoGRPCMiddleware(t *testing.T) {
	srv := services{"rally.v1.EventService": {Methods: []grpc.MethodInfo{
		{Name: "GetEvent"}, {Name: "WatchEvent", IsServerStream: true},
	}}}
	m := New()
	m.InitializeMethods(srv)
	theirs := grpcprom.NewServerMetrics()
	reg := prometheus.NewRegistry()
	reg.MustRegister(theirs)
	theirs.InitializeMetrics(srv)

	unary := &grpc.UnaryServerInfo{FullMethod: "/rally.v1.EventService/GetEvent"}
	stream := &grpc.StreamServerInfo{FullMethod: "/rally.v1.EventService/WatchEvent", IsServerStream: true}
	for _, err := range []error{nil, status.Error(codes.NotFound, "no"), context.Canceled, errors.New("plain")} {
		h := func(context.Context, any) (any, error) { return "ok", err }
		for _, i := range []grpc.UnaryServerInterceptor{m.UnaryServerInterceptor(), theirs.UnaryServerInterceptor()} {
			_, _ = i(context.Background(), nil, unary, h)
		}
		sh := func(_ any, ss grpc.ServerStream) error {
			_ = ss.RecvMsg(nil)
			_ = ss.SendMsg(nil)
			_ = ss.SendMsg(nil)
			return err
		}
		for _, i := range []grpc.StreamServerInterceptor{m.StreamServerInterceptor(), theirs.StreamServerInterceptor()} {
			_ = i(nil, fakeStream{ctx: context.Background()}, stream, sh)
		}
	}
	grpcSeries := func(all map[string]float64) map[string]float64 {
		out := map[string]float64{}
		for k, v := range all {
			if strings.HasPrefix(k, "grpc_server_") && !strings.HasPrefix(k, "grpc_server_handling_seconds") {
				out[k] = v
			}
		}
		return out
	}
	ours, want := grpcSeries(gather(t, m.registry)), grpcSeries(gather(t, reg))
	if len(want) == 0 {
		t.Fatal("no series to compare")
	}
	for k, v := range want {
		if got, ok := ours[k]; !ok || got != v {
			t.Errorf("%s = %v (exists: %v), want %v", k, got, ok, v)
		}
	}
	for k := range ours {
		if _, ok := want[k]; !ok {
			t.Errorf("%s: a series go-grpc-middleware does not have", k)
		}
	}
}
