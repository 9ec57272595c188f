package server

import (
	"context"
	"errors"

	"buf.build/go/protovalidate"
	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc"
	"google.golang.org/protobuf/proto"
)

// The validation interceptor is written here rather than taken from go-grpc-middleware
// because that one reports violations as buf.validate.Violations, while Google-style
// clients (and our REST contract) expect google.rpc.BadRequest field violations.

// validationError converts a protovalidate error into InvalidArgument. prefix is
// prepended to every field path, for messages validated inside a request (after an update
// mask has been applied, say). A non-validation error means a rule failed to evaluate:
// that is our bug, not the client's, and is returned as is to become Internal.
func validationError(err error, prefix string) error {
	var verr *protovalidate.ValidationError
	if !errors.As(err, &verr) {
		return err
	}
	var out []*errdetails.BadRequest_FieldViolation
	for _, v := range verr.Violations {
		field := protovalidate.FieldPathString(v.Proto.GetField())
		switch {
		case field == "":
			field = prefix
		case prefix != "":
			field = prefix + "." + field
		}
		if field == "" {
			field = "request"
		}
		out = append(out, &errdetails.BadRequest_FieldViolation{Field: field, Description: v.Proto.GetMessage()})
	}
	return invalidArgument(out...)
}

func validateUnaryInterceptor(v protovalidate.Validator) grpc.UnaryServerInterceptor {
	return func(ctx context.Context, req any, info *grpc.UnaryServerInfo, handler grpc.UnaryHandler) (any, error) {
		if m, ok := req.(proto.Message); ok {
			if err := v.Validate(m); err != nil {
				return nil, validationError(err, "")
			}
		}
		return handler(ctx, req)
	}
}

type validatingStream struct {
	grpc.ServerStream
	v protovalidate.Validator
}

func (s *validatingStream) RecvMsg(m any) error {
	if err := s.ServerStream.RecvMsg(m); err != nil {
		return err
	}
	if pm, ok := m.(proto.Message); ok {
		if err := s.v.Validate(pm); err != nil {
			return validationError(err, "")
		}
	}
	return nil
}

func validateStreamInterceptor(v protovalidate.Validator) grpc.StreamServerInterceptor {
	return func(srv any, ss grpc.ServerStream, info *grpc.StreamServerInfo, handler grpc.StreamHandler) error {
		return handler(srv, &validatingStream{ServerStream: ss, v: v})
	}
}
