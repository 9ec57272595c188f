package store

import (
	"math"

	rallyv1 "github.com/rallyhq/rally/gen/go/rally/v1"
)

// An event's revision (Event.revision) counts the changes organisers made to it: 0 when
// created, one more for every stored update (an edit, the cancellation). Calendar feeds
// publish it as SEQUENCE (RFC 5545), which must grow with every change: update_time
// cannot serve, as two changes can fall within one second, the resolution of iCalendar
// times. The counter lives in the event's own record, so both backends keep it the same
// way and it moves with nothing but the event's writes: RSVPs, check-ins and buddies
// never write the event record (their counts are kept beside it), so the revision, like
// everything public about the event, tells nobody when people RSVP.

// NewEventRevision prepares an event for CreateEvent: whatever revision the caller left in
// it, a new event is at revision 0.
func NewEventRevision(e *rallyv1.Event) { e.Revision = 0 }

// ReviseEvent wraps the mutate of UpdateEvent so that the stored event's revision is one
// more than the one read: set before mutate runs, so that what mutate derives from the
// event (its etag) covers the new revision, and again after, so that mutate cannot change
// it. A mutate that fails stores nothing, so the revision does not move either; a backend
// that retries reads the record again and so counts from the newest revision.
func ReviseEvent(mutate func(*rallyv1.Event) error) func(*rallyv1.Event) error {
	return func(e *rallyv1.Event) error {
		next := e.GetRevision()
		if next < math.MaxInt32 { // an int32, as SEQUENCE is; 2^31 edits will not happen
			next++
		}
		e.Revision = next
		if err := mutate(e); err != nil {
			return err
		}
		e.Revision = next
		return nil
	}
}
