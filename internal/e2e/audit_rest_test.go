package e2e_test

import (
	"strings"
	"testing"
)

// TestRESTAuditAndHiddenRSVPs: over REST too, an organiser's reads of personal data are
// audited (a task's at /v1/tasks/{id}/auditEntries), and a holder of an RSVP to a HIDDEN
// event gets no waitlist position and cannot raise guests.
func TestRESTAuditAndHiddenRSVPs(t *testing.T) {
	for name, redisURL := range backends(t) {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			a := startApp(t, redisURL(t))
			c := client{t: t, base: "http://" + a.HTTPAddr()}
			if code, body := c.do("POST", "/v1/campaigns?campaignId=kz-solidarity", `{"title":"Solidarity"}`, true); code != 200 {
				t.Fatalf("create campaign: %d %v", code, body)
			}
			code, task := c.do("POST", "/v1/tasks", `{"campaign":"campaigns/kz-solidarity","kind":"TASK_KIND_SHARE_POST","title":"Share","deadline":"2030-05-17T12:00:00Z"}`, true)
			if code != 200 {
				t.Fatalf("create task: %d %v", code, task)
			}
			tk := task["name"].(string)
			if code, body := c.do("GET", "/v1/"+tk+"/claims", "", true); code != 200 {
				t.Fatalf("list claims: %d %v", code, body)
			}
			code, body := c.do("GET", "/v1/"+tk+"/auditEntries", "", true)
			entries, _ := body["auditEntries"].([]any)
			if code != 200 || len(entries) != 1 {
				t.Fatalf("task audit: %d %v; want one entry", code, body)
			}
			if e := entries[0].(map[string]any); e["action"] != "ListClaims" || e["task"] != tk || e["actor"] != "admin" {
				t.Errorf("task audit entry: %v", e)
			}
			if code, body := c.do("GET", "/v1/"+tk+"/auditEntries", "", false); code != 401 {
				t.Errorf("anonymous task audit: %d %v; want 401", code, body)
			}

			hidden := strings.Replace(strings.Replace(eventJSON, `"capacity": 100`, `"capacity": 1, "attendanceVisibility": "ATTENDANCE_VISIBILITY_HIDDEN"`, 1), `"campaign": "campaigns/kz-solidarity",`, "", 1)
			if code, body := c.do("POST", "/v1/events?eventId=hidden-vigil", hidden, true); code != 200 {
				t.Fatalf("create event: %d %v", code, body)
			}
			var last map[string]any
			for range 3 {
				code, last = c.do("POST", "/v1/events/hidden-vigil/rsvps", `{"displayName":"A"}`, false)
				if code != 200 {
					t.Fatalf("RSVP: %d %v", code, last)
				}
			}
			rsvp := last["rsvp"].(map[string]any)
			// The gateway writes unpopulated fields: no position is 0.
			if rsvp["state"] != "RSVP_STATE_WAITLISTED" || rsvp["waitlistPosition"] != float64(0) {
				t.Errorf("third RSVP to a HIDDEN event of 1 place: %v; want WAITLISTED without a position", rsvp)
			}
			// The organiser sees the position, and the read is audited.
			code, body = c.do("GET", "/v1/"+rsvp["name"].(string), "", true)
			if code != 200 || body["waitlistPosition"] != float64(2) {
				t.Errorf("organiser's read: %d %v; want position 2", code, body)
			}
			code, body = c.do("GET", "/v1/events/hidden-vigil/auditEntries", "", true)
			if entries, _ := body["auditEntries"].([]any); code != 200 || len(entries) != 1 || entries[0].(map[string]any)["action"] != "GetRsvp" {
				t.Errorf("event audit: %d %v; want the organiser's GetRsvp", code, body)
			}
		})
	}
}
