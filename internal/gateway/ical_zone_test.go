package gateway

import (
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	ics "github.com/arran4/golang-ical"
	"google.golang.org/protobuf/types/known/timestamppb"

	rallyv1 "github.com/rallyhq/rally/gen/go/rally/v1"
)

// A VTIMEZONE read back by its own rules (the observance in force at an instant is the
// last whose onset, DTSTART in TZOFFSETFROM's time, is not after it; its offset is
// TZOFFSETTO) gives, at every hour of the years it covers, the offset Go's tzdata gives.
// The zones are chosen for their quirks: DST north and south, a half-hour DST (Lord
// Howe), offsets in quarter and half hours, a zone that changed its standard offset
// (Almaty, 2024), one that dropped DST (São Paulo, 2019), and UTC, which has no
// transition at all.
func TestVTimezone(t *testing.T) {
	for _, tc := range []struct {
		zone     string
		from, to time.Time
	}{
		{"Europe/Berlin", day(2030, 5, 17), day(2030, 5, 17)},
		{"Europe/Berlin", day(2029, 12, 31), day(2031, 1, 2)},
		{"Asia/Almaty", day(2023, 6, 1), day(2025, 6, 1)},
		{"America/Sao_Paulo", day(2017, 1, 1), day(2021, 1, 1)},
		{"Australia/Lord_Howe", day(2030, 1, 1), day(2030, 12, 1)},
		{"America/St_Johns", day(2030, 3, 1), day(2030, 3, 1)},
		{"Asia/Kathmandu", day(2030, 3, 1), day(2030, 3, 1)},
		{"Europe/Oslo", day(2040, 10, 1), day(2041, 4, 1)},     // beyond the tzdata table: its rule string
		{"America/New_York", day(2035, 6, 1), day(2041, 6, 1)}, // across the table's end
		{"Australia/Sydney", day(2038, 6, 1), day(2042, 6, 1)}, // southern DST past it
		{"America/Santiago", day(2036, 1, 1), day(2039, 1, 1)}, // rules on odd Saturdays
		{"UTC", day(2030, 5, 17), day(2030, 5, 17)},
	} {
		loc, err := time.LoadLocation(tc.zone)
		if err != nil {
			t.Fatal(err)
		}
		tz := vtimezone(tc.zone, loc, tc.from, tc.to)
		if tz == nil {
			t.Fatalf("%s: no VTIMEZONE", tc.zone)
		}
		if got := tz.GetProperty(ics.ComponentPropertyTzid); got == nil || got.Value != tc.zone {
			t.Errorf("%s: TZID %v", tc.zone, got)
		}
		type onset struct {
			at     time.Time
			offset int
			dst    bool
			name   string
		}
		var onsets []onset
		for _, c := range tz.Components {
			var base ics.ComponentBase
			var dst bool
			switch o := c.(type) {
			case *ics.Standard:
				base = o.ComponentBase
			case *ics.Daylight:
				base, dst = o.ComponentBase, true
			default:
				t.Fatalf("%s: a %T in the VTIMEZONE", tc.zone, c)
			}
			get := func(p ics.Property) string {
				v := base.GetProperty(ics.ComponentProperty(p))
				if v == nil {
					t.Fatalf("%s: an observance without %s", tc.zone, p)
				}
				return v.Value
			}
			local, err := time.Parse("20060102T150405", get(ics.PropertyDtstart))
			if err != nil {
				t.Fatal(err)
			}
			from, to := parseOffset(t, get(ics.PropertyTzoffsetfrom)), parseOffset(t, get(ics.PropertyTzoffsetto))
			onsets = append(onsets, onset{local.Add(-time.Duration(from) * time.Second), to, dst, get(ics.PropertyTzname)})
		}
		if !sort.SliceIsSorted(onsets, func(i, j int) bool { return onsets[i].at.Before(onsets[j].at) }) {
			t.Errorf("%s: observances out of order", tc.zone)
		}
		start := time.Date(tc.from.Year(), 1, 1, 0, 0, 0, 0, time.UTC).Add(-14 * time.Hour)
		end := time.Date(tc.to.Year()+1, 1, 1, 0, 0, 0, 0, time.UTC).Add(14 * time.Hour)
		for at := start; at.Before(end); at = at.Add(time.Hour) {
			i := sort.Search(len(onsets), func(i int) bool { return onsets[i].at.After(at) }) - 1
			if i < 0 {
				t.Fatalf("%s: nothing in force at %v", tc.zone, at)
			}
			name, offset := at.In(loc).Zone()
			if o := onsets[i]; o.offset != offset || o.name != name || o.dst != at.In(loc).IsDST() {
				t.Fatalf("%s at %v: %+v in force, want %s %d (DST %v)", tc.zone, at, o, name, offset, at.In(loc).IsDST())
			}
		}
	}
}

// A zone over more years than maxObservances covers has no VTIMEZONE: its feed writes
// UTC times and names the zone in X-WR-TIMEZONE.
func TestVTimezoneTooLong(t *testing.T) {
	loc, _ := time.LoadLocation("Europe/Berlin")
	if tz := vtimezone("Europe/Berlin", loc, day(1800, 1, 1), day(2300, 1, 1)); tz != nil {
		t.Error("a VTIMEZONE of five centuries")
	}
}

func day(y int, m time.Month, d int) time.Time { return time.Date(y, m, d, 12, 0, 0, 0, time.UTC) }

func parseOffset(t *testing.T, s string) int {
	t.Helper()
	if len(s) != 5 && len(s) != 7 || (s[0] != '+' && s[0] != '-') {
		t.Fatalf("UTC-OFFSET %q", s)
	}
	n := 0
	for i, unit := range []int{3600, 60, 1} {
		if 1+2*i+2 > len(s) {
			break
		}
		v, err := strconv.Atoi(s[1+2*i : 3+2*i])
		if err != nil {
			t.Fatalf("UTC-OFFSET %q", s)
		}
		n += v * unit
	}
	if strings.HasPrefix(s, "-") {
		n = -n
	}
	return n
}

func TestUTCOffset(t *testing.T) {
	for in, want := range map[int]string{0: "+0000", 3600: "+0100", -12600: "-0330", 20700: "+0545", 3208: "+005328", -1: "-000001"} {
		if got := utcOffset(in); got != want {
			t.Errorf("utcOffset(%d) = %q, want %q", in, got, want)
		}
	}
}

// A campaign's events in several zones: one VTIMEZONE each, every event's times in its
// own zone, read back by the parser to the same instants. A zone that cannot be built
// (unknown to this tzdata) writes UTC, and, being the feed's only zone, is named in
// X-WR-TIMEZONE; so is one whose events span more than maxObservances allow.
func TestFeedZones(t *testing.T) {
	f := &feeds{publicURL: "https://rally.example.org"}
	at := func(id, zone string, start time.Time) *rallyv1.Event {
		return &rallyv1.Event{
			Name: "events/" + id, Title: id, TimeZone: zone,
			StartTime: timestamppb.New(start), EndTime: timestamppb.New(start.Add(2 * time.Hour)),
		}
	}
	parse := func(events ...*rallyv1.Event) *ics.Calendar {
		t.Helper()
		cal, err := ics.ParseCalendar(strings.NewReader(string(f.calendar("c", events, time.Now()))))
		if err != nil {
			t.Fatal(err)
		}
		return cal
	}
	calProp := func(cal *ics.Calendar, name string) string {
		for _, p := range cal.CalendarProperties {
			if p.IANAToken == name {
				return p.Value
			}
		}
		return ""
	}

	events := []*rallyv1.Event{
		at("berlin", "Europe/Berlin", day(2030, 5, 17)),
		at("almaty", "Asia/Almaty", day(2030, 12, 16)),
		at("stjohns", "America/St_Johns", day(2031, 1, 2)),
		at("berlin-winter", "Europe/Berlin", day(2031, 2, 1)),
	}
	cal := parse(events...)
	var zones []string
	for _, tz := range cal.Timezones() {
		zones = append(zones, tz.GetProperty(ics.ComponentPropertyTzid).Value)
	}
	if strings.Join(zones, " ") != "America/St_Johns Asia/Almaty Europe/Berlin" {
		t.Errorf("VTIMEZONEs %v", zones)
	}
	if v := calProp(cal, "X-WR-TIMEZONE"); v != "" {
		t.Errorf("X-WR-TIMEZONE %q in a feed with VTIMEZONEs", v)
	}
	for i, v := range cal.Events() {
		e := events[i]
		p := v.GetProperty(ics.ComponentPropertyDtStart)
		if p == nil || strings.HasSuffix(p.Value, "Z") || strings.Join(p.ICalParameters["TZID"], "") != e.GetTimeZone() {
			t.Errorf("%s: DTSTART %+v, want a local time in %s", e.GetTitle(), p, e.GetTimeZone())
		}
		if got, err := v.GetStartAt(); err != nil || !got.Equal(e.GetStartTime().AsTime()) {
			t.Errorf("%s: DTSTART reads as %v (%v), want %v", e.GetTitle(), got, err, e.GetStartTime().AsTime())
		}
	}

	for name, events := range map[string][]*rallyv1.Event{
		"unknown zone": {at("mars", "Mars/Olympus_Mons", day(2030, 5, 17))},
		"centuries":    {at("old", "Europe/Berlin", day(1800, 5, 17)), at("new", "Europe/Berlin", day(2290, 5, 17))},
	} {
		cal := parse(events...)
		if len(cal.Timezones()) != 0 || calProp(cal, "X-WR-TIMEZONE") != events[0].GetTimeZone() {
			t.Errorf("%s: %d VTIMEZONEs, X-WR-TIMEZONE %q; want none and %s", name, len(cal.Timezones()), calProp(cal, "X-WR-TIMEZONE"), events[0].GetTimeZone())
		}
		for i, v := range cal.Events() {
			p := v.GetProperty(ics.ComponentPropertyDtStart)
			if got, err := v.GetStartAt(); p == nil || !strings.HasSuffix(p.Value, "Z") || err != nil || !got.Equal(events[i].GetStartTime().AsTime()) {
				t.Errorf("%s: DTSTART %+v, want UTC %v", name, p, events[i].GetStartTime().AsTime())
			}
		}
	}
}
