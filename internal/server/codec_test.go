package server_test

import (
	"context"
	"errors"
	"io"
	"testing"
	"time"

	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/mem"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/encoding/protowire"
	"google.golang.org/protobuf/proto"
)

// rawCodec sends the bytes it is given as the message, whatever they are: what a client
// other than grpc-go, or a broken one, may put on the wire.
type rawCodec struct{}

func (rawCodec) Marshal(v any) (mem.BufferSlice, error) {
	return mem.BufferSlice{mem.SliceBuffer(v.([]byte))}, nil
}

func (rawCodec) Unmarshal(data mem.BufferSlice, v any) error {
	*v.(*[]byte) = data.Materialize()
	return nil
}

func (rawCodec) Name() string { return "proto" }

// callRaw sends b as the request of method path (a stream when stream is set) and
// returns the call's error.
func callRaw(ctx context.Context, conn *grpc.ClientConn, path string, stream bool, b []byte) error {
	raw := grpc.ForceCodecV2(rawCodec{})
	if !stream {
		var out []byte
		return conn.Invoke(ctx, path, b, &out, raw)
	}
	s, err := conn.NewStream(ctx, &grpc.StreamDesc{ServerStreams: true}, path, raw)
	if err != nil {
		return err
	}
	if err := s.SendMsg(b); err != nil {
		return err
	}
	if err := s.CloseSend(); err != nil {
		return err
	}
	var out []byte
	err = s.RecvMsg(&out)
	if errors.Is(err, io.EOF) {
		return errors.New("the stream ended without a status")
	}
	return err
}

// violation returns the only field violation of an INVALID_ARGUMENT.
func violation(t *testing.T, err error) *errdetails.BadRequest_FieldViolation {
	t.Helper()
	st := status.Convert(err)
	if st.Code() != codes.InvalidArgument {
		t.Fatalf("%v, want INVALID_ARGUMENT", err)
	}
	for _, d := range st.Details() {
		if br, ok := d.(*errdetails.BadRequest); ok && len(br.GetFieldViolations()) == 1 {
			return br.GetFieldViolations()[0]
		}
	}
	t.Fatalf("%v: no BadRequest with one field violation", st.Proto())
	return nil
}

// Bytes that are not a request of the method (cut short, or with a string that is not
// UTF-8) are INVALID_ARGUMENT naming the field, on every Rally method, unary or
// streaming, and on the standard services, rather than grpc-go's INTERNAL.
func TestMalformedRequestBytes(t *testing.T) {
	h := newHarness(t)
	methods := fuzzMethods(t)
	for _, m := range methods {
		// Field 1 of every Rally request is a string or a message: cut short here.
		err := callRaw(h.admin, h.conn, m.path, m.stream, []byte{0x0a, 0x05, 'e', 'v'})
		if v := violation(t, err); v.GetField() == "" || v.GetDescription() != "is not valid protobuf wire format" {
			t.Errorf("%s: %v", m.path, v)
		}
		// A stray byte: no field can be named.
		err = callRaw(h.admin, h.conn, m.path, m.stream, []byte{0x80})
		if v := violation(t, err); v.GetField() != "request" {
			t.Errorf("%s: %v", m.path, v)
		}
	}

	// The field at fault, by its path, as validation names fields.
	str := func(b []byte, num protowire.Number, s string) []byte {
		return protowire.AppendString(protowire.AppendTag(b, num, protowire.BytesType), s)
	}
	sub := func(b []byte, num protowire.Number, inner []byte) []byte {
		return protowire.AppendBytes(protowire.AppendTag(b, num, protowire.BytesType), inner)
	}
	for _, tc := range []struct {
		path, field string
		stream      bool
		b           []byte
	}{
		{"/rally.v1.EventService/GetEvent", "name", false, str(nil, 1, "events/\xff")},
		{"/rally.v1.EventService/CreateEvent", "event.title", false, sub(nil, 1, str(str(nil, 2, "campaigns/x"), 3, "Vigil \xc3\x28"))},
		{"/rally.v1.EventService/ListEvents", "campaign", false, str(nil, 3, "campaigns/\xc0\xaf")},
		{"/rally.v1.RsvpService/CreateRsvp", "request_id", false, str(str(nil, 1, "events/x"), 3, "\xed\xa0\x80-0123456789abcdef")},
		{"/rally.v1.EventService/WatchEvent", "cursor", true, str(str(nil, 1, "events/x"), 2, "\xff")},
	} {
		err := callRaw(h.admin, h.conn, tc.path, tc.stream, tc.b)
		if v := violation(t, err); v.GetField() != tc.field || v.GetDescription() != "must be valid UTF-8" {
			t.Errorf("%s: %v, want %s: must be valid UTF-8", tc.path, v, tc.field)
		}
		if msg := status.Convert(err).Message(); msg != "invalid request: "+tc.field+": must be valid UTF-8" {
			t.Errorf("%s: message %q", tc.path, msg)
		}
	}

	// The health service too: anonymous, before any Rally code.
	err := callRaw(h.ctx, h.conn, "/grpc.health.v1.Health/Check", false, str(nil, 1, "\xff"))
	if v := violation(t, err); v.GetField() != "service" {
		t.Errorf("Health/Check: %v", v)
	}
	// And a well-formed request still works through the codec.
	if _, err := healthpb.NewHealthClient(h.conn).Check(h.ctx, &healthpb.HealthCheckRequest{}); err != nil {
		t.Errorf("Health/Check: %v", err)
	}
}

// FuzzRequestBytes sends arbitrary bytes, as a gRPC client can, to the method numbered
// method as the caller numbered caller: any answer keeps the error contract of
// FuzzRequestProto, and bytes that protobuf cannot decode into the method's request are
// INVALID_ARGUMENT for a caller allowed to call it (the admin), never INTERNAL.
func FuzzRequestBytes(f *testing.F) {
	ft := newFuzzTarget(f)
	for _, s := range ft.seeds {
		b, err := proto.Marshal(s.req)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(ft.methodIndex(f, s.method), s.caller, b)
		f.Add(ft.methodIndex(f, s.method), uint8(1), b[:len(b)/2])
		f.Add(ft.methodIndex(f, s.method), uint8(1), append(b, 0xff))
	}
	f.Add(ft.methodIndex(f, "GetEvent"), uint8(0), []byte("\x0a\x02\xc3\x28"))
	f.Fuzz(func(t *testing.T, method, caller uint8, data []byte) {
		m := ft.methods[int(method)%len(ft.methods)]
		c := int(caller) % len(ft.callers)
		wait := 10 * time.Second
		if m.stream {
			wait = 500 * time.Millisecond // a watch answers at once, or waits for a change
		}
		ctx, cancel := context.WithTimeout(ft.callers[c], wait)
		defer cancel()
		err := callRaw(ctx, ft.conn, m.path, m.stream, data)
		if m.stream && status.Code(err) == codes.DeadlineExceeded && ctx.Err() != nil {
			return // a watch waiting for the next change
		}
		checkClientError(t, m.path, nil, err)
		if c == 1 && proto.Unmarshal(data, m.in.New().Interface()) != nil && status.Code(err) != codes.InvalidArgument {
			t.Fatalf("%s(%x): %v, want INVALID_ARGUMENT", m.path, data, err)
		}
	})
}
