package e2e_test

import (
	"encoding/json"
	"io"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"

	rallyv1 "github.com/rallyhq/rally/gen/go/rally/v1"
	"github.com/rallyhq/rally/internal/app"
	"github.com/rallyhq/rally/internal/redistest"
)

// TestRateLimits exhausts one method over REST and gRPC on both backends, behind a trusted
// proxy and without one.
func TestRateLimits(t *testing.T) {
	for _, backend := range []string{"memory", "redis"} {
		t.Run(backend, func(t *testing.T) {
			t.Parallel()
			var redis *redistest.Server
			redisURL := ""
			if backend == "redis" {
				redis = redistest.Start(t)
				redisURL = redis.URL()
			}
			// One app trusts the loopback proxy (the test), the other trusts no one; on
			// Redis they share the server under different prefixes.
			proxied := startApp(t, redisURL, hammered, "--trusted-proxies=127.0.0.1/32", "--redis-prefix=proxied:")
			direct := startApp(t, redisURL, hammered, "--redis-prefix=direct:")

			t.Run("REST clients behind a trusted proxy", func(t *testing.T) { testRESTBudgets(t, proxied) })
			t.Run("gRPC", func(t *testing.T) { testGRPCBudget(t, proxied) })
			t.Run("spoofed addresses", func(t *testing.T) { testSpoofing(t, direct) })

			if redis != nil {
				keys, err := redis.Client().Keys(t.Context(), "*").Result()
				if err != nil {
					t.Fatal(err)
				}
				var limits int
				for _, k := range keys {
					if strings.Contains(k, ":rl:") {
						limits++
					}
					for _, addr := range []string{"203.0.113.", "198.51.100.", "127.0.0.1"} {
						if strings.Contains(k, addr) {
							t.Errorf("Redis key %q holds a client address in plain text", k)
						}
					}
				}
				if limits == 0 {
					t.Errorf("no rate-limit key in Redis: %q", keys)
				}
			}
		})
	}
}

// listCampaigns calls the hammered method over REST.
func listCampaigns(t *testing.T, a *app.App, headers ...string) *http.Response {
	t.Helper()
	return request(t, "GET", "http://"+a.HTTPAddr()+"/v1/campaigns", nil, headers...)
}

// spendREST makes the three calls the budget allows, then checks that the fourth is
// refused. Each call's headers come from headers(i).
func spendREST(t *testing.T, a *app.App, headers func(i int) []string) {
	t.Helper()
	for i := range 3 {
		if resp := listCampaigns(t, a, headers(i)...); resp.StatusCode != 200 {
			t.Fatalf("call %d of the budget: HTTP %d", i+1, resp.StatusCode)
		}
	}
	checkREST429(t, listCampaigns(t, a, headers(3)...))
}

// checkREST429 checks a refusal over REST: 429, Retry-After in whole seconds up to the
// hour the budget takes to refill, and the gRPC status in the body.
func checkREST429(t *testing.T, resp *http.Response) {
	t.Helper()
	if resp.StatusCode != http.StatusTooManyRequests {
		t.Fatalf("HTTP %d, want 429", resp.StatusCode)
	}
	if secs, err := strconv.Atoi(resp.Header.Get("Retry-After")); err != nil || secs < 3500 || secs > 3600 {
		t.Errorf("Retry-After %q, want the seconds to the next refill (just under 3600)", resp.Header.Get("Retry-After"))
	}
	var body struct {
		Code    int              `json:"code"`
		Message string           `json:"message"`
		Details []map[string]any `json:"details"`
	}
	raw, _ := io.ReadAll(resp.Body)
	if err := json.Unmarshal(raw, &body); err != nil || body.Code != int(codes.ResourceExhausted) || !strings.Contains(string(raw), "google.rpc.RetryInfo") {
		t.Errorf("body %s, want code 8 with a RetryInfo", raw)
	}
}

func testRESTBudgets(t *testing.T, a *app.App) {
	spendREST(t, a, func(int) []string { return []string{"X-Forwarded-For", "203.0.113.1"} })
	// Another client behind the proxy has a budget of its own.
	spendREST(t, a, func(int) []string { return []string{"X-Forwarded-For", "203.0.113.2"} })
	// What the client wrote left of the proxy's entry does not make it someone else.
	checkREST429(t, listCampaigns(t, a, "X-Forwarded-For", "192.0.2.1, 203.0.113.1"))
}

func testGRPCBudget(t *testing.T, a *app.App) {
	conn, err := grpc.NewClient(a.GRPCAddr(), grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	campaigns := rallyv1.NewCampaignServiceClient(conn)
	for i := range 3 {
		if _, err := campaigns.ListCampaigns(t.Context(), &rallyv1.ListCampaignsRequest{}); err != nil {
			t.Fatalf("call %d of the budget: %v", i+1, err)
		}
	}
	_, err = campaigns.ListCampaigns(t.Context(), &rallyv1.ListCampaignsRequest{})
	st := status.Convert(err)
	if st.Code() != codes.ResourceExhausted {
		t.Fatalf("got %v, want RESOURCE_EXHAUSTED", err)
	}
	var delay time.Duration
	for _, d := range st.Details() {
		if r, ok := d.(*errdetails.RetryInfo); ok {
			delay = r.GetRetryDelay().AsDuration()
		}
	}
	if delay < 59*time.Minute || delay > time.Hour {
		t.Errorf("RetryInfo delay %v, want just under an hour; details %v", delay, st.Details())
	}
}

// testSpoofing checks that without a trusted proxy, nothing a client sends changes the
// address it is counted under: not X-Forwarded-For, not the metadata headers the gateway
// forwards, not x-forwarded-for metadata over gRPC.
func testSpoofing(t *testing.T, a *app.App) {
	spendREST(t, a, func(i int) []string {
		return []string{"X-Forwarded-For", "198.51.100." + strconv.Itoa(i+1)}
	})
	checkREST429(t, listCampaigns(t, a, "Grpc-Metadata-X-Forwarded-For", "198.51.100.9"))
	checkREST429(t, listCampaigns(t, a, "Grpc-Metadata-X-Rally-Gateway-Key", "guess", "X-Forwarded-For", "198.51.100.10"))

	conn, err := grpc.NewClient(a.GRPCAddr(), grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	ctx := metadata.AppendToOutgoingContext(t.Context(), "x-forwarded-for", "198.51.100.11")
	if _, err := rallyv1.NewCampaignServiceClient(conn).ListCampaigns(ctx, &rallyv1.ListCampaignsRequest{}); status.Code(err) != codes.ResourceExhausted {
		t.Errorf("gRPC with a spoofed x-forwarded-for: %v, want RESOURCE_EXHAUSTED", err)
	}
}

// TestHTTPLimits checks the HTTP port's protections: body size, CORS, security headers;
// and the gRPC port's message size.
func TestHTTPLimits(t *testing.T) {
	t.Parallel()
	const origin = "https://app.example.org"
	a := startApp(t, "", "--cors-origins="+origin)
	do := func(method, path string, body io.Reader, headers ...string) *http.Response {
		t.Helper()
		return request(t, method, "http://"+a.HTTPAddr()+path, body, headers...)
	}
	huge := `{"title":"` + strings.Repeat("a", 2<<20) + `"}`

	t.Run("body over the limit", func(t *testing.T) {
		resp := do("POST", "/v1/campaigns", strings.NewReader(huge), "Authorization", "Bearer "+token)
		raw, _ := io.ReadAll(resp.Body)
		if resp.StatusCode != http.StatusRequestEntityTooLarge {
			t.Fatalf("HTTP %d, want 413; body %.200s", resp.StatusCode, raw)
		}
		var body map[string]any
		if err := json.Unmarshal(raw, &body); err != nil || body["code"] != float64(codes.ResourceExhausted) ||
			!strings.Contains(body["message"].(string), "1048576 bytes") || body["details"] == nil {
			t.Errorf("body %s, want the gateway's error shape naming the limit", raw)
		}
		// The same body streamed without a Content-Length is cut off the same way.
		resp = do("POST", "/v1/campaigns", io.MultiReader(strings.NewReader(huge)), "Authorization", "Bearer "+token)
		if resp.StatusCode != http.StatusRequestEntityTooLarge {
			t.Errorf("chunked: HTTP %d, want 413", resp.StatusCode)
		}
	})

	t.Run("gRPC message over the limit", func(t *testing.T) {
		conn, err := grpc.NewClient(a.GRPCAddr(), grpc.WithTransportCredentials(insecure.NewCredentials()))
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close()
		ctx := metadata.AppendToOutgoingContext(t.Context(), "authorization", "Bearer "+token)
		_, err = rallyv1.NewCampaignServiceClient(conn).CreateCampaign(ctx, &rallyv1.CreateCampaignRequest{
			Campaign: &rallyv1.Campaign{Title: "x", Description: strings.Repeat("a", 2<<20)}})
		if status.Code(err) != codes.ResourceExhausted {
			t.Errorf("2 MiB message: %v, want RESOURCE_EXHAUSTED", err)
		}
	})

	t.Run("CORS", func(t *testing.T) {
		preflight := func(from string) *http.Response {
			return do("OPTIONS", "/v1/campaigns", nil, "Origin", from,
				"Access-Control-Request-Method", "POST", "Access-Control-Request-Headers", "authorization, content-type")
		}
		resp := preflight(origin)
		h := resp.Header
		if resp.StatusCode != http.StatusNoContent || h.Get("Access-Control-Allow-Origin") != origin ||
			!strings.Contains(h.Get("Access-Control-Allow-Headers"), "Authorization") ||
			!strings.Contains(h.Get("Access-Control-Allow-Methods"), "PATCH") || h.Get("Access-Control-Allow-Credentials") != "" {
			t.Errorf("allowed preflight: HTTP %d, headers %v", resp.StatusCode, h)
		}
		resp = preflight("https://evil.example")
		if resp.StatusCode != http.StatusForbidden || resp.Header.Get("Access-Control-Allow-Origin") != "" {
			t.Errorf("foreign preflight: HTTP %d, headers %v", resp.StatusCode, resp.Header)
		}
		resp = do("GET", "/v1/campaigns", nil, "Origin", origin)
		if resp.StatusCode != 200 || resp.Header.Get("Access-Control-Allow-Origin") != origin ||
			!strings.Contains(resp.Header.Get("Access-Control-Expose-Headers"), "Retry-After") {
			t.Errorf("allowed GET: HTTP %d, headers %v", resp.StatusCode, resp.Header)
		}
		resp = do("GET", "/v1/campaigns", nil, "Origin", "https://evil.example")
		if resp.Header.Get("Access-Control-Allow-Origin") != "" || !strings.Contains(strings.Join(resp.Header.Values("Vary"), ","), "Origin") {
			t.Errorf("foreign GET: headers %v", resp.Header)
		}
	})

	t.Run("security headers", func(t *testing.T) {
		for _, path := range []string{"/v1/campaigns", "/v1/nothing-here", "/healthz", "/openapi.json"} {
			h := do("GET", path, nil).Header
			for name, want := range map[string]string{
				"X-Content-Type-Options":  "nosniff",
				"Referrer-Policy":         "no-referrer",
				"X-Frame-Options":         "DENY",
				"Content-Security-Policy": "default-src 'none'; frame-ancestors 'none'",
			} {
				if got := h.Get(name); got != want {
					t.Errorf("%s: %s = %q, want %q", path, name, got, want)
				}
			}
			if strings.HasPrefix(path, "/v1/") && h.Get("Cache-Control") != "no-store" {
				t.Errorf("%s: Cache-Control %q, want no-store", path, h.Get("Cache-Control"))
			}
			if h.Get("Strict-Transport-Security") != "" {
				t.Errorf("%s: HSTS over plain HTTP", path)
			}
		}
	})
}
