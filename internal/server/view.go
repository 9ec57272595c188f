package server

import (
	"context"
	"time"

	rallyv1 "github.com/rallyhq/rally/gen/go/rally/v1"
	"github.com/rallyhq/rally/internal/auth"
	"github.com/rallyhq/rally/internal/names"
)

// What a caller sees: every function that shapes a resource for its reader, removing what
// the caller may not see (the meeting point, the owner, the organisers, contacts,
// envelopes, exact counts). Handlers and watch streams return resources only through
// these. The right to call at all is access.go's.

// viewEvent shapes an event for a caller: fully for its organisers, with the meeting point
// for the holder of a GOING RSVP once revealed, and as public otherwise. campaigns caches
// the campaigns read for one request or stream; it may be nil.
func (s *service) viewEvent(ctx context.Context, caller auth.Principal, e *rallyv1.Event, campaigns map[string]*rallyv1.Campaign) (*rallyv1.Event, error) {
	if caller.Kind == auth.RSVPHolder {
		revealed, err := s.meetingPointRevealed(ctx, e, caller)
		if err != nil {
			return nil, err
		}
		return presentToHolder(e, revealed), nil
	}
	manages, err := s.organisesEvent(ctx, caller, e, campaigns)
	if err != nil {
		return nil, err
	}
	return presentAt(e, manages, s.now()), nil
}

// presentToHolder shapes an event for the holder of one of its RSVPs: as for the public,
// with the meeting point if it is revealed to them.
func presentToHolder(e *rallyv1.Event, revealed bool) *rallyv1.Event {
	point, reveal := e.GetMeetingPoint(), e.GetMeetingPointRevealTime()
	e = present(e, false) // present clears them in place
	if revealed {
		e.MeetingPoint, e.MeetingPointRevealTime = point, reveal
	}
	return e
}

// present shapes an event for its reader: what someone who does not manage the event
// may not see is removed here, in one place, for every RPC that returns events. It does
// not know the time, so it shows organisers no not_checked_out (see presentAt).
func present(e *rallyv1.Event, manages bool) *rallyv1.Event {
	return presentAt(e, manages, time.Time{})
}

// presentAt is present at the time now. The counts of the home-safe check-out are the
// organisers' alone: checked_in always, not_checked_out only once the event has ended
// (before, it would only count who went home early, and look like an alarm). A zero now
// is a time before every end. Neither the public nor RSVP holders ever see them: how
// many people were checked in, or have not come home, is what an informant wants.
func presentAt(e *rallyv1.Event, manages bool, now time.Time) *rallyv1.Event {
	a := e.GetAttendance()
	if a == nil {
		a = &rallyv1.Attendance{}
	}
	if manages {
		if end := e.GetEndTime(); now.IsZero() || end == nil || now.Before(end.AsTime()) {
			a.NotCheckedOut = 0
		}
		e.Attendance = a
		return e
	}
	a.CheckedIn, a.NotCheckedOut = 0, 0
	// The meeting point is for organisers and GOING RSVP holders once revealed; RSVPs
	// do not exist yet, so nobody else sees it. Who organises is not public either.
	e.MeetingPoint, e.MeetingPointRevealTime, e.Owner = "", nil, ""
	switch e.GetAttendanceVisibility() {
	case rallyv1.AttendanceVisibility_ATTENDANCE_VISIBILITY_EXACT:
		e.Attendance = a
	case rallyv1.AttendanceVisibility_ATTENDANCE_VISIBILITY_HIDDEN:
		e.Attendance = nil
	default:
		going, goingRange := bucket(a.GetGoing())
		waiting, waitingRange := bucket(a.GetWaitlisted())
		e.Attendance = &rallyv1.Attendance{Going: going, Waitlisted: waiting, GoingRange: goingRange, WaitlistedRange: waitingRange}
	}
	return e
}

// buckets are the public ranges of approximate counts: wide enough that an observer
// polling the count cannot tell when one more person joined.
var buckets = []struct {
	lower int32
	label string
}{{500, "500+"}, {100, "100-499"}, {50, "50-99"}, {10, "10-49"}, {1, "1-9"}, {0, "0"}}

// bucket returns the lower bound and the label of a count's bucket.
func bucket(n int32) (int32, string) {
	for _, b := range buckets {
		if n >= b.lower {
			return b.lower, b.label
		}
	}
	return 0, "0"
}

// presentRSVP removes what only organisers see (the contact and the envelope), and what
// only the holder sees (the buddy: organisers see check_out_time, never who pairs with
// whom). The buddy is filled by presentHolderRSVP alone.
func presentRSVP(r *rallyv1.Rsvp, organiser bool) *rallyv1.Rsvp {
	r.Buddy = nil
	if !organiser {
		r.Contact, r.Envelope = "", nil
	}
	return r
}

// presentRSVPTo shapes an RSVP for its reader: presentRSVP, and no waitlist position for
// a holder of an RSVP to a HIDDEN event. The event is read only for a waitlisted RSVP,
// so that the hot path (a GOING create) pays nothing; if it cannot be read the position
// is withheld, never shown by mistake.
func (s *service) presentRSVPTo(ctx context.Context, r *rallyv1.Rsvp, organiser bool) *rallyv1.Rsvp {
	r = presentRSVP(r, organiser)
	if organiser || r.GetWaitlistPosition() == 0 {
		return r
	}
	e, err := s.store.GetEvent(ctx, names.EventOfRSVP(r.GetName()))
	if err != nil || e.GetAttendanceVisibility() == rallyv1.AttendanceVisibility_ATTENDANCE_VISIBILITY_HIDDEN {
		r.WaitlistPosition = 0
	}
	return r
}

// presentTask shows a task past its deadline as closed.
func (s *service) presentTask(t *rallyv1.Task) *rallyv1.Task {
	if t.GetDeadline() != nil && !s.now().Before(t.GetDeadline().AsTime()) {
		t.State = rallyv1.TaskState_TASK_STATE_CLOSED
	}
	if t.Progress == nil {
		t.Progress = &rallyv1.TaskProgress{}
	}
	return t
}

// presentClaim removes what only organisers see: the proof, the note and the envelopes.
func presentClaim(c *rallyv1.Claim, organiser bool) *rallyv1.Claim {
	if !organiser {
		c.ProofUrl, c.Note, c.Envelope, c.CompletionEnvelope = "", "", nil, nil
	}
	return c
}

// presentCampaign removes who organises a campaign, and who is invited to, for callers
// who are not among its organisers: the public should not be able to map organisers to
// causes, and an invitee learns who else organises only once it has accepted.
func (s *service) presentCampaign(ctx context.Context, c *rallyv1.Campaign) *rallyv1.Campaign {
	if !organisesCampaign(auth.FromContext(ctx), c) {
		c.Owner, c.Organisers, c.Invitations = "", nil, nil
	}
	return c
}
