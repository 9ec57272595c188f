package gateway_test

import (
	"encoding/json"
	"html"
	"net/http"
	"regexp"
	"strings"
	"testing"

	openapi "github.com/rallyhq/rally/gen/openapiv2"
)

// GET /api lists every REST endpoint of the OpenAPI document, by service, as one page that
// loads nothing from anywhere and runs no script.
func TestAPIPage(t *testing.T) {
	r := startRally(t, noLimits)
	resp, body := r.get(t, "/api")
	if resp.StatusCode != 200 || resp.Header.Get("Content-Type") != "text/html; charset=utf-8" {
		t.Fatalf("GET /api: %d %s", resp.StatusCode, resp.Header.Get("Content-Type"))
	}
	csp := resp.Header.Get("Content-Security-Policy")
	for _, want := range []string{"default-src 'none'", "style-src 'unsafe-inline'", "frame-ancestors 'none'"} {
		if !strings.Contains(csp, want) {
			t.Errorf("Content-Security-Policy %q lacks %q", csp, want)
		}
	}
	if strings.Contains(csp, "script-src") || resp.Header.Get("X-Content-Type-Options") != "nosniff" {
		t.Errorf("security headers: CSP %q, nosniff %q", csp, resp.Header.Get("X-Content-Type-Options"))
	}

	// The page as text: tags dropped, entities decoded, spaces collapsed.
	text := html.UnescapeString(regexp.MustCompile(`<[^>]*>`).ReplaceAllString(body, " "))
	text = strings.Join(strings.Fields(text), " ")
	for _, want := range []string{
		"POST /v1/events CreateEvent creates an event",
		"GET /v1/events/{event}:watch WatchEvent streams",
		"GET /v1/campaigns/{campaign}:watch WatchCampaign streams",
		"GET /v1/events/{event}/rsvps/{rsvp} GetRsvp",
		"POST /v1/organisers/{organiser}/apiTokens/{apiToken}:revoke RevokeApiToken",
		"PATCH /v1/tasks/{task} UpdateTask",
		"GET /v1/events/{event}.ics",
		"GET /v1/campaigns/{campaign}.ics",
		"CampaignService", "EventService", "OrganiserService", "RsvpService", "TaskService",
		"proto/rally/v1",
	} {
		if !strings.Contains(text, want) {
			t.Errorf("the page lacks %q", want)
		}
	}
	// Every operation of the document is listed.
	var doc struct {
		Paths map[string]map[string]json.RawMessage `json:"paths"`
	}
	if err := json.Unmarshal(openapi.JSON, &doc); err != nil {
		t.Fatal(err)
	}
	ops := 0
	for _, methods := range doc.Paths {
		ops += len(methods)
	}
	// The calendar feeds are among them (the document lists them since issue 16).
	if rows := strings.Count(body, `<td class="ep">`); rows != ops || !strings.Contains(body, "/v1/events/{event}.ics") {
		t.Errorf("%d endpoints listed, want the document's %d, the calendar feeds among them", rows, ops)
	}

	// Nothing is loaded or linked off the page's own origin, and there is no script.
	if strings.Contains(body, "http://") || strings.Contains(body, "https://") {
		t.Errorf("the page names an absolute URL")
	}
	for _, bad := range []string{"<script", "<link", "<img", "<iframe", "<object", "<embed", "@import", "url("} {
		if strings.Contains(strings.ToLower(body), bad) {
			t.Errorf("the page contains %q", bad)
		}
	}
	refs := regexp.MustCompile(`(?i)\b(src|href|action|srcset)\s*=\s*["']?([^"'\s>]*)`).FindAllStringSubmatch(body, -1)
	if len(refs) == 0 {
		t.Errorf("no link to /openapi.json")
	}
	for _, m := range refs {
		if ref := m[2]; !strings.HasPrefix(ref, "/") || strings.HasPrefix(ref, "//") {
			t.Errorf("%s=%q is not a same-origin path", m[1], ref)
		}
		if m[1] == "href" && m[2] == "/openapi.json" {
			if resp, _ := r.get(t, m[2]); resp.StatusCode != http.StatusOK {
				t.Errorf("GET %s: %d", m[2], resp.StatusCode)
			}
		}
	}
}
