package server_test

import (
	"context"
	"regexp"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"

	rallyv1 "github.com/rallyhq/rally/gen/go/rally/v1"
	"github.com/rallyhq/rally/internal/server"
)

var buddyCodeForm = regexp.MustCompile(`^[a-z2-7]{12}$`)

// wantBadCode checks the one answer to a code that does not pair: INVALID_ARGUMENT
// naming buddy_code, saying why without repeating the code.
func wantBadCode(t *testing.T, err error, code string) {
	t.Helper()
	wantCode(t, err, codes.InvalidArgument, "buddy_code")
	msg := status.Convert(err).Message()
	if !strings.Contains(msg, "unknown, expired or used buddy code") || strings.Contains(msg, code) {
		t.Errorf("message %q: want the reason, without the code %s", msg, code)
	}
}

// holderOf returns the RSVP as its holder reads it.
func holderOf(t *testing.T, h *harness, r *rallyv1.CreateRsvpResponse) *rallyv1.Rsvp {
	t.Helper()
	got, err := h.rsvps().GetRsvp(bearer(h.ctx, r.GetManageToken()), &rallyv1.GetRsvpRequest{Name: r.GetRsvp().GetName()})
	if err != nil {
		t.Fatal(err)
	}
	return got
}

func TestBuddies(t *testing.T) {
	onStores(t, func(t *testing.T, h *harness) {
		_, asAlice := h.organiser(t, "Alice")
		e := h.rsvpEvent(t, asAlice, 10, rallyv1.AttendanceVisibility_ATTENDANCE_VISIBILITY_EXACT)
		anna, birch, cedar := h.rsvp(t, e.GetName(), 0), h.rsvp(t, e.GetName(), 0), h.rsvp(t, e.GetName(), 0)
		asAnna, asBirch, asCedar := bearer(h.ctx, anna.GetManageToken()), bearer(h.ctx, birch.GetManageToken()), bearer(h.ctx, cedar.GetManageToken())
		annaName, birchName := anna.GetRsvp().GetName(), birch.GetRsvp().GetName()
		rs := h.rsvps()

		// Only the holder pairs: not an organiser, not the admin (whatever the RSVP), and
		// another RSVP's token finds nothing.
		_, err := rs.PairBuddy(asAlice, &rallyv1.PairBuddyRequest{Name: annaName, Nickname: "Anna"})
		wantCode(t, err, codes.PermissionDenied, "")
		_, err = rs.PairBuddy(h.admin, &rallyv1.PairBuddyRequest{Name: annaName, Nickname: "Anna"})
		wantCode(t, err, codes.PermissionDenied, "")
		_, err = rs.PairBuddy(asBirch, &rallyv1.PairBuddyRequest{Name: annaName, Nickname: "Anna"})
		wantCode(t, err, codes.NotFound, "")

		start := h.clock.Now()
		pair, err := rs.PairBuddy(asAnna, &rallyv1.PairBuddyRequest{Name: annaName, Nickname: "Anna"})
		if err != nil {
			t.Fatal(err)
		}
		code := pair.GetBuddyCode()
		if !buddyCodeForm.MatchString(code) || !pair.GetExpireTime().AsTime().Equal(start.Add(server.BuddyCodeTTL)) {
			t.Fatalf("PairBuddy = %v: want 12 base32 characters expiring in %v", pair, server.BuddyCodeTTL)
		}

		// Refused codes change nothing: a made-up one, one's own, another's by a token not
		// the RSVP's.
		_, err = rs.JoinBuddy(asBirch, &rallyv1.JoinBuddyRequest{Name: birchName, BuddyCode: "aaaaaaaaaaaa", Nickname: "Birch"})
		wantBadCode(t, err, "aaaaaaaaaaaa")
		_, err = rs.JoinBuddy(asAnna, &rallyv1.JoinBuddyRequest{Name: annaName, BuddyCode: code, Nickname: "Anna"})
		wantBadCode(t, err, code)
		_, err = rs.JoinBuddy(asCedar, &rallyv1.JoinBuddyRequest{Name: birchName, BuddyCode: code, Nickname: "Birch"})
		wantCode(t, err, codes.NotFound, "")
		_, err = rs.JoinBuddy(asAlice, &rallyv1.JoinBuddyRequest{Name: birchName, BuddyCode: code, Nickname: "Birch"})
		wantCode(t, err, codes.PermissionDenied, "")
		_, err = rs.JoinBuddy(asBirch, &rallyv1.JoinBuddyRequest{Name: birchName, BuddyCode: "NOT-A-CODE", Nickname: "Birch"})
		wantCode(t, err, codes.InvalidArgument, "buddy_code")
		if got := holderOf(t, h, anna); got.GetBuddy() != nil {
			t.Fatalf("after refused joins, Anna has a buddy: %v", got)
		}

		joined, err := rs.JoinBuddy(asBirch, &rallyv1.JoinBuddyRequest{Name: birchName, BuddyCode: code, Nickname: "Birch"})
		if err != nil {
			t.Fatal(err)
		}
		if joined.GetName() != birchName || joined.GetBuddy().GetNickname() != "Anna" || joined.GetBuddy().GetCheckOutTime() != nil {
			t.Fatalf("JoinBuddy = %v: want Birch's RSVP with Anna as buddy", joined)
		}
		// Birch sees Anna's nickname and nothing else of hers.
		raw, _ := protojson.Marshal(joined)
		if annaID := annaName[strings.LastIndex(annaName, "/")+1:]; strings.Contains(string(raw), annaID) || strings.Contains(string(raw), anna.GetManageToken()) {
			t.Errorf("Birch's view names Anna's RSVP: %s", raw)
		}
		if got := holderOf(t, h, anna); got.GetBuddy().GetNickname() != "Birch" {
			t.Errorf("Anna's buddy: %v, want Birch", got.GetBuddy())
		}
		// Organisers see no buddy, on one RSVP or the list.
		org, err := rs.GetRsvp(asAlice, &rallyv1.GetRsvpRequest{Name: annaName})
		if err != nil || org.GetBuddy() != nil {
			t.Errorf("organiser's GetRsvp: %v, %v: want no buddy", org, err)
		}
		list, err := rs.ListRsvps(asAlice, &rallyv1.ListRsvpsRequest{Parent: e.GetName()})
		if err != nil {
			t.Fatal(err)
		}
		for _, r := range list.GetRsvps() {
			if r.GetBuddy() != nil {
				t.Errorf("ListRsvps shows a buddy: %v", r)
			}
		}

		// The code is used up; a paired RSVP takes no second buddy.
		_, err = rs.JoinBuddy(asCedar, &rallyv1.JoinBuddyRequest{Name: cedar.GetRsvp().GetName(), BuddyCode: code, Nickname: "Cedar"})
		wantBadCode(t, err, code)
		_, err = rs.PairBuddy(asAnna, &rallyv1.PairBuddyRequest{Name: annaName, Nickname: "Anna"})
		wantCode(t, err, codes.FailedPrecondition, "")

		// An expired code pairs nobody.
		late, err := rs.PairBuddy(asCedar, &rallyv1.PairBuddyRequest{Name: cedar.GetRsvp().GetName(), Nickname: "Cedar"})
		if err != nil {
			t.Fatal(err)
		}
		dara := h.rsvp(t, e.GetName(), 0)
		h.clock.Add(server.BuddyCodeTTL + time.Second)
		_, err = rs.JoinBuddy(bearer(h.ctx, dara.GetManageToken()), &rallyv1.JoinBuddyRequest{Name: dara.GetRsvp().GetName(), BuddyCode: late.GetBuddyCode(), Nickname: "Dara"})
		wantBadCode(t, err, late.GetBuddyCode())
		if got := holderOf(t, h, cedar); got.GetBuddy() != nil {
			t.Errorf("an expired code paired Cedar: %v", got)
		}

		// Check-out: the holder's alone, and not before the start.
		_, err = rs.CheckOutRsvp(asBirch, &rallyv1.CheckOutRsvpRequest{Name: birchName})
		wantCode(t, err, codes.FailedPrecondition, "")
		if !strings.Contains(status.Convert(err).Message(), "not started") {
			t.Errorf("early check-out: %v: want it to say the event has not started", err)
		}
		for _, n := range []string{annaName, birchName} {
			if _, err := rs.CheckInRsvp(asAlice, &rallyv1.CheckInRsvpRequest{Name: n}); err != nil {
				t.Fatal(err)
			}
		}
		h.clock.Add(e.GetStartTime().AsTime().Sub(h.clock.Now()) + 30*time.Minute)
		_, err = rs.CheckOutRsvp(asAnna, &rallyv1.CheckOutRsvpRequest{Name: birchName})
		wantCode(t, err, codes.NotFound, "")
		_, err = rs.CheckOutRsvp(asAlice, &rallyv1.CheckOutRsvpRequest{Name: birchName})
		wantCode(t, err, codes.PermissionDenied, "")
		out, err := rs.CheckOutRsvp(asBirch, &rallyv1.CheckOutRsvpRequest{Name: birchName})
		if err != nil {
			t.Fatal(err)
		}
		if !out.GetCheckOutTime().AsTime().Equal(h.clock.Now()) || out.GetBuddy().GetNickname() != "Anna" {
			t.Fatalf("CheckOutRsvp = %v", out)
		}
		h.clock.Add(time.Minute)
		again, err := rs.CheckOutRsvp(asBirch, &rallyv1.CheckOutRsvpRequest{Name: birchName})
		if err != nil || !proto.Equal(again, out) {
			t.Errorf("a second check-out: %v, %v; want the first unchanged, %v", again, err, out)
		}
		if b := holderOf(t, h, anna).GetBuddy(); !b.GetCheckOutTime().AsTime().Equal(out.GetCheckOutTime().AsTime()) {
			t.Errorf("Anna's view of Birch: %v, want checked out at %v", b, out.GetCheckOutTime().AsTime())
		}
		if org, err := rs.GetRsvp(asAlice, &rallyv1.GetRsvpRequest{Name: birchName}); err != nil || org.GetCheckOutTime() == nil || org.GetBuddy() != nil {
			t.Errorf("organiser's view of Birch: %v, %v: want the check-out time, no buddy", org, err)
		}

		// The counts: organisers see checked_in, and not_checked_out once the event has
		// ended; the public and holders neither.
		attendance := func(ctx context.Context) *rallyv1.Attendance {
			t.Helper()
			got, err := h.events.GetEvent(ctx, &rallyv1.GetEventRequest{Name: e.GetName()})
			if err != nil {
				t.Fatal(err)
			}
			return got.GetAttendance()
		}
		if a := attendance(asAlice); a.GetCheckedIn() != 2 || a.GetNotCheckedOut() != 0 {
			t.Errorf("organisers during the event: %v, want 2 checked in and no not_checked_out yet", a)
		}
		h.clock.Add(3 * time.Hour)
		if a := attendance(asAlice); a.GetCheckedIn() != 2 || a.GetNotCheckedOut() != 1 {
			t.Errorf("organisers after the end: %v, want 2 checked in, 1 not checked out", a)
		}
		for who, ctx := range map[string]context.Context{"public": h.ctx, "holder": asAnna} {
			if a := attendance(ctx); a.GetCheckedIn() != 0 || a.GetNotCheckedOut() != 0 || a.GetGoing() == 0 {
				t.Errorf("%s sees %v: want going, without the check-out counts", who, a)
			}
		}
		listed, err := h.events.ListEvents(h.ctx, &rallyv1.ListEventsRequest{})
		if err != nil {
			t.Fatal(err)
		}
		for _, ev := range listed.GetEvents() {
			if ev.GetAttendance().GetCheckedIn() != 0 || ev.GetAttendance().GetNotCheckedOut() != 0 {
				t.Errorf("ListEvents shows the public %v", ev.GetAttendance())
			}
		}

		// Forget me: Anna deletes her RSVP; Birch's buddy is gone with it.
		if _, err := rs.DeleteRsvp(asAnna, &rallyv1.DeleteRsvpRequest{Name: annaName}); err != nil {
			t.Fatal(err)
		}
		if b := holderOf(t, h, birch).GetBuddy(); b != nil {
			t.Errorf("Birch's buddy after Anna's deletion: %v", b)
		}
		_, err = rs.GetRsvp(asAnna, &rallyv1.GetRsvpRequest{Name: annaName})
		wantCode(t, err, codes.NotFound, "")
		_, err = rs.GetRsvp(asAlice, &rallyv1.GetRsvpRequest{Name: annaName})
		wantCode(t, err, codes.NotFound, "")
		_, err = rs.DeleteRsvp(asAlice, &rallyv1.DeleteRsvpRequest{Name: annaName})
		wantCode(t, err, codes.NotFound, "")
		if a := attendance(asAlice); a.GetCheckedIn() != 1 || a.GetNotCheckedOut() != 0 {
			t.Errorf("after the deletion: %v, want Birch alone, checked in and out", a)
		}
	})
}

// TestForgetMe deletes the GOING RSVP of a full event, by its holder and by an organiser:
// the waitlist moves up, the counts follow, and the audit log says who (the organiser,
// or "holder"), never whose RSVP.
func TestForgetMe(t *testing.T) {
	onStores(t, func(t *testing.T, h *harness) {
		alice, asAlice := h.organiser(t, "Alice")
		e := h.rsvpEvent(t, asAlice, 1, rallyv1.AttendanceVisibility_ATTENDANCE_VISIBILITY_EXACT)
		rs := h.rsvps()
		first, second, third := h.rsvp(t, e.GetName(), 0), h.rsvp(t, e.GetName(), 0), h.rsvp(t, e.GetName(), 0)
		if second.GetRsvp().GetState() != rallyv1.RsvpState_RSVP_STATE_WAITLISTED {
			t.Fatalf("second RSVP: %v, want WAITLISTED", second.GetRsvp())
		}
		// Another RSVP's holder cannot delete it.
		_, err := rs.DeleteRsvp(bearer(h.ctx, third.GetManageToken()), &rallyv1.DeleteRsvpRequest{Name: first.GetRsvp().GetName()})
		wantCode(t, err, codes.NotFound, "")

		if _, err := rs.DeleteRsvp(bearer(h.ctx, first.GetManageToken()), &rallyv1.DeleteRsvpRequest{Name: first.GetRsvp().GetName()}); err != nil {
			t.Fatal(err)
		}
		if got := holderOf(t, h, second); got.GetState() != rallyv1.RsvpState_RSVP_STATE_GOING {
			t.Errorf("the waitlist's head after the deletion: %v, want GOING", got)
		}
		ev, err := h.events.GetEvent(h.ctx, &rallyv1.GetEventRequest{Name: e.GetName()})
		if err != nil || ev.GetAttendance().GetGoing() != 1 || ev.GetAttendance().GetWaitlisted() != 1 {
			t.Errorf("attendance: %v, %v: want 1 going, 1 waitlisted", ev.GetAttendance(), err)
		}
		_, err = rs.GetRsvp(bearer(h.ctx, first.GetManageToken()), &rallyv1.GetRsvpRequest{Name: first.GetRsvp().GetName()})
		wantCode(t, err, codes.NotFound, "")

		if _, err := rs.DeleteRsvp(asAlice, &rallyv1.DeleteRsvpRequest{Name: second.GetRsvp().GetName()}); err != nil {
			t.Fatal(err)
		}
		if got := holderOf(t, h, third); got.GetState() != rallyv1.RsvpState_RSVP_STATE_GOING {
			t.Errorf("the waitlist's head after the organiser's deletion: %v, want GOING", got)
		}
		audit, err := rs.ListAuditEntries(asAlice, &rallyv1.ListAuditEntriesRequest{Parent: e.GetName()})
		if err != nil {
			t.Fatal(err)
		}
		var actors []string
		for _, a := range audit.GetAuditEntries() {
			if a.GetAction() == "DeleteRsvp" {
				actors = append(actors, a.GetActor())
			}
			raw, _ := protojson.Marshal(a)
			for _, r := range []*rallyv1.CreateRsvpResponse{first, second} {
				if n := r.GetRsvp().GetName(); strings.Contains(string(raw), n[strings.LastIndex(n, "/")+1:]) {
					t.Errorf("an audit entry names a deleted RSVP: %s", raw)
				}
			}
		}
		if strings.Join(actors, ",") != alice+",holder" {
			t.Errorf("DeleteRsvp entries by %v, want %s (newest first) then holder", actors, alice)
		}
	})
}
