package server

import (
	"sync"
	"time"
)

// DefaultOrganiserInterval is how long the organisers' pacing's intervals last
// (Options.OrganiserInterval): during an RSVP rush an event's organisers get three
// attendance changes per interval from each replica.
const DefaultOrganiserInterval = 100 * time.Millisecond

// liveRSVPs is how many RSVPs of an interval carry their change: below a rush, when a
// deferred change would only cost a request of its own, later, none is deferred.
const liveRSVPs = 2

// throttle paces the attendance changes that RSVPs make on an event's organisers'
// history (publish.go). An event's first RSVP opens an interval. The interval's first
// liveRSVPs RSVPs carry their change, which the store appends in the same step as the
// write, so that it reaches organisers at once; any later RSVP in the interval carries
// none, and one change is published for all of them when the interval ends. An
// attendance change says only "attendance changed" (watchers read the counts), so
// organisers lose nothing but a delay of one interval at most, and a rush of thousands
// of RSVPs a second costs Redis a stream append and a signal to every replica, and
// every organiser's watcher a message, three times per interval instead of once per
// RSVP (issue 19). Events with fewer RSVPs than that are not paced at all.
//
// The pacing is per replica: several replicas serving one rush each publish once per
// interval. Interval 0 turns it off.
//
// Why a deferred change cannot come too early: after is called once the write is done,
// and marks the event's interval then open, whose end publishes; if the interval of the
// write ended while the write was in flight, after finds a later one, or opens one.
type throttle struct {
	interval time.Duration
	fire     func(event string) // publishes one change to event's organisers

	mu     sync.Mutex
	events map[string]*paced // events with an open interval
	closed bool
}

// paced is an event's open interval; its timer ends it.
type paced struct {
	rsvps int  // RSVPs in the interval so far
	dirty bool // a deferred RSVP was written: publish at the end
	timer *time.Timer
}

func newThrottle(interval time.Duration, fire func(string)) *throttle {
	return &throttle{interval: interval, fire: fire, events: map[string]*paced{}}
}

// live reports whether an RSVP write about to be made on event should carry its change.
// A caller told false calls after once the write is done, whatever its outcome.
func (t *throttle) live(event string) bool {
	if t.interval <= 0 {
		return true
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.closed {
		return true
	}
	p, ok := t.events[event]
	if !ok {
		p = t.open(event)
	}
	p.rsvps++
	return p.rsvps <= liveRSVPs
}

// after records that a write live deferred is done: its change follows by the end of
// the open interval, or of one opened for it if the write's own ended meanwhile (the
// last RSVPs of a rush, still in flight then, share one change).
func (t *throttle) after(event string) {
	t.mu.Lock()
	if t.closed {
		t.mu.Unlock()
		t.fire(event)
		return
	}
	p, ok := t.events[event]
	if !ok {
		p = t.open(event)
	}
	p.dirty = true
	t.mu.Unlock()
}

// open starts an interval for event (under mu).
func (t *throttle) open(event string) *paced {
	p := &paced{}
	t.events[event] = p
	p.timer = time.AfterFunc(t.interval, func() { t.end(event, p) })
	return p
}

// end closes an interval, publishing its deferred RSVPs' change.
func (t *throttle) end(event string, p *paced) {
	t.mu.Lock()
	if t.events[event] != p {
		t.mu.Unlock()
		return // closed meanwhile
	}
	delete(t.events, event)
	t.mu.Unlock()
	if p.dirty {
		t.fire(event)
	}
}

// close publishes at once what the open intervals hold, so that a replica shutting down
// leaves no organisers' change behind, and lets every later RSVP carry its change; call
// it before the broker closes.
func (t *throttle) close() {
	t.mu.Lock()
	t.closed = true
	var dirty []string
	for e, p := range t.events {
		p.timer.Stop()
		if p.dirty {
			dirty = append(dirty, e)
		}
	}
	clear(t.events)
	t.mu.Unlock()
	for _, e := range dirty {
		t.fire(e)
	}
}
