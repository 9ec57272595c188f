package e2e_test

import (
	"context"
	"fmt"
	"net/http"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/types/known/fieldmaskpb"
	"google.golang.org/protobuf/types/known/timestamppb"

	rallyv1 "github.com/rallyhq/rally/gen/go/rally/v1"
)

// The safety of the action itself (issue 17): buddies, the home-safe check-out and
// forget-me, played as participants play them, across two replicas on Redis.

// safetyLimits: the tests pair up faster than the shipped limits allow one address
// (TestBuddyCodeGuessing plays those).
const safetyLimits = noLimits

// startedEvent creates, as the admin, an EXACT event that started an hour ago and ends
// in an hour, in no campaign.
func startedEvent(t *testing.T, n node, capacity int32) *rallyv1.Event {
	t.Helper()
	ev := eventIn("")
	now := time.Now()
	ev.StartTime, ev.EndTime = timestamppb.New(now.Add(-time.Hour)), timestamppb.New(now.Add(time.Hour))
	ev.Capacity, ev.AttendanceVisibility = capacity, rallyv1.AttendanceVisibility_ATTENDANCE_VISIBILITY_EXACT
	return untilAnswered(t, func() (*rallyv1.Event, error) {
		return n.events.CreateEvent(withToken(t.Context(), token), &rallyv1.CreateEventRequest{Event: ev})
	})
}

// participant is an RSVP and its manage token.
type participant struct{ name, token string }

func (p participant) id() string { return p.name[strings.LastIndex(p.name, "/")+1:] }

func (p participant) ctx(ctx context.Context) context.Context { return withToken(ctx, p.token) }

// join RSVPs to event on n.
func join(t *testing.T, n node, event string) participant {
	t.Helper()
	r := untilAnswered(t, func() (*rallyv1.CreateRsvpResponse, error) {
		return n.rsvps.CreateRsvp(t.Context(), &rallyv1.CreateRsvpRequest{Parent: event, Rsvp: &rallyv1.Rsvp{}})
	})
	return participant{r.GetRsvp().GetName(), r.GetManageToken()}
}

// watchAs opens a watch stream of event on n with tok (empty: the public) and returns
// its snapshot and what it receives afterwards.
func watchAs(t *testing.T, n node, event, tok string) (*rallyv1.Change, *changes) {
	t.Helper()
	s, err := n.events.WatchEvent(withToken(t.Context(), tok), &rallyv1.WatchEventRequest{Name: event})
	if err != nil {
		t.Fatal(err)
	}
	snap := recv(t, s, 10*time.Second)
	if snap.GetKind() != rallyv1.ChangeKind_CHANGE_KIND_SNAPSHOT {
		t.Fatalf("first message: %v", snap)
	}
	return snap, collect(t, s)
}

// wantBuddyCodeRefused checks the one answer to a code that pairs nobody.
func wantBuddyCodeRefused(t *testing.T, err error, code string) {
	t.Helper()
	if got := violations(err); !slices.Equal(got, []string{"buddy_code"}) {
		t.Fatalf("got %v (fields %v), want INVALID_ARGUMENT naming buddy_code", err, got)
	}
	if msg := status.Convert(err).Message(); !strings.Contains(msg, "unknown, expired or used buddy code") || strings.Contains(msg, code) {
		t.Errorf("message %q: want the reason, without the code", msg)
	}
}

func isBuddy(c *rallyv1.Change) bool { return c.GetKind() == rallyv1.ChangeKind_CHANGE_KIND_BUDDY }

// TestBuddies: Anna pairs on one replica, Birch joins with her code on the other, each
// with their own token. Anna's stream on the first replica hears when Birch checks out on
// the second, and Birch's when Anna deletes her RSVP; nobody else's stream hears of it,
// and the holders' and the public's cursors go on as if nobody had paired. Birch sees
// Anna's nickname and check-out time, never her RSVP.
func TestBuddies(t *testing.T) {
	for name, url := range backends(t) {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			n1, n2 := twoNodes(t, url(t), safetyLimits)
			ctx := t.Context()
			e := startedEvent(t, n1, 10)
			anna, birch, cedar := join(t, n1, e.GetName()), join(t, n2, e.GetName()), join(t, n1, e.GetName())

			annaSnap, annaStream := watchAs(t, n1, e.GetName(), anna.token)
			_, birchStream := watchAs(t, n2, e.GetName(), birch.token)
			cedarSnap, cedarStream := watchAs(t, n1, e.GetName(), cedar.token)
			publicSnap, publicStream := watchAs(t, n2, e.GetName(), "")

			pair, err := n1.rsvps.PairBuddy(anna.ctx(ctx), &rallyv1.PairBuddyRequest{Name: anna.name, Nickname: "Heron"})
			if err != nil {
				t.Fatal(err)
			}
			code := pair.GetBuddyCode()
			if !regexp.MustCompile(`^[a-z2-7]{12}$`).MatchString(code) || time.Until(pair.GetExpireTime().AsTime()) > 10*time.Minute {
				t.Fatalf("PairBuddy = %v", pair)
			}
			// Her own code, a made-up one and another RSVP's token change nothing.
			_, err = n2.rsvps.JoinBuddy(anna.ctx(ctx), &rallyv1.JoinBuddyRequest{Name: anna.name, BuddyCode: code, Nickname: "Heron"})
			wantBuddyCodeRefused(t, err, code)
			_, err = n2.rsvps.JoinBuddy(birch.ctx(ctx), &rallyv1.JoinBuddyRequest{Name: birch.name, BuddyCode: "zzzzzzzzzzzz", Nickname: "Wren"})
			wantBuddyCodeRefused(t, err, "zzzzzzzzzzzz")
			_, err = n2.rsvps.JoinBuddy(cedar.ctx(ctx), &rallyv1.JoinBuddyRequest{Name: birch.name, BuddyCode: code, Nickname: "Wren"})
			if status.Code(err) != codes.NotFound {
				t.Fatalf("JoinBuddy with another RSVP's token: %v, want NOT_FOUND", err)
			}

			joined, err := n2.rsvps.JoinBuddy(birch.ctx(ctx), &rallyv1.JoinBuddyRequest{Name: birch.name, BuddyCode: code, Nickname: "Wren"})
			if err != nil {
				t.Fatal(err)
			}
			raw, _ := protojson.Marshal(joined)
			if joined.GetBuddy().GetNickname() != "Heron" || strings.Contains(string(raw), anna.id()) || strings.Contains(string(raw), anna.token) {
				t.Fatalf("Birch's RSVP after joining: %s; want Heron as buddy and nothing of Anna's RSVP", raw)
			}
			// The code is used up.
			_, err = n1.rsvps.JoinBuddy(cedar.ctx(ctx), &rallyv1.JoinBuddyRequest{Name: cedar.name, BuddyCode: code, Nickname: "Finch"})
			wantBuddyCodeRefused(t, err, code)

			// Anna's stream on the other replica hears that Birch joined, at her position
			// in the holders' history.
			got := annaStream.waitFor(t, "Anna's BUDDY after the join", isBuddy)
			// Its cursor is her position in the holders' history (resumed below): the
			// snapshot's or a later change's of that history, never one of its own.
			if c := got[len(got)-1]; c.GetRsvp().GetName() != anna.name || c.GetRsvp().GetBuddy().GetNickname() != "Wren" || c.GetCursor() == "" {
				t.Fatalf("Anna's BUDDY: %v; want her RSVP with Wren", c)
			}
			if annaSnap.GetCursor() == "" {
				t.Fatal("Anna's snapshot has no cursor")
			}

			// Check-out: not by another RSVP's token; by Birch on the second replica, and
			// Anna's stream on the first hears it.
			_, err = n2.rsvps.CheckOutRsvp(cedar.ctx(ctx), &rallyv1.CheckOutRsvpRequest{Name: birch.name})
			if status.Code(err) != codes.NotFound {
				t.Fatalf("CheckOutRsvp with another RSVP's token: %v, want NOT_FOUND", err)
			}
			out, err := n2.rsvps.CheckOutRsvp(birch.ctx(ctx), &rallyv1.CheckOutRsvpRequest{Name: birch.name})
			if err != nil || out.GetCheckOutTime() == nil {
				t.Fatalf("CheckOutRsvp: %v, %v", out, err)
			}
			annaStream.waitFor(t, "Anna's BUDDY after Birch's check-out", func(c *rallyv1.Change) bool {
				return isBuddy(c) && c.GetRsvp().GetBuddy().GetCheckOutTime().AsTime().Equal(out.GetCheckOutTime().AsTime())
			})
			mine, err := n1.rsvps.GetRsvp(anna.ctx(ctx), &rallyv1.GetRsvpRequest{Name: anna.name})
			if err != nil || mine.GetBuddy().GetNickname() != "Wren" || mine.GetBuddy().GetCheckOutTime() == nil {
				t.Fatalf("Anna's RSVP: %v, %v", mine, err)
			}

			// Forget me, over REST with Anna's token: Birch's stream hears that his buddy
			// is gone.
			del := restCall(t, "DELETE", "http://"+n1.app.HTTPAddr()+"/v1/"+anna.name, "", "Authorization", "Bearer "+anna.token)
			if del.code != http.StatusOK {
				t.Fatalf("DELETE %s: %d %s", anna.name, del.code, del.raw)
			}
			got = birchStream.waitFor(t, "Birch's BUDDY after Anna's deletion", isBuddy)
			birchBuddy := got[len(got)-1]
			if birchBuddy.GetRsvp().GetName() != birch.name || birchBuddy.GetRsvp().GetBuddy() != nil {
				t.Errorf("Birch's BUDDY: %v; want his RSVP without a buddy", birchBuddy)
			}

			// Cedar's and the public's streams heard nothing of it: the next change they get
			// is the one after their snapshot, as if nobody had paired.
			if _, err := n1.events.UpdateEvent(withToken(ctx, token), &rallyv1.UpdateEventRequest{
				Event: &rallyv1.Event{Name: e.GetName(), Title: "Vigil, moved"}, UpdateMask: &fieldmaskpb.FieldMask{Paths: []string{"title"}}}); err != nil {
				t.Fatal(err)
			}
			isTitle := func(c *rallyv1.Change) bool { return c.GetEvent().GetTitle() == "Vigil, moved" }
			for who, s := range map[string]*changes{"Cedar": cedarStream, "the public": publicStream} {
				for _, c := range s.waitFor(t, who+"'s title change", isTitle) {
					if isBuddy(c) || c.GetRsvp() != nil {
						t.Errorf("%s's stream got %v", who, c)
					}
				}
			}
			// The histories number the same changes whoever paired: streams resumed from
			// Cedar's and the public's snapshots, and from Birch's BUDDY change, replay
			// the changes since, without a snapshot and without a BUDDY change, up to the
			// title change.
			for who, from := range map[string]struct{ tok, cursor string }{
				"Cedar": {cedar.token, cedarSnap.GetCursor()}, "the public": {"", publicSnap.GetCursor()}, "Birch": {birch.token, birchBuddy.GetCursor()},
			} {
				s, err := n2.events.WatchEvent(withToken(ctx, from.tok), &rallyv1.WatchEventRequest{Name: e.GetName(), Cursor: from.cursor})
				if err != nil {
					t.Fatal(err)
				}
				for {
					c := recv(t, s, 10*time.Second)
					if isBuddy(c) || c.GetKind() == rallyv1.ChangeKind_CHANGE_KIND_SNAPSHOT {
						t.Fatalf("%s resumed: %v", who, c)
					}
					if isTitle(c) {
						break
					}
				}
			}
		})
	}
}

// TestBuddyREST pairs, joins and checks out over REST, with camelCase bodies and the
// holders' own tokens; a bad code is HTTP 400 naming buddy_code.
func TestBuddyREST(t *testing.T) {
	for name, url := range backends(t) {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			n, _ := twoNodes(t, url(t), safetyLimits)
			base := "http://" + n.app.HTTPAddr() + "/v1/"
			e := startedEvent(t, n, 10)
			anna, birch := join(t, n, e.GetName()), join(t, n, e.GetName())
			bearer := func(p participant) []string { return []string{"Authorization", "Bearer " + p.token} }

			pair := restCall(t, "POST", base+anna.name+":pairBuddy", `{"nickname":"Heron"}`, bearer(anna)...)
			code, _ := pair.body["buddyCode"].(string)
			if pair.code != 200 || code == "" || pair.body["expireTime"] == nil {
				t.Fatalf(":pairBuddy: %d %s", pair.code, pair.raw)
			}
			bad := restCall(t, "POST", base+birch.name+":joinBuddy", `{"buddyCode":"aaaaaaaaaaaa","nickname":"Wren"}`, bearer(birch)...)
			if bad.code != 400 || !slices.Equal(bad.fields, []string{"buddy_code"}) {
				t.Fatalf(":joinBuddy with a made-up code: %d %s", bad.code, bad.raw)
			}
			// An organiser (here the admin) may not join for a participant.
			if r := restCall(t, "POST", base+birch.name+":joinBuddy", fmt.Sprintf(`{"buddyCode":%q,"nickname":"Wren"}`, code), "Authorization", "Bearer "+token); r.code != 403 {
				t.Fatalf(":joinBuddy by the admin: %d %s", r.code, r.raw)
			}
			joined := restCall(t, "POST", base+birch.name+":joinBuddy", fmt.Sprintf(`{"buddyCode":%q,"nickname":"Wren"}`, code), bearer(birch)...)
			if joined.code != 200 || !strings.Contains(joined.raw, `"nickname":"Heron"`) || strings.Contains(joined.raw, anna.id()) {
				t.Fatalf(":joinBuddy: %d %s", joined.code, joined.raw)
			}
			out := restCall(t, "POST", base+anna.name+":checkOut", `{}`, bearer(anna)...)
			if out.code != 200 || out.body["checkOutTime"] == nil || !strings.Contains(out.raw, `"nickname":"Wren"`) {
				t.Fatalf(":checkOut: %d %s", out.code, out.raw)
			}
			if r := restCall(t, "POST", base+anna.name+":checkOut", `{}`, bearer(birch)...); r.code != 404 {
				t.Fatalf(":checkOut with another RSVP's token: %d %s", r.code, r.raw)
			}
			if r := restCall(t, "DELETE", base+birch.name, "", bearer(birch)...); r.code != 200 {
				t.Fatalf("DELETE: %d %s", r.code, r.raw)
			}
			for _, tok := range []string{birch.token, token} {
				if r := restCall(t, "GET", base+birch.name, "", "Authorization", "Bearer "+tok); r.code != 404 {
					t.Fatalf("GET after DELETE: %d %s", r.code, r.raw)
				}
				if r := restCall(t, "DELETE", base+birch.name, "", "Authorization", "Bearer "+tok); r.code != 404 {
					t.Fatalf("a second DELETE: %d %s", r.code, r.raw)
				}
			}
		})
	}
}

// TestCheckOutCounts: check-out only after the start; once the event has ended, its
// organisers see how many checked-in participants have not checked out, on GetEvent and
// live on their stream, while the public and holders never see the counts.
func TestCheckOutCounts(t *testing.T) {
	for name, url := range backends(t) {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			n1, n2 := twoNodes(t, url(t), safetyLimits)
			ctx, asAdmin := t.Context(), withToken(t.Context(), token)

			// Before the start: refused, saying why.
			future := untilAnswered(t, func() (*rallyv1.Event, error) {
				return n1.events.CreateEvent(asAdmin, &rallyv1.CreateEventRequest{Event: eventIn("")})
			})
			early := join(t, n1, future.GetName())
			_, err := n2.rsvps.CheckOutRsvp(early.ctx(ctx), &rallyv1.CheckOutRsvpRequest{Name: early.name})
			if status.Code(err) != codes.FailedPrecondition || !strings.Contains(status.Convert(err).Message(), "not started") {
				t.Fatalf("check-out before the start: %v", err)
			}

			e := startedEvent(t, n1, 10)
			anna, birch, cedar := join(t, n1, e.GetName()), join(t, n2, e.GetName()), join(t, n1, e.GetName())
			for _, p := range []participant{anna, birch} {
				if _, err := n1.rsvps.CheckInRsvp(asAdmin, &rallyv1.CheckInRsvpRequest{Name: p.name}); err != nil {
					t.Fatal(err)
				}
			}
			attendance := func(n node, ctx context.Context) *rallyv1.Attendance {
				t.Helper()
				ev, err := n.events.GetEvent(ctx, &rallyv1.GetEventRequest{Name: e.GetName()})
				if err != nil {
					t.Fatal(err)
				}
				return ev.GetAttendance()
			}
			if a := attendance(n2, asAdmin); a.GetCheckedIn() != 2 || a.GetNotCheckedOut() != 0 {
				t.Fatalf("organisers during the event: %v", a)
			}
			// The event ends.
			if _, err := n1.events.UpdateEvent(asAdmin, &rallyv1.UpdateEventRequest{
				Event:      &rallyv1.Event{Name: e.GetName(), EndTime: timestamppb.New(time.Now().Add(-time.Minute))},
				UpdateMask: &fieldmaskpb.FieldMask{Paths: []string{"end_time"}}}); err != nil {
				t.Fatal(err)
			}
			if a := attendance(n2, asAdmin); a.GetCheckedIn() != 2 || a.GetNotCheckedOut() != 2 {
				t.Fatalf("organisers after the end: %v, want 2 and 2", a)
			}
			for who, c := range map[string]context.Context{"public": ctx, "holder": cedar.ctx(ctx)} {
				if a := attendance(n1, c); a.GetCheckedIn() != 0 || a.GetNotCheckedOut() != 0 {
					t.Errorf("%s sees %v", who, a)
				}
			}
			_, orgStream := watchAs(t, n1, e.GetName(), token)
			_, publicStream := watchAs(t, n1, e.GetName(), "")
			if _, err := n2.rsvps.CheckOutRsvp(birch.ctx(ctx), &rallyv1.CheckOutRsvpRequest{Name: birch.name}); err != nil {
				t.Fatal(err)
			}
			orgStream.waitFor(t, "the organisers' not_checked_out of 1", func(c *rallyv1.Change) bool {
				return c.GetEvent().GetAttendance().GetNotCheckedOut() == 1 && c.GetEvent().GetAttendance().GetCheckedIn() == 2
			})
			if a := attendance(n2, asAdmin); a.GetNotCheckedOut() != 1 {
				t.Errorf("GetEvent after Birch's check-out: %v", a)
			}
			// A second check-out changes nothing and is answered alike.
			again, err := n1.rsvps.CheckOutRsvp(birch.ctx(ctx), &rallyv1.CheckOutRsvpRequest{Name: birch.name})
			if err != nil || again.GetCheckOutTime() == nil {
				t.Fatalf("a second check-out: %v, %v", again, err)
			}
			time.Sleep(500 * time.Millisecond)
			for _, c := range publicStream.all() {
				if a := c.GetEvent().GetAttendance(); a.GetCheckedIn() != 0 || a.GetNotCheckedOut() != 0 || isBuddy(c) {
					t.Errorf("the public stream got %v", c)
				}
			}
		})
	}
}

// TestForgetMeFullEvent deletes the GOING RSVP of a full event: the waitlist's head gets
// the place, the counts follow, the audit log says "holder" or the organiser and nothing
// of the participant, and the RSVP is gone for everyone.
func TestForgetMeFullEvent(t *testing.T) {
	for name, url := range backends(t) {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			n1, n2 := twoNodes(t, url(t), safetyLimits)
			ctx, asAdmin := t.Context(), withToken(t.Context(), token)
			e := startedEvent(t, n1, 1)
			going, waiting, last := join(t, n1, e.GetName()), join(t, n2, e.GetName()), join(t, n2, e.GetName())
			state := func(p participant) rallyv1.RsvpState {
				r, err := n2.rsvps.GetRsvp(p.ctx(ctx), &rallyv1.GetRsvpRequest{Name: p.name})
				if err != nil {
					t.Fatal(err)
				}
				return r.GetState()
			}
			if state(waiting) != rallyv1.RsvpState_RSVP_STATE_WAITLISTED {
				t.Fatal("the second RSVP is not waitlisted")
			}
			if _, err := n1.rsvps.DeleteRsvp(going.ctx(ctx), &rallyv1.DeleteRsvpRequest{Name: going.name}); err != nil {
				t.Fatal(err)
			}
			if state(waiting) != rallyv1.RsvpState_RSVP_STATE_GOING {
				t.Error("the waitlist's head did not move up")
			}
			ev, err := n2.events.GetEvent(ctx, &rallyv1.GetEventRequest{Name: e.GetName()})
			if err != nil || ev.GetAttendance().GetGoing() != 1 || ev.GetAttendance().GetWaitlisted() != 1 {
				t.Errorf("attendance: %v, %v", ev.GetAttendance(), err)
			}
			for _, c := range []context.Context{going.ctx(ctx), asAdmin} {
				_, err := n2.rsvps.GetRsvp(c, &rallyv1.GetRsvpRequest{Name: going.name})
				if status.Code(err) != codes.NotFound {
					t.Errorf("GetRsvp after the deletion: %v", err)
				}
			}
			if _, err := n2.rsvps.DeleteRsvp(asAdmin, &rallyv1.DeleteRsvpRequest{Name: waiting.name}); err != nil {
				t.Fatal(err)
			}
			if state(last) != rallyv1.RsvpState_RSVP_STATE_GOING {
				t.Error("the waitlist's head did not move up after the organiser's deletion")
			}
			audit, err := n1.rsvps.ListAuditEntries(asAdmin, &rallyv1.ListAuditEntriesRequest{Parent: e.GetName()})
			if err != nil {
				t.Fatal(err)
			}
			var actors []string
			for _, a := range audit.GetAuditEntries() {
				if a.GetAction() == "DeleteRsvp" {
					actors = append(actors, a.GetActor())
				}
				raw, _ := protojson.Marshal(a)
				for _, p := range []participant{going, waiting} {
					if strings.Contains(string(raw), p.id()) {
						t.Errorf("an audit entry names a deleted RSVP: %s", raw)
					}
				}
			}
			if !slices.Equal(actors, []string{"admin", "holder"}) {
				t.Errorf("DeleteRsvp entries by %v, want admin, then holder (newest first)", actors)
			}
		})
	}
}

// TestBuddyCodeGuessing plays a guesser of buddy codes against the shipped limits: ten
// wrong codes are refused naming buddy_code, the next is RESOURCE_EXHAUSTED, and the guesser's own RSVP is left unpaired.
func TestBuddyCodeGuessing(t *testing.T) {
	for name, url := range backends(t) {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			// Only the buddy calls keep their shipped limits.
			flags := strings.TrimSuffix(noLimits, "; rally.v1.RsvpService/PairBuddy=off; rally.v1.RsvpService/JoinBuddy=off")
			n, _ := twoNodes(t, url(t), flags)
			e := startedEvent(t, n, 10)
			guesser := join(t, n, e.GetName())
			for i := range 10 {
				code := strings.Repeat(string(rune('a'+i)), 12)
				_, err := n.rsvps.JoinBuddy(guesser.ctx(t.Context()), &rallyv1.JoinBuddyRequest{Name: guesser.name, BuddyCode: code, Nickname: "g"})
				wantBuddyCodeRefused(t, err, code)
			}
			_, err := n.rsvps.JoinBuddy(guesser.ctx(t.Context()), &rallyv1.JoinBuddyRequest{Name: guesser.name, BuddyCode: "bbbbbbbbbbbb", Nickname: "g"})
			if status.Code(err) != codes.ResourceExhausted {
				t.Fatalf("eleventh guess: %v, want RESOURCE_EXHAUSTED", err)
			}
			r, err := n.rsvps.GetRsvp(guesser.ctx(t.Context()), &rallyv1.GetRsvpRequest{Name: guesser.name})
			if err != nil || r.GetBuddy() != nil {
				t.Fatalf("guesser's RSVP after guessing: %v, %v", r, err)
			}
		})
	}
}
