package brokertest

import (
	"errors"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/rallyhq/rally/internal/pubsub"
)

// Helpers, exported for the tests that only one broker has (replicas, faults).

// Wait bounds every wait for something that must happen. It is long because a loaded
// machine running the race detector can be slow; a passing test never waits for it.
const Wait = 30 * time.Second

// Publish publishes each payload on topic, one call each.
func Publish(t *testing.T, b pubsub.Broker, topic string, payloads ...string) {
	t.Helper()
	for _, p := range payloads {
		if err := b.Publish(t.Context(), []string{topic}, []byte(p)); err != nil {
			t.Fatalf("Publish(%s, %q): %v", topic, p, err)
		}
	}
}

// Subscribe subscribes, fails the test on error, and closes the subscription when the
// test ends.
func Subscribe(t *testing.T, b pubsub.Broker, topic, cursor string) pubsub.Subscription {
	t.Helper()
	sub, err := b.Subscribe(t.Context(), topic, cursor)
	if err != nil {
		t.Fatalf("Subscribe(%s, %q): %v", topic, cursor, err)
	}
	if sub.Head() == "" {
		t.Fatalf("Subscribe(%s, %q): empty Head", topic, cursor)
	}
	t.Cleanup(sub.Close)
	return sub
}

// Expect receives the next messages of sub, which must be payloads of topic, in order,
// each with a cursor.
func Expect(t *testing.T, sub pubsub.Subscription, topic string, payloads ...string) []*pubsub.Message {
	t.Helper()
	got := recv(t, sub, len(payloads))
	for k, m := range got {
		if string(m.Payload) != payloads[k] || m.Topic != topic {
			t.Fatalf("message %d: got %s %q, want %s %q", k, m.Topic, m.Payload, topic, payloads[k])
		}
		if m.Cursor == "" {
			t.Fatalf("message %q without a cursor", m.Payload)
		}
	}
	return got
}

// Ended waits for sub to end, dropping what it still had queued, and returns its Err.
func Ended(t *testing.T, sub pubsub.Subscription) error {
	t.Helper()
	timer := time.NewTimer(Wait)
	defer timer.Stop()
	for {
		select {
		case _, ok := <-sub.C():
			if !ok {
				return sub.Err()
			}
		case <-timer.C:
			t.Fatalf("subscription still open after %v", Wait)
		}
	}
}

// ExpectReset checks that subscribing from cursor fails with pubsub.ErrReset; why says
// what the cursor is.
func ExpectReset(t *testing.T, b pubsub.Broker, topic, cursor, why string) {
	t.Helper()
	sub, err := b.Subscribe(t.Context(), topic, cursor)
	if !errors.Is(err, pubsub.ErrReset) {
		if sub != nil {
			sub.Close()
		}
		t.Fatalf("Subscribe from %s (%q): %v, want ErrReset", why, cursor, err)
	}
}

// Eventually waits until cond holds.
func Eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(Wait)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("not within %v: %s", Wait, what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// recv receives the next n messages of sub.
func recv(t *testing.T, sub pubsub.Subscription, n int) []*pubsub.Message {
	t.Helper()
	out := make([]*pubsub.Message, 0, n)
	timer := time.NewTimer(Wait)
	defer timer.Stop()
	for len(out) < n {
		select {
		case m, ok := <-sub.C():
			if !ok {
				t.Fatalf("subscription ended after %d of %d messages: %v", len(out), n, sub.Err())
			}
			if m == nil {
				t.Fatalf("message %d of %d is nil", len(out)+1, n)
			}
			out = append(out, m)
		case <-timer.C:
			t.Fatalf("received %d of %d messages within %v", len(out), n, Wait)
		}
	}
	return out
}

// msg names the i-th test message.
func msg(i int) string { return "m" + strconv.Itoa(i) }

// msgs names the messages from to to (inclusive).
func msgs(from, to int) []string {
	out := make([]string, 0, max(to-from+1, 0))
	for i := from; i <= to; i++ {
		out = append(out, msg(i))
	}
	return out
}

// msgIndex is the inverse of msg.
func msgIndex(t *testing.T, m *pubsub.Message) int {
	t.Helper()
	i, err := strconv.Atoi(strings.TrimPrefix(string(m.Payload), "m"))
	if err != nil || !strings.HasPrefix(string(m.Payload), "m") {
		t.Fatalf("unexpected payload %q", m.Payload)
	}
	return i
}
