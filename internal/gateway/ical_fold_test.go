package gateway

import (
	"strings"
	"testing"
	"unicode/utf8"
)

// Folding keeps every line within 75 octets, never cuts a UTF-8 character, and unfolds
// (RFC 5545: drop each CRLF followed by a space) to the line it was given, at every
// length around the limits and with characters of 1 to 4 octets.
func TestFold(t *testing.T) {
	for _, unit := range []string{"a", "ж", "€", "🏳️‍🌈"} {
		for n := range 200 {
			in := "DESCRIPTION:" + strings.Repeat(unit, n)
			var c icalWriter
			c.line(in)
			out := c.String()
			if !strings.HasSuffix(out, "\r\n") {
				t.Fatalf("%q: no CRLF at the end", out)
			}
			for _, l := range strings.Split(strings.TrimSuffix(out, "\r\n"), "\r\n") {
				if len(l) > 75 || !utf8.ValidString(l) || l == "" || l == " " {
					t.Fatalf("%d × %q: bad line %q", n, unit, l)
				}
			}
			if got := strings.ReplaceAll(strings.TrimSuffix(out, "\r\n"), "\r\n ", ""); got != in {
				t.Fatalf("%d × %q: unfolds to %q", n, unit, got)
			}
		}
	}
}

func TestICalText(t *testing.T) {
	for in, want := range map[string]string{
		`a\b;c,d`:               `a\\b\;c\,d`,
		"one\r\ntwo\nthree\r":   `one\ntwo\nthree\n`,
		"tab\there\x00\x1b\x7f": "tab\there",
		"Қазақ, рус; ok":        `Қазақ\, рус\; ok`,
	} {
		if got := icalText(in); got != want {
			t.Errorf("icalText(%q) = %q, want %q", in, got, want)
		}
	}
}
