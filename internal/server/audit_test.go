package server_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/protobuf/types/known/durationpb"
	"google.golang.org/protobuf/types/known/fieldmaskpb"

	rallyv1 "github.com/rallyhq/rally/gen/go/rally/v1"
	"github.com/rallyhq/rally/internal/store"
	"github.com/rallyhq/rally/internal/store/memory"
)

// TestOrganisersReadsAreAudited: every organiser's read of personal data (one RSVP, a
// task's claims) leaves an entry, recorded before the read, naming the event or task and
// never the RSVP or claim; holders' reads of their own leave none.
func TestOrganisersReadsAreAudited(t *testing.T) {
	onStores(t, func(t *testing.T, h *harness) {
		alice, asAlice := h.organiser(t, "Alice")
		_, asBob := h.organiser(t, "Bob")
		e := h.rsvpEvent(t, asAlice, 10, rallyv1.AttendanceVisibility_ATTENDANCE_VISIBILITY_HIDDEN)
		mine := h.rsvp(t, e.GetName(), 0)
		name := mine.GetRsvp().GetName()
		entries := func() []*rallyv1.AuditEntry {
			t.Helper()
			got, err := h.rsvps().ListAuditEntries(asAlice, &rallyv1.ListAuditEntriesRequest{Parent: e.GetName()})
			if err != nil {
				t.Fatal(err)
			}
			return got.GetAuditEntries()
		}

		// The holder's own reads and changes are not audited.
		asHolder := bearer(h.ctx, mine.GetManageToken())
		if _, err := h.rsvps().GetRsvp(asHolder, &rallyv1.GetRsvpRequest{Name: name}); err != nil {
			t.Fatal(err)
		}
		if _, err := h.rsvps().UpdateRsvp(asHolder, &rallyv1.UpdateRsvpRequest{Rsvp: &rallyv1.Rsvp{Name: name, DisplayName: "D"}, UpdateMask: &fieldmaskpb.FieldMask{Paths: []string{"display_name"}}}); err != nil {
			t.Fatal(err)
		}
		// Nor are refused calls by outsiders (they read nothing).
		_, err := h.rsvps().GetRsvp(asBob, &rallyv1.GetRsvpRequest{Name: name})
		wantCode(t, err, codes.NotFound, "")
		if got := entries(); len(got) != 0 {
			t.Fatalf("audit after the holder's own calls: %v; want none", got)
		}

		// Each organiser's call on one RSVP leaves one entry, newest first.
		calls := []struct {
			action string
			call   func() error
		}{
			{"GetRsvp", func() error {
				_, err := h.rsvps().GetRsvp(asAlice, &rallyv1.GetRsvpRequest{Name: name})
				return err
			}},
			{"UpdateRsvp", func() error {
				_, err := h.rsvps().UpdateRsvp(asAlice, &rallyv1.UpdateRsvpRequest{Rsvp: &rallyv1.Rsvp{Name: name, Contact: "signal:new"}, UpdateMask: &fieldmaskpb.FieldMask{Paths: []string{"contact"}}})
				return err
			}},
			{"CheckInRsvp", func() error {
				_, err := h.rsvps().CheckInRsvp(asAlice, &rallyv1.CheckInRsvpRequest{Name: name})
				return err
			}},
			{"CancelRsvp", func() error {
				_, err := h.rsvps().CancelRsvp(asAlice, &rallyv1.CancelRsvpRequest{Name: name})
				return err
			}},
		}
		for i, c := range calls {
			if err := c.call(); err != nil {
				t.Fatalf("%s: %v", c.action, err)
			}
			got := entries()
			if len(got) != i+1 {
				t.Fatalf("after %s: %d entries, want %d: %v", c.action, len(got), i+1, got)
			}
			n := got[0]
			if n.GetAction() != c.action || n.GetActor() != alice || n.GetEvent() != e.GetName() || n.GetTask() != "" || !n.GetCreateTime().AsTime().Equal(h.clock.Now()) {
				t.Errorf("entry of %s: %v", c.action, n)
			}
			if strings.Contains(n.String(), lastSegment(name)) {
				t.Errorf("entry of %s names the RSVP: %v", c.action, n)
			}
		}
		// The holder's read after its RSVP was cancelled adds nothing either.
		if _, err := h.rsvps().GetRsvp(asHolder, &rallyv1.GetRsvpRequest{Name: name}); err != nil {
			t.Fatal(err)
		}
		if got := entries(); len(got) != len(calls) {
			t.Fatalf("audit after the holder's read: %d entries, want %d", len(got), len(calls))
		}

		// A task's claims: the organiser's ListClaims is audited in the task's log, which
		// its campaign's organisers read; the claim holder's calls are not.
		c, err := h.campaigns.CreateCampaign(asAlice, &rallyv1.CreateCampaignRequest{Campaign: validCampaign()})
		if err != nil {
			t.Fatal(err)
		}
		in := validTask(c.GetName(), h.clock.Now())
		in.ClaimTtl = durationpb.New(time.Hour)
		tk, err := h.tasks().CreateTask(asAlice, &rallyv1.CreateTaskRequest{Task: in})
		if err != nil {
			t.Fatal(err)
		}
		cl, err := h.tasks().ClaimTask(h.ctx, &rallyv1.ClaimTaskRequest{Name: tk.GetName(), DisplayName: "Sky"})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := h.tasks().CompleteClaim(bearer(h.ctx, cl.GetClaimToken()), &rallyv1.CompleteClaimRequest{Name: cl.GetClaim().GetName(), ProofUrl: "https://example.org/p"}); err != nil {
			t.Fatal(err)
		}
		taskAudit, err := h.rsvps().ListAuditEntries(asAlice, &rallyv1.ListAuditEntriesRequest{Parent: tk.GetName()})
		if err != nil || len(taskAudit.GetAuditEntries()) != 0 {
			t.Fatalf("task audit before ListClaims: %v, %v; want none", taskAudit, err)
		}
		_, err = h.tasks().ListClaims(asBob, &rallyv1.ListClaimsRequest{Parent: tk.GetName()})
		wantCode(t, err, codes.PermissionDenied, "")
		if _, err := h.tasks().ListClaims(asAlice, &rallyv1.ListClaimsRequest{Parent: tk.GetName()}); err != nil {
			t.Fatal(err)
		}
		taskAudit, err = h.rsvps().ListAuditEntries(asAlice, &rallyv1.ListAuditEntriesRequest{Parent: tk.GetName()})
		if err != nil || len(taskAudit.GetAuditEntries()) != 1 {
			t.Fatalf("task audit after ListClaims: %v, %v; want one entry", taskAudit, err)
		}
		if n := taskAudit.GetAuditEntries()[0]; n.GetAction() != "ListClaims" || n.GetActor() != alice || n.GetTask() != tk.GetName() || n.GetEvent() != "" {
			t.Errorf("entry of ListClaims: %v", n)
		}
		// The task's log is its campaign's organisers' only, and the event's is untouched.
		_, err = h.rsvps().ListAuditEntries(asBob, &rallyv1.ListAuditEntriesRequest{Parent: tk.GetName()})
		wantCode(t, err, codes.PermissionDenied, "")
		_, err = h.rsvps().ListAuditEntries(bearer(h.ctx, cl.GetClaimToken()), &rallyv1.ListAuditEntriesRequest{Parent: tk.GetName()})
		wantCode(t, err, codes.Unauthenticated, "")
		_, err = h.rsvps().ListAuditEntries(asAlice, &rallyv1.ListAuditEntriesRequest{Parent: "campaigns/" + lastSegment(c.GetName())})
		wantCode(t, err, codes.InvalidArgument, "parent")
		if got := entries(); len(got) != len(calls) {
			t.Fatalf("event audit after the task's: %d entries, want %d", len(got), len(calls))
		}
	})
}

// lastSegment is the last segment of a resource name.
func lastSegment(name string) string { return name[strings.LastIndex(name, "/")+1:] }

// failingAudit is a store whose audit log cannot be written.
type failingAudit struct{ store.Store }

func (failingAudit) AppendAudit(context.Context, string, *rallyv1.AuditEntry) error {
	return errors.New("the audit log is unavailable")
}

// TestNoAuditNoRead: the entry is written before the read, so when it cannot be, the
// organiser reads and changes nothing.
func TestNoAuditNoRead(t *testing.T) {
	h := newHarnessOn(t, func(*testing.T, func() time.Time) store.Store { return failingAudit{memory.New()} }, nil)
	_, asAlice := h.organiser(t, "Alice")
	e := h.rsvpEvent(t, asAlice, 10, rallyv1.AttendanceVisibility_ATTENDANCE_VISIBILITY_EXACT)
	r := h.rsvp(t, e.GetName(), 0)
	name := r.GetRsvp().GetName()
	for what, err := range map[string]error{
		"GetRsvp":     second(h.rsvps().GetRsvp(asAlice, &rallyv1.GetRsvpRequest{Name: name})),
		"UpdateRsvp":  second(h.rsvps().UpdateRsvp(asAlice, &rallyv1.UpdateRsvpRequest{Rsvp: &rallyv1.Rsvp{Name: name, DisplayName: "X"}, UpdateMask: &fieldmaskpb.FieldMask{Paths: []string{"display_name"}}})),
		"CheckInRsvp": second(h.rsvps().CheckInRsvp(asAlice, &rallyv1.CheckInRsvpRequest{Name: name})),
		"CancelRsvp":  second(h.rsvps().CancelRsvp(asAlice, &rallyv1.CancelRsvpRequest{Name: name})),
		"ListRsvps":   second(h.rsvps().ListRsvps(asAlice, &rallyv1.ListRsvpsRequest{Parent: e.GetName()})),
	} {
		if err == nil {
			t.Errorf("%s succeeded without its audit entry", what)
		}
	}
	// Nothing changed, and the holder, whose calls are not audited, still gets through.
	got, err := h.rsvps().GetRsvp(bearer(h.ctx, r.GetManageToken()), &rallyv1.GetRsvpRequest{Name: name})
	if err != nil || got.GetState() != rallyv1.RsvpState_RSVP_STATE_GOING || got.GetCheckedIn() || got.GetDisplayName() != "Dana" {
		t.Fatalf("the RSVP after the refused calls: %v, %v", got, err)
	}
}

func second[T any](_ T, err error) error { return err }
