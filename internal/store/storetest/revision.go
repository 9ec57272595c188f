package storetest

import (
	"errors"
	"sync"
	"testing"

	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/testing/protocmp"

	"github.com/google/go-cmp/cmp"

	rallyv1 "github.com/rallyhq/rally/gen/go/rally/v1"
	"github.com/rallyhq/rally/internal/store"
)

// testEventRevision: an event is created at revision 0, whatever it carried; every stored
// update, the cancellation included, adds one, even several in the same instant (which
// update_time cannot tell apart); a failed mutate adds nothing; concurrent updates each
// count once; and RSVPs, their cancellation, check-in and rebalancing leave the event's
// record, revision included, as it was.
func testEventRevision(t *testing.T, s store.Store) {
	ctx := t.Context()
	e := Event("rev", base, WithCapacity(1))
	e.Revision = 7
	createEvents(t, s, e)
	if e.GetRevision() != 0 {
		t.Errorf("CreateEvent left revision %d in the caller's event, want 0", e.GetRevision())
	}
	want := func(n int32) {
		t.Helper()
		if got := getEvent(t, s, "events/rev").GetRevision(); got != n {
			t.Errorf("revision %d, want %d", got, n)
		}
	}
	want(0)

	// Three updates without a clock: same update_time, one more revision each. mutate
	// sees the new revision and cannot set another.
	for i := int32(1); i <= 3; i++ {
		got, err := s.UpdateEvent(ctx, "events/rev", func(e *rallyv1.Event) error {
			if e.GetRevision() != i {
				t.Errorf("mutate sees revision %d, want %d", e.GetRevision(), i)
			}
			e.Description = "edit"
			e.Revision = 100
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
		if got.GetRevision() != i {
			t.Errorf("UpdateEvent returned revision %d, want %d", got.GetRevision(), i)
		}
		want(i)
	}
	boom := errors.New("boom")
	if _, err := s.UpdateEvent(ctx, "events/rev", func(e *rallyv1.Event) error { return boom }); !errors.Is(err, boom) {
		t.Fatalf("failing mutate: %v", err)
	}
	want(3)

	// RSVPs write beside the event record, never in it.
	before := getEvent(t, s, "events/rev")
	mustRSVP(t, s, "rev", "a", 1)
	mustRSVP(t, s, "rev", "b", 1) // waitlisted: capacity 1
	if _, err := s.CheckInRSVP(ctx, "events/rev/rsvps/a", rsvpNow); err != nil {
		t.Fatal(err)
	}
	if _, err := s.CancelRSVP(ctx, "events/rev/rsvps/a", rsvpNow); err != nil {
		t.Fatal(err)
	}
	if err := s.Rebalance(ctx, "events/rev"); err != nil {
		t.Fatal(err)
	}
	after := getEvent(t, s, "events/rev")
	before.Attendance, after.Attendance = nil, nil
	if diff := cmp.Diff(before, after, protocmp.Transform()); diff != "" {
		t.Errorf("RSVPs changed the event record (-before +after):\n%s", diff)
	}

	// Concurrent updates: each stored one counts, none twice (a backend that retries on
	// a lost race counts from the winner's revision).
	const n = 20
	var wg sync.WaitGroup
	for range n {
		wg.Go(func() {
			if _, err := s.UpdateEvent(ctx, "events/rev", func(e *rallyv1.Event) error {
				e.Capacity++
				return nil
			}); err != nil {
				t.Errorf("concurrent update: %v", err)
			}
		})
	}
	wg.Wait()
	want(3 + n)

	// The cancellation is a change like any other.
	got, err := s.UpdateEvent(ctx, "events/rev", func(e *rallyv1.Event) error {
		Cancelled(e)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if got.GetRevision() != 4+n || !proto.Equal(got, getEvent(t, s, "events/rev")) {
		t.Errorf("after the cancellation: revision %d, want %d", got.GetRevision(), 4+n)
	}
}
