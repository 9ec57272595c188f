package server

import (
	"context"
	"errors"
	"log/slog"
	"strings"

	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/rallyhq/rally/internal/calllog"
	"github.com/rallyhq/rally/internal/metrics"
	"github.com/rallyhq/rally/internal/store"
	"github.com/rallyhq/rally/internal/streamchain"
)

// Errors become gRPC statuses here. Handlers return store errors and the constructors
// below; storeErrors is the one table from store error to status, which errorMapper
// applies to whatever a handler returns (and rsvpError and taskError to the refusals
// whose message depends on what the call acts on), so that no handler can leak an
// Unknown status or an internal error message to a client. (Authentication's own
// UNAUTHENTICATED answers are access.go's.)

// errInvalid reports one bad field: InvalidArgument with a google.rpc.BadRequest naming
// it, which the gateway turns into HTTP 400 with the field in the JSON body.
func errInvalid(field, description string) error {
	return InvalidArgument(&errdetails.BadRequest_FieldViolation{Field: field, Description: description})
}

// InvalidArgument reports bad fields, as every bad request is answered over gRPC and REST
// (the gateway calls it for what it refuses itself). The message names every field too,
// for clients that show only the message.
func InvalidArgument(violations ...*errdetails.BadRequest_FieldViolation) error {
	msg := "invalid request: "
	for i, v := range violations {
		// A status holds UTF-8 only (the JSON error body could not be written otherwise),
		// and a bad field may be named after the bad bytes it holds.
		v.Field, v.Description = strings.ToValidUTF8(v.Field, "\uFFFD"), strings.ToValidUTF8(v.Description, "\uFFFD")
		if i > 0 {
			msg += "; "
		}
		msg += v.GetField() + ": " + v.GetDescription()
	}
	st, err := status.New(codes.InvalidArgument, msg).WithDetails(&errdetails.BadRequest{FieldViolations: violations})
	if err != nil {
		return status.Error(codes.InvalidArgument, msg)
	}
	return st.Err()
}

// errPrecondition reports a request that is valid but not in the resource's current state,
// such as changing a cancelled event. HTTP 400.
func errPrecondition(subject, description string) error {
	st, err := status.New(codes.FailedPrecondition, subject+": "+description).WithDetails(&errdetails.PreconditionFailure{
		Violations: []*errdetails.PreconditionFailure_Violation{{Type: "STATE", Subject: subject, Description: description}},
	})
	if err != nil {
		return status.Error(codes.FailedPrecondition, subject+": "+description)
	}
	return st.Err()
}

// errEtagMismatch reports a stale etag: ABORTED, which the gateway maps to HTTP 412.
func errEtagMismatch(field string) error {
	st, err := status.New(codes.Aborted, field+": the resource changed since it was read; read it again and retry").WithDetails(&errdetails.ErrorInfo{
		Reason: "ETAG_MISMATCH", Domain: "rally.v1", Metadata: map[string]string{"field": field},
	})
	if err != nil {
		return status.Error(codes.Aborted, "etag mismatch")
	}
	return st.Err()
}

// scope is what a call acts on, where the same store error means different things: no
// room on an event (RSVPs) is not no room on a task (claims).
type scope uint8

const (
	anyCall   scope = iota // every call: entries that apply whatever the call acts on
	rsvpCall               // RSVPs: CreateRsvp, UpdateRsvp, CancelRsvp, CheckInRsvp, and the buddy and check-out calls
	claimCall              // tasks' claims: ClaimTask, CompleteClaim, ReleaseClaim
)

// storeErrors is the one table from store error to status (and, for the refusals of
// RSVPs and claims, to the outcome metrics count). Entries of a call's own scope are
// looked up by rsvpError and taskError with the resource as the subject; those of
// anyCall by toStatus, for whatever a handler returns.
var storeErrors = []storeError{
	{err: store.ErrNotFound, status: func(_ string, err error) error { return status.Error(codes.NotFound, err.Error()) }},
	{err: store.ErrAlreadyExists, status: func(_ string, err error) error { return status.Error(codes.AlreadyExists, err.Error()) }},
	{err: store.ErrInvalidPageToken, status: func(string, error) error {
		return errInvalid("page_token", "not a page token of this list; start again without one")
	}},
	{err: store.ErrContention, status: fixed(codes.Aborted, "too many concurrent changes to this resource; retry")},
	{err: context.Canceled, status: fixed(codes.Canceled, "request canceled")},
	{err: context.DeadlineExceeded, status: fixed(codes.DeadlineExceeded, "deadline exceeded")},

	{err: store.ErrEventClosed, scope: rsvpCall, rsvp: metrics.RSVPClosed,
		status: precondition("the event is cancelled or over, so RSVPs to it cannot change")},
	{err: store.ErrNoRoom, scope: rsvpCall, rsvp: metrics.RSVPNoRoom,
		status: precondition("not enough free places for more guests; cancel and RSVP again to join the waitlist")},
	{err: store.ErrPartyTooLarge, scope: rsvpCall, rsvp: metrics.RSVPTooLarge,
		status: precondition("the party is larger than all the event's places, so it could never get one")},
	{err: store.ErrNotGoing, scope: rsvpCall,
		status: precondition("only an RSVP that holds a place can be checked in")},
	// Buddies and check-out (buddy.go). A bad buddy code is one answer whatever was wrong
	// with it, and never repeats the code: the answer must tell a guesser nothing, and the
	// message may reach a log line.
	{err: store.ErrBuddyCode, status: func(string, error) error {
		return errInvalid("buddy_code", "unknown, expired or used buddy code; ask your buddy for a new one")
	}},
	{err: store.ErrBuddySelf, status: func(string, error) error {
		return errInvalid("buddy_code", "unknown, expired or used buddy code: this is your own RSVP's code; your buddy joins with it")
	}},
	{err: store.ErrHasBuddy, scope: rsvpCall,
		status: precondition("the RSVP, or the RSVP of the code's holder, has a buddy already; an RSVP has at most one")},
	{err: store.ErrRSVPCancelled, scope: rsvpCall,
		status: precondition("the RSVP is cancelled, so it takes no buddy")},
	{err: store.ErrNotStarted, scope: rsvpCall,
		status: precondition("the event has not started yet: check out once you have been there and are home safe")},

	{err: store.ErrTaskClosed, scope: claimCall, claim: metrics.ClaimClosed,
		status: precondition("the task is closed or past its deadline, and takes no claims")},
	{err: store.ErrNoRoom, scope: claimCall, claim: metrics.ClaimFull,
		status: precondition("every place on this task is taken; try again when a claim is completed, released or expires")},
	{err: store.ErrClaimNotOpen, scope: claimCall, claim: metrics.ClaimNotOpen,
		status: precondition("the claim was released or has expired; claim the task again")},
}

// fixed is an entry's status that says the same whatever the call.
func fixed(code codes.Code, msg string) func(string, error) error {
	return func(string, error) error { return status.Error(code, msg) }
}

// precondition is an entry's FAILED_PRECONDITION on the call's subject.
func precondition(description string) func(string, error) error {
	return func(subject string, _ error) error { return errPrecondition(subject, description) }
}

// storeStatus looks err up among the entries of scope sc: the status for subject, and
// whether an entry matched.
func storeStatus(sc scope, subject string, err error) (error, bool) {
	if st := refusal(sc, err, func(e storeError) func(string, error) error { return e.status }); st != nil {
		return st(subject, err), true
	}
	return err, false
}

// rsvpError turns the store's RSVP refusals into statuses that say what to do; other
// errors are returned as they are, for toStatus.
func rsvpError(subject string, err error) error {
	st, _ := storeStatus(rsvpCall, subject, err)
	return st
}

// taskError is rsvpError for the store's refusals of claims.
func taskError(subject string, err error) error {
	st, _ := storeStatus(claimCall, subject, err)
	return st
}

// storeError is an entry of storeErrors.
type storeError struct {
	err    error
	scope  scope
	status func(subject string, err error) error
	rsvp   metrics.RSVPOutcome  // counted for a refused RSVP change
	claim  metrics.ClaimOutcome // counted for a refused claim
}

// refusal is what outcome picks from the entry of scope sc that err matches, or the zero
// outcome (errors that are no refusal count by status code in the call metrics only).
func refusal[T any](sc scope, err error, outcome func(storeError) T) T {
	for _, e := range storeErrors {
		if e.scope == sc && errors.Is(err, e.err) {
			return outcome(e)
		}
	}
	var zero T
	return zero
}

// rsvpRefusal is the outcome to count for the store's refusal of an RSVP change.
func rsvpRefusal(err error) metrics.RSVPOutcome {
	return refusal(rsvpCall, err, func(e storeError) metrics.RSVPOutcome { return e.rsvp })
}

// claimRefusal is the outcome to count for the store's refusal of a claim or of a change
// to one.
func claimRefusal(err error) metrics.ClaimOutcome {
	return refusal(claimCall, err, func(e storeError) metrics.ClaimOutcome { return e.claim })
}

// toStatus maps any handler error to a gRPC status error.
func toStatus(log *slog.Logger, method string, err error) error {
	if err == nil {
		return nil
	}
	if _, ok := status.FromError(err); ok {
		return err // already a status built deliberately above or by a library
	}
	if st, ok := storeStatus(anyCall, "", err); ok {
		return st
	}
	// Internal errors are logged for operators and hidden from clients: their text may
	// name keys, addresses or other internals. Participants' resource names are cut from
	// it (calllog.Redact): the log must not tie an RSVP or a claim to a time.
	log.Error("internal error", "method", method, "err", calllog.Redact(err.Error()))
	return status.Error(codes.Internal, "internal error")
}

// errorMapper is the interceptor that applies toStatus to every call.
type errorMapper struct {
	log         *slog.Logger
	unavailable func(error) bool // see Options.Unavailable
}

func (m errorMapper) unary(ctx context.Context, req any, info *grpc.UnaryServerInfo, handler grpc.UnaryHandler) (any, error) {
	resp, err := handler(ctx, req)
	return resp, m.toStatus(ctx, info.FullMethod, err)
}

// streamStage is unary for streams, a stage of the flat stream chain.
func (m errorMapper) streamStage(c *streamchain.Call) (func(error) error, error) {
	ctx, method := c.Ctx, c.Info.FullMethod
	return func(err error) error { return m.toStatus(ctx, method, err) }, nil
}

// toStatus is the package's toStatus, knowing the call's context and the store's
// unavailability errors.
func (m errorMapper) toStatus(ctx context.Context, method string, err error) error {
	if err == nil {
		return nil
	}
	if _, ok := status.FromError(err); !ok {
		switch {
		case callTimedOut(ctx):
			// The server's own deadline passed (deadline.go), not the client's: the store
			// hangs. UNAVAILABLE, which clients retry, rather than a DEADLINE_EXCEEDED for
			// a deadline the client never set.
			m.log.Debug("the store did not answer within the call timeout", "method", method)
			return status.Error(codes.Unavailable, "the store did not answer in time; retry")
		case errors.Is(ctx.Err(), context.DeadlineExceeded):
			// The store gave up because the caller's deadline passed (its error may say
			// "i/o timeout" rather than wrap the context's).
			return status.Error(codes.DeadlineExceeded, "deadline exceeded")
		case m.unavailable != nil && m.unavailable(err):
			// Logged once by readiness; here only at debug, without the error, whose
			// text may name addresses.
			m.log.Debug("the store is unavailable", "method", method)
			return status.Error(codes.Unavailable, "the data store cannot be reached right now; retry shortly")
		}
	}
	return toStatus(m.log, method, err)
}
