package main

import (
	"context"
	"fmt"
	"math/rand/v2"

	rallyv1 "github.com/rallyhq/rally/gen/go/rally/v1"
)

// correctness is item 6: concurrent RSVPs with guests on a few events with capacity, then
// no event above capacity and attendance equal to the records (ListRsvps as admin).
func correctness(ctx context.Context, e *env, o options, r *report) error {
	const nEvents, capacity, perEvent = 5, 50, 200
	names, err := e.createEvents(ctx, 3_000_000, nEvents, capacity)
	if err != nil {
		return err
	}
	err = parallel(ctx, nEvents*perEvent, o.concurrency, func(ctx context.Context, i int) error {
		_, err := e.rsvps(i).CreateRsvp(ctx, &rallyv1.CreateRsvpRequest{Parent: names[i%nEvents], Rsvp: &rallyv1.Rsvp{Guests: rand.Int32N(4)}})
		return err
	})
	if err != nil {
		return fmt.Errorf("CreateRsvp: %w", err)
	}
	bad := 0
	var detail string
	for _, name := range names {
		ev, err := e.events(0).GetEvent(admin(ctx), &rallyv1.GetEventRequest{Name: name})
		if err != nil {
			return err
		}
		var going, waiting int32
		token := ""
		for {
			resp, err := e.rsvps(0).ListRsvps(admin(ctx), &rallyv1.ListRsvpsRequest{Parent: name, PageSize: 1000, PageToken: token})
			if err != nil {
				return fmt.Errorf("ListRsvps: %w", err)
			}
			for _, rs := range resp.GetRsvps() {
				switch rs.GetState() {
				case rallyv1.RsvpState_RSVP_STATE_GOING:
					going += 1 + rs.GetGuests()
				case rallyv1.RsvpState_RSVP_STATE_WAITLISTED:
					waiting += 1 + rs.GetGuests()
				}
			}
			if token = resp.GetNextPageToken(); token == "" {
				break
			}
		}
		a := ev.GetAttendance()
		if a.GetGoing() > capacity || a.GetGoing() != going || a.GetWaitlisted() != waiting {
			bad++
		}
		detail += fmt.Sprintf(" %d/%d going (records %d), %d waitlisted (records %d);", a.GetGoing(), capacity, going, a.GetWaitlisted(), waiting)
	}
	r.add(newFigure("6 events over capacity or off the records", float64(bad), 0, true,
		fmt.Sprintf("%d events x %d concurrent RSVPs, 0-3 guests", nEvents, perEvent)))
	r.note("6 attendance vs records", "%s", detail)
	return nil
}
