package gateway_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"
	"unicode/utf8"

	ics "github.com/arran4/golang-ical"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/metadata"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/fieldmaskpb"
	"google.golang.org/protobuf/types/known/timestamppb"

	rallyv1 "github.com/rallyhq/rally/gen/go/rally/v1"
	"github.com/rallyhq/rally/internal/app"
	"github.com/rallyhq/rally/internal/app/apptest"
	"github.com/rallyhq/rally/internal/redistest"
)

const adminToken = "rly_admin_RVALIAPKauKYfFH3JvEblWmrg_hTbIGNWvFPtCnC4nE"

// noLimits turns rate limits off: the tests call from one address as fast as they can.
const noLimits = "--rate-limits=read=off;write=off"

// A long description in Kazakh and Russian, with every character TEXT escapes, so that
// folding has multi-byte characters to keep whole and escapes to keep together.
const longDescription = "Бейбіт шеру: Қазақстандағы ЛГБТИ адамдарымен ынтымақтастық; " +
	"біз «үгіт-насихат» туралы заңға қарсымыз, себебі ол адам құқықтарын бұзады.\n" +
	"Мирная акция солидарности с ЛГБТИ-людьми в Казахстане; приходите с флагами, свечами, плакатами.\r\n" +
	`Путь: C:\акция\карта, затем направо; no party symbols, please.` + "\n" +
	"Ұйымдастырушылар: «Алма» және «Бота» — сұрақтарыңыз болса, жазыңыздар."

type rally struct {
	app       *app.App
	base      string
	ctx       context.Context // carries the admin token
	campaigns rallyv1.CampaignServiceClient
	events    rallyv1.EventServiceClient
}

func startRally(t *testing.T, flags ...string) rally {
	t.Helper()
	a := apptest.Start(t, adminToken, flags...)
	conn, err := grpc.NewClient(a.GRPCAddr(), grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	return rally{
		app:       a,
		base:      "http://" + a.HTTPAddr(),
		ctx:       metadata.AppendToOutgoingContext(context.Background(), "authorization", "Bearer "+adminToken),
		campaigns: rallyv1.NewCampaignServiceClient(conn),
		events:    rallyv1.NewEventServiceClient(conn),
	}
}

func (r rally) createEvent(t *testing.T, id string, e *rallyv1.Event) *rallyv1.Event {
	t.Helper()
	got, err := r.events.CreateEvent(r.ctx, &rallyv1.CreateEventRequest{EventId: id, Event: e})
	if err != nil {
		t.Fatalf("create event %s: %v", id, err)
	}
	return got
}

// get fetches path anonymously.
func (r rally) get(t *testing.T, path string, header ...string) (*http.Response, string) {
	t.Helper()
	req, err := http.NewRequest("GET", r.base+path, nil)
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	resp, err := http.DefaultClient.Do(req)
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

func event(campaign, title string, start time.Time) *rallyv1.Event {
	return &rallyv1.Event{
		Campaign: campaign,
		Title:    title,
		Venue: &rallyv1.Venue{
			Kind: rallyv1.VenueKind_VENUE_KIND_EMBASSY, RepresentedCountry: "KZ",
			AddressLines: []string{"Nordendstraße 8"}, Locality: "Berlin", Country: "DE",
		},
		StartTime:    timestamppb.New(start),
		EndTime:      timestamppb.New(start.Add(2 * time.Hour)),
		TimeZone:     "Europe/Berlin",
		MeetingPoint: "the secret corner behind the kiosk",
	}
}

func TestCalendarFeeds(t *testing.T) {
	for name, redisURL := range map[string]func(t *testing.T) string{
		"memory": func(*testing.T) string { return "" },
		"redis":  func(t *testing.T) string { return redistest.Start(t).URL() },
	} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			testCalendarFeeds(t, startRally(t, "--redis-url="+redisURL(t), noLimits, "--public-url=https://rally.example.org/"))
		})
	}
}

// publicURL is the --public-url of TestCalendarFeeds.
const publicURL = "https://rally.example.org"

func testCalendarFeeds(t *testing.T, r rally) {
	const campaignTitle = "Vigils; for Kazakh LGBTI people, everywhere"
	if _, err := r.campaigns.CreateCampaign(r.ctx, &rallyv1.CreateCampaignRequest{
		CampaignId: "kz-vigils", Campaign: &rallyv1.Campaign{Title: campaignTitle},
	}); err != nil {
		t.Fatal(err)
	}
	if _, err := r.campaigns.CreateCampaign(r.ctx, &rallyv1.CreateCampaignRequest{
		CampaignId: "other", Campaign: &rallyv1.Campaign{Title: "Another campaign"},
	}); err != nil {
		t.Fatal(err)
	}
	start := time.Date(2030, 5, 17, 12, 0, 0, 0, time.UTC)

	berlin := event("campaigns/kz-vigils", `Vigil at the Embassy of Kazakhstan, Berlin; bring "candles" \ flags`, start)
	berlin.Description = longDescription
	berlin.Venue.AddressLines = []string{"Nordendstraße 8", "Pankow, north gate"}
	berlin.Venue.Latitude, berlin.Venue.Longitude = proto.Float64(52.5746), proto.Float64(13.4064)
	r.createEvent(t, "vigil-berlin", berlin)
	r.createEvent(t, "vigil-london", event("campaigns/kz-vigils", "Vigil in London", start.Add(24*time.Hour)))
	r.createEvent(t, "vigil-paris", event("campaigns/kz-vigils", "Vigil in Paris", start.Add(48*time.Hour)))
	r.createEvent(t, "elsewhere", event("campaigns/other", "Not in this campaign", start))
	if _, err := r.events.CancelEvent(r.ctx, &rallyv1.CancelEventRequest{Name: "events/vigil-london", Reason: "Police ban, sorry; see you in June"}); err != nil {
		t.Fatal(err)
	}

	t.Run("event", func(t *testing.T) {
		want, err := r.events.GetEvent(context.Background(), &rallyv1.GetEventRequest{Name: "events/vigil-berlin"})
		if err != nil {
			t.Fatal(err)
		}
		cal := r.calendar(t, "/v1/events/vigil-berlin.ics", true)
		checkCalendarProperties(t, cal, "")
		// The parser forgives a comma or semicolon left unescaped: check the escaping on
		// the unfolded lines themselves.
		_, body := r.get(t, "/v1/events/vigil-berlin.ics")
		lines := strings.Split(strings.ReplaceAll(body, "\r\n ", ""), "\r\n")
		for _, want := range []string{
			`SUMMARY:Vigil at the Embassy of Kazakhstan\, Berlin\; bring "candles" \\ flags`,
			`LOCATION:Nordendstraße 8\, Pankow\, north gate\, Berlin\, DE`,
			`DESCRIPTION:Бейбіт шеру: Қазақстандағы ЛГБТИ адамдарымен ынтымақтастық\; біз «үгіт-насихат» туралы заңға қарсымыз\, себебі ол адам құқықтарын бұзады.\n` +
				`Мирная акция солидарности с ЛГБТИ-людьми в Казахстане\; приходите с флагами\, свечами\, плакатами.\n` +
				`Путь: C:\\акция\\карта\, затем направо\; no party symbols\, please.\n` +
				`Ұйымдастырушылар: «Алма» және «Бота» — сұрақтарыңыз болса\, жазыңыздар.`,
			"GEO:52.5746;13.4064",
		} {
			if !slices.Contains(lines, want) {
				t.Errorf("no line %s in\n%s", want, body)
			}
		}
		events := cal.Events()
		if len(events) != 1 {
			t.Fatalf("%d events, want 1", len(events))
		}
		checkEvent(t, cal, events[0], want, map[ics.ComponentProperty]string{
			ics.ComponentPropertyUniqueId:    "vigil-berlin@rally",
			ics.ComponentPropertySummary:     berlin.GetTitle(),
			ics.ComponentPropertyDescription: strings.ReplaceAll(longDescription, "\r\n", "\n"),
			ics.ComponentPropertyLocation:    "Nordendstraße 8, Pankow, north gate, Berlin, DE",
			ics.ComponentPropertyGeo:         "52.5746;13.4064",
			ics.ComponentPropertyStatus:      "CONFIRMED",
			ics.ComponentPropertyUrl:         publicURL + "/e/vigil-berlin",
		})
	})

	t.Run("cancelled event", func(t *testing.T) {
		want, err := r.events.GetEvent(context.Background(), &rallyv1.GetEventRequest{Name: "events/vigil-london"})
		if err != nil {
			t.Fatal(err)
		}
		cal := r.calendar(t, "/v1/events/vigil-london.ics", false)
		events := cal.Events()
		if len(events) != 1 {
			t.Fatalf("%d events, want 1", len(events))
		}
		checkEvent(t, cal, events[0], want, map[ics.ComponentProperty]string{
			ics.ComponentPropertyUniqueId:    "vigil-london@rally",
			ics.ComponentPropertySummary:     "Vigil in London",
			ics.ComponentPropertyDescription: "Cancelled: Police ban, sorry; see you in June",
			ics.ComponentPropertyLocation:    "Nordendstraße 8, Berlin, DE",
			ics.ComponentPropertyGeo:         "",
			ics.ComponentPropertyStatus:      "CANCELLED",
			ics.ComponentPropertyUrl:         publicURL + "/e/vigil-london",
		})
	})

	t.Run("campaign", func(t *testing.T) {
		cal := r.calendar(t, "/v1/campaigns/kz-vigils.ics", true)
		checkCalendarProperties(t, cal, campaignTitle)
		status := map[string]string{}
		for _, e := range cal.Events() {
			status[e.Id()] = prop(e, ics.ComponentPropertyStatus)
			want, err := r.events.GetEvent(context.Background(), &rallyv1.GetEventRequest{Name: "events/" + strings.TrimSuffix(e.Id(), "@rally")})
			if err != nil {
				t.Fatalf("%s: %v", e.Id(), err)
			}
			checkEvent(t, cal, e, want, nil)
		}
		wantStatus := map[string]string{"vigil-berlin@rally": "CONFIRMED", "vigil-london@rally": "CANCELLED", "vigil-paris@rally": "CONFIRMED"}
		if fmt.Sprint(status) != fmt.Sprint(wantStatus) {
			t.Errorf("campaign feed: events %v, want %v", status, wantStatus)
		}
	})

	t.Run("safety", func(t *testing.T) {
		// Safety information, public, in the description after the event's own, with
		// TEXT's escapes (commas, semicolons, a backslash, line breaks) and Cyrillic to
		// fold; an event with safety alone, and a cancelled one, too.
		const notes = "При задержании: молчите, звоните адвокату; не подписывайте ничего.\nRegroup at C:\\park, north gate."
		vienna := event("campaigns/other", "Vigil in Vienna", start)
		vienna.Description = "Candles, flags."
		vienna.Safety = &rallyv1.EventSafety{LegalHotline: "+43 1 234 5678, ext. 9", EmergencyNumber: "112", LegalObservers: true, Notes: notes}
		r.createEvent(t, "vigil-vienna", vienna)
		safetyOnly := event("campaigns/other", "Vigil in Graz", start)
		safetyOnly.Safety = &rallyv1.EventSafety{EmergencyNumber: "133"}
		r.createEvent(t, "vigil-graz", safetyOnly)
		cancelled := event("campaigns/other", "Vigil in Linz", start)
		cancelled.Safety = &rallyv1.EventSafety{LegalObservers: true}
		r.createEvent(t, "vigil-linz", cancelled)
		if _, err := r.events.CancelEvent(r.ctx, &rallyv1.CancelEventRequest{Name: "events/vigil-linz", Reason: "Banned"}); err != nil {
			t.Fatal(err)
		}

		for path, wantDesc := range map[string]string{
			"/v1/events/vigil-vienna.ics": "Candles, flags.\n\nSafety:\nLegal hotline: +43 1 234 5678, ext. 9\nEmergency: 112\nLegal observers present\n" + notes,
			"/v1/events/vigil-graz.ics":   "Safety:\nEmergency: 133",
			"/v1/events/vigil-linz.ics":   "Safety:\nLegal observers present\n\nCancelled: Banned",
		} {
			events := r.calendar(t, path, path == "/v1/events/vigil-vienna.ics").Events()
			if len(events) != 1 {
				t.Fatalf("%s: %d events, want 1", path, len(events))
			}
			if got := prop(events[0], ics.ComponentPropertyDescription); got != wantDesc {
				t.Errorf("%s: DESCRIPTION %q, want %q", path, got, wantDesc)
			}
		}
		_, body := r.get(t, "/v1/events/vigil-vienna.ics")
		unfolded := strings.Split(strings.ReplaceAll(body, "\r\n ", ""), "\r\n")
		want := `DESCRIPTION:Candles\, flags.\n\nSafety:\nLegal hotline: +43 1 234 5678\, ext. 9\nEmergency: 112\nLegal observers present\n` +
			`При задержании: молчите\, звоните адвокату\; не подписывайте ничего.\nRegroup at C:\\park\, north gate.`
		if !slices.Contains(unfolded, want) {
			t.Errorf("no line %s in\n%s", want, body)
		}

		// Updated through the mask, the feed follows; cleared, the paragraph goes.
		if _, err := r.events.UpdateEvent(r.ctx, &rallyv1.UpdateEventRequest{
			Event:      &rallyv1.Event{Name: "events/vigil-graz", Safety: &rallyv1.EventSafety{Notes: "Bring water", EmergencyNumber: "ignored"}},
			UpdateMask: &fieldmaskpb.FieldMask{Paths: []string{"safety.notes"}},
		}); err != nil {
			t.Fatal(err)
		}
		if got := prop(r.calendar(t, "/v1/events/vigil-graz.ics", false).Events()[0], ics.ComponentPropertyDescription); got != "Safety:\nEmergency: 133\nBring water" {
			t.Errorf("after safety.notes was updated: DESCRIPTION %q", got)
		}
		if _, err := r.events.UpdateEvent(r.ctx, &rallyv1.UpdateEventRequest{
			Event:      &rallyv1.Event{Name: "events/vigil-graz"},
			UpdateMask: &fieldmaskpb.FieldMask{Paths: []string{"safety"}},
		}); err != nil {
			t.Fatal(err)
		}
		if e := r.calendar(t, "/v1/events/vigil-graz.ics", false).Events()[0]; e.GetProperty(ics.ComponentPropertyDescription) != nil {
			t.Errorf("after safety was cleared: DESCRIPTION %q", prop(e, ics.ComponentPropertyDescription))
		}
	})

	t.Run("errors", func(t *testing.T) {
		for path, want := range map[string]int{
			"/v1/events/no-such-event.ics":       http.StatusNotFound,
			"/v1/campaigns/no-such-campaign.ics": http.StatusNotFound,
			"/v1/events/Not_An_ID.ics":           http.StatusBadRequest,
			"/v1/campaigns/Not_An_ID.ics":        http.StatusBadRequest,
			"/v1/events/.ics":                    http.StatusBadRequest,
		} {
			resp, body := r.get(t, path)
			var e struct {
				Code    *int            `json:"code"`
				Message string          `json:"message"`
				Details json.RawMessage `json:"details"`
			}
			if err := json.Unmarshal([]byte(body), &e); err != nil || resp.StatusCode != want || e.Code == nil || e.Message == "" || e.Details == nil ||
				!strings.HasPrefix(resp.Header.Get("Content-Type"), "application/json") {
				t.Errorf("GET %s: %d %s %q, want %d and the gateway's JSON error", path, resp.StatusCode, resp.Header.Get("Content-Type"), body, want)
				continue
			}
			if want == http.StatusNotFound && (*e.Code != 5 || string(e.Details) != "[]") {
				t.Errorf("GET %s: %s, want code 5 and no details", path, body)
			}
		}
	})

	t.Run("json still served by the gateway", func(t *testing.T) {
		for path, name := range map[string]string{
			"/v1/events/vigil-berlin":  "events/vigil-berlin",
			"/v1/campaigns/kz-vigils":  "campaigns/kz-vigils",
			"/v1/events/elsewhere":     "events/elsewhere",
			"/v1/campaigns/other":      "campaigns/other",
			"/v1/events?pageSize=1000": "",
		} {
			resp, body := r.get(t, path)
			var got struct {
				Name   string `json:"name"`
				Events []any  `json:"events"`
			}
			if err := json.Unmarshal([]byte(body), &got); err != nil || resp.StatusCode != 200 || got.Name != name {
				t.Errorf("GET %s: %d %q", path, resp.StatusCode, body)
			}
			if strings.Contains(body, "secret corner") {
				t.Errorf("GET %s: anonymous read shows the meeting point", path)
			}
		}
	})
}

// calendar fetches and parses a feed, checking what the parser forgives: CRLF line
// endings, lines of at most 75 octets, folding that keeps UTF-8 characters whole, and no
// meeting point. folded says that the feed must hold at least one folded line.
func (r rally) calendar(t *testing.T, path string, folded bool) *ics.Calendar {
	t.Helper()
	resp, body := r.get(t, path)
	if resp.StatusCode != 200 || resp.Header.Get("Content-Type") != "text/calendar; charset=utf-8" {
		t.Fatalf("GET %s: %d %s %q", path, resp.StatusCode, resp.Header.Get("Content-Type"), body)
	}
	if !strings.HasSuffix(body, "\r\n") {
		t.Errorf("GET %s: does not end with CRLF", path)
	}
	sawFold := false
	for i, line := range strings.Split(strings.TrimSuffix(body, "\r\n"), "\r\n") {
		switch {
		case strings.ContainsAny(line, "\r\n"):
			t.Errorf("GET %s: line %d: a bare CR or LF: %q", path, i+1, line)
		case len(line) > 75:
			t.Errorf("GET %s: line %d: %d octets, over 75: %q", path, i+1, len(line), line)
		case !utf8.ValidString(line):
			t.Errorf("GET %s: line %d: a UTF-8 character cut by folding: %q", path, i+1, line)
		case line == "":
			t.Errorf("GET %s: line %d: empty", path, i+1)
		}
		sawFold = sawFold || strings.HasPrefix(line, " ")
	}
	if folded && !sawFold {
		t.Errorf("GET %s: no folded line", path)
	}
	if strings.Contains(body, "secret") {
		t.Errorf("GET %s: the feed shows the meeting point", path)
	}
	cal, err := ics.ParseCalendar(strings.NewReader(body))
	if err != nil {
		t.Fatalf("GET %s: %v\n%s", path, err, body)
	}
	return cal
}

func checkCalendarProperties(t *testing.T, cal *ics.Calendar, name string) {
	t.Helper()
	got := map[string]string{}
	for _, p := range cal.CalendarProperties {
		got[p.IANAToken] = p.Value
	}
	want := map[string]string{"VERSION": "2.0", "PRODID": "-//Rally//Rally//EN", "CALSCALE": "GREGORIAN", "METHOD": "PUBLISH", "REFRESH-INTERVAL": "PT1H", "X-PUBLISHED-TTL": "PT1H"}
	if name != "" {
		want["X-WR-CALNAME"] = name
	}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("calendar properties %v, want %v", got, want)
	}
}

func prop(e *ics.VEvent, p ics.ComponentProperty) string { return prop2(e.ComponentBase, p) }

func prop2(c ics.ComponentBase, p ics.ComponentProperty) string {
	if v := c.GetProperty(p); v != nil {
		return v.Value
	}
	return ""
}

// checkEvent checks a VEVENT against the event as the public reads it over gRPC, and
// against the values in want.
func checkEvent(t *testing.T, cal *ics.Calendar, e *ics.VEvent, ev *rallyv1.Event, want map[ics.ComponentProperty]string) {
	t.Helper()
	for p, v := range want {
		if got := prop(e, p); got != v {
			t.Errorf("%s: %s = %q, want %q", e.Id(), p, got, v)
		}
	}
	for p, v := range map[ics.ComponentProperty]string{
		ics.ComponentPropertyLastModified: ev.GetUpdateTime().AsTime().Format("20060102T150405Z"),
		ics.ComponentPropertyCreated:      ev.GetCreateTime().AsTime().Format("20060102T150405Z"),
		ics.ComponentPropertySequence:     fmt.Sprint(int64(ev.GetRevision()) + ev.GetUpdateTime().GetSeconds() - ev.GetCreateTime().GetSeconds()),
		ics.ComponentPropertySummary:      ev.GetTitle(),
	} {
		if got := prop(e, p); got != v {
			t.Errorf("%s: %s = %q, want %q", e.Id(), p, got, v)
		}
	}
	// DTSTAMP is when the feed was generated: after the event's last change.
	if stamp, err := e.GetDtStampTime(); err != nil || stamp.Before(ev.GetUpdateTime().AsTime().Truncate(time.Second)) || time.Since(stamp) > time.Minute {
		t.Errorf("%s: DTSTAMP %v (%v), want the time the feed was generated", e.Id(), stamp, err)
	}
	// Times in the event's zone, which the calendar defines.
	for _, p := range []ics.ComponentProperty{ics.ComponentPropertyDtStart, ics.ComponentPropertyDtEnd} {
		v := e.GetProperty(p)
		if v == nil || strings.HasSuffix(v.Value, "Z") || fmt.Sprint(v.ICalParameters["TZID"]) != "["+ev.GetTimeZone()+"]" {
			t.Errorf("%s: %s = %+v, want a local time with TZID=%s", e.Id(), p, v, ev.GetTimeZone())
		}
	}
	if !slices.ContainsFunc(cal.Timezones(), func(tz *ics.VTimezone) bool {
		return prop2(tz.ComponentBase, ics.ComponentPropertyTzid) == ev.GetTimeZone()
	}) {
		t.Errorf("%s: no VTIMEZONE %s", e.Id(), ev.GetTimeZone())
	}
	if got, err := e.GetStartAt(); err != nil || !got.Equal(ev.GetStartTime().AsTime()) {
		t.Errorf("%s: DTSTART %v (%v), want %v", e.Id(), got, err, ev.GetStartTime().AsTime())
	}
	if got, err := e.GetEndAt(); err != nil || !got.Equal(ev.GetEndTime().AsTime()) {
		t.Errorf("%s: DTEND %v (%v), want %v", e.Id(), got, err, ev.GetEndTime().AsTime())
	}
	wantStatus := map[rallyv1.EventState]string{rallyv1.EventState_EVENT_STATE_SCHEDULED: "CONFIRMED", rallyv1.EventState_EVENT_STATE_CANCELLED: "CANCELLED"}[ev.GetState()]
	if got := prop(e, ics.ComponentPropertyStatus); got != wantStatus {
		t.Errorf("%s: STATUS %q, want %q", e.Id(), got, wantStatus)
	}
}

// A campaign with more events than one page of ListEvents holds: the feed pages through
// them all.
func TestCampaignFeedPages(t *testing.T) {
	r := startRally(t, noLimits)
	if _, err := r.campaigns.CreateCampaign(r.ctx, &rallyv1.CreateCampaignRequest{
		CampaignId: "big", Campaign: &rallyv1.Campaign{Title: "A big campaign"},
	}); err != nil {
		t.Fatal(err)
	}
	const n = 1003 // the feed lists 1,000 events a page
	start := time.Date(2030, 5, 17, 12, 0, 0, 0, time.UTC)
	var wg sync.WaitGroup
	ids := make(chan int)
	for range 8 {
		wg.Go(func() {
			for i := range ids {
				e := event("campaigns/big", fmt.Sprint("Vigil ", i), start.Add(time.Duration(i)*time.Minute))
				if _, err := r.events.CreateEvent(r.ctx, &rallyv1.CreateEventRequest{EventId: fmt.Sprintf("e%04d", i), Event: e}); err != nil {
					t.Errorf("create event %d: %v", i, err)
				}
			}
		})
	}
	for i := range n {
		ids <- i
	}
	close(ids)
	wg.Wait()
	if _, err := r.events.CancelEvent(r.ctx, &rallyv1.CancelEventRequest{Name: "events/e1002"}); err != nil {
		t.Fatal(err)
	}
	events := r.calendar(t, "/v1/campaigns/big.ics", false).Events()
	seen := map[string]bool{}
	for _, e := range events {
		seen[e.Id()] = true
	}
	if len(events) != n || len(seen) != n || !seen["e0000@rally"] || !seen["e1002@rally"] {
		t.Errorf("campaign feed: %d events (%d distinct), want %d", len(events), len(seen), n)
	}
}

// Feeds are rate limited like any anonymous read, per HTTP client (the gateway forwards
// the client's address, not its own), and a refusal looks like the gateway's: 429, JSON,
// Retry-After.
func TestCalendarFeedRateLimit(t *testing.T) {
	r := startRally(t, "--rate-limits=rally.v1.EventService/GetEvent=1/h,burst=2", "--trusted-proxies=127.0.0.1")
	r.createEvent(t, "vigil-berlin", event("", "Vigil", time.Date(2030, 5, 17, 12, 0, 0, 0, time.UTC)))
	for i := range 2 {
		if resp, body := r.get(t, "/v1/events/vigil-berlin.ics", "X-Forwarded-For", "198.51.100.1"); resp.StatusCode != 200 {
			t.Fatalf("request %d: %d %q", i+1, resp.StatusCode, body)
		}
	}
	resp, body := r.get(t, "/v1/events/vigil-berlin.ics", "X-Forwarded-For", "198.51.100.1")
	var e struct{ Code int }
	if err := json.Unmarshal([]byte(body), &e); err != nil || resp.StatusCode != http.StatusTooManyRequests || resp.Header.Get("Retry-After") == "" || e.Code != 8 {
		t.Errorf("over the limit: %d, Retry-After %q, %q; want 429 with Retry-After", resp.StatusCode, resp.Header.Get("Retry-After"), body)
	}
	// Another client has its own allowance.
	if resp, body := r.get(t, "/v1/events/vigil-berlin.ics", "X-Forwarded-For", "198.51.100.2"); resp.StatusCode != 200 {
		t.Errorf("another client: %d %q", resp.StatusCode, body)
	}
}
