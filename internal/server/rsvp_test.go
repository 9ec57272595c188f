package server_test

import (
	"context"
	"testing"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/protobuf/types/known/fieldmaskpb"
	"google.golang.org/protobuf/types/known/timestamppb"

	rallyv1 "github.com/rallyhq/rally/gen/go/rally/v1"
)

func (h *harness) rsvps() rallyv1.RsvpServiceClient { return rallyv1.NewRsvpServiceClient(h.conn) }

func bearer(ctx context.Context, token string) context.Context {
	return metadata.AppendToOutgoingContext(ctx, "authorization", "Bearer "+token)
}

// rsvpEvent creates an event of the given capacity and visibility, managed by asOrg.
func (h *harness) rsvpEvent(t *testing.T, asOrg context.Context, capacity int32, vis rallyv1.AttendanceVisibility) *rallyv1.Event {
	t.Helper()
	e := validEvent("")
	e.Capacity, e.AttendanceVisibility = capacity, vis
	e.MeetingPointRevealTime = timestamppb.New(e.GetStartTime().AsTime().Add(-2 * time.Hour))
	created, err := h.events.CreateEvent(asOrg, &rallyv1.CreateEventRequest{Event: e})
	if err != nil {
		t.Fatal(err)
	}
	return created
}

func (h *harness) rsvp(t *testing.T, event string, guests int32) *rallyv1.CreateRsvpResponse {
	t.Helper()
	r, err := h.rsvps().CreateRsvp(h.ctx, &rallyv1.CreateRsvpRequest{Parent: event, Rsvp: &rallyv1.Rsvp{DisplayName: "Dana", Contact: "signal:dana", Guests: guests}})
	if err != nil {
		t.Fatal(err)
	}
	return r
}

func TestRSVPPrivacy(t *testing.T) {
	h := newHarness(t)
	_, asAlice := h.organiser(t, "Alice")
	_, asBob := h.organiser(t, "Bob")
	e := h.rsvpEvent(t, asAlice, 10, rallyv1.AttendanceVisibility_ATTENDANCE_VISIBILITY_EXACT)
	mine := h.rsvp(t, e.GetName(), 1)
	theirs := h.rsvp(t, e.GetName(), 0)
	if len(mine.GetManageToken()) != len("rly_rsvp_")+43 || len(mine.GetRsvp().GetName()) != len(e.GetName()+"/rsvps/")+26 {
		t.Fatalf("token %d chars, name %q: want rly_rsvp_ + 43 and a 26-char random ID", len(mine.GetManageToken()), mine.GetRsvp().GetName())
	}
	if mine.GetRsvp().GetContact() != "" {
		t.Errorf("contact returned to the participant: it is for organisers only")
	}
	name := mine.GetRsvp().GetName()

	// The holder sees its RSVP; the organiser sees the contact too.
	got, err := h.rsvps().GetRsvp(bearer(h.ctx, mine.GetManageToken()), &rallyv1.GetRsvpRequest{Name: name})
	if err != nil || got.GetState() != rallyv1.RsvpState_RSVP_STATE_GOING || got.GetContact() != "" {
		t.Fatalf("holder: %v, %v", got, err)
	}
	got, err = h.rsvps().GetRsvp(asAlice, &rallyv1.GetRsvpRequest{Name: name})
	if err != nil || got.GetContact() != "signal:dana" {
		t.Fatalf("organiser: %v, %v", got, err)
	}

	// Everyone else learns nothing, not even that it exists: the same NOT_FOUND as for a
	// name that was never used.
	for who, ctx := range map[string]context.Context{
		"another RSVP's holder":            bearer(h.ctx, theirs.GetManageToken()),
		"an organiser of another campaign": asBob,
	} {
		for _, n := range []string{name, e.GetName() + "/rsvps/nosuchrsvp"} {
			_, err := h.rsvps().GetRsvp(ctx, &rallyv1.GetRsvpRequest{Name: n})
			wantCode(t, err, codes.NotFound, "")
			_, err = h.rsvps().CancelRsvp(ctx, &rallyv1.CancelRsvpRequest{Name: n})
			wantCode(t, err, codes.NotFound, "")
			_, err = h.rsvps().UpdateRsvp(ctx, &rallyv1.UpdateRsvpRequest{Rsvp: &rallyv1.Rsvp{Name: n, Guests: 2}, UpdateMask: &fieldmaskpb.FieldMask{Paths: []string{"guests"}}})
			wantCode(t, err, codes.NotFound, "")
			_ = who
		}
	}
	_, err = h.rsvps().GetRsvp(h.ctx, &rallyv1.GetRsvpRequest{Name: name})
	wantCode(t, err, codes.Unauthenticated, "")
	// An RSVP token opens nothing else.
	_, err = h.events.ListEvents(bearer(h.ctx, mine.GetManageToken()), &rallyv1.ListEventsRequest{})
	wantCode(t, err, codes.Unauthenticated, "")
	_, err = h.rsvps().ListRsvps(bearer(h.ctx, mine.GetManageToken()), &rallyv1.ListRsvpsRequest{Parent: e.GetName()})
	wantCode(t, err, codes.Unauthenticated, "")

	// Organisers list, and each list is audited.
	_, err = h.rsvps().ListRsvps(asBob, &rallyv1.ListRsvpsRequest{Parent: e.GetName()})
	wantCode(t, err, codes.PermissionDenied, "")
	list, err := h.rsvps().ListRsvps(asAlice, &rallyv1.ListRsvpsRequest{Parent: e.GetName()})
	if err != nil || len(list.GetRsvps()) != 2 || list.GetRsvps()[0].GetContact() != "signal:dana" {
		t.Fatalf("organiser's list: %v, %v", list, err)
	}
	audit, err := h.rsvps().ListAuditEntries(asAlice, &rallyv1.ListAuditEntriesRequest{Parent: e.GetName()})
	// The organiser's GetRsvp above is there too, older.
	if err != nil || len(audit.GetAuditEntries()) != 2 || audit.GetAuditEntries()[0].GetAction() != "ListRsvps" || audit.GetAuditEntries()[1].GetAction() != "GetRsvp" {
		t.Fatalf("audit: %v, %v", audit, err)
	}
	_, err = h.rsvps().ListAuditEntries(asBob, &rallyv1.ListAuditEntriesRequest{Parent: e.GetName()})
	wantCode(t, err, codes.PermissionDenied, "")
}

func TestRSVPMeetingPointReveal(t *testing.T) {
	h := newHarness(t)
	_, asAlice := h.organiser(t, "Alice")
	e := h.rsvpEvent(t, asAlice, 1, rallyv1.AttendanceVisibility_ATTENDANCE_VISIBILITY_EXACT)
	other := h.rsvpEvent(t, asAlice, 1, rallyv1.AttendanceVisibility_ATTENDANCE_VISIBILITY_EXACT)
	goingTok := h.rsvp(t, e.GetName(), 0).GetManageToken()
	waitTok := h.rsvp(t, e.GetName(), 0).GetManageToken()
	see := func(tok string) string {
		t.Helper()
		got, err := h.events.GetEvent(bearer(h.ctx, tok), &rallyv1.GetEventRequest{Name: e.GetName()})
		if err != nil {
			t.Fatal(err)
		}
		return got.GetMeetingPoint()
	}
	if mp := see(goingTok); mp != "" {
		t.Errorf("meeting point shown before its reveal time: %q", mp)
	}
	h.clock.Add(e.GetMeetingPointRevealTime().AsTime().Sub(h.clock.Now()))
	if mp := see(goingTok); mp != e.GetMeetingPoint() {
		t.Errorf("GOING holder after the reveal time sees %q, want %q", mp, e.GetMeetingPoint())
	}
	if mp := see(waitTok); mp != "" {
		t.Errorf("waitlisted holder sees the meeting point %q", mp)
	}
	pub, err := h.events.GetEvent(h.ctx, &rallyv1.GetEventRequest{Name: e.GetName()})
	if err != nil || pub.GetMeetingPoint() != "" {
		t.Errorf("public sees the meeting point: %v, %v", pub, err)
	}
	_, err = h.events.GetEvent(bearer(h.ctx, goingTok), &rallyv1.GetEventRequest{Name: other.GetName()})
	wantCode(t, err, codes.Unauthenticated, "")
}

func TestRSVPLifecycle(t *testing.T) {
	h := newHarness(t)
	_, asAlice := h.organiser(t, "Alice")
	e := h.rsvpEvent(t, asAlice, 3, rallyv1.AttendanceVisibility_ATTENDANCE_VISIBILITY_APPROXIMATE)
	rsvps := h.rsvps()

	// Idempotent create: the retry returns the same RSVP and the same token.
	req := &rallyv1.CreateRsvpRequest{Parent: e.GetName(), Rsvp: &rallyv1.Rsvp{Guests: 1}, RequestId: "6a1f0c39-6f55-4c5e-9a41-1b0f3d2c7e88"}
	first, err := rsvps.CreateRsvp(h.ctx, req)
	if err != nil {
		t.Fatal(err)
	}
	again, err := rsvps.CreateRsvp(h.ctx, req)
	if err != nil || again.GetManageToken() != first.GetManageToken() || again.GetRsvp().GetName() != first.GetRsvp().GetName() {
		t.Fatalf("retry: %v, %v; want the first RSVP and token", again, err)
	}
	waiting := h.rsvp(t, e.GetName(), 1) // 2 + 2 > 3
	if waiting.GetRsvp().GetState() != rallyv1.RsvpState_RSVP_STATE_WAITLISTED || waiting.GetRsvp().GetWaitlistPosition() != 1 {
		t.Fatalf("second party: %v", waiting.GetRsvp())
	}
	ev, err := h.events.GetEvent(h.ctx, &rallyv1.GetEventRequest{Name: e.GetName()})
	if err != nil || ev.GetAttendance().GetGoing() != 1 || ev.GetAttendance().GetGoingRange() != "1-9" {
		t.Fatalf("approximate attendance: %v, %v", ev.GetAttendance(), err)
	}

	// Bad input.
	_, err = rsvps.CreateRsvp(h.ctx, &rallyv1.CreateRsvpRequest{Parent: e.GetName(), Rsvp: &rallyv1.Rsvp{Guests: 6}})
	wantCode(t, err, codes.InvalidArgument, "rsvp.guests")
	_, err = rsvps.CreateRsvp(h.ctx, &rallyv1.CreateRsvpRequest{Parent: e.GetName(), Rsvp: &rallyv1.Rsvp{Guests: -1}})
	wantCode(t, err, codes.InvalidArgument, "rsvp.guests")
	_, err = rsvps.CreateRsvp(h.ctx, &rallyv1.CreateRsvpRequest{Parent: "events/nosuchevent", Rsvp: &rallyv1.Rsvp{}})
	wantCode(t, err, codes.NotFound, "")
	_, err = rsvps.CreateRsvp(h.ctx, &rallyv1.CreateRsvpRequest{Parent: e.GetName(), Rsvp: &rallyv1.Rsvp{Guests: 3}})
	wantCode(t, err, codes.FailedPrecondition, "") // 4 people for 3 places: could never be promoted

	// Growing beyond the free places is refused; the capacity growing promotes.
	_, err = rsvps.UpdateRsvp(bearer(h.ctx, first.GetManageToken()), &rallyv1.UpdateRsvpRequest{
		Rsvp: &rallyv1.Rsvp{Name: first.GetRsvp().GetName(), Guests: 3}, UpdateMask: &fieldmaskpb.FieldMask{Paths: []string{"guests"}}})
	wantCode(t, err, codes.FailedPrecondition, "")
	if _, err := h.events.UpdateEvent(asAlice, &rallyv1.UpdateEventRequest{
		Event: &rallyv1.Event{Name: e.GetName(), Capacity: 4}, UpdateMask: &fieldmaskpb.FieldMask{Paths: []string{"capacity"}}}); err != nil {
		t.Fatal(err)
	}
	got, err := rsvps.GetRsvp(bearer(h.ctx, waiting.GetManageToken()), &rallyv1.GetRsvpRequest{Name: waiting.GetRsvp().GetName()})
	if err != nil || got.GetState() != rallyv1.RsvpState_RSVP_STATE_GOING {
		t.Fatalf("after the capacity grew: %v, %v", got, err)
	}

	// Check-in by the organiser; cancel by the holder.
	if _, err := rsvps.CheckInRsvp(asAlice, &rallyv1.CheckInRsvpRequest{Name: got.GetName()}); err != nil {
		t.Fatal(err)
	}
	c, err := rsvps.CancelRsvp(bearer(h.ctx, first.GetManageToken()), &rallyv1.CancelRsvpRequest{Name: first.GetRsvp().GetName()})
	if err != nil || c.GetState() != rallyv1.RsvpState_RSVP_STATE_CANCELLED {
		t.Fatalf("cancel: %v, %v", c, err)
	}

	// A cancelled event takes no RSVPs.
	if _, err := h.events.CancelEvent(asAlice, &rallyv1.CancelEventRequest{Name: e.GetName()}); err != nil {
		t.Fatal(err)
	}
	_, err = rsvps.CreateRsvp(h.ctx, &rallyv1.CreateRsvpRequest{Parent: e.GetName(), Rsvp: &rallyv1.Rsvp{}})
	wantCode(t, err, codes.FailedPrecondition, "")
}
