package server

import (
	"context"
	"fmt"
	"log/slog"
	"testing"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/rallyhq/rally/internal/metrics"
	"github.com/rallyhq/rally/internal/store"
)

// TestStoreErrors pins what clients get for each store error, by scope, as the mappings
// said before they became one table (storeErrors).
func TestStoreErrors(t *testing.T) {
	wrap := func(err error) error { return fmt.Errorf("events/e: %w", err) }
	for _, c := range []struct {
		got  error
		code codes.Code
		msg  string
	}{
		{toStatus(slog.Default(), "m", wrap(store.ErrNotFound)), codes.NotFound, wrap(store.ErrNotFound).Error()},
		{toStatus(slog.Default(), "m", wrap(store.ErrAlreadyExists)), codes.AlreadyExists, wrap(store.ErrAlreadyExists).Error()},
		{toStatus(slog.Default(), "m", store.ErrInvalidPageToken), codes.InvalidArgument, "invalid request: page_token: not a page token of this list; start again without one"},
		{toStatus(slog.Default(), "m", store.ErrContention), codes.Aborted, "too many concurrent changes to this resource; retry"},
		{toStatus(slog.Default(), "m", context.Canceled), codes.Canceled, "request canceled"},
		{toStatus(slog.Default(), "m", context.DeadlineExceeded), codes.DeadlineExceeded, "deadline exceeded"},
		{toStatus(slog.Default(), "m", store.ErrNoRoom), codes.Internal, "internal error"}, // unscoped: a bug
		{rsvpError("s", store.ErrEventClosed), codes.FailedPrecondition, "s: the event is cancelled or over, so RSVPs to it cannot change"},
		{rsvpError("s", store.ErrNoRoom), codes.FailedPrecondition, "s: not enough free places for more guests; cancel and RSVP again to join the waitlist"},
		{rsvpError("s", store.ErrPartyTooLarge), codes.FailedPrecondition, "s: the party is larger than all the event's places, so it could never get one"},
		{rsvpError("s", store.ErrNotGoing), codes.FailedPrecondition, "s: only an RSVP that holds a place can be checked in"},
		{taskError("s", store.ErrTaskClosed), codes.FailedPrecondition, "s: the task is closed or past its deadline, and takes no claims"},
		{taskError("s", store.ErrNoRoom), codes.FailedPrecondition, "s: every place on this task is taken; try again when a claim is completed, released or expires"},
		{taskError("s", store.ErrClaimNotOpen), codes.FailedPrecondition, "s: the claim was released or has expired; claim the task again"},
		{toStatus(slog.Default(), "m", rsvpError("s", store.ErrNotFound)), codes.NotFound, store.ErrNotFound.Error()},
	} {
		st, _ := status.FromError(c.got)
		if st.Code() != c.code || st.Message() != c.msg {
			t.Errorf("got %v %q, want %v %q", st.Code(), st.Message(), c.code, c.msg)
		}
	}
	if rsvpRefusal(store.ErrNoRoom) != metrics.RSVPNoRoom || rsvpRefusal(store.ErrNotGoing) != (metrics.RSVPOutcome{}) ||
		claimRefusal(store.ErrNoRoom) != metrics.ClaimFull || claimRefusal(store.ErrNotFound) != (metrics.ClaimOutcome{}) {
		t.Error("refusal outcomes differ from the table's")
	}
}
