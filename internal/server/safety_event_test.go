package server_test

import (
	"strings"
	"testing"

	"google.golang.org/grpc/codes"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/fieldmaskpb"

	rallyv1 "github.com/rallyhq/rally/gen/go/rally/v1"
)

// TestEventSafety: an event's safety information is set on create, shown to everyone
// (the public, RSVP holders, organisers) by GetEvent and ListEvents, and updated as a
// whole or field by field through the update mask, proto or JSON names alike; too long a
// field is INVALID_ARGUMENT naming it, and changes nothing.
func TestEventSafety(t *testing.T) {
	onStores(t, func(t *testing.T, h *harness) {
		_, asAlice := h.organiser(t, "Alice")
		safety := &rallyv1.EventSafety{
			LegalHotline:    "+49 30 1234567",
			EmergencyNumber: "112",
			LegalObservers:  true,
			Notes:           "If the police kettle us, regroup at Alexanderplatz.\nBring water.",
		}
		in := validEvent("")
		in.Safety = safety
		e, err := h.events.CreateEvent(asAlice, &rallyv1.CreateEventRequest{Event: in})
		if err != nil {
			t.Fatal(err)
		}
		if !proto.Equal(e.GetSafety(), safety) {
			t.Fatalf("created with safety %v, want %v", e.GetSafety(), safety)
		}
		holder := h.rsvp(t, e.GetName(), 0)
		seen := func(what string, want *rallyv1.EventSafety) {
			t.Helper()
			for _, as := range []struct {
				who string
				get func() (*rallyv1.Event, error)
			}{
				{"the public", func() (*rallyv1.Event, error) {
					return h.events.GetEvent(h.ctx, &rallyv1.GetEventRequest{Name: e.GetName()})
				}},
				{"an RSVP holder", func() (*rallyv1.Event, error) {
					return h.events.GetEvent(bearer(h.ctx, holder.GetManageToken()), &rallyv1.GetEventRequest{Name: e.GetName()})
				}},
				{"the organiser", func() (*rallyv1.Event, error) {
					return h.events.GetEvent(asAlice, &rallyv1.GetEventRequest{Name: e.GetName()})
				}},
				{"the public's list", func() (*rallyv1.Event, error) {
					resp, err := h.events.ListEvents(h.ctx, &rallyv1.ListEventsRequest{})
					for _, l := range resp.GetEvents() {
						if l.GetName() == e.GetName() {
							return l, err
						}
					}
					return nil, err
				}},
			} {
				got, err := as.get()
				if err != nil {
					t.Fatalf("%s: %s: %v", what, as.who, err)
				}
				if !proto.Equal(got.GetSafety(), want) {
					t.Errorf("%s: %s sees safety %v, want %v", what, as.who, got.GetSafety(), want)
				}
			}
		}
		seen("created", safety)

		update := func(ev *rallyv1.Event, paths ...string) (*rallyv1.Event, error) {
			ev.Name = e.GetName()
			return h.events.UpdateEvent(asAlice, &rallyv1.UpdateEventRequest{Event: ev, UpdateMask: &fieldmaskpb.FieldMask{Paths: paths}})
		}
		// One field: the others stay.
		want := proto.CloneOf(safety)
		want.Notes = "Dispersal: walk north, in pairs."
		if _, err := update(&rallyv1.Event{Safety: &rallyv1.EventSafety{Notes: want.Notes, LegalHotline: "ignored"}}, "safety.notes"); err != nil {
			t.Fatal(err)
		}
		seen("notes updated", want)
		// JSON names, as REST clients write them; false and empty clear.
		want.LegalHotline, want.LegalObservers = "+49 30 7654321", false
		if _, err := update(&rallyv1.Event{Safety: &rallyv1.EventSafety{LegalHotline: want.LegalHotline}}, "safety.legalHotline", "safety.legalObservers"); err != nil {
			t.Fatal(err)
		}
		seen("hotline and observers updated", want)
		// Too long: refused naming the field, nothing changed.
		_, err = update(&rallyv1.Event{Safety: &rallyv1.EventSafety{Notes: strings.Repeat("x", 2001)}}, "safety.notes")
		wantCode(t, err, codes.InvalidArgument, "event.safety.notes")
		_, err = update(&rallyv1.Event{Safety: &rallyv1.EventSafety{EmergencyNumber: strings.Repeat("1", 41)}}, "safety")
		wantCode(t, err, codes.InvalidArgument, "event.safety.emergency_number")
		_, err = update(&rallyv1.Event{}, "safety.nonsense")
		wantCode(t, err, codes.InvalidArgument, "update_mask")
		seen("after refusals", want)
		// The whole message replaced: what is not given is cleared.
		want = &rallyv1.EventSafety{EmergencyNumber: "911"}
		if _, err := update(&rallyv1.Event{Safety: want}, "safety"); err != nil {
			t.Fatal(err)
		}
		seen("replaced", want)
		// A PATCH-like update with no mask takes the fields that are set.
		want = &rallyv1.EventSafety{LegalObservers: true}
		if _, err := update(&rallyv1.Event{Safety: want}); err != nil {
			t.Fatal(err)
		}
		seen("no mask", want)
		if _, err := update(&rallyv1.Event{}, "safety"); err != nil {
			t.Fatal(err)
		}
		seen("cleared", nil)

		// Too long on create: refused naming the field.
		in = validEvent("")
		in.Safety = &rallyv1.EventSafety{LegalHotline: strings.Repeat("1", 101)}
		_, err = h.events.CreateEvent(asAlice, &rallyv1.CreateEventRequest{Event: in})
		wantCode(t, err, codes.InvalidArgument, "event.safety.legal_hotline")
	})
}
