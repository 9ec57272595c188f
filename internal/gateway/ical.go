package gateway

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/base64"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	ics "github.com/arran4/golang-ical"
	"github.com/grpc-ecosystem/grpc-gateway/v2/runtime"
	"google.golang.org/grpc"
	"google.golang.org/grpc/metadata"

	rallyv1 "github.com/rallyhq/rally/gen/go/rally/v1"
	"github.com/rallyhq/rally/internal/clientip"
)

// iCalendar feeds (RFC 5545) of one event, GET /v1/events/{id}.ics, and of a campaign's
// events, GET /v1/campaigns/{id}.ics, for calendar apps to import or subscribe to.
//
// The feeds read through rallyd's own gRPC API, as anonymous callers: the same
// authorisation and shaping apply as to any public read (no meeting point, ever), and the
// same rate limits, counted against the HTTP client's address, which is forwarded with
// the gateway's key exactly as grpc-gateway forwards it. No credential is forwarded, so a
// feed URL shows the same thing to whoever opens it.
//
// The calendar is built and written by github.com/arran4/golang-ical, which the tests
// also parse it with: a maintained library escapes TEXT values and folds lines (keeping
// UTF-8 characters whole) as RFC 5545 asks, so this file only maps an event to
// properties. What the library does not do, it is given: TEXT may not hold control
// characters (plainText drops them), and the VTIMEZONE of a zone is built here from Go's
// tzdata (vtimezone).
//
// Choices, all valid RFC 5545:
//   - DTSTART and DTEND are local times of the event's IANA zone (TZID=Europe/Berlin),
//     with a VTIMEZONE for each zone the feed uses, so that calendar apps show the event
//     in its own zone and keep it right across DST changes. Where no VTIMEZONE can be
//     built (a zone Go's tzdata does not know, or a span of centuries), the times are UTC
//     and, when the feed has that one zone, X-WR-TIMEZONE names it for the apps that
//     read it;
//   - DTSTAMP is when the feed was generated, as RFC 5545 asks of a published calendar;
//     CREATED and LAST-MODIFIED are the event's own times;
//   - SEQUENCE grows with every change of the event (sequence);
//   - URL is the event's page on the web client, /e/{id}, under the configured public URL
//     (--public-url), never under the request's Host header, which any client can set:
//     a feed must not carry a link an attacker chose to whoever subscribes to it;
//   - responses carry a weak ETag and Last-Modified and answer If-None-Match and
//     If-Modified-Since with 304 (serveFeed), for the apps that poll.

// icalContentType is the media type of the feeds.
const icalContentType = "text/calendar; charset=utf-8"

// feedPageSize is the page size the campaign feed lists events with, and
// feedMaxEvents bounds how many events one campaign feed holds.
const (
	feedPageSize  = 1000
	feedMaxEvents = 10000
)

// feedRefresh is how often the feeds ask subscribers to poll (REFRESH-INTERVAL, RFC
// 7986, and X-PUBLISHED-TTL, its older equivalent): an event changes rarely, and a poll
// costs little with conditional GET.
const feedRefresh = "PT1H"

// feeds serves the iCalendar feeds.
type feeds struct {
	events     rallyv1.EventServiceClient
	campaigns  rallyv1.CampaignServiceClient
	gatewayKey string
	mux        *runtime.ServeMux // for errors in the gateway's shape
	publicURL  string            // the base of the links, without a trailing slash
	now        func() time.Time
}

func newFeeds(conn *grpc.ClientConn, mux *runtime.ServeMux, gatewayKey, publicURL string) *feeds {
	return &feeds{
		events:     rallyv1.NewEventServiceClient(conn),
		campaigns:  rallyv1.NewCampaignServiceClient(conn),
		gatewayKey: gatewayKey,
		mux:        mux,
		publicURL:  strings.TrimRight(publicURL, "/"),
		now:        time.Now,
	}
}

// icsOr serves feed for a {file} path value ending in .ics and passes any other request
// (the JSON resource, :watch, ...) on to next, the REST gateway.
func icsOr(feed func(w http.ResponseWriter, r *http.Request, id string), next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		id, ok := strings.CutSuffix(r.PathValue("file"), ".ics")
		if !ok {
			next.ServeHTTP(w, r)
			return
		}
		feed(w, r, id)
	})
}

// refuseBadBytes answers, as the gateway does (badbytes.go), a feed asked for with bytes that
// are not UTF-8 in its ID or query, which the gRPC call could not carry; it reports
// whether it did. Headers are not checked: the feeds forward none.
func (f *feeds) refuseBadBytes(w http.ResponseWriter, r *http.Request, name string) bool {
	if err := byteViolations(r, map[string]string{"name": name}, false); err != nil {
		f.fail(w, r, err)
		return true
	}
	return false
}

// event serves the calendar of one event.
func (f *feeds) event(w http.ResponseWriter, r *http.Request, id string) {
	if f.refuseBadBytes(w, r, "events/"+id) {
		return
	}
	e, err := f.events.GetEvent(f.outgoing(r), &rallyv1.GetEventRequest{Name: "events/" + id})
	if err != nil {
		f.fail(w, r, err)
		return
	}
	f.serveFeed(w, r, "", []*rallyv1.Event{e}, e.GetUpdateTime().AsTime())
}

// campaign serves the calendar of a campaign's events, scheduled and cancelled.
func (f *feeds) campaign(w http.ResponseWriter, r *http.Request, id string) {
	if f.refuseBadBytes(w, r, "campaigns/"+id) {
		return
	}
	ctx := f.outgoing(r)
	camp, err := f.campaigns.GetCampaign(ctx, &rallyv1.GetCampaignRequest{Name: "campaigns/" + id})
	if err != nil {
		f.fail(w, r, err)
		return
	}
	var events []*rallyv1.Event
	req := &rallyv1.ListEventsRequest{Campaign: camp.GetName(), ShowCancelled: true, PageSize: feedPageSize}
	for len(events) < feedMaxEvents {
		page, err := f.events.ListEvents(ctx, req)
		if err != nil {
			f.fail(w, r, err)
			return
		}
		events = append(events, page.GetEvents()...)
		if req.PageToken = page.GetNextPageToken(); req.PageToken == "" {
			break
		}
	}
	// The campaign's title names the calendar: its update time counts too.
	modified := camp.GetUpdateTime().AsTime()
	for _, e := range events {
		if t := e.GetUpdateTime().AsTime(); t.After(modified) {
			modified = t
		}
	}
	f.serveFeed(w, r, camp.GetTitle(), events, modified)
}

// outgoing is the context of the feed's gRPC calls: no credential, and the client's
// address (settled by resolveClient) with the gateway's key, so that the gRPC port rate
// limits the HTTP client rather than the gateway.
func (f *feeds) outgoing(r *http.Request) context.Context {
	md := metadata.MD{}
	if f.gatewayKey != "" {
		md.Set(clientip.GatewayKeyHeader, f.gatewayKey)
	}
	if host, _, err := net.SplitHostPort(r.RemoteAddr); err == nil && host != "" {
		md.Set(clientip.ForwardedForHeader, host)
	}
	return metadata.NewOutgoingContext(r.Context(), md)
}

// fail answers an error of the gRPC API as the REST gateway does: same status code, same
// JSON body, same Retry-After.
func (f *feeds) fail(w http.ResponseWriter, r *http.Request, err error) {
	_, m := runtime.MarshalerForRequest(f.mux, r)
	errorHandler(r.Context(), f.mux, m, w, r, err)
}

// serveFeed writes the calendar of events, named name when it is not empty, last changed
// at modified, with the validators of conditional GET:
//   - ETag is a hash of the calendar without its DTSTAMP lines (the one part that changes
//     on every fetch): it changes exactly when what a subscriber sees changes, and never
//     with RSVPs, which the public feed does not show (the threat model: no public read
//     may move with RSVPs, or a poller could time them). It is weak, as RFC 9110 allows
//     for representations that differ only in content coding: the gzip and plain bodies
//     share it, and compression (compress.go) leaves it alone;
//   - Last-Modified is the newest update time of what the feed shows, sent only once
//     that second is over: If-Modified-Since has one-second resolution, and a change
//     later in the same second would otherwise be answered 304 (RFC 9110, 8.8.2.2).
//
// http.ServeContent compares them with If-None-Match (which wins, as RFC 9110 asks) and
// If-Modified-Since, and answers 304, HEAD and ranges.
func (f *feeds) serveFeed(w http.ResponseWriter, r *http.Request, name string, events []*rallyv1.Event, modified time.Time) {
	now := f.now()
	body := f.calendar(name, events, now)
	h := w.Header()
	h.Set("Content-Type", icalContentType)
	h.Set("ETag", feedETag(body))
	// Public and the same for everyone: a cache may keep it, provided it asks again
	// (with the validators) each time; the API's no-store (headers.go) is for responses
	// that depend on the caller.
	h.Set("Cache-Control", "no-cache")
	if !now.Truncate(time.Second).After(modified) {
		modified = time.Time{} // no Last-Modified: see above
	}
	http.ServeContent(w, r, "", modified, bytes.NewReader(body))
}

// feedETag is the weak ETag of a calendar: a hash of its lines but DTSTAMP's.
func feedETag(body []byte) string {
	sum := sha256.New()
	for line := range bytes.SplitSeq(body, []byte("\r\n")) {
		if !bytes.HasPrefix(line, []byte("DTSTAMP:")) {
			sum.Write(line)
			sum.Write([]byte("\r\n"))
		}
	}
	return `W/"` + base64.RawURLEncoding.EncodeToString(sum.Sum(nil)[:18]) + `"`
}

// calendar builds the calendar of events, generated at now.
func (f *feeds) calendar(name string, events []*rallyv1.Event, now time.Time) []byte {
	cal := ics.NewCalendarFor("Rally")
	cal.SetProductId("-//Rally//Rally//EN")
	cal.SetCalscale("GREGORIAN")
	cal.SetMethod(ics.MethodPublish)
	if name != "" {
		cal.SetXWRCalName(plainText(name))
	}
	cal.CalendarProperties = append(cal.CalendarProperties,
		ics.CalendarProperty{BaseProperty: ics.BaseProperty{IANAToken: "REFRESH-INTERVAL", ICalParameters: map[string][]string{"VALUE": {"DURATION"}}, Value: feedRefresh}},
		ics.CalendarProperty{BaseProperty: ics.BaseProperty{IANAToken: string(ics.PropertyXPublishedTTL), ICalParameters: map[string][]string{}, Value: feedRefresh}})

	zones := feedZones(events)
	if len(zones) == 1 {
		for name, z := range zones {
			if z.tz == nil && name != "" {
				cal.SetXWRTimezone(name)
			}
		}
	}
	for _, name := range sortedKeys(zones) {
		if tz := zones[name].tz; tz != nil {
			cal.AddVTimezone(tz)
		}
	}
	stamp := now.UTC().Truncate(time.Second)
	for _, e := range events {
		f.addEvent(cal, e, zones[e.GetTimeZone()], stamp)
	}
	var b bytes.Buffer
	// CRLF, as RFC 5545 requires: the library's default is a bare LF. Lines are folded
	// at 75 octets, its default.
	_ = cal.SerializeTo(&b, ics.WithNewLineWindows) // a bytes.Buffer does not fail
	return b.Bytes()
}

// addEvent adds one VEVENT.
func (f *feeds) addEvent(cal *ics.Calendar, e *rallyv1.Event, z *feedZone, stamp time.Time) {
	id := strings.TrimPrefix(e.GetName(), "events/")
	v := cal.AddEvent(id + "@rally")
	v.SetDtStampTime(stamp)
	if e.GetCreateTime() != nil {
		v.SetCreatedTime(e.GetCreateTime().AsTime())
	}
	if e.GetUpdateTime() != nil {
		v.SetModifiedAt(e.GetUpdateTime().AsTime())
	}
	v.SetSequence(int(sequence(e)))
	z.set(v, ics.ComponentPropertyDtStart, e.GetStartTime().AsTime())
	z.set(v, ics.ComponentPropertyDtEnd, e.GetEndTime().AsTime())
	v.SetSummary(plainText(e.GetTitle()))
	// The description carries the safety information too: calendar apps show no other
	// free text, and it is what a participant should find on their phone, offline, when
	// someone is detained. Paragraphs are separated by a blank line.
	var paras []string
	if d := e.GetDescription(); d != "" {
		paras = append(paras, d)
	}
	if s := safetyText(e.GetSafety()); s != "" {
		paras = append(paras, s)
	}
	if e.GetState() == rallyv1.EventState_EVENT_STATE_CANCELLED && e.GetCancelReason() != "" {
		paras = append(paras, "Cancelled: "+e.GetCancelReason())
	}
	if len(paras) > 0 {
		v.SetDescription(plainText(strings.Join(paras, "\n\n")))
	}
	if loc := location(e.GetVenue()); loc != "" {
		v.SetLocation(plainText(loc))
	}
	if venue := e.GetVenue(); venue != nil && venue.Latitude != nil && venue.Longitude != nil {
		v.SetProperty(ics.ComponentPropertyGeo, strconv.FormatFloat(venue.GetLatitude(), 'f', -1, 64)+";"+strconv.FormatFloat(venue.GetLongitude(), 'f', -1, 64))
	}
	if e.GetState() == rallyv1.EventState_EVENT_STATE_CANCELLED {
		v.SetStatus(ics.ObjectStatusCancelled)
	} else {
		v.SetStatus(ics.ObjectStatusConfirmed)
	}
	v.SetURL(f.publicURL + "/e/" + url.PathEscape(id))
}

// safetyText is an event's safety information as lines of text, empty if it has none.
func safetyText(s *rallyv1.EventSafety) string {
	var lines []string
	if v := s.GetLegalHotline(); v != "" {
		lines = append(lines, "Legal hotline: "+v)
	}
	if v := s.GetEmergencyNumber(); v != "" {
		lines = append(lines, "Emergency: "+v)
	}
	if s.GetLegalObservers() {
		lines = append(lines, "Legal observers present")
	}
	if v := s.GetNotes(); v != "" {
		lines = append(lines, v)
	}
	if len(lines) == 0 {
		return ""
	}
	return "Safety:\n" + strings.Join(lines, "\n")
}

// sequence is the entry's SEQUENCE: the event's revision, which grows by one with every
// change however close together (Event.revision), plus the whole seconds between the
// event's creation and its last update, which Rally published alone before it kept a
// revision. The sum grows with every change, and is never below what an older Rally
// published for the same event, so that a calendar app that imported the entry then does
// not take the newer one for stale. An INTEGER is 32 bits.
func sequence(e *rallyv1.Event) int64 {
	var seconds int64
	if e.GetCreateTime() != nil && e.GetUpdateTime() != nil {
		seconds = max(e.GetUpdateTime().GetSeconds()-e.GetCreateTime().GetSeconds(), 0)
	}
	return min(int64(e.GetRevision())+seconds, 1<<31-1)
}

// location is the public venue as one line: the address lines, the locality, the
// country code.
func location(v *rallyv1.Venue) string {
	parts := append([]string(nil), v.GetAddressLines()...)
	for _, p := range []string{v.GetLocality(), v.GetCountry()} {
		if p != "" {
			parts = append(parts, p)
		}
	}
	return strings.Join(parts, ", ")
}

// plainText prepares a TEXT value for the library, which escapes backslash, semicolon,
// comma and line feed (RFC 5545 section 3.3.11) but passes other control characters,
// which TEXT does not allow: CR LF and lone CRs become line feeds, tabs stay, and every
// other control character is dropped.
func plainText(s string) string {
	s = strings.ReplaceAll(s, "\r\n", "\n")
	return strings.Map(func(r rune) rune {
		switch {
		case r == '\r':
			return '\n'
		case r == '\n' || r == '\t':
			return r
		case r < 0x20 || r == 0x7f:
			return -1
		}
		return r
	}, s)
}
