package e2e_test

import (
	"net/http"
	"strings"
	"testing"

	"github.com/rallyhq/rally/internal/web"
)

// The web client is served at "/" with its own Content-Security-Policy, which the
// gateway's security headers must not replace, while the API keeps its own routes and
// its deny-all policy.
func TestWebClientBehindGateway(t *testing.T) {
	a := startApp(t, "")
	base := "http://" + a.HTTPAddr()
	for _, tc := range []struct {
		path, csp, contentType string
	}{
		{"/c/demo-kazakhstan", web.CSP, "text/html"},
		{"/assets/app.js", web.CSP, "text/javascript"},
		{"/v1/campaigns", "default-src 'none'; frame-ancestors 'none'", "application/json"},
		{"/healthz", "default-src 'none'; frame-ancestors 'none'", "application/json"},
		{"/openapi.json", "default-src 'none'; frame-ancestors 'none'", "application/json"},
	} {
		resp, err := http.Get(base + tc.path)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			t.Errorf("GET %s: %d", tc.path, resp.StatusCode)
		}
		if got := resp.Header.Get("Content-Security-Policy"); got != tc.csp {
			t.Errorf("GET %s: CSP %q, want %q", tc.path, got, tc.csp)
		}
		if got := resp.Header.Get("Content-Type"); !strings.HasPrefix(got, tc.contentType) {
			t.Errorf("GET %s: Content-Type %q, want %s", tc.path, got, tc.contentType)
		}
		if resp.Header.Get("X-Content-Type-Options") != "nosniff" {
			t.Errorf("GET %s: no nosniff", tc.path)
		}
	}
}
