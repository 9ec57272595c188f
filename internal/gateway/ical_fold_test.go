package gateway

import (
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	ics "github.com/arran4/golang-ical"

	rallyv1 "github.com/rallyhq/rally/gen/go/rally/v1"
	"google.golang.org/protobuf/types/known/timestamppb"
)

// The library's folding keeps every line within 75 octets, never cuts a UTF-8
// character, leaves no empty line, and unfolds to the value it was given (checked by
// parsing it back), at every length around the limits, with characters of 1 to 4 octets,
// with and without the spaces it prefers to fold at, and with TEXT's escapes.
func TestFold(t *testing.T) {
	f := &feeds{publicURL: "https://rally.example.org"}
	start := time.Date(2030, 5, 17, 12, 0, 0, 0, time.UTC)
	for _, unit := range []string{"a", "ж", "€", "🏳️‍🌈", "a ", "ж ж,", `\;`} {
		for n := range 120 {
			desc := strings.Repeat(unit, n)
			e := &rallyv1.Event{
				Name: "events/e", Title: "t", Description: desc, TimeZone: "Europe/Berlin",
				StartTime: timestamppb.New(start), EndTime: timestamppb.New(start.Add(time.Hour)),
			}
			out := string(f.calendar("", []*rallyv1.Event{e}, start))
			if !strings.HasSuffix(out, "\r\n") {
				t.Fatalf("%d × %q: no CRLF at the end", n, unit)
			}
			for _, l := range strings.Split(strings.TrimSuffix(out, "\r\n"), "\r\n") {
				if len(l) > 75 || !utf8.ValidString(l) || l == "" || l == " " {
					t.Fatalf("%d × %q: bad line %q", n, unit, l)
				}
			}
			cal, err := ics.ParseCalendar(strings.NewReader(out))
			if err != nil {
				t.Fatalf("%d × %q: %v", n, unit, err)
			}
			var got string
			if p := cal.Events()[0].GetProperty(ics.ComponentPropertyDescription); p != nil {
				got = p.Value
			}
			if got != desc {
				t.Fatalf("%d × %q: DESCRIPTION reads back as %q", n, unit, got)
			}
		}
	}
}

func TestPlainText(t *testing.T) {
	for in, want := range map[string]string{
		`a\b;c,d`:               `a\b;c,d`, // the library escapes these
		"one\r\ntwo\nthree\r":   "one\ntwo\nthree\n",
		"tab\there\x00\x1b\x7f": "tab\there",
		"Қазақ, рус; ok":        "Қазақ, рус; ok",
	} {
		if got := plainText(in); got != want {
			t.Errorf("plainText(%q) = %q, want %q", in, got, want)
		}
	}
}
