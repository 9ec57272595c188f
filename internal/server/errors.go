package server

import (
	"context"
	"errors"
	"log/slog"

	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/rallyhq/rally/internal/store"
)

// This file is the one place where errors become gRPC statuses. Handlers return store
// errors and the constructors below; errorInterceptor maps whatever they return, so that
// no handler can leak an Unknown status or an internal error message to a client.

// errInvalid reports one bad field: InvalidArgument with a google.rpc.BadRequest naming
// it, which the gateway turns into HTTP 400 with the field in the JSON body.
func errInvalid(field, description string) error {
	return invalidArgument(&errdetails.BadRequest_FieldViolation{Field: field, Description: description})
}

// invalidArgument reports bad fields. The message names every field too, for clients
// that show only the message.
func invalidArgument(violations ...*errdetails.BadRequest_FieldViolation) error {
	msg := "invalid request: "
	for i, v := range violations {
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
	// name keys, addresses or other internals.
	log.Error("internal error", "method", method, "err", err)
	return status.Error(codes.Internal, "internal error")
}

func errorUnaryInterceptor(log *slog.Logger) grpc.UnaryServerInterceptor {
	return func(ctx context.Context, req any, info *grpc.UnaryServerInfo, handler grpc.UnaryHandler) (any, error) {
		resp, err := handler(ctx, req)
		return resp, toStatus(log, info.FullMethod, err)
	}
}

func errorStreamInterceptor(log *slog.Logger) grpc.StreamServerInterceptor {
	return func(srv any, ss grpc.ServerStream, info *grpc.StreamServerInfo, handler grpc.StreamHandler) error {
		return toStatus(log, info.FullMethod, handler(srv, ss))
	}
}
