// Package brokertest is the conformance suite of pubsub.Broker: every broker runs it
// from its own tests, so that they all deliver, replay and fail the same way.
//
//	func TestConformance(t *testing.T) {
//		brokertest.Run(t, func(t *testing.T, cfg brokertest.Config) pubsub.Broker {
//			b := memory.New(memory.WithHistory(cfg.History), memory.WithQueueLen(cfg.QueueLen))
//			t.Cleanup(func() { b.Close() })
//			return b
//		}, historyExists)
//	}
//
// The checks are written for a loaded machine: they Wait for what must happen with
// generous deadlines rather than sleeping, prove that nothing more came by publishing a
// sentinel and expecting it next, and pace publishers where a subscriber must keep up.
package brokertest

import (
	"context"
	"errors"
	"fmt"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/rallyhq/rally/internal/pubsub"
)

// Config is what a subtest asks of its broker.
type Config struct {
	// History is how many messages each topic keeps, at least (a broker may keep more).
	History int
	// QueueLen is how many messages a subscriber may have waiting.
	QueueLen int
	// HistoryTTL, if not 0, is how long a topic's history lasts after its newest
	// message: a fraction of a second, below what the brokers' options allow, so that
	// the broker must be configured around them.
	HistoryTTL time.Duration
}

// HistoryExists reports whether topic has a history in b's backend (Redis: its stream
// key exists), so that the suite can see a history expire.
type HistoryExists func(t *testing.T, b pubsub.Broker, topic string) bool

// NewBroker returns a new broker for one subtest, configured as asked, and closes it
// when the subtest ends (t.Cleanup); the suite may close it first. Two brokers returned
// by one NewBroker must not share a history: they stand for two deployments, or one
// before and after its history was lost.
type NewBroker func(t *testing.T, cfg Config) pubsub.Broker

// Default sizes, as the brokers' defaults.
const (
	defaultHistory  = 1000
	defaultQueueLen = 256
)

// Run runs the suite. Subtests run in parallel, each with its own brokers.
func Run(t *testing.T, newBroker NewBroker, exists HistoryExists) {
	tests := []struct {
		name string
		fn   func(t *testing.T, nb NewBroker)
	}{
		{"LiveInOrder", testLiveInOrder},
		{"TwoSubscribers", testTwoSubscribers},
		{"TopicsAreIsolated", testTopicsIsolated},
		{"PublishToSeveralTopics", testSeveralTopics},
		{"ConcurrentPublishers", testConcurrentPublishers},
		{"Payloads", testPayloads},
		{"HeadOfEmptyTopic", testHeadOfEmptyTopic},
		{"HeadThenResume", testHeadThenResume},
		{"ResumeFromEveryCursor", testResumeFromEveryCursor},
		{"ResumeWhilePublishing", testResumeWhilePublishing},
		{"ReplayLongerThanQueue", testReplayLongerThanQueue},
		{"TrimmedCursor", testTrimmedCursor},
		{"MalformedCursor", testMalformedCursor},
		{"CursorOfAnotherBroker", testCursorOfAnotherBroker},
		{"SlowSubscriber", testSlowSubscriber},
		{"Close", testClose},
		{"ContextCancel", testContextCancel},
		{"SubscriptionClose", testSubscriptionClose},
		{"HistoryExpires", func(t *testing.T, nb NewBroker) { testHistoryExpires(t, nb, exists) }},
		{"HistoryKeptWhileActive", func(t *testing.T, nb NewBroker) { testHistoryKeptWhileActive(t, nb, exists) }},
		{"NoResumeIntoNewLife", func(t *testing.T, nb NewBroker) { testNoResumeIntoNewLife(t, nb, exists) }},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			tc.fn(t, newBroker)
		})
	}
}

// defaults is the configuration of subtests that need nothing special.
var defaults = Config{History: defaultHistory, QueueLen: defaultQueueLen}

// follower follows a topic as a client would: when dropped for being slow, it resumes
// from the cursor of the last message it got. It checks that messages come in order with
// no gap and no duplicate. Its methods may run in another goroutine than the test's.
type follower struct {
	b       pubsub.Broker
	topic   string
	sub     pubsub.Subscription
	next    int      // the index of the message expected next
	cursor  string   // of the last message received, or where it started
	cursors []string // every cursor received, if keep
	keep    bool
	resumes int
}

// newFollower follows topic from cursor, after which message next comes.
func newFollower(t *testing.T, b pubsub.Broker, topic, cursor string, next int) *follower {
	t.Helper()
	return &follower{b: b, topic: topic, sub: Subscribe(t, b, topic, cursor), next: next, cursor: cursor}
}

// follow reads until message to has arrived. Subscriptions it resumes end with the
// broker.
func (f *follower) follow(ctx context.Context, to int) error {
	timer := time.NewTimer(Wait)
	defer timer.Stop()
	for f.next <= to {
		select {
		case m, ok := <-f.sub.C():
			if !ok {
				if err := f.sub.Err(); !errors.Is(err, pubsub.ErrSlow) {
					return fmt.Errorf("%s: subscription ended before %s: %w", f.topic, msg(f.next), err)
				}
				f.resumes++
				sub, err := f.b.Subscribe(ctx, f.topic, f.cursor)
				if err != nil {
					return fmt.Errorf("%s: resuming before %s: %w", f.topic, msg(f.next), err)
				}
				f.sub = sub
				continue
			}
			if m == nil {
				return fmt.Errorf("%s: nil message instead of %s", f.topic, msg(f.next))
			}
			if string(m.Payload) != msg(f.next) || m.Topic != f.topic {
				return fmt.Errorf("%s: got %s %q, want %s", f.topic, m.Topic, m.Payload, msg(f.next))
			}
			f.next++
			f.cursor = m.Cursor
			if f.keep {
				f.cursors = append(f.cursors, m.Cursor)
			}
		case <-timer.C:
			return fmt.Errorf("%s: waiting for %s for %v", f.topic, msg(f.next), Wait)
		}
	}
	return nil
}

var urlSafe = regexp.MustCompile(`^[A-Za-z0-9_-]+$`)

// checkCursors checks that cursors are URL-safe and distinct.
func checkCursors(t *testing.T, msgs []*pubsub.Message) {
	t.Helper()
	seen := map[string]bool{}
	for _, m := range msgs {
		if !urlSafe.MatchString(m.Cursor) {
			t.Fatalf("cursor %q is not URL-safe", m.Cursor)
		}
		if seen[m.Cursor] {
			t.Fatalf("cursor %q given twice", m.Cursor)
		}
		seen[m.Cursor] = true
	}
}

func topicName(t *testing.T, name string) string {
	return fmt.Sprintf("events/%s-%s", strings.ReplaceAll(t.Name(), "/", "-"), name)
}
