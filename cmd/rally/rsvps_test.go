package main

import (
	"encoding/json"
	"net"
	"os"
	"regexp"
	"strings"
	"testing"
)

// noCreateLimit lifts rallyd's limit on RSVPs per address: every participant of the
// tests comes from 127.0.0.1.
const noCreateLimit = "--rate-limits=rally.v1.RsvpService/CreateRsvp=off"

// newOrganiser returns an organiser logged in to server with the ID id.
func newOrganiser(t *testing.T, server, id string) *user {
	t.Helper()
	admin := newUserAsAdmin(t, server)
	admin.ok("organisers", "create", "--display-name", "Group "+id, "--id", id)
	token := admin.ok("tokens", "create", "--organiser", id).stdout
	org := newUser(t, server)
	if r := org.run(token, "login"); r.code != 0 {
		t.Fatalf("organiser login: exit %d\n%s", r.code, r.stderr)
	}
	return org
}

// newUserAsAdmin returns a user who acts with the admin token.
func newUserAsAdmin(t *testing.T, server string) *user {
	u := newUser(t, server)
	u.env = append(u.env, "RALLY_TOKEN="+adminToken)
	return u
}

// createEvent has org create an event on 17 May 2030 in Berlin, with flags added.
func createEvent(org *user, id string, flags ...string) {
	org.ok(append([]string{"events", "create", "--title", "Candlelight vigil", "--represents", "KZ", "--locality", "Berlin",
		"--country", "DE", "--start", "2030-05-17T16:00:00Z", "--duration", "2h", "--tz", "Europe/Berlin", "--id", id}, flags...)...)
}

var (
	rsvpNameLine = regexp.MustCompile(`(?m)^Name:\s+(events/vigil/rsvps/[a-z0-9]+)$`)
	manageToken  = regexp.MustCompile(`rly_rsvp_[A-Za-z0-9_-]{43}`)
)

// TestRsvpWorkflow is the life of an event's RSVPs: participants without accounts take
// its one place and the waitlist, the organiser lists them, the first cancels and the
// second moves up and is checked in.
func TestRsvpWorkflow(t *testing.T) {
	server := startRallyd(t, noCreateLimit)
	org := newOrganiser(t, server, "berlin-group")
	createEvent(org, "vigil", "--capacity", "1")

	// A takes the place. The token is shown once, on stderr, and saved for A alone.
	a := newUser(t, server)
	r := a.ok("rsvp", "create", "vigil", "--name", "Robin", "--contact", "signal:robin.01")
	m := rsvpNameLine.FindStringSubmatch(r.stdout)
	if m == nil || !regexp.MustCompile(`(?m)^State:\s+going$`).MatchString(r.stdout) {
		t.Fatalf("rsvp create shows:\n%s", r.stdout)
	}
	nameA, tokenA := m[1], manageToken.FindString(r.stderr)
	if tokenA == "" || !strings.Contains(r.stderr, "only way to manage this RSVP") || manageToken.MatchString(r.stdout) {
		t.Errorf("rsvp create: the token is not on stderr alone, with its note:\nstdout:\n%s\nstderr:\n%s", r.stdout, r.stderr)
	}
	checkSaved(t, a.rsvpsPath(), nameA, tokenA)
	got := a.json("rsvp", "get", nameA) // no --token: the saved one
	if got["state"] != "RSVP_STATE_GOING" || got["displayName"] != "Robin" || got["contact"] != nil {
		t.Errorf("rsvp get by its holder: %v", got)
	}

	// B is waitlisted; with --json the token is in the API's response on stdout.
	b := newUser(t, server)
	resp := b.json("rsvp", "create", "events/vigil", "--name", "Sam", "--contact", "sam@example.org")
	rsvpB := resp["rsvp"].(map[string]any)
	nameB, tokenB := rsvpB["name"].(string), resp["manageToken"].(string)
	if rsvpB["state"] != "RSVP_STATE_WAITLISTED" || rsvpB["waitlistPosition"] != float64(1) || !manageToken.MatchString(tokenB) {
		t.Errorf("rsvp create on a full event: %v", resp)
	}
	if r := b.ok("rsvp", "get", nameB); !strings.Contains(r.stdout, "waitlisted, position 1") {
		t.Errorf("rsvp get of a waitlisted RSVP:\n%s", r.stdout)
	}

	// The organiser sees both, with their contacts; each read is in the audit log.
	r = org.ok("rsvps", "list", "vigil")
	for _, want := range []string{nameA, nameB, "signal:robin.01", "sam@example.org", "going", "waitlisted", "CONTACT"} {
		if !strings.Contains(r.stdout, want) {
			t.Errorf("rsvps list lacks %q:\n%s", want, r.stdout)
		}
	}
	if r := org.ok("rsvps", "list", "events/vigil", "--state", "waitlisted"); !strings.Contains(r.stdout, nameB) || strings.Contains(r.stdout, nameA) {
		t.Errorf("rsvps list --state waitlisted:\n%s", r.stdout)
	}
	if r := org.ok("rsvps", "audit", "vigil"); strings.Count(r.stdout, "organisers/berlin-group  ListRsvps") != 2 {
		t.Errorf("rsvps audit after two lists:\n%s", r.stdout)
	}
	org.fails(exitUsage, []string{"--state", "going, waitlisted"}, "rsvps", "list", "vigil", "--state", "maybe")

	// A gives the place up; B moves up and is checked in.
	if r := a.ok("rsvp", "cancel", nameA); !regexp.MustCompile(`(?m)^State:\s+cancelled$`).MatchString(r.stdout) {
		t.Errorf("rsvp cancel shows:\n%s", r.stdout)
	}
	if got := b.json("rsvp", "get", nameB); got["state"] != "RSVP_STATE_GOING" {
		t.Errorf("after A cancelled, B is %v", got["state"])
	}
	if r := org.ok("rsvps", "check-in", nameB); !regexp.MustCompile(`(?m)^Checked in:\s+yes$`).MatchString(r.stdout) {
		t.Errorf("rsvps check-in shows:\n%s", r.stdout)
	}

	// Updates change the fields given; more guests than places is a conflict.
	if got := b.json("rsvp", "update", nameB, "--name", "Sasha"); got["displayName"] != "Sasha" || got["checkedIn"] != true {
		t.Errorf("rsvp update --name: %v", got)
	}
	b.fails(exitConflict, []string{"can never fit"}, "rsvp", "update", nameB, "--guests", "1")
	b.fails(exitUsage, []string{"nothing to change", "--name, --contact, --guests"}, "rsvp", "update", nameB)

	// An organiser's own RSVP is managed with its manage token, not the login, which
	// serves only for RSVPs without a saved token.
	resp = org.json("rsvp", "create", "vigil", "--contact", "org@example.org")
	if got := org.json("rsvp", "get", resp["rsvp"].(map[string]any)["name"].(string)); got["contact"] != nil {
		t.Errorf("rsvp get of the organiser's own RSVP used the login: %v", got)
	}
	if got := org.json("rsvp", "get", nameA); got["contact"] != "signal:robin.01" {
		t.Errorf("rsvp get by the organiser: %v", got)
	}

	// Nobody else learns that an RSVP exists, whatever token they hold.
	c := newUser(t, server)
	tokenC := c.json("rsvp", "create", "vigil")["manageToken"].(string)
	c.fails(exitNotFound, []string{"not found", "its own manage token", "--token or RALLY_TOKEN"}, "rsvp", "get", nameA, "--token", tokenC)
	c.fails(exitDenied, []string{"no manage token is saved for " + nameA}, "rsvp", "cancel", nameA)

	// Forgotten, the token is gone from this computer.
	checkForget(a, "rsvp", nameA, tokenA, a.rsvpsPath())
	a.fails(exitDenied, []string{"no manage token is saved"}, "rsvp", "get", nameA)

	// Each token was printed once, when its RSVP was made.
	checkPrintedOnce(t, map[string]*user{tokenA: a, tokenB: b}, org)
}

// TestRsvpErrors checks the refusals a participant can meet.
func TestRsvpErrors(t *testing.T) {
	server := startRallyd(t, noCreateLimit)
	org := newOrganiser(t, server, "berlin-group")
	createEvent(org, "vigil")
	createEvent(org, "called-off")
	org.ok("events", "cancel", "called-off")
	p := newUser(t, server)

	p.fails(exitConflict, []string{"cancelled or over"}, "rsvp", "create", "called-off")
	p.fails(exitUsage, []string{"invalid request", "rsvp.guests (--guests)", "at most 5"}, "rsvp", "create", "vigil", "--guests", "9")
	p.fails(exitUsage, []string{"--guests 9999999999: too large"}, "rsvp", "create", "vigil", "--guests", "9999999999")
	p.fails(exitUsage, []string{"request_id (--request-id)"}, "rsvp", "create", "vigil", "--request-id", "short")
	p.fails(exitNotFound, nil, "rsvp", "create", "no-such-event")
	p.fails(exitUsage, []string{"give its full name, events/EVENT/rsvps/ID", "usage: rally rsvp get RSVP"}, "rsvp", "get", "abc123")
	p.fails(exitUsage, []string{"events/EVENT/rsvps/ID"}, "rsvps", "check-in", "events/vigil")
	if _, err := os.Stat(p.rsvpsPath()); !os.IsNotExist(err) {
		t.Errorf("failed creates saved something: %v", err)
	}

	// Participants may not read the attendee list.
	p.fails(exitDenied, []string{"rally login"}, "rsvps", "list", "vigil")
	newOrganiser(t, server, "other-group").fails(exitDenied, []string{"only its organisers may"}, "rsvps", "audit", "vigil")

	// The same request ID gives the same RSVP and token, counted once.
	first := p.json("rsvp", "create", "vigil", "--request-id", "retry-0123456789abcdef")
	again := p.json("rsvp", "create", "vigil", "--request-id", "retry-0123456789abcdef")
	if first["manageToken"] != again["manageToken"] || first["rsvp"].(map[string]any)["name"] != again["rsvp"].(map[string]any)["name"] {
		t.Errorf("a repeated request ID gave a second RSVP:\n%v\n%v", first, again)
	}
	var saved savedTokens
	data, _ := os.ReadFile(p.rsvpsPath())
	if err := json.Unmarshal(data, &saved); err != nil || len(saved["rsvps"]) != 1 || saved["rsvps"][0].Token != first["manageToken"] || saved["rsvps"][0].Server != server {
		t.Errorf("rsvps.json after a repeated create: %v\n%s", err, data)
	}

	// A server that does not answer: one retry, then how to retry safely.
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	down := l.Addr().String()
	l.Close()
	r := p.fails(exitUnavailable, []string{"trying once more", "is rallyd running at " + down}, "--server", down, "rsvp", "create", "vigil")
	if !regexp.MustCompile(`--request-id [0-9a-f]{32} `).MatchString(r.stderr) {
		t.Errorf("no random request ID to retry with:\n%s", r.stderr)
	}
}
