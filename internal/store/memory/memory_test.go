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
