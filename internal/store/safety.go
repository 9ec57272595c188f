package store

import (
	"context"
	"errors"
	"time"

	rallyv1 "github.com/rallyhq/rally/gen/go/rally/v1"
)

// Buddies, home-safe check-out and forget-me (issue 17). Like every RSVP write, each of
// these decides and records in one atomic step under the event's keys: a buddy code is
// used once even when two replicas race for it, and a deleted RSVP's place goes to the
// waitlist in the same step that deletes it.

// Errors of the buddy and check-out writes.
var (
	// ErrBuddyCode: the buddy code is unknown, expired or used, or belongs to another
	// event's RSVP. One error for all of them, so that the answer tells a guesser nothing.
	ErrBuddyCode = errors.New("unknown, expired or used buddy code")
	// ErrBuddySelf: the code belongs to the joining RSVP itself.
	ErrBuddySelf = errors.New("an RSVP cannot be its own buddy")
	// ErrHasBuddy: the RSVP (or the code's RSVP) has a buddy already.
	ErrHasBuddy = errors.New("the RSVP has a buddy already")
	// ErrNotStarted: check-out before the event's start.
	ErrNotStarted = errors.New("the event has not started")
	// ErrRSVPCancelled: a cancelled RSVP takes no buddy.
	ErrRSVPCancelled = errors.New("the RSVP is cancelled")
)

// BuddyCode is a buddy code as a store keeps it: never the code itself.
type BuddyCode struct {
	// Hash is the SHA-256 of the code.
	Hash []byte
	// Nickname is the pairing holder's nickname, sealed by the server (opaque here): what
	// the joining holder will see.
	Nickname []byte
	// Expire is when the code stops working.
	Expire time.Time
}

// Buddy is what a store keeps of an RSVP's buddy link.
type Buddy struct {
	// RSVP is the buddy's RSVP, `events/{e}/rsvps/{r}`. The server never shows it to the
	// holder: it is for notifying the buddy's stream.
	RSVP string
	// Nickname is the buddy's nickname, sealed by the server, as the RSVP's holder sees it.
	Nickname []byte
	// CheckOutTime is when the buddy checked out; zero until then.
	CheckOutTime time.Time
}

// DeletedRSVP is the outcome of DeleteRSVP.
type DeletedRSVP struct {
	// Campaign is the event's campaign, for the change to its watchers.
	Campaign string
	// Buddy is the deleted RSVP's buddy, whose link was removed with it; empty if none.
	Buddy string
	// Promoted is true when the waitlist moved up.
	Promoted bool
}

// SafetyStore is the part of RSVPStore for buddies, check-out and deletion.
//
// RSVPs carry check_out_time once checked out (Rsvp.buddy is the server's to fill, from
// GetBuddy). Events returned by GetEvent and ListEvents carry, besides going and
// waitlisted, attendance.checked_in (RSVPs checked in) and attendance.not_checked_out
// (of those, the ones not checked out), whatever the time: hiding them from whoever may
// not see them is the server's job. A deleted RSVP leaves both counts as if it had never
// been checked in.
type SafetyStore interface {
	// CreateBuddyCode records a buddy code for an RSVP, replacing the RSVP's previous
	// unused code. ErrNotFound without the RSVP; ErrRSVPCancelled for a cancelled one;
	// ErrHasBuddy if it has a buddy; ErrEventClosed if the event is cancelled or over.
	CreateBuddyCode(ctx context.Context, rsvp string, code BuddyCode, now time.Time) error
	// JoinBuddy pairs rsvp with the RSVP of the same event that holds the unexpired code
	// with this hash, and uses the code up. nickname (sealed) is what the code's holder
	// will see of rsvp. It returns the buddy link as rsvp's holder sees it.
	// ErrBuddyCode for an unknown, expired or used code; ErrBuddySelf for rsvp's own;
	// ErrHasBuddy when either has a buddy; ErrRSVPCancelled and ErrEventClosed as
	// CreateBuddyCode. Nothing changes on an error, and the code stays usable unless it
	// was ErrBuddyCode.
	JoinBuddy(ctx context.Context, rsvp string, codeHash, nickname []byte, now time.Time) (Buddy, error)
	// GetBuddy returns an RSVP's buddy link; a zero Buddy when it has none.
	GetBuddy(ctx context.Context, rsvp string) (Buddy, error)
	// CheckOutRSVP records that the RSVP's holder is home safe and returns the RSVP (with
	// check_out_time) and its buddy link. Checking out twice keeps the first time.
	// ErrNotStarted before the event's start; ErrNotFound without the RSVP. Works on a
	// cancelled event and after its end.
	CheckOutRSVP(ctx context.Context, name string, now time.Time) (*Checkout, error)
	// DeleteRSVP deletes an RSVP and everything kept for it (record, personal fields,
	// token, idempotency entry, buddy code and link, the buddy's link back to it),
	// promotes the waitlist as CancelRSVP does and keeps the counts in step. It works
	// whatever the event's and RSVP's state. ErrNotFound without the RSVP.
	DeleteRSVP(ctx context.Context, name string, now time.Time) (DeletedRSVP, error)
}

// Checkout is the outcome of CheckOutRSVP.
type Checkout struct {
	Rsvp  *rallyv1.Rsvp
	Buddy Buddy
	// First is false when the RSVP had checked out before (nothing changed).
	First bool
}
