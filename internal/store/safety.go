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
	// ErrBuddyCode: the buddy code is unknown, expired or used, belongs to another
	// event's RSVP, or its RSVP was cancelled or deleted since. One error for all of
	// them, so that the answer tells a guesser nothing.
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
//
// Buddy codes and links are kept with the event's RSVPs (in Redis under the event's
// hash tag) and deleted with them after the retention, like every RSVP field. A
// cancelled RSVP keeps its buddy link (its holder may still check out), but its unused
// code no longer pairs.
type SafetyStore interface {
	// CreateBuddyCode records a buddy code for an RSVP, replacing the RSVP's previous
	// unused code. ErrNotFound without the RSVP; ErrEventClosed if the event is
	// cancelled or over by now; ErrRSVPCancelled for a cancelled RSVP; ErrHasBuddy if it
	// has a buddy (checked in that order). ErrAlreadyExists if an unexpired code of
	// another RSVP has the same hash (a collision of random codes: draw another).
	CreateBuddyCode(ctx context.Context, rsvp string, code BuddyCode, now time.Time) error
	// JoinBuddy pairs rsvp with the RSVP of the same event that holds the unexpired code
	// with this hash, and uses the code up. nickname (sealed) is what the code's holder
	// will see of rsvp. It returns the buddy link as rsvp's holder sees it.
	// A code expires at BuddyCode.Expire by now (now >= Expire: expired).
	// Errors, checked in this order: ErrNotFound without rsvp; ErrEventClosed,
	// ErrRSVPCancelled and ErrHasBuddy about rsvp as CreateBuddyCode; ErrBuddyCode for
	// an unknown, expired or used code (or one whose RSVP was cancelled or deleted);
	// ErrBuddySelf for rsvp's own; ErrHasBuddy when the code's RSVP has a buddy. Nothing
	// changes on an error, and the code stays usable unless it was ErrBuddyCode. On
	// success both RSVPs' unused codes are gone (each has its buddy).
	JoinBuddy(ctx context.Context, rsvp string, codeHash, nickname []byte, now time.Time) (Buddy, error)
	// GetBuddy returns an RSVP's buddy link; a zero Buddy when it has none. ErrNotFound
	// without the RSVP.
	GetBuddy(ctx context.Context, rsvp string) (Buddy, error)
	// CheckOutRSVP records that the RSVP's holder is home safe and returns the RSVP (with
	// check_out_time, and update_time set to now by a first check-out) and its buddy
	// link. Checking out twice keeps the first time and changes nothing (First false).
	// ErrNotStarted before the event's start; ErrNotFound without the RSVP. Works
	// whatever the RSVP's state, on a cancelled event and after its end. An RSVP that
	// checks out before being checked in counts as checked out once checked in.
	CheckOutRSVP(ctx context.Context, name string, now time.Time) (*Checkout, error)
	// DeleteRSVP deletes an RSVP and everything kept for it (record, personal fields,
	// token, idempotency entry, buddy code and link, the buddy's link back to it),
	// promotes the waitlist as CancelRSVP does and keeps the counts in step. It works
	// whatever the event's and RSVP's state. ErrNotFound without the RSVP.
	//
	// The request key is forgotten with the RSVP: a CreateRSVP with it afterwards is not
	// a replay but creates a new RSVP (with the create's own ID and token), as if the
	// key had never been used; the deleted RSVP is never returned again. (Redis: an RSVP
	// stored before issue 17 lacks the link from the record to its request-key entry,
	// which then stays until the event's RSVPs expire; it holds the RSVP's ID and the
	// token sealed under the client's request_id, no personal field.)
	//
	// Like CancelRSVP it publishes nothing: the caller publishes the organisers' change.
	DeleteRSVP(ctx context.Context, name string, now time.Time) (DeletedRSVP, error)
}

// Checkout is the outcome of CheckOutRSVP.
type Checkout struct {
	Rsvp  *rallyv1.Rsvp
	Buddy Buddy
	// First is false when the RSVP had checked out before (nothing changed).
	First bool
}
