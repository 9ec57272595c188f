package main

import (
	"crypto/ed25519"
	"crypto/rand"
	"encoding/json"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"google.golang.org/protobuf/proto"

	rallyv1 "github.com/rallyhq/rally/gen/go/rally/v1"
	"github.com/rallyhq/rally/internal/announcesig"
	"github.com/rallyhq/rally/internal/envelope"
)

// signingFingerprint is the fingerprint of the Ed25519 key of the key file at path,
// computed by the test itself.
func signingFingerprint(t *testing.T, path string) string {
	t.Helper()
	f, err := readKeyFile(path)
	if err != nil {
		t.Fatal(err)
	}
	for _, k := range f.Keys {
		if k.Algorithm == rallyv1.KeyAlgorithm_KEY_ALGORITHM_ED25519.String() {
			pub, err := b64.DecodeString(k.PublicKey)
			if err != nil {
				t.Fatal(err)
			}
			return envelope.Fingerprint(rallyv1.KeyAlgorithm_KEY_ALGORITHM_ED25519, pub)
		}
	}
	t.Fatalf("%s holds no Ed25519 key", path)
	return ""
}

// verdictOf returns the verdict line that rally events announcements printed under the
// announcement with text, or "" when it lists none such.
func verdictOf(out, text string) string {
	for _, block := range strings.Split(out, "\n\n") {
		lines := strings.Split(strings.TrimSpace(block), "\n")
		if len(lines) == 3 && strings.TrimSpace(lines[1]) == text {
			return strings.TrimSpace(lines[2])
		}
	}
	return ""
}

// TestAnnouncementsSigned: an organiser signs announcements with the key file of rally
// keys create; anyone listing them sees them verified, by the fingerprint computed from
// the key file; unsigned ones show as NOT VERIFIED, and --trust narrows the keys
// believed. A campaign that requires signatures refuses unsigned announcements, saying
// how to sign.
func TestAnnouncementsSigned(t *testing.T) {
	server := startRallyd(t)
	org := newOrganiser(t, server, "berlin-group")
	keyPath := filepath.Join(t.TempDir(), "berlin.keys")
	org.ok("keys", "create", "--out", keyPath)
	fp := signingFingerprint(t, keyPath)

	r := org.ok("campaigns", "create", "--title", "Solidarity", "--id", "kz-berlin", "--require-signed-announcements")
	if !regexp.MustCompile(`(?m)^Announcements:\s+must be signed`).MatchString(r.stdout) {
		t.Errorf("campaigns create --require-signed-announcements shows:\n%s", r.stdout)
	}
	if got := org.json("campaigns", "get", "kz-berlin"); got["requireSignedAnnouncements"] != true {
		t.Errorf("campaign: %v", got)
	}
	createEvent(org, "vigil", "--campaign", "kz-berlin")

	// Unsigned is refused, naming the field and the flag, and saying how to sign.
	org.fails(exitUsage, []string{"invalid request", "announcement.signature (--key)", "requires signed announcements", "--key FILE"},
		"events", "announce", "vigil", "--text", "Unsigned and refused")

	r = org.ok("events", "announce", "vigil", "--text", "We moved to the north side", "--key", keyPath)
	if !strings.Contains(r.stdout, "signed by "+fp) || !strings.Contains(r.stdout, "We moved to the north side") {
		t.Errorf("events announce --key shows:\n%s", r.stdout)
	}
	org.ok("events", "announce", "events/vigil", "--text", "Bring water", "--audience", "holders", "--key", keyPath)

	// A key file that does not record the key's name finds it among the organiser's keys.
	f, err := readKeyFile(keyPath)
	if err != nil {
		t.Fatal(err)
	}
	for i := range f.Keys {
		f.Keys[i].Name = ""
	}
	unnamed := filepath.Join(t.TempDir(), "unnamed.keys")
	if err := writeKeyFile(unnamed, f, true); err != nil {
		t.Fatal(err)
	}
	org.ok("events", "announce", "vigil", "--text", "Signed from a copy", "--key", unnamed)
	// One that was never registered is refused here, before anything is posted.
	later := filepath.Join(t.TempDir(), "later.keys")
	org.ok("keys", "create", "--out", later, "--no-register")
	org.fails(exitUsage, []string{"not one of your current keys", "rally keys register " + later}, "events", "announce", "vigil", "--text", "Not posted", "--key", later)
	org.fails(exitUsage, []string{"--text is required"}, "events", "announce", "vigil", "--key", keyPath)
	org.fails(exitUsage, []string{"--audience", "holders, public"}, "events", "announce", "vigil", "--text", "x", "--audience", "friends")

	// Lifted, unsigned announcements go through.
	org.ok("campaigns", "update", "kz-berlin", "--require-signed-announcements=false")
	org.ok("events", "announce", "vigil", "--text", "Unsigned now")

	anon := newUser(t, server)
	r = anon.ok("events", "announcements", "vigil") // exit 0 with NOT VERIFIED among them
	for text, want := range map[string]string{
		"We moved to the north side": "verified: signed by " + fp,
		"Signed from a copy":         "verified: signed by " + fp,
		"Unsigned now":               "NOT VERIFIED (unsigned)",
		"Bring water":                "", // for RSVP holders: not listed to the public
		"Unsigned and refused":       "",
		"Not posted":                 "",
	} {
		if got := verdictOf(r.stdout, text); got != want {
			t.Errorf("announcements: %q has %q, want %q:\n%s", text, got, want, r.stdout)
		}
	}
	if !regexp.MustCompile(`(?m)^\d{4}-\d\d-\d\d \d\d:\d\d UTC\s+public$`).MatchString(r.stdout) {
		t.Errorf("announcements shows no time and audience line:\n%s", r.stdout)
	}
	if got := verdictOf(org.ok("events", "announcements", "vigil").stdout, "Bring water"); got != "verified: signed by "+fp {
		t.Errorf("the organiser's list: holders' announcement %q", got)
	}
	// A participant sees the holders' ones with --rsvp, which sends its saved token.
	holder := newUser(t, server)
	nameH, _ := rsvpTo(holder, "vigil")
	if got := verdictOf(holder.ok("events", "announcements", "vigil", "--rsvp", nameH).stdout, "Bring water"); got != "verified: signed by "+fp {
		t.Errorf("the holder's list: holders' announcement %q", got)
	}
	holder.fails(exitUsage, []string{"is not an RSVP of events/other"}, "events", "announcements", "other", "--rsvp", nameH)

	// --trust: the key published, in any case and with spaces, or another one.
	r = anon.ok("events", "announcements", "vigil", "--trust", strings.ToLower(strings.ReplaceAll(fp, "-", " ")))
	if got := verdictOf(r.stdout, "We moved to the north side"); got != "verified: signed by "+fp {
		t.Errorf("--trust its own fingerprint: %q", got)
	}
	r = anon.ok("events", "announcements", "vigil", "--trust", "AAAA-BBBB-CCCC-DDDD")
	if got := verdictOf(r.stdout, "We moved to the north side"); got != "NOT VERIFIED (untrusted key "+fp+")" {
		t.Errorf("--trust another fingerprint: %q", got)
	}
	anon.fails(exitUsage, []string{`--trust "ABCD"`, "not a key fingerprint"}, "events", "announcements", "vigil", "--trust", "ABCD")

	// --json: the API's announcements with the verdicts reached here.
	var out struct {
		Announcements []struct {
			Announcement map[string]any `json:"announcement"`
			Verification verdict        `json:"verification"`
		} `json:"announcements"`
	}
	raw := anon.ok("events", "announcements", "vigil", "--json").stdout
	if err := json.Unmarshal([]byte(raw), &out); err != nil || len(out.Announcements) != 3 {
		t.Fatalf("announcements --json: %v\n%s", err, raw)
	}
	for _, item := range out.Announcements {
		text, _ := item.Announcement["text"].(string)
		signed := text != "Unsigned now"
		if v := item.Verification; v.Verified != signed || (signed && v.SignedBy != fp) || (!signed && v.Problem != "unsigned") {
			t.Errorf("announcements --json: %q verified as %+v", text, v)
		}
	}
}

// TestVerifyAnnouncement checks the verdicts that no honest server lets through (it
// refuses forged signatures): a participant's client must still catch them, since the
// server may be the forger.
func TestVerifyAnnouncement(t *testing.T) {
	pub, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	otherPub, _, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	fp := envelope.Fingerprint(rallyv1.KeyAlgorithm_KEY_ALGORITHM_ED25519, pub)
	const event = "events/vigil"
	signed := &rallyv1.Announcement{Name: event + "/announcements/a1", Text: "We moved to the north side", Audience: rallyv1.AnnouncementAudience_ANNOUNCEMENT_AUDIENCE_RSVP_HOLDERS}
	if signed.Signature, err = announcesig.Sign(priv, "k1", event, signed, time.Now()); err != nil {
		t.Fatal(err)
	}
	// As the server returns it, with a fingerprint of its own that the client ignores.
	signed.Signature.PublicKey, signed.Signature.Fingerprint = pub, "AAAA-AAAA-AAAA-AAAA"

	if v := verifyAnnouncement(event, signed, nil); !v.Verified || v.SignedBy != fp || v.String() != "verified: signed by "+fp {
		t.Fatalf("a genuine signature: %+v", v)
	}
	if v := verifyAnnouncement(event, signed, []string{normaliseFingerprint(fp)}); !v.Verified {
		t.Errorf("a genuine signature by a trusted key: %+v", v)
	}
	if v := verifyAnnouncement(event, signed, []string{"AAAABBBBCCCCDDDD"}); v.Verified || v.String() != "NOT VERIFIED (untrusted key "+fp+")" {
		t.Errorf("a genuine signature by an untrusted key: %v", v)
	}

	tampered := func(change func(a *rallyv1.Announcement)) *rallyv1.Announcement {
		a := proto.Clone(signed).(*rallyv1.Announcement)
		change(a)
		return a
	}
	for what, tc := range map[string]struct {
		event string
		a     *rallyv1.Announcement
		want  string
	}{
		"text changed":     {event, tampered(func(a *rallyv1.Announcement) { a.Text = "We moved to the south side" }), "does not match"},
		"audience changed": {event, tampered(func(a *rallyv1.Announcement) { a.Audience = rallyv1.AnnouncementAudience_ANNOUNCEMENT_AUDIENCE_PUBLIC }), "does not match"},
		"sign time moved":  {event, tampered(func(a *rallyv1.Announcement) { a.Signature.SignTime.Seconds++ }), "does not match"},
		"signature bit":    {event, tampered(func(a *rallyv1.Announcement) { a.Signature.Signature[0] ^= 1 }), "does not match"},
		"another key":      {event, tampered(func(a *rallyv1.Announcement) { a.Signature.PublicKey = otherPub }), "does not match"},
		"no public key":    {event, tampered(func(a *rallyv1.Announcement) { a.Signature.PublicKey = nil }), "without a valid public key"},
		"another event":    {"events/other", signed, "does not match"},
		"unsigned":         {event, tampered(func(a *rallyv1.Announcement) { a.Signature = nil }), "NOT VERIFIED (unsigned)"},
		"sign time finer":  {event, tampered(func(a *rallyv1.Announcement) { a.Signature.SignTime.Nanos++ }), "malformed signature"},
	} {
		v := verifyAnnouncement(tc.event, tc.a, nil)
		if v.Verified || v.SignedBy != "" || !strings.HasPrefix(v.String(), "NOT VERIFIED") || !strings.Contains(v.String(), tc.want) {
			t.Errorf("%s: %+v, want NOT VERIFIED with %q", what, v, tc.want)
		}
	}
}

// TestEventSafety: the safety flags of events create and update, shown by events get to
// anyone, and cleared one at a time.
func TestEventSafety(t *testing.T) {
	server := startRallyd(t)
	org := newOrganiser(t, server, "berlin-group")
	createEvent(org, "vigil", "--legal-hotline", "+49 30 1234567", "--emergency-number", "112",
		"--legal-observers", "--safety-notes", "Regroup at the station")
	anon := newUser(t, server)
	r := anon.ok("events", "get", "vigil")
	for _, want := range []string{
		`(?m)^Legal hotline:\s+\+49 30 1234567$`, `(?m)^Emergency number:\s+112$`,
		`(?m)^Legal observers:\s+yes$`, `(?m)^Safety notes:\s+Regroup at the station$`,
	} {
		if !regexp.MustCompile(want).MatchString(r.stdout) {
			t.Errorf("events get lacks %s:\n%s", want, r.stdout)
		}
	}

	got := org.json("events", "update", "vigil", "--legal-observers=false", "--safety-notes", "")
	safety, _ := got["safety"].(map[string]any)
	if safety["legalHotline"] != "+49 30 1234567" || safety["emergencyNumber"] != "112" || safety["legalObservers"] != nil || safety["notes"] != nil {
		t.Errorf("after update --legal-observers=false --safety-notes '': %v", got["safety"])
	}
	r = anon.ok("events", "get", "vigil")
	if !regexp.MustCompile(`(?m)^Legal observers:\s+no$`).MatchString(r.stdout) || strings.Contains(r.stdout, "Safety notes") {
		t.Errorf("events get after the update:\n%s", r.stdout)
	}
	org.fails(exitUsage, []string{"event.safety.emergency_number (--emergency-number)"}, "events", "update", "vigil", "--emergency-number", strings.Repeat("1", 41))
	if r := anon.ok("events", "get", "vigil"); !regexp.MustCompile(`(?m)^Emergency number:\s+112$`).MatchString(r.stdout) {
		t.Errorf("a refused update changed the event:\n%s", r.stdout)
	}
}

var (
	anyRsvpName = regexp.MustCompile(`(?m)^Name:\s+(events/[a-z0-9-]+/rsvps/[a-z0-9]+)$`)
	buddyCodeAt = regexp.MustCompile(`(?m)^Buddy code:\s+([a-z2-7]{4}-[a-z2-7]{4}-[a-z2-7]{4})$`)
)

// rsvpTo has u RSVP to event and returns the RSVP's name and manage token.
func rsvpTo(u *user, event string, flags ...string) (string, string) {
	u.t.Helper()
	r := u.ok(append([]string{"rsvp", "create", event}, flags...)...)
	m := anyRsvpName.FindStringSubmatch(r.stdout)
	if m == nil {
		u.t.Fatalf("rsvp create shows:\n%s", r.stdout)
	}
	return m[1], manageToken.FindString(r.stderr)
}

// TestBuddies: two participants pair with a buddy code, see each other's nickname and
// check-out, and one deletes its RSVP, which forgets its token here and unpairs.
func TestBuddies(t *testing.T) {
	server := startRallyd(t, noCreateLimit)
	org := newOrganiser(t, server, "berlin-group")
	// Under way: check-out needs a started event, and pairing one not yet ended.
	org.ok("events", "create", "--id", "now", "--title", "Vigil", "--represents", "KZ", "--locality", "Berlin", "--country", "DE",
		"--start", time.Now().Add(-time.Minute).UTC().Format(time.RFC3339), "--duration", "3h", "--tz", "Europe/Berlin")
	createEvent(org, "later") // in 2030

	a, b, c := newUser(t, server), newUser(t, server), newUser(t, server)
	nameA, tokenA := rsvpTo(a, "now")
	nameB, _ := rsvpTo(b, "now")
	nameC, _ := rsvpTo(c, "now")

	a.fails(exitUsage, []string{"--nickname is required"}, "rsvp", "pair-buddy", nameA)
	r := a.ok("rsvp", "pair-buddy", nameA, "--nickname", "Robin")
	m := buddyCodeAt.FindStringSubmatch(r.stdout)
	if m == nil || !regexp.MustCompile(`(?m)^Expires:\s+\d{4}-\d\d-\d\d \d\d:\d\d UTC \(in (\d+ minutes|1 minute|less than a minute)\)$`).MatchString(r.stdout) {
		t.Fatalf("rsvp pair-buddy shows:\n%s", r.stdout)
	}
	code := m[1]

	// Typed back in upper case with spaces for dashes; a malformed one is caught here.
	b.fails(exitUsage, []string{"--code: not a buddy code"}, "rsvp", "join-buddy", nameB, "--code", "0000-1111-8888", "--nickname", "Sam")
	r = b.ok("rsvp", "join-buddy", nameB, "--code", strings.ToUpper(strings.ReplaceAll(code, "-", " ")), "--nickname", "Sam")
	if !regexp.MustCompile(`(?m)^Buddy:\s+Robin \(not checked out yet\)$`).MatchString(r.stdout) {
		t.Errorf("rsvp join-buddy shows:\n%s", r.stdout)
	}
	// The code works once.
	c.fails(exitUsage, []string{"buddy_code (--code)"}, "rsvp", "join-buddy", nameC, "--code", code, "--nickname", "Kim")
	if r := c.ok("rsvp", "get", nameC); strings.Contains(r.stdout, "Buddy") {
		t.Errorf("a used code paired C:\n%s", r.stdout)
	}
	if r := a.ok("rsvp", "get", nameA); !regexp.MustCompile(`(?m)^Buddy:\s+Sam \(not checked out yet\)$`).MatchString(r.stdout) {
		t.Errorf("rsvp get by A:\n%s", r.stdout)
	}

	// Home safe: A checks out, and B sees it.
	r = a.ok("rsvp", "check-out", nameA)
	if !regexp.MustCompile(`(?m)^Checked out:\s+\d{4}-\d\d-\d\d \d\d:\d\d UTC$`).MatchString(r.stdout) {
		t.Errorf("rsvp check-out shows:\n%s", r.stdout)
	}
	a.ok("rsvp", "check-out", nameA) // safe to repeat
	if r := b.ok("rsvp", "get", nameB); !regexp.MustCompile(`(?m)^Buddy:\s+Robin \(home safe: checked out at \d{4}-\d\d-\d\d \d\d:\d\d UTC\)$`).MatchString(r.stdout) {
		t.Errorf("rsvp get by B after A checked out:\n%s", r.stdout)
	}
	if got := b.json("rsvp", "get", nameB)["buddy"].(map[string]any); got["nickname"] != "Robin" || got["checkOutTime"] == nil {
		t.Errorf("rsvp get --json by B: buddy %v", got)
	}

	// Not before the event has started.
	p := newUser(t, server)
	nameP, _ := rsvpTo(p, "later")
	p.fails(exitConflict, []string{"has not started"}, "rsvp", "check-out", nameP)
	if r := p.ok("rsvp", "get", nameP); strings.Contains(r.stdout, "Checked out") {
		t.Errorf("a refused check-out checked out:\n%s", r.stdout)
	}

	// Forget me: gone on the server and here; the buddy is unpaired.
	r = a.ok("rsvp", "delete", nameA)
	if !strings.Contains(r.stdout, "Deleted "+nameA+".") || !strings.Contains(r.stdout, "manage token is removed") {
		t.Errorf("rsvp delete shows:\n%s", r.stdout)
	}
	if data, _ := os.ReadFile(a.rsvpsPath()); strings.Contains(string(data), tokenA) || strings.Contains(string(data), nameA) {
		t.Errorf("rsvp delete left the token:\n%s", data)
	}
	a.fails(exitDenied, []string{"no manage token is saved"}, "rsvp", "get", nameA)
	a.fails(exitNotFound, nil, "--token", tokenA, "rsvp", "delete", nameA)
	if r := b.ok("rsvp", "get", nameB); strings.Contains(r.stdout, "Buddy") {
		t.Errorf("B still has a buddy after A deleted its RSVP:\n%s", r.stdout)
	}
	// An organiser deletes one too, logged in; the audit log says by whom, never which.
	if got := org.json("rsvp", "delete", nameC); len(got) != 0 {
		t.Errorf("rsvp delete --json: %v", got)
	}
	r = org.ok("rsvps", "audit", "now")
	if !regexp.MustCompile(`(?m)\bholder\s+DeleteRsvp$`).MatchString(r.stdout) || !regexp.MustCompile(`(?m)organisers/berlin-group\s+DeleteRsvp$`).MatchString(r.stdout) {
		t.Errorf("rsvps audit after two deletes:\n%s", r.stdout)
	}
	if r := org.ok("events", "get", "now"); !strings.Contains(r.stdout, "1 going") {
		t.Errorf("events get after two deletes:\n%s", r.stdout)
	}
}
