package server

import (
	"context"
	"strings"
	"unicode/utf8"

	"google.golang.org/grpc"
	"google.golang.org/grpc/metadata"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"
)

// IdempotencyKeyHeader is the metadata key that carries a create's idempotency key, as
// the request_id field does. Over REST it is the Idempotency-Key header (the name of the
// IETF httpapi draft), which the gateway forwards as this metadata.
//
// The key is a bearer secret (a retry with it returns the RSVP's or claim's token), so it
// belongs in a header rather than in the URL's query, which proxies and access logs keep;
// requestId in the query still works.
const IdempotencyKeyHeader = "idempotency-key"

// requestIDField is the field of the requests that take an idempotency key.
const requestIDField = "request_id"

// applyIdempotencyKey copies the call's idempotency-key metadata into m's request_id
// field, for any request that has one, so that no handler needs to know where the key
// came from. A key that the body (or the query) also gives differently is refused:
// which one the client meant cannot be told. Requests without the field ignore the
// metadata, so that a client may send it with every write.
func applyIdempotencyKey(ctx context.Context, m proto.Message) error {
	md, _ := metadata.FromIncomingContext(ctx)
	keys := md.Get(IdempotencyKeyHeader)
	if len(keys) == 0 {
		return nil
	}
	msg := m.ProtoReflect()
	fd := msg.Descriptor().Fields().ByName(requestIDField)
	if fd == nil || fd.Kind() != protoreflect.StringKind || fd.Cardinality() == protoreflect.Repeated {
		return nil
	}
	if len(keys) > 1 {
		return errInvalid(IdempotencyKeyHeader, "send one idempotency key, not several")
	}
	key := unquote(keys[0])
	switch {
	case !utf8.ValidString(key):
		return errInvalid(IdempotencyKeyHeader, "must be valid UTF-8: letters, digits, - and _")
	case key == "":
		return errInvalid(IdempotencyKeyHeader, "is empty: send a random key, such as a UUID, or no header")
	}
	switch body := msg.Get(fd).String(); body {
	case "":
		msg.Set(fd, protoreflect.ValueOfString(key))
	case key:
	default:
		return errInvalid(requestIDField, "differs from the idempotency key in the "+IdempotencyKeyHeader+" header; send the key once, in the header")
	}
	return nil
}

// unquote takes a key out of the quotes of a Structured Field string (RFC 8941), the
// form the IETF draft gives the header; a bare key is taken as it is. Keys hold no
// quote or backslash, so a string with escapes is left for validation to refuse.
func unquote(s string) string {
	if len(s) >= 2 && s[0] == '"' && s[len(s)-1] == '"' && !strings.ContainsAny(s[1:len(s)-1], `"\`) {
		return s[1 : len(s)-1]
	}
	return s
}

// idempotencyKeyUnary applies the idempotency key to unary requests. It comes before
// validation, which then checks the key as the request_id field's rules say.
func idempotencyKeyUnary(ctx context.Context, req any, _ *grpc.UnaryServerInfo, handler grpc.UnaryHandler) (any, error) {
	if m, ok := req.(proto.Message); ok {
		if err := applyIdempotencyKey(ctx, m); err != nil {
			return nil, err
		}
	}
	return handler(ctx, req)
}

// idempotencyKeyStream applies it to the messages a stream receives (no streaming method
// takes a request_id today; one that does gets the header's key as unary ones do).
func idempotencyKeyStream(srv any, ss grpc.ServerStream, _ *grpc.StreamServerInfo, handler grpc.StreamHandler) error {
	return handler(srv, &recvHook{ServerStream: ss, hook: applyIdempotencyKey})
}
