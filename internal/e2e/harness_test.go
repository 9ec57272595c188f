package e2e_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
	goredis "github.com/redis/go-redis/v9"
	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/timestamppb"

	rallyv1 "github.com/rallyhq/rally/gen/go/rally/v1"
	"github.com/rallyhq/rally/internal/app"
	"github.com/rallyhq/rally/internal/app/apptest"
	"github.com/rallyhq/rally/internal/config"
	"github.com/rallyhq/rally/internal/redistest"
)

// The harness of the product tests: what more than one of this package's files uses to
// start rallyd and its stores, call it as its users and attackers do, and read what it
// answered, logged, counted and stored. What only one file uses stays in that file.

// Starting rallyd: in this process, on free loopback ports, with the admin token below,
// on one of the backends.

// token is the admin token of every rallyd the tests start.
const token = "rly_admin_w5tfnrd9yYO2DcE1PdTpQ6mtjNsMY2cudt6Bgkroijw"

// startApp runs the real rallyd (gRPC server, gateway dialling it, store) on free
// loopback ports. redisURL empty means the memory store. Rate limits and the cap on calls
// per address are off, since every test calls from the same address as fast as it can
// (limits_test.go and abuse_*_test.go turn them on); flags in extra come last and win.
func startApp(t *testing.T, redisURL string, extra ...string) *app.App {
	t.Helper()
	return apptest.Start(t, token, append([]string{"--redis-url=" + redisURL, noLimits, "--max-streams-per-addr=0"}, extra...)...)
}

// noLimits turns every default rate limit off.
const noLimits = "--rate-limits=read=off; write=off; auth=off; rally.v1.RsvpService/CreateRsvp=off; " +
	"rally.v1.TaskService/ClaimTask=off; rally.v1.OrganiserService/CreateApiToken=off; " +
	"rally.v1.RsvpService/PairBuddy=off; rally.v1.RsvpService/JoinBuddy=off"

// backends are the stores the tests run on, by name: the memory store, and a real
// redis-server started for the test; each returns the --redis-url of its store (empty
// for the memory store).
func backends(t *testing.T) map[string]func(t *testing.T) string {
	return map[string]func(t *testing.T) string{
		"memory": func(t *testing.T) string { return "" },
		"redis":  func(t *testing.T) string { return redistest.Start(t).URL() },
	}
}

// startLogged runs rallyd logging JSON at level into logs; flags come last and win.
func startLogged(t *testing.T, logs *syncBuffer, level slog.Level, flags ...string) *app.App {
	t.Helper()
	cfg, err := config.Parse(append([]string{"--grpc-addr=127.0.0.1:0", "--http-addr=127.0.0.1:0", "--metrics-addr=127.0.0.1:0",
		"--admin-token=" + token, "--secrets=" + apptest.Secrets}, flags...))
	if err != nil {
		t.Fatal(err)
	}
	a, err := app.Start(t.Context(), cfg, slog.New(slog.NewJSONHandler(logs, &slog.HandlerOptions{Level: level})))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { shutdownApp(t, a) })
	return a
}

// shutdownApp shuts a down, failing the test if it does not stop cleanly within 10s.
func shutdownApp(t *testing.T, a *app.App) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := a.Shutdown(ctx); err != nil {
		t.Errorf("shutdown: %v", err)
	}
}

// syncBuffer is a bytes.Buffer safe for the concurrent writes of a server's goroutines.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string { s.mu.Lock(); defer s.mu.Unlock(); return s.b.String() }

// Resources and callers: what the tests create, and the admin's or an organiser's token
// on a gRPC call.

// withToken adds tok to the outgoing metadata of ctx as a bearer token; an empty tok
// leaves ctx anonymous.
func withToken(ctx context.Context, tok string) context.Context {
	if tok == "" {
		return ctx
	}
	return metadata.AppendToOutgoingContext(ctx, "authorization", "Bearer "+tok)
}

// eventIn is a valid event in campaign, ready to create.
func eventIn(campaign string) *rallyv1.Event {
	return &rallyv1.Event{
		Campaign:  campaign,
		Title:     "Vigil",
		Venue:     &rallyv1.Venue{Kind: rallyv1.VenueKind_VENUE_KIND_EMBASSY, RepresentedCountry: "KZ", Locality: "Berlin", Country: "DE"},
		StartTime: timestamppb.New(time.Date(2030, 5, 17, 12, 0, 0, 0, time.UTC)),
		EndTime:   timestamppb.New(time.Date(2030, 5, 17, 14, 0, 0, 0, time.UTC)),
		TimeZone:  "Europe/Berlin",
	}
}

// taskIn is a valid task in campaign, ready to create.
func taskIn(campaign string) *rallyv1.Task {
	return &rallyv1.Task{Campaign: campaign, Kind: rallyv1.TaskKind_TASK_KIND_SHARE_POST, Title: "Share the statement",
		Deadline: timestamppb.New(time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC))}
}

// eventBody is eventIn's event as the JSON body of a REST request.
func eventBody(campaign string) string {
	return fmt.Sprintf(`{"campaign":%q,"title":"Vigil","venue":{"kind":"VENUE_KIND_EMBASSY","representedCountry":"KZ","locality":"Berlin","country":"DE"},"startTime":"2030-05-17T12:00:00Z","endTime":"2030-05-17T14:00:00Z","timeZone":"Europe/Berlin"}`, campaign)
}

// eventJSON is a REST request body of an event in campaigns/kz-solidarity.
const eventJSON = `{
  "campaign": "campaigns/kz-solidarity",
  "title": "Vigil at the Embassy of Kazakhstan",
  "venue": {"kind": "VENUE_KIND_EMBASSY", "representedCountry": "KZ", "locality": "Berlin", "country": "DE"},
  "startTime": "2030-05-17T12:00:00Z",
  "endTime": "2030-05-17T14:00:00Z",
  "timeZone": "Europe/Berlin",
  "capacity": 100,
  "meetingPoint": "Corner opposite the entrance"
}`

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

// gRPC clients of a replica.

// clients holds a client of every service.
type clients struct {
	campaigns  rallyv1.CampaignServiceClient
	events     rallyv1.EventServiceClient
	organisers rallyv1.OrganiserServiceClient
	rsvps      rallyv1.RsvpServiceClient
	tasks      rallyv1.TaskServiceClient
}

// node is one replica with a client of every service.
type node struct {
	app *app.App
	clients
}

// dialNode connects to a's gRPC port; the connection closes when the test ends.
func dialNode(t *testing.T, a *app.App) node {
	t.Helper()
	conn, err := grpc.NewClient(a.GRPCAddr(), grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	return node{a, clients{
		campaigns:  rallyv1.NewCampaignServiceClient(conn),
		events:     rallyv1.NewEventServiceClient(conn),
		organisers: rallyv1.NewOrganiserServiceClient(conn),
		rsvps:      rallyv1.NewRsvpServiceClient(conn),
		tasks:      rallyv1.NewTaskServiceClient(conn),
	}}
}

// twoNodes starts two replicas on the Redis at url, or one on the memory store (url
// empty), which then plays both.
func twoNodes(t *testing.T, url string, flags ...string) (node, node) {
	a := dialNode(t, startApp(t, url, flags...))
	if url == "" {
		return a, a
	}
	return a, dialNode(t, startApp(t, url, flags...))
}

// replica is a rallyd with clients of the event and RSVP services.
type replica struct {
	app    *app.App
	events rallyv1.EventServiceClient
	rsvps  rallyv1.RsvpServiceClient
}

// dialReplica connects to a's gRPC port; the connection closes when the test ends.
func dialReplica(t *testing.T, a *app.App) replica {
	t.Helper()
	conn, err := grpc.NewClient(a.GRPCAddr(), grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	return replica{a, rallyv1.NewEventServiceClient(conn), rallyv1.NewRsvpServiceClient(conn)}
}

// exactEvent creates, as the admin, an event whose attendance is shown exactly.
func exactEvent(t *testing.T, r replica) *rallyv1.Event {
	t.Helper()
	ev := eventIn("")
	ev.AttendanceVisibility = rallyv1.AttendanceVisibility_ATTENDANCE_VISIBILITY_EXACT
	e, err := r.events.CreateEvent(withToken(t.Context(), token), &rallyv1.CreateEventRequest{Event: ev})
	if err != nil {
		t.Fatal(err)
	}
	return e
}

// Watch streams.

// recv reads the next Change, failing the test after a deadline.
func recv(t *testing.T, s rallyv1.EventService_WatchEventClient, within time.Duration) *rallyv1.Change {
	t.Helper()
	type result struct {
		c   *rallyv1.Change
		err error
	}
	ch := make(chan result, 1)
	go func() { c, err := s.Recv(); ch <- result{c, err} }()
	select {
	case r := <-ch:
		if r.err != nil {
			t.Fatalf("watch ended: %v", r.err)
		}
		return r.c
	case <-time.After(within):
		t.Fatalf("no change within %v", within)
		return nil
	}
}

// changes collects what a watch stream receives, in the background.
type changes struct {
	mu   sync.Mutex
	got  []*rallyv1.Change
	err  error
	done chan struct{}
}

// collect receives stream's changes in the background until it ends.
func collect(t *testing.T, stream interface {
	Recv() (*rallyv1.Change, error)
}) *changes {
	c := &changes{done: make(chan struct{})}
	go func() {
		defer close(c.done)
		for {
			m, err := stream.Recv()
			c.mu.Lock()
			if err != nil {
				c.err = err
				c.mu.Unlock()
				return
			}
			c.got = append(c.got, m)
			c.mu.Unlock()
		}
	}()
	return c
}

// all returns the changes received so far.
func (c *changes) all() []*rallyv1.Change {
	c.mu.Lock()
	defer c.mu.Unlock()
	return slices.Clone(c.got)
}

// waitFor waits until the stream has received a change that ok accepts, and returns
// everything received until then.
func (c *changes) waitFor(t *testing.T, what string, ok func(*rallyv1.Change) bool) []*rallyv1.Change {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		got := c.all()
		for i, m := range got {
			if ok(m) {
				return got[:i+1]
			}
		}
		c.mu.Lock()
		err := c.err
		c.mu.Unlock()
		if err != nil {
			t.Fatalf("waiting for %s: the stream ended: %v", what, err)
		}
		if time.Now().After(deadline) {
			t.Fatalf("no %s within 10s; got %v", what, got)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// REST and error details.

// client calls the REST gateway at base, as the admin where a call asks for it.
type client struct {
	t    *testing.T
	base string
}

// do sends a request and decodes the JSON response.
func (c client) do(method, path, body string, auth bool) (int, map[string]any) {
	c.t.Helper()
	req, err := http.NewRequest(method, c.base+path, strings.NewReader(body))
	if err != nil {
		c.t.Fatal(err)
	}
	if auth {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		c.t.Fatal(err)
	}
	defer resp.Body.Close()
	var out map[string]any
	raw, _ := io.ReadAll(resp.Body)
	if err := json.Unmarshal(raw, &out); err != nil {
		c.t.Fatalf("%s %s: response is not JSON: %q", method, path, raw)
	}
	return resp.StatusCode, out
}

// request sends an HTTP request with headers given as name, value pairs; the response
// body is closed when the test ends.
func request(t *testing.T, method, url string, body io.Reader, headers ...string) *http.Response {
	t.Helper()
	req, err := http.NewRequest(method, url, body)
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i+1 < len(headers); i += 2 {
		req.Header.Set(headers[i], headers[i+1])
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { resp.Body.Close() })
	return resp
}

// restCall sends a request with the headers given as name, value pairs.
func restCall(t *testing.T, method, url, body string, header ...string) restResult {
	t.Helper()
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	req, err := http.NewRequest(method, url, rd)
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i+1 < len(header); i += 2 {
		req.Header[header[i]] = append(req.Header[header[i]], header[i+1]) // as given: no canonical form
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	res := restResult{code: resp.StatusCode, header: resp.Header, raw: string(raw)}
	_ = json.Unmarshal(raw, &res.body)
	var st struct {
		Details []struct {
			FieldViolations []struct{ Field, Description string } `json:"fieldViolations"`
		} `json:"details"`
	}
	_ = json.Unmarshal(raw, &st)
	for _, d := range st.Details {
		for _, v := range d.FieldViolations {
			res.fields = append(res.fields, v.Field)
		}
	}
	if res.code >= 500 {
		t.Errorf("%s %s: %d %s", method, url, res.code, raw)
	}
	return res
}

// restResult is what a REST call answered.
type restResult struct {
	code   int
	fields []string // the BadRequest's fields
	header http.Header
	body   map[string]any
	raw    string
}

// violations returns the fields of an INVALID_ARGUMENT's BadRequest, or nil for another
// error.
func violations(err error) []string {
	st := status.Convert(err)
	if st.Code() != codes.InvalidArgument {
		return nil
	}
	var out []string
	for _, d := range st.Details() {
		if br, ok := d.(*errdetails.BadRequest); ok {
			for _, v := range br.GetFieldViolations() {
				out = append(out, v.GetField())
			}
		}
	}
	return out
}

// generatedID is the form of the IDs rallyd makes up.
var generatedID = regexp.MustCompile(`^[0-9a-f]{32}$`)

// Waiting: for a condition, for readiness, for an overloaded store.

// eventually polls cond every 50ms until it holds or within passes.
func eventually(t *testing.T, within time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(within)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("not within %v: %s", within, what)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// readiness reports the gRPC health status and /healthz's HTTP status.
func readiness(t *testing.T, a *app.App, h healthpb.HealthClient) (healthpb.HealthCheckResponse_ServingStatus, int) {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), time.Second)
	defer cancel()
	st := healthpb.HealthCheckResponse_UNKNOWN
	if resp, err := h.Check(ctx, &healthpb.HealthCheckRequest{}); err == nil {
		st = resp.GetStatus()
	}
	code := 0
	if resp, err := http.Get("http://" + a.HTTPAddr() + "/healthz"); err == nil {
		code = resp.StatusCode
		resp.Body.Close()
	}
	return st, code
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

// Metrics.

// scrape fetches /metrics from the metrics port and parses it.
func scrape(t *testing.T, a *app.App) map[string]*dto.MetricFamily {
	t.Helper()
	resp, err := http.Get("http://" + a.MetricsAddr() + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET /metrics: %s", resp.Status)
	}
	p := expfmt.NewTextParser(model.UTF8Validation)
	families, err := p.TextToMetricFamilies(resp.Body)
	if err != nil {
		t.Fatalf("parsing /metrics: %v", err)
	}
	return families
}

// value is the value of the series of family name whose labels include want (a counter,
// gauge or, for a histogram, its count); ok is false if there is no such series.
func value(families map[string]*dto.MetricFamily, name string, want map[string]string) (v float64, ok bool) {
	f := families[name]
	if f == nil {
		return 0, false
	}
series:
	for _, m := range f.GetMetric() {
		labels := map[string]string{}
		for _, l := range m.GetLabel() {
			labels[l.GetName()] = l.GetValue()
		}
		for k, w := range want {
			if labels[k] != w {
				continue series
			}
		}
		switch {
		case m.Counter != nil:
			return m.GetCounter().GetValue(), true
		case m.Gauge != nil:
			return m.GetGauge().GetValue(), true
		case m.Histogram != nil:
			return float64(m.GetHistogram().GetSampleCount()), true
		}
	}
	return 0, false
}

// Rate limits and refusals.

// hammered is the method the rate-limit tests exhaust: a public read, with a budget of 3
// that refills once an hour, so nothing refills while a test runs, however slowly.
const hammered = "--rate-limits=rally.v1.CampaignService/ListCampaigns=1/h,burst=3"

// httpCode is the gRPC code of an HTTP status, for counting refusals alike.
func httpCode(code int) codes.Code {
	switch code {
	case 200:
		return codes.OK
	case 429:
		return codes.ResourceExhausted
	case 401:
		return codes.Unauthenticated
	case 403:
		return codes.PermissionDenied
	case 404:
		return codes.NotFound
	case 400:
		return codes.InvalidArgument
	case 503:
		return codes.Unavailable
	case 504:
		return codes.DeadlineExceeded
	case 500:
		return codes.Internal
	}
	return codes.Unknown
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

// newAbuseWorld creates, as the admin, the campaign, event and task of an attack.
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

// A seized Redis, as the raid (raid_test.go) and the seizure (seizure_test.go) read it.

// raidRedis reads a seized Redis: one server or every master of a Cluster.
type raidRedis struct {
	single  *goredis.Client
	cluster *goredis.ClusterClient
}

// openRaidRedis connects to the Redis at rawURL: one server, or every master of a
// Cluster (redis+cluster://).
func openRaidRedis(t *testing.T, rawURL string) *raidRedis {
	t.Helper()
	r := &raidRedis{}
	if strings.HasPrefix(rawURL, "redis+cluster://") {
		u, err := url.Parse(rawURL)
		if err != nil {
			t.Fatal(err)
		}
		r.cluster = goredis.NewClusterClient(&goredis.ClusterOptions{Addrs: append([]string{u.Host}, u.Query()["addr"]...)})
		t.Cleanup(func() { r.cluster.Close() })
		return r
	}
	opts, err := goredis.ParseURL(rawURL)
	if err != nil {
		t.Fatal(err)
	}
	r.single = goredis.NewClient(opts)
	t.Cleanup(func() { r.single.Close() })
	return r
}

// each runs fn on every server that holds data.
func (r *raidRedis) each(t *testing.T, fn func(ctx context.Context, c *goredis.Client) error) {
	t.Helper()
	ctx := t.Context()
	var err error
	if r.cluster != nil {
		err = r.cluster.ForEachMaster(ctx, fn)
	} else {
		err = fn(ctx, r.single)
	}
	if err != nil {
		t.Fatal(err)
	}
}

// appendOnly turns on the append-only file, in plain commands (no RDB preamble, which
// could compress values), and waits until it is written to.
func (r *raidRedis) appendOnly(t *testing.T) {
	t.Helper()
	r.each(t, func(ctx context.Context, c *goredis.Client) error {
		for _, kv := range [][2]string{{"aof-use-rdb-preamble", "no"}, {"appendfsync", "always"}, {"appendonly", "yes"}} {
			if err := c.ConfigSet(ctx, kv[0], kv[1]).Err(); err != nil {
				return fmt.Errorf("CONFIG SET %s %s: %w", kv[0], kv[1], err)
			}
		}
		deadline := time.Now().Add(10 * time.Second)
		for {
			info, err := c.Info(ctx, "persistence").Result()
			if err != nil {
				return err
			}
			if strings.Contains(info, "aof_enabled:1") && strings.Contains(info, "aof_rewrite_in_progress:0") &&
				strings.Contains(info, "aof_rewrite_scheduled:0") {
				return nil
			}
			if time.Now().After(deadline) {
				return fmt.Errorf("the append-only file is not on: %s", info)
			}
			time.Sleep(20 * time.Millisecond)
		}
	})
}

// dump returns every key and value, of every type, of every server, and their
// append-only files.
func (r *raidRedis) dump(t *testing.T) (data, aof string, keys int) {
	t.Helper()
	var mu sync.Mutex
	var d, f strings.Builder
	r.each(t, func(ctx context.Context, c *goredis.Client) error {
		var b strings.Builder
		n := 0
		iter := c.Scan(ctx, 0, "*", 1000).Iterator()
		for iter.Next(ctx) {
			k := iter.Val()
			n++
			fmt.Fprintf(&b, "key %s\n", k)
			typ, err := c.Type(ctx, k).Result()
			if err != nil {
				return err
			}
			var v any
			switch typ {
			case "string":
				v, err = c.Get(ctx, k).Result()
			case "hash":
				v, err = c.HGetAll(ctx, k).Result()
			case "list":
				v, err = c.LRange(ctx, k, 0, -1).Result()
			case "set":
				v, err = c.SMembers(ctx, k).Result()
			case "zset":
				v, err = c.ZRangeWithScores(ctx, k, 0, -1).Result()
			case "stream":
				v, err = c.XRange(ctx, k, "-", "+").Result()
			case "none":
				continue // expired since the SCAN
			default:
				return fmt.Errorf("key %s of type %s: the raid cannot read it", k, typ)
			}
			if err != nil && err != goredis.Nil {
				return err
			}
			fmt.Fprintf(&b, "%s %v\n", typ, v)
		}
		if err := iter.Err(); err != nil {
			return err
		}
		dir, err := c.ConfigGet(ctx, "dir").Result()
		if err != nil {
			return err
		}
		name, err := c.ConfigGet(ctx, "appenddirname").Result()
		if err != nil {
			return err
		}
		files, err := filepath.Glob(filepath.Join(dir["dir"], name["appenddirname"], "*.aof"))
		if err != nil || len(files) == 0 {
			return fmt.Errorf("no append-only file in %s (%v)", dir["dir"], err)
		}
		var a strings.Builder
		for _, file := range files {
			raw, err := os.ReadFile(file)
			if err != nil {
				return err
			}
			a.Write(raw)
		}
		mu.Lock()
		defer mu.Unlock()
		d.WriteString(b.String())
		f.WriteString(a.String())
		keys += n
		return nil
	})
	return d.String(), f.String(), keys
}
