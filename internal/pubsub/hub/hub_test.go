package hub

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/rallyhq/rally/internal/pubsub"
)

// entries returns the entries from to to (inclusive) of topic.
func entries(topic string, from, to uint64) []Entry {
	var out []Entry
	for p := from; p <= to; p++ {
		out = append(out, Entry{Pos: p, Msg: &pubsub.Message{Topic: topic, Cursor: MessageCursor(1, topic, 1, p), Payload: fmt.Appendf(nil, "m%d", p)}})
	}
	return out
}

// history is a fake history for Readers: every message up to last, none dropped, so
// every read carries on (a broker judges that with Replays).
type history struct {
	mu    sync.Mutex
	last  uint64
	reads int
	// then, if set, runs after each read (with the read's number, from 1) has taken its
	// result, to change the world before the reader can act on it.
	then func(n int)
	fail func(n int) error
}

func (hs *history) read(_ context.Context, topic string, after uint64, limit int) ([]Entry, error) {
	hs.mu.Lock()
	hs.reads++
	n := hs.reads
	hs.mu.Unlock()
	if hs.fail != nil {
		if err := hs.fail(n); err != nil {
			return nil, err
		}
	}
	hs.mu.Lock()
	last := hs.last
	var es []Entry
	if after < last {
		es = entries(topic, after+1, min(last, after+uint64(limit)))
	}
	hs.mu.Unlock()
	if hs.then != nil {
		hs.then(n)
	}
	return es, nil
}

func (hs *history) add(n uint64) (from uint64, added []Entry) {
	hs.mu.Lock()
	defer hs.mu.Unlock()
	from = hs.last
	hs.last += n
	return from, entries("t", from+1, hs.last)
}

// subscribe subscribes to topic after after, reading the first batch from hs as a
// broker does.
func subscribe(t *testing.T, h *Hub, hs *history, topic string, after uint64) *Sub {
	t.Helper()
	first, err := hs.read(t.Context(), topic, after, h.QueueLen())
	if err != nil {
		t.Fatal(err)
	}
	s, err := h.Subscribe(t.Context(), topic, after, "head", first, hs.read)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// want receives exactly the messages from to to, then checks that nothing else is queued.
func want(t *testing.T, s *Sub, from, to uint64) {
	t.Helper()
	for p := from; p <= to; p++ {
		select {
		case m, ok := <-s.C():
			if !ok {
				t.Fatalf("ended before m%d: %v", p, s.Err())
			}
			if got := string(m.Payload); got != fmt.Sprintf("m%d", p) {
				t.Fatalf("got %s, want m%d", got, p)
			}
		case <-time.After(10 * time.Second):
			t.Fatalf("no m%d", p)
		}
	}
	if len(s.C()) != 0 {
		t.Fatalf("%d more messages queued after m%d", len(s.C()), to)
	}
}

// A message delivered live between the subscriber's read of the history and its joining
// the feed is read again from the history, not lost; messages come once.
func TestLiveFeedMovedDuringRead(t *testing.T) {
	h := New(4, nil)
	hs := &history{}
	_, first := hs.add(2)
	// Another subscription makes the topic live, and the feed moves on to 3 after the
	// subscriber read 1 and 2 but before it joined.
	other := subscribe(t, h, &history{}, "t", 0)
	hs.add(1)
	h.Deliver("t", 0, entries("t", 1, 3))
	s, err := h.Subscribe(t.Context(), "t", 0, "head", first, hs.read)
	if err != nil {
		t.Fatal(err)
	}
	want(t, s, 1, 3)
	want(t, other, 1, 3)
	waitLive(t, h, s)
	from, added := hs.add(1)
	h.Deliver("t", from, added)
	want(t, s, 4, 4)
	want(t, other, 4, 4)
}

// The feed keeps moving while a long replay runs: it reads until it catches up.
func TestReplayChasesTheFeed(t *testing.T) {
	h := New(64, nil)
	hs := &history{}
	live := subscribe(t, h, hs, "t", 0)
	from, added := hs.add(10)
	h.Deliver("t", from, added)
	hs.reads = 0 // count the new subscription's reads only
	hs.then = func(n int) {
		if n <= 5 { // the feed moves by three after each of five reads
			from, added := hs.add(3)
			h.Deliver("t", from, added)
		}
	}
	s := subscribe(t, h, hs, "t", 0)
	want(t, s, 1, 25)
	waitLive(t, h, s)
	from, added = hs.add(1)
	h.Deliver("t", from, added)
	want(t, s, 26, 26)
	want(t, live, 1, 26)
}

// A subscription ahead of the feed (it read the history after the feed's last fetch)
// skips what it had when the feed catches up.
func TestSubscriberAheadOfTheFeed(t *testing.T) {
	h := New(8, nil)
	hs := &history{}
	first, _ := h.Subscribe(t.Context(), "t", 0, "", nil, hs.read) // the feed is at 0
	hs.add(3)
	s, _ := h.Subscribe(t.Context(), "t", 0, "", entries("t", 1, 3), hs.read)
	want(t, s, 1, 3)
	h.Deliver("t", 0, entries("t", 1, 4)) // the fetch of the feed, overlapping
	want(t, s, 4, 4)
	want(t, first, 1, 4)
}

func TestDeliverRefusesAGap(t *testing.T) {
	h := New(8, nil)
	s, _ := h.Subscribe(t.Context(), "t", 2, "", nil, nil)
	if h.Deliver("t", 3, entries("t", 4, 4)) {
		t.Fatal("Deliver after 3 accepted, the feed is at 2")
	}
	if !h.Deliver("t", 2, entries("t", 3, 4)) {
		t.Fatal("Deliver after 2 refused")
	}
	want(t, s, 3, 4)
	if !h.Deliver("t", 1, entries("t", 2, 5)) { // overlapping: fine
		t.Fatal("overlapping Deliver refused")
	}
	want(t, s, 5, 5)
}

// Subscribers are given the broker's Message itself, not a copy each: a message waiting
// in many queues is stored once, and a queue slot is a pointer.
func TestSubscribersShareMessages(t *testing.T) {
	h := New(4, nil)
	hs := &history{}
	s1 := subscribe(t, h, hs, "t", 0)
	s2 := subscribe(t, h, hs, "t", 0)
	es := entries("t", 1, 2)
	h.Deliver("t", 0, es)
	for _, s := range []*Sub{s1, s2} {
		for _, e := range es {
			if m := <-s.C(); m != e.Msg {
				t.Fatalf("got %p (%s), want the delivered %p (%s)", m, m.Payload, e.Msg, e.Msg.Payload)
			}
		}
	}
}

// A subscriber that does not read is dropped when its queue is full and released from
// the hub: its memory is its queue, and the hub keeps no reference to it.
func TestSlowSubscriberIsReleased(t *testing.T) {
	const queueLen = 16
	h := New(queueLen, nil)
	slow, _ := h.Subscribe(t.Context(), "t", 0, "", nil, nil)
	fast, _ := h.Subscribe(t.Context(), "t", 0, "", nil, nil)
	for p := uint64(1); p <= 10000; p++ {
		h.Deliver("t", p-1, entries("t", p, p))
		want(t, fast, p, p)
	}
	if !errors.Is(slow.Err(), pubsub.ErrSlow) {
		t.Fatalf("slow subscriber: %v, want ErrSlow", slow.Err())
	}
	if len(slow.C()) != queueLen {
		t.Fatalf("slow subscriber holds %d messages, want %d", len(slow.C()), queueLen)
	}
	h.mu.Lock()
	_, held := h.topics["t"].live[slow]
	n := len(h.topics["t"].live)
	h.mu.Unlock()
	if held || n != 1 {
		t.Fatalf("the hub still holds the slow subscriber (held %v, %d live)", held, n)
	}
	fast.Close()
	h.mu.Lock()
	defer h.mu.Unlock()
	if len(h.topics) != 0 {
		t.Fatalf("topics without subscribers are kept: %v", h.topics)
	}
}

// A replay whose reads fail (Redis unreachable) waits for the history to come back; one
// whose history moved past it ends with ErrReset.
func TestReplayReadErrors(t *testing.T) {
	h := New(4, nil)
	hs := &history{}
	hs.add(10)
	hs.fail = func(n int) error {
		if n >= 2 && n <= 4 { // the replay's reads after the first batch
			return errors.New("connection refused")
		}
		return nil
	}
	s := subscribe(t, h, hs, "t", 0)
	want(t, s, 1, 10)

	hs2 := &history{}
	hs2.add(10)
	s2, _ := h.Subscribe(t.Context(), "u", 0, "", entries("u", 1, 4), func(ctx context.Context, topic string, after uint64, limit int) ([]Entry, error) {
		es := entries(topic, 8, 10) // 5 to 7 were dropped
		if !Replays(after, Span{First: 1, Last: 10}, es, 1, testLifetime) {
			return nil, pubsub.ErrReset
		}
		return es, nil
	})
	drain(s2)
	if !errors.Is(s2.Err(), pubsub.ErrReset) {
		t.Fatalf("replay over a gap ended with %v, want ErrReset", s2.Err())
	}
}

func TestEndAllEndsPendingAndLive(t *testing.T) {
	h := New(2, nil)
	hs := &history{}
	hs.add(10)
	live := subscribe(t, h, hs, "t", 10)
	pending := subscribe(t, h, hs, "t", 0) // stuck on its queue
	h.EndAll(pubsub.ErrReset)
	for _, s := range []*Sub{live, pending} {
		drain(s)
		if !errors.Is(s.Err(), pubsub.ErrReset) {
			t.Fatalf("ended with %v", s.Err())
		}
	}
	h.Close()
	if _, err := h.Subscribe(t.Context(), "t", 0, "", nil, hs.read); !errors.Is(err, pubsub.ErrClosed) {
		t.Fatalf("Subscribe after Close: %v", err)
	}
}

// A replay stuck on its full queue stops reading when the subscription ends for any
// reason, not only its context, even though nobody reads its queue any more.
func TestReplayStopsWhenEnded(t *testing.T) {
	h := New(4, nil)
	hs := &history{}
	hs.add(100)
	s := subscribe(t, h, hs, "t", 0)
	<-s.C() // the replay is running, and fills the queue again
	eventually(t, func() bool { return len(s.C()) == 4 })
	s.Close()
	hs.mu.Lock()
	reads := hs.reads
	hs.mu.Unlock()
	// A replay that kept reading would read thousands of times meanwhile. (This is the
	// one wait for something not to happen.)
	time.Sleep(50 * time.Millisecond)
	hs.mu.Lock()
	defer hs.mu.Unlock()
	if hs.reads > reads+1 {
		t.Fatalf("%d reads after the subscription ended", hs.reads-reads)
	}
}

func TestOnAttach(t *testing.T) {
	var mu sync.Mutex
	var attached []string
	h := New(4, func(topic string) { mu.Lock(); attached = append(attached, topic); mu.Unlock() })
	h.Subscribe(t.Context(), "a", 0, "", nil, nil)
	hs := &history{}
	hs.add(6)
	s := subscribe(t, h, hs, "b", 0)
	want(t, s, 1, 6)
	waitLive(t, h, s)
	mu.Lock()
	defer mu.Unlock()
	if fmt.Sprint(attached) != "[a b]" {
		t.Fatalf("attached %v, want [a b]", attached)
	}
}

func TestContinues(t *testing.T) {
	for _, tc := range []struct {
		after, last uint64
		first       uint64 // 0: no entries
		want        bool
	}{
		{0, 0, 0, true},   // empty topic, from its head
		{5, 5, 0, true},   // caught up
		{6, 5, 0, false},  // beyond the end: a lost history
		{0, 5, 1, true},   // everything there
		{0, 5, 2, false},  // 1 was dropped
		{3, 9, 4, true},   // 3 may be dropped itself: 4 is there
		{3, 9, 5, false},  // 4 was dropped
		{9, 12, 10, true}, // the usual
	} {
		var es []Entry
		if tc.first > 0 {
			es = entries("t", tc.first, tc.last)
		}
		if got := Continues(tc.after, tc.last, es); got != tc.want {
			t.Errorf("Continues(%d, %d, from %d) = %v, want %v", tc.after, tc.last, tc.first, got, tc.want)
		}
	}
}

// waitLive waits until s has joined the live feed.
func waitLive(t *testing.T, h *Hub, s *Sub) {
	t.Helper()
	eventually(t, func() bool {
		h.mu.Lock()
		defer h.mu.Unlock()
		_, ok := h.topics[s.topic].live[s]
		return ok
	})
}

// Eventually waits until cond holds.
func eventually(t *testing.T, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatal("condition not met within 10s")
		}
		time.Sleep(time.Millisecond)
	}
}

// drain reads s until it ends.
func drain(s *Sub) {
	for range s.C() {
	}
}

// A subscription that found its topic without history stands before the next life. If
// the live feed goes into that life before the subscription joins it (a broker whose
// read and join are not atomic with its deliveries: Redis), the subscription replays the
// life from its first message rather than ending with ErrReset.
func TestReplayFromBeforeTheFirstLife(t *testing.T) {
	const t0 = 5_000_000 // when the life began
	h := New(8, nil)
	life := lifeEntries(t0, 1, 4)
	one := Span{First: life[0].Pos, Last: life[3].Pos}
	// A broker's Reader of the life, judging as brokers do.
	read := func(_ context.Context, _ string, after uint64, limit int) ([]Entry, error) {
		var es []Entry
		for _, e := range life {
			if e.Pos > after && len(es) < limit {
				es = append(es, e)
			}
		}
		if !Replays(after, one, es, t0+20, testLifetime) {
			return nil, pubsub.ErrReset
		}
		return es, nil
	}
	// The first subscriber read the topic without history, and is live.
	live, err := h.Subscribe(t.Context(), "t", EmptyAfter(t0-50, testLifetime), "head", nil, read)
	if err != nil {
		t.Fatal(err)
	}
	// The second read it without history too, a little later; before it joins, the life
	// begins and the feed takes its first three messages.
	after := EmptyAfter(t0-10, testLifetime)
	if !h.Deliver("t", EmptyAfter(t0-50, testLifetime), life[:3]) {
		t.Fatal("Deliver refused the life's first messages")
	}
	late, err := h.Subscribe(t.Context(), "t", after, "head", nil, read)
	if err != nil {
		t.Fatal(err)
	}
	wantLife(t, late, life[:3])
	h.Deliver("t", life[2].Pos, life[3:])
	wantLife(t, late, life[3:])
	wantLife(t, live, life)
}

// wantLife receives exactly es, in order.
func wantLife(t *testing.T, s *Sub, es []Entry) {
	t.Helper()
	for _, e := range es {
		select {
		case m, ok := <-s.C():
			if !ok {
				t.Fatalf("ended before %s: %v", e.Msg.Payload, s.Err())
			}
			if m != e.Msg {
				t.Fatalf("got %s, want %s", m.Payload, e.Msg.Payload)
			}
		case <-time.After(10 * time.Second):
			t.Fatalf("no %s", e.Msg.Payload)
		}
	}
}
