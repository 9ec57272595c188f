package names

import (
	"regexp"
	"strings"
	"testing"
)

// The parsers accept exactly what the protos' patterns do (proto/rally/v1: the name
// fields' buf.validate patterns).
func TestParsersMatchTheProtoPatterns(t *testing.T) {
	patterns := map[string]func(string) bool{
		`^campaigns/[a-z0-9][a-z0-9-]{0,62}$`:                   func(s string) bool { _, ok := Campaign(s); return ok },
		`^events/[a-z0-9][a-z0-9-]{0,62}$`:                      func(s string) bool { _, ok := Event(s); return ok },
		`^tasks/[a-z0-9][a-z0-9-]{0,62}$`:                       func(s string) bool { _, ok := Task(s); return ok },
		`^organisers/[a-z0-9][a-z0-9-]{0,62}$`:                  func(s string) bool { _, ok := Organiser(s); return ok },
		`^events/[a-z0-9][a-z0-9-]{0,62}/rsvps/[a-z0-9]{1,64}$`: func(s string) bool { _, _, ok := RSVP(s); return ok },
		`^tasks/[a-z0-9][a-z0-9-]{0,62}/claims/[a-z0-9]{1,64}$`: func(s string) bool { _, _, ok := Claim(s); return ok },
	}
	ids := []string{"", "a", "-a", "a-", "abc-123", "A", "ab_c", "a/b", "a{b}", "a:b", "a|b", "é", strings.Repeat("a", 63), strings.Repeat("a", 64), strings.Repeat("a", 65)}
	for pattern, parse := range patterns {
		re := regexp.MustCompile(pattern)
		for _, a := range ids {
			for _, b := range ids {
				for _, name := range []string{"campaigns/" + a, "events/" + a, "tasks/" + a, "organisers/" + a,
					"events/" + a + "/rsvps/" + b, "tasks/" + a + "/claims/" + b, "events/" + a + "/rsvps/" + b + "/x", "/events/" + a} {
					if got, want := parse(name), re.MatchString(name); got != want {
						t.Errorf("%s on %q: %v, want %v", pattern, name, got, want)
					}
				}
			}
		}
	}
}

func TestBuildAndSplit(t *testing.T) {
	r := RSVPName(EventName("vigil-berlin"), "abc123")
	if e, id, ok := RSVP(r); !ok || e != "vigil-berlin" || id != "abc123" || EventOfRSVP(r) != "events/vigil-berlin" || ID(r) != "abc123" {
		t.Errorf("RSVP(%q) = %q, %q, %v", r, e, id, ok)
	}
	c := ClaimName(TaskName("share"), "c1")
	if task, id, ok := Claim(c); !ok || task != "share" || id != "c1" || TaskOfClaim(c) != "tasks/share" {
		t.Errorf("Claim(%q) = %q, %q, %v", c, task, id, ok)
	}
	if EventOfRSVP("events/x") != "" || TaskOfClaim("tasks/x") != "" {
		t.Error("the parent of a name that is not a child's")
	}
}
