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

const adminToken = "rly_admin_wnFfRfurNquVWbOm4kZ8XezSmzfFOSsDC9lAVTZ5WTE"

// rally is one rallyd on the memory store, and gRPC clients acting as its admin.
type rally struct {
	base      string // http://127.0.0.1:port, where the web client is served
	admin     context.Context
	campaigns rallyv1.CampaignServiceClient
	events    rallyv1.EventServiceClient
	conn      *grpc.ClientConn // for other services (sealed_test.go)
}

func startRally(t *testing.T, flags ...string) rally {
	t.Helper()
	// Every page of a test calls from 127.0.0.1, faster than a person would.
	a := apptest.Start(t, adminToken, append([]string{"--rate-limits=read=off;write=off;rally.v1.RsvpService/CreateRsvp=off"}, flags...)...)
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
		conn:      conn,
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
	// A window that holds both B's RSVP and A's cancel (the page's steps between them
	// take well under a second): the public view ends where it began (1 going), so no
	// attendance change is published, and B's page must learn of its promotion from its
	// own stream alone (server/promotion.go).
	const window = time.Second
	r := startRally(t, "--attendance-window="+window.String())
	r.event(t, r.campaign(t, "kz-solidarity"), "vigil-berlin", "Vigil at the Embassy of Kazakhstan", "Berlin", "DE", 1)
	b := browsertest.Start(t)
	url := r.base + "/e/vigil-berlin"

	a := b.NewPage("participant A", browsertest.Phone)
	a.Open(url)
	a.Fill("#rsvp-name", "Aru")
	a.Click("#rsvp-submit")
	a.WaitText("#my-rsvp-state", re(`^Going\. \(as Aru\)$`))
	time.Sleep(2*window + 200*time.Millisecond) // A's window has published "1 going"

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

// A manage link opened in a browser that holds another RSVP to the event asks before
// replacing it, keeps it unless told otherwise, and never leaves the token in the address
// bar. A browser without an RSVP, or one opening its own link, is not asked.
func TestManageLinkAsksBeforeReplacing(t *testing.T) {
	r := startRally(t)
	r.event(t, r.campaign(t, "kz-solidarity"), "vigil-berlin", "Vigil at the Embassy of Kazakhstan", "Berlin", "DE", 10)
	b := browsertest.Start(t)
	url := r.base + "/e/vigil-berlin"
	rsvp := func(p *browsertest.Page, name string) (link, stored string) {
		t.Helper()
		p.Open(url)
		p.Fill("#rsvp-name", name)
		p.Click("#rsvp-submit")
		p.WaitText("#my-rsvp-state", re(`^Going\. \(as `+name+`\)$`))
		return p.Eval(`document.querySelector("#manage-link a").href`), p.Eval(`localStorage.getItem("rally.rsvp.vigil-berlin")`)
	}
	// The link holds the token only in its fragment.
	aru := b.NewPage("Aru", browsertest.Phone)
	aruLink, aruStored := rsvp(aru, "Aru")
	bota := b.NewPage("Bota", browsertest.Phone)
	botaLink, botaStored := rsvp(bota, "Bota")
	if !re(`/e/vigil-berlin#rsvp=[a-z0-9]+&token=rly_rsvp_`).MatchString(botaLink) {
		t.Fatalf("manage link %q", botaLink)
	}
	open := func(p *browsertest.Page, link string) {
		t.Helper()
		p.Open(r.base + "/c/kz-solidarity") // a page load, not a change of fragment on the same page
		p.Open(link)
		if got := p.Eval(`location.href`); got != url {
			t.Errorf("%s: the address bar shows %q after opening a manage link, want %q", "the page", got, url)
		}
	}

	// Aru opens Bota's link: asked, and keeps her own.
	open(aru, botaLink)
	aru.WaitText("#rsvp-replace-dialog h1", re(`^Replace your RSVP\?$`))
	aru.WaitText("#rsvp-replace-ours", re(`^Going, as Aru$`))
	aru.WaitText("#rsvp-replace-theirs", re(`^Going, as Bota$`))
	if got := aru.Eval(`document.activeElement.id`); got != "rsvp-keep" {
		t.Errorf("the dialog opens with %q focused, want the button that keeps the RSVP", got)
	}
	if got := aru.Eval(`localStorage.getItem("rally.rsvp.vigil-berlin")`); got != aruStored {
		t.Errorf("the stored RSVP changed before the answer: %s", got)
	}
	aru.Click("#rsvp-keep")
	aru.WaitText("#my-rsvp-state", re(`^Going\. \(as Aru\)$`))
	if got := aru.Eval(`localStorage.getItem("rally.rsvp.vigil-berlin")`); got != aruStored {
		t.Errorf("kept, yet the stored RSVP is now %s", got)
	}

	// Escape keeps it too.
	open(aru, botaLink)
	aru.WaitText("#rsvp-replace-dialog h1", re(`^Replace your RSVP\?$`))
	aru.Eval(`(document.dispatchEvent(new KeyboardEvent("keydown", { key: "Escape", bubbles: true })), "")`)
	aru.WaitText("#my-rsvp-state", re(`^Going\. \(as Aru\)$`))

	// Asked again, Aru replaces it: the page is Bota's RSVP now.
	open(aru, botaLink)
	aru.Click("#rsvp-replace")
	aru.WaitText("#my-rsvp-state", re(`^Going\. \(as Bota\)$`))
	if got := aru.Eval(`localStorage.getItem("rally.rsvp.vigil-berlin")`); got != botaStored {
		t.Errorf("replaced, yet the stored RSVP is %s, want %s", got, botaStored)
	}

	// Opening the link of the RSVP it holds asks nothing.
	open(aru, botaLink)
	aru.WaitText("#my-rsvp-state", re(`^Going\. \(as Bota\)$`))
	if got := aru.Eval(`String(document.getElementById("rsvp-replace-dialog"))`); got != "null" {
		t.Errorf("asked to replace an RSVP with itself")
	}

	// A browser without an RSVP to the event takes the link's at once.
	other := b.NewPage("another device", browsertest.Desktop)
	open(other, aruLink)
	other.WaitText("#my-rsvp-state", re(`^Going\. \(as Aru\)$`))
	if got := other.Eval(`localStorage.getItem("rally.rsvp.vigil-berlin")`); got != aruStored {
		t.Errorf("the other device stored %s, want %s", got, aruStored)
	}
}

// A visitor who goes back and forth between live pages is never stalled: a page left
// behind (kept in the back-forward cache) gives up its stream, which a browser would
// otherwise count against its six connections to the server, and a page it comes back to
// is live again.
func TestBackAndForthBetweenLivePages(t *testing.T) {
	r := startRally(t)
	r.event(t, r.campaign(t, "kz-solidarity"), "vigil-berlin", "Vigil at the Embassy of Kazakhstan", "Berlin", "DE", 10)
	b := browsertest.Start(t)
	p := b.NewPage("visitor", browsertest.Phone)
	for range 5 { // each round left two streams open before, past six by the fourth
		p.Open(r.base + "/e/vigil-berlin")
		waitLive(p)
		markLoaded(p)
		p.Open(r.base + "/c/kz-solidarity")
		waitLive(p)
	}
	// Back to the event page, restored from the back-forward cache (not loaded again: what
	// is tested is that its stream resumes).
	p.Back()
	p.WaitText("h1", re(`^Vigil at the Embassy of Kazakhstan$`))
	noReload(t, p, "the event page the visitor came back to")
	waitLive(p)
	participant := b.NewPage("participant", browsertest.Phone)
	participant.Open(r.base + "/e/vigil-berlin")
	participant.Fill("#rsvp-name", "Aru")
	participant.Click("#rsvp-submit")
	participant.WaitText("#my-rsvp-state", re(`^Going\. \(as Aru\)$`))
	p.WaitText("#attendance", re(`^1 going \(10 places\)$`))
}
