package server

import (
	"context"
	"errors"
	"fmt"

	"buf.build/go/protovalidate"
	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/types/known/durationpb"
	"google.golang.org/protobuf/types/known/timestamppb"
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
	return InvalidArgument(out...)
}

// validateRequest validates a whole request. It runs before the handler, outside the
// interceptor that maps errors to statuses, so it returns statuses only: a rule that
// failed to evaluate is INTERNAL (its error is not logged: it may quote the request).
func validateRequest(v protovalidate.Validator, m proto.Message) error {
	if bad := invalidTimes(m.ProtoReflect(), "", nil); len(bad) > 0 {
		return InvalidArgument(bad...)
	}
	err := v.Validate(m)
	if err == nil {
		return nil
	}
	if err = validationError(err, ""); status.Code(err) == codes.Unknown {
		return status.Error(codes.Internal, "internal error")
	}
	return err
}

// invalidTimes appends a violation for every Timestamp and Duration in m outside the
// range that protobuf defines for it (years 1 to 9999, ±10000 years, nanos in range).
// protojson refuses such values, but binary protobuf carries any int64: they would make
// the rules' time arithmetic overflow, and be stored only to fail every later JSON read.
func invalidTimes(m protoreflect.Message, prefix string, out []*errdetails.BadRequest_FieldViolation) []*errdetails.BadRequest_FieldViolation {
	m.Range(func(fd protoreflect.FieldDescriptor, v protoreflect.Value) bool {
		if fd.Message() == nil || (fd.IsMap() && fd.MapValue().Message() == nil) {
			return true
		}
		path := string(fd.Name())
		if prefix != "" {
			path = prefix + "." + path
		}
		switch {
		case fd.IsList():
			for i := range v.List().Len() {
				out = invalidTime(v.List().Get(i).Message(), fmt.Sprintf("%s[%d]", path, i), out)
			}
		case fd.IsMap():
			v.Map().Range(func(k protoreflect.MapKey, v protoreflect.Value) bool {
				out = invalidTime(v.Message(), fmt.Sprintf("%s[%q]", path, k.String()), out)
				return true
			})
		default:
			out = invalidTime(v.Message(), path, out)
		}
		return true
	})
	return out
}

// invalidTime checks one message field: a Timestamp or Duration itself, or the fields
// of any other message.
func invalidTime(m protoreflect.Message, path string, out []*errdetails.BadRequest_FieldViolation) []*errdetails.BadRequest_FieldViolation {
	fields := m.Descriptor().Fields()
	seconds := func() int64 { return m.Get(fields.ByNumber(1)).Int() }
	nanos := func() int32 { return int32(m.Get(fields.ByNumber(2)).Int()) }
	switch m.Descriptor().FullName() {
	case "google.protobuf.Timestamp":
		if (&timestamppb.Timestamp{Seconds: seconds(), Nanos: nanos()}).CheckValid() != nil {
			out = append(out, &errdetails.BadRequest_FieldViolation{Field: path, Description: "must be a valid timestamp, from year 1 to 9999"})
		}
	case "google.protobuf.Duration":
		if (&durationpb.Duration{Seconds: seconds(), Nanos: nanos()}).CheckValid() != nil {
			out = append(out, &errdetails.BadRequest_FieldViolation{Field: path, Description: "must be a valid duration, at most 10000 years"})
		}
	default:
		out = invalidTimes(m, path, out)
	}
	return out
}

func validateUnaryInterceptor(v protovalidate.Validator) grpc.UnaryServerInterceptor {
	return func(ctx context.Context, req any, info *grpc.UnaryServerInfo, handler grpc.UnaryHandler) (any, error) {
		if m, ok := req.(proto.Message); ok {
			if err := validateRequest(v, m); err != nil {
				return nil, err
			}
		}
		return handler(ctx, req)
	}
}
