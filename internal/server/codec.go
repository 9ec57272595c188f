package server

import (
	"bytes"
	"context"
	"crypto/rand"
	"fmt"
	"unicode/utf8"

	"buf.build/go/protovalidate"
	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc"
	"google.golang.org/grpc/encoding"
	protocodec "google.golang.org/grpc/encoding/proto"
	"google.golang.org/grpc/mem"
	"google.golang.org/protobuf/encoding/protowire"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"

	"github.com/rallyhq/rally/internal/streamchain"
)

// A request whose bytes protobuf cannot decode (malformed wire data, invalid UTF-8 in a
// string field) is the client's mistake: INVALID_ARGUMENT, with a google.rpc.BadRequest
// naming the field, like any other bad field. grpc-go answers INTERNAL to any error of
// the codec's Unmarshal, with the codec's text and no field, and does so before any
// interceptor runs (rpc_util.go, recv), so the codec alone cannot choose the status.
//
// Instead requestCodec, the proto codec on the server's side, finds the field that could
// not be decoded, empties the message and leaves the finding in it as an unknown field
// (marked with a random per-process nonce, so that no client can forge one), and
// decodeErrorUnary and requestStage (for streams), in the chain before validation, answer
// with it. The mark needs no state outside the message: a message whose mark no
// interceptor took (one that never reached one) holds nothing but an unknown field,
// which no handler reads. The request ID, metrics, logs and rate limits see these calls
// as any other refused call.

// requestCodec is grpc-go's proto codec, except for what Unmarshal does with bytes it
// cannot decode.
type requestCodec struct{ encoding.CodecV2 }

// newRequestCodec returns the codec, for grpc.ForceServerCodecV2.
func newRequestCodec() encoding.CodecV2 {
	return requestCodec{encoding.GetCodecV2(protocodec.Name)}
}

// Marshal encodes v, or hands over the encoding a watch's Change already has (wire.go).
// The bytes are shared by many streams: a SliceBuffer, which Free leaves alone.
func (c requestCodec) Marshal(v any) (mem.BufferSlice, error) {
	if e, ok := v.(*encodedChange); ok {
		return mem.BufferSlice{mem.SliceBuffer(e.wire)}, nil
	}
	return c.CodecV2.Marshal(v)
}

// Unmarshal decodes data into v; bytes that are not a v leave v empty but marked with
// the field at fault (see decodeError).
func (c requestCodec) Unmarshal(data mem.BufferSlice, v any) error {
	err := c.CodecV2.Unmarshal(data, v)
	m, ok := v.(proto.Message)
	if err == nil || !ok {
		return err
	}
	field, reason := locateDecodeError(data.Materialize(), m.ProtoReflect().Descriptor())
	proto.Reset(m)
	m.ProtoReflect().SetUnknown(markDecodeError(field, reason))
	return nil
}

// decodeMark is the field number of the mark: the largest protobuf allows, which no
// message of Rally's uses. decodeNonce starts its value.
const decodeMark = protowire.MaxValidNumber

var decodeNonce = func() []byte {
	b := make([]byte, 16)
	_, _ = rand.Read(b) // never fails (crypto/rand panics rather than return an error)
	return b
}()

// markDecodeError encodes the finding as the mark: the nonce, then the field (1) and the
// reason (2).
func markDecodeError(field, reason string) []byte {
	payload := append([]byte(nil), decodeNonce...)
	payload = protowire.AppendTag(payload, 1, protowire.BytesType)
	payload = protowire.AppendString(payload, field)
	payload = protowire.AppendTag(payload, 2, protowire.BytesType)
	payload = protowire.AppendString(payload, reason)
	b := protowire.AppendTag(nil, decodeMark, protowire.BytesType)
	return protowire.AppendBytes(b, payload)
}

// decodeError returns the INVALID_ARGUMENT for a message requestCodec could not decode,
// or nil for any other. It costs nothing for a message without unknown fields.
func decodeError(m proto.Message) error {
	b := m.ProtoReflect().GetUnknown()
	for len(b) > 0 {
		num, typ, n := protowire.ConsumeField(b)
		if n < 0 {
			return nil
		}
		field := b[:n]
		b = b[n:]
		if num != decodeMark || typ != protowire.BytesType {
			continue
		}
		_, _, tn := protowire.ConsumeTag(field)
		payload, _ := protowire.ConsumeBytes(field[tn:])
		rest, ok := bytes.CutPrefix(payload, decodeNonce)
		if !ok {
			continue // a client's own field of that number, not a mark
		}
		var v errdetails.BadRequest_FieldViolation
		for len(rest) > 0 {
			num, _, n := protowire.ConsumeTag(rest)
			s, sn := protowire.ConsumeString(rest[n:])
			if n < 0 || sn < 0 {
				break
			}
			switch num {
			case 1:
				v.Field = s
			case 2:
				v.Description = s
			}
			rest = rest[n+sn:]
		}
		return InvalidArgument(&v)
	}
	return nil
}

// decodeErrorUnary answers a unary call whose request could not be decoded.
func decodeErrorUnary(ctx context.Context, req any, _ *grpc.UnaryServerInfo, handler grpc.UnaryHandler) (any, error) {
	if m, ok := req.(proto.Message); ok {
		if err := decodeError(m); err != nil {
			return nil, err
		}
	}
	return handler(ctx, req)
}

// recvHook runs hook on every message the stream receives, failing RecvMsg with its
// error.
type recvHook struct {
	grpc.ServerStream
	hook func(context.Context, proto.Message) error
}

func (s *recvHook) RecvMsg(m any) error {
	if err := s.ServerStream.RecvMsg(m); err != nil {
		return err
	}
	if pm, ok := m.(proto.Message); ok {
		return s.hook(s.Context(), pm)
	}
	return nil
}

// Descriptions of the fields locateDecodeError finds.
const (
	reasonUTF8      = "must be valid UTF-8"
	reasonMalformed = "is not valid protobuf wire format"
)

// locateDecodeError returns the field of b, an encoding of a message md that protobuf
// could not decode, at fault and why: the path of a string field that is not valid UTF-8
// or of a field whose bytes are malformed, in the form validation errors name fields
// (event.venue.address_lines[1]). When the walk finds no such field (protobuf's limit on
// nesting, say), the field is the request as a whole.
//
// protobuf-go's error names no field and has no structured form, so the bytes are walked
// again here with protowire, as protobuf decodes them: a field of an unknown number, or
// whose wire type does not match its declaration, is kept as an unknown field, not
// refused.
func locateDecodeError(b []byte, md protoreflect.MessageDescriptor) (field, reason string) {
	if field, reason, ok := walkFields(b, md, "", 0); ok {
		return field, reason
	}
	return "request", fmt.Sprintf("is not a valid %s in protobuf wire format", md.FullName())
}

// walkFields walks one message's fields; path is the message's own ("" at the top).
func walkFields(b []byte, md protoreflect.MessageDescriptor, path string, depth int) (field, reason string, ok bool) {
	if depth > protowire.DefaultRecursionLimit {
		return "", "", false
	}
	seen := map[protowire.Number]int{} // elements of repeated fields so far
	for len(b) > 0 {
		num, typ, n := protowire.ConsumeTag(b)
		if n < 0 {
			return orRequest(path), reasonMalformed, true
		}
		fd := md.Fields().ByNumber(num)
		vn := protowire.ConsumeFieldValue(num, typ, b[n:])
		if vn < 0 {
			if fd == nil {
				return orRequest(path), fmt.Sprintf("%s (field number %d)", reasonMalformed, num), true
			}
			return fieldPath(path, fd, seen[num]), reasonMalformed, true
		}
		value := b[n : n+vn]
		b = b[n+vn:]
		if fd == nil || typ != protowire.BytesType {
			continue // unknown, or a scalar (whose value ConsumeFieldValue checked)
		}
		name := fieldPath(path, fd, seen[num])
		if fd.IsList() {
			seen[num]++
		}
		inner, _ := protowire.ConsumeBytes(value)
		switch {
		case fd.Kind() == protoreflect.StringKind:
			if enforceUTF8(fd) && !utf8.Valid(inner) {
				return name, reasonUTF8, true
			}
		case fd.Kind() == protoreflect.MessageKind:
			if field, reason, ok := walkFields(inner, fd.Message(), name, depth+1); ok {
				return field, reason, true
			}
		case fd.IsList() && fd.Kind() != protoreflect.BytesKind:
			// A packed list of scalars: each element must be whole.
			if !packedValid(inner, fd.Kind()) {
				return fieldPath(path, fd, -1), reasonMalformed, true
			}
		}
	}
	return "", "", false
}

// packedValid reports whether b is a whole packed list of scalars of kind k.
func packedValid(b []byte, k protoreflect.Kind) bool {
	for len(b) > 0 {
		var n int
		switch k {
		case protoreflect.Fixed32Kind, protoreflect.Sfixed32Kind, protoreflect.FloatKind:
			_, n = protowire.ConsumeFixed32(b)
		case protoreflect.Fixed64Kind, protoreflect.Sfixed64Kind, protoreflect.DoubleKind:
			_, n = protowire.ConsumeFixed64(b)
		default:
			_, n = protowire.ConsumeVarint(b)
		}
		if n < 0 {
			return false
		}
		b = b[n:]
	}
	return true
}

// enforceUTF8 reports whether protobuf-go refuses a string field that is not valid UTF-8:
// every proto3 string, and in editions those whose features ask for it (protobuf-go's
// internal/strs.EnforceUTF8, which the descriptor answers for).
func enforceUTF8(fd protoreflect.FieldDescriptor) bool {
	if fd.Syntax() == protoreflect.Editions {
		if e, ok := fd.(interface{ EnforceUTF8() bool }); ok {
			return e.EnforceUTF8()
		}
	}
	return fd.Syntax() == protoreflect.Proto3
}

// fieldPath is the path of field fd in the message at path: element i of a list, or the
// list as a whole when i < 0; a map by its name.
func fieldPath(path string, fd protoreflect.FieldDescriptor, i int) string {
	name := string(fd.Name())
	if path != "" {
		name = path + "." + name
	}
	if fd.IsList() && i >= 0 {
		name += fmt.Sprintf("[%d]", i)
	}
	return name
}

func orRequest(path string) string {
	if path == "" {
		return "request"
	}
	return path
}

// requestStage checks the messages a stream receives, as decodeErrorUnary,
// idempotencyKeyUnary and validateUnaryInterceptor check a unary call's request, in
// that order, as one stage of the flat stream chain (streamchain): one wrapper whose
// RecvMsg fails with the message's decoding error (before validation, which must never
// see an emptied message), applies the idempotency-key metadata, then validates it.
func requestStage(v protovalidate.Validator) streamchain.Stage {
	return func(c *streamchain.Call) (func(error) error, error) {
		c.Stream = &recvHook{ServerStream: c.Wrapped(), hook: func(ctx context.Context, m proto.Message) error {
			if err := decodeError(m); err != nil {
				return err
			}
			if err := applyIdempotencyKey(ctx, m); err != nil {
				return err
			}
			return validateRequest(v, m)
		}}
		return nil, nil
	}
}
