// Package memory is the pubsub.Broker of the embedded, in-memory store: one process, so
// the history is a ring per topic and publishing hands messages straight to the hub.
//
// A ring lasts a lifetime after its newest message (WithHistoryTTL). The rings sit in a
// list in the order of their newest message, which is the order in which they expire,
// so publishing moves one to the back and the sweep takes expired ones from the front.
// One timer, armed for the front ring only while there are rings, runs the sweep: a
// broker without history has no timer, and an idle one wakes once per expiry. The
// sweep ends the subscriptions of an expired topic with pubsub.ErrReset. Positions and
// cursors follow hub's Lives, on a clock of milliseconds since the broker started
// (monotonic, so it never steps back).
package memory

import (
	"bytes"
	"container/list"
	"context"
	"math/rand/v2"
	"sync"
	"time"

	"github.com/rallyhq/rally/internal/pubsub"
	"github.com/rallyhq/rally/internal/pubsub/hub"
)

// Broker is a pubsub.Broker in process.
type Broker struct {
	// epoch is random per broker, so that a cursor of another process (a restarted
	// rallyd, whose clock started again) is refused rather than misread.
	epoch    uint64
	history  int
	lifetime uint64    // ms
	started  time.Time // the clock's zero
	hub      *hub.Hub

	// mu orders publishing against subscribing: a subscription reads the history and
	// joins the hub in one step, so no message can fall between the two. It guards the
	// rings and the sweep too.
	mu     sync.Mutex
	closed bool
	topics map[string]*ring
	byAge  list.List   // of *ring, the one whose newest message is oldest first
	timer  *time.Timer // runs sweep
	armed  bool        // timer is set to go off
}

var _ pubsub.Broker = (*Broker)(nil)

type config struct {
	history, queueLen int
	lifetime          time.Duration
}

// Option configures a Broker.
type Option func(*config)

// WithHistory sets how many messages each topic keeps for resumption (at least 1;
// default hub.DefaultHistory).
func WithHistory(n int) Option { return func(c *config) { c.history = max(n, 1) } }

// WithQueueLen sets how many messages a subscriber may have waiting before it is dropped
// with pubsub.ErrSlow (default hub.DefaultQueueLen).
func WithQueueLen(n int) Option { return func(c *config) { c.queueLen = n } }

// WithHistoryTTL sets how long a topic's history lasts after its newest message (at
// least hub.MinHistoryTTL; default hub.DefaultHistoryTTL). Subscribing does not extend
// it: watchers cannot keep a history alive.
func WithHistoryTTL(d time.Duration) Option {
	return func(c *config) { c.lifetime = max(d, hub.MinHistoryTTL) }
}

// New returns an empty broker.
func New(opts ...Option) *Broker {
	c := config{history: hub.DefaultHistory, queueLen: hub.DefaultQueueLen, lifetime: hub.DefaultHistoryTTL}
	for _, o := range opts {
		o(&c)
	}
	return &Broker{
		epoch:    rand.Uint64(),
		history:  c.history,
		lifetime: hub.Millis(c.lifetime),
		started:  time.Now(),
		hub:      hub.New(c.queueLen, nil),
		topics:   map[string]*ring{},
	}
}

// now is the broker's clock: ms since it started, from 1 (hub.LifeStart(0) is taken).
func (b *Broker) now() uint64 { return uint64(time.Since(b.started).Milliseconds()) + 1 }

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
	now := b.now()
	for _, topic := range topics {
		r := b.life(topic, now)
		from := uint64(0)
		if r == nil {
			// A new life. Its first message is the whole history after any position: the
			// subscriptions of the life before ended with it, and those left came after.
			first := hub.LifeStart(now)
			r = &ring{topic: topic, first: first, last: first - 1}
			r.elem = b.byAge.PushBack(r)
			b.topics[topic] = r
		} else {
			from = r.last
			b.byAge.MoveToBack(r.elem)
		}
		r.newest = now
		pos := r.last + 1
		// One Message for the history and every subscriber, live or replaying.
		e := hub.Entry{Pos: pos, Msg: &pubsub.Message{Topic: topic, Cursor: hub.MessageCursor(b.epoch, topic, r.first, pos), Payload: payload}}
		r.append(e, b.history)
		b.hub.Deliver(topic, from, []hub.Entry{e})
	}
	b.arm(now)
	return nil
}

// Subscribe subscribes to topic; see pubsub.Broker.
func (b *Broker) Subscribe(ctx context.Context, topic, cursor string) (pubsub.Subscription, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.closed {
		return nil, pubsub.ErrClosed
	}
	now := b.now()
	r := b.life(topic, now)
	span := r.span()
	after := span.Last
	if span.Last == 0 {
		after = hub.EmptyAfter(now, b.lifetime)
	}
	var entries []hub.Entry
	if cursor != "" {
		c, err := hub.ParseCursor(cursor, topic)
		if err != nil {
			return nil, err
		}
		if c.Epoch != b.epoch {
			return nil, pubsub.ErrReset
		}
		_, entries = r.read(c.ReadAfter(), b.hub.QueueLen())
		var ok bool
		if after, ok = hub.Resume(c, span, entries, now, b.lifetime); !ok {
			return nil, pubsub.ErrReset
		}
	}
	sub, err := b.hub.Subscribe(ctx, topic, after, hub.HeadCursor(b.epoch, topic, span, now), entries, b.read)
	if err != nil {
		return nil, err
	}
	return sub, nil
}

// read is the hub.Reader of the history: what it reads must carry on from after
// (hub.Replays).
func (b *Broker) read(_ context.Context, topic string, after uint64, limit int) ([]hub.Entry, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	now := b.now()
	r := b.life(topic, now)
	_, entries := r.read(after, limit)
	if !hub.Replays(after, r.span(), entries, now, b.lifetime) {
		return nil, pubsub.ErrReset
	}
	return entries, nil
}

// life returns topic's history at now, or nil if it has none: one that has expired but
// that the sweep has not reached yet is dropped here, so that it is never read or
// continued.
func (b *Broker) life(topic string, now uint64) *ring {
	r := b.topics[topic]
	if r != nil && b.expired(r, now) {
		b.drop(r)
		return nil
	}
	return r
}

func (b *Broker) expired(r *ring, now uint64) bool { return now >= r.newest+b.lifetime }

// drop deletes r's history and ends the subscriptions that followed it.
func (b *Broker) drop(r *ring) {
	delete(b.topics, r.topic)
	b.byAge.Remove(r.elem)
	b.hub.EndTopic(r.topic, pubsub.ErrReset)
}

// arm sets the timer to sweep when the front ring expires, unless it is set already: a
// ring moved back meanwhile only makes the sweep find nothing and set it again.
func (b *Broker) arm(now uint64) {
	front := b.byAge.Front()
	if b.armed || b.closed || front == nil {
		return
	}
	deadline := front.Value.(*ring).newest + b.lifetime
	wait := time.Duration(deadline-min(now, deadline)) * time.Millisecond
	if b.timer == nil {
		b.timer = time.AfterFunc(wait, b.sweep)
	} else {
		b.timer.Reset(wait)
	}
	b.armed = true
}

// sweep drops the expired rings and sets the timer for the next.
func (b *Broker) sweep() {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.armed = false
	if b.closed {
		return
	}
	now := b.now()
	for e := b.byAge.Front(); e != nil && b.expired(e.Value.(*ring), now); e = b.byAge.Front() {
		b.drop(e.Value.(*ring))
	}
	b.arm(now)
}

// Close ends every subscription with pubsub.ErrClosed and drops the history.
func (b *Broker) Close() error {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.closed = true
	b.topics = nil
	b.byAge.Init()
	if b.timer != nil {
		b.timer.Stop()
	}
	b.hub.Close()
	return nil
}
