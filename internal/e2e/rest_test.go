package e2e_test

import (
	"encoding/json"
	"net/http"
	"strings"
	"testing"
)

func TestREST(t *testing.T) {
	for name, redisURL := range backends(t) {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			a := startApp(t, redisURL(t))
			c := client{t: t, base: "http://" + a.HTTPAddr()}
			testRESTLifecycle(t, c)
			testRESTErrors(t, c)
		})
	}
}

func testRESTLifecycle(t *testing.T, c client) {
	code, body := c.do("POST", "/v1/campaigns?campaignId=kz-solidarity", `{"title":"Solidarity with LGBTI people in Kazakhstan","hashtags":["#LoveIsNotPropaganda"]}`, true)
	if code != 200 || body["name"] != "campaigns/kz-solidarity" {
		t.Fatalf("create campaign: %d %v", code, body)
	}
	code, body = c.do("POST", "/v1/events?eventId=vigil-berlin", eventJSON, true)
	if code != 200 || body["name"] != "events/vigil-berlin" || body["state"] != "EVENT_STATE_SCHEDULED" {
		t.Fatalf("create event: %d %v", code, body)
	}
	etag := body["etag"].(string)

	// Anonymous reads: the event, without its meeting point.
	code, body = c.do("GET", "/v1/events/vigil-berlin", "", false)
	if code != 200 || body["title"] == nil || body["meetingPoint"] != "" {
		t.Fatalf("public get event: %d %v", code, body)
	}
	code, body = c.do("GET", "/v1/events?country=DE&representedCountry=KZ&locality=berlin&campaign=campaigns/kz-solidarity&startAfter=2030-01-01T00:00:00Z", "", false)
	if events, _ := body["events"].([]any); code != 200 || len(events) != 1 {
		t.Fatalf("list events: %d %v", code, body)
	}
	code, body = c.do("GET", "/v1/events?country=FR", "", false)
	if events, _ := body["events"].([]any); code != 200 || len(events) != 0 {
		t.Fatalf("list events in FR: %d %v", code, body)
	}

	// PATCH with the body's fields as the implied mask (grpc-gateway fills update_mask).
	code, body = c.do("PATCH", "/v1/events/vigil-berlin", `{"title":"Candlelight vigil","etag":"`+etag+`"}`, true)
	if code != 200 || body["title"] != "Candlelight vigil" || body["capacity"] != float64(100) {
		t.Fatalf("patch: %d %v", code, body)
	}
	// The old etag is stale: 412.
	code, body = c.do("PATCH", "/v1/events/vigil-berlin?updateMask=title", `{"title":"x","etag":"`+etag+`"}`, true)
	if code != http.StatusPreconditionFailed {
		t.Fatalf("stale etag: %d %v, want 412", code, body)
	}
	// An explicit mask in camelCase, as REST clients write it.
	code, body = c.do("PATCH", "/v1/events/vigil-berlin?updateMask=venue.locality,timeZone", `{"venue":{"locality":"Hamburg"},"timeZone":"Europe/Berlin"}`, true)
	if venue, _ := body["venue"].(map[string]any); code != 200 || venue["locality"] != "Hamburg" || venue["country"] != "DE" {
		t.Fatalf("patch with mask: %d %v", code, body)
	}

	code, body = c.do("POST", "/v1/events/vigil-berlin:cancel", `{"reason":"Storm warning"}`, true)
	if code != 200 || body["state"] != "EVENT_STATE_CANCELLED" {
		t.Fatalf("cancel: %d %v", code, body)
	}
	code, body = c.do("PATCH", "/v1/events/vigil-berlin?updateMask=title", `{"title":"x"}`, true)
	if code != 400 || body["code"] != float64(9) {
		t.Fatalf("update of a cancelled event: %d %v, want 400 FAILED_PRECONDITION", code, body)
	}
	code, body = c.do("GET", "/v1/events?showCancelled=true", "", false)
	if events, _ := body["events"].([]any); code != 200 || len(events) != 1 {
		t.Fatalf("list with showCancelled: %d %v", code, body)
	}

	code, body = c.do("GET", "/v1/campaigns", "", false)
	if campaigns, _ := body["campaigns"].([]any); code != 200 || len(campaigns) != 1 {
		t.Fatalf("list campaigns: %d %v", code, body)
	}
	code, body = c.do("GET", "/healthz", "", false)
	if code != 200 || body["status"] != "SERVING" {
		t.Fatalf("healthz: %d %v", code, body)
	}
	code, body = c.do("GET", "/openapi.json", "", false)
	if paths, _ := body["paths"].(map[string]any); code != 200 || paths["/v1/events"] == nil {
		t.Fatalf("openapi.json: %d, paths %v", code, body["paths"])
	}
}

// testRESTErrors checks that bad requests get the right status and a body that names the
// problem, and change nothing.
func testRESTErrors(t *testing.T, c client) {
	for _, tc := range []struct {
		name, method, path, body string
		auth                     bool
		code                     int
		mention                  string // the error body must contain this
		field                    string // if set, a BadRequest field violation must name it
	}{
		{"no token", "POST", "/v1/events", eventJSON, false, 401, "bearer token", ""},
		{"wrong token", "POST", "/v1/campaigns", `{"title":"x"}`, false, 401, "bearer token", ""},
		{"empty body", "POST", "/v1/events", ``, true, 400, "event.title", ""},
		{"empty object", "POST", "/v1/events", `{}`, true, 400, "event.venue", ""},
		{"too long title", "POST", "/v1/events", strings.Replace(eventJSON, `"Vigil at the Embassy of Kazakhstan"`, `"`+strings.Repeat("a", 201)+`"`, 1), true, 400, "event.title", ""},
		{"wrong type", "POST", "/v1/events", strings.Replace(eventJSON, `"capacity": 100`, `"capacity": "many"`, 1), true, 400, "capacity", "capacity"},
		{"unknown enum", "POST", "/v1/events", strings.Replace(eventJSON, "VENUE_KIND_EMBASSY", "VENUE_KIND_CASTLE", 1), true, 400, "kind", "venue.kind"},
		{"unknown field", "POST", "/v1/events", `{"colour":"pink"}`, true, 400, "colour", "colour"},
		{"malformed JSON", "POST", "/v1/events", `{"title": `, true, 400, "", "title"},
		{"bad country", "POST", "/v1/events", strings.Replace(eventJSON, `"country": "DE"`, `"country": "Germany"`, 1), true, 400, "event.venue.country", ""},
		{"bad time zone", "POST", "/v1/events", strings.Replace(eventJSON, "Europe/Berlin", "Europe/Atlantis", 1), true, 400, "event.time_zone", ""},
		{"end before start", "POST", "/v1/events", strings.Replace(eventJSON, "2030-05-17T14:00:00Z", "2030-05-17T10:00:00Z", 1), true, 400, "end_time must be after start_time", ""},
		{"bad timestamp", "POST", "/v1/events", strings.Replace(eventJSON, "2030-05-17T14:00:00Z", "tomorrow", 1), true, 400, "Timestamp value \\\"tomorrow", "endTime"}, // protojson names the position; the gateway finds the field
		{"http website", "POST", "/v1/campaigns", `{"title":"x","websiteUri":"http://example.org"}`, true, 400, "campaign.website_uri", ""},
		{"taken event id", "POST", "/v1/events?eventId=vigil-berlin", eventJSON, true, 409, "already exists", ""},
		{"bad event id", "POST", "/v1/events?eventId=No_Caps", eventJSON, true, 400, "event_id", ""},
		{"invalid page token", "GET", "/v1/events?pageToken=bm90LWEtdG9rZW4", "", false, 400, "page_token", ""},
		{"page size too big", "GET", "/v1/events?pageSize=5000", "", false, 400, "page_size", ""},
		{"page size not a number", "GET", "/v1/events?pageSize=ten", "", false, 400, "page_size", ""},
		{"unknown event", "GET", "/v1/events/does-not-exist", "", false, 404, "events/does-not-exist", ""},
		{"unknown mask path", "PATCH", "/v1/events/vigil-berlin?updateMask=colour", `{}`, true, 400, "update_mask", ""},
		{"unknown route", "GET", "/v1/nothing-here", "", false, 404, "", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			code, body := c.do(tc.method, tc.path, tc.body, tc.auth)
			if code != tc.code {
				t.Fatalf("status %d, want %d; body %v", code, tc.code, body)
			}
			raw, _ := json.Marshal(body)
			if !strings.Contains(string(raw), tc.mention) {
				t.Errorf("body %s does not mention %q", raw, tc.mention)
			}
			if tc.field != "" && !strings.Contains(string(raw), `"field":"`+tc.field+`"`) {
				t.Errorf("body %s has no field violation naming %q", raw, tc.field)
			}
		})
	}
	// None of the bad requests created anything: still the one event and one campaign.
	_, body := c.do("GET", "/v1/events?showCancelled=true", "", false)
	if events, _ := body["events"].([]any); len(events) != 1 {
		t.Errorf("bad requests changed the events: %v", body)
	}
}
