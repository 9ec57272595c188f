package brokertest

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/rallyhq/rally/internal/pubsub"
)

// How subscriptions end: falling behind, the broker closing, their context, Close.

// A subscriber that never reads is dropped once its queue is full, holding no more than
// the queue, while another subscriber of the topic gets everything as it comes.
func testSlowSubscriber(t *testing.T, nb NewBroker) {
	const total, batch = 10000, 64
	b := nb(t, defaults)
	topic := topicName(t, "a")
	slow := Subscribe(t, b, topic, "")
	normal := newFollower(t, b, topic, "", 1)
	start := time.Now()
	var slowest time.Duration
	for from := 1; from <= total; from += batch {
		to := min(from+batch-1, total)
		t0 := time.Now()
		Publish(t, b, topic, msgs(from, to)...)
		if err := normal.follow(t.Context(), to); err != nil {
			t.Fatal(err)
		}
		slowest = max(slowest, time.Since(t0))
	}
	if normal.resumes > 0 {
		t.Errorf("the subscriber that kept up was dropped %d times", normal.resumes)
	}
	Eventually(t, "the slow subscriber is dropped with ErrSlow", func() bool { return slow.Err() != nil })
	if err := slow.Err(); !errors.Is(err, pubsub.ErrSlow) {
		t.Fatalf("the slow subscriber ended with %v, want ErrSlow", err)
	}
	// It holds what filled its queue, and nothing since: 10,000 messages went by.
	if n, c := len(slow.C()), cap(slow.C()); n != defaultQueueLen || c != defaultQueueLen {
		t.Fatalf("the slow subscriber holds %d messages (capacity %d), want the queue length %d", n, c, defaultQueueLen)
	}
	for i := 1; i <= defaultQueueLen; i++ {
		if m := <-slow.C(); string(m.Payload) != msg(i) {
			t.Fatalf("slow subscriber's message %d is %q", i, m.Payload)
		}
	}
	if _, ok := <-slow.C(); ok {
		t.Fatal("the slow subscriber's channel is not closed")
	}
	t.Logf("%d messages in %v, in batches of %d taking at most %v each", total, time.Since(start).Round(time.Millisecond), batch, slowest.Round(time.Millisecond))
}

// blocked returns a subscription of topic that is replaying into a full queue: it has
// queueLen messages waiting and more to come, because nobody reads it.
func blocked(t *testing.T, b pubsub.Broker, ctx context.Context, topic, head string, queueLen int) pubsub.Subscription {
	t.Helper()
	sub, err := b.Subscribe(ctx, topic, head)
	if err != nil {
		t.Fatal(err)
	}
	Eventually(t, "the replay fills the queue", func() bool { return len(sub.C()) == queueLen })
	return sub
}

// liveAndReplaying returns a broker, a topic with 30 messages, a live subscription and a
// replaying one stuck on its queue of 8.
func liveAndReplaying(t *testing.T, nb NewBroker, liveCtx, replayCtx context.Context) (pubsub.Broker, string, pubsub.Subscription, pubsub.Subscription) {
	t.Helper()
	const queueLen = 8
	b := nb(t, Config{History: defaultHistory, QueueLen: queueLen})
	topic := topicName(t, "a")
	head := Subscribe(t, b, topic, "").Head()
	Publish(t, b, topic, msgs(1, 30)...)
	live, err := b.Subscribe(liveCtx, topic, "")
	if err != nil {
		t.Fatal(err)
	}
	return b, topic, live, blocked(t, b, replayCtx, topic, head, queueLen)
}

func testClose(t *testing.T, nb NewBroker) {
	b, topic, live, replaying := liveAndReplaying(t, nb, t.Context(), t.Context())
	if err := b.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	for name, sub := range map[string]pubsub.Subscription{"live": live, "replaying": replaying} {
		if err := Ended(t, sub); !errors.Is(err, pubsub.ErrClosed) {
			t.Errorf("%s subscription ended with %v, want ErrClosed", name, err)
		}
	}
	if _, err := b.Subscribe(t.Context(), topic, ""); !errors.Is(err, pubsub.ErrClosed) {
		t.Errorf("Subscribe after Close: %v, want ErrClosed", err)
	}
	if err := b.Publish(t.Context(), []string{topic}, []byte("x")); !errors.Is(err, pubsub.ErrClosed) {
		t.Errorf("Publish after Close: %v, want ErrClosed", err)
	}
	if err := b.Close(); err != nil {
		t.Errorf("second Close: %v", err)
	}
}

func testContextCancel(t *testing.T, nb NewBroker) {
	liveCtx, cancelLive := context.WithCancel(t.Context())
	replayCtx, cancelReplay := context.WithCancel(t.Context())
	b, topic, live, replaying := liveAndReplaying(t, nb, liveCtx, replayCtx)
	other := Subscribe(t, b, topic, "")
	cancelLive()
	cancelReplay()
	for name, sub := range map[string]pubsub.Subscription{"live": live, "replaying": replaying} {
		if err := Ended(t, sub); !errors.Is(err, context.Canceled) {
			t.Errorf("%s subscription ended with %v, want context.Canceled", name, err)
		}
	}
	// A context that is over already: no subscription, or one that ends at once.
	done, cancel := context.WithCancel(t.Context())
	cancel()
	if sub, err := b.Subscribe(done, topic, ""); err == nil {
		if err := Ended(t, sub); !errors.Is(err, context.Canceled) {
			t.Errorf("subscription with a cancelled context ended with %v", err)
		}
	} else if !errors.Is(err, context.Canceled) {
		t.Errorf("Subscribe with a cancelled context: %v", err)
	}
	// The others carry on.
	Publish(t, b, topic, msgs(31, 31)...)
	Expect(t, other, topic, msgs(31, 31)...)
}

func testSubscriptionClose(t *testing.T, nb NewBroker) {
	b, topic, live, replaying := liveAndReplaying(t, nb, t.Context(), t.Context())
	other := Subscribe(t, b, topic, "")
	live.Close()
	replaying.Close()
	Ended(t, live)
	Ended(t, replaying)
	live.Close() // harmless
	Publish(t, b, topic, msgs(31, 31)...)
	Expect(t, other, topic, msgs(31, 31)...)
}
