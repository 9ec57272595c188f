package server_test

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"fmt"
	"testing"

	"google.golang.org/grpc/codes"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/durationpb"
	"google.golang.org/protobuf/types/known/fieldmaskpb"

	rallyv1 "github.com/rallyhq/rally/gen/go/rally/v1"
)

// unkeyedEtag is the etag an older Rally computed, and anyone could compute from a guess
// at the content: SHA-256 of the resource without its etag (and, tried too, without its
// counters).
func unkeyedEtags(m proto.Message) []string {
	var out []string
	for _, clearCounters := range []bool{false, true} {
		c := proto.Clone(m)
		switch r := c.(type) {
		case *rallyv1.Event:
			r.Etag = ""
			if clearCounters {
				r.Attendance = nil
			}
		case *rallyv1.Task:
			r.Etag = ""
			if clearCounters {
				r.Progress = nil
			}
		}
		b, _ := proto.MarshalOptions{Deterministic: true}.Marshal(c)
		sum := sha256.Sum256(b)
		out = append(out, base64.RawURLEncoding.EncodeToString(sum[:12]))
	}
	return out
}

// TestEtagIsNoOracle plays an informant holding a public etag: it cannot check a guess
// at the content offline, and RSVPs and claims never move it.
func TestEtagIsNoOracle(t *testing.T) {
	onStores(t, func(t *testing.T, h *harness) {
		_, asAlice := h.organiser(t, "Alice")
		for _, vis := range []rallyv1.AttendanceVisibility{
			rallyv1.AttendanceVisibility_ATTENDANCE_VISIBILITY_HIDDEN,
			rallyv1.AttendanceVisibility_ATTENDANCE_VISIBILITY_APPROXIMATE,
			rallyv1.AttendanceVisibility_ATTENDANCE_VISIBILITY_EXACT,
		} {
			t.Run(vis.String(), func(t *testing.T) {
				e := h.rsvpEvent(t, asAlice, 3, vis)
				// The organiser's view holds everything the etag was computed from.
				for _, guess := range unkeyedEtags(e) {
					if guess == e.GetEtag() {
						t.Fatalf("etag %s is an unkeyed SHA-256 of the event", e.GetEtag())
					}
				}
				public, err := h.events.GetEvent(h.ctx, &rallyv1.GetEventRequest{Name: e.GetName()})
				if err != nil || public.GetEtag() != e.GetEtag() {
					t.Fatalf("public read: %v, %v; want etag %s", public.GetEtag(), err, e.GetEtag())
				}
				// Going, waitlisted, a guest change and a cancellation: none moves it.
				var tokens []string
				for i := range 5 {
					tokens = append(tokens, h.rsvp(t, e.GetName(), int32(i%2)).GetManageToken())
				}
				holder := bearer(h.ctx, tokens[0])
				list, err := h.rsvps().ListRsvps(asAlice, &rallyv1.ListRsvpsRequest{Parent: e.GetName()})
				if err != nil {
					t.Fatal(err)
				}
				if _, err := h.rsvps().CancelRsvp(holder, &rallyv1.CancelRsvpRequest{Name: list.GetRsvps()[0].GetName()}); err != nil {
					t.Fatal(err)
				}
				for who, ctx := range map[string]context.Context{"anonymous": h.ctx, "organiser": asAlice} {
					got, err := h.events.GetEvent(ctx, &rallyv1.GetEventRequest{Name: e.GetName()})
					if err != nil || got.GetEtag() != e.GetEtag() {
						t.Fatalf("%s after RSVPs: etag %q, %v; want %q", who, got.GetEtag(), err, e.GetEtag())
					}
				}
				listed, err := h.events.ListEvents(h.ctx, &rallyv1.ListEventsRequest{})
				if err != nil {
					t.Fatal(err)
				}
				for _, l := range listed.GetEvents() {
					if l.GetName() == e.GetName() && l.GetEtag() != e.GetEtag() {
						t.Fatalf("listed after RSVPs: etag %q; want %q", l.GetEtag(), e.GetEtag())
					}
				}

				// An update changes it; the stale one is refused.
				upd, err := h.events.UpdateEvent(asAlice, &rallyv1.UpdateEventRequest{
					Event:      &rallyv1.Event{Name: e.GetName(), Title: "Moved vigil", Etag: e.GetEtag()},
					UpdateMask: &fieldmaskpb.FieldMask{Paths: []string{"title"}},
				})
				if err != nil || upd.GetEtag() == e.GetEtag() || upd.GetEtag() == "" {
					t.Fatalf("update: etag %q (was %q), %v", upd.GetEtag(), e.GetEtag(), err)
				}
				for _, guess := range unkeyedEtags(upd) {
					if guess == upd.GetEtag() {
						t.Fatalf("updated etag %s is an unkeyed SHA-256 of the event", upd.GetEtag())
					}
				}
				_, err = h.events.UpdateEvent(asAlice, &rallyv1.UpdateEventRequest{
					Event:      &rallyv1.Event{Name: e.GetName(), Title: "Again", Etag: e.GetEtag()},
					UpdateMask: &fieldmaskpb.FieldMask{Paths: []string{"title"}},
				})
				wantCode(t, err, codes.Aborted, "")
				// The current one is accepted, and RSVPs before it did not make it stale.
				h.rsvp(t, e.GetName(), 0)
				if _, err := h.events.CancelEvent(asAlice, &rallyv1.CancelEventRequest{Name: e.GetName(), Etag: upd.GetEtag()}); err != nil {
					t.Fatalf("cancel with the etag read before an RSVP: %v", err)
				}
			})
		}

		t.Run("task", func(t *testing.T) {
			c, err := h.campaigns.CreateCampaign(asAlice, &rallyv1.CreateCampaignRequest{Campaign: validCampaign()})
			if err != nil {
				t.Fatal(err)
			}
			for _, guess := range unkeyedEtags(c) {
				if guess == c.GetEtag() {
					t.Fatalf("campaign etag %s is an unkeyed SHA-256", c.GetEtag())
				}
			}
			in := validTask(c.GetName(), h.clock.Now())
			in.MaxConcurrentClaims, in.ClaimTtl = 3, durationpb.New(3600e9)
			tk, err := h.tasks().CreateTask(asAlice, &rallyv1.CreateTaskRequest{Task: in})
			if err != nil {
				t.Fatal(err)
			}
			for _, guess := range unkeyedEtags(tk) {
				if guess == tk.GetEtag() {
					t.Fatalf("task etag %s is an unkeyed SHA-256", tk.GetEtag())
				}
			}
			for i := range 3 {
				cl, err := h.tasks().ClaimTask(h.ctx, &rallyv1.ClaimTaskRequest{Name: tk.GetName(), DisplayName: fmt.Sprint("v", i)})
				if err != nil {
					t.Fatal(err)
				}
				if i == 0 {
					if _, err := h.tasks().CompleteClaim(bearer(h.ctx, cl.GetClaimToken()), &rallyv1.CompleteClaimRequest{Name: cl.GetClaim().GetName()}); err != nil {
						t.Fatal(err)
					}
				}
			}
			got, err := h.tasks().GetTask(h.ctx, &rallyv1.GetTaskRequest{Name: tk.GetName()})
			if err != nil || got.GetEtag() != tk.GetEtag() || got.GetProgress().GetClaimed() != 2 {
				t.Fatalf("after claims: etag %q, progress %v, %v; want etag %q", got.GetEtag(), got.GetProgress(), err, tk.GetEtag())
			}
			upd, err := h.tasks().UpdateTask(asAlice, &rallyv1.UpdateTaskRequest{
				Task:       &rallyv1.Task{Name: tk.GetName(), Title: "New title", Etag: tk.GetEtag()},
				UpdateMask: &fieldmaskpb.FieldMask{Paths: []string{"title"}},
			})
			if err != nil || upd.GetEtag() == tk.GetEtag() {
				t.Fatalf("task update: etag %q (was %q), %v", upd.GetEtag(), tk.GetEtag(), err)
			}
			_, err = h.tasks().UpdateTask(asAlice, &rallyv1.UpdateTaskRequest{
				Task:       &rallyv1.Task{Name: tk.GetName(), Title: "Again", Etag: tk.GetEtag()},
				UpdateMask: &fieldmaskpb.FieldMask{Paths: []string{"title"}},
			})
			wantCode(t, err, codes.Aborted, "")
		})
	})
}
