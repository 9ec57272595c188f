//go:build unix

package e2e_test

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/status"

	rallyv1 "github.com/rallyhq/rally/gen/go/rally/v1"
	"github.com/rallyhq/rally/internal/app"
	"github.com/rallyhq/rally/internal/redistest"
	"github.com/rallyhq/rally/internal/server"
)

// What the tests of a hung Redis allow on top of the shipped call timeout: these machines
// are shared and noisy, and the point is seconds, not the 5 to 10 s or the for ever that
// a call took without a deadline of its own.
const (
	hungSlack = 2 * time.Second
	// hungAnswerWithin bounds every call while Redis hangs.
	hungAnswerWithin = server.DefaultCallTimeout + hungSlack
	// readyWithin bounds how long readiness takes to notice Redis hanging or resuming.
	readyWithin = 2 * time.Second
	// goroutineSlack is how many goroutines more than before an outage are no leak:
	// go-redis dials and the readiness check come and go.
	goroutineSlack = 20
)

// freezer is a Redis deployment that a test can hang and resume: a server or a Cluster.
type freezer interface {
	Freeze(testing.TB)
	Thaw(testing.TB)
}

// hungCall is one call a client makes while Redis hangs, with no deadline of its own:
// it reports the gRPC code or HTTP status it got.
type hungCall struct {
	name string
	do   func() (string, error)
}

// hungWorld is a replica with an event and an organiser's token, and the calls to make
// of it while Redis hangs.
type hungWorld struct {
	app    *app.App
	r      replica
	health healthpb.HealthClient
	event  *rallyv1.Event
	calls  []hungCall
}

func newHungWorld(t *testing.T, a *app.App) *hungWorld {
	t.Helper()
	w := &hungWorld{app: a, r: dialReplica(t, a)}
	conn, err := grpc.NewClient(a.GRPCAddr(), grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	w.health = healthpb.NewHealthClient(conn)
	orgs := rallyv1.NewOrganiserServiceClient(conn)
	w.event = exactEvent(t, w.r)
	o, err := orgs.CreateOrganiser(withToken(t.Context(), token), &rallyv1.CreateOrganiserRequest{Organiser: &rallyv1.Organiser{DisplayName: "Hung"}})
	if err != nil {
		t.Fatal(err)
	}
	tok, err := orgs.CreateApiToken(withToken(t.Context(), token), &rallyv1.CreateApiTokenRequest{Parent: o.GetName(), ApiToken: &rallyv1.ApiToken{DisplayName: "hung"}})
	if err != nil {
		t.Fatal(err)
	}
	// No deadline on any of these: the server's own must bound them.
	ctx := context.Background()
	grpcCall := func(err error) (string, error) {
		st, _ := status.FromError(err)
		if st.Code() == codes.Unavailable || st.Code() == codes.DeadlineExceeded {
			return st.Code().String() + ": " + st.Message(), nil
		}
		return st.Code().String(), fmt.Errorf("%v, want UNAVAILABLE or DEADLINE_EXCEEDED", err)
	}
	restCall := func(method, path, body string) (string, error) {
		req, err := http.NewRequestWithContext(ctx, method, "http://"+a.HTTPAddr()+path, strings.NewReader(body))
		if err != nil {
			return "", err
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			return "", err
		}
		defer resp.Body.Close()
		text, _ := io.ReadAll(resp.Body)
		got := fmt.Sprintf("HTTP %d %s", resp.StatusCode, strings.TrimSpace(string(text)))
		if resp.StatusCode != http.StatusServiceUnavailable && resp.StatusCode != http.StatusGatewayTimeout {
			return got, fmt.Errorf("%s %s, want 503 or 504", got, text)
		}
		return got, nil
	}
	name := w.event.GetName()
	w.calls = []hungCall{
		{"gRPC GetEvent", func() (string, error) {
			_, err := w.r.events.GetEvent(ctx, &rallyv1.GetEventRequest{Name: name})
			return grpcCall(err)
		}},
		{"gRPC ListEvents", func() (string, error) {
			_, err := w.r.events.ListEvents(ctx, &rallyv1.ListEventsRequest{})
			return grpcCall(err)
		}},
		{"gRPC CreateRsvp", func() (string, error) {
			_, err := w.r.rsvps.CreateRsvp(ctx, &rallyv1.CreateRsvpRequest{Parent: name, Rsvp: &rallyv1.Rsvp{}})
			return grpcCall(err)
		}},
		{"gRPC GetOrganiser with an organiser's token", func() (string, error) {
			// Authentication itself reads the token from Redis.
			_, err := orgs.GetOrganiser(withToken(ctx, tok.GetSecret()), &rallyv1.GetOrganiserRequest{Name: o.GetName()})
			return grpcCall(err)
		}},
		{"REST GetEvent", func() (string, error) { return restCall("GET", "/v1/"+name, "") }},
		{"REST ListEvents", func() (string, error) { return restCall("GET", "/v1/events", "") }},
		{"REST CreateRsvp", func() (string, error) { return restCall("POST", "/v1/"+name+"/rsvps", `{"guests":1}`) }},
	}
	return w
}

// ready reports whether both health endpoints say serving (true), both not serving
// (false), or they disagree (the test polls again).
func (w *hungWorld) ready(t *testing.T) (ready, agree bool) {
	st, code := readiness(t, w.app, w.health)
	switch {
	case st == healthpb.HealthCheckResponse_SERVING && code == http.StatusOK:
		return true, true
	case st == healthpb.HealthCheckResponse_NOT_SERVING && code == http.StatusServiceUnavailable:
		return false, true
	}
	return false, false
}

// waitReady waits until both health endpoints report want, and returns how long that took.
func (w *hungWorld) waitReady(t *testing.T, want bool, within time.Duration) time.Duration {
	t.Helper()
	start := time.Now()
	eventually(t, within, fmt.Sprintf("both health endpoints report ready=%v", want), func() bool {
		ready, agree := w.ready(t)
		return agree && ready == want
	})
	return time.Since(start)
}

// callAll makes every call once, at the same time, and fails t for any that did not
// fail as it should or took longer than hungAnswerWithin.
func (w *hungWorld) callAll(t *testing.T) {
	t.Helper()
	var wg sync.WaitGroup
	for _, c := range w.calls {
		wg.Go(func() {
			start := time.Now()
			got, err := c.do()
			took := time.Since(start)
			if err != nil {
				t.Errorf("%s with Redis hung: %v", c.name, err)
			}
			if took > hungAnswerWithin {
				t.Errorf("%s with Redis hung: %s after %v, want within %v", c.name, got, took, hungAnswerWithin)
			}
			t.Logf("%s with Redis hung: %s after %v", c.name, got, took.Round(time.Millisecond))
		})
	}
	wg.Wait()
}

// goroutines counts the goroutines of the test process, after a collection.
func goroutines() int {
	runtime.GC()
	return runtime.NumGoroutine()
}

// testRedisHung is the outage of a Redis that hangs rather than goes (a long fork, a
// partition), on the replica a whose store is r: calls without a deadline of their own
// answer within the shipped call timeout, readiness goes and comes back by itself,
// goroutines do not pile up, and everything works again when Redis resumes.
func testRedisHung(t *testing.T, r freezer, a *app.App, concurrent int) {
	w := newHungWorld(t, a)
	if ready, _ := w.ready(t); !ready {
		t.Fatal("not ready before the outage")
	}
	before := goroutines()

	r.Freeze(t)
	took := w.waitReady(t, false, readyWithin)
	t.Logf("not ready %v after Redis hung", took.Round(time.Millisecond))

	w.callAll(t)

	// Many calls at once: each answers in time, and goroutines are bounded by the calls in
	// flight, not growing with the time Redis hangs.
	var most atomic.Int64
	sampled := make(chan struct{})
	stop := make(chan struct{})
	go func() {
		defer close(sampled)
		for {
			most.Store(max(most.Load(), int64(runtime.NumGoroutine())))
			select {
			case <-stop:
				return
			case <-time.After(20 * time.Millisecond):
			}
		}
	}()
	var wg sync.WaitGroup
	var late atomic.Int64
	start := time.Now()
	for i := range concurrent {
		c := w.calls[i%len(w.calls)]
		wg.Go(func() {
			callStart := time.Now()
			if _, err := c.do(); err != nil {
				t.Errorf("%s (one of %d at once) with Redis hung: %v", c.name, concurrent, err)
			}
			if time.Since(callStart) > hungAnswerWithin {
				late.Add(1)
			}
		})
	}
	wg.Wait()
	close(stop)
	<-sampled
	t.Logf("%d calls at once with Redis hung: all answered after %v; goroutines: %d before the outage, at most %d during",
		concurrent, time.Since(start).Round(time.Millisecond), before, most.Load())
	if n := late.Load(); n > 0 {
		t.Errorf("%d of %d calls at once with Redis hung took longer than %v", n, concurrent, hungAnswerWithin)
	}
	// Each call in flight holds a handful of goroutines (the client's, the HTTP
	// connection's, the gateway's and the server's): far more would mean that something
	// waits on Redis beyond its call.
	if limit := int64(before + 15*concurrent); most.Load() > limit {
		t.Errorf("goroutines with %d calls at once and Redis hung: %d, want at most %d", concurrent, most.Load(), limit)
	}
	// With every call answered, nothing may be left waiting on the hung Redis.
	eventually(t, 5*time.Second, "goroutines back to their number before the outage, Redis still hung", func() bool {
		return goroutines() <= before+goroutineSlack
	})
	if ready, _ := w.ready(t); ready {
		t.Error("ready while Redis still hangs")
	}

	r.Thaw(t)
	took = w.waitReady(t, true, readyWithin)
	t.Logf("ready again %v after Redis resumed", took.Round(time.Millisecond))
	// The event is still there (a hung Redis loses nothing), and writes work again.
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	if _, err := w.r.events.GetEvent(ctx, &rallyv1.GetEventRequest{Name: w.event.GetName()}); err != nil {
		t.Errorf("GetEvent after Redis resumed: %v", err)
	}
	if _, err := w.r.rsvps.CreateRsvp(ctx, &rallyv1.CreateRsvpRequest{Parent: w.event.GetName(), Rsvp: &rallyv1.Rsvp{}}); err != nil {
		t.Errorf("CreateRsvp after Redis resumed: %v", err)
	}
	resp, err := http.Get("http://" + a.HTTPAddr() + "/v1/" + w.event.GetName())
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Errorf("REST GetEvent after Redis resumed: HTTP %d", resp.StatusCode)
	}
	eventually(t, 5*time.Second, "goroutines back to their number before the outage", func() bool {
		return goroutines() <= before+goroutineSlack
	})
}

// TestRedisHung: a stopped (SIGSTOP) redis-server, on the shipped call timeout. Not
// parallel, as it counts the process's goroutines.
func TestRedisHung(t *testing.T) {
	srv := redistest.Start(t)
	testRedisHung(t, srv, startApp(t, srv.URL(), shippedDeadline), 50)
}

// TestRedisHungDefaultLimits: the same calls, one of each, with the shipped rate limits,
// whose checks in Redis must not add to the wait.
func TestRedisHungDefaultLimits(t *testing.T) {
	t.Parallel()
	srv := redistest.Start(t)
	w := newHungWorld(t, startDefaultLimits(t, srv.URL()))
	srv.Freeze(t)
	w.callAll(t)
	srv.Thaw(t)
	w.waitReady(t, true, readyWithin)
}

// shippedDeadline puts back the shipped call deadline, which apptest lengthens for the
// other tests (see apptest.CallTimeout).
var shippedDeadline = "--call-timeout=" + server.DefaultCallTimeout.String()

// startDefaultLimits is startApp with the shipped rate limits.
func startDefaultLimits(t *testing.T, redisURL string) *app.App {
	t.Helper()
	return startApp(t, redisURL, "--rate-limits=", shippedDeadline)
}

// TestRedisClusterHung: every node of a Redis Cluster stopped at once. Not parallel, as
// it counts the process's goroutines.
func TestRedisClusterHung(t *testing.T) {
	c := redistest.StartCluster(t)
	testRedisHung(t, c, startApp(t, c.URL(), shippedDeadline), 20)
}
