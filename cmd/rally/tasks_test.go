package main

import (
	"os"
	"regexp"
	"strings"
	"testing"
)

// noLimits lifts rallyd's rate limits: every user of the tests comes from 127.0.0.1.
const noLimits = "--rate-limits=read=off;write=off"

var (
	taskNameLine  = regexp.MustCompile(`(?m)^Name:\s+(tasks/[a-z0-9-]+)$`)
	claimNameLine = regexp.MustCompile(`(?m)^Name:\s+(tasks/[a-z0-9-]+/claims/[a-z0-9]+)$`)
	claimToken    = regexp.MustCompile(`rly_claim_[A-Za-z0-9_-]+`)
)

// createTask has org create a share-post task in the campaign kz-berlin, with flags added.
func createTask(org *user, flags ...string) result {
	org.t.Helper()
	return org.ok(append([]string{"tasks", "create", "--campaign", "kz-berlin", "--kind", "share-post",
		"--title", "Share the fact-checked statement", "--deadline", "2030-06-01T00:00:00Z"}, flags...)...)
}

// claim has u claim task, and returns the claim's name and token.
func claim(t *testing.T, u *user, task string) (name, token string) {
	t.Helper()
	r := u.ok("tasks", "claim", task, "--name", "Robin")
	m := claimNameLine.FindStringSubmatch(r.stdout)
	token = claimToken.FindString(r.stderr)
	if m == nil || token == "" || claimToken.MatchString(r.stdout) || !strings.Contains(r.stderr, "only way to complete or release this claim") {
		t.Fatalf("tasks claim: the claim on stdout, its token on stderr alone with its note:\nstdout:\n%s\nstderr:\n%s", r.stdout, r.stderr)
	}
	return m[1], token
}

// TestTaskWorkflow is the life of a task: an organiser creates it with one place,
// volunteers without accounts claim it in turn, complete it or give it back, and the
// organiser closes it.
func TestTaskWorkflow(t *testing.T) {
	server := startRallyd(t, noLimits)
	org := newOrganiser(t, server, "berlin-group")
	org.ok("campaigns", "create", "--title", "Berlin stands with Kazakh LGBTI people", "--id", "kz-berlin")

	r := createTask(org, "--instructions", "Share it with a link to the source.",
		"--template", "en=Love is not propaganda. #LoveIsNotPropaganda", "--template", "de-at=Liebe ist keine Propaganda.",
		"--source", "https://www.hrw.org/news/2030/kazakhstan|Kazakhstan: Law silences LGBT people|Human Rights Watch",
		"--target", "500", "--max-claims", "1", "--claim-ttl", "48h")
	m := taskNameLine.FindStringSubmatch(r.stdout)
	if m == nil {
		t.Fatalf("tasks create shows:\n%s", r.stdout)
	}
	task := m[1]
	id := strings.TrimPrefix(task, "tasks/")
	for _, want := range []string{"share-post", "open", "0 claimed, 0 completed of 500 hoped for", "at most 1 claimed at once",
		"48h", "de-AT: Liebe ist keine Propaganda.", "Human Rights Watch", "https://www.hrw.org/news/2030/kazakhstan", "2030-06-01 00:00 UTC"} {
		if !strings.Contains(r.stdout, want) {
			t.Errorf("tasks create output lacks %q:\n%s", want, r.stdout)
		}
	}

	// Anyone lists and reads it; filters combine.
	anon := newUser(t, server)
	r = anon.ok("tasks", "list", "--campaign", "kz-berlin")
	for _, want := range []string{"CLAIMED/COMPLETED OF TARGET", task, "share-post", "2030-06-01 00:00 UTC", "0/0 of 500", "open", "Share the fact-checked statement"} {
		if !strings.Contains(r.stdout, want) {
			t.Errorf("tasks list lacks %q:\n%s", want, r.stdout)
		}
	}
	if r := anon.ok("tasks", "list", "--language", "de-at", "--kind", "share-post", "--open"); !strings.Contains(r.stdout, task) {
		t.Errorf("tasks list --language de-at --kind share-post --open:\n%s", r.stdout)
	}
	if r := anon.ok("tasks", "list", "--language", "ru"); strings.TrimSpace(r.stdout) != "(none)" {
		t.Errorf("tasks list --language ru:\n%s", r.stdout)
	}
	got := anon.json("tasks", "get", id) // a bare ID
	if got["name"] != task || len(got["messageTemplates"].([]any)) != 2 || len(got["sources"].([]any)) != 1 || got["maxConcurrentClaims"] != float64(1) {
		t.Errorf("tasks get --json: %v", got)
	}

	// A takes the one place; the token is shown once, on stderr, and saved for A alone.
	a := newUser(t, server)
	claimA, tokenA := claim(t, a, id)
	checkSaved(t, a.claimsPath(), claimA, tokenA)

	// B finds every place taken, and saves nothing.
	b := newUser(t, server)
	b.fails(exitConflict, []string{"every place on this task is taken"}, "tasks", "claim", task)
	if _, err := os.Stat(b.claimsPath()); !os.IsNotExist(err) {
		t.Errorf("a refused claim saved something: %v", err)
	}

	// A completes, with the saved token; completing again counts once.
	r = a.ok("tasks", "complete", claimA, "--proof", "https://social.example/@robin/1", "--note", "Shared in two groups")
	if !regexp.MustCompile(`(?m)^State:\s+completed$`).MatchString(r.stdout) {
		t.Errorf("tasks complete shows:\n%s", r.stdout)
	}
	if r := org.ok("tasks", "get", task); !strings.Contains(r.stdout, "0 claimed, 1 completed of 500") {
		t.Errorf("tasks get after a completion:\n%s", r.stdout)
	}
	a.ok("tasks", "complete", claimA)
	if p := org.json("tasks", "get", task)["progress"].(map[string]any); p["completed"] != float64(1) || p["claimed"] != nil {
		t.Errorf("progress after completing twice: %v", p)
	}

	// The place is free again: B claims it, and gives it back.
	claimB, tokenB := claim(t, b, task)
	if r := b.ok("tasks", "release", claimB); !regexp.MustCompile(`(?m)^State:\s+released$`).MatchString(r.stdout) {
		t.Errorf("tasks release shows:\n%s", r.stdout)
	}

	// Nobody else learns that a claim exists, whatever token they hold.
	b.fails(exitNotFound, []string{"a claim is found only with its own claim token", "--token or RALLY_TOKEN"}, "tasks", "complete", claimA, "--token", tokenB)
	anon.fails(exitDenied, []string{"no claim token is saved for " + claimA}, "tasks", "release", claimA)
	anon.fails(exitUsage, []string{"give its full name, tasks/TASK/claims/ID", "usage: rally tasks complete CLAIM"}, "tasks", "complete", "abc")

	// Closed, the task takes no more claims.
	if r := org.ok("tasks", "close", id); !regexp.MustCompile(`(?m)^State:\s+closed$`).MatchString(r.stdout) {
		t.Errorf("tasks close shows:\n%s", r.stdout)
	}
	newUser(t, server).fails(exitConflict, []string{"closed"}, "tasks", "claim", task)
	if r := anon.ok("tasks", "list", "--open"); strings.Contains(r.stdout, task) {
		t.Errorf("tasks list --open shows the closed task:\n%s", r.stdout)
	}

	// Forgotten, the token is gone from this computer.
	checkForget(a, "tasks", claimA, tokenA, a.claimsPath())
	a.fails(exitDenied, []string{"no claim token is saved"}, "tasks", "complete", claimA)

	// Each token was printed once, when its claim was made.
	checkPrintedOnce(t, map[string]*user{tokenA: a, tokenB: b}, org)
}

// TestTaskErrors checks the refusals an organiser and a volunteer can meet.
func TestTaskErrors(t *testing.T) {
	server := startRallyd(t, noLimits)
	org := newOrganiser(t, server, "berlin-group")
	org.ok("campaigns", "create", "--title", "Berlin stands with Kazakh LGBTI people", "--id", "kz-berlin")

	// Bad fields: exit 2, naming the field and the flag that sets it.
	org.fails(exitUsage, []string{"invalid request", "task.sources[0].url (--source)", "https://"},
		"tasks", "create", "--campaign", "kz-berlin", "--kind", "share-post", "--title", "T", "--deadline", "2030-06-01T00:00:00Z",
		"--source", "http://example.org/report|Report|Example Watch")
	org.fails(exitUsage, []string{"task.message_templates[1].language_code (--template)", "BCP 47"},
		"tasks", "create", "--campaign", "kz-berlin", "--kind", "share-post", "--title", "T", "--deadline", "2030-06-01T00:00:00Z",
		"--template", "en=Hello", "--template", "xx=Hello")
	org.fails(exitUsage, []string{"task.deadline (--deadline)"}, "tasks", "create", "--campaign", "kz-berlin", "--kind", "other", "--title", "T")
	org.fails(exitUsage, []string{"--kind", "share-post, sign-petition"}, "tasks", "create", "--campaign", "kz-berlin", "--kind", "tweet")
	org.fails(exitUsage, []string{"--source", "URL|TITLE|PUBLISHER"}, "tasks", "create", "--campaign", "kz-berlin", "--kind", "other", "--source", "https://example.org")
	org.fails(exitUsage, []string{"--template", "LANG=TEXT"}, "tasks", "create", "--campaign", "kz-berlin", "--kind", "other", "--template", "Hello")
	org.fails(exitUsage, []string{"--claim-ttl"}, "tasks", "create", "--campaign", "kz-berlin", "--kind", "other", "--claim-ttl", "soon")
	org.fails(exitUsage, []string{"--campaign is required"}, "tasks", "create", "--kind", "other")
	org.fails(exitUsage, []string{"language_code (--language)"}, "tasks", "list", "--language", "xx")

	// Only the campaign's organisers create and close its tasks.
	createTask(org)
	task := org.json("tasks", "list")["tasks"].([]any)[0].(map[string]any)["name"].(string)
	other := newOrganiser(t, server, "other-group")
	other.fails(exitDenied, []string{"only its organisers may"}, "tasks", "create", "--campaign", "kz-berlin", "--kind", "other",
		"--title", "T", "--deadline", "2030-06-01T00:00:00Z")
	other.fails(exitDenied, nil, "tasks", "close", task)
	v := newUser(t, server)
	v.fails(exitNotFound, nil, "tasks", "claim", "no-such-task")
	v.fails(exitUsage, []string{"is not the name of one of the tasks"}, "tasks", "claim", "events/vigil")
	v.fails(exitUsage, []string{"request_id (--request-id)"}, "tasks", "claim", task, "--request-id", "short")

	// The same request ID gives the same claim and token, counted once.
	first := v.json("tasks", "claim", task, "--request-id", "retry-0123456789abcdef")
	again := v.json("tasks", "claim", task, "--request-id", "retry-0123456789abcdef")
	if first["claimToken"] != again["claimToken"] || first["claim"].(map[string]any)["name"] != again["claim"].(map[string]any)["name"] {
		t.Errorf("a repeated request ID gave a second claim:\n%v\n%v", first, again)
	}
	if p := org.json("tasks", "get", task)["progress"].(map[string]any); p["claimed"] != float64(1) {
		t.Errorf("progress after a repeated claim: %v", p)
	}
	// An organiser's token works on any claim of the campaign's tasks.
	name := first["claim"].(map[string]any)["name"].(string)
	if got := org.json("tasks", "release", name); got["state"] != "CLAIM_STATE_RELEASED" {
		t.Errorf("tasks release by the organiser: %v", got)
	}
	v.fails(exitConflict, []string{"released or has expired"}, "tasks", "complete", name)
}
