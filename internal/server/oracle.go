package server

import (
	"context"

	rallyv1 "github.com/rallyhq/rally/gen/go/rally/v1"
)

// When an event's attendance is HIDDEN, the results of an RSVP holder's own calls must
// not tell how many people come: otherwise an informant holding one RSVP learns what
// the public may not. Two answers carried counts:
//
//   - waitlist_position is the number of people's RSVPs ahead, plus one: the newest
//     RSVP's position is the length of the waitlist, and watching it move counts
//     cancellations. A holder of a HIDDEN event's RSVP gets none (0); WAITLISTED still
//     says that a place will come when one frees up, which is what the participant
//     needs. A coarse bucket would still count: it moves when someone ahead cancels.
//   - Raising guests on a GOING RSVP is refused exactly when the free places do not
//     suffice, so raising and lowering by one in turn counts the free places. A holder's
//     raise on a HIDDEN event is refused whatever the free places, before the store is
//     asked (accepting it onto the waitlist instead would tell the same by the state it
//     ends in). Lowering is always fine: it consults nothing.
//
// What is left is the state: whether an RSVP got a place. A participant must know it, and
// learning more by it means taking places, one RSVP at a time, which the organisers see.
// The event's organisers see the exact counts anyway, and get every answer in full.

// refuseHiddenGrowth refuses a holder's raise of guests on an RSVP to a HIDDEN event,
// whatever the free places (see above). e is the RSVP's event; organisers may raise.
func (s *service) refuseHiddenGrowth(ctx context.Context, e *rallyv1.Event, name string, guests int32, organiser bool) error {
	if organiser || e.GetAttendanceVisibility() != rallyv1.AttendanceVisibility_ATTENDANCE_VISIBILITY_HIDDEN {
		return nil
	}
	cur, _, err := s.store.GetRSVP(ctx, name)
	if err != nil {
		return err
	}
	if guests <= cur.GetGuests() {
		return nil
	}
	return errHiddenGrowth(name)
}

// errHiddenGrowth is the one answer to a holder's raise of guests on a HIDDEN event. It
// is also the answer when the store finds no room for a raise that the check above let
// through (guests lowered concurrently in between), so that the refusal reads the same.
func errHiddenGrowth(name string) error {
	return errPrecondition(name, "rsvp.guests cannot be raised: the event's attendance is hidden, and whether more guests fit would tell how many come; cancel and RSVP again with the whole party, or ask the organisers")
}
