package server

import (
	"testing"

	"google.golang.org/protobuf/encoding/protowire"
	"google.golang.org/protobuf/proto"

	rallyv1 "github.com/rallyhq/rally/gen/go/rally/v1"
)

// wire builds protobuf bytes by hand: what no Go client would send.
type wire []byte

func (w wire) str(num protowire.Number, s string) wire {
	w = protowire.AppendTag(w, num, protowire.BytesType)
	return protowire.AppendString(w, s)
}

func (w wire) msg(num protowire.Number, inner wire) wire {
	w = protowire.AppendTag(w, num, protowire.BytesType)
	return protowire.AppendBytes(w, inner)
}

func (w wire) varint(num protowire.Number, v uint64) wire {
	w = protowire.AppendTag(w, num, protowire.VarintType)
	return protowire.AppendVarint(w, v)
}

// TestLocateDecodeError: the field named for bytes protobuf refuses is the one at fault,
// by its path as validation names fields; bytes that protobuf accepts are not blamed.
func TestLocateDecodeError(t *testing.T) {
	venue := wire(nil).str(4, "Berlin") // locality
	for _, tc := range []struct {
		name          string
		msg           proto.Message
		b             []byte
		field, reason string
	}{
		{"top-level string", &rallyv1.GetEventRequest{}, wire(nil).str(1, "events/\xff"), "name", reasonUTF8},
		{"nested string", &rallyv1.CreateEventRequest{},
			wire(nil).str(2, "vigil").msg(1, wire(nil).str(3, "ok").msg(5, venue.str(3, "Қазақ\xc3\x28"))), "event.venue.address_lines[0]", reasonUTF8},
		{"second list element", &rallyv1.CreateEventRequest{},
			wire(nil).msg(1, wire(nil).msg(5, wire(nil).str(3, "one").str(3, "tw\xffo"))), "event.venue.address_lines[1]", reasonUTF8},
		{"field mask path", &rallyv1.UpdateEventRequest{}, wire(nil).msg(2, wire(nil).str(1, "title").str(1, "\xc0")), "update_mask.paths[1]", reasonUTF8},
		{"request_id", &rallyv1.CreateRsvpRequest{}, wire(nil).str(1, "events/x").str(3, "\xed\xa0\x80"), "request_id", reasonUTF8},
		{"truncated length", &rallyv1.GetEventRequest{}, []byte{0x0a, 0x05, 'e', 'v'}, "name", reasonMalformed},
		{"truncated nested", &rallyv1.CreateEventRequest{}, wire(nil).msg(1, []byte{0x1a, 0x09, 'x'}), "event.title", reasonMalformed},
		{"broken tag", &rallyv1.GetEventRequest{}, []byte{0x80}, "request", reasonMalformed},
		{"broken tag in a message", &rallyv1.CreateEventRequest{}, wire(nil).msg(1, []byte{0xff, 0xff}), "event", reasonMalformed},
		{"field number zero", &rallyv1.GetEventRequest{}, []byte{0x02, 0x00}, "request", reasonMalformed},
		{"unknown field, malformed", &rallyv1.GetEventRequest{}, []byte{0xba, 0x06, 0x09}, "request", reasonMalformed + " (field number 103)"},
		{"varint too long", &rallyv1.ListEventsRequest{}, []byte{0x08, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01}, "page_size", reasonMalformed},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if err := proto.Unmarshal(tc.b, tc.msg); err == nil {
				t.Fatalf("protobuf decodes %x", tc.b)
			}
			field, reason := locateDecodeError(tc.b, tc.msg.ProtoReflect().Descriptor())
			if field != tc.field || reason != tc.reason {
				t.Errorf("%q: %q: %q, want %q: %q", tc.b, field, reason, tc.field, tc.reason)
			}
		})
	}
}

// Bytes protobuf accepts (unknown fields, a known field with another wire type, which
// protobuf keeps as unknown) are never blamed.
func TestLocateDecodeErrorAccepts(t *testing.T) {
	for _, b := range [][]byte{
		wire(nil).str(1, "events/ok").str(99, "\xff"),  // unknown field: not checked
		wire(nil).varint(1, 7),                         // name as a varint: kept as unknown
		wire(nil).str(1, "Қазақ").msg(2, []byte{0xff}), // bytes under a number GetEventRequest lacks
	} {
		if err := proto.Unmarshal(b, &rallyv1.GetEventRequest{}); err != nil {
			t.Fatalf("protobuf refuses %x: %v", b, err)
		}
		if field, reason, ok := walkFields(b, (&rallyv1.GetEventRequest{}).ProtoReflect().Descriptor(), "", 0); ok {
			t.Errorf("%x: blamed %s: %s", b, field, reason)
		}
	}
}

// The mark survives only from this process's codec: a client's field of the mark's number
// is an ordinary unknown field.
func TestDecodeMarkNotForgeable(t *testing.T) {
	var m rallyv1.GetEventRequest
	m.ProtoReflect().SetUnknown(protowire.AppendBytes(protowire.AppendTag(nil, decodeMark, protowire.BytesType), wire(nil).str(1, "x").str(2, "y")))
	if err := decodeError(&m); err != nil {
		t.Errorf("a forged mark: %v", err)
	}
	m.ProtoReflect().SetUnknown(markDecodeError("name", reasonUTF8))
	if err := decodeError(&m); err == nil || err.Error() != "rpc error: code = InvalidArgument desc = invalid request: name: must be valid UTF-8" {
		t.Errorf("the codec's mark: %v", err)
	}
}
