package server

import (
	"sync"
	"testing"
	"time"
)

// firings counts a throttle's fire calls per event.
type firings struct {
	mu sync.Mutex
	n  map[string]int
}

func (f *firings) fire(event string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.n[event]++
}

func (f *firings) count(event string) int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.n[event]
}

// pacedThrottle is a throttle of interval whose intervals follow a clock the test moves
// (its timers run in real time), and what it fired.
func pacedThrottle(interval time.Duration) (*throttle, *firings, func(time.Duration)) {
	f := &firings{n: map[string]int{}}
	th := newThrottle(interval, f.fire)
	var mu sync.Mutex
	now := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	th.now = func() time.Time { mu.Lock(); defer mu.Unlock(); return now }
	advance := func(d time.Duration) { mu.Lock(); defer mu.Unlock(); now = now.Add(d) }
	return th, f, advance
}

// rsvps makes n RSVP writes on event as CreateRsvp does, and reports how many carried
// their change.
func rsvps(th *throttle, event string, n int) (live int) {
	for range n {
		if th.live(event) {
			live++
		} else {
			th.after(event)
		}
	}
	return live
}

// TestThrottleRush: RSVPs carry their change up to rushRSVPs in an interval, and the rest
// are deferred to one change at its end; the intervals that follow a busy one defer
// them all, until one is quieter or a long pause ends the rush; events are apart.
func TestThrottleRush(t *testing.T) {
	t.Parallel()
	const interval = 100 * time.Millisecond
	th, f, advance := pacedThrottle(interval)
	if live := rsvps(th, "a", rushRSVPs+2); live != rushRSVPs {
		t.Fatalf("the first interval's %d RSVPs: %d carried their change, want %d", rushRSVPs+2, live, rushRSVPs)
	}
	advance(interval)
	if live := rsvps(th, "a", rushRSVPs); live != 0 {
		t.Fatalf("the interval after a busy one: %d of %d RSVPs carried their change, want none", live, rushRSVPs)
	}
	if live := rsvps(th, "b", 3); live != 3 {
		t.Fatalf("another event's RSVPs were deferred (%d of 3 live)", live)
	}
	if n := f.count("a"); n != 0 {
		t.Fatalf("%d changes published before the intervals ended", n)
	}
	time.Sleep(4 * interval)
	if a, b := f.count("a"), f.count("b"); a != 2 || b != 0 {
		t.Fatalf("after the two intervals: %d changes for their event (want 1 each), %d for the other (want 0)", a, b)
	}
	advance(interval) // the rush goes on: the second interval was busy too
	if live := rsvps(th, "a", 2); live != 0 {
		t.Fatalf("the rush's third interval: %d of 2 RSVPs live, want none", live)
	}
	advance(interval) // after a quieter one it is over
	if live := rsvps(th, "a", rushRSVPs); live != rushRSVPs {
		t.Fatalf("after a quiet interval: %d of %d RSVPs live, want all", live, rushRSVPs)
	}
	advance((rushPause + 1) * interval) // and after a long pause too
	if live := rsvps(th, "a", 1); live != 1 {
		t.Fatal("after a pause, an RSVP was deferred")
	}
	time.Sleep(4 * interval)
	if a := f.count("a"); a != 3 {
		t.Fatalf("%d changes for the three intervals with deferred RSVPs, want 3", a)
	}
}

// TestThrottleWriteOutlivesInterval: deferred writes still in flight when their interval
// ends get their change after they are done, one for both, rather than never.
func TestThrottleWriteOutlivesInterval(t *testing.T) {
	t.Parallel()
	const interval = 20 * time.Millisecond
	th, f, advance := pacedThrottle(interval)
	rsvps(th, "a", rushRSVPs)
	advance(interval)
	if th.live("a") || th.live("a") {
		t.Fatal("an RSVP of a rush was not deferred")
	}
	advance(interval) // both writes outlive their interval
	time.Sleep(3 * interval)
	if n := f.count("a"); n != 0 {
		t.Fatalf("%d changes published before the deferred writes were done", n)
	}
	th.after("a")
	th.after("a")
	time.Sleep(3 * interval)
	if n := f.count("a"); n != 1 {
		t.Fatalf("the deferred writes got %d changes, want 1", n)
	}
}

// TestThrottleClose: closing publishes the changes that are due, and every RSVP after it
// carries its change; interval 0 defers nothing.
func TestThrottleClose(t *testing.T) {
	t.Parallel()
	th, f, advance := pacedThrottle(time.Hour)
	rsvps(th, "a", rushRSVPs)
	rsvps(th, "b", rushRSVPs)
	advance(time.Hour)
	rsvps(th, "a", 3)
	th.live("b") // deferred, and its write not done yet
	th.close()
	if a, b := f.count("a"), f.count("b"); a != 1 || b != 0 {
		t.Fatalf("close published %d changes for the event with deferred RSVPs done (want 1), %d for the other (want 0)", a, b)
	}
	th.after("b")
	if b := f.count("b"); b != 1 {
		t.Fatalf("a deferred write done after close got %d changes, want 1 at once", b)
	}
	if live := rsvps(th, "a", 3); live != 3 {
		t.Fatal("an RSVP after close was deferred")
	}
	off := newThrottle(0, f.fire)
	if live := rsvps(off, "c", 3*rushRSVPs); live != 3*rushRSVPs {
		t.Fatal("interval 0 deferred an RSVP")
	}
}
