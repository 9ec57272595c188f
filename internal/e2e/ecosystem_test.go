package e2e_test

import (
	"context"
	"io"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/encoding/gzip"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/stats"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/reflect/protoregistry"

	rallyv1 "github.com/rallyhq/rally/gen/go/rally/v1"
	"github.com/rallyhq/rally/internal/app"
	"github.com/rallyhq/rally/internal/redistest"
)

// Tests of the conventions that tools and clients nobody here wrote expect of a gRPC
// service with a REST gateway: grpc-health-probe -service=, gzip, plain HTTP headers,
// the usual Prometheus series.

// rallyMethod is one method of a Rally service, as in its descriptor.
type rallyMethod struct {
	service, method string
	streaming       bool
}

// rallyMethods lists every method of every rally.v1 service, from the generated
// descriptors rather than from the server, so that a service the server failed to
// register shows as missing.
func rallyMethods(t *testing.T) []rallyMethod {
	t.Helper()
	_ = rallyv1.File_rally_v1_event_proto // the package's descriptors are registered
	var out []rallyMethod
	protoregistry.GlobalFiles.RangeFilesByPackage("rally.v1", func(fd protoreflect.FileDescriptor) bool {
		for i := range fd.Services().Len() {
			sd := fd.Services().Get(i)
			for j := range sd.Methods().Len() {
				md := sd.Methods().Get(j)
				out = append(out, rallyMethod{string(sd.FullName()), string(md.Name()), md.IsStreamingClient() || md.IsStreamingServer()})
			}
		}
		return true
	})
	if len(out) == 0 {
		t.Fatal("no rally.v1 services registered")
	}
	return out
}

// rallyServiceNames are the full names of the rally.v1 services.
func rallyServiceNames(t *testing.T) []string {
	var names []string
	for _, m := range rallyMethods(t) {
		if !slices.Contains(names, m.service) {
			names = append(names, m.service)
		}
	}
	return names
}

func dialPlain(t *testing.T, a *app.App, opts ...grpc.DialOption) *grpc.ClientConn {
	t.Helper()
	conn, err := grpc.NewClient(a.GRPCAddr(), append([]grpc.DialOption{grpc.WithTransportCredentials(insecure.NewCredentials())}, opts...)...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	return conn
}

// healthOf is what grpc-health-probe -service=name gets: the status, or the error's code.
func healthOf(t *testing.T, h healthpb.HealthClient, name string) (healthpb.HealthCheckResponse_ServingStatus, codes.Code) {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), time.Second)
	defer cancel()
	resp, err := h.Check(ctx, &healthpb.HealthCheckRequest{Service: name})
	return resp.GetStatus(), status.Code(err)
}

// allHealth says whether "" and every Rally service report want.
func allHealth(t *testing.T, h healthpb.HealthClient, want healthpb.HealthCheckResponse_ServingStatus) bool {
	t.Helper()
	for _, name := range append([]string{""}, rallyServiceNames(t)...) {
		if st, code := healthOf(t, h, name); code != codes.OK || st != want {
			return false
		}
	}
	return true
}

// TestHealthPerService: grpc-health-probe -service=rally.v1.EventService (a Check with
// that service, which is all the probe sends) gets what the overall "" status says, for
// every Rally service: SERVING when ready, NOT_SERVING while Redis is down and during the
// shutdown delay, SERVING again when Redis is back. Names that are not Rally services stay
// NOT_FOUND.
func TestHealthPerService(t *testing.T) {
	srv := redistest.Start(t)
	a := startApp(t, srv.URL(), "--shutdown-delay=2s")
	h := healthpb.NewHealthClient(dialPlain(t, a))

	names := rallyServiceNames(t)
	if !slices.Contains(names, "rally.v1.EventService") {
		t.Fatalf("rally.v1 services %v lack rally.v1.EventService", names)
	}
	for _, name := range append([]string{""}, names...) {
		if st, code := healthOf(t, h, name); code != codes.OK || st != healthpb.HealthCheckResponse_SERVING {
			t.Errorf("Check(%q) when ready: %v, %v; want SERVING", name, st, code)
		}
	}
	for _, name := range []string{"rally.v1.NoSuchService", "rally.v1", "EventService", "rally.v1.EventService/GetEvent"} {
		if _, code := healthOf(t, h, name); code != codes.NotFound {
			t.Errorf("Check(%q): %v, want NOT_FOUND", name, code)
		}
	}

	srv.Stop()
	eventually(t, 5*time.Second, "every service reports NOT_SERVING with Redis down", func() bool {
		return allHealth(t, h, healthpb.HealthCheckResponse_NOT_SERVING)
	})
	if _, code := healthOf(t, h, "rally.v1.NoSuchService"); code != codes.NotFound {
		t.Errorf("Check(unknown) with Redis down: %v, want NOT_FOUND", code)
	}
	srv.Restart(t)
	eventually(t, 5*time.Second, "every service reports SERVING with Redis back", func() bool {
		return allHealth(t, h, healthpb.HealthCheckResponse_SERVING)
	})

	// During the shutdown delay the port still answers, and every name says NOT_SERVING.
	done := make(chan error, 1)
	go func() { done <- a.Shutdown(context.Background()) }()
	eventually(t, time.Second, "every service reports NOT_SERVING while shutting down", func() bool {
		return allHealth(t, h, healthpb.HealthCheckResponse_NOT_SERVING)
	})
	if err := <-done; err != nil {
		t.Fatal(err)
	}
}

// payloads records the sizes of the messages a client receives, as sent and as read.
type payloads struct {
	in chan *stats.InPayload
}

func (p payloads) TagRPC(ctx context.Context, _ *stats.RPCTagInfo) context.Context { return ctx }
func (p payloads) TagConn(ctx context.Context, _ *stats.ConnTagInfo) context.Context {
	return ctx
}
func (p payloads) HandleConn(context.Context, stats.ConnStats) {}
func (p payloads) HandleRPC(_ context.Context, s stats.RPCStats) {
	if in, ok := s.(*stats.InPayload); ok {
		select {
		case p.in <- in:
		default:
		}
	}
}

// TestGzip: a client that compresses every call with gzip (grpc.UseCompressor, or
// grpc-js's default_compression_algorithm) works, unary and streaming, and gets its
// answers compressed too; a compressed message is held to --max-request-bytes once
// inflated, so that a small bomb of zeros cannot make the server inflate megabytes.
func TestGzip(t *testing.T) {
	a := startApp(t, "", "--max-request-bytes=65536")
	seen := payloads{in: make(chan *stats.InPayload, 100)}
	conn := dialPlain(t, a, grpc.WithDefaultCallOptions(grpc.UseCompressor(gzip.Name)), grpc.WithStatsHandler(seen))
	ctx := t.Context()
	admin := withToken(ctx, token)
	campaigns, events := rallyv1.NewCampaignServiceClient(conn), rallyv1.NewEventServiceClient(conn)

	description := strings.Repeat("Solidarity with LGBTI people in Kazakhstan. ", 40)
	c, err := campaigns.CreateCampaign(admin, &rallyv1.CreateCampaignRequest{CampaignId: "gzip", Campaign: &rallyv1.Campaign{Title: "Gzip", Description: description}})
	if err != nil {
		t.Fatalf("CreateCampaign with gzip: %v", err)
	}
	if c.GetDescription() != description {
		t.Fatalf("CreateCampaign with gzip stored %d bytes of description, want %d", len(c.GetDescription()), len(description))
	}
	got, err := campaigns.GetCampaign(ctx, &rallyv1.GetCampaignRequest{Name: c.GetName()})
	if err != nil || got.GetDescription() != description {
		t.Fatalf("GetCampaign with gzip: %v", err)
	}
	compressed := false
	for len(seen.in) > 0 {
		in := <-seen.in
		if in.CompressedLength > 0 && in.CompressedLength < in.Length {
			compressed = true
		}
	}
	if !compressed {
		t.Error("no answer came back compressed to a client that compresses")
	}

	e, err := events.CreateEvent(admin, &rallyv1.CreateEventRequest{EventId: "gzip-event", Event: eventIn(c.GetName())})
	if err != nil {
		t.Fatalf("CreateEvent with gzip: %v", err)
	}
	watch, err := events.WatchEvent(ctx, &rallyv1.WatchEventRequest{Name: e.GetName()})
	if err != nil {
		t.Fatal(err)
	}
	if snap := recv(t, watch, 5*time.Second); snap == nil {
		t.Fatal("WatchEvent with gzip: no snapshot")
	}

	// 1 MiB of zeros is about a kilobyte gzipped: refused as too large, not inflated.
	_, err = campaigns.CreateCampaign(admin, &rallyv1.CreateCampaignRequest{Campaign: &rallyv1.Campaign{Title: "Bomb", Description: strings.Repeat("\x00", 1<<20)}})
	if status.Code(err) != codes.ResourceExhausted {
		t.Errorf("a gzipped message of 1 MiB inflated, over --max-request-bytes: %v, want RESOURCE_EXHAUSTED", err)
	}
}

// noGRPCHeaders fails t if the header holds anything of the gRPC hop between gateway and
// gRPC port: Grpc-Metadata-*, Grpc-Trailer-*, or application/grpc anywhere.
func noGRPCHeaders(t *testing.T, what string, h http.Header) {
	t.Helper()
	for k, vs := range h {
		if strings.HasPrefix(strings.ToLower(k), "grpc-") {
			t.Errorf("%s: transport header %s: %q", what, k, vs)
		}
		for _, v := range vs {
			if strings.Contains(v, "application/grpc") || strings.Contains(strings.ToLower(v), "grpc-") {
				t.Errorf("%s: %s: %q names the gRPC hop", what, k, v)
			}
		}
	}
}

// TestRESTHeaders: REST responses carry no header of the gRPC hop behind the gateway
// (they used to carry Grpc-Metadata-Content-Type: application/grpc), on success, on error,
// on a stream and when the client accepts trailers; what Rally sets on purpose still
// arrives: X-Request-Id, and Retry-After on a rate-limited call.
func TestRESTHeaders(t *testing.T) {
	a := startApp(t, "", hammered)
	base := "http://" + a.HTTPAddr()
	get := func(what, method, path, body string, header map[string]string) *http.Response {
		t.Helper()
		req, err := http.NewRequest(method, base+path, strings.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		req.Header.Set("Authorization", "Bearer "+token)
		for k, v := range header {
			req.Header.Set(k, v)
		}
		if req.Header.Get("Authorization") == "anonymous" {
			req.Header.Del("Authorization")
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		if resp.Header.Get("X-Request-Id") == "" {
			t.Errorf("%s: no X-Request-Id", what)
		}
		noGRPCHeaders(t, what, resp.Header)
		return resp
	}
	drain := func(what string, resp *http.Response, want int) {
		t.Helper()
		_, _ = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if resp.StatusCode != want {
			t.Errorf("%s: HTTP %d, want %d", what, resp.StatusCode, want)
		}
		noGRPCHeaders(t, what+" (trailers)", resp.Trailer)
	}

	resp := get("create", "POST", "/v1/campaigns?campaignId=headers", `{"title":"Headers"}`, map[string]string{"X-Request-Id": "rest-headers-1"})
	if got := resp.Header.Get("X-Request-Id"); got != "rest-headers-1" {
		t.Errorf("X-Request-Id = %q, want the client's rest-headers-1", got)
	}
	if ct := resp.Header.Get("Content-Type"); ct != "application/json" {
		t.Errorf("Content-Type = %q, want application/json", ct)
	}
	drain("create", resp, http.StatusOK)
	drain("create event", get("create event", "POST", "/v1/events?eventId=headers", eventBody("campaigns/headers"), nil), http.StatusOK)
	drain("get", get("get", "GET", "/v1/campaigns/headers", "", nil), http.StatusOK)
	drain("get with TE: trailers", get("get with TE: trailers", "GET", "/v1/campaigns/headers", "", map[string]string{"TE": "trailers"}), http.StatusOK)
	drain("not found", get("not found", "GET", "/v1/events/nope", "", nil), http.StatusNotFound)
	drain("not found with TE: trailers", get("not found with TE: trailers", "GET", "/v1/events/nope", "", map[string]string{"TE": "trailers"}), http.StatusNotFound)
	drain("invalid", get("invalid", "POST", "/v1/campaigns", `{"title":""}`, nil), http.StatusBadRequest)

	// A watch over REST: the headers come with the first line of the stream.
	wctx, cancel := context.WithCancel(t.Context())
	req, err := http.NewRequestWithContext(wctx, "GET", base+"/v1/events/headers:watch", nil)
	if err != nil {
		t.Fatal(err)
	}
	stream, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	if stream.StatusCode != http.StatusOK || stream.Header.Get("X-Request-Id") == "" {
		t.Errorf("watch: HTTP %d, X-Request-Id %q", stream.StatusCode, stream.Header.Get("X-Request-Id"))
	}
	noGRPCHeaders(t, "watch", stream.Header)
	cancel()
	stream.Body.Close()

	// The rate limiter's Retry-After reaches the client; nothing else of the refusal does.
	var limited *http.Response
	for range 5 {
		resp := get("rate limited", "GET", "/v1/campaigns", "", map[string]string{"Authorization": "anonymous"})
		if resp.StatusCode == http.StatusTooManyRequests {
			limited = resp
			break
		}
		drain("list", resp, http.StatusOK)
	}
	if limited == nil {
		t.Fatal("ListCampaigns was never refused with 429")
	}
	if limited.Header.Get("Retry-After") == "" {
		t.Error("429 without Retry-After")
	}
	drain("rate limited", limited, http.StatusTooManyRequests)
}

// TestMetricsFromStart: from the first scrape, before any call, every method of every
// service has its series at zero: started, handled by every code, messages, and the
// latency histogram of each unary method. Streams are never in the latency histogram: a
// watch lasts as long as someone keeps a page open, which is no latency.
func TestMetricsFromStart(t *testing.T) {
	a := startApp(t, "")
	families := scrape(t, a)
	allCodes := []codes.Code{codes.OK, codes.Canceled, codes.Unknown, codes.InvalidArgument, codes.DeadlineExceeded,
		codes.NotFound, codes.AlreadyExists, codes.PermissionDenied, codes.ResourceExhausted, codes.FailedPrecondition,
		codes.Aborted, codes.OutOfRange, codes.Unimplemented, codes.Internal, codes.Unavailable, codes.DataLoss, codes.Unauthenticated}
	methods := append(rallyMethods(t),
		rallyMethod{"grpc.health.v1.Health", "Check", false}, rallyMethod{"grpc.health.v1.Health", "Watch", true})
	for _, m := range methods {
		labels := map[string]string{"grpc_service": m.service, "grpc_method": m.method}
		for _, name := range []string{"grpc_server_started_total", "grpc_server_msg_received_total", "grpc_server_msg_sent_total"} {
			if v, ok := value(families, name, labels); !ok || v != 0 {
				t.Errorf("%s{%s/%s} at start: %v, %v; want 0", name, m.service, m.method, v, ok)
			}
		}
		for _, c := range allCodes {
			labels := map[string]string{"grpc_service": m.service, "grpc_method": m.method, "grpc_code": c.String()}
			if v, ok := value(families, "grpc_server_handled_total", labels); !ok || v != 0 {
				t.Errorf("grpc_server_handled_total{%s/%s,%s} at start: %v, %v; want 0", m.service, m.method, c, v, ok)
			}
		}
		v, ok := value(families, "grpc_server_handling_seconds", labels)
		switch {
		case m.streaming && ok:
			t.Errorf("grpc_server_handling_seconds has a series for the stream %s/%s", m.service, m.method)
		case !m.streaming && (!ok || v != 0):
			t.Errorf("grpc_server_handling_seconds{%s/%s} at start: %v, %v; want 0", m.service, m.method, v, ok)
		}
	}

	// A watch opened and closed, and a unary call: the stream is counted and not timed.
	conn := dialPlain(t, a)
	ctx := t.Context()
	admin := withToken(ctx, token)
	campaigns, events := rallyv1.NewCampaignServiceClient(conn), rallyv1.NewEventServiceClient(conn)
	c, err := campaigns.CreateCampaign(admin, &rallyv1.CreateCampaignRequest{CampaignId: "metrics-start", Campaign: &rallyv1.Campaign{Title: "Metrics"}})
	if err != nil {
		t.Fatal(err)
	}
	e, err := events.CreateEvent(admin, &rallyv1.CreateEventRequest{EventId: "metrics-start", Event: eventIn(c.GetName())})
	if err != nil {
		t.Fatal(err)
	}
	for _, open := range []func(context.Context) (grpc.ClientStream, error){
		func(ctx context.Context) (grpc.ClientStream, error) {
			return events.WatchEvent(ctx, &rallyv1.WatchEventRequest{Name: e.GetName()})
		},
		func(ctx context.Context) (grpc.ClientStream, error) {
			return events.WatchCampaign(ctx, &rallyv1.WatchCampaignRequest{Name: c.GetName()})
		},
	} {
		wctx, cancel := context.WithCancel(ctx)
		s, err := open(wctx)
		if err != nil {
			t.Fatal(err)
		}
		if err := s.RecvMsg(new(rallyv1.Change)); err != nil {
			t.Fatal(err)
		}
		time.Sleep(100 * time.Millisecond) // a lifetime that would show in the histogram
		cancel()
	}
	eventually(t, 5*time.Second, "both watches counted as handled", func() bool {
		f := scrape(t, a)
		n := 0.0
		for _, m := range []string{"WatchEvent", "WatchCampaign"} {
			for _, c := range []string{"Canceled", "OK", "Unavailable"} {
				v, _ := value(f, "grpc_server_handled_total", map[string]string{"grpc_method": m, "grpc_code": c})
				n += v
			}
		}
		return n == 2
	})
	families = scrape(t, a)
	for _, m := range []string{"WatchEvent", "WatchCampaign"} {
		if _, ok := value(families, "grpc_server_handling_seconds", map[string]string{"grpc_method": m}); ok {
			t.Errorf("grpc_server_handling_seconds observed the stream %s", m)
		}
		if v, _ := value(families, "grpc_server_started_total", map[string]string{"grpc_method": m}); v != 1 {
			t.Errorf("grpc_server_started_total{%s} = %v, want 1", m, v)
		}
	}
	if v, _ := value(families, "grpc_server_handling_seconds", map[string]string{"grpc_type": "unary", "grpc_service": "rally.v1.EventService", "grpc_method": "CreateEvent"}); v != 1 {
		t.Errorf("grpc_server_handling_seconds{CreateEvent} count = %v, want 1", v)
	}
	if f := families["grpc_server_handling_seconds"]; f == nil || f.GetType() != dto.MetricType_HISTOGRAM {
		t.Error("grpc_server_handling_seconds is not a histogram")
	}
}
