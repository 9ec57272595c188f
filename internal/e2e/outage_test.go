package e2e_test

import (
	"context"
	"net/http"
	"runtime"
	"sync"
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

// TestRedisOutage: with Redis gone, calls fail fast with UNAVAILABLE (HTTP 503) within
// their deadline, and both health endpoints say not serving; when Redis is back,
// everything recovers by itself, and the outage, with dozens of failed calls, leaves no
// goroutines behind.
func TestRedisOutage(t *testing.T) {
	srv := redistest.Start(t)
	a := startApp(t, srv.URL())
	r := dialReplica(t, a)
	conn, err := grpc.NewClient(a.GRPCAddr(), grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	health := healthpb.NewHealthClient(conn)
	ev := exactEvent(t, r)
	if _, err := r.rsvps.CreateRsvp(t.Context(), &rallyv1.CreateRsvpRequest{Parent: ev.GetName(), Rsvp: &rallyv1.Rsvp{}}); err != nil {
		t.Fatal(err)
	}
	if st, code := readiness(t, a, health); st != healthpb.HealthCheckResponse_SERVING || code != http.StatusOK {
		t.Fatalf("before the outage: %v, HTTP %d", st, code)
	}
	runtime.GC()
	before := runtime.NumGoroutine()

	srv.Stop()
	for _, call := range []struct {
		name string
		do   func(context.Context) error
	}{
		{"CreateRsvp", func(ctx context.Context) error {
			_, err := r.rsvps.CreateRsvp(ctx, &rallyv1.CreateRsvpRequest{Parent: ev.GetName(), Rsvp: &rallyv1.Rsvp{}})
			return err
		}},
		{"GetEvent", func(ctx context.Context) error {
			_, err := r.events.GetEvent(ctx, &rallyv1.GetEventRequest{Name: ev.GetName()})
			return err
		}},
	} {
		ctx, cancel := context.WithTimeout(t.Context(), 2*time.Second)
		start := time.Now()
		err := call.do(ctx)
		cancel()
		if status.Code(err) != codes.Unavailable {
			t.Errorf("%s with Redis down: %v, want UNAVAILABLE", call.name, err)
		}
		if d := time.Since(start); d > time.Second {
			t.Errorf("%s took %v to fail: not fast", call.name, d)
		}
	}
	// Many more failing calls, at once: if failing left anything behind (a goroutine, a
	// connection), the count after the outage would show it.
	var wg sync.WaitGroup
	for i := range 50 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			ctx, cancel := context.WithTimeout(t.Context(), 2*time.Second)
			defer cancel()
			var err error
			if i%2 == 0 {
				_, err = r.rsvps.CreateRsvp(ctx, &rallyv1.CreateRsvpRequest{Parent: ev.GetName(), Rsvp: &rallyv1.Rsvp{}})
			} else {
				_, err = r.events.GetEvent(ctx, &rallyv1.GetEventRequest{Name: ev.GetName()})
			}
			if c := status.Code(err); c != codes.Unavailable {
				t.Errorf("call %d with Redis down: %v, want UNAVAILABLE", i, err)
			}
		}()
	}
	wg.Wait()
	resp, err := http.Get("http://" + a.HTTPAddr() + "/v1/" + ev.GetName())
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusServiceUnavailable {
		t.Errorf("GET the event over REST with Redis down: HTTP %d, want 503", resp.StatusCode)
	}
	eventually(t, 5*time.Second, "both health endpoints report not serving", func() bool {
		st, code := readiness(t, a, health)
		return st == healthpb.HealthCheckResponse_NOT_SERVING && code == http.StatusServiceUnavailable
	})

	srv.Restart(t) // empty: the event is gone, which the calls below allow for
	eventually(t, 5*time.Second, "both health endpoints report serving again", func() bool {
		st, code := readiness(t, a, health)
		return st == healthpb.HealthCheckResponse_SERVING && code == http.StatusOK
	})
	again := exactEvent(t, r)
	if _, err := r.rsvps.CreateRsvp(t.Context(), &rallyv1.CreateRsvpRequest{Parent: again.GetName(), Rsvp: &rallyv1.Rsvp{}}); err != nil {
		t.Fatalf("CreateRsvp after Redis came back: %v", err)
	}
	eventually(t, 5*time.Second, "goroutines back to their number before the outage", func() bool {
		runtime.GC()
		return runtime.NumGoroutine() <= before+5
	})
}

// TestDeadlineReachesRedis: a client's deadline bounds the Redis calls made for it: with
// Redis paused, a call with a 100ms deadline ends with DEADLINE_EXCEEDED at about 100ms.
func TestDeadlineReachesRedis(t *testing.T) {
	srv := redistest.Start(t)
	a := startApp(t, srv.URL())
	r := dialReplica(t, a)
	ev := exactEvent(t, r)
	if err := srv.Client().Do(t.Context(), "CLIENT", "PAUSE", "2000", "ALL").Err(); err != nil {
		t.Fatal(err)
	}
	for _, call := range []struct {
		name string
		do   func(context.Context) error
	}{
		{"CreateRsvp", func(ctx context.Context) error {
			_, err := r.rsvps.CreateRsvp(ctx, &rallyv1.CreateRsvpRequest{Parent: ev.GetName(), Rsvp: &rallyv1.Rsvp{}})
			return err
		}},
		{"GetEvent", func(ctx context.Context) error {
			_, err := r.events.GetEvent(ctx, &rallyv1.GetEventRequest{Name: ev.GetName()})
			return err
		}},
	} {
		ctx, cancel := context.WithTimeout(t.Context(), 100*time.Millisecond)
		start := time.Now()
		err := call.do(ctx)
		cancel()
		if status.Code(err) != codes.DeadlineExceeded {
			t.Errorf("%s with Redis paused: %v, want DEADLINE_EXCEEDED", call.name, err)
		}
		if d := time.Since(start); d > 400*time.Millisecond {
			t.Errorf("%s returned after %v with a 100ms deadline", call.name, d)
		}
	}
}
