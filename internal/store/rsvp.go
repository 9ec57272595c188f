package store

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"google.golang.org/protobuf/proto"

	rallyv1 "github.com/rallyhq/rally/gen/go/rally/v1"
	"github.com/rallyhq/rally/internal/names"
)

// RSVPs are stored with the event they belong to (in Redis, under the event's hash tag),
// because every RSVP write must decide against the event's capacity, state and the other
// RSVPs atomically: places are given in arrival order and never beyond capacity.
//
// The waitlist is strictly first come, first served: when places free up, waitlisted
// RSVPs are promoted in arrival order for as long as the first one fits, and a smaller
// party never passes a larger one that came earlier. That keeps positions predictable
// ("you are 3rd") and fair, at the cost of a place sometimes staying free while the
// head of the waitlist needs more than is free.

// Errors of RSVP writes.
var (
	// ErrEventClosed: the event is cancelled or has ended; it takes no RSVP changes.
	ErrEventClosed = errors.New("the event is cancelled or over")
	// ErrNoRoom: an RSVP cannot grow (more guests) because the places are taken.
	ErrNoRoom = errors.New("not enough free places")
	// ErrPartyTooLarge: the party (1 + guests) is larger than the event's whole capacity.
	// With a first come, first served waitlist it could never be promoted, and would
	// block everyone behind it.
	ErrPartyTooLarge = errors.New("the party is larger than the event's capacity")
	// ErrNotGoing: only a GOING RSVP can be checked in.
	ErrNotGoing = errors.New("the RSVP does not hold a place")
)

// NewRSVP is an RSVP to create.
type NewRSVP struct {
	// Rsvp has its name, display_name, contact, guests and create_time set.
	Rsvp *rallyv1.Rsvp
	// TokenHash is the SHA-256 of the manage token (the store never sees the token).
	TokenHash []byte
	// RequestKey identifies the create for idempotency (a hash of the client's
	// request_id, never the id itself); empty when the client sent none.
	RequestKey string
	// SealedToken is the manage token encrypted with a key only the client's request_id
	// yields, kept with RequestKey so that a retry can be given the same token.
	SealedToken []byte
	// Change is the change to publish to the event's organisers along with the write;
	// optional. A store publishes it in the same atomic step when it can (a Redis store
	// sharing its Redis with the broker) and returns it otherwise, in
	// CreatedRSVP.Unpublished, for the caller to publish.
	Change *Publication
}

// Publication is a change to publish on a topic, by the store with its write or by the
// caller after it.
type Publication struct {
	Topic   string
	Payload []byte
}

// CreatedRSVP is the outcome of CreateRSVP.
type CreatedRSVP struct {
	// Rsvp is the stored RSVP, with its state and waitlist position.
	Rsvp *rallyv1.Rsvp
	// Replayed is true when RequestKey had been used: Rsvp is the RSVP created then (in
	// its current state), and SealedToken the token sealed then.
	Replayed    bool
	SealedToken []byte
	// Unpublished is NewRSVP.Change when the store did not publish it with the write:
	// the caller must. Nil when it was published, and for a replay (nothing changed).
	Unpublished *Publication
}

// RSVPChange is a change to an RSVP's own fields; nil fields are left alone.
type RSVPChange struct {
	DisplayName *string
	Contact     *string
	Guests      *int32
	// Envelope replaces the RSVP's envelope; an empty Envelope (version 0) removes it.
	Envelope *rallyv1.Envelope
}

// ApplyEnvelope returns the envelope that an RSVP with envelope cur has after the change.
func (c RSVPChange) ApplyEnvelope(cur *rallyv1.Envelope) *rallyv1.Envelope {
	switch {
	case c.Envelope == nil:
		return cur
	case c.Envelope.GetVersion() == 0:
		return nil
	}
	return proto.Clone(c.Envelope).(*rallyv1.Envelope)
}

// RSVPQuery selects a page of an event's RSVPs, in arrival order.
type RSVPQuery struct {
	Event     string            // events/{id}
	State     rallyv1.RsvpState // unspecified: all
	PageSize  int
	PageToken string
}

// RSVPStore is the part of Store that keeps RSVPs. Every write decides and records in one
// atomic step, and keeps the event's attendance counts (people, guests included) in step.
// Events returned by GetEvent and ListEvents carry those counts in attendance.
type RSVPStore interface {
	// CreateRSVP gives the RSVP a place if capacity allows, else puts it on the waitlist.
	// ErrNotFound if the event does not exist; ErrEventClosed if it is cancelled or has
	// ended by now; ErrPartyTooLarge if the party exceeds the capacity.
	CreateRSVP(ctx context.Context, event string, n NewRSVP, now time.Time) (CreatedRSVP, error)
	// GetRSVP returns an RSVP with its waitlist position, and the hash of its token.
	GetRSVP(ctx context.Context, name string) (*rallyv1.Rsvp, []byte, error)
	// FindRSVPByToken returns the event's RSVP whose token has this hash.
	FindRSVPByToken(ctx context.Context, event string, tokenHash []byte) (*rallyv1.Rsvp, error)
	// UpdateRSVP changes an RSVP's fields. More guests on a GOING RSVP must fit in the
	// free places (ErrNoRoom); fewer free places for the waitlist. A cancelled RSVP or
	// closed event: ErrEventClosed.
	UpdateRSVP(ctx context.Context, name string, c RSVPChange, now time.Time) (*rallyv1.Rsvp, error)
	// CancelRSVP cancels an RSVP and promotes the waitlist. Cancelling a cancelled RSVP
	// returns it unchanged.
	CancelRSVP(ctx context.Context, name string, now time.Time) (*rallyv1.Rsvp, error)
	// CheckInRSVP marks a GOING RSVP as checked in (ErrNotGoing otherwise).
	CheckInRSVP(ctx context.Context, name string, now time.Time) (*rallyv1.Rsvp, error)
	// ListRSVPs returns a page of an event's RSVPs in arrival order.
	ListRSVPs(ctx context.Context, q RSVPQuery) (Page[*rallyv1.Rsvp], error)
	// Rebalance promotes waitlisted RSVPs that fit after the event's capacity grew, and
	// sets when its RSVPs are deleted (the event's end plus the retention) after its end
	// moved. UpdateEvent callers call it after every event update.
	Rebalance(ctx context.Context, event string) error
	// AppendAudit records an organiser's read of personal data under parent: an event,
	// `events/{id}`, for its RSVPs, or a task, `tasks/{id}`, for its claims. ListAudit
	// returns a page of parent's entries, newest first (at most MaxAuditEntries are kept;
	// PageNewestFirst). Another kind of name is ErrNotFound. The entries are kept with their event or task: they
	// say which organiser read what, which its organisers need to be able to check after
	// the event too, and they name no participant.
	AppendAudit(ctx context.Context, parent string, e *rallyv1.AuditEntry) error
	ListAudit(ctx context.Context, q AuditQuery) (Page[*rallyv1.AuditEntry], error)
	// AppendAnnouncement records an announcement; ListAnnouncements returns a page of
	// them, newest first (at most MaxAnnouncements are kept; PageNewestFirst).
	AppendAnnouncement(ctx context.Context, event string, a *rallyv1.Announcement) error
	ListAnnouncements(ctx context.Context, q AnnouncementQuery) (Page[*rallyv1.Announcement], error)

	SafetyStore
}

// RSVPKey is an RSVP's key in its event's RSVP indexes: the arrival sequence number in
// fixed-width hex, then the ID, so that byte order is arrival order.
func RSVPKey(seq int64, id string) string { return fmt.Sprintf("%016x|%s", seq, id) }

// RSVPIndex names the index of an event's RSVPs in one state (all states when
// unspecified). Backends keep it under the event's own keys.
func RSVPIndex(event string, state rallyv1.RsvpState) string {
	s := "all"
	if state != rallyv1.RsvpState_RSVP_STATE_UNSPECIFIED {
		s = strings.ToLower(strings.TrimPrefix(state.String(), "RSVP_STATE_"))
	}
	return "rsvp|" + ID(event) + "|" + s
}

// Range returns the slice of the one index that answers the query, after its page token.
func (q RSVPQuery) Range() (Range, error) {
	return Range{Index: RSVPIndex(q.Event, q.State), Min: "-", Max: "+"}.after(q.PageToken)
}

// MaxAuditEntries is how many reads an event's or a task's audit log keeps.
const MaxAuditEntries = 1000

// MaxAnnouncements is how many announcements an event keeps.
const MaxAnnouncements = 100

// EventOfRSVP returns the event `events/{e}` of an RSVP name `events/{e}/rsvps/{r}`, ""
// for another name (names.EventOfRSVP).
func EventOfRSVP(name string) string { return names.EventOfRSVP(name) }
