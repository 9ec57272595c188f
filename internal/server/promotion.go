package server

import (
	"context"
	"slices"

	rallyv1 "github.com/rallyhq/rally/gen/go/rally/v1"
	"github.com/rallyhq/rally/internal/store"
)

// A waitlisted holder must hear of its own promotion while its page is open. The shared
// histories cannot say it: the holders' and the public history carry attendance only when
// its public view changes, and a window that ends where it began (one going; a second
// waitlisted; the first cancels: one going again) publishes nothing. So a write that can
// promote (a cancel, fewer guests, a deletion, a larger capacity) signals the RSVPs it
// promoted on their own topics (buddyTopics), which each holder's stream follows and
// answers with the holder's RSVP, as for a buddy's change. Nobody else hears the signal,
// and the holder learns nothing it could not read from its own RSVP.
//
// The stores do not say whom a write promoted. The waitlist moves strictly first come,
// first served, so the promoted ones are among its head before the write: promotions
// reads up to promotionWatch of it before and signals those missing after (promoted,
// or cancelled or deleted meanwhile, which a signal does not hurt: the stream re-reads
// and finds out). A write that promotes more than promotionWatch at once (a capacity
// raised by hundreds) leaves the rest to their next read, as before.
const promotionWatch = 100

// promotions returns what to call after a write to event that may promote: it signals
// the RSVPs at the head of the waitlist before the write that are no longer waitlisted.
// A read that fails only loses the signals; the write goes ahead.
func (s *service) promotions(ctx context.Context, event string) (after func()) {
	if s.broker == nil {
		return func() {}
	}
	before := s.waitlistHead(ctx, event)
	if len(before) == 0 {
		return func() {}
	}
	return func() {
		now := s.waitlistHead(ctx, event)
		for _, name := range before {
			if !slices.Contains(now, name) {
				s.notifyBuddy(ctx, name)
			}
		}
	}
}

// waitlistHead is the names of the first promotionWatch RSVPs of event's waitlist.
func (s *service) waitlistHead(ctx context.Context, event string) []string {
	page, err := s.store.ListRSVPs(ctx, store.RSVPQuery{Event: event, State: rallyv1.RsvpState_RSVP_STATE_WAITLISTED, PageSize: promotionWatch})
	if err != nil {
		s.log.ErrorContext(ctx, "reading the waitlist for promotions failed", "err", err)
		return nil
	}
	out := make([]string, len(page.Items))
	for i, r := range page.Items {
		out[i] = r.GetName()
	}
	return out
}
