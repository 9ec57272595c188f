package brokertest

import (
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/rallyhq/rally/internal/pubsub"
)

// Histories that expire: a topic's history lasts a lifetime after its newest message,
// and what starts after it is a new life that no old cursor resumes into.
//
// The lifetime is short, so a loaded machine can stall past it where a step must happen
// within it. The checks tell such a stall from a broken broker by the time it took, and
// try again, or skip where nothing could be concluded; they never assume a deadline
// is met.

// lifetime is the history lifetime of these tests: long enough for a few steps, short
// enough to wait for.
const lifetime = 500 * time.Millisecond

// expiring is the configuration of the tests of lifetimes.
var expiring = Config{History: defaultHistory, QueueLen: defaultQueueLen, HistoryTTL: lifetime}

// A history without messages for its lifetime is deleted, neither sooner nor kept alive
// by its subscriber; its live subscription ends with ErrReset, no cursor of it resumes,
// and the topic works afresh.
func testHistoryExpires(t *testing.T, nb NewBroker, exists HistoryExists) {
	b := nb(t, expiring)
	topic := topicName(t, "a")
	live := Subscribe(t, b, topic, "")
	head := live.Head()
	Publish(t, b, topic, msgs(1, 4)...)
	lastSent := time.Now()
	Publish(t, b, topic, msg(5))
	old := Expect(t, live, topic, msgs(1, 5)...)
	if !exists(t, b, topic) && time.Since(lastSent) < lifetime {
		t.Fatal("no history right after publishing")
	}
	Eventually(t, "the history expires", func() bool { return !exists(t, b, topic) })
	if after := time.Since(lastSent); after < lifetime-10*time.Millisecond {
		t.Fatalf("the history was gone %v after its newest message; its lifetime is %v", after, lifetime)
	}
	if err := Ended(t, live); !errors.Is(err, pubsub.ErrReset) {
		t.Fatalf("the live subscription of the expired history ended with %v, want ErrReset", err)
	}
	for i, m := range old {
		ExpectReset(t, b, topic, m.Cursor, fmt.Sprintf("message %d of the expired history", i+1))
	}
	ExpectReset(t, b, topic, head, "the Head of the topic before its history")
	sub := freshSubscription(t, b, topic, "new")
	// It goes on as any history does, and its cursors resume.
	Publish(t, b, topic, "again")
	got := Expect(t, sub, topic, "again")
	if r, err := b.Subscribe(t.Context(), topic, got[0].Cursor); err != nil {
		t.Errorf("resuming from the new history's newest message: %v", err)
	} else {
		r.Close()
	}
}

// freshSubscription subscribes to topic without a cursor and checks that a message
// published then arrives. A subscription of a topic without history that sees no
// message for most of a lifetime may be reset (it cannot tell whether a whole life came
// and went meanwhile): then it tries again, if the machine did stall that long.
func freshSubscription(t *testing.T, b pubsub.Broker, topic, prefix string) pubsub.Subscription {
	t.Helper()
	for attempt := 1; ; attempt++ {
		start := time.Now()
		sub := Subscribe(t, b, topic, "")
		payload := fmt.Sprintf("%s%d", prefix, attempt)
		Publish(t, b, topic, payload)
		m, err := next(t, sub)
		switch {
		case err == nil && string(m.Payload) == payload:
			return sub
		case err == nil:
			t.Fatalf("a new subscription got %q, want %q", m.Payload, payload)
		case errors.Is(err, pubsub.ErrReset) && time.Since(start) > lifetime/2 && attempt < 5:
			t.Logf("attempt %d: reset after %v without a message", attempt, time.Since(start))
		default:
			t.Fatalf("a new subscription ended after %v: %v", time.Since(start), err)
		}
	}
}

// next returns sub's next message, or the error that ended it.
func next(t *testing.T, sub pubsub.Subscription) (*pubsub.Message, error) {
	t.Helper()
	select {
	case m, ok := <-sub.C():
		if !ok {
			return nil, sub.Err()
		}
		return m, nil
	case <-time.After(Wait):
		t.Fatalf("no message within %v", Wait)
		return nil, nil
	}
}

// A history that receives a message more often than its lifetime lives on, for several
// lifetimes: all of it can be replayed, and its subscriber misses nothing.
func testHistoryKeptWhileActive(t *testing.T, nb NewBroker, exists HistoryExists) {
	b := nb(t, expiring)
	const interval = lifetime / 10
	for attempt := 1; attempt <= 3; attempt++ {
		topic := topicName(t, fmt.Sprint(attempt))
		live := Subscribe(t, b, topic, "")
		var n int
		var gap time.Duration // the longest between the start of a publication and the end of the next
		var lastSent time.Time
		for start := time.Now(); time.Since(start) < 3*lifetime; time.Sleep(interval) {
			sent := time.Now()
			n++
			Publish(t, b, topic, msg(n))
			if n > 1 {
				gap = max(gap, time.Since(lastSent))
			}
			lastSent = sent
		}
		replay, err := b.Subscribe(t.Context(), topic, live.Head())
		present := exists(t, b, topic)
		checked := time.Since(lastSent)
		if gap > lifetime*3/4 || checked > lifetime*3/4 {
			t.Logf("attempt %d: %v between two messages, %v after the last one: too slow to tell", attempt, gap, checked)
			if replay != nil {
				replay.Close()
			}
			continue
		}
		if err != nil || !present {
			t.Fatalf("%d messages %v apart at most: the history exists %v, replaying it: %v", n, gap, present, err)
		}
		t.Cleanup(replay.Close)
		Expect(t, replay, topic, msgs(1, n)...)
		Expect(t, live, topic, msgs(1, n)...)
		return
	}
	t.Fatal("the machine stalled for most of a lifetime on every attempt: the history could not be checked")
}

// An old cursor never resumes into a history that started again, even once the new
// history is as long as the old one: the cursor of message 3 of the old life does not
// get messages 4 and 5 of the new one, and the old live subscription ends rather than
// taking the new messages as its own.
func testNoResumeIntoNewLife(t *testing.T, nb NewBroker, exists HistoryExists) {
	b := nb(t, expiring)
	topic := topicName(t, "a")
	live := Subscribe(t, b, topic, "")
	head := live.Head()
	Publish(t, b, topic, msgs(1, 5)...)
	old := Expect(t, live, topic, msgs(1, 5)...)
	Eventually(t, "the history expires", func() bool { return !exists(t, b, topic) })
	Publish(t, b, topic, msgs(6, 10)...)
	for i, m := range old {
		ExpectReset(t, b, topic, m.Cursor, fmt.Sprintf("message %d of the expired history", i+1))
	}
	ExpectReset(t, b, topic, head, "the Head of the topic before its first history")
	for {
		m, err := next(t, live)
		if err != nil {
			if !errors.Is(err, pubsub.ErrReset) {
				t.Fatalf("the old live subscription ended with %v, want ErrReset", err)
			}
			break
		}
		t.Fatalf("the old live subscription got %q from the new history", m.Payload)
	}
}
