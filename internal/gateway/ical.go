package gateway

import (
	"context"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/grpc-ecosystem/grpc-gateway/v2/runtime"
	"google.golang.org/grpc"
	"google.golang.org/grpc/metadata"
	"google.golang.org/protobuf/types/known/timestamppb"

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
// The encoder is hand-written: the format needed here is a few dozen lines (escaping,
// folding, UTC times), and the Go iCalendar libraries are built around parsing and
// editing calendars. The tests check the output with one of them.
//
// Choices, all valid RFC 5545:
//   - times are UTC (DTSTART:20300517T120000Z), so no VTIMEZONE is needed; calendar apps
//     show them in the reader's zone;
//   - DTSTAMP and LAST-MODIFIED are the event's update time, so an unchanged event is
//     byte-for-byte the same on every fetch;
//   - SEQUENCE is the number of seconds between the event's creation and its last update:
//     0 for an event never changed, and growing with every later change (cancelling
//     included), as RFC 5545 asks of a revision number, with no counter to store;
//   - URL is the event's page on the web client, /e/{id}, on the host the feed was asked
//     from.

// icalContentType is the media type of the feeds.
const icalContentType = "text/calendar; charset=utf-8"

// feedPageSize is the page size the campaign feed lists events with, and
// feedMaxEvents bounds how many events one campaign feed holds.
const (
	feedPageSize  = 1000
	feedMaxEvents = 10000
)

// feeds serves the iCalendar feeds.
type feeds struct {
	events     rallyv1.EventServiceClient
	campaigns  rallyv1.CampaignServiceClient
	gatewayKey string
	mux        *runtime.ServeMux // for errors in the gateway's shape
}

func newFeeds(conn *grpc.ClientConn, mux *runtime.ServeMux, gatewayKey string) *feeds {
	return &feeds{
		events:     rallyv1.NewEventServiceClient(conn),
		campaigns:  rallyv1.NewCampaignServiceClient(conn),
		gatewayKey: gatewayKey,
		mux:        mux,
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
	var c icalWriter
	c.begin("")
	c.event(e, pageBase(r))
	c.end()
	writeCalendar(w, c.String())
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
	var c icalWriter
	c.begin(camp.GetTitle())
	base := pageBase(r)
	for _, e := range events {
		c.event(e, base)
	}
	c.end()
	writeCalendar(w, c.String())
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

func writeCalendar(w http.ResponseWriter, body string) {
	w.Header().Set("Content-Type", icalContentType)
	w.Header().Set("Content-Length", strconv.Itoa(len(body)))
	_, _ = w.Write([]byte(body))
}

// pageBase is the origin the feed was asked from, such as https://rally.example.org, for
// links to the web client's pages.
func pageBase(r *http.Request) string {
	scheme := "http"
	if r.TLS != nil {
		scheme = "https"
	}
	return scheme + "://" + r.Host
}

// icalWriter builds an iCalendar object out of content lines.
type icalWriter struct{ strings.Builder }

// begin opens the calendar; name, when set, is the name calendar apps give a
// subscription.
func (c *icalWriter) begin(name string) {
	c.line("BEGIN:VCALENDAR")
	c.line("VERSION:2.0")
	c.line("PRODID:-//Rally//Rally//EN")
	c.line("CALSCALE:GREGORIAN")
	c.line("METHOD:PUBLISH")
	if name != "" {
		c.line("X-WR-CALNAME:" + icalText(name))
	}
}

func (c *icalWriter) end() { c.line("END:VCALENDAR") }

// event writes one VEVENT.
func (c *icalWriter) event(e *rallyv1.Event, base string) {
	id := strings.TrimPrefix(e.GetName(), "events/")
	stamp := e.GetUpdateTime()
	if stamp == nil {
		stamp = e.GetCreateTime()
	}
	c.line("BEGIN:VEVENT")
	c.line("UID:" + icalText(id+"@rally"))
	c.line("DTSTAMP:" + icalTime(stamp))
	if e.GetCreateTime() != nil {
		c.line("CREATED:" + icalTime(e.GetCreateTime()))
	}
	c.line("LAST-MODIFIED:" + icalTime(stamp))
	c.line("SEQUENCE:" + strconv.FormatInt(sequence(e), 10))
	c.line("DTSTART:" + icalTime(e.GetStartTime()))
	c.line("DTEND:" + icalTime(e.GetEndTime()))
	c.line("SUMMARY:" + icalText(e.GetTitle()))
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
		c.line("DESCRIPTION:" + icalText(strings.Join(paras, "\n\n")))
	}
	if loc := location(e.GetVenue()); loc != "" {
		c.line("LOCATION:" + icalText(loc))
	}
	if v := e.GetVenue(); v.Latitude != nil && v.Longitude != nil {
		c.line("GEO:" + strconv.FormatFloat(v.GetLatitude(), 'f', -1, 64) + ";" + strconv.FormatFloat(v.GetLongitude(), 'f', -1, 64))
	}
	if e.GetState() == rallyv1.EventState_EVENT_STATE_CANCELLED {
		c.line("STATUS:CANCELLED")
	} else {
		c.line("STATUS:CONFIRMED")
	}
	c.line("URL:" + base + "/e/" + url.PathEscape(id))
	c.line("END:VEVENT")
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

// sequence is the event's revision number: the seconds from its creation to its last
// update, which grow with every change.
func sequence(e *rallyv1.Event) int64 {
	if e.GetCreateTime() == nil || e.GetUpdateTime() == nil {
		return 0
	}
	s := e.GetUpdateTime().GetSeconds() - e.GetCreateTime().GetSeconds()
	return min(max(s, 0), 1<<31-1) // an INTEGER is 32 bits
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

// line writes one content line, folded (RFC 5545 section 3.1): no line longer than 75
// octets before its CRLF, continuation lines starting with a space, and never a UTF-8
// sequence cut in two.
func (c *icalWriter) line(s string) {
	limit := 75
	for len(s) > limit {
		cut := limit
		for cut > 0 && !utf8.RuneStart(s[cut]) {
			cut--
		}
		c.WriteString(s[:cut])
		c.WriteString("\r\n ")
		s = s[cut:]
		limit = 74 // the leading space counts
	}
	c.WriteString(s)
	c.WriteString("\r\n")
}

// icalText escapes a TEXT value (RFC 5545 section 3.3.11): backslash, semicolon and comma
// are escaped, line breaks become \n, and other control characters, which TEXT does not
// allow, are dropped.
func icalText(s string) string {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		switch ch := s[i]; ch {
		case '\\', ';', ',':
			b.WriteByte('\\')
			b.WriteByte(ch)
		case '\r':
			if i+1 < len(s) && s[i+1] == '\n' {
				i++
			}
			b.WriteString(`\n`)
		case '\n':
			b.WriteString(`\n`)
		case '\t':
			b.WriteByte(ch)
		default:
			if ch < 0x20 || ch == 0x7f {
				continue
			}
			b.WriteByte(ch)
		}
	}
	return b.String()
}

// icalTime is a timestamp as an iCalendar UTC DATE-TIME.
func icalTime(ts *timestamppb.Timestamp) string {
	if ts == nil {
		return time.Unix(0, 0).UTC().Format("20060102T150405Z")
	}
	return ts.AsTime().UTC().Format("20060102T150405Z")
}
