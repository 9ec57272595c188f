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
// first served, so the promoted ones are at its head before the write: promotions reads
// as many of it as the write can promote before, and signals those that are gone from it
// after (promoted, or cancelled or deleted meanwhile, which a signal does not hurt: the
// stream re-reads and finds out).
//
// How many one RSVP write can promote (rsvpWritePromotions): after every write the head
// of the waitlist does not fit, so fewer free places than one party are left; a cancel,
// a deletion or fewer guests frees at most one party's places; a party is at most
// maxGuests+1 people, and each promoted RSVP takes at least one place. A larger capacity
// can promote any number: capacityPromotions is how many of those are signalled, and
// the rest find out at their next read, as before.
const capacityPromotions = 100

// rsvpWritePromotions is the most RSVPs one RSVP write can promote (see above).
func (s *service) rsvpWritePromotions() int { return 2 * (int(s.maxGuests) + 1) }

// promotions returns what to call after a write to event that may promote up to most
// RSVPs: it signals those of the waitlist's head before the write that are no longer
// waitlisted. A read that fails only loses the signals; the write goes ahead.
func (s *service) promotions(ctx context.Context, event string, most int) (after func()) {
	if s.broker == nil {
		return func() {}
	}
	before := s.waitlistHead(ctx, event, most)
	if len(before) == 0 {
		return func() {}
	}
	return func() {
		// Those of before still waitlisted are still at the head, in the same order.
		now := s.waitlistHead(ctx, event, len(before))
		for _, name := range before {
			if !slices.Contains(now, name) {
				s.notifyBuddy(ctx, name)
			}
		}
	}
}

// waitlistHead is the names of the first n RSVPs of event's waitlist.
func (s *service) waitlistHead(ctx context.Context, event string, n int) []string {
	page, err := s.store.ListRSVPs(ctx, store.RSVPQuery{Event: event, State: rallyv1.RsvpState_RSVP_STATE_WAITLISTED, PageSize: n})
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
