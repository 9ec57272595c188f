package e2e_test

import (
	"context"
	"net/http"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/status"

	rallyv1 "github.com/rallyhq/rally/gen/go/rally/v1"
	"github.com/rallyhq/rally/internal/redistest"
)

// TestGracefulShutdown: at shutdown the replica first reports not ready on both health
// endpoints while it still serves (for --shutdown-delay), then drains: a unary call in
// flight completes, and watch streams end with UNAVAILABLE (resumable elsewhere, see
// TestWatchAcrossReplicas).
func TestGracefulShutdown(t *testing.T) {
	t.Parallel()
	srv := redistest.Start(t)
	a := startApp(t, srv.URL(), "--shutdown-delay=700ms")
	r := dialReplica(t, a)
	conn, err := grpc.NewClient(a.GRPCAddr(), grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	health := healthpb.NewHealthClient(conn)
	ev := exactEvent(t, r)
	watch, err := r.events.WatchEvent(t.Context(), &rallyv1.WatchEventRequest{Name: ev.GetName()})
	if err != nil {
		t.Fatal(err)
	}
	recv(t, watch, 2*time.Second) // the snapshot

	// A call in flight when the shutdown starts: Redis holds its write for a while.
	if err := srv.Client().Do(t.Context(), "CLIENT", "PAUSE", "1200", "WRITE").Err(); err != nil {
		t.Fatal(err)
	}
	inFlight := make(chan error, 1)
	go func() {
		ctx, cancel := context.WithTimeout(t.Context(), 5*time.Second)
		defer cancel()
		_, err := r.rsvps.CreateRsvp(ctx, &rallyv1.CreateRsvpRequest{Parent: ev.GetName(), Rsvp: &rallyv1.Rsvp{}})
		inFlight <- err
	}()
	time.Sleep(200 * time.Millisecond)

	shutdown := make(chan error, 1)
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		shutdown <- a.Shutdown(ctx)
	}()
	eventually(t, 300*time.Millisecond, "not ready on both endpoints right after the shutdown starts", func() bool {
		st, code := readiness(t, a, health)
		return st == healthpb.HealthCheckResponse_NOT_SERVING && code == http.StatusServiceUnavailable
	})
	// Unready, but still serving until the delay is over.
	if _, err := r.events.GetEvent(t.Context(), &rallyv1.GetEventRequest{Name: ev.GetName()}); err != nil {
		t.Errorf("a new call during the shutdown delay: %v", err)
	}

	if err := <-inFlight; err != nil {
		t.Errorf("the call in flight at shutdown: %v, want it drained", err)
	}
	_, err = watch.Recv()
	for status.Code(err) == codes.OK { // an attendance change may come first
		_, err = watch.Recv()
	}
	if status.Code(err) != codes.Unavailable {
		t.Errorf("watch stream after shutdown: %v, want UNAVAILABLE", err)
	}
	if err := <-shutdown; err != nil {
		t.Errorf("Shutdown: %v", err)
	}
}
