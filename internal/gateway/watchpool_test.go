package gateway

import (
	"bytes"
	"context"
	"net"
	"testing"
	"time"

	"github.com/grpc-ecosystem/grpc-gateway/v2/runtime"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/health"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/protobuf/encoding/protojson"

	rallyv1 "github.com/rallyhq/rally/gen/go/rally/v1"
)

// TestStreamPoolSpreadsStreams holds more streams open than the server allows on one
// connection: on one connection the third would wait for ever (and unary calls with it);
// the pool opens more.
func TestStreamPoolSpreadsStreams(t *testing.T) {
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := grpc.NewServer(grpc.MaxConcurrentStreams(2))
	healthpb.RegisterHealthServer(srv, health.NewServer())
	go srv.Serve(lis)
	defer srv.Stop()
	dial := func() (*grpc.ClientConn, error) {
		return grpc.NewClient(lis.Addr().String(), grpc.WithTransportCredentials(insecure.NewCredentials()))
	}
	first, err := dial()
	if err != nil {
		t.Fatal(err)
	}
	defer first.Close()
	pool := newStreamPool(first, first, dial)
	pool.perConn = 1 // a stream a connection, and room for unary calls on the first
	defer pool.Close()
	client := healthpb.NewHealthClient(pool)

	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	var cancels []context.CancelFunc
	for i := range 5 {
		sctx, scancel := context.WithCancel(ctx)
		cancels = append(cancels, scancel)
		s, err := client.Watch(sctx, &healthpb.HealthCheckRequest{})
		if err != nil {
			t.Fatalf("stream %d: %v", i, err)
		}
		if _, err := s.Recv(); err != nil {
			t.Fatalf("stream %d: %v", i, err)
		}
	}
	if n := len(pool.conns); n != 5 {
		t.Errorf("5 streams, 1 a connection: %d connections, want 5", n)
	}
	if _, err := client.Check(ctx, &healthpb.HealthCheckRequest{}); err != nil {
		t.Errorf("unary call with the streams open: %v", err)
	}
	// Streams that end free their place: the next ones reuse the connections.
	for _, c := range cancels {
		c()
	}
	deadline := time.Now().Add(5 * time.Second)
	for {
		pool.mu.Lock()
		open := 0
		for _, c := range pool.conns {
			open += c.streams
		}
		pool.mu.Unlock()
		if open == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d streams still counted after their contexts ended", open)
		}
		time.Sleep(10 * time.Millisecond)
	}
	wctx, wcancel := context.WithTimeout(ctx, 3*time.Second)
	defer wcancel()
	s, err := client.Watch(wctx, &healthpb.HealthCheckRequest{})
	if err == nil {
		_, err = s.Recv()
	}
	if err != nil || len(pool.conns) != 5 {
		t.Errorf("after the streams ended: %v, %d connections, want 5", err, len(pool.conns))
	}
}

// TestStreamJSONCache: a watch stream's message marshals as JSONPb would, whether or not
// it was cached, and a different message never gets another's JSON.
func TestStreamJSONCache(t *testing.T) {
	m := fieldMarshaler{&runtime.JSONPb{MarshalOptions: protojson.MarshalOptions{EmitUnpopulated: true}}}
	msg := func(text string) *rallyv1.Change {
		return &rallyv1.Change{Resource: "events/e1", Kind: rallyv1.ChangeKind_CHANGE_KIND_ANNOUNCEMENT, Cursor: "c1",
			Announcement: &rallyv1.Announcement{Name: "events/e1/announcements/a1", Text: text}}
	}
	for _, text := range []string{"first", "second", "first", "second"} {
		v := map[string]any{"result": msg(text)}
		got, err := m.Marshal(v)
		if err != nil {
			t.Fatal(err)
		}
		want, err := m.JSONPb.Marshal(map[string]any{"result": msg(text)})
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(got, want) {
			t.Errorf("%s: %s, want %s", text, got, want)
		}
	}
	// Anything else is marshalled as before.
	got, err := m.Marshal(msg("x"))
	if err != nil {
		t.Fatal(err)
	}
	if want, _ := m.JSONPb.Marshal(msg("x")); !bytes.Equal(got, want) {
		t.Errorf("a message: %s, want %s", got, want)
	}
	// Many messages: the cache keeps a bounded number.
	for i := range 3 * streamJSONCacheLen {
		if _, err := m.Marshal(map[string]any{"result": msg(string(rune('a'+i%26)) + string(rune('0'+i)))}); err != nil {
			t.Fatal(err)
		}
	}
	streamJSON.mu.Lock()
	n := len(streamJSON.m)
	streamJSON.mu.Unlock()
	if n > streamJSONCacheLen {
		t.Errorf("the cache holds %d messages, at most %d", n, streamJSONCacheLen)
	}
}
