package main

import (
	"regexp"
	"strings"
	"testing"
)

// TestCoOrganiserInvitations: `rally campaigns add-organiser`, as docs/cli.md shows it,
// invites; the invitee sees the invitation and joins only by accepting it, with its own
// login; another declines and never joins.
func TestCoOrganiserInvitations(t *testing.T) {
	server := startRallyd(t)
	owner := newOrganiser(t, server, "berlin-group")
	another := newOrganiser(t, server, "another-group")
	third := newOrganiser(t, server, "third-group")
	owner.ok("campaigns", "create", "--title", "Berlin stands with Kazakh LGBTI people", "--id", "kz-berlin")

	r := owner.ok("campaigns", "add-organiser", "kz-berlin", "organisers/another-group")
	if !regexp.MustCompile(`(?m)^Organisers:\s+organisers/berlin-group$`).MatchString(r.stdout) ||
		!regexp.MustCompile(`(?m)^Invited:\s+organisers/another-group$`).MatchString(r.stdout) {
		t.Errorf("add-organiser shows:\n%s", r.stdout)
	}
	if !strings.Contains(r.stderr, "rally campaigns accept-invitation campaigns/kz-berlin") {
		t.Errorf("add-organiser does not say how the invitee joins:\n%s", r.stderr)
	}
	// Not an organiser yet.
	another.fails(exitDenied, nil, "campaigns", "update", "kz-berlin", "--title", "Taken over")

	r = another.ok("campaigns", "invitations")
	if !strings.Contains(r.stdout, "campaigns/kz-berlin") || !strings.Contains(r.stdout, "Berlin stands with Kazakh LGBTI people") ||
		!strings.Contains(r.stdout, "organisers/berlin-group") {
		t.Errorf("campaigns invitations:\n%s", r.stdout)
	}
	if got := third.ok("campaigns", "invitations").stdout; !strings.Contains(got, "(none)") {
		t.Errorf("third-group's invitations:\n%s", got)
	}
	// Only the invitee answers: the owner's accept answers for itself (an organiser
	// already, nothing changes), and the admin's is refused.
	if r := owner.ok("campaigns", "accept-invitation", "kz-berlin"); !regexp.MustCompile(`(?m)^Invited:\s+organisers/another-group$`).MatchString(r.stdout) {
		t.Errorf("the owner's accept-invitation:\n%s", r.stdout)
	}
	newUserAsAdmin(t, server).fails(exitDenied, nil, "campaigns", "accept-invitation", "kz-berlin")

	joined := another.json("campaigns", "accept-invitation", "kz-berlin")
	if got := joined["organisers"].([]any); len(got) != 2 || got[1] != "organisers/another-group" {
		t.Errorf("accept-invitation --json: organisers %v", got)
	}
	another.ok("campaigns", "update", "kz-berlin", "--description", "Vigils every Friday.")
	if got := another.ok("campaigns", "invitations").stdout; !strings.Contains(got, "(none)") {
		t.Errorf("invitations after accepting:\n%s", got)
	}

	owner.ok("campaigns", "add-organiser", "kz-berlin", "third-group")
	if r := third.ok("campaigns", "decline-invitation", "kz-berlin"); !strings.Contains(r.stdout, "Declined the invitation of campaigns/kz-berlin") {
		t.Errorf("decline-invitation shows:\n%s", r.stdout)
	}
	third.fails(exitNotFound, nil, "campaigns", "accept-invitation", "kz-berlin")
	if got := owner.json("campaigns", "get", "kz-berlin"); len(got["organisers"].([]any)) != 2 || len(asList(got["invitations"])) != 0 {
		t.Errorf("the campaign at the end: %v", got)
	}
	// Withdrawn before an answer.
	owner.ok("campaigns", "add-organiser", "kz-berlin", "third-group")
	if r := owner.ok("campaigns", "remove-organiser", "kz-berlin", "third-group"); strings.Contains(r.stdout, "Invited:") {
		t.Errorf("remove-organiser left the invitation:\n%s", r.stdout)
	}
	third.fails(exitNotFound, nil, "campaigns", "accept-invitation", "kz-berlin")
	// A stranger may not invite, whether the organiser exists or not.
	third.fails(exitDenied, nil, "campaigns", "add-organiser", "kz-berlin", "another-group")
	third.fails(exitDenied, nil, "campaigns", "add-organiser", "kz-berlin", "no-such-group")
}

func asList(v any) []any {
	l, _ := v.([]any)
	return l
}
