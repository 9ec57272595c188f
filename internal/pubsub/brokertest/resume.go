package brokertest

import (
	"errors"
	"strings"
	"sync"
	"testing"

	"github.com/rallyhq/rally/internal/pubsub"
)

// Cursors: Head, resumption, and the cursors that cannot be resumed.

// A topic without messages still has a Head, and resuming from it replays everything.
func testHeadOfEmptyTopic(t *testing.T, nb NewBroker) {
	b := nb(t, defaults)
	topic := topicName(t, "a")
	live := Subscribe(t, b, topic, "")
	resumed := Subscribe(t, b, topic, live.Head())
	Publish(t, b, topic, msgs(1, 3)...)
	Expect(t, live, topic, msgs(1, 3)...)
	Expect(t, resumed, topic, msgs(1, 3)...)
	late := Subscribe(t, b, topic, live.Head())
	Expect(t, late, topic, msgs(1, 3)...)
}

// The pattern of a watch stream: subscribe, send a snapshot tagged with Head; a client
// that resumes from Head gets exactly what came after the subscription started.
func testHeadThenResume(t *testing.T, nb NewBroker) {
	b := nb(t, defaults)
	topic := topicName(t, "a")
	Publish(t, b, topic, msgs(1, 3)...)
	sub := Subscribe(t, b, topic, "")
	head := sub.Head()
	Publish(t, b, topic, msgs(4, 5)...)
	Expect(t, sub, topic, msgs(4, 5)...) // not 1 to 3: they came before
	resumed := Subscribe(t, b, topic, head)
	Expect(t, resumed, topic, msgs(4, 5)...)
	// Nothing twice: the next message is the next one published.
	Publish(t, b, topic, msgs(6, 6)...)
	Expect(t, resumed, topic, msgs(6, 6)...)
	Expect(t, sub, topic, msgs(6, 6)...)
	// Head does not move with the messages received.
	if sub.Head() != head {
		t.Fatalf("Head changed from %q to %q", head, sub.Head())
	}
}

func testResumeFromEveryCursor(t *testing.T, nb NewBroker) {
	b := nb(t, defaults)
	topic := topicName(t, "a")
	const n = 30
	live := Subscribe(t, b, topic, "")
	Publish(t, b, topic, msgs(1, n)...)
	cursors := []string{live.Head()} // cursors[i]: after message i
	for _, m := range Expect(t, live, topic, msgs(1, n)...) {
		cursors = append(cursors, m.Cursor)
	}
	subs := make([]pubsub.Subscription, len(cursors))
	for i, c := range cursors {
		subs[i] = Subscribe(t, b, topic, c)
		Expect(t, subs[i], topic, msgs(i+1, n)...)
	}
	// Each replay joined the live feed without a gap or a duplicate.
	Publish(t, b, topic, msgs(n+1, n+1)...)
	for _, s := range subs {
		Expect(t, s, topic, msgs(n+1, n+1)...)
	}
}

// Resumptions racing with messages being published: each gets every message after its
// cursor exactly once, however its replay and the live feed interleave. The queues are
// short, so that replays take several reads and subscribers fall behind and resume
// often: every resumption is another replay racing with the live feed.
func testResumeWhilePublishing(t *testing.T, nb NewBroker) {
	const resumers, burst, back = 12, 40, 25
	const total = resumers * burst
	b := nb(t, Config{History: 5000, QueueLen: 8})
	topic := topicName(t, "a")
	collector := newFollower(t, b, topic, "", 1)
	collector.keep = true
	collector.cursors = []string{collector.sub.Head()} // cursors[i]: after message i
	var wg sync.WaitGroup
	errs := make(chan error, 2*resumers)
	for r := range resumers {
		// A burst of messages goes out while a subscriber resumes from a little before
		// where the collector has got to.
		start := make(chan struct{})
		published := make(chan struct{})
		go func() {
			defer close(published)
			<-start
			for i := r*burst + 1; i <= (r+1)*burst; i++ {
				if err := b.Publish(t.Context(), []string{topic}, []byte(msg(i))); err != nil {
					errs <- err
					return
				}
			}
		}()
		from := max(collector.next-1-back, 0)
		close(start)
		f := newFollower(t, b, topic, collector.cursors[from], from+1)
		wg.Go(func() { errs <- f.follow(t.Context(), total) })
		<-published
		if err := collector.follow(t.Context(), (r+1)*burst); err != nil {
			t.Fatal(err)
		}
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Error(err)
		}
	}
}

// A replay longer than the queue waits for the subscriber rather than dropping it.
func testReplayLongerThanQueue(t *testing.T, nb NewBroker) {
	b := nb(t, Config{History: defaultHistory, QueueLen: 8})
	topic := topicName(t, "a")
	head := Subscribe(t, b, topic, "").Head()
	Publish(t, b, topic, msgs(1, 200)...)
	sub := Subscribe(t, b, topic, head)
	Expect(t, sub, topic, msgs(1, 200)...)
	Publish(t, b, topic, msgs(201, 201)...)
	Expect(t, sub, topic, msgs(201, 201)...)
}

// A cursor whose next message has left the history cannot be resumed; one whose next
// message is still there can, even if its own message has left (it is the last one
// dropped).
func testTrimmedCursor(t *testing.T, nb NewBroker) {
	const history = 20
	const n = 400 // enough to trim a Redis stream with MAXLEN ~, which drops 100 at a time
	b := nb(t, Config{History: history, QueueLen: defaultQueueLen})
	topic := topicName(t, "a")
	live := Subscribe(t, b, topic, "")
	cursors := []string{live.Head()} // cursors[i]: after message i
	for from := 1; from <= n; from += 50 {
		Publish(t, b, topic, msgs(from, from+49)...)
		for _, m := range Expect(t, live, topic, msgs(from, from+49)...) {
			cursors = append(cursors, m.Cursor)
		}
	}
	ExpectReset(t, b, topic, cursors[0], "the head of the empty topic")
	ExpectReset(t, b, topic, cursors[1], "the first message")

	// The first cursor that can be resumed, k, is the last message dropped: all before
	// it fail and all after it work.
	k := -1
	for i, c := range cursors {
		sub, err := b.Subscribe(t.Context(), topic, c)
		switch {
		case err == nil:
			sub.Close()
			if k < 0 {
				k = i
			}
		case !errors.Is(err, pubsub.ErrReset):
			t.Fatalf("Subscribe from message %d: %v", i, err)
		case k >= 0:
			t.Fatalf("message %d cannot be resumed, but message %d could", i, k)
		}
	}
	if k < 1 || n-k < history {
		t.Fatalf("resumable from message %d on: want some trimmed and at least %d kept", k, history)
	}
	sub := Subscribe(t, b, topic, cursors[k])
	Expect(t, sub, topic, msgs(k+1, n)...)
	Publish(t, b, topic, msgs(n+1, n+1)...)
	Expect(t, sub, topic, msgs(n+1, n+1)...)
}

func testMalformedCursor(t *testing.T, nb NewBroker) {
	b := nb(t, defaults)
	topic := topicName(t, "a")
	sub := Subscribe(t, b, topic, "")
	Publish(t, b, topic, msgs(1, 2)...)
	good := Expect(t, sub, topic, msgs(1, 2)...)[0].Cursor
	flipped := []byte(good)
	flipped[len(flipped)/2] ^= 1 // another epoch, or no base64 at all
	for _, c := range []string{
		"x", "!!!!", "AAAA", "AAAAAAAAAAAAAAAAAAAAAAAAAAAA", "0-0", "1", "-1",
		good[:len(good)-1], good + "A", good + "AA", good + "==", string(flipped),
		strings.ReplaceAll(strings.ReplaceAll(good, "-", "+"), "_", "/") + "=",
		strings.Repeat(good, 20),
	} {
		if c == good {
			continue
		}
		ExpectReset(t, b, topic, c, "a malformed cursor")
	}
	ExpectReset(t, b, topicName(t, "other"), good, "a cursor of another topic")
	// The good one still works.
	Expect(t, Subscribe(t, b, topic, good), topic, msg(2))
}

// A cursor means nothing to another history: another deployment's, or this one's before
// it was lost. It cannot be resumed, even where the other history has as many messages.
func testCursorOfAnotherBroker(t *testing.T, nb NewBroker) {
	b1, b2 := nb(t, defaults), nb(t, defaults)
	topic := topicName(t, "a")
	s1, s2 := Subscribe(t, b1, topic, ""), Subscribe(t, b2, topic, "")
	Publish(t, b1, topic, msgs(1, 3)...)
	Publish(t, b2, topic, msgs(1, 3)...)
	m1 := Expect(t, s1, topic, msgs(1, 3)...)
	Expect(t, s2, topic, msgs(1, 3)...)
	ExpectReset(t, b2, topic, m1[0].Cursor, "another broker's cursor")
	ExpectReset(t, b2, topic, m1[2].Cursor, "another broker's newest cursor")
	ExpectReset(t, b2, topic, s1.Head(), "another broker's Head")
}
