package main

import (
	"bufio"
	"encoding/json"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/rallyhq/rally/internal/tlsutil/tlstest"
)

// TestOrganiserWorkflow is the life of an organiser: the admin creates the account and a
// token, the organiser logs in with it, runs a campaign and an event, and manages tokens.
func TestOrganiserWorkflow(t *testing.T) {
	server := startRallyd(t)

	admin := newUser(t, server)
	if r := admin.ok("login", "--token", adminToken); !strings.Contains(r.stdout, "as the admin") {
		t.Errorf("admin login says:\n%s", r.stdout)
	}
	checkPrivate(t, admin.loginPath())
	admin.ok("organisers", "create", "--display-name", "Berlin group", "--id", "berlin-group")
	r := admin.ok("tokens", "create", "--organiser", "berlin-group", "--display-name", "laptop")
	secret := strings.TrimSpace(r.stdout)
	if !regexp.MustCompile(`^rly_org_[A-Za-z0-9_-]{43}$`).MatchString(secret) {
		t.Fatalf("tokens create printed %q on stdout, want the secret alone", r.stdout)
	}
	if !strings.Contains(r.stderr, "shown only this once") || strings.Contains(r.stderr, secret) {
		t.Errorf("tokens create does not say the secret is shown once:\n%s", r.stderr)
	}

	// The organiser pastes the token on standard input.
	org := newUser(t, server)
	r = org.run(secret+"\n", "login")
	if r.code != 0 || !strings.Contains(r.stdout, "organisers/berlin-group (Berlin group)") {
		t.Fatalf("organiser login: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	checkPrivate(t, org.loginPath())
	if got := org.json("organisers", "get")["name"]; got != "organisers/berlin-group" {
		t.Errorf("organisers get: name %v", got)
	}

	// A campaign and an event in it, named by bare IDs, with flags after the arguments.
	org.ok("campaigns", "create", "--title", "Berlin stands with Kazakh LGBTI people", "--hashtag", "LoveIsNotPropaganda", "--id", "kz-berlin")
	r = org.ok("events", "create", "--campaign", "kz-berlin", "--title", "Candlelight vigil",
		"--represents", "kz", "--locality", "Berlin", "--country", "DE", "--address", "Kurfürstendamm 1",
		"--start", "2030-05-17 18:00", "--duration", "2h", "--tz", "Europe/Berlin", "--capacity", "150",
		"--visibility", "exact", "--meeting-point", "North corner, rainbow umbrella", "--id", "vigil-berlin")
	if !strings.Contains(r.stdout, "2030-05-17 18:00 to 20:00 CEST") || !strings.Contains(r.stdout, "North corner") {
		t.Errorf("events create shows:\n%s", r.stdout)
	}
	event := org.json("events", "get", "vigil-berlin")
	if event["startTime"] != "2030-05-17T16:00:00Z" || event["endTime"] != "2030-05-17T18:00:00Z" || event["campaign"] != "campaigns/kz-berlin" {
		t.Errorf("18:00 in Berlin for 2h was stored as %v to %v in %v", event["startTime"], event["endTime"], event["campaign"])
	}
	if venue := event["venue"].(map[string]any); venue["representedCountry"] != "KZ" || venue["kind"] != "VENUE_KIND_EMBASSY" {
		t.Errorf("venue: %v", venue)
	}

	r = org.ok("events", "list", "--campaign", "campaigns/kz-berlin")
	if !strings.Contains(r.stdout, "events/vigil-berlin") || !strings.Contains(r.stdout, "Berlin, DE (embassy of KZ)") || !strings.Contains(r.stdout, "18:00 to 20:00 CEST") {
		t.Errorf("events list table:\n%s", r.stdout)
	}
	if events := org.json("events", "list", "--country", "de")["events"].([]any); len(events) != 1 {
		t.Errorf("events list --json: %d events", len(events))
	}
	if r := org.ok("campaigns", "list"); !strings.Contains(r.stdout, "campaigns/kz-berlin") || !strings.Contains(r.stdout, "LoveIsNotPropaganda") {
		t.Errorf("campaigns list table:\n%s", r.stdout)
	}
	if got := org.json("campaigns", "get", "kz-berlin")["organisers"]; len(got.([]any)) != 1 {
		t.Errorf("campaign organisers: %v", got)
	}

	// Updates change the fields given and nothing else.
	updated := org.json("events", "update", "vigil-berlin", "--capacity", "200")
	if updated["capacity"] != float64(200) || updated["title"] != "Candlelight vigil" || updated["meetingPoint"] == "" {
		t.Errorf("update --capacity 200 gave %v", updated)
	}
	// A new start in the event's own zone, keeping the length given.
	updated = org.json("events", "update", "vigil-berlin", "--start", "2030-05-17 19:00", "--duration", "90m")
	if updated["startTime"] != "2030-05-17T17:00:00Z" || updated["endTime"] != "2030-05-17T18:30:00Z" {
		t.Errorf("update --start --duration gave %v to %v", updated["startTime"], updated["endTime"])
	}
	campaign := org.json("campaigns", "update", "kz-berlin", "--description", "Vigils at the embassy.")
	if campaign["description"] != "Vigils at the embassy." || campaign["title"] != "Berlin stands with Kazakh LGBTI people" {
		t.Errorf("campaigns update gave %v", campaign)
	}
	org.fails(exitConflict, []string{"etag"}, "campaigns", "update", "kz-berlin", "--title", "X", "--etag", "stale")

	r = org.ok("events", "cancel", "events/vigil-berlin", "--reason", "Storm warning")
	if !strings.Contains(r.stdout, "cancelled: Storm warning") {
		t.Errorf("events cancel shows:\n%s", r.stdout)
	}
	org.fails(exitConflict, nil, "events", "update", "vigil-berlin", "--title", "Too late")
	if r := org.ok("events", "list"); strings.Contains(r.stdout, "vigil-berlin") {
		t.Errorf("events list shows the cancelled event without --cancelled:\n%s", r.stdout)
	}
	if r := org.ok("events", "list", "--cancelled"); !strings.Contains(r.stdout, "cancelled") {
		t.Errorf("events list --cancelled:\n%s", r.stdout)
	}

	// Tokens: a second one, listed; revoking the one in use logs the organiser out.
	phone := strings.TrimSpace(org.ok("tokens", "create", "--display-name", "phone", "--expires", "30d").stdout)
	tokens := org.json("tokens", "list")["apiTokens"].([]any)
	if len(tokens) != 2 {
		t.Fatalf("tokens list: %v", tokens)
	}
	var laptop string
	for _, tok := range tokens {
		tok := tok.(map[string]any)
		if tok["displayName"] == "laptop" {
			laptop = tok["name"].(string)
		}
	}
	if r := org.ok("tokens", "list"); !strings.Contains(r.stdout, "phone") || !strings.Contains(r.stdout, "active, expires") {
		t.Errorf("tokens list table:\n%s", r.stdout)
	}
	org.ok("tokens", "revoke", laptop[strings.LastIndex(laptop, "/")+1:]) // by bare ID
	org.fails(exitDenied, []string{"revoked", "rally login"}, "campaigns", "create", "--title", "After revoke")

	// The secrets appear in no output but that of tokens create, once.
	for _, u := range []*user{admin, org} {
		seen := strings.Replace(strings.Replace(u.output.String(), secret, "", 1), phone, "", 1)
		if strings.Contains(seen, secret) || strings.Contains(seen, phone) || strings.Contains(seen, adminToken) {
			t.Errorf("a token appears in output other than tokens create")
		}
	}
	admin.ok("organisers", "get", "berlin-group")
	admin.ok("logout")
	if _, err := os.Stat(admin.loginPath()); !os.IsNotExist(err) {
		t.Errorf("logout left %s: %v", admin.loginPath(), err)
	}
}

// checkPrivate checks that the saved login is readable by its owner only.
func checkPrivate(t *testing.T, path string) {
	t.Helper()
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode().Perm() != 0o600 {
		t.Errorf("%s has mode %v, want 0600", path, fi.Mode().Perm())
	}
	di, err := os.Stat(filepath.Dir(path))
	if err != nil {
		t.Fatal(err)
	}
	if di.Mode().Perm() != 0o700 {
		t.Errorf("%s has mode %v, want 0700", filepath.Dir(path), di.Mode().Perm())
	}
}

// TestExitCodes checks that each kind of failure has its exit code and a message a
// shell user can act on.
func TestExitCodes(t *testing.T) {
	server := startRallyd(t)
	admin := newUser(t, server)
	admin.env = append(admin.env, "RALLY_TOKEN="+adminToken)
	anon := newUser(t, server)

	// Invalid field: exit 2, naming the field and the flag.
	admin.fails(exitUsage, []string{"invalid request", "event.venue.country (--country)"},
		"events", "create", "--title", "Vigil", "--locality", "Berlin", "--country", "XX", "--represents", "KZ",
		"--start", "2030-05-17T16:00:00Z", "--duration", "2h", "--tz", "Europe/Berlin")
	admin.fails(exitUsage, []string{"--start", "tomorrow"}, "events", "create", "--title", "Vigil", "--start", "tomorrow")
	admin.fails(exitUsage, []string{"--kind", "embassy, other"}, "events", "create", "--title", "Vigil", "--kind", "palace")
	admin.fails(exitUsage, []string{"nothing to change"}, "events", "update", "demo")

	// Usage errors: exit 2 with the usage line.
	anon.fails(exitUsage, []string{"too few arguments", "usage: rally events get EVENT"}, "events", "get")
	anon.fails(exitUsage, []string{"flag provided but not defined: -bogus", "rally events list --help"}, "events", "list", "--bogus")
	anon.fails(exitUsage, []string{`unknown command "frobnicate"`}, "frobnicate")
	anon.fails(exitUsage, []string{"name a command"}, "events")
	if r := anon.run("", "--help"); r.code != 0 || !strings.Contains(r.stdout, "EXIT CODES") || !strings.Contains(r.stdout, "69") {
		t.Errorf("rally --help: exit %d\n%s", r.code, r.stdout)
	}
	if r := anon.run("", "events", "update", "x", "-h"); r.code != 0 || !strings.Contains(r.stdout, "--etag") {
		t.Errorf("rally events update x -h: exit %d\n%s", r.code, r.stdout)
	}

	// Not found: exit 4.
	anon.fails(exitNotFound, nil, "events", "get", "no-such-event")

	// Not logged in, or not allowed: exit 3.
	anon.fails(exitDenied, []string{"rally login"}, "campaigns", "create", "--title", "Anonymous")
	token := strings.TrimSpace(admin.ok("tokens", "create", "--organiser", admin.json("organisers", "create", "--display-name", "Org")["name"].(string)).stdout)
	org := newUser(t, server)
	org.run(token, "login")
	org.fails(exitDenied, []string{"not allowed", "the admin manages organisers"}, "organisers", "create", "--display-name", "Mallory")
	org.fails(exitUsage, []string{"no token"}, "login") // nothing on standard input

	// Conflict: exit 5.
	admin.ok("campaigns", "create", "--title", "First", "--id", "taken")
	admin.fails(exitConflict, []string{"--id"}, "campaigns", "create", "--title", "Second", "--id", "taken")

	// A bad token is refused at login and nothing is saved.
	bad := newUser(t, server)
	bad.fails(exitDenied, []string{"not valid", "RALLY_TOKEN"}, "login", "--token", "rly_org_not-a-real-token")
	if r := bad.run("rly_org_not-a-real-token\n", "login"); r.code != exitDenied || !strings.Contains(r.stderr, "pasted the whole token") {
		t.Errorf("login with a bad token on stdin: exit %d\n%s", r.code, r.stderr)
	}
	if _, err := os.Stat(bad.loginPath()); !os.IsNotExist(err) {
		t.Errorf("a refused login was saved: %v", err)
	}

	// Server down: exit 69, naming the address.
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	down := l.Addr().String()
	l.Close()
	anon.fails(exitUnavailable, []string{"is rallyd running at " + down}, "--server", down, "events", "list")
	anon.fails(exitUsage, []string{"--tls-ca"}, "--tls-ca", filepath.Join(t.TempDir(), "missing.pem"), "events", "list")
	org.fails(exitUnavailable, []string{down}, "login", "--server", down, "--token", token)
}

// TestListFollowsPages lists more events than fit on a page.
func TestListFollowsPages(t *testing.T) {
	server := startRallyd(t)
	admin := newUser(t, server)
	admin.ok("login", "--token", adminToken)
	for _, city := range []string{"Berlin", "Paris", "Vienna"} {
		admin.ok("events", "create", "--title", "Vigil in "+city, "--represents", "KZ", "--locality", city,
			"--country", "DE", "--start", "2030-05-17T16:00:00Z", "--end", "2030-05-17T18:00:00Z", "--tz", "Europe/Berlin")
	}
	var list struct{ Events []json.RawMessage }
	r := admin.ok("events", "list", "--page-size", "1", "--json")
	if err := json.Unmarshal([]byte(r.stdout), &list); err != nil || len(list.Events) != 3 {
		t.Errorf("events list --page-size 1: %d events, %v", len(list.Events), err)
	}
	if r := admin.ok("events", "list", "--page-size", "1", "--limit", "2"); strings.Count(r.stdout, "events/") != 2 {
		t.Errorf("events list --limit 2:\n%s", r.stdout)
	}
}

// TestSavedTokenStaysWithItsServer checks that naming another server does not send it the
// saved token.
func TestSavedTokenStaysWithItsServer(t *testing.T) {
	first, second := startRallyd(t), startRallyd(t)
	admin := newUser(t, first)
	admin.ok("login", "--token", adminToken)
	admin.ok("campaigns", "create", "--title", "On the first server")
	admin.fails(exitDenied, []string{"logged in to " + first + ", not to " + second, "rally login --server " + second},
		"--server", second, "campaigns", "create", "--title", "On the second")
}

// TestTLS logs in to a rallyd serving TLS with a self-signed certificate: trusted with
// --tls-ca, refused without it.
func TestTLS(t *testing.T) {
	cert, key := tlstest.SelfSigned(t)
	server := startRallyd(t, "--tls-cert="+cert, "--tls-key="+key)
	u := newUser(t, server)
	u.fails(69, []string{server}, "--token", adminToken, "organisers", "get", "organisers/zz0")
	if r := u.run(adminToken+"\n", "login", "--tls-ca", cert); r.code != 0 {
		t.Fatalf("login over TLS: exit %d: %s", r.code, r.stderr)
	}
	u.ok("organisers", "create", "--display-name", "Alma", "--id", "alma")
	if got := u.json("organisers", "get", "alma"); got["displayName"] != "Alma" {
		t.Fatalf("organiser over TLS: %v", got)
	}
}

// TestEventsWatch runs `rally events watch` and sees a snapshot, then an RSVP counted
// live.
func TestEventsWatch(t *testing.T) {
	server := startRallyd(t, "--rate-limits=rally.v1.RsvpService/CreateRsvp=off")
	admin := newUser(t, server)
	admin.ok("--token", adminToken, "events", "create", "--id", "watched", "--title", "Vigil", "--country", "DE",
		"--locality", "Berlin", "--represents", "KZ", "--start", "2030-05-17 18:00", "--duration", "2h",
		"--tz", "Europe/Berlin", "--visibility", "exact")

	cmd := exec.Command(rallyBin, "--json", "events", "watch", "watched")
	cmd.Env = admin.env
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer cmd.Process.Kill()
	lines := make(chan map[string]any)
	go func() {
		sc := bufio.NewScanner(out)
		for sc.Scan() {
			var m map[string]any
			if json.Unmarshal(sc.Bytes(), &m) == nil {
				lines <- m
			}
		}
		close(lines)
	}()
	next := func() map[string]any {
		t.Helper()
		select {
		case m, ok := <-lines:
			if !ok {
				t.Fatal("rally events watch stopped")
			}
			return m
		case <-time.After(10 * time.Second):
			t.Fatal("no change printed within 10s")
			return nil
		}
	}
	if m := next(); m["kind"] != "CHANGE_KIND_SNAPSHOT" || m["cursor"] == "" {
		t.Fatalf("first line: %v", m)
	}
	participant := newUser(t, server)
	participant.ok("rsvp", "create", "events/watched", "--guests", "1")
	m := next()
	event, _ := m["event"].(map[string]any)
	attendance, _ := event["attendance"].(map[string]any)
	if m["kind"] != "CHANGE_KIND_ATTENDANCE" || attendance["going"] != float64(2) {
		t.Fatalf("after an RSVP: %v", m)
	}
}
