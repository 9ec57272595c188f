package gateway

import (
	"fmt"
	"maps"
	"slices"
	"time"

	ics "github.com/arran4/golang-ical"

	rallyv1 "github.com/rallyhq/rally/gen/go/rally/v1"
)

// Time zones of the calendar feeds.
//
// An event's times are written in its IANA zone (DTSTART;TZID=Europe/Berlin:...), which
// RFC 5545 requires a VTIMEZONE for: calendar apps do not have to know the IANA names,
// and most that do still read the VTIMEZONE. Go's time package has the zone's rules
// (embedded by internal/server's time/tzdata import, so they do not depend on the host)
// but exposes no table of them; what it does expose is Time.ZoneBounds, the period of
// one offset around an instant. vtimezone walks those periods across the span the feed
// covers and writes each as one observance (a STANDARD or DAYLIGHT with a single DTSTART
// and no RRULE), as ICU's VTimeZone and ical4j do when they write a zone from its
// transitions. That is exact for every past and future rule change, which RRULEs
// derived from today's rule would not be; the price is two observances a year of the
// span, which a feed's few years keep small.

// maxObservances bounds the observances of one VTIMEZONE: 400 is two centuries of DST.
// A feed spanning more has its times in UTC (and X-WR-TIMEZONE).
const maxObservances = 400

// feedZone is how a feed writes the times of one zone: tz is the VTIMEZONE, nil when
// none could be built, and then times are UTC.
type feedZone struct {
	name string
	loc  *time.Location
	tz   *ics.VTimezone
}

// feedZones returns the zones of events by name, with their VTIMEZONE, each covering
// the span of that zone's events. An event without a zone (none is stored without one
// today) has a nil zone: its times are UTC.
func feedZones(events []*rallyv1.Event) map[string]*feedZone {
	type span struct{ from, to time.Time }
	spans := map[string]*span{}
	for _, e := range events {
		name := e.GetTimeZone()
		if name == "" {
			continue
		}
		from, to := e.GetStartTime().AsTime(), e.GetEndTime().AsTime()
		if s, ok := spans[name]; ok {
			s.from, s.to = minTime(s.from, from), maxTime(s.to, to)
		} else {
			spans[name] = &span{from, to}
		}
	}
	zones := make(map[string]*feedZone, len(spans))
	for name, s := range spans {
		z := &feedZone{name: name}
		// "Local" would be the server's own zone, never an event's (the server refuses
		// it); LoadLocation fails for a name this tzdata does not know.
		if loc, err := time.LoadLocation(name); err == nil && name != "Local" {
			z.loc = loc
			z.tz = vtimezone(name, loc, s.from, s.to)
		}
		zones[name] = z
	}
	return zones
}

// set sets a DATE-TIME property of v to t: local time with TZID in a zone with a
// VTIMEZONE, UTC otherwise.
func (z *feedZone) set(v *ics.VEvent, p ics.ComponentProperty, t time.Time) {
	if z == nil || z.tz == nil {
		v.SetProperty(p, t.UTC().Format("20060102T150405Z"))
		return
	}
	v.SetProperty(p, t.In(z.loc).Format("20060102T150405"), ics.WithTZID(z.name))
}

// vtimezone builds the VTIMEZONE of loc for the whole years from from to to: one
// observance for each period of a single offset that overlaps them, from the one in
// force on 1 January of from's year to the one in force at the end of to's. Whole years,
// so that a zone with DST has both its STANDARD and its DAYLIGHT, which some apps
// expect, and an app that moves an event by a few months still finds its offset. Nil
// when that takes more than maxObservances.
func vtimezone(name string, loc *time.Location, from, to time.Time) *ics.VTimezone {
	tz := ics.NewTimezone(name)
	from, to = from.In(loc), to.In(loc)
	t := time.Date(from.Year(), time.January, 1, 0, 0, 0, 0, loc)
	to = time.Date(to.Year()+1, time.January, 1, 0, 0, 0, 0, loc)
	type zone struct {
		abbrev string
		offset int
		dst    bool
	}
	var last *zone
	for n := 0; ; {
		start, end := t.ZoneBounds()
		abbrev, offset := t.Zone()
		z := &zone{abbrev, offset, t.IsDST()}
		// Past the table of transitions, where the zone's rule string applies, Go also
		// bounds periods at the turn of the year, where nothing changes: those are
		// merged into the observance before.
		if last == nil || *z != *last {
			if n++; n > maxObservances {
				return nil
			}
			last = z
			// DTSTART is the onset in the local time in force before it (TZOFFSETFROM).
			// A zone's first period has no onset: RFC 5545 needs one all the same, and
			// 1601-01-01, the start of the Gregorian 400-year cycle, is the one calendar
			// apps (Outlook's among them) write.
			onset, before := "16010101T000000", offset
			if !start.IsZero() {
				_, before = start.Add(-time.Second).Zone()
				onset = start.UTC().Add(time.Duration(before) * time.Second).Format("20060102T150405")
			}
			c := ics.ComponentBase{}
			c.SetProperty(ics.ComponentProperty(ics.PropertyDtstart), onset)
			c.SetProperty(ics.ComponentProperty(ics.PropertyTzoffsetfrom), utcOffset(before))
			c.SetProperty(ics.ComponentProperty(ics.PropertyTzoffsetto), utcOffset(offset))
			c.SetProperty(ics.ComponentProperty(ics.PropertyTzname), abbrev)
			if z.dst {
				tz.Components = append(tz.Components, &ics.Daylight{ComponentBase: c})
			} else {
				tz.Components = append(tz.Components, &ics.Standard{ComponentBase: c})
			}
		}
		if end.IsZero() || end.After(to) {
			return tz
		}
		// Go can also report, at such a turn of the year, a period that ends where it
		// was asked from: step past it.
		if end.After(t) {
			t = end.In(loc)
		} else {
			t = t.Add(time.Hour)
		}
	}
}

// utcOffset is an offset east of UTC in seconds as a UTC-OFFSET value: +0100, -0330,
// +051236 when it has seconds (local mean times of the 19th century).
func utcOffset(seconds int) string {
	sign := '+'
	if seconds < 0 {
		sign, seconds = '-', -seconds
	}
	h, m, s := seconds/3600, seconds/60%60, seconds%60
	if s != 0 {
		return fmt.Sprintf("%c%02d%02d%02d", sign, h, m, s)
	}
	return fmt.Sprintf("%c%02d%02d", sign, h, m)
}

func sortedKeys[V any](m map[string]V) []string { return slices.Sorted(maps.Keys(m)) }

func minTime(a, b time.Time) time.Time {
	if b.Before(a) {
		return b
	}
	return a
}

func maxTime(a, b time.Time) time.Time {
	if b.After(a) {
		return b
	}
	return a
}
