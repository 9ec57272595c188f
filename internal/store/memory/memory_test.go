package memory_test

import (
	"errors"
	"testing"
	"time"

	"github.com/rallyhq/rally/internal/store"
	"github.com/rallyhq/rally/internal/store/memory"
	"github.com/rallyhq/rally/internal/store/storetest"
)

func TestConformance(t *testing.T) {
	storetest.Run(t, func(t *testing.T) store.Store { return memory.New() })
}

// TestRSVPDeletion: an event's RSVPs, personal fields and token mappings included, are
// deleted once the retention after its end has passed; its counts stay.
func TestRSVPDeletion(t *testing.T) {
	ctx := t.Context()
	s := memory.New(memory.WithRSVPRetention(72*time.Hour), memory.WithSweepInterval(0))
	defer s.Close()
	start := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	e := storetest.Event("e", start, storetest.WithCapacity(2))
	if err := s.CreateEvent(ctx, e); err != nil {
		t.Fatal(err)
	}
	n := storetest.NewRSVP("e", "a", 2)
	if _, err := s.CreateRSVP(ctx, "events/e", n, start.Add(-time.Hour)); err != nil {
		t.Fatal(err)
	}
	if _, err := s.CreateRSVP(ctx, "events/e", storetest.NewRSVP("e", "b", 2), start.Add(-time.Hour)); err != nil {
		t.Fatal(err)
	}
	end := e.GetEndTime().AsTime()

	s.Sweep(end.Add(72*time.Hour - time.Second))
	if _, _, err := s.GetRSVP(ctx, "events/e/rsvps/a"); err != nil {
		t.Fatalf("deleted before the retention passed: %v", err)
	}
	s.Sweep(end.Add(72 * time.Hour))
	if _, _, err := s.GetRSVP(ctx, "events/e/rsvps/a"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("RSVP kept after the retention: %v", err)
	}
	if _, err := s.FindRSVPByToken(ctx, "events/e", n.TokenHash); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("token mapping kept after the retention: %v", err)
	}
	page, err := s.ListRSVPs(ctx, store.RSVPQuery{Event: "events/e", PageSize: 10})
	if err != nil || len(page.Items) != 0 {
		t.Errorf("RSVPs still listed: %v, %v", page.Items, err)
	}
	got, err := s.GetEvent(ctx, "events/e")
	if err != nil || got.GetAttendance().GetGoing() != 2 || got.GetAttendance().GetWaitlisted() != 2 {
		t.Errorf("counts must outlive the RSVPs: %v, %v", got.GetAttendance(), err)
	}
}

// TestClaimDeletion: a task's claims (pseudonyms, proofs) are deleted once the retention
// has passed after the last moment a claim could be open (deadline plus claim TTL); the
// task's counts stay.
func TestClaimDeletion(t *testing.T) {
	ctx := t.Context()
	s := memory.New(memory.WithRSVPRetention(72*time.Hour), memory.WithSweepInterval(0))
	defer s.Close()
	start := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	task := storetest.Task("t", start.Add(24*time.Hour), storetest.WithClaimTTL(time.Hour))
	if err := s.CreateTask(ctx, task); err != nil {
		t.Fatal(err)
	}
	if _, err := s.ClaimTask(ctx, "tasks/t", storetest.NewClaim("t", "a"), start); err != nil {
		t.Fatal(err)
	}
	if _, err := s.CompleteClaim(ctx, "tasks/t/claims/a", store.Completion{ProofURL: "https://example.org/proof", Note: "done"}, start); err != nil {
		t.Fatal(err)
	}
	at := store.ClaimsDeleteAt(task, 72*time.Hour)
	if want := start.Add(24*time.Hour + time.Hour + 72*time.Hour); !at.Equal(want) {
		t.Fatalf("ClaimsDeleteAt %v, want %v", at, want)
	}
	s.Sweep(at.Add(-time.Second))
	if _, _, err := s.GetClaim(ctx, "tasks/t/claims/a", at); err != nil {
		t.Fatalf("deleted before the retention passed: %v", err)
	}
	s.Sweep(at)
	if _, _, err := s.GetClaim(ctx, "tasks/t/claims/a", at); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("claim kept after the retention: %v", err)
	}
	page, err := s.ListClaims(ctx, "tasks/t", 10, "", at)
	if err != nil || len(page.Items) != 0 {
		t.Errorf("claims still listed: %v, %v", page.Items, err)
	}
	got, err := s.GetTask(ctx, "tasks/t", at)
	if err != nil || got.GetProgress().GetCompleted() != 1 {
		t.Errorf("counts must outlive the claims: %v, %v", got.GetProgress(), err)
	}
}
