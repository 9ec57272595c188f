package server_test

import (
	"testing"
	"time"

	rallyv1 "github.com/rallyhq/rally/gen/go/rally/v1"
)

// A waitlisted participant whose place comes while their page is open learns it live,
// even when the public view of the attendance ends where it was (one going, then one
// going and one waitlisted, then the first cancels: one going again, all within one
// coalescing window, so that no public attendance change is published): their own
// stream gets their RSVP, GOING, as a BUDDY change (promotion.go).
func TestPromotionReachesTheHolderLive(t *testing.T) {
	t.Parallel()
	const window = 300 * time.Millisecond
	conn, _, _, e := serveCoalescing(t, window, 0, func(ev *rallyv1.Event) { ev.Capacity = 1 })
	ctx := t.Context()
	rsvps := rallyv1.NewRsvpServiceClient(conn)
	a, err := rsvps.CreateRsvp(ctx, &rallyv1.CreateRsvpRequest{Parent: e.GetName(), Rsvp: &rallyv1.Rsvp{}})
	if err != nil {
		t.Fatal(err)
	}
	time.Sleep(3 * window) // A's window has published "1 going"
	b, err := rsvps.CreateRsvp(ctx, &rallyv1.CreateRsvpRequest{Parent: e.GetName(), Rsvp: &rallyv1.Rsvp{}})
	if err != nil {
		t.Fatal(err)
	}
	if b.GetRsvp().GetState() != rallyv1.RsvpState_RSVP_STATE_WAITLISTED {
		t.Fatalf("B is %v, want waitlisted", b.GetRsvp().GetState())
	}
	stream, err := rallyv1.NewEventServiceClient(conn).WatchEvent(bearer(ctx, b.GetManageToken()), &rallyv1.WatchEventRequest{Name: e.GetName()})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := stream.Recv(); err != nil { // the snapshot
		t.Fatal(err)
	}
	if _, err := rsvps.CancelRsvp(bearer(ctx, a.GetManageToken()), &rallyv1.CancelRsvpRequest{Name: a.GetRsvp().GetName()}); err != nil {
		t.Fatal(err)
	}
	got := make(chan *rallyv1.Change, 1)
	go func() {
		ch, err := stream.Recv()
		if err != nil {
			t.Error(err)
			close(got)
			return
		}
		got <- ch
	}()
	select {
	case ch := <-got:
		if ch.GetKind() != rallyv1.ChangeKind_CHANGE_KIND_BUDDY || ch.GetRsvp().GetName() != b.GetRsvp().GetName() ||
			ch.GetRsvp().GetState() != rallyv1.RsvpState_RSVP_STATE_GOING {
			t.Fatalf("B's stream sent %v, want B's RSVP, GOING, in a BUDDY change", ch)
		}
	case <-time.After(10 * window):
		t.Fatal("B's stream said nothing of B's promotion")
	}
}

// One cancel of a party promotes as many RSVPs as its places hold (here six, under the
// default 5 guests): each of them is told, and the next in line, still waitlisted, is
// not. The event's attendance is HIDDEN, so no public change reaches the holders at all:
// what they hear is the promotion signal alone.
func TestPromotionOfSeveralByOneCancel(t *testing.T) {
	t.Parallel()
	const window = 50 * time.Millisecond
	conn, _, _, e := serveCoalescing(t, window, 0, func(ev *rallyv1.Event) {
		ev.Capacity = 6
		ev.AttendanceVisibility = rallyv1.AttendanceVisibility_ATTENDANCE_VISIBILITY_HIDDEN
	})
	ctx := t.Context()
	rsvps := rallyv1.NewRsvpServiceClient(conn)
	party, err := rsvps.CreateRsvp(ctx, &rallyv1.CreateRsvpRequest{Parent: e.GetName(), Rsvp: &rallyv1.Rsvp{Guests: 5}})
	if err != nil {
		t.Fatal(err)
	}
	changes := make([]chan *rallyv1.Change, 7)
	names := make([]string, 7)
	for i := range changes {
		r, err := rsvps.CreateRsvp(ctx, &rallyv1.CreateRsvpRequest{Parent: e.GetName(), Rsvp: &rallyv1.Rsvp{}})
		if err != nil {
			t.Fatal(err)
		}
		names[i] = r.GetRsvp().GetName()
		stream, err := rallyv1.NewEventServiceClient(conn).WatchEvent(bearer(ctx, r.GetManageToken()), &rallyv1.WatchEventRequest{Name: e.GetName()})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := stream.Recv(); err != nil { // the snapshot
			t.Fatal(err)
		}
		changes[i] = make(chan *rallyv1.Change, 8)
		go func() {
			for {
				ch, err := stream.Recv()
				if err != nil {
					return
				}
				changes[i] <- ch
			}
		}()
	}
	if _, err := rsvps.CancelRsvp(bearer(ctx, party.GetManageToken()), &rallyv1.CancelRsvpRequest{Name: party.GetRsvp().GetName()}); err != nil {
		t.Fatal(err)
	}
	for i := range 6 {
		select {
		case ch := <-changes[i]:
			if ch.GetKind() != rallyv1.ChangeKind_CHANGE_KIND_BUDDY || ch.GetRsvp().GetName() != names[i] ||
				ch.GetRsvp().GetState() != rallyv1.RsvpState_RSVP_STATE_GOING {
				t.Errorf("promoted holder %d was sent %v, want its RSVP, GOING, in a BUDDY change", i, ch)
			}
		case <-time.After(5 * time.Second):
			t.Errorf("promoted holder %d was told nothing", i)
		}
	}
	select {
	case ch := <-changes[6]:
		t.Errorf("the holder still waitlisted was sent %v", ch)
	case <-time.After(5 * window):
	}
}
