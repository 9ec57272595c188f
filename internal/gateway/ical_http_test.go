package gateway_test

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	ics "github.com/arran4/golang-ical"
	"google.golang.org/protobuf/types/known/fieldmaskpb"

	rallyv1 "github.com/rallyhq/rally/gen/go/rally/v1"
	"github.com/rallyhq/rally/internal/redistest"
)

// raw fetches path with exactly the headers given (no transparent gzip), and host as the
// Host header when it is not empty.
func (r rally) raw(t *testing.T, method, path, host string, header ...string) (*http.Response, string) {
	t.Helper()
	req, err := http.NewRequest(method, r.base+path, nil)
	if err != nil {
		t.Fatal(err)
	}
	if host != "" {
		req.Host = host
	}
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	client := &http.Client{Transport: &http.Transport{DisableCompression: true}}
	resp, err := client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp, string(body)
}

// sequenceOf is the SEQUENCE of the one VEVENT of an event's feed.
func (r rally) sequenceOf(t *testing.T, id string) int {
	t.Helper()
	events := r.calendar(t, "/v1/events/"+id+".ics", false).Events()
	if len(events) != 1 {
		t.Fatalf("%s: %d events", id, len(events))
	}
	n, err := strconv.Atoi(prop(events[0], ics.ComponentPropertySequence))
	if err != nil {
		t.Fatalf("%s: SEQUENCE %q", id, prop(events[0], ics.ComponentPropertySequence))
	}
	return n
}

// SEQUENCE grows with every change, on both stores: a cancellation in the same second
// as the creation (which update_time cannot tell from no change) included.
func TestFeedSequence(t *testing.T) {
	for name, redisURL := range map[string]func(t *testing.T) string{
		"memory": func(*testing.T) string { return "" },
		"redis":  func(t *testing.T) string { return redistest.Start(t).URL() },
	} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			r := startRally(t, "--redis-url="+redisURL(t), noLimits)
			start := time.Date(2030, 5, 17, 12, 0, 0, 0, time.UTC)
			// Created and cancelled within one second: retried with another event in the
			// rare case the two calls straddle a second.
			for try := 0; ; try++ {
				id := fmt.Sprint("quick-", try)
				created := r.createEvent(t, id, event("", "Quick", start))
				if got := r.sequenceOf(t, id); got != 0 {
					t.Errorf("new event: SEQUENCE %d, want 0", got)
				}
				cancelled, err := r.events.CancelEvent(r.ctx, &rallyv1.CancelEventRequest{Name: "events/" + id})
				if err != nil {
					t.Fatal(err)
				}
				if cancelled.GetUpdateTime().GetSeconds() != created.GetCreateTime().GetSeconds() {
					if try == 5 {
						t.Fatal("never created and cancelled within one second")
					}
					continue
				}
				if cancelled.GetRevision() != 1 {
					t.Errorf("cancelled: revision %d, want 1", cancelled.GetRevision())
				}
				if got := r.sequenceOf(t, id); got != 1 {
					t.Errorf("cancelled in the second of its creation: SEQUENCE %d, want 1", got)
				}
				break
			}

			r.createEvent(t, "edited", event("", "Edited", start))
			last := r.sequenceOf(t, "edited")
			for i := range 3 {
				if _, err := r.events.UpdateEvent(r.ctx, &rallyv1.UpdateEventRequest{
					Event:      &rallyv1.Event{Name: "events/edited", Title: fmt.Sprint("Edited ", i)},
					UpdateMask: &fieldmaskpb.FieldMask{Paths: []string{"title"}},
				}); err != nil {
					t.Fatal(err)
				}
				got := r.sequenceOf(t, "edited")
				if got <= last {
					t.Errorf("update %d: SEQUENCE %d, not above %d", i+1, got, last)
				}
				last = got
			}
			// An RSVP is no change of the event.
			if resp, body := r.post(t, "/v1/events/edited/rsvps", `{"displayName":"Ana"}`); resp.StatusCode != 200 {
				t.Fatalf("RSVP: %d %s", resp.StatusCode, body)
			}
			if got := r.sequenceOf(t, "edited"); got != last {
				t.Errorf("after an RSVP: SEQUENCE %d, want %d", got, last)
			}
		})
	}
}

// post sends a JSON body anonymously, asking for gzip, and returns the raw response.
func (r rally) post(t *testing.T, path, body string, header ...string) (*http.Response, string) {
	t.Helper()
	req, err := http.NewRequest("POST", r.base+path, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Accept-Encoding", "gzip, deflate, br, zstd")
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	resp, err := (&http.Client{Transport: &http.Transport{DisableCompression: true}}).Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp, string(b)
}

// Conditional GET: a weak ETag that stays while what the feed shows stays (across
// generations, whose DTSTAMP differ, RSVPs and content codings) and moves with every
// change; Last-Modified; 304 for If-None-Match and If-Modified-Since, If-None-Match
// winning; and Cache-Control that lets a calendar app or cache keep the feed and ask again.
func TestFeedConditionalGET(t *testing.T) {
	r := startRally(t, noLimits)
	if _, err := r.campaigns.CreateCampaign(r.ctx, &rallyv1.CreateCampaignRequest{
		CampaignId: "vigils", Campaign: &rallyv1.Campaign{Title: "Vigils"},
	}); err != nil {
		t.Fatal(err)
	}
	e := event("campaigns/vigils", "Vigil", time.Date(2030, 5, 17, 12, 0, 0, 0, time.UTC))
	e.AttendanceVisibility = rallyv1.AttendanceVisibility_ATTENDANCE_VISIBILITY_EXACT
	e.Description = strings.Repeat("Candles, flags and a calm voice. ", 40) // worth compressing
	r.createEvent(t, "vigil", e)
	// Last-Modified is sent once the second of the last change is over.
	time.Sleep(time.Until(time.Now().Truncate(time.Second).Add(1100 * time.Millisecond)))

	for _, path := range []string{"/v1/events/vigil.ics", "/v1/campaigns/vigils.ics"} {
		t.Run(path, func(t *testing.T) {
			resp, body := r.raw(t, "GET", path, "")
			etag, modified := resp.Header.Get("ETag"), resp.Header.Get("Last-Modified")
			if resp.StatusCode != 200 || !strings.HasPrefix(etag, `W/"`) || modified == "" || resp.Header.Get("Cache-Control") != "no-cache" {
				t.Fatalf("GET: %d, ETag %q, Last-Modified %q, Cache-Control %q", resp.StatusCode, etag, modified, resp.Header.Get("Cache-Control"))
			}
			stamp := dtstamp(t, body)

			for _, h := range [][]string{
				{"If-None-Match", etag},
				{"If-None-Match", `"other", ` + etag},
				{"If-None-Match", strings.TrimPrefix(etag, "W/")}, // weak comparison
				{"If-Modified-Since", modified},
				{"If-None-Match", etag, "Accept-Encoding", "gzip"},
				{"If-None-Match", etag, "Accept-Encoding", "zstd"},
			} {
				resp, body := r.raw(t, "GET", path, "", h...)
				if resp.StatusCode != http.StatusNotModified || body != "" || resp.Header.Get("ETag") != etag {
					t.Errorf("GET with %q: %d, ETag %q, %d bytes; want 304 with the ETag", h, resp.StatusCode, resp.Header.Get("ETag"), len(body))
				}
			}
			// If-None-Match wins over If-Modified-Since (RFC 9110, 13.1.3).
			if resp, _ := r.raw(t, "GET", path, "", "If-None-Match", `W/"other"`, "If-Modified-Since", modified); resp.StatusCode != 200 {
				t.Errorf("a stale If-None-Match with a current If-Modified-Since: %d, want 200", resp.StatusCode)
			}
			// Compressed, the same weak ETag.
			if resp, _ := r.raw(t, "GET", path, "", "Accept-Encoding", "gzip"); resp.Header.Get("Content-Encoding") != "gzip" || resp.Header.Get("ETag") != etag {
				t.Errorf("gzip: Content-Encoding %q, ETag %q; want gzip and %q", resp.Header.Get("Content-Encoding"), resp.Header.Get("ETag"), etag)
			}

			// A second later the feed is generated anew (another DTSTAMP), with the same ETag.
			time.Sleep(time.Until(time.Now().Truncate(time.Second).Add(1100 * time.Millisecond)))
			resp2, body2 := r.raw(t, "GET", path, "")
			if dtstamp(t, body2) == stamp || resp2.Header.Get("ETag") != etag {
				t.Errorf("a second later: DTSTAMP %s (was %s), ETag %q (was %q); want a new DTSTAMP and the same ETag", dtstamp(t, body2), stamp, resp2.Header.Get("ETag"), etag)
			}
		})
	}

	// RSVPs do not move what the public reads (the threat model): same ETag, same
	// Last-Modified, still 304, though the event's exact attendance changed.
	before := map[string][2]string{}
	for _, path := range []string{"/v1/events/vigil.ics", "/v1/campaigns/vigils.ics"} {
		resp, _ := r.raw(t, "GET", path, "")
		before[path] = [2]string{resp.Header.Get("ETag"), resp.Header.Get("Last-Modified")}
	}
	for i := range 3 {
		if resp, body := r.post(t, "/v1/events/vigil/rsvps", fmt.Sprintf(`{"displayName":"P%d"}`, i)); resp.StatusCode != 200 {
			t.Fatalf("RSVP: %d %s", resp.StatusCode, body)
		}
	}
	if got, err := r.events.GetEvent(context.Background(), &rallyv1.GetEventRequest{Name: "events/vigil"}); err != nil || got.GetAttendance().GetGoing() != 3 {
		t.Fatalf("attendance after 3 RSVPs: %v, %v", got.GetAttendance(), err)
	}
	for path, was := range before {
		resp, _ := r.raw(t, "GET", path, "", "If-None-Match", was[0])
		if resp.StatusCode != http.StatusNotModified || resp.Header.Get("ETag") != was[0] {
			t.Errorf("%s after RSVPs: %d, ETag %q; want 304 and %q", path, resp.StatusCode, resp.Header.Get("ETag"), was[0])
		}
		resp, _ = r.raw(t, "GET", path, "")
		if resp.Header.Get("Last-Modified") != was[1] {
			t.Errorf("%s after RSVPs: Last-Modified %q, want %q", path, resp.Header.Get("Last-Modified"), was[1])
		}
	}

	// A change moves both feeds' ETag at once, and If-None-Match gets the new feed. No
	// Last-Modified within the second of the change: a second change in that second would
	// not be after it.
	if _, err := r.events.UpdateEvent(r.ctx, &rallyv1.UpdateEventRequest{
		Event:      &rallyv1.Event{Name: "events/vigil", Title: "Vigil, moved"},
		UpdateMask: &fieldmaskpb.FieldMask{Paths: []string{"title"}},
	}); err != nil {
		t.Fatal(err)
	}
	for path, was := range before {
		resp, body := r.raw(t, "GET", path, "", "If-None-Match", was[0], "If-Modified-Since", was[1])
		if resp.StatusCode != 200 || resp.Header.Get("ETag") == was[0] || !strings.Contains(body, "SUMMARY:Vigil\\, moved") {
			t.Errorf("%s after an update: %d, ETag %q (was %q); want 200, a new ETag and the new title", path, resp.StatusCode, resp.Header.Get("ETag"), was[0])
		}
		if lm := resp.Header.Get("Last-Modified"); lm != "" {
			if t2, err := http.ParseTime(lm); err != nil || !time.Now().Truncate(time.Second).After(t2) {
				t.Errorf("%s: Last-Modified %q within its own second", path, lm)
			}
		}
	}
}

// dtstamp is the DTSTAMP of a feed's first VEVENT.
func dtstamp(t *testing.T, body string) string {
	t.Helper()
	for line := range strings.SplitSeq(body, "\r\n") {
		if v, ok := strings.CutPrefix(line, "DTSTAMP:"); ok {
			return v
		}
	}
	t.Fatalf("no DTSTAMP in %s", body)
	return ""
}

// Links come from --public-url, or the listen address without it, never from the Host
// header (nor X-Forwarded-Host): whatever a client sends there appears in no response.
func TestHostHeaderIgnored(t *testing.T) {
	for name, flags := range map[string][]string{
		"public url": {"--public-url=https://rally.example.org/kz"},
		"default":    nil,
	} {
		t.Run(name, func(t *testing.T) {
			r := startRally(t, append(flags, noLimits)...)
			if _, err := r.campaigns.CreateCampaign(r.ctx, &rallyv1.CreateCampaignRequest{
				CampaignId: "vigils", Campaign: &rallyv1.Campaign{Title: "Vigils"},
			}); err != nil {
				t.Fatal(err)
			}
			r.createEvent(t, "vigil", event("campaigns/vigils", "Vigil", time.Date(2030, 5, 17, 12, 0, 0, 0, time.UTC)))
			want := "https://rally.example.org/kz/e/vigil"
			if flags == nil {
				_, port, _ := net.SplitHostPort(r.app.HTTPAddr())
				want = "http://localhost:" + port + "/e/vigil"
			}
			for _, path := range []string{
				"/v1/events/vigil.ics", "/v1/campaigns/vigils.ics", "/v1/events/vigil", "/v1/events",
				"/e/vigil", "/", "/api", "/openapi.json", "/nowhere", "/v1/events/missing.ics",
			} {
				for _, enc := range []string{"", "gzip"} {
					resp, body := r.raw(t, "GET", path, "evil.example", "X-Forwarded-Host", "evil.example", "Accept-Encoding", enc)
					if resp.Header.Get("Content-Encoding") == "gzip" {
						body = gunzip(t, body)
					}
					if strings.Contains(body, "evil.example") || strings.Contains(fmt.Sprint(resp.Header), "evil.example") {
						t.Errorf("GET %s with Host: evil.example: it appears in the response", path)
					}
				}
			}
			events := r.calendar(t, "/v1/campaigns/vigils.ics", false).Events()
			if len(events) != 1 || prop(events[0], ics.ComponentPropertyUrl) != want {
				t.Errorf("campaign feed: URL %q, want %q", prop(events[0], ics.ComponentPropertyUrl), want)
			}
		})
	}
}
