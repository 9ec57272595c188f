// Package hub is what both pubsub brokers share: the in-process fan-out of one replica
// to its local subscribers, the replay-then-live handover, and the cursor encoding.
//
// A broker keeps each topic's history (a ring in memory, a stream in Redis) in which
// consecutive messages have consecutive positions. A history lasts a lifetime after its
// newest message; the next one starts a new life, whose positions are beyond those of
// every life before (see Lives, and the cursor encoding, which names the life). The
// broker feeds new messages to the hub in order (Deliver) and lends the hub a Reader of
// the history, from which a subscriber replays and catches up.
//
// # Bounded queues
//
// Every subscription has a queue of a fixed length (a buffered channel). Delivering to a
// full queue never waits and never grows the queue: it ends that subscription with
// pubsub.ErrSlow and drops it from the hub, so that a subscriber that stops reading costs
// at most one queue and delays no one. It resumes from its last cursor, out of the
// history.
//
// A channel's buffer is allocated whole when the subscription starts, so every
// subscription, even an idle one, costs its full queue. The queues therefore hold
// pointers (8 bytes a slot, not a whole Message): an Entry's Msg is allocated by the
// broker (once per Publish in memory, once per read of the stream in Redis), and every
// subscriber given it shares that one, read-only, however many have it waiting.
//
// # Replay, then live, with no gap and no duplicate
//
// A subscription starts pending: it reads the history after its cursor and pushes it into
// its own queue, waiting for room (a replay is as long as the history at most, and a
// subscriber that does not read only holds itself up). Meanwhile the topic's live
// messages pass it by. When a read comes back short (the history is exhausted), it
// attaches to the live feed, but only if the feed has not gone past what it has; if it
// has, the subscription reads again from where it is. Each subscription remembers the
// position of the last message it was given and skips anything older, so a message that
// arrives by both ways is given once. Every read of a replay must carry on from where
// the subscription is (Reader, Replays), or the subscription ends with pubsub.ErrReset.
//
// # Lives
//
// A topic's history is deleted a lifetime after its newest message (the brokers'
// WithHistoryTTL), so that it keeps the time of no change longer than the data the
// change was about. The next message then starts the topic's history again: a new life.
// Nothing of an old life may leak into a new one: a cursor of the old life resumed in
// the new one would "continue" from a position that means nothing there, skipping
// messages or replaying others silently.
//
// Positions therefore grow with time, from one life to the next. A life that begins at
// time S (milliseconds on the broker's clock: Redis's TIME on the node of the topic's
// stream, or the memory broker's monotonic clock) numbers its messages from position
// S×PerMilli on: S×PerMilli, S×PerMilli+1, …. A life begins at least a lifetime after
// the last message of the one before (it expired), and no topic takes PerMilli messages
// a millisecond, so the positions of one life are beyond every position of the lives
// before it, and a position tells roughly when its life began.
//
// Cursors say exactly which life they belong to (Cursor.Life), so Resume refuses a
// cursor of another life outright, whatever its position. The one cursor that may move
// into a new life is the Head of a topic without history (Cursor.N 0, given out at time
// Life): it stands before the next life, and resumes into the life it finds if that
// life began less than a lifetime after the cursor was given out, for then no other life
// can have begun and expired in between. A live feed is judged the same way by Follows,
// and a replay by Replays, from its position alone: a subscription that found its topic
// without history stands before the next life (EmptyAfter), and carries on into it
// whether it joins the live feed before the life begins or the feed goes into the life
// first (a broker whose reads do not exclude its deliveries, Redis) and the
// subscription replays the life from its first message.
//
// The clock must not step back by more than the margin EmptyAfter leaves (NTP slews,
// it does not step; a failover may land on a node whose clock is a little behind).
package hub

import (
	"context"
	"runtime"
	"sync"
	"time"

	"github.com/rallyhq/rally/internal/pubsub"
)

// Defaults of the brokers.
const (
	// DefaultQueueLen is how many messages a subscription may have waiting: enough for
	// bursts (an event edited in quick succession), small enough that thousands of
	// watchers cost little (a queue of pointers: 512 bytes each). It was 256 (2 KB)
	// until watchers were counted on connections of their own (issue 19), where every
	// KB is a few percent of a watcher; a watcher more than 64 messages behind resumes
	// from the history, losing nothing (see Bounded queues).
	DefaultQueueLen = 64
	// DefaultHistory is how many messages a topic keeps for resumption: hours of an
	// event's changes, minutes of a busy campaign's.
	DefaultHistory = 1000
	// DefaultHistoryTTL is how long a topic's history lasts after its newest message: the
	// store's default RSVP retention, so that a change outlives the RSVP it was about
	// by no more than the RSVP itself outlives its event. Rally passes its configured
	// retention.
	DefaultHistoryTTL = 72 * time.Hour
	// MinHistoryTTL is the shortest lifetime WithHistoryTTL gives a history: a shorter
	// one would expire messages before a replica that was briefly away could read them,
	// and reset every watcher that merely reconnects (a retention of 0, "delete as the
	// event ends", still leaves the changes a minute).
	MinHistoryTTL = time.Minute
)

// Millis is a lifetime in whole milliseconds, at least 1, as the brokers' clocks count.
func Millis(d time.Duration) uint64 { return uint64(max(d.Milliseconds(), 1)) }

// Entry is a message with its position in its topic's history. Msg is what subscribers
// receive: the hub queues the pointer itself, never a copy, so it must not be nil and
// nobody may modify it once it has been handed to the hub.
type Entry struct {
	Pos uint64
	Msg *pubsub.Message
}

// Reader reads a topic's history for a replay: oldest first, up to limit of the retained
// messages after position after, up to which the subscription has every message. The
// broker, which has the clock and the lifetime, judges whether they carry on from after
// (Replays) and returns pubsub.ErrReset if they do not: messages after it were dropped,
// or its life is over. A replay thus never skips a message, and never crosses from one
// life into another, except from before any life into the next (a subscription that
// found its topic without history). Any other error is a history out of reach for now,
// and the replay reads again.
type Reader func(ctx context.Context, topic string, after uint64, limit int) ([]Entry, error)

// Continues reports whether entries, read from a history whose newest position is last,
// carry on right after position after: nothing after it has been dropped from the
// history, and after is not beyond its end (a position of a history that was lost). A
// position equal to the last message dropped is still fine: everything after it is
// there.
func Continues(after, last uint64, entries []Entry) bool {
	if after > last {
		return false
	}
	if len(entries) == 0 {
		return after == last
	}
	return entries[0].Pos == after+1
}

// Hub fans messages out to the local subscriptions of each topic.
type Hub struct {
	queueLen int
	onAttach func(topic string)

	mu     sync.Mutex
	closed bool
	topics map[string]*topic
}

// topic is the hub's state of one topic with subscriptions.
type topic struct {
	// last is the position of the newest message given to the live feed, known once set:
	// every live subscription has been given everything up to it, and the next Deliver
	// must carry on from it.
	last uint64
	set  bool
	live map[*Sub]struct{}
	// subs is live as a slice, for send; nil when live has changed since.
	subs []*Sub
	// pending are the subscriptions still replaying.
	pending map[*Sub]struct{}
}

// New returns a hub whose subscriptions queue up to queueLen messages (at least 1).
// onAttach, if not nil, is called, with the hub locked, when a subscription of a topic
// joins its live feed: a broker that learns of new messages by signals (Redis) uses it to
// fetch once more, for a signal may have come while the subscription was pending.
func New(queueLen int, onAttach func(topic string)) *Hub {
	return &Hub{queueLen: max(queueLen, 1), onAttach: onAttach, topics: map[string]*topic{}}
}

// QueueLen is the length of every subscription's queue. Brokers read their first batch of
// a replay with this limit (see Subscribe).
func (h *Hub) QueueLen() int { return h.queueLen }

// Subscribe starts a subscription of topic after position after. head is its
// Subscription.Head. first is the history after after, as read with the limit QueueLen
// (fewer entries mean that the history had no more); more reads the rest, and again
// whenever live messages went past the subscription before it could join them. A broker
// that feeds Deliver without being asked (memory) must make the read of first and this
// call atomic with respect to Deliver; one that fetches (Redis) need not.
//
// The subscription ends when ctx ends, with ctx's error.
func (h *Hub) Subscribe(ctx context.Context, topicName string, after uint64, head string, first []Entry, more Reader) (*Sub, error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.closed {
		return nil, pubsub.ErrClosed
	}
	s := &Sub{
		hub:       h,
		topic:     topicName,
		head:      head,
		last:      after,
		ch:        make(chan *pubsub.Message, h.queueLen),
		done:      make(chan struct{}),
		replaying: true,
	}
	s.onSlow = pubsub.SlowHook(ctx) // called with the hub locked
	t := h.topics[topicName]
	if t == nil {
		t = &topic{live: map[*Sub]struct{}{}, pending: map[*Sub]struct{}{}}
		h.topics[topicName] = t
	}
	t.pending[s] = struct{}{}
	// The queue is new, so first fits. The AfterFunc runs in a goroutine of its own and
	// waits for the lock, so setting stop here is safe even if ctx is already done.
	s.push(first, false)
	s.stop = context.AfterFunc(ctx, func() { h.end(s, ctx.Err()) })
	if len(first) < h.queueLen && h.attachLocked(s) {
		return s, nil
	}
	go s.replay(ctx, more)
	return s, nil
}

// Deliver gives topic's live subscriptions the messages after position from, which must
// be the complete history after it, in order. It reports false, and does nothing, if
// from is beyond what the topic's live feed has had: the messages in between would be
// missed, so the caller must read again from the topic's position (Positions). Messages
// the feed already had are skipped, so overlapping reads are harmless.
func (h *Hub) Deliver(topicName string, from uint64, entries []Entry) bool {
	h.mu.Lock()
	defer h.mu.Unlock()
	t := h.topics[topicName]
	if t == nil {
		return true
	}
	if t.set && from > t.last {
		return false
	}
	for len(entries) > 0 && t.set && entries[0].Pos <= t.last {
		entries = entries[1:]
	}
	if len(entries) == 0 {
		return true
	}
	t.last, t.set = entries[len(entries)-1].Pos, true
	h.send(t, entries)
	return true
}

// Sending to many subscriptions is split between goroutines, one per core and at most one
// per sendChunk subscriptions. A send to a waiting subscriber readies its goroutine on the
// sender's core (the runtime's runnext), so a lone sender to 100,000 watchers both
// serialises their sends and leaves the other cores to steal the woken watchers one by
// one; senders on every core spread them from the start. Below two chunks a lone sender
// is cheaper than starting goroutines. (BenchmarkDeliver; docs/performance.md.)
const sendChunk = 2048

// sendWorkers is how many goroutines send to n subscriptions. A variable so that tests
// can run the parallel path with few subscribers.
var sendWorkers = func(n int) int { return max(1, min(runtime.GOMAXPROCS(0), n/sendChunk)) }

// send is Deliver's sending, with h.mu held throughout: each goroutine sends to
// subscriptions of its own share only (their channel and last), nothing else of the hub
// is touched until they are all done, and the slow ones are dropped afterwards, here.
// The subscriptions are walked as a slice (liveSubs), which is also several times
// faster than ranging over the map.
func (h *Hub) send(t *topic, entries []Entry) {
	subs := t.liveSubs()
	workers := sendWorkers(len(subs))
	share := (len(subs) + workers - 1) / workers
	slow := make([][]*Sub, workers)
	var wg sync.WaitGroup
	for w := range workers {
		part := subs[min(w*share, len(subs)):min((w+1)*share, len(subs))]
		sendPart := func() {
			for _, s := range part {
				if !s.push(entries, false) {
					slow[w] = append(slow[w], s)
				}
			}
		}
		if w == workers-1 {
			sendPart() // this goroutine takes the last share
			break
		}
		wg.Go(sendPart)
	}
	wg.Wait()
	for _, ss := range slow {
		for _, s := range ss {
			h.dropSlow(s)
		}
	}
}

// dropSlow ends s, whose queue is full, with pubsub.ErrSlow (see Bounded queues).
func (h *Hub) dropSlow(s *Sub) {
	h.endLocked(s, pubsub.ErrSlow)
	if s.onSlow != nil {
		s.onSlow()
	}
}

// Positions returns, for every topic with live subscriptions, the position its live feed
// is at: where a broker that fetches reads next.
func (h *Hub) Positions() map[string]uint64 {
	h.mu.Lock()
	defer h.mu.Unlock()
	out := make(map[string]uint64, len(h.topics))
	for name, t := range h.topics {
		if t.set && len(t.live) > 0 {
			out[name] = t.last
		}
	}
	return out
}

// Live reports whether topic has live subscriptions, for a broker that is told of new
// messages in every topic to ignore those nobody here follows.
func (h *Hub) Live(topicName string) bool {
	h.mu.Lock()
	defer h.mu.Unlock()
	t := h.topics[topicName]
	return t != nil && len(t.live) > 0
}

// EndTopic ends every subscription of topic with err.
func (h *Hub) EndTopic(topicName string, err error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if t := h.topics[topicName]; t != nil {
		h.endTopicLocked(t, err)
	}
}

// EndAll ends every subscription with err: the history they follow is gone.
func (h *Hub) EndAll(err error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.endAllLocked(err)
}

// Close ends every subscription with pubsub.ErrClosed; Subscribe fails from now on.
func (h *Hub) Close() {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.closed = true
	h.endAllLocked(pubsub.ErrClosed)
}

func (h *Hub) endAllLocked(err error) {
	for _, t := range h.topics {
		h.endTopicLocked(t, err)
	}
}

func (h *Hub) endTopicLocked(t *topic, err error) {
	for s := range t.live {
		h.endLocked(s, err)
	}
	for s := range t.pending {
		h.endLocked(s, err)
	}
}

// liveSubs returns t.live as a slice, built again only after the live set changed.
func (t *topic) liveSubs() []*Sub {
	if t.subs == nil {
		t.subs = make([]*Sub, 0, len(t.live))
		for s := range t.live {
			t.subs = append(t.subs, s)
		}
	}
	return t.subs
}

// attach moves a pending subscription to the live feed if nothing passed it by; see
// attachLocked. It reports true, so that the replay stops, if s has ended meanwhile.
func (h *Hub) attach(s *Sub) bool {
	h.mu.Lock()
	defer h.mu.Unlock()
	if s.err != nil {
		return true
	}
	return h.attachLocked(s)
}

// attachLocked moves s from pending to live, unless the live feed has gone past the last
// message s was given: s then reads the history again. A feed that has not started yet
// starts where s is.
func (h *Hub) attachLocked(s *Sub) bool {
	t := h.topics[s.topic]
	if t.set && t.last > s.last {
		return false
	}
	if !t.set {
		t.last, t.set = s.last, true
	}
	delete(t.pending, s)
	t.live[s] = struct{}{}
	t.subs = nil
	s.replaying = false
	if h.onAttach != nil {
		h.onAttach(s.topic)
	}
	return true
}

// end ends s with err, unless it has ended already.
func (h *Hub) end(s *Sub, err error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.endLocked(s, err)
}

// endLocked records why s ended, releases it from its topic and closes its channel. A
// replaying subscription's channel is closed by its replay, the only one sending to it.
func (h *Hub) endLocked(s *Sub, err error) {
	if s.err != nil {
		return
	}
	s.err = err
	close(s.done)
	if s.stop != nil {
		s.stop()
	}
	t := h.topics[s.topic]
	if _, ok := t.live[s]; ok {
		delete(t.live, s)
		t.subs = nil
	}
	delete(t.pending, s)
	if len(t.live) == 0 && len(t.pending) == 0 {
		delete(h.topics, s.topic)
	}
	if !s.replaying {
		close(s.ch)
	}
}
