package browsertest_test

// Signed announcements in the browser (issue 17): signing.js against Go's vectors, and
// the organiser console signing with a key kept in IndexedDB.

import (
	"crypto/ed25519"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	rallyv1 "github.com/rallyhq/rally/gen/go/rally/v1"
	"github.com/rallyhq/rally/internal/announcesig"
	"github.com/rallyhq/rally/internal/envelope"
	"github.com/rallyhq/rally/internal/web/browsertest"
	"google.golang.org/protobuf/types/known/timestamppb"
)

const ed25519Alg = rallyv1.KeyAlgorithm_KEY_ALGORITHM_ED25519

// vector is one entry of internal/announcesig/testdata/vectors.json, written by Go.
type vector struct {
	Event       string `json:"event"`
	Text        string `json:"text"`
	Audience    string `json:"audience"`
	SignTime    string `json:"signTime"`
	PublicKey   string `json:"publicKey"` // standard base64
	Seed        string `json:"seed"`      // standard base64
	Message     string `json:"message"`   // hex
	Signature   string `json:"signature"` // standard base64
	Fingerprint string `json:"fingerprint"`
}

func readVectors(t *testing.T) []vector {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("..", "..", "announcesig", "testdata", "vectors.json"))
	if err != nil {
		t.Fatal(err)
	}
	var vs []vector
	if err := json.Unmarshal(b, &vs); err != nil {
		t.Fatal(err)
	}
	if len(vs) < 3 {
		t.Fatalf("%d vectors: want several", len(vs))
	}
	return vs
}

// Go and signing.js sign the same bytes: for every vector, the browser's canonical
// message is Go's byte for byte, WebCrypto's signature with the vector's seed is Go's
// (Ed25519 is deterministic), verifyAnnouncement accepts it with the fingerprint Go
// computes, and refuses it once the text, the event, the audience or the sign time is
// changed. Sign times as protojson writes them (no fractional digits for a whole second,
// or nine) verify too. And Go verifies what the browser signs.
func TestSigningJSMatchesGo(t *testing.T) {
	vs := readVectors(t)
	p := cryptoPage(t)
	out := p.EvalAsync(`(async () => {
		const S = await import("/assets/signing.js");
		const E = await import("/assets/envelope.js");
		const K = await import("/assets/keystore.js");
		const hex = (b) => Array.from(b, (x) => x.toString(16).padStart(2, "0")).join("");
		const results = [];
		for (const v of ` + jsonLit(t, vs) + `) {
			const r = {};
			r.message = hex(S.announcementMessage(v.event, v));
			const seed = E.fromBase64(v.seed), pub = E.fromBase64(v.publicKey);
			const key = await K.importSigningKey(seed, pub);
			r.extractable = key.extractable;
			r.signature = E.toBase64(new Uint8Array(await crypto.subtle.sign({ name: "Ed25519" }, key, S.announcementMessage(v.event, v))));
			const ann = (o = {}) => ({ text: v.text, audience: v.audience, createTime: "2026-03-08T14:00:01Z",
				signature: { key: "sign-1", signTime: v.signTime, signature: v.signature, publicKey: v.publicKey, fingerprint: "SERV-ERSA-YSSO-XXXX", ...o.sig }, ...o.ann });
			const verify = async (event, a) => { const x = await S.verifyAnnouncement(event, a); return x.ok ? "ok " + x.fingerprint : x.reason; };
			const otherAudience = v.audience === "ANNOUNCEMENT_AUDIENCE_RSVP_HOLDERS" ? "ANNOUNCEMENT_AUDIENCE_PUBLIC" : "ANNOUNCEMENT_AUDIENCE_RSVP_HOLDERS";
			const later = new Date(Date.parse(v.signTime) + 1).toISOString();
			const protojson = v.signTime.replace(/\.000Z$/, "Z"), nanos = v.signTime.replace(/Z$/, "000000Z");
			const flipped = E.fromBase64(v.signature); flipped[10] ^= 1;
			r.verify = {
				as: await verify(v.event, ann()),
				protojsonTime: await verify(v.event, ann({ sig: { signTime: protojson } })),
				nanosTime: await verify(v.event, ann({ sig: { signTime: nanos } })),
				text: await verify(v.event, ann({ ann: { text: v.text + "." } })),
				event: await verify(v.event + "x", ann()),
				audience: await verify(v.event, ann({ ann: { audience: otherAudience } })),
				signTime: await verify(v.event, ann({ sig: { signTime: later } })),
				signature: await verify(v.event, ann({ sig: { signature: E.toBase64(flipped) } })),
				otherKey: await verify(v.event, ann({ sig: { publicKey: E.toBase64(new Uint8Array(32).fill(7)) } })),
				finerTime: await verify(v.event, ann({ sig: { signTime: v.signTime.replace(/Z$/, "4Z") } })),
				unsigned: await verify(v.event, ann({ ann: { signature: null } })),
			};
			// What the console signs now, for Go to verify.
			r.signed = await S.signAnnouncement({ id: "sign-1", privateKey: key }, v.event, { text: v.text, audience: v.audience });
			results.push(r);
		}
		return JSON.stringify(results);
	})()`)
	var got []struct {
		Message, Signature string
		Extractable        bool
		Verify             map[string]string
		Signed             struct{ Key, SignTime, Signature string }
	}
	if err := json.Unmarshal([]byte(out), &got); err != nil {
		t.Fatalf("%v: %s", err, out)
	}
	if len(got) != len(vs) {
		t.Fatalf("%d results for %d vectors", len(got), len(vs))
	}
	for i, v := range vs {
		g := got[i]
		if g.Message != v.Message {
			t.Errorf("vector %d: message\n JS %s\n Go %s", i, g.Message, v.Message)
		}
		if g.Signature != v.Signature {
			t.Errorf("vector %d: WebCrypto signs %s, Go %s", i, g.Signature, v.Signature)
		}
		if g.Extractable {
			t.Errorf("vector %d: the imported signing key is extractable", i)
		}
		want := map[string]string{
			"as": "ok " + v.Fingerprint, "protojsonTime": "ok " + v.Fingerprint, "nanosTime": "ok " + v.Fingerprint,
			"text": "invalid", "event": "invalid", "audience": "invalid", "signTime": "invalid",
			"signature": "invalid", "otherKey": "invalid", "finerTime": "malformed", "unsigned": "unsigned",
		}
		for k, w := range want {
			if g.Verify[k] != w {
				t.Errorf("vector %d, %s: verifyAnnouncement says %q, want %q", i, k, g.Verify[k], w)
			}
		}
		pub, _ := base64.StdEncoding.DecodeString(v.PublicKey)
		if fp := envelope.Fingerprint(ed25519Alg, pub); fp != v.Fingerprint {
			t.Errorf("vector %d: Go's fingerprint %s, the vector's %s", i, fp, v.Fingerprint)
		}
		// Go verifies the browser's signature.
		st, err := time.Parse(time.RFC3339Nano, g.Signed.SignTime)
		if err != nil || g.Signed.SignTime != st.UTC().Format(announcesig.TimeLayout) {
			t.Errorf("vector %d: the browser's sign time %q is not RFC 3339 with three fractional digits (%v)", i, g.Signed.SignTime, err)
			continue
		}
		sig, _ := base64.StdEncoding.DecodeString(g.Signed.Signature)
		a := &rallyv1.Announcement{
			Text: v.Text, Audience: rallyv1.AnnouncementAudience(rallyv1.AnnouncementAudience_value[v.Audience]),
			Signature: &rallyv1.AnnouncementSignature{Key: g.Signed.Key, SignTime: timestamppb.New(st), Signature: sig},
		}
		if err := announcesig.Verify(pub, v.Event, a); err != nil || g.Signed.Key != "sign-1" {
			t.Errorf("vector %d: Go verifying the browser's signature %+v: %v", i, g.Signed, err)
		}
		a.Text += "."
		if err := announcesig.Verify(pub, v.Event, a); err == nil {
			t.Errorf("vector %d: Go verifies the browser's signature over another text", i)
		}
	}
}

// signingKeyFile writes a key file as `rally keys create` does (cmd/rally/keys.go): an
// Ed25519 entry with the 32-byte seed, base64url without padding; name is empty for a key
// not registered yet.
func signingKeyFile(t *testing.T, name string, priv ed25519.PrivateKey) string {
	t.Helper()
	b, _ := json.MarshalIndent(map[string]any{"keys": []map[string]string{{
		"name": name, "algorithm": ed25519Alg.String(),
		"publicKey": b64url.EncodeToString(priv.Public().(ed25519.PublicKey)), "privateKey": b64url.EncodeToString(priv.Seed()),
	}}}, "", "  ")
	path := filepath.Join(t.TempDir(), "rally-keys.json")
	if err := os.WriteFile(path, append(b, '\n'), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// storedSigningKey describes the signing key the console keeps in IndexedDB.
func storedSigningKey(p *browsertest.Page) string {
	return p.EvalAsync(`new Promise((resolve, reject) => {
		const req = indexedDB.open("rally-signing-keys", 1);
		req.onupgradeneeded = () => req.result.createObjectStore("keys");
		req.onerror = () => reject(req.error);
		req.onsuccess = () => {
			const get = req.result.transaction("keys").objectStore("keys").getAll();
			get.onsuccess = () => { req.result.close(); resolve(JSON.stringify(get.result.map((k) => ({
				id: k.id, algorithm: k.algorithm, type: k.privateKey.type, extractable: k.privateKey.extractable, usages: k.privateKey.usages })))); };
		};
	})`)
}

// announcements lists an event's announcements as its organiser o reads them.
func announcements(t *testing.T, r rally, o organiser, event string) []*rallyv1.Announcement {
	t.Helper()
	res, err := r.events.ListAnnouncements(o.ctx, &rallyv1.ListAnnouncementsRequest{Parent: event})
	if err != nil {
		t.Fatalf("ListAnnouncements: %v", err)
	}
	return res.GetAnnouncements()
}

// postAnnouncement posts text from the console's form of the event eid.
func postAnnouncement(p *browsertest.Page, eid, text string) {
	if p.Eval(`String(document.getElementById("announce-`+eid+`").open)`) != "true" {
		p.Click("#announce-" + eid + " > summary")
	}
	p.Fill("#ann-"+eid, text)
	p.Click("#announce-" + eid + ` button[type="submit"]`)
}

// The organiser imports a key file whose Ed25519 key is not registered yet: the console
// offers to register it, shows its fingerprint, keeps it non-extractable in IndexedDB,
// and signs what it posts; the server stores the signature, which Go verifies, with the
// fingerprint the console showed. The key stays across a reload, until forgotten.
func TestConsoleSignsAnnouncementsWithImportedKey(t *testing.T) {
	r := startRally(t)
	alice := r.organiser(t, "Alice")
	r.ownCampaign(t, alice, "kz-solidarity", "vigil-berlin")
	pub, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	fp := envelope.Fingerprint(ed25519Alg, pub)
	b := browsertest.Start(t)
	console := b.NewPage("organiser", browsertest.Desktop)
	signIn(console, r.base, alice)
	console.WaitVisible("#signing-none")
	console.Click("#announce-vigil-berlin > summary")
	console.WaitText("#ann-sign-vigil-berlin", re(`^Will be posted unsigned`))

	console.SetFiles("#key-file", signingKeyFile(t, "", priv))
	console.WaitText("#signing-unregistered", regexp.MustCompile(`The signing key `+fp+` in this browser is not registered to your account`))
	console.WaitText("#ann-sign-vigil-berlin", re(`^Will be posted unsigned`))
	console.Click("#signing-register")
	console.WaitText("#signing-key", regexp.MustCompile(`signed in this browser with your key `+fp+`\.`))
	console.WaitText("#ann-sign-vigil-berlin", regexp.MustCompile(`^Will be signed by `+fp+`\.$`))

	keys, err := alice.orgs.ListOrganiserKeys(alice.ctx, &rallyv1.ListOrganiserKeysRequest{Parent: "organisers/me"})
	if err != nil || len(keys.GetOrganiserKeys()) != 1 {
		t.Fatalf("ListOrganiserKeys: %v, %v", keys, err)
	}
	reg := keys.GetOrganiserKeys()[0]
	if reg.GetAlgorithm() != ed25519Alg || string(reg.GetPublicKey()) != string(pub) || reg.GetFingerprint() != fp {
		t.Fatalf("registered %v, want the file's Ed25519 key", reg)
	}
	keyID := reg.GetName()[strings.LastIndex(reg.GetName(), "/")+1:]
	if got, want := storedSigningKey(console), `[{"id":"`+keyID+`","algorithm":"KEY_ALGORITHM_ED25519","type":"private","extractable":false,"usages":["sign"]}]`; got != want {
		t.Errorf("IndexedDB holds %s, want %s", got, want)
	}
	if got := storedKeys(console); got != "[]" {
		t.Errorf("the envelope keys' store holds %s: the signing key belongs in its own", got)
	}
	noSeedInStorage(t, console, priv)

	const text = "We moved to the north side of the square. Straße gesperrt 🚧"
	console.Eval(`document.getElementById("aud-vigil-berlin").value = "ANNOUNCEMENT_AUDIENCE_RSVP_HOLDERS", ""`)
	postAnnouncement(console, "vigil-berlin", text)
	console.WaitText("#ann-done-vigil-berlin", regexp.MustCompile(`^Announcement posted, signed by `+fp+`\.$`))

	list := announcements(t, r, alice, "events/vigil-berlin")
	if len(list) != 1 {
		t.Fatalf("%d announcements, want 1", len(list))
	}
	a := list[0]
	sig := a.GetSignature()
	if a.GetText() != text || a.GetAudience() != rallyv1.AnnouncementAudience_ANNOUNCEMENT_AUDIENCE_RSVP_HOLDERS || sig == nil {
		t.Fatalf("stored announcement %v: want the text, for RSVP holders, signed", a)
	}
	if sig.GetKey() != keyID || sig.GetFingerprint() != fp || string(sig.GetPublicKey()) != string(pub) {
		t.Errorf("signature by key %q, fingerprint %q: want %q, %q", sig.GetKey(), sig.GetFingerprint(), keyID, fp)
	}
	if err := announcesig.Verify(pub, "events/vigil-berlin", a); err != nil {
		t.Errorf("Go verifying the stored announcement: %v", err)
	}
	if d := time.Since(sig.GetSignTime().AsTime()); d < 0 || d > time.Minute {
		t.Errorf("signed %v ago", d)
	}

	// Kept across a reload; gone once forgotten, and then posts are unsigned again.
	console.Open(r.base + "/organise")
	console.WaitText("#signing-key", regexp.MustCompile(fp))
	console.Click("#signing-forget")
	console.WaitVisible("#signing-none")
	console.Click("#announce-vigil-berlin > summary")
	console.WaitText("#ann-sign-vigil-berlin", re(`^Will be posted unsigned`))
	if got := storedSigningKey(console); got != "[]" {
		t.Errorf("IndexedDB holds %s after forgetting", got)
	}
}

// noSeedInStorage fails if an Ed25519 seed shows in the page's localStorage or
// sessionStorage.
func noSeedInStorage(t *testing.T, p *browsertest.Page, priv ed25519.PrivateKey) {
	t.Helper()
	all := p.Eval(`JSON.stringify(localStorage) + JSON.stringify(sessionStorage)`)
	for _, enc := range []*base64.Encoding{base64.RawURLEncoding, base64.StdEncoding} {
		if s := enc.EncodeToString(priv.Seed()); strings.Contains(all, strings.TrimRight(s, "=")) {
			t.Errorf("the signing key's seed is in web storage: %s", all)
		}
	}
}

// A key file the CLI registered (its entry has a name) is used as it is; a damaged one
// (a seed that does not give its public key) is refused and changes nothing.
func TestConsoleImportsRegisteredSigningKey(t *testing.T) {
	r := startRally(t)
	alice := r.organiser(t, "Alice")
	r.ownCampaign(t, alice, "kz-solidarity", "vigil-berlin")
	pub, priv, _ := ed25519.GenerateKey(rand.Reader)
	reg, err := alice.orgs.CreateOrganiserKey(alice.ctx, &rallyv1.CreateOrganiserKeyRequest{Parent: "organisers/me",
		OrganiserKey: &rallyv1.OrganiserKey{Algorithm: ed25519Alg, PublicKey: pub}})
	if err != nil {
		t.Fatal(err)
	}
	b := browsertest.Start(t)
	console := b.NewPage("organiser", browsertest.Desktop)
	signIn(console, r.base, alice)

	_, other, _ := ed25519.GenerateKey(rand.Reader)
	damaged := signingKeyFile(t, reg.GetName(), priv)
	b2, _ := os.ReadFile(damaged)
	os.WriteFile(damaged, []byte(strings.Replace(string(b2), b64url.EncodeToString(priv.Seed()), b64url.EncodeToString(other.Seed()), 1)), 0o600)
	console.SetFiles("#key-file", damaged)
	console.WaitText("#key-error", re(`^The signing key in this file is damaged: its private key does not belong to its public key\.$`))
	console.WaitVisible("#signing-none")

	console.SetFiles("#key-file", signingKeyFile(t, reg.GetName(), priv))
	console.WaitText("#signing-key", regexp.MustCompile(reg.GetFingerprint()))
	postAnnouncement(console, "vigil-berlin", "Bring water.")
	console.WaitText("#ann-done-vigil-berlin", regexp.MustCompile(`signed by `+reg.GetFingerprint()))
	list := announcements(t, r, alice, "events/vigil-berlin")
	if len(list) != 1 || announcesig.Verify(pub, "events/vigil-berlin", list[0]) != nil || list[0].GetAudience() != rallyv1.AnnouncementAudience_ANNOUNCEMENT_AUDIENCE_PUBLIC {
		t.Fatalf("announcements %v: want one, public, signed by the file's key", list)
	}
}

// A campaign that requires signed announcements: the console says so before posting
// while no key is loaded, the server refuses the unsigned post and the console names the
// field; nothing is posted. A signing key made in the browser (registered as it is made)
// then signs, and the post goes through.
func TestRequiredSignatureRefusesUnsignedPost(t *testing.T) {
	r := startRally(t)
	alice := r.organiser(t, "Alice")
	r.ownCampaign(t, alice, "kz-solidarity", "vigil-berlin")
	b := browsertest.Start(t)
	console := b.NewPage("organiser", browsertest.Desktop)
	signIn(console, r.base, alice)

	// The campaign's setting, from the console.
	console.Click("#settings-kz-solidarity > summary")
	console.Click("#require-signed-kz-solidarity")
	reloads(console, func() { console.Click("#settings-kz-solidarity " + `button[type="submit"]`) })
	c, err := r.campaigns.GetCampaign(alice.ctx, &rallyv1.GetCampaignRequest{Name: "campaigns/kz-solidarity"})
	if err != nil || !c.GetRequireSignedAnnouncements() {
		t.Fatalf("campaign %v, %v: want require_signed_announcements", c, err)
	}
	console.WaitVisible("#signing-none")
	if got := console.Eval(`String(document.getElementById("require-signed-kz-solidarity").checked)`); got != "true" {
		t.Errorf("after saving, the checkbox says %s", got)
	}

	console.Click("#announce-vigil-berlin > summary")
	console.WaitText("#ann-sign-vigil-berlin", re(`^This campaign requires signed announcements, and no registered signing key is loaded in this browser`))
	postAnnouncement(console, "vigil-berlin", "Unsigned, from a stolen token?")
	console.WaitText("#ann-error-vigil-berlin", re(`^Signature \(announcement\.signature\): .+`))
	if got := console.Eval(`document.getElementById("ann-done-vigil-berlin").textContent`); got != "" {
		t.Errorf("the console says %q after a refused post", got)
	}
	if list := announcements(t, r, alice, "events/vigil-berlin"); len(list) != 0 {
		t.Fatalf("the refused post left %v", list)
	}

	console.Click("#signing-generate")
	console.WaitVisible("#signing-key")
	keys, err := alice.orgs.ListOrganiserKeys(alice.ctx, &rallyv1.ListOrganiserKeysRequest{Parent: "organisers/me"})
	if err != nil || len(keys.GetOrganiserKeys()) != 1 || keys.GetOrganiserKeys()[0].GetAlgorithm() != ed25519Alg {
		t.Fatalf("ListOrganiserKeys: %v, %v: want the Ed25519 key made in the browser", keys, err)
	}
	reg := keys.GetOrganiserKeys()[0]
	console.WaitText("#signing-key", regexp.MustCompile(reg.GetFingerprint()))
	console.WaitText("#ann-sign-vigil-berlin", regexp.MustCompile(`^Will be signed by `+reg.GetFingerprint()+`\.$`))
	if got := storedSigningKey(console); !strings.Contains(got, `"extractable":false,"usages":["sign"]`) {
		t.Errorf("IndexedDB holds %s: want a non-extractable signing key", got)
	}
	postAnnouncement(console, "vigil-berlin", "Signed this time.")
	console.WaitText("#ann-done-vigil-berlin", regexp.MustCompile(`signed by `+reg.GetFingerprint()))
	list := announcements(t, r, alice, "events/vigil-berlin")
	if len(list) != 1 || announcesig.Verify(reg.GetPublicKey(), "events/vigil-berlin", list[0]) != nil {
		t.Fatalf("announcements %v: want one, signed by the browser's key", list)
	}
}

// The event form's safety fields: set when creating, changed and emptied when editing
// (the mask path "safety" replaces the whole message).
func TestConsoleEditsEventSafety(t *testing.T) {
	r := startRally(t)
	alice := r.organiser(t, "Alice")
	r.ownCampaign(t, alice, "kz-solidarity", "vigil-berlin")
	b := browsertest.Start(t)
	console := b.NewPage("organiser", browsertest.Desktop)
	signIn(console, r.base, alice)

	const p = "#ev-vigil-berlin-"
	console.Click(`li.card details:has(` + p + `title) > summary`)
	console.Fill(p+"legal-hotline", "+49 30 1234567")
	console.Fill(p+"emergency-number", "112")
	console.Click(p + "legal-observers")
	console.Fill(p+"safety-notes", "Regroup at the fountain.")
	reloads(console, func() { console.Click(`form:has(` + p + `title) button[type="submit"]`) })
	want := &rallyv1.EventSafety{LegalHotline: "+49 30 1234567", EmergencyNumber: "112", LegalObservers: true, Notes: "Regroup at the fountain."}
	safety := func() *rallyv1.EventSafety {
		t.Helper()
		ev, err := r.events.GetEvent(t.Context(), &rallyv1.GetEventRequest{Name: "events/vigil-berlin"})
		if err != nil {
			t.Fatal(err)
		}
		return ev.GetSafety()
	}
	if got := safety(); got.GetLegalHotline() != want.LegalHotline || got.GetEmergencyNumber() != want.EmergencyNumber ||
		!got.GetLegalObservers() || got.GetNotes() != want.Notes {
		t.Fatalf("safety %v, want %v", got, want)
	}

	// Edited: the form shows what is stored; emptied fields are emptied.
	console.Click(`li.card details:has(` + p + `title) > summary`)
	if got := console.Eval(`document.querySelector("` + p + `legal-hotline").value + "|" + document.querySelector("` + p + `legal-observers").checked`); got != "+49 30 1234567|true" {
		t.Errorf("the edit form shows %q", got)
	}
	console.Fill(p+"legal-hotline", "")
	console.Click(p + "legal-observers")
	reloads(console, func() { console.Click(`form:has(` + p + `title) button[type="submit"]`) })
	if s := safety(); s.GetLegalHotline() != "" || s.GetLegalObservers() || s.GetNotes() != want.Notes {
		t.Fatalf("after emptying the hotline and unticking observers, safety is %v", s)
	}

	// Too long a hotline (past the input's maxlength, as a script could): the field is
	// named, and nothing changes.
	console.Click(`li.card details:has(` + p + `title) > summary`)
	console.Eval(`document.querySelector("` + p + `legal-hotline").value = "` + strings.Repeat("1", 101) + `", ""`)
	console.Click(`form:has(` + p + `title) button[type="submit"]`)
	console.WaitText(`form:has(`+p+`title) .error`, re(`^Legal hotline: `))
	if s := safety(); s.GetLegalHotline() != "" || s.GetNotes() != want.Notes {
		t.Errorf("a refused edit changed safety to %v", s)
	}
}

// reloads does what saves something in the console, and waits until the console says it
// is saved (in its status bar, emptied first). The console updates the page in place
// (issue 18): a reload would fail, since the page's mark would be gone.
func reloads(p *browsertest.Page, do func()) {
	p.Eval(`document.body.dataset.beforeReload = "yes", document.getElementById("live-status").textContent = "", ""`)
	do()
	p.Wait("the console to say it saved", `document.getElementById("live-status").textContent !== ""`)
	p.WaitVisible("body[data-before-reload] #keys")
}

// The key file the console makes at first sign-in holds an Ed25519 key too (as `rally
// keys create` writes one): it is registered with the X25519 key, and kept as this
// browser's signing key, so that announcements are signed from the start.
func TestFirstKeyFileSignsToo(t *testing.T) {
	r := startRally(t)
	bob := r.organiser(t, "Bob")
	r.ownCampaign(t, bob, "kz-solidarity", "vigil-berlin")
	b := browsertest.Start(t)
	console := b.NewPage("organiser", browsertest.Desktop)
	signIn(console, r.base, bob)
	console.Click("#key-create")
	console.Download("#key-download")
	console.Click("#key-saved")
	keys, err := bob.orgs.ListOrganiserKeys(bob.ctx, &rallyv1.ListOrganiserKeysRequest{Parent: "organisers/me"})
	if err != nil {
		t.Fatal(err)
	}
	var signing *rallyv1.OrganiserKey
	for _, k := range keys.GetOrganiserKeys() {
		if k.GetAlgorithm() == ed25519Alg {
			signing = k
		}
	}
	if signing == nil {
		t.Fatalf("registered %v: no Ed25519 key", keys)
	}
	console.WaitText("#signing-key", regexp.MustCompile(signing.GetFingerprint()))
	postAnnouncement(console, "vigil-berlin", "Signed from the first key file.")
	console.WaitText("#ann-done-vigil-berlin", regexp.MustCompile(`signed by `+signing.GetFingerprint()))
	list := announcements(t, r, bob, "events/vigil-berlin")
	if len(list) != 1 || announcesig.Verify(signing.GetPublicKey(), "events/vigil-berlin", list[0]) != nil {
		t.Fatalf("announcements %v: want one, signed by the key file's Ed25519 key", list)
	}
}
