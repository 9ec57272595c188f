package browsertest_test

// The participant's side of issue 17 (the safety of the action itself), in a real
// Chromium: the safety information on the event page and its printed card, buddies and
// check-out, forget me, the offline event card of the service worker, its expiry, and
// "Clear Rally from this device".

import (
	"bytes"
	"crypto/ed25519"
	"crypto/rand"
	"regexp"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/fieldmaskpb"
	"google.golang.org/protobuf/types/known/timestamppb"

	rallyv1 "github.com/rallyhq/rally/gen/go/rally/v1"
	"github.com/rallyhq/rally/internal/announcesig"
	"github.com/rallyhq/rally/internal/web/browsertest"
)

const (
	hotline      = "+49 30 1234567"
	meetingPoint = "North corner of the park opposite the embassy"
	safetyNotes  = "If the police disperse the vigil, regroup at the main station."
)

// safetyEvent creates an event of the campaign with safety information and a meeting
// point revealed at once, from start to end.
func (r rally) safetyEvent(t *testing.T, campaign, id, title string, start, end time.Time) {
	t.Helper()
	_, err := r.events.CreateEvent(r.admin, &rallyv1.CreateEventRequest{
		EventId: id,
		Event: &rallyv1.Event{
			Campaign:             campaign,
			Title:                title,
			Venue:                &rallyv1.Venue{Kind: rallyv1.VenueKind_VENUE_KIND_EMBASSY, RepresentedCountry: "KZ", Locality: "Berlin", Country: "DE"},
			StartTime:            timestamppb.New(start),
			EndTime:              timestamppb.New(end),
			TimeZone:             "Europe/Berlin",
			Capacity:             10,
			AttendanceVisibility: rallyv1.AttendanceVisibility_ATTENDANCE_VISIBILITY_EXACT,
			MeetingPoint:         meetingPoint,
			Safety: &rallyv1.EventSafety{
				LegalHotline:    hotline,
				EmergencyNumber: "112",
				LegalObservers:  true,
				Notes:           safetyNotes,
			},
		},
	})
	if err != nil {
		t.Fatalf("create event %s: %v", id, err)
	}
}

var (
	in2030  = time.Date(2030, 5, 17, 12, 0, 0, 0, time.UTC)
	end2030 = time.Date(2030, 5, 17, 14, 0, 0, 0, time.UTC)
)

// rsvpAs RSVPs on the open event page, as a participant would, and returns the manage
// token the page keeps.
func rsvpAs(t *testing.T, p *browsertest.Page, eventID, name string) string {
	t.Helper()
	p.Fill("#rsvp-name", name)
	p.Click("#rsvp-submit")
	p.WaitText("#my-rsvp-state", re(`^Going\. \(as `+name+`\)$`))
	token := p.Eval(`JSON.parse(localStorage.getItem("rally.rsvp.` + eventID + `")).manageToken`)
	if !strings.HasPrefix(token, "rly_rsvp_") {
		t.Fatalf("the page keeps %q as the manage token", token)
	}
	return token
}

// workerReady waits until the page's service worker is active and has the app shell
// of the event page in its cache.
func workerReady(p *browsertest.Page) {
	p.Wait("the service worker to be active", `navigator.serviceWorker.ready.then((r) => !!r.active && r.active.state === "activated")`)
	p.Wait("the app shell to be cached", `caches.open("rally-shell-v1").then((c) => Promise.all(["/", "/assets/app.js", "/assets/event.js", "/assets/offline.js", "/assets/style.css"].map((u) => c.match(u)))).then((hits) => hits.every(Boolean))`)
}

// savedCard is the expression of the event's offline copy as the page saved it (null if none).
func savedCard(eventID string) string {
	return `caches.match("/offline/events/` + eventID + `", { cacheName: "rally-events-v1" }).then((r) => r ? r.json() : null)`
}

// whereIs lists every place in this browser's storage for this origin that holds s:
// localStorage, sessionStorage, every cache (keys and bodies) and every IndexedDB
// database (every object store, whole).
func whereIs(p *browsertest.Page, s string) string {
	return p.EvalAsync(`(async (s) => {
		const found = [];
		for (const [label, st] of [["localStorage", localStorage], ["sessionStorage", sessionStorage]]) {
			for (let i = 0; i < st.length; i++) {
				const k = st.key(i);
				if (k.includes(s) || (st.getItem(k) || "").includes(s)) found.push(label + " " + k);
			}
		}
		for (const name of await caches.keys()) {
			const c = await caches.open(name);
			for (const req of await c.keys()) {
				const body = await (await c.match(req)).text();
				if (req.url.includes(s) || body.includes(s)) found.push("cache " + name + " " + req.url);
			}
		}
		for (const d of await indexedDB.databases()) {
			const db = await new Promise((ok, fail) => { const q = indexedDB.open(d.name); q.onsuccess = () => ok(q.result); q.onerror = () => fail(q.error); });
			for (const store of db.objectStoreNames) {
				const all = await new Promise((ok, fail) => { const q = db.transaction(store).objectStore(store).getAll(); q.onsuccess = () => ok(q.result); q.onerror = () => fail(q.error); });
				if (JSON.stringify(all).includes(s)) found.push("IndexedDB " + d.name + "/" + store);
			}
			db.close();
		}
		return found.join(", ");
	})(` + jsonString(s) + `)`)
}

func jsonString(s string) string {
	return `"` + strings.NewReplacer(`\`, `\\`, `"`, `\"`).Replace(s) + `"`
}

// The event page shows the safety information under the time and place, the hotline as
// a number to dial; the printed page is the card alone. Before the event's start the
// holder cannot check out yet, and the server's reason is shown if the page is forced.
func TestSafetyInfoOnEventPage(t *testing.T) {
	r := startRally(t)
	r.safetyEvent(t, r.campaign(t, "kz-solidarity"), "vigil-berlin", "Vigil at the Embassy of Kazakhstan", in2030, end2030)
	b := browsertest.Start(t)
	p := b.NewPage("participant", browsertest.Phone)
	p.Open(r.base + "/e/vigil-berlin")

	p.WaitText("#safety h2", re(`^Safety$`))
	p.WaitText("#safety-hotline", re(`^`+regexp.QuoteMeta(hotline)+`$`))
	if got := p.Eval(`document.querySelector("#safety-hotline a").getAttribute("href")`); got != "tel:+49301234567" {
		t.Errorf("the hotline links to %q, want tel:+49301234567", got)
	}
	p.WaitText("#safety-emergency", re(`^112$`))
	if got := p.Eval(`document.querySelector("#safety-emergency a").getAttribute("href")`); got != "tel:112" {
		t.Errorf("the emergency number links to %q, want tel:112", got)
	}
	p.WaitText("#safety-observers", re(`legal observers will be present`))
	p.WaitText("#safety-notes", re(`^`+regexp.QuoteMeta(safetyNotes)+`$`))
	// Near the time and place: right after them, before anything else of the page.
	if got := p.Eval(`document.querySelector("dl.facts").nextElementSibling.id`); got != "safety" {
		t.Errorf("after the time and place comes #%s, want #safety", got)
	}

	rsvpAs(t, p, "vigil-berlin", "Aru")
	p.WaitText("#meeting-point", re(`^Meeting point: `+meetingPoint+`$`))
	// Check-out waits for the event's start.
	p.WaitText("#check-out-hint", re(`^Once the event has started`))
	if got := p.Eval(`String(document.getElementById("check-out-button").disabled)`); got != "true" {
		t.Errorf("the check-out button is enabled before the event's start")
	}
	p.Eval(`(document.getElementById("check-out-button").disabled = false, "")`)
	p.Click("#check-out-button")
	msg := p.WaitText("#check-out-error", re(`.+`))
	t.Logf("#check-out-error before the start: %q", msg)
	rsvps := rallyv1.NewRsvpServiceClient(r.conn)
	list, err := rsvps.ListRsvps(r.admin, &rallyv1.ListRsvpsRequest{Parent: "events/vigil-berlin"})
	if err != nil {
		t.Fatal(err)
	}
	for _, x := range list.GetRsvps() {
		if x.GetCheckOutTime() != nil {
			t.Errorf("%s checked out before the event's start", x.GetName())
		}
	}

	// On paper: the card only, with the meeting point known to this holder.
	p.EmulateMedia("print")
	card := p.WaitText("#print-card", re(`Legal hotline`))
	for _, want := range []string{"Vigil at the Embassy of Kazakhstan", hotline, "112", meetingPoint, "Berlin", "2030"} {
		if !strings.Contains(card, want) {
			t.Errorf("the printed card %q lacks %q", card, want)
		}
	}
	for _, sel := range []string{"#safety", "#rsvp-form", "#my-rsvp", "header.site", "#site-footer", "#announcements"} {
		if got := p.Eval(`String(document.querySelector("` + sel + `").getClientRects().length)`); got != "0" {
			t.Errorf("%s is printed", sel)
		}
	}
	p.EmulateMedia("")
	if got := p.Eval(`String(document.getElementById("print-card").getClientRects().length)`); got != "0" {
		t.Errorf("the print card shows on the screen")
	}
}

// Two participants pair as buddies, each with their own RSVP, and see each other's
// nickname; the one who paired sees the buddy join and then come home safe, live.
func TestSafetyBuddiesPairJoinAndCheckOut(t *testing.T) {
	r := startRally(t)
	now := time.Now()
	r.safetyEvent(t, r.campaign(t, "kz-solidarity"), "vigil-berlin", "Vigil at the Embassy of Kazakhstan", now.Add(-time.Hour), now.Add(3*time.Hour))
	b := browsertest.Start(t)
	url := r.base + "/e/vigil-berlin"

	aru := b.NewPage("Aru", browsertest.Phone)
	aru.Open(url)
	rsvpAs(t, aru, "vigil-berlin", "Aru")
	bota := b.NewPage("Bota", browsertest.Phone)
	bota.Open(url)
	rsvpAs(t, bota, "vigil-berlin", "Bota")

	aru.Fill("#buddy-pair-nickname", "Sunflower")
	aru.Click("#buddy-pair-submit")
	code := aru.WaitText("#buddy-code", re(`^[a-z2-7]{4}-[a-z2-7]{4}-[a-z2-7]{4}$`))
	aru.WaitText("#buddy-code-expiry", re(`^Expires in \d+:\d\d$`))
	waitLive(aru)
	markLoaded(aru)

	// A wrong code is explained, naming the field.
	bota.Fill("#buddy-join-code", "aaaa-aaaa-aaaa")
	bota.Fill("#buddy-join-nickname", "Poppy")
	bota.Click("#buddy-join-submit")
	msg := bota.WaitText("#buddy-error", re(`^Code: .+`))
	t.Logf("#buddy-error for a wrong code: %q", msg)
	if got := bota.Eval(`String(document.getElementById("buddy-join-code").getAttribute("aria-invalid"))`); got != "true" {
		t.Errorf("#buddy-join-code aria-invalid = %q after a wrong code, want true", got)
	}

	// The right one, as read out: upper case, spaces and dashes.
	bota.Fill("#buddy-join-code", strings.ToUpper(strings.ReplaceAll(code, "-", " - ")))
	bota.Fill("#buddy-join-nickname", "Poppy")
	bota.Click("#buddy-join-submit")
	bota.WaitText("#buddy-name", re(`^Your buddy: Sunflower$`))
	bota.WaitText("#buddy-state", re(`^Not home safe yet`))

	aru.WaitText("#buddy-name", re(`^Your buddy: Poppy$`))
	aru.WaitText("#buddy-state", re(`^Not home safe yet`))
	if got := aru.Eval(`String(document.getElementById("buddy-code-box").hidden)`); got != "true" {
		t.Errorf("Aru's page still shows the used buddy code")
	}

	// The event has started: Bota checks out, and Aru's page says so at once.
	bota.WaitText("#check-out-hint", re(`^Tap when you are home safe`))
	bota.Click("#check-out-button")
	bota.WaitText("#check-out-state", re(`^You checked out: home safe at .+`))
	aru.WaitText("#buddy-state", re(`^Poppy is home safe \(checked out at .+\)\.$`))
	noReload(t, aru, "Aru's page")
	if got := aru.Eval(`document.getElementById("check-out-state").textContent`); got != "" {
		t.Errorf("Aru's own check-out shows %q, though only Bota checked out", got)
	}
}

// Forget me deletes the RSVP on the server, then everything this browser kept of it: the
// token and the saved event card with its meeting point.
func TestSafetyForgetMe(t *testing.T) {
	r := startRally(t)
	r.safetyEvent(t, r.campaign(t, "kz-solidarity"), "vigil-berlin", "Vigil at the Embassy of Kazakhstan", in2030, end2030)
	b := browsertest.Start(t)
	p := b.NewPage("participant", browsertest.Phone)
	p.Open(r.base + "/e/vigil-berlin")
	token := rsvpAs(t, p, "vigil-berlin", "Aru")
	p.WaitText("#meeting-point", re(`^Meeting point: `))
	p.WaitText("#attendance", re(`^1 going`))
	p.Wait("the event card with its meeting point to be saved", savedCard("vigil-berlin")+`.then((s) => !!s && s.event.meetingPoint === `+jsonString(meetingPoint)+`)`)
	name := p.Eval(`JSON.parse(localStorage.getItem("rally.rsvp.vigil-berlin")).name`)
	if where := whereIs(p, token); where == "" {
		t.Fatal("the token is nowhere in the browser's storage before forgetting: the check below could not fail")
	}

	p.Click("#my-rsvp-delete")
	p.WaitText("#forget-me-why", re(`cannot be undone`))
	p.Click("#forget-me-confirm")
	p.WaitText("#forgotten", re(`^Done\. Rally has deleted your RSVP`))
	p.WaitText("#attendance", re(`^0 going`))
	if got := p.Eval(`String(document.getElementById("my-rsvp").hidden)`); got != "true" {
		t.Errorf("the page still shows the forgotten RSVP")
	}

	rsvps := rallyv1.NewRsvpServiceClient(r.conn)
	if _, err := rsvps.GetRsvp(r.admin, &rallyv1.GetRsvpRequest{Name: name}); status.Code(err) != codes.NotFound {
		t.Errorf("GetRsvp %s after forget me: %v, want NotFound", name, err)
	}
	if where := whereIs(p, token); where != "" {
		t.Errorf("the token is still in %s", where)
	}
	if where := whereIs(p, meetingPoint); where != "" {
		t.Errorf("the meeting point is still in %s", where)
	}
	if got := p.EvalAsync(savedCard("vigil-berlin") + `.then((s) => String(s))`); got != "null" {
		t.Errorf("the saved event card is still there: %s", got)
	}
	// And it stays so: a reload neither shows nor saves the RSVP again.
	p.Open(r.base + "/e/vigil-berlin")
	p.WaitText("h1", re(`^Vigil at the Embassy of Kazakhstan$`))
	if got := p.Eval(`String(document.getElementById("my-rsvp").hidden)`); got != "true" {
		t.Errorf("after a reload the page shows an RSVP")
	}
}

// Without a network, an event page opened before opens from the copy on the device:
// title, time, safety information and the meeting point of a GOING RSVP, with a note
// that it is offline and of when it was saved. No token is in the worker's caches.
func TestSafetyOfflineEventCard(t *testing.T) {
	r := startRally(t)
	r.safetyEvent(t, r.campaign(t, "kz-solidarity"), "vigil-berlin", "Vigil at the Embassy of Kazakhstan", in2030, end2030)
	net := browsertest.NewNetwork(t, r.base)
	b := browsertest.Start(t)
	p := b.NewPage("participant", browsertest.Phone)
	url := net.URL + "/e/vigil-berlin"
	p.Open(url)
	token := rsvpAs(t, p, "vigil-berlin", "Aru")
	p.WaitText("#meeting-point", re(`^Meeting point: `+meetingPoint+`$`))
	workerReady(p)
	p.Wait("the event card with its meeting point to be saved", savedCard("vigil-berlin")+`.then((s) => !!s && s.event.meetingPoint === `+jsonString(meetingPoint)+`)`)
	if got := p.EvalAsync(`caches.keys().then((names) => Promise.all(names.map(async (n) => { const c = await caches.open(n); const out = []; for (const q of await c.keys()) out.push(await (await c.match(q)).text()); return out.join(""); }))).then((all) => String(all.join("").includes(` + jsonString(token) + `)))`); got != "false" {
		t.Errorf("the manage token is in a cache")
	}

	net.Cut()
	p.Open(url)
	p.WaitText("#offline-note", re(`^Offline: Rally cannot be reached\. This is the copy saved on this device, last updated .+`))
	p.WaitText("h1", re(`^Vigil at the Embassy of Kazakhstan$`))
	p.WaitText("#event-when", re(`2030`))
	p.WaitText("#event-where", re(`Berlin`))
	p.WaitText("#safety-hotline", re(`^`+regexp.QuoteMeta(hotline)+`$`))
	p.WaitText("#safety-emergency", re(`^112$`))
	p.WaitText("#safety-notes", re(`^`+regexp.QuoteMeta(safetyNotes)+`$`))
	p.WaitText("#meeting-point", re(`^Meeting point: `+meetingPoint+`$`))
	if got := p.Eval(`String(!!navigator.serviceWorker.controller)`); got != "true" {
		t.Errorf("the offline page is not served by the service worker")
	}
	// It prints offline too.
	p.EmulateMedia("print")
	p.WaitText("#print-card", re(regexp.QuoteMeta(meetingPoint)))
	p.EmulateMedia("")

	// The network back, the page is live again.
	net.Restore()
	p.Open(url)
	p.WaitText("#my-rsvp-state", re(`^Going\. \(as Aru\)$`))
	waitLive(p)
	if got := p.Eval(`String(document.getElementById("offline-note"))`); got != "null" {
		t.Errorf("the online page shows the offline note")
	}
}

// "Clear Rally from this device" leaves nothing: no cache, no IndexedDB database, no
// localStorage or sessionStorage, no service worker.
func TestSafetyClearDevice(t *testing.T) {
	r := startRally(t)
	r.safetyEvent(t, r.campaign(t, "kz-solidarity"), "vigil-berlin", "Vigil at the Embassy of Kazakhstan", in2030, end2030)
	b := browsertest.Start(t)
	p := b.NewPage("participant", browsertest.Phone)
	p.Open(r.base + "/e/vigil-berlin")
	rsvpAs(t, p, "vigil-berlin", "Aru")
	workerReady(p)
	p.Wait("the event card to be saved", savedCard("vigil-berlin")+`.then(Boolean)`)
	// What the organiser's pages keep: keys in keystore.js's two databases, a token in
	// sessionStorage.
	p.EvalAsync(`Promise.all(["rally-keys", "rally-signing-keys"].map((name) => new Promise((ok, fail) => {
		const q = indexedDB.open(name, 1);
		q.onupgradeneeded = () => q.result.createObjectStore("keys", { keyPath: "id" });
		q.onsuccess = () => { const tx = q.result.transaction("keys", "readwrite"); tx.objectStore("keys").put({ id: "k1" }); tx.oncomplete = () => { q.result.close(); ok("stored"); }; };
		q.onerror = () => fail(q.error);
	}))).then(() => "stored")`)
	p.Eval(`(sessionStorage.setItem("rally.organiser.token", "rly_org_test"), "")`)
	const inventory = `(async () => JSON.stringify({
		caches: await caches.keys(),
		databases: (await indexedDB.databases()).map((d) => d.name),
		local: localStorage.length,
		session: sessionStorage.length,
		workers: (await navigator.serviceWorker.getRegistrations()).length,
	}))()`
	before := p.EvalAsync(inventory)
	t.Logf("before: %s", before)
	for _, want := range []string{`"rally-shell-v1"`, `"rally-events-v1"`, `"rally-keys"`, `"rally-signing-keys"`, `"local":1`, `"session":1`, `"workers":1`} {
		if !strings.Contains(before, want) {
			t.Fatalf("before clearing, %s lacks %s: the check below could not fail", before, want)
		}
	}

	p.Click("#clear-device")
	p.WaitText("#clear-device-why", re(`deletes everything Rally keeps in this browser`))
	p.Click("#clear-device-confirm")
	p.WaitText("#cleared-note", re(`^Rally was cleared from this device\.$`))
	if got := p.Eval(`location.pathname + location.hash`); got != "/" {
		t.Errorf("after clearing the page is at %q, want /", got)
	}
	after := p.EvalAsync(inventory)
	if want := `{"caches":[],"databases":[],"local":0,"session":0,"workers":0}`; after != want {
		t.Errorf("after clearing: %s, want %s", after, want)
	}
	if got := p.Eval(`String(!!navigator.serviceWorker.controller)`); got != "false" {
		t.Errorf("a service worker still controls the page after clearing")
	}
}

// The saved copy of an event goes once the event is over: the next page load deletes
// it, and the event page no longer opens offline.
func TestSafetyEndedEventCardExpires(t *testing.T) {
	r := startRally(t)
	now := time.Now()
	end := now.Add(20 * time.Second)
	r.safetyEvent(t, r.campaign(t, "kz-solidarity"), "vigil-berlin", "Vigil at the Embassy of Kazakhstan", now.Add(-time.Hour), end)
	net := browsertest.NewNetwork(t, r.base)
	b := browsertest.Start(t)
	p := b.NewPage("participant", browsertest.Phone)
	url := net.URL + "/e/vigil-berlin"
	p.Open(url)
	rsvpAs(t, p, "vigil-berlin", "Aru")
	workerReady(p)
	p.Wait("the event card to be saved", savedCard("vigil-berlin")+`.then((s) => !!s && s.event.meetingPoint === `+jsonString(meetingPoint)+`)`)
	if time.Now().After(end) {
		t.Fatal("the event ended before its card was saved: the test cannot tell anything")
	}

	time.Sleep(time.Until(end) + time.Second) // until the event is over, not a wait for the page
	p.Open(net.URL + "/c/kz-solidarity")
	p.Wait("the ended event's card to be deleted", savedCard("vigil-berlin")+`.then((s) => s === null)`)
	if where := whereIs(p, meetingPoint); where != "" {
		t.Errorf("the meeting point of the ended event is still in %s", where)
	}

	net.Cut()
	p.Open(url)
	p.WaitText("main p[role=alert]", re(`^Could not reach Rally`))
	if got := p.Eval(`String(document.getElementById("offline-note"))`); got != "null" {
		t.Errorf("the ended event opens offline")
	}
}

// A participant's page checks each announcement's signature itself: a signed one shows
// the fingerprint computed here; one whose text was changed on the way (a compromised
// server) warns that it may not come from the organisers, and so does an unsigned one
// once the campaign requires signatures.
func TestSafetyAnnouncementSignatures(t *testing.T) {
	r := startRally(t)
	alice := r.organiser(t, "Alice")
	campaign := r.ownCampaign(t, alice, "kz-solidarity", "vigil-berlin")
	pub, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	reg, err := alice.orgs.CreateOrganiserKey(alice.ctx, &rallyv1.CreateOrganiserKeyRequest{Parent: "organisers/me",
		OrganiserKey: &rallyv1.OrganiserKey{Algorithm: rallyv1.KeyAlgorithm_KEY_ALGORITHM_ED25519, PublicKey: pub}})
	if err != nil {
		t.Fatalf("register a signing key: %v", err)
	}
	keyID := reg.GetName()[strings.LastIndex(reg.GetName(), "/")+1:]
	post := func(text string, signed bool) string {
		t.Helper()
		a := &rallyv1.Announcement{Text: text}
		if signed {
			if a.Signature, err = announcesig.Sign(priv, keyID, "events/vigil-berlin", a, time.Now()); err != nil {
				t.Fatal(err)
			}
		}
		got, err := r.events.PostAnnouncement(alice.ctx, &rallyv1.PostAnnouncementRequest{Parent: "events/vigil-berlin", Announcement: a})
		if err != nil {
			t.Fatalf("post %q: %v", text, err)
		}
		return `[data-announcement="` + got.GetName()[strings.LastIndex(got.GetName(), "/")+1:] + `"]`
	}
	unsignedItem := post("Unsigned early note", false)
	signedItem := post("Bring water", true)
	unsigned, signed := unsignedItem+" .ann-trust", signedItem+" .ann-trust"

	net := browsertest.NewNetwork(t, r.base)
	b := browsertest.Start(t)
	p := b.NewPage("participant", browsertest.Phone)
	url := net.URL + "/e/vigil-berlin"
	p.Open(url)
	p.WaitText(signed, re(`^Signed by `+regexp.QuoteMeta(reg.GetFingerprint())+`$`))
	if got := p.Eval(`document.querySelector(` + jsonString(unsigned) + `).textContent`); got != "" {
		t.Errorf("an unsigned announcement of a campaign not requiring signatures says %q", got)
	}

	// The server (or whoever stands between) changes the text: the signature no longer
	// matches, whatever the server's copy of the fingerprint says.
	net.Rewrite("/v1/events/vigil-berlin/announcements", func(body []byte) []byte {
		return bytes.ReplaceAll(body, []byte("Bring water"), []byte("Bring nothing"))
	})
	p.Open(url)
	p.WaitText(signedItem+` > p:first-child`, re(`^Bring nothing$`))
	p.WaitText(signed, re(`^Warning: signature does not verify — this may not come from the organisers\.`))
	net.Rewrite("/v1/events/vigil-berlin/announcements", nil)

	_, err = r.campaigns.UpdateCampaign(alice.ctx, &rallyv1.UpdateCampaignRequest{
		Campaign:   &rallyv1.Campaign{Name: campaign, RequireSignedAnnouncements: true},
		UpdateMask: &fieldmaskpb.FieldMask{Paths: []string{"require_signed_announcements"}},
	})
	if err != nil {
		t.Fatalf("require signed announcements: %v", err)
	}
	p.Open(url)
	p.WaitText(signed, re(`^Signed by `+regexp.QuoteMeta(reg.GetFingerprint())+`$`))
	p.WaitText(unsigned, re(`^Warning: not signed, .+ — this may not come from the organisers\.$`))
}
