package server_test

import (
	"context"
	"fmt"
	"strings"
	"testing"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/fieldmaskpb"

	rallyv1 "github.com/rallyhq/rally/gen/go/rally/v1"
)

// answer is what an RSVP holder can read from one result, with what differs by RSVP
// anyway (names, times) left out: two answers that are equal tell nothing apart.
func answer(r *rallyv1.Rsvp, err error) string {
	if err != nil {
		st := status.Convert(err)
		// The message names the RSVP, which differs by event; nothing else may.
		msg := st.Message()
		if i := strings.Index(msg, ": "); i > 0 && strings.HasPrefix(msg, "events/") {
			msg = msg[i:]
		}
		return fmt.Sprintf("error %v%s", st.Code(), msg)
	}
	return fmt.Sprintf("%v guests=%d position=%d checked_in=%v", r.GetState(), r.GetGuests(), r.GetWaitlistPosition(), r.GetCheckedIn())
}

// probe plays an informant holding one RSVP to event: everything a holder can ask of it,
// in order, with the answers.
func probe(t *testing.T, h *harness, event string) []string {
	t.Helper()
	rsvps := h.rsvps()
	const requestID = "informant-0123456789"
	created, err := rsvps.CreateRsvp(h.ctx, &rallyv1.CreateRsvpRequest{Parent: event, RequestId: requestID, Rsvp: &rallyv1.Rsvp{DisplayName: "Informant"}})
	if err != nil {
		t.Fatal(err)
	}
	out := []string{"create: " + answer(created.GetRsvp(), nil)}
	replay, err := rsvps.CreateRsvp(h.ctx, &rallyv1.CreateRsvpRequest{Parent: event, RequestId: requestID, Rsvp: &rallyv1.Rsvp{DisplayName: "Informant"}})
	out = append(out, "replay: "+answer(replay.GetRsvp(), err))
	as, name := bearer(h.ctx, created.GetManageToken()), created.GetRsvp().GetName()
	got, err := rsvps.GetRsvp(as, &rallyv1.GetRsvpRequest{Name: name})
	out = append(out, "get: "+answer(got, err))
	for _, guests := range []int32{1, 2, 3, 4, 5, 0, 1} {
		got, err := rsvps.UpdateRsvp(as, &rallyv1.UpdateRsvpRequest{Rsvp: &rallyv1.Rsvp{Name: name, Guests: guests}, UpdateMask: &fieldmaskpb.FieldMask{Paths: []string{"guests"}}})
		out = append(out, fmt.Sprintf("guests %d: %s", guests, answer(got, err)))
	}
	got, err = rsvps.UpdateRsvp(as, &rallyv1.UpdateRsvpRequest{Rsvp: &rallyv1.Rsvp{Name: name, DisplayName: "Someone"}, UpdateMask: &fieldmaskpb.FieldMask{Paths: []string{"display_name"}}})
	out = append(out, "rename: "+answer(got, err))
	got, err = rsvps.CancelRsvp(as, &rallyv1.CancelRsvpRequest{Name: name})
	out = append(out, "cancel: "+answer(got, err))
	return out
}

// fill makes n RSVPs of one person each to event.
func fill(t *testing.T, h *harness, event string, n int) {
	t.Helper()
	for range n {
		h.rsvp(t, event, 0)
	}
}

// TestHiddenWriteResultsCountNothing plays an informant holding one RSVP to HIDDEN
// events that differ only in how many come: every answer it can get is the same.
func TestHiddenWriteResultsCountNothing(t *testing.T) {
	hidden := rallyv1.AttendanceVisibility_ATTENDANCE_VISIBILITY_HIDDEN
	onStores(t, func(t *testing.T, h *harness) {
		_, asAlice := h.organiser(t, "Alice")

		// With a place: 20 places, and 1, 14 or 18 taken before the informant comes.
		// Without the rule, raising guests would be refused at different counts.
		var going [][]string
		for _, taken := range []int{1, 14, 18} {
			e := h.rsvpEvent(t, asAlice, 20, hidden)
			fill(t, h, e.GetName(), taken)
			going = append(going, probe(t, h, e.GetName()))
		}
		for i := 1; i < len(going); i++ {
			if strings.Join(going[i], "\n") != strings.Join(going[0], "\n") {
				t.Errorf("a holder of a GOING RSVP tells the counts apart:\n%s\n\nvs\n\n%s", strings.Join(going[0], "\n"), strings.Join(going[i], "\n"))
			}
		}
		if !strings.Contains(going[0][3], "FailedPrecondition") || !strings.Contains(going[0][3], "rsvp.guests") {
			t.Errorf("raising guests on a HIDDEN event: %q; want FAILED_PRECONDITION naming rsvp.guests", going[0][3])
		}
		if !strings.HasPrefix(going[0][8], "guests 0: RSVP_STATE_GOING") {
			t.Errorf("lowering guests on a HIDDEN event: %q; want it done", going[0][8])
		}

		// On the waitlist: 2 places taken, and 1 or 9 waiting before the informant.
		var waiting [][]string
		for _, ahead := range []int{1, 9} {
			e := h.rsvpEvent(t, asAlice, 2, hidden)
			fill(t, h, e.GetName(), 2+ahead)
			waiting = append(waiting, probe(t, h, e.GetName()))
		}
		if strings.Join(waiting[1], "\n") != strings.Join(waiting[0], "\n") {
			t.Errorf("a holder of a WAITLISTED RSVP tells the counts apart:\n%s\n\nvs\n\n%s", strings.Join(waiting[0], "\n"), strings.Join(waiting[1], "\n"))
		}
		if waiting[0][0] != "create: RSVP_STATE_WAITLISTED guests=0 position=0 checked_in=false" {
			t.Errorf("waitlisted create on a HIDDEN event: %q; want no position", waiting[0][0])
		}
	})
}

// TestHiddenRuleLeavesOthersAlone: organisers of a HIDDEN event, and holders of RSVPs to
// events whose counts are public, keep exact positions and guest changes that fit.
func TestHiddenRuleLeavesOthersAlone(t *testing.T) {
	onStores(t, func(t *testing.T, h *harness) {
		_, asAlice := h.organiser(t, "Alice")
		hiddenEvent := h.rsvpEvent(t, asAlice, 2, rallyv1.AttendanceVisibility_ATTENDANCE_VISIBILITY_HIDDEN)
		exactEvent := h.rsvpEvent(t, asAlice, 2, rallyv1.AttendanceVisibility_ATTENDANCE_VISIBILITY_EXACT)
		for _, e := range []*rallyv1.Event{hiddenEvent, exactEvent} {
			fill(t, h, e.GetName(), 3)
		}
		waiter := h.rsvp(t, hiddenEvent.GetName(), 0)
		got, err := h.rsvps().GetRsvp(asAlice, &rallyv1.GetRsvpRequest{Name: waiter.GetRsvp().GetName()})
		if err != nil || got.GetWaitlistPosition() != 2 {
			t.Fatalf("organiser's read of a waitlisted RSVP of a HIDDEN event: %v, %v; want position 2", got, err)
		}
		exactWaiter := h.rsvp(t, exactEvent.GetName(), 0)
		if p := exactWaiter.GetRsvp().GetWaitlistPosition(); p != 2 {
			t.Fatalf("waitlisted on an EXACT event: position %d, want 2", p)
		}
		got, err = h.rsvps().GetRsvp(bearer(h.ctx, exactWaiter.GetManageToken()), &rallyv1.GetRsvpRequest{Name: exactWaiter.GetRsvp().GetName()})
		if err != nil || got.GetWaitlistPosition() != 2 {
			t.Fatalf("holder's read on an EXACT event: %v, %v; want position 2", got, err)
		}

		// An organiser raises guests on a HIDDEN event's RSVP as far as places allow.
		roomy := h.rsvpEvent(t, asAlice, 5, rallyv1.AttendanceVisibility_ATTENDANCE_VISIBILITY_HIDDEN)
		r := h.rsvp(t, roomy.GetName(), 0)
		raise := func(ctx context.Context, guests int32) (*rallyv1.Rsvp, error) {
			return h.rsvps().UpdateRsvp(ctx, &rallyv1.UpdateRsvpRequest{Rsvp: &rallyv1.Rsvp{Name: r.GetRsvp().GetName(), Guests: guests}, UpdateMask: &fieldmaskpb.FieldMask{Paths: []string{"guests"}}})
		}
		if got, err := raise(asAlice, 2); err != nil || got.GetGuests() != 2 {
			t.Fatalf("organiser's raise: %v, %v", got, err)
		}
		fill(t, h, roomy.GetName(), 2)
		_, err = raise(asAlice, 3)
		wantCode(t, err, codes.FailedPrecondition, "")
		if !strings.Contains(status.Convert(err).Message(), "not enough free places") {
			t.Errorf("organiser's raise beyond the places: %v; want the free places named", err)
		}
		// The holder lowers; an EXACT event's holder raises where it fits.
		if got, err := raise(bearer(h.ctx, r.GetManageToken()), 1); err != nil || got.GetGuests() != 1 {
			t.Fatalf("holder's lowering: %v, %v", got, err)
		}
		open := h.rsvpEvent(t, asAlice, 5, rallyv1.AttendanceVisibility_ATTENDANCE_VISIBILITY_EXACT)
		o := h.rsvp(t, open.GetName(), 0)
		if got, err := h.rsvps().UpdateRsvp(bearer(h.ctx, o.GetManageToken()), &rallyv1.UpdateRsvpRequest{Rsvp: &rallyv1.Rsvp{Name: o.GetRsvp().GetName(), Guests: 2}, UpdateMask: &fieldmaskpb.FieldMask{Paths: []string{"guests"}}}); err != nil || got.GetGuests() != 2 {
			t.Fatalf("holder's raise on an EXACT event: %v, %v", got, err)
		}
	})
}
