package browsertest_test

import (
	"context"
	"regexp"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/metadata"
	"google.golang.org/protobuf/types/known/timestamppb"

	rallyv1 "github.com/rallyhq/rally/gen/go/rally/v1"
	"github.com/rallyhq/rally/internal/app/apptest"
	"github.com/rallyhq/rally/internal/web/browsertest"
)

const adminToken = "rly_admin_browser-test-token-0123456789abcdefghijk"

// rally is one rallyd on the memory store, and gRPC clients acting as its admin.
type rally struct {
	base      string // http://127.0.0.1:port, where the web client is served
	admin     context.Context
	campaigns rallyv1.CampaignServiceClient
	events    rallyv1.EventServiceClient
}

func startRally(t *testing.T) rally {
	t.Helper()
	// Every page of a test calls from 127.0.0.1, faster than a person would.
	a := apptest.Start(t, adminToken, "--rate-limits=read=off;write=off;rally.v1.RsvpService/CreateRsvp=off")
	conn, err := grpc.NewClient(a.GRPCAddr(), grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	return rally{
		base:      "http://" + a.HTTPAddr(),
		admin:     metadata.AppendToOutgoingContext(t.Context(), "authorization", "Bearer "+adminToken),
		campaigns: rallyv1.NewCampaignServiceClient(conn),
		events:    rallyv1.NewEventServiceClient(conn),
	}
}

func (r rally) campaign(t *testing.T, id string) string {
	t.Helper()
	c, err := r.campaigns.CreateCampaign(r.admin, &rallyv1.CreateCampaignRequest{
		CampaignId: id,
		Campaign:   &rallyv1.Campaign{Title: "Solidarity with LGBTI people in Kazakhstan"},
	})
	if err != nil {
		t.Fatalf("create campaign: %v", err)
	}
	return c.GetName()
}

// event creates a scheduled event, in 2030, with exact attendance counts.
func (r rally) event(t *testing.T, campaign, id, title, locality, country string, capacity int32) {
	t.Helper()
	_, err := r.events.CreateEvent(r.admin, &rallyv1.CreateEventRequest{
		EventId: id,
		Event: &rallyv1.Event{
			Campaign:             campaign,
			Title:                title,
			Venue:                &rallyv1.Venue{Kind: rallyv1.VenueKind_VENUE_KIND_EMBASSY, RepresentedCountry: "KZ", Locality: locality, Country: country},
			StartTime:            timestamppb.New(time.Date(2030, 5, 17, 12, 0, 0, 0, time.UTC)),
			EndTime:              timestamppb.New(time.Date(2030, 5, 17, 14, 0, 0, 0, time.UTC)),
			TimeZone:             "Europe/Berlin",
			Capacity:             capacity,
			AttendanceVisibility: rallyv1.AttendanceVisibility_ATTENDANCE_VISIBILITY_EXACT,
		},
	})
	if err != nil {
		t.Fatalf("create event %s: %v", id, err)
	}
}

func re(s string) *regexp.Regexp { return regexp.MustCompile(s) }

// markLoaded tags the page's window, so that noReload can tell that what the page shows
// later came without a reload or a navigation.
func markLoaded(p *browsertest.Page) {
	p.Eval(`window.rallyTestMark = "not reloaded"`)
}

func noReload(t *testing.T, p *browsertest.Page, what string) {
	t.Helper()
	if got := p.Eval(`String(window.rallyTestMark)`); got != "not reloaded" {
		t.Fatalf("%s: the page was reloaded", what)
	}
}

// waitLive waits until the page's watch stream is connected.
func waitLive(p *browsertest.Page) {
	p.WaitText("p.live", re(`^Live: updates appear as they happen\.$`))
}

// A participant's RSVP changes the attendance on another visitor's open page, live.
func TestRSVPUpdatesAttendanceLive(t *testing.T) {
	r := startRally(t)
	r.event(t, r.campaign(t, "kz-solidarity"), "vigil-berlin", "Vigil at the Embassy of Kazakhstan", "Berlin", "DE", 10)
	b := browsertest.Start(t)
	url := r.base + "/e/vigil-berlin"

	visitor := b.NewPage("visitor", browsertest.Phone)
	visitor.Open(url)
	visitor.WaitText("h1", re(`^Vigil at the Embassy of Kazakhstan$`))
	visitor.WaitText("#attendance", re(`^0 going \(10 places\)$`))
	waitLive(visitor)
	markLoaded(visitor)

	participant := b.NewPage("participant", browsertest.Phone)
	participant.Open(url)
	participant.Fill("#rsvp-name", "Aru")
	participant.Fill("#rsvp-guests", "1")
	participant.Click("#rsvp-submit")
	participant.WaitText("#my-rsvp-state", re(`^Going with 1 guest\. \(as Aru\)$`))
	participant.WaitText("#attendance", re(`^2 going \(10 places\)$`))

	visitor.WaitText("#attendance", re(`^2 going \(10 places\)$`))
	noReload(t, visitor, "visitor")
}

// An event created by an organiser appears on a campaign page that is already open.
func TestNewEventAppearsOnCampaignPage(t *testing.T) {
	r := startRally(t)
	campaign := r.campaign(t, "kz-solidarity")
	r.event(t, campaign, "vigil-berlin", "Vigil in Berlin", "Berlin", "DE", 0)
	b := browsertest.Start(t)

	p := b.NewPage("visitor", browsertest.Phone)
	p.Open(r.base + "/c/kz-solidarity")
	p.WaitText(`[data-event="vigil-berlin"] h5`, re(`^Vigil in Berlin$`))
	waitLive(p)
	markLoaded(p)

	r.event(t, campaign, "vigil-paris", "Vigil in Paris", "Paris", "FR", 0)
	p.WaitText(`[data-event="vigil-paris"] h5`, re(`^Vigil in Paris$`))
	p.WaitText(`[data-event="vigil-berlin"] h5`, re(`^Vigil in Berlin$`))
	noReload(t, p, "campaign page")
}

// With one place, the second participant waits; when the first cancels, the second's
// open page shows the place, live.
func TestWaitlistPromotionLive(t *testing.T) {
	r := startRally(t)
	r.event(t, r.campaign(t, "kz-solidarity"), "vigil-berlin", "Vigil at the Embassy of Kazakhstan", "Berlin", "DE", 1)
	b := browsertest.Start(t)
	url := r.base + "/e/vigil-berlin"

	a := b.NewPage("participant A", browsertest.Phone)
	a.Open(url)
	a.Fill("#rsvp-name", "Aru")
	a.Click("#rsvp-submit")
	a.WaitText("#my-rsvp-state", re(`^Going\. \(as Aru\)$`))

	// A separate browser context: B's localStorage holds no token of A's.
	bp := b.NewPage("participant B", browsertest.Phone)
	bp.Open(url)
	bp.WaitText("#attendance", re(`^1 going \(1 place\)$`))
	bp.Fill("#rsvp-name", "Bota")
	bp.Click("#rsvp-submit")
	bp.WaitText("#my-rsvp-state", re(`^Waitlisted: you get a place as soon as one frees up\. \(as Bota\)$`))
	bp.WaitText("#my-rsvp-position", re(`^Position 1 on the waitlist$`))
	waitLive(bp)
	markLoaded(bp)

	a.Click("#my-rsvp-cancel")
	a.WaitText("#my-rsvp-state", re(`^Cancelled\.`))

	bp.WaitText("#my-rsvp-state", re(`^Going\. \(as Bota\)$`))
	bp.WaitText("#attendance", re(`^1 going \(1 place\)$`))
	if got := bp.Eval(`document.getElementById("my-rsvp-position").textContent`); got != "" {
		t.Errorf("participant B: #my-rsvp-position = %q once going, want it empty", got)
	}
	noReload(t, bp, "participant B")
}

// A value the server refuses is explained next to the form, naming the field.
func TestRSVPFormShowsFieldError(t *testing.T) {
	r := startRally(t)
	r.event(t, r.campaign(t, "kz-solidarity"), "vigil-berlin", "Vigil at the Embassy of Kazakhstan", "Berlin", "DE", 10)
	b := browsertest.Start(t)

	p := b.NewPage("participant", browsertest.Phone)
	p.Open(r.base + "/e/vigil-berlin")
	// The input's max would let a browser refuse 9 before sending it; the server must
	// explain it too (older browsers, edited pages), so take it away.
	p.Eval(`(document.getElementById("rsvp-guests").removeAttribute("max"), "")`)
	p.Fill("#rsvp-guests", "9")
	p.Click("#rsvp-submit")
	msg := p.WaitText("#form-error", re(`^Guests: .+`))
	t.Logf("#form-error: %q", msg)
	if got := p.Eval(`String(document.getElementById("rsvp-guests").getAttribute("aria-invalid"))`); got != "true" {
		t.Errorf("#rsvp-guests aria-invalid = %q, want true", got)
	}
	if got := p.Eval(`String(document.getElementById("my-rsvp").hidden)`); got != "true" {
		t.Errorf("the refused RSVP shows as the participant's own (#my-rsvp hidden = %s)", got)
	}
	p.WaitText("#attendance", re(`^0 going \(10 places\)$`))
}
