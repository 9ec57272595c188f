package server

import (
	"sync"
	"time"
)

// DefaultOrganiserInterval is how long the organisers' pacing's intervals last
// (Options.OrganiserInterval): during an RSVP rush an event's organisers get an
// attendance change per interval from each replica.
const DefaultOrganiserInterval = 100 * time.Millisecond

// rushRSVPs is how many RSVPs of an event in one interval are a rush. A deferred change
// is published by a request of its own, which costs Redis about four times, and rallyd
// about ten times, what the change costs inside an RSVP's write (docs/performance.md),
// so pacing only pays where each deferred change stands for many RSVPs: from about a
// hundred a second on one event and replica.
const rushRSVPs = 10

// rushPause is how long a rush goes on without RSVPs, in intervals: a replica that a
// rush overloads takes its RSVPs in bursts.
const rushPause = 10

// throttle paces the attendance changes that RSVPs make on an event's organisers'
// history (publish.go). Normally each RSVP carries its change, which the store appends
// in the same step as the write, so that it reaches organisers at once. An event's
// RSVPs are counted per interval (one starts at the first RSVP after the last one
// ended). In a rush they carry none, and one change is published for them when their
// interval ends: the RSVPs of an interval after its first rushRSVPs, and all of an
// interval that starts less than rushPause intervals after one that had rushRSVPs or
// more. An attendance change only says that attendance changed (watchers read the
// counts when it arrives), so organisers lose nothing but a delay of one interval at
// most, and a rush of thousands of RSVPs a second costs Redis a stream append and a
// signal to every replica, and every organiser's watcher a message, about once per
// interval instead of once per RSVP (issue 19).
//
// The pacing is per replica: several replicas serving one rush each publish once per
// interval. Interval 0 turns it off.
//
// Why a deferred change cannot come before its write: after is called once the write
// is done, and its change goes out when the interval then open ends (one is opened if
// the write's own ended while it was in flight, so that the last writes of a rush share
// one change too).
type throttle struct {
	interval time.Duration
	fire     func(event string) // publishes one change to event's organisers
	now      func() time.Time

	mu      sync.Mutex
	events  map[string]*paced // each event's latest interval
	pending map[*paced]string // intervals whose change is due, and their events
	pruneAt int               // len(events) at which intervals long over are dropped
	closed  bool
}

// paced is one interval of an event.
type paced struct {
	start time.Time
	rsvps int  // RSVPs in it so far
	rush  bool // all its RSVPs defer their change to its end
}

func newThrottle(interval time.Duration, fire func(string)) *throttle {
	return &throttle{interval: interval, fire: fire, now: time.Now, events: map[string]*paced{}, pending: map[*paced]string{}, pruneAt: 1024}
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
	now := t.now()
	p := t.current(event, now)
	p.rsvps++
	return !p.rush && p.rsvps <= rushRSVPs
}

// current returns event's interval open at now, starting one if it has none (under mu).
func (t *throttle) current(event string, now time.Time) *paced {
	last := t.events[event]
	if last != nil && now.Sub(last.start) < t.interval {
		return last
	}
	// The one before ended: the new one is a rush if that was busy, not long ago.
	p := &paced{start: now}
	p.rush = last != nil && last.rsvps >= rushRSVPs && now.Sub(last.start) < (rushPause+1)*t.interval
	t.events[event] = p
	if len(t.events) >= t.pruneAt {
		for e, q := range t.events {
			if now.Sub(q.start) >= (rushPause+1)*t.interval {
				delete(t.events, e)
			}
		}
		t.pruneAt = max(1024, 2*len(t.events))
	}
	return p
}

// after records that a write live deferred is done: its change follows when the
// interval open now ends.
func (t *throttle) after(event string) {
	t.mu.Lock()
	if t.closed {
		t.mu.Unlock()
		t.fire(event)
		return
	}
	now := t.now()
	p := t.current(event, now)
	if _, due := t.pending[p]; !due {
		t.pending[p] = event
		time.AfterFunc(p.start.Add(t.interval).Sub(now), func() { t.end(p) })
	}
	t.mu.Unlock()
}

// end publishes an interval's change, unless close did.
func (t *throttle) end(p *paced) {
	t.mu.Lock()
	event, due := t.pending[p]
	delete(t.pending, p)
	t.mu.Unlock()
	if due {
		t.fire(event)
	}
}

// close publishes at once the changes that are due, so that a replica shutting down
// leaves no organisers' change behind, and lets every later RSVP carry its change; call
// it before the broker closes.
func (t *throttle) close() {
	t.mu.Lock()
	t.closed = true
	due := make([]string, 0, len(t.pending))
	for _, e := range t.pending {
		due = append(due, e)
	}
	clear(t.pending)
	t.mu.Unlock()
	for _, e := range due {
		t.fire(e)
	}
}
