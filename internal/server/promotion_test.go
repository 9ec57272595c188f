package server_test

import (
	"io"
	"log/slog"
	"testing"
	"time"

	rallyv1 "github.com/rallyhq/rally/gen/go/rally/v1"
	pubsubmemory "github.com/rallyhq/rally/internal/pubsub/memory"
	"github.com/rallyhq/rally/internal/server"
	"github.com/rallyhq/rally/internal/store/memory"
)

// A waitlisted participant whose place comes while their page is open learns it live,
// even when the public view of the attendance ends where it was (one going, then one
// going and one waitlisted, then the first cancels: one going again, all within one
// coalescing window, so that no public attendance change is published): their own
// stream gets their RSVP, GOING, as a BUDDY change (promotion.go).
func TestPromotionReachesTheHolderLive(t *testing.T) {
	t.Parallel()
	const window = 300 * time.Millisecond
	broker := pubsubmemory.New()
	t.Cleanup(func() { broker.Close() })
	conn := serve(t, server.Options{Store: memory.New(), AdminToken: adminToken, Now: newClock().Now, Broker: broker,
		AttendanceWindow: window, Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	ctx := t.Context()
	c, err := rallyv1.NewCampaignServiceClient(conn).CreateCampaign(admin(ctx), &rallyv1.CreateCampaignRequest{Campaign: validCampaign()})
	if err != nil {
		t.Fatal(err)
	}
	ev := validEvent(c.GetName())
	ev.Capacity = 1
	e, err := rallyv1.NewEventServiceClient(conn).CreateEvent(admin(ctx), &rallyv1.CreateEventRequest{Event: ev})
	if err != nil {
		t.Fatal(err)
	}
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
