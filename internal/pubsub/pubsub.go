// Package pubsub carries changes to watchers: a Broker keeps a short history per topic
// and delivers new messages to subscribers, on this replica and on every other one.
//
// Topics are resource names: "events/{id}" and "campaigns/{id}". Payloads are opaque
// bytes (the server puts encoded rally.v1.Change messages in them).
//
// Two implementations, with one conformance suite (brokertest): memory (in process, for
// the embedded store) and redis (a capped stream per topic for history and resumption,
// plus one pub/sub subscription per replica to learn of new messages at once).
//
// A topic's history is deleted a lifetime after its newest message (each broker's
// WithHistoryTTL; Rally passes its RSVP retention), so that the history of changes keeps
// the time of an RSVP no longer than the store keeps the RSVP. Subscribing does not
// extend it. A history that starts again is a new life: no cursor of an earlier life
// resumes into it (ErrReset), and live subscriptions of the expired one end with
// ErrReset. A topic that receives messages for ever is never deleted, but keeps only its
// newest messages (WithHistory), as any history does. See hub's Lives for how.
package pubsub

import (
	"context"
	"errors"
)

var (
	// ErrReset: the cursor cannot be resumed (older than the retained history, of a
	// history that expired, from another epoch of the history such as before Redis lost
	// its data, or malformed). The subscriber should start afresh from a snapshot.
	ErrReset = errors.New("pubsub: cannot resume from this cursor")
	// ErrSlow: the subscriber did not keep up with its topic and was dropped, so that it
	// neither slows the others nor holds memory. It can resubscribe from the cursor of the
	// last message it handled.
	ErrSlow = errors.New("pubsub: subscriber fell behind")
	// ErrClosed: the broker is shutting down.
	ErrClosed = errors.New("pubsub: broker closed")
)

// Message is one published payload, as one topic's subscribers receive it. They receive
// pointers to one Message that the replica's subscribers share, so that a slot of a
// subscriber's queue costs a pointer rather than a Message: none may modify it or its
// Payload.
type Message struct {
	Topic string
	// Cursor is the message's position in its topic: opaque, URL-safe, and valid for
	// Subscribe on any replica sharing the broker's backend.
	Cursor  string
	Payload []byte
}

// Broker publishes and delivers messages.
type Broker interface {
	// Publish appends payload to the history of every topic and delivers it to their
	// subscribers on every replica. When it returns, the message is in the history: a
	// later Subscribe from an earlier cursor replays it.
	Publish(ctx context.Context, topics []string, payload []byte) error

	// Subscribe subscribes to one topic. With an empty cursor it delivers the messages
	// published after the call; Subscription.Head then names the newest message before
	// it, so that a snapshot read after Subscribe returns is at least as new as Head and
	// nothing after it is missed. With a cursor it first replays every retained message
	// after the cursor, then continues live, with no gap and no duplicate; if the cursor
	// cannot be resumed it returns ErrReset. The subscription ends when ctx ends, when
	// it is closed, when the subscriber falls behind (ErrSlow) or when the broker closes
	// (ErrClosed).
	Subscribe(ctx context.Context, topic, cursor string) (Subscription, error)

	// Close ends every subscription with ErrClosed and releases the broker.
	Close() error
}

// Subscription is one subscriber's view of a topic.
type Subscription interface {
	// C delivers the messages in order, never nil; they are shared, read-only (see
	// Message). It is closed when the subscription ends.
	C() <-chan *Message
	// Err says why C was closed: ErrSlow, ErrClosed, ErrReset (the history was lost
	// under the subscriber: it expired, or Redis restarted empty) or the context's error.
	Err() error
	// Head is the cursor of the newest message in the topic when the subscription
	// started, or, for a topic without messages, a cursor before its first one. It is
	// never empty: a stream's first snapshot carries it, and resuming from it replays
	// everything published after the subscription started (unless that history has
	// expired since; a topic without messages for a lifetime may also have had a history
	// come and go, so its Head is then refused too).
	Head() string
	// Close ends the subscription.
	Close()
}

type slowHookKey struct{}

// WithSlowHook returns ctx carrying hook, which a broker calls when it drops a
// subscription made with that context (given to Subscribe) for falling behind (ErrSlow).
// It is called at the moment of the drop, with the broker's fan-out locked, so it must be
// quick and must not call the broker: counting the drop is what it is for. The subscriber
// itself may notice the drop much later, or never if it is stuck writing to a client that
// does not read.
func WithSlowHook(ctx context.Context, hook func()) context.Context {
	return context.WithValue(ctx, slowHookKey{}, hook)
}

// SlowHook returns the hook of WithSlowHook in ctx, or nil; for brokers.
func SlowHook(ctx context.Context) func() {
	hook, _ := ctx.Value(slowHookKey{}).(func())
	return hook
}
