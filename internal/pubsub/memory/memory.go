// Package memory is the pubsub.Broker of the embedded, in-memory store: one process, so
// the history is a ring per topic and publishing hands messages straight to the hub.
package memory

import (
	"bytes"
	"context"
	"math/rand/v2"
	"sync"

	"github.com/rallyhq/rally/internal/pubsub"
	"github.com/rallyhq/rally/internal/pubsub/hub"
)

// Broker is a pubsub.Broker in process.
type Broker struct {
	// epoch is random per broker, so that a cursor of another process (a restarted
	// rallyd, whose history started again at 1) is refused rather than misread.
	epoch   uint64
	history int
	hub     *hub.Hub

	// mu orders publishing against subscribing: a subscription reads the history and
	// joins the hub in one step, so no message can fall between the two.
	mu     sync.Mutex
	closed bool
	topics map[string]*ring
}

var _ pubsub.Broker = (*Broker)(nil)

type config struct{ history, queueLen int }

// Option configures a Broker.
type Option func(*config)

// WithHistory sets how many messages each topic keeps for resumption (at least 1;
// default hub.DefaultHistory).
func WithHistory(n int) Option { return func(c *config) { c.history = max(n, 1) } }

// WithQueueLen sets how many messages a subscriber may have waiting before it is dropped
// with pubsub.ErrSlow (default hub.DefaultQueueLen).
func WithQueueLen(n int) Option { return func(c *config) { c.queueLen = n } }

// New returns an empty broker.
func New(opts ...Option) *Broker {
	c := config{history: hub.DefaultHistory, queueLen: hub.DefaultQueueLen}
	for _, o := range opts {
		o(&c)
	}
	return &Broker{
		epoch:   rand.Uint64(),
		history: c.history,
		hub:     hub.New(c.queueLen, nil),
		topics:  map[string]*ring{},
	}
}

// Publish appends payload to each topic's history and delivers it.
func (b *Broker) Publish(ctx context.Context, topics []string, payload []byte) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	payload = bytes.Clone(payload) // kept in the history: the caller may reuse its buffer
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.closed {
		return pubsub.ErrClosed
	}
	for _, topic := range topics {
		r := b.topics[topic]
		if r == nil {
			r = &ring{}
			b.topics[topic] = r
		}
		pos := r.last + 1
		// One Message for the history and every subscriber, live or replaying.
		e := hub.Entry{Pos: pos, Msg: &pubsub.Message{Topic: topic, Cursor: hub.EncodeCursor(b.epoch, topic, pos), Payload: payload}}
		r.append(e, b.history)
		b.hub.Deliver(topic, pos-1, []hub.Entry{e})
	}
	return nil
}

// Subscribe subscribes to topic; see pubsub.Broker.
func (b *Broker) Subscribe(ctx context.Context, topic, cursor string) (pubsub.Subscription, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.closed {
		return nil, pubsub.ErrClosed
	}
	r := b.topics[topic]
	after := r.newest()
	if cursor != "" {
		epoch, pos, err := hub.DecodeCursor(cursor, topic)
		if err != nil {
			return nil, err
		}
		if epoch != b.epoch {
			return nil, pubsub.ErrReset
		}
		after = pos
	}
	last, entries := r.read(after, b.hub.QueueLen())
	if !hub.Continues(after, last, entries) {
		return nil, pubsub.ErrReset
	}
	sub, err := b.hub.Subscribe(ctx, topic, after, hub.EncodeCursor(b.epoch, topic, last), entries, b.read)
	if err != nil {
		return nil, err
	}
	return sub, nil
}

// read is the hub.Reader of the history.
func (b *Broker) read(_ context.Context, topic string, after uint64, limit int) (uint64, []hub.Entry, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	last, entries := b.topics[topic].read(after, limit)
	return last, entries, nil
}

// Close ends every subscription with pubsub.ErrClosed and drops the history.
func (b *Broker) Close() error {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.closed = true
	b.topics = nil
	b.hub.Close()
	return nil
}
