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
	"github.com/rallyhq/rally/internal/store"
)

// This file is the one place where errors become gRPC statuses. Handlers return store
// errors and the constructors below; errorInterceptor maps whatever they return, so that
// no handler can leak an Unknown status or an internal error message to a client.

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

// toStatus maps any handler error to a gRPC status error.
func toStatus(log *slog.Logger, method string, err error) error {
	if err == nil {
		return nil
	}
	if _, ok := status.FromError(err); ok {
		return err // already a status built deliberately above or by a library
	}
	switch {
	case errors.Is(err, store.ErrNotFound):
		return status.Error(codes.NotFound, err.Error())
	case errors.Is(err, store.ErrAlreadyExists):
		return status.Error(codes.AlreadyExists, err.Error())
	case errors.Is(err, store.ErrInvalidPageToken):
		return errInvalid("page_token", "not a page token of this list; start again without one")
	case errors.Is(err, store.ErrContention):
		return status.Error(codes.Aborted, "too many concurrent changes to this resource; retry")
	case errors.Is(err, context.Canceled):
		return status.Error(codes.Canceled, "request canceled")
	case errors.Is(err, context.DeadlineExceeded):
		return status.Error(codes.DeadlineExceeded, "deadline exceeded")
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

func (m errorMapper) stream(srv any, ss grpc.ServerStream, info *grpc.StreamServerInfo, handler grpc.StreamHandler) error {
	return m.toStatus(ss.Context(), info.FullMethod, handler(srv, ss))
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
