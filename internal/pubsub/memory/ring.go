package memory

import (
	"container/list"

	"github.com/rallyhq/rally/internal/pubsub/hub"
)

// ring is one life of one topic's history: its newest messages, numbered from first
// (see hub's Lives).
type ring struct {
	topic   string
	first   uint64      // position of the life's first message
	last    uint64      // position of the newest message; first-1 before the first
	entries []hub.Entry // the retained messages; the oldest at start once full
	start   int
	// newest is when the newest message was published (ms on the broker's clock): the
	// ring expires a lifetime later.
	newest uint64
	elem   *list.Element // in Broker.byAge
}

// append adds e (at position last+1), dropping the oldest message beyond keep.
func (r *ring) append(e hub.Entry, keep int) {
	r.last = e.Pos
	if len(r.entries) < keep {
		r.entries = append(r.entries, e)
		return
	}
	r.entries[r.start] = e
	r.start = (r.start + 1) % len(r.entries)
}

// span is the life's span; empty for a topic without history (r nil).
func (r *ring) span() hub.Span {
	if r == nil {
		return hub.Span{}
	}
	return hub.Span{First: r.first, Last: r.last}
}

// read returns the newest position and up to limit retained messages after after, the
// entries a hub.Reader returns. r may be nil: a topic without history.
func (r *ring) read(after uint64, limit int) (uint64, []hub.Entry) {
	if r == nil {
		return 0, nil
	}
	n := uint64(len(r.entries))
	oldest := r.last - n + 1
	from := max(after+1, oldest)
	if from > r.last {
		return r.last, nil
	}
	count := min(r.last-from+1, uint64(limit))
	out := make([]hub.Entry, count)
	for i := range out {
		out[i] = r.entries[(uint64(r.start)+from-oldest+uint64(i))%n]
	}
	return r.last, out
}
