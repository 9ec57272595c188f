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

// TestThrottleInterval: an interval's first liveRSVPs RSVPs carry their change, the rest
// are published once at its end, and an interval without a deferred RSVP publishes
// nothing; each event has its own.
func TestThrottleInterval(t *testing.T) {
	t.Parallel()
	const interval = 50 * time.Millisecond
	f := &firings{n: map[string]int{}}
	th := newThrottle(interval, f.fire)
	for i := range 5 {
		live := th.live("a")
		if want := i < liveRSVPs; live != want {
			t.Fatalf("RSVP %d of an interval: live %v, want %v", i+1, live, want)
		}
		if !live {
			th.after("a")
		}
	}
	if !th.live("b") {
		t.Fatal("another event's first RSVP was deferred")
	}
	if n := f.count("a"); n != 0 {
		t.Fatalf("%d changes published before the interval ended, want 0", n)
	}
	time.Sleep(3 * interval)
	if a, b := f.count("a"), f.count("b"); a != 1 || b != 0 {
		t.Fatalf("after the interval: %d changes for the paced event (want 1), %d for the other (want 0: its RSVP carried it)", a, b)
	}
	// The next interval starts afresh.
	if !th.live("a") {
		t.Fatal("the first RSVP of a new interval was deferred")
	}
}

// TestThrottleWriteOutlivesInterval: a deferred write still in flight when its interval
// ends gets its change after it is done, within an interval, rather than never.
func TestThrottleWriteOutlivesInterval(t *testing.T) {
	t.Parallel()
	const interval = 20 * time.Millisecond
	f := &firings{n: map[string]int{}}
	th := newThrottle(interval, f.fire)
	for range liveRSVPs {
		th.live("a")
	}
	if th.live("a") {
		t.Fatal("the RSVP after the live ones was not deferred")
	}
	time.Sleep(5 * interval) // the interval ends while "the write" is in flight
	if n := f.count("a"); n != 0 {
		t.Fatalf("the interval published %d changes before the deferred write was done", n)
	}
	th.after("a")
	th.after("a") // another write of the ended interval shares the change
	time.Sleep(5 * interval)
	if n := f.count("a"); n != 1 {
		t.Fatalf("the deferred writes got %d changes, want 1", n)
	}
}

// TestThrottleClose: closing publishes what open intervals deferred, and every RSVP after
// it carries its change; interval 0 defers nothing.
func TestThrottleClose(t *testing.T) {
	t.Parallel()
	f := &firings{n: map[string]int{}}
	th := newThrottle(time.Hour, f.fire)
	for range liveRSVPs + 2 {
		if !th.live("a") {
			th.after("a")
		}
	}
	th.live("b")
	th.close()
	if a, b := f.count("a"), f.count("b"); a != 1 || b != 0 {
		t.Fatalf("close published %d changes for the event with deferred RSVPs (want 1), %d for the other (want 0)", a, b)
	}
	for range liveRSVPs + 2 {
		if !th.live("a") {
			t.Fatal("an RSVP after close was deferred")
		}
	}
	off := newThrottle(0, f.fire)
	for range 10 {
		if !off.live("c") {
			t.Fatal("interval 0 deferred an RSVP")
		}
	}
}
