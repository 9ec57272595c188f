package hub

import (
	"context"
	"errors"
	"time"

	"github.com/rallyhq/rally/internal/pubsub"
)

// Sub is one subscription: a pubsub.Subscription.
type Sub struct {
	hub   *Hub
	topic string
	head  string
	ch    chan *pubsub.Message
	done  chan struct{} // closed when the subscription ends

	// Guarded by hub.mu once the subscription is live; until then last is the replay's
	// own (see replay).
	last      uint64 // position of the last message given to the subscriber
	replaying bool   // the replay, not the hub, sends to ch and closes it
	err       error  // why it ended; nil while it runs
	stop      func() bool
	onSlow    func() // see pubsub.WithSlowHook
}

var _ pubsub.Subscription = (*Sub)(nil)

// C delivers the messages in order; it is closed when the subscription ends. Subscribers
// share the messages and must not modify them (see pubsub.Message).
func (s *Sub) C() <-chan *pubsub.Message { return s.ch }

// Err says why C was closed: pubsub.ErrSlow, ErrClosed, ErrReset, the context's error,
// or context.Canceled after Close. It is nil while the subscription runs.
func (s *Sub) Err() error {
	s.hub.mu.Lock()
	defer s.hub.mu.Unlock()
	return s.err
}

// Head is the cursor of the topic's newest message when the subscription started.
func (s *Sub) Head() string { return s.head }

// Close ends the subscription, as cancelling its context would.
func (s *Sub) Close() { s.hub.end(s, context.Canceled) }

// push queues the entries after s.last, and reports whether it queued them all. With
// wait, it waits for room, and stops if the subscription ends; without, it stops at a
// full queue (a replay reads the rest again; a live subscription is dropped, Deliver).
func (s *Sub) push(entries []Entry, wait bool) bool {
	for _, e := range entries {
		if e.Pos <= s.last {
			continue // it read this one itself while replaying
		}
		if wait {
			select {
			case s.ch <- e.Msg:
			case <-s.done:
				return false
			}
		} else {
			select {
			case s.ch <- e.Msg:
			default:
				return false
			}
		}
		s.last = e.Pos
	}
	return true
}

// Backoff of a replay whose reads fail (Redis unreachable): the subscription waits for
// the history to come back rather than failing, as live subscriptions do.
const (
	minRetry = 50 * time.Millisecond
	maxRetry = time.Second
)

// replay reads the history after s.last and queues it, waiting for room, until a read
// comes back short and the subscription can join the live feed (see attachLocked). It is
// the only sender on s.ch until then, so it closes s.ch itself if the subscription ends
// first.
func (s *Sub) replay(ctx context.Context, read Reader) {
	h := s.hub
	defer func() {
		h.mu.Lock()
		defer h.mu.Unlock()
		if s.replaying {
			s.replaying = false
			close(s.ch)
		}
	}()
	retry := minRetry
	for {
		select {
		case <-s.done:
			return
		default:
		}
		// ErrReset: the history moved past us while we replayed (see Reader).
		entries, err := read(ctx, s.topic, s.last, h.queueLen)
		switch {
		case ctx.Err() != nil:
			h.end(s, ctx.Err())
			return
		case errors.Is(err, pubsub.ErrReset):
			h.end(s, err)
			return
		case err != nil:
			select {
			case <-s.done:
				return
			case <-time.After(retry):
			}
			retry = min(2*retry, maxRetry)
			continue
		}
		retry = minRetry
		s.push(entries, true)
		if len(entries) < h.queueLen && h.attach(s) {
			return
		}
	}
}
