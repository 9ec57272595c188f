package app_test

import (
	"context"
	"errors"
	"net"
	"net/http"
	"runtime"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/status"

	rallyv1 "github.com/rallyhq/rally/gen/go/rally/v1"
	"github.com/rallyhq/rally/internal/app"
	"github.com/rallyhq/rally/internal/app/apptest"
)

// The abuse tests (abuse_*_test.go) replay the attacks of issue 14 against rallyd as it
// ships: no flag that loosens a limit, only the store. Each attacker and each honest
// caller has an address of its own on loopback (127.0.0.0/8 is all loopback on Linux),
// since every per-address bound would otherwise count them together.

// Addresses of the abuse tests' callers. The gateway's own connection to the gRPC port
// comes from 127.0.0.1, so no attacker uses it.
const (
	attackerIP = "127.0.0.3"
	honestIP   = "127.0.0.2"
)

// startDefaults runs rallyd with the shipped limits on the given store.
func startDefaults(t *testing.T, redisURL string) *app.App {
	t.Helper()
	return apptest.Start(t, token, "--redis-url="+redisURL)
}

// dialerFrom dials from the given loopback address. It skips the test on systems where
// only 127.0.0.1 is loopback (macOS), where the attacks cannot be told from the honest
// callers by address.
func dialerFrom(t *testing.T, ip string) *net.Dialer {
	t.Helper()
	d := &net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(ip)}, Timeout: 5 * time.Second}
	c, err := net.ListenPacket("udp", ip+":0")
	if err != nil {
		if errors.Is(err, syscall.EADDRNOTAVAIL) {
			t.Skipf("this system cannot send from %s: the abuse tests need several loopback addresses", ip)
		}
		t.Fatal(err)
	}
	c.Close()
	return d
}

// grpcFrom is a gRPC connection to a from the given loopback address.
func grpcFrom(t *testing.T, a *app.App, ip string) *grpc.ClientConn {
	t.Helper()
	d := dialerFrom(t, ip)
	conn, err := grpc.NewClient(a.GRPCAddr(), grpc.WithTransportCredentials(insecure.NewCredentials()),
		grpc.WithContextDialer(func(ctx context.Context, addr string) (net.Conn, error) { return d.DialContext(ctx, "tcp", addr) }))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	return conn
}

// httpFrom is an HTTP client that connects from the given loopback address.
func httpFrom(t *testing.T, ip string) *http.Client {
	t.Helper()
	tr := &http.Transport{DialContext: dialerFrom(t, ip).DialContext, MaxIdleConnsPerHost: 100}
	t.Cleanup(tr.CloseIdleConnections)
	return &http.Client{Transport: tr, Timeout: 10 * time.Second}
}

// abuseWorld is what the admin sets up before an attack: a campaign with a 60-place
// event and a 30-place task.
type abuseWorld struct {
	campaign, event, task string
}

func newAbuseWorld(t *testing.T, conn *grpc.ClientConn) abuseWorld {
	t.Helper()
	ctx := withToken(t.Context(), token)
	c := untilAnswered(t, func() (*rallyv1.Campaign, error) {
		return rallyv1.NewCampaignServiceClient(conn).CreateCampaign(ctx, &rallyv1.CreateCampaignRequest{Campaign: &rallyv1.Campaign{Title: "Solidarity"}})
	})
	ev := eventIn(c.GetName())
	ev.Capacity = 60
	ev.AttendanceVisibility = rallyv1.AttendanceVisibility_ATTENDANCE_VISIBILITY_EXACT
	e := untilAnswered(t, func() (*rallyv1.Event, error) {
		return rallyv1.NewEventServiceClient(conn).CreateEvent(ctx, &rallyv1.CreateEventRequest{Event: ev})
	})
	task := taskIn(c.GetName())
	task.MaxConcurrentClaims = 30
	tk := untilAnswered(t, func() (*rallyv1.Task, error) {
		return rallyv1.NewTaskServiceClient(conn).CreateTask(ctx, &rallyv1.CreateTaskRequest{Task: task})
	})
	return abuseWorld{campaign: c.GetName(), event: e.GetName(), task: tk.GetName()}
}

// untilAnswered makes a call that prepares an attack or checks an honest caller's
// outcome, retrying while the store is too slow to answer within the call timeout
// (UNAVAILABLE, which says to retry): under the race detector, with every parallel test
// starting its own Redis, a 2-core machine can be that slow, and that is not what these
// tests are about.
func untilAnswered[T any](t *testing.T, call func() (T, error)) T {
	t.Helper()
	for i := 0; ; i++ {
		v, err := call()
		if err == nil {
			return v
		}
		if status.Code(err) != codes.Unavailable || i == 4 {
			t.Fatal(err)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// unexpected counts the outcomes other than those allowed. UNAVAILABLE (the store did not
// answer within the call timeout, on an overloaded machine) is always allowed: a call that
// timed out was not let through.
func unexpected(seen map[codes.Code]int, allowed ...codes.Code) int {
	n := 0
	for code, k := range seen {
		if code != codes.Unavailable && !slices.Contains(allowed, code) {
			n += k
		}
	}
	return n
}

// newOrganiser creates an organiser and a token of it (as the admin, whose calls no
// limit counts), and returns the token.
func newOrganiser(t *testing.T, conn *grpc.ClientConn, id string) string {
	t.Helper()
	ctx := withToken(t.Context(), token)
	orgs := rallyv1.NewOrganiserServiceClient(conn)
	o := untilAnswered(t, func() (*rallyv1.Organiser, error) {
		return orgs.CreateOrganiser(ctx, &rallyv1.CreateOrganiserRequest{OrganiserId: id, Organiser: &rallyv1.Organiser{DisplayName: id}})
	})
	return mintToken(t, orgs, ctx, o.GetName())
}

// mintToken creates an API token of the organiser, with the caller in ctx.
func mintToken(t *testing.T, orgs rallyv1.OrganiserServiceClient, ctx context.Context, organiser string) string {
	t.Helper()
	return untilAnswered(t, func() (*rallyv1.CreateApiTokenResponse, error) {
		return orgs.CreateApiToken(ctx, &rallyv1.CreateApiTokenRequest{Parent: organiser, ApiToken: &rallyv1.ApiToken{DisplayName: "laptop"}})
	}).GetSecret()
}

// serverGoroutines counts the goroutines of the process that serve connections and calls
// (gRPC's server transports and handlers, net/http's connections, Rally's handlers),
// leaving out the test's own clients, which live in the same process.
func serverGoroutines() int {
	runtime.GC()
	buf := make([]byte, 32<<20)
	buf = buf[:runtime.Stack(buf, true)]
	n := 0
	for _, g := range strings.Split(string(buf), "\n\n") {
		for _, mark := range []string{"(*http2Server)", "grpc.(*Server)", "transport.NewServerTransport", "net/http.(*conn)", "rally/internal/server.", "rally/internal/pubsub"} {
			if strings.Contains(g, mark) {
				n++
				break
			}
		}
	}
	return n
}
