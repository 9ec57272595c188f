package browsertest_test

// The organiser console (issue 18) on a phone: an organiser runs a whole campaign from
// it, and the page is never reloaded between actions.

import (
	"regexp"
	"strconv"
	"strings"
	"testing"

	rallyv1 "github.com/rallyhq/rally/gen/go/rally/v1"
	"github.com/rallyhq/rally/internal/web/browsertest"
)

// lastID is the last segment of a resource name.
func lastID(name string) string { return name[strings.LastIndex(name, "/")+1:] }

// open opens the <details> whose id is given, unless it is open.
func openDetails(p *browsertest.Page, id string) {
	if p.Eval(`String(document.getElementById("`+id+`").open)`) != "true" {
		p.Click("#" + id + " > summary")
	}
}

// setValue sets an input or select that typing cannot fill (a datetime-local, a select).
func setValue(p *browsertest.Page, sel, v string) {
	p.Eval(`document.querySelector(` + jsonString(sel) + `).value = ` + jsonString(v) + `, ""`)
}

// countVisible counts the elements sel matches that are shown.
func countVisible(p *browsertest.Page, sel string) int {
	n, _ := strconv.Atoi(p.Eval(`String([...document.querySelectorAll(` + jsonString(sel) + `)].filter((el) => el.getClientRects().length).length)`))
	return n
}

// noSideScroll fails if the page is wider than the phone's screen. Not innerWidth: a
// mobile browser widens its layout viewport to fit content that overflows.
func noSideScroll(t *testing.T, p *browsertest.Page, what string) {
	t.Helper()
	w := strconv.FormatInt(browsertest.Phone.Width, 10)
	if got := p.Eval(`String(document.documentElement.scrollWidth - ` + w + `)`); got != "0" && !strings.HasPrefix(got, "-") {
		t.Errorf("%s: the page is %s px wider than the phone's screen", what, got)
	}
}

// The sign-in page names both tokens; the operator's admin token signs in and sees every
// campaign.
func TestConsoleSignInHintAndOperator(t *testing.T) {
	r := startRally(t)
	r.event(t, r.campaign(t, "kz-solidarity"), "vigil-berlin", "Vigil at the Embassy of Kazakhstan", "Berlin", "DE", 10)
	b := browsertest.Start(t)
	p := b.NewPage("operator", browsertest.Phone)
	p.Open(r.base + "/organise")
	p.WaitText("#org-token-hint", re(`rly_org_.*RALLY_ADMIN_TOKEN`))
	p.WaitText("#sign-in-help", re(`RALLY_ADMIN_TOKEN`))
	markLoaded(p)
	p.Fill("#org-token", adminToken)
	p.Click(`main form button[type="submit"]`)
	p.WaitText("#signed-in", re(`^Signed in as the operator`))
	p.WaitText("#c-kz-solidarity", re(`^Solidarity with LGBTI people in Kazakhstan`))
	p.WaitText(`[data-event="vigil-berlin"] h4`, re(`^Vigil at the Embassy of Kazakhstan$`))
	p.Click("#sign-out")
	p.WaitVisible("#org-token")
	noReload(t, p, "sign-in and sign-out")
	if got := p.Eval(`String(sessionStorage.getItem("rally.orgToken"))`); got != "null" {
		t.Errorf("after signing out, the tab keeps the token %q", got)
	}
}

// An organiser on a phone creates and edits a campaign, invites a co-organiser (who
// accepts in their own console) and withdraws another invitation; creates a HIDDEN event
// and sees its exact attendance; checks people in by name with the count live, also
// when the co-organiser checks someone in on their phone; reads the RSVP list; posts an
// announcement; edits the event's safety information; creates, edits and closes a task
// and reads its claims and progress; pages through the audit log; cancels the event; and
// the page was never reloaded.
func TestConsoleRunsACampaignOnAPhone(t *testing.T) {
	r := startRally(t)
	alice, bob, carol := r.organiser(t, "Alice"), r.organiser(t, "Bob"), r.organiser(t, "Carol")
	rsvps := rallyv1.NewRsvpServiceClient(r.conn)
	tasks := rallyv1.NewTaskServiceClient(r.conn)
	b := browsertest.Start(t)
	p := b.NewPage("Alice", browsertest.Phone)
	signIn(p, r.base, alice)
	p.WaitText("#signed-in", regexp.MustCompile(`organiser ID `+lastID(alice.name)))
	markLoaded(p)

	// A campaign, created and edited.
	openDetails(p, "new-campaign")
	p.Fill("#camp-new-title", "Solidarity Berlin")
	p.Fill("#camp-new-hashtags", "#FreeKZ")
	p.Click(`#new-campaign button[type="submit"]`)
	p.WaitText("section.campaign h2", re(`^Solidarity Berlin`))
	cid := p.Eval(`document.querySelector("section.campaign").dataset.campaign`)
	campaign := "campaigns/" + cid
	openDetails(p, "edit-campaign-"+cid)
	p.Fill("#camp-"+cid+"-title", "Solidarity with Kazakhstan, Berlin")
	p.Click("#edit-campaign-" + cid + ` button[type="submit"]`)
	p.WaitText("#c-"+cid, re(`^Solidarity with Kazakhstan, Berlin`))
	p.WaitText(`#console-nav [data-campaign="`+cid+`"]`, re(`^Solidarity with Kazakhstan, Berlin$`))
	if c, err := r.campaigns.GetCampaign(alice.ctx, &rallyv1.GetCampaignRequest{Name: campaign}); err != nil || c.GetTitle() != "Solidarity with Kazakhstan, Berlin" || c.GetHashtags()[0] != "#FreeKZ" {
		t.Fatalf("campaign %v, %v", c, err)
	}

	// Co-organisers: Bob and Carol invited; Carol's invitation withdrawn; Bob accepts.
	openDetails(p, "organisers-"+cid)
	for _, o := range []organiser{bob, carol} {
		p.Fill("#invite-"+cid, lastID(o.name))
		p.Click("#organisers-" + cid + ` button[type="submit"]`)
		p.WaitVisible(`#invited-list-` + cid + ` [data-invited="` + lastID(o.name) + `"]`)
	}
	p.Click(`[data-invited="` + lastID(carol.name) + `"] button`)
	p.Wait("Carol's invitation to go", `!document.querySelector('[data-invited="`+lastID(carol.name)+`"]')`)
	bp := b.NewPage("Bob", browsertest.Phone)
	signIn(bp, r.base, bob)
	bp.WaitText(`#invitations [data-invitation="`+cid+`"]`, re(`^Solidarity with Kazakhstan, Berlin: invited by `+lastID(alice.name)))
	bp.Click("#accept-" + cid)
	bp.WaitText("#c-"+cid, re(`^Solidarity with Kazakhstan, Berlin`))
	if c, _ := r.campaigns.GetCampaign(alice.ctx, &rallyv1.GetCampaignRequest{Name: campaign}); len(c.GetOrganisers()) != 2 || len(c.GetInvitations()) != 0 {
		t.Fatalf("organisers %v, invitations %v: want Alice and Bob, none pending", c.GetOrganisers(), c.GetInvitations())
	}

	// A HIDDEN event, created from the phone.
	openDetails(p, "new-event-"+cid)
	pre := "#ev-new-" + cid + "-"
	p.Fill(pre+"title", "Vigil at the Embassy")
	p.Fill(pre+"country", "DE")
	p.Fill(pre+"locality", "Berlin")
	setValue(p, pre+"kind", "VENUE_KIND_OTHER")
	setValue(p, pre+"tz", "Europe/Berlin")
	setValue(p, pre+"start", "2030-05-17T12:00")
	setValue(p, pre+"end", "2030-05-17T14:00")
	p.Fill(pre+"capacity", "10")
	setValue(p, pre+"visibility", "ATTENDANCE_VISIBILITY_HIDDEN")
	p.Click("#new-event-" + cid + ` button[type="submit"]`)
	p.WaitText("#events-"+cid+" li.card h4", re(`^Vigil at the Embassy$`))
	eid := p.Eval(`document.querySelector("#events-` + cid + ` li.card").dataset.event`)
	event := "events/" + eid
	p.WaitText("#att-"+eid, re(`^0 going · 10 places · 0 checked in\. Hidden from the public`))

	// Three RSVPs (four people); the public sees no count, the console the exact one.
	names := map[string]string{}
	for _, x := range []struct {
		name   string
		guests int32
	}{{"Aru", 1}, {"Bota", 0}, {"Dana", 0}} {
		res, err := rsvps.CreateRsvp(t.Context(), &rallyv1.CreateRsvpRequest{Parent: event, Rsvp: &rallyv1.Rsvp{DisplayName: x.name, Guests: x.guests}})
		if err != nil {
			t.Fatal(err)
		}
		names[x.name] = res.GetRsvp().GetName()
	}
	if e, err := r.events.GetEvent(t.Context(), &rallyv1.GetEventRequest{Name: event}); err != nil || e.GetAttendance() != nil {
		t.Fatalf("the public reads the HIDDEN event's attendance %v, %v", e.GetAttendance(), err)
	}

	// Check-in at the door: the count is live, the search finds by name.
	openDetails(p, "checkin-"+eid)
	p.WaitText("#checkin-count-"+eid, re(`^0 checked in · 4 going, guests included$`))
	p.WaitText("#att-"+eid, re(`^4 going · 10 places · 0 checked in\. Hidden from the public`))
	p.WaitText("#checkin-live-"+eid, re(`^Live`))
	if _, err := rsvps.CreateRsvp(t.Context(), &rallyv1.CreateRsvpRequest{Parent: event, Rsvp: &rallyv1.Rsvp{DisplayName: "Erlan"}}); err != nil {
		t.Fatal(err)
	}
	p.WaitText("#checkin-count-"+eid, re(`^0 checked in · 5 going, guests included$`))
	p.Fill("#checkin-search-"+eid, "bot")
	p.Eval(`document.getElementById("checkin-search-` + eid + `").dispatchEvent(new Event("input")), ""`)
	if n := countVisible(p, "#checkin-list-"+eid+" li"); n != 1 {
		t.Errorf("searching for bot shows %d people, want Bota alone", n)
	}
	bota := `[data-checkin="` + lastID(names["Bota"]) + `"]`
	p.WaitText(bota+" .checkin-name", re(`^Bota$`))
	p.Click(bota + " .checkin-button")
	p.WaitText(bota+" .checkin-done", re(`^Checked in$`))
	p.WaitText("#checkin-count-"+eid, re(`^1 checked in · 5 going`))
	noSideScroll(t, p, "the check-in view")

	// Bob checks Aru in on his phone: Alice's count follows.
	bp.Open(r.base + "/organise")
	openDetails(bp, "checkin-"+eid)
	aru := `[data-checkin="` + lastID(names["Aru"]) + `"]`
	bp.WaitText(aru+" .checkin-guests", re(`^\+1 guest$`))
	bp.Click(aru + " .checkin-button")
	bp.WaitText(aru+" .checkin-done", re(`^Checked in$`))
	p.WaitText("#checkin-count-"+eid, re(`^2 checked in · 5 going`))
	p.WaitText("#att-"+eid, re(`^5 going · 10 places · 2 checked in\.`))

	// The RSVP list.
	openDetails(p, "rsvps-"+eid)
	p.WaitText(rsvpRow(names["Dana"], ".p-displayName"), re(`^Dana$`))
	p.WaitText(rsvpRow(names["Aru"], ".p-guests"), re(`^1$`))
	p.WaitText(rsvpRow(names["Bota"], ".p-checked-in"), re(`^yes$`))
	p.WaitText(rsvpRow(names["Dana"], ".p-kept"), re(`^Stored in clear$`))
	noSideScroll(t, p, "the RSVP list")

	// An announcement, listed once posted.
	postAnnouncement(p, eid, "Meet at the fountain.")
	p.WaitText("#ann-done-"+eid, re(`^Announcement posted, unsigned\.$`))
	p.WaitText("#ann-list-"+eid+" li .pre", re(`^Meet at the fountain\.$`))

	// The event edited: its title and its safety information.
	edit := `li.card details:has(#ev-` + eid + `-title)`
	p.Click(edit + " > summary")
	p.Fill("#ev-"+eid+"-title", "Vigil at the Embassy, moved")
	p.Fill("#ev-"+eid+"-legal-hotline", "+49 30 1234567")
	p.Click(edit + ` button[type="submit"]`)
	p.WaitText(`[data-event="`+eid+`"] h4`, re(`^Vigil at the Embassy, moved$`))
	p.WaitText("#safety-"+eid, re(`^Legal hotline ?\+49 30 1234567$`))
	if e, _ := r.events.GetEvent(t.Context(), &rallyv1.GetEventRequest{Name: event}); e.GetTitle() != "Vigil at the Embassy, moved" || e.GetSafety().GetLegalHotline() != "+49 30 1234567" {
		t.Fatalf("event after the edit: %v", e)
	}

	// A task: created, claimed, its claims and progress read, edited, closed.
	openDetails(p, "new-task-"+cid)
	tp := "#task-new-" + cid + "-"
	p.Fill(tp+"title", "Share the statement")
	setValue(p, tp+"deadline", "2030-01-01T12:00")
	p.Fill(tp+"target", "5")
	p.Click("#new-task-" + cid + ` button[type="submit"]`)
	p.WaitText("#tasks-"+cid+" li.card h4", re(`^Share the statement$`))
	tid := p.Eval(`document.querySelector("#tasks-` + cid + ` li.card").dataset.task`)
	p.WaitText("#task-progress-"+tid, re(`^0 of 5 done · 0 in progress$`))
	claim, err := tasks.ClaimTask(t.Context(), &rallyv1.ClaimTaskRequest{Name: "tasks/" + tid, DisplayName: "Aru"})
	if err != nil {
		t.Fatal(err)
	}
	openDetails(p, "claims-"+tid)
	p.WaitText(`tr[data-claim="`+lastID(claim.GetClaim().GetName())+`"] .p-displayName`, re(`^Aru$`))
	p.WaitText("#task-progress-"+tid, re(`^0 of 5 done · 1 in progress$`))
	tedit := `li.card details:has(#task-` + tid + `-title)`
	p.Click(tedit + " > summary")
	p.Fill("#task-"+tid+"-title", "Share the statement today")
	p.Click(tedit + ` button[type="submit"]`)
	p.WaitText(`[data-task="`+tid+`"] h4`, re(`^Share the statement today$`))
	openDetails(p, "task-close-form-"+tid)
	p.Click("#task-close-" + tid)
	p.WaitText(`[data-task="`+tid+`"] h4`, re(`^Share the statement today Closed$`))
	if tk, _ := tasks.GetTask(t.Context(), &rallyv1.GetTaskRequest{Name: "tasks/" + tid}); tk.GetState() != rallyv1.TaskState_TASK_STATE_CLOSED || tk.GetTitle() != "Share the statement today" {
		t.Fatalf("task %v: want it closed, retitled", tk)
	}
	openDetails(p, "task-audit-"+tid)
	p.WaitText("#task-audit-"+tid+` li[data-audit="ListClaims"] .audit-actor`, re(`^you$`))

	// The audit log, paged: 20 entries, then the older ones.
	for range 20 {
		if _, err := rsvps.ListRsvps(alice.ctx, &rallyv1.ListRsvpsRequest{Parent: event}); err != nil {
			t.Fatal(err)
		}
	}
	openDetails(p, "audit-"+eid)
	p.WaitVisible("#audit-more-" + eid)
	if n := countVisible(p, "#audit-"+eid+" li"); n != 20 {
		t.Errorf("the audit log's first page shows %d entries, want 20", n)
	}
	p.Click("#audit-more-" + eid)
	p.WaitText("#audit-"+eid+` li[data-audit="CheckInRsvp"] .audit-action`, re(`^Checked someone in$`))
	p.Wait("the last page", `document.getElementById("audit-more-`+eid+`").hidden`)
	if n := countVisible(p, "#audit-"+eid+" li"); n < 24 {
		t.Errorf("the audit log shows %d entries after the second page, want all of them (at least 24)", n)
	}

	// The event cancelled.
	openDetails(p, "cancel-form-"+eid)
	p.Fill("#cancel-"+eid, "The police banned the vigil.")
	p.Click("#cancel-submit-" + eid)
	p.WaitText(`[data-event="`+eid+`"] h4`, re(`^Vigil at the Embassy, moved Cancelled$`))
	p.WaitText(`[data-event="`+eid+`"] .cancel-reason`, re(`The police banned the vigil\.$`))
	if e, _ := r.events.GetEvent(t.Context(), &rallyv1.GetEventRequest{Name: event}); e.GetState() != rallyv1.EventState_EVENT_STATE_CANCELLED {
		t.Fatalf("event state %v after cancelling", e.GetState())
	}
	noSideScroll(t, p, "the console")
	noReload(t, p, "the organiser's console")

	// Alice removes Bob (from a console opened afresh, which shows him as organiser).
	p.Open(r.base + "/organise")
	openDetails(p, "organisers-"+cid)
	p.Click(`[data-organiser="` + lastID(bob.name) + `"] button`)
	p.Wait("Bob to go", `!document.querySelector('[data-organiser="`+lastID(bob.name)+`"]')`)
	if c, _ := r.campaigns.GetCampaign(alice.ctx, &rallyv1.GetCampaignRequest{Name: campaign}); len(c.GetOrganisers()) != 1 {
		t.Fatalf("organisers %v after removing Bob", c.GetOrganisers())
	}
}

// The console speaks the organiser's language, with its plural forms: Russian here, as
// ?hl=ru chooses it.
func TestConsoleSpeaksRussian(t *testing.T) {
	r := startRally(t)
	alice := r.organiser(t, "Alice")
	r.ownCampaign(t, alice, "kz-solidarity", "vigil-berlin")
	if _, err := rallyv1.NewRsvpServiceClient(r.conn).CreateRsvp(t.Context(), &rallyv1.CreateRsvpRequest{Parent: "events/vigil-berlin", Rsvp: &rallyv1.Rsvp{Guests: 1}}); err != nil {
		t.Fatal(err)
	}
	b := browsertest.Start(t)
	p := b.NewPage("organiser", browsertest.Phone)
	p.Open(r.base + "/organise?hl=ru")
	p.WaitText("main h1", re(`^Вход для организаторов$`))
	p.WaitText("#org-token-hint", re(`RALLY_ADMIN_TOKEN`))
	p.Fill("#org-token", alice.secret)
	p.Click(`main form button[type="submit"]`)
	p.WaitText("main h1", re(`^Панель организатора$`))
	p.WaitText("#att-vigil-berlin", re(`^придут 2 · 20 мест · 0 отмечены на месте\. Публика видит точные числа\.$`))
	if got := p.Eval(`document.documentElement.lang`); got != "ru" {
		t.Errorf("lang = %q, want ru", got)
	}
}
