package redis

import (
	"testing"

	"github.com/rallyhq/rally/internal/pubsub"
	"github.com/rallyhq/rally/internal/pubsub/brokertest"
	"github.com/rallyhq/rally/internal/redistest"
)

// A subscription that finds its topic without history, but joins the hub only after the
// topic's first life began and the live feed (of another subscriber) went into it,
// replays that life from its first message: it stood before it. Found as a rare
// ErrReset in the conformance suite (ResumeWhilePublishing: a resumption from the Head
// of the empty topic while the first messages went out).
func TestJoinAfterTheFirstLifeBegan(t *testing.T) {
	s := redistest.Start(t)
	for _, tc := range []struct {
		name   string
		cursor func(live pubsub.Subscription) string
	}{
		{"no cursor", func(pubsub.Subscription) string { return "" }},
		{"Head of the empty topic", func(live pubsub.Subscription) string { return live.Head() }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			b := newBroker(t, s, "join:"+tc.name+":", WithQueueLen(8))
			topic := "events/" + tc.name
			live := brokertest.Subscribe(t, b, topic, "")
			cursor := tc.cursor(live)
			b.joining = func(topic string) {
				b.joining = nil
				// The read found no history; before the subscription joins, the life begins
				// and the feed takes its messages.
				brokertest.Publish(t, b, topic, "m1", "m2", "m3")
				brokertest.Expect(t, live, topic, "m1", "m2", "m3")
			}
			sub := brokertest.Subscribe(t, b, topic, cursor)
			brokertest.Expect(t, sub, topic, "m1", "m2", "m3")
			brokertest.Publish(t, b, topic, "m4")
			brokertest.Expect(t, sub, topic, "m4")
			brokertest.Expect(t, live, topic, "m4")
		})
	}
}
