package server_test

import (
	"io"
	"log/slog"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/protobuf/proto"

	rallyv1 "github.com/rallyhq/rally/gen/go/rally/v1"
	pubsubmemory "github.com/rallyhq/rally/internal/pubsub/memory"
	"github.com/rallyhq/rally/internal/server"
	"github.com/rallyhq/rally/internal/store/memory"
)

// TestCampaignOrganisersGetCoalescedAttendance: a burst of RSVPs reaches the event's
// organisers' history once per RSVP, live (with their pacing off), but its campaign's
// organisers' history only once per attendance window (issue 19: a second append per
// RSVP cost Redis as much as the RSVP), and at least once, so the campaign's organisers
// hear of it.
func TestCampaignOrganisersGetCoalescedAttendance(t *testing.T) {
	t.Parallel()
	const window = 200 * time.Millisecond
	conn, broker, c, e := serveCoalescing(t, window, -1, func(*rallyv1.Event) {})
	ctx := t.Context()
	campaignSub, err := broker.Subscribe(ctx, c.GetName(), "")
	if err != nil {
		t.Fatal(err)
	}
	defer campaignSub.Close()
	eventSub, err := broker.Subscribe(ctx, e.GetName(), "")
	if err != nil {
		t.Fatal(err)
	}
	defer eventSub.Close()

	const rsvps = 20
	rsvpClient := rallyv1.NewRsvpServiceClient(conn)
	start := time.Now()
	for range rsvps {
		if _, err := rsvpClient.CreateRsvp(ctx, &rallyv1.CreateRsvpRequest{Parent: e.GetName(), Rsvp: &rallyv1.Rsvp{}}); err != nil {
			t.Fatal(err)
		}
	}
	burst := time.Since(start)
	for i := range rsvps {
		select {
		case <-eventSub.C():
		case <-time.After(5 * time.Second):
			t.Fatalf("the event's organisers got %d changes, want one per RSVP (%d)", i, rsvps)
		}
	}
	// Every window that the burst touched has fired well before this (a window lasts
	// at most twice its length).
	var changes int
	deadline := time.After(burst + 10*window)
	for done := false; !done; {
		select {
		case m := <-campaignSub.C():
			var ch rallyv1.Change
			if err := proto.Unmarshal(m.Payload, &ch); err != nil {
				t.Fatal(err)
			}
			if ch.GetKind() != rallyv1.ChangeKind_CHANGE_KIND_ATTENDANCE || ch.GetResource() != e.GetName() {
				t.Errorf("the campaign's organisers got %v, want the event's attendance", &ch)
			}
			changes++
		case <-deadline:
			done = true
		}
	}
	// At most one per window the burst lasted, and one more for a window it opened
	// just before it ended.
	if most := int(burst/window) + 2; changes == 0 || changes > most || changes >= rsvps {
		t.Errorf("the campaign's organisers got %d attendance changes for %d RSVPs in %v, want 1 to %d", changes, rsvps, burst, most)
	}
}

// TestOrganisersPacedInARush: RSVPs made as fast as one caller can for 8 intervals
// reach an organiser's watch stream as far fewer attendance changes than RSVPs (all of
// the first interval's, about one per interval after it), and the last one shows every
// RSVP.
func TestOrganisersPacedInARush(t *testing.T) {
	t.Parallel()
	const interval = 100 * time.Millisecond
	conn, _, _, e := serveCoalescing(t, time.Hour, interval, func(*rallyv1.Event) {})
	ctx := t.Context()
	stream, err := rallyv1.NewEventServiceClient(conn).WatchEvent(admin(ctx), &rallyv1.WatchEventRequest{Name: e.GetName()})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := stream.Recv(); err != nil { // the snapshot
		t.Fatal(err)
	}
	type recv struct {
		c   *rallyv1.Change
		err error
	}
	got := make(chan recv, 1<<16)
	go func() {
		for {
			c, err := stream.Recv()
			got <- recv{c, err}
			if err != nil {
				return
			}
		}
	}()
	rsvpClient := rallyv1.NewRsvpServiceClient(conn)
	var rsvps int32
	for start := time.Now(); time.Since(start) < 8*interval; rsvps++ {
		if _, err := rsvpClient.CreateRsvp(ctx, &rallyv1.CreateRsvpRequest{Parent: e.GetName(), Rsvp: &rallyv1.Rsvp{}}); err != nil {
			t.Fatal(err)
		}
	}
	var changes int32
	for seen := int32(0); seen < rsvps; {
		select {
		case r := <-got:
			if r.err != nil {
				t.Fatal(r.err)
			}
			changes++
			a := r.c.GetEvent().GetAttendance()
			seen = a.GetGoing() + a.GetWaitlisted()
		case <-time.After(5 * time.Second):
			t.Fatalf("after %d changes the organisers see %d RSVPs (going and waitlisted), want %d", changes, seen, rsvps)
		}
	}
	select { // nothing more is on its way once the count is complete
	case r := <-got:
		if r.err == nil {
			changes++
		}
	case <-time.After(3 * interval):
	}
	t.Logf("%d RSVPs in 8 intervals, %d changes", rsvps, changes)
	if changes > rsvps/2 {
		t.Errorf("the organisers got %d changes for %d RSVPs in 8 intervals, want at most half as many", changes, rsvps)
	}
}

// serveCoalescing serves a memory store and broker whose public attendance is coalesced
// for window and whose organisers' attendance is paced by interval (server.Options'
// OrganiserInterval), with a campaign and an event in it: validEvent as edit changes it.
func serveCoalescing(t *testing.T, window, interval time.Duration, edit func(*rallyv1.Event)) (*grpc.ClientConn, *pubsubmemory.Broker, *rallyv1.Campaign, *rallyv1.Event) {
	t.Helper()
	broker := pubsubmemory.New()
	t.Cleanup(func() { broker.Close() })
	conn := serve(t, server.Options{Store: memory.New(), AdminToken: adminToken, Now: newClock().Now, Broker: broker,
		AttendanceWindow: window, OrganiserInterval: interval, Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	ctx := t.Context()
	c, err := rallyv1.NewCampaignServiceClient(conn).CreateCampaign(admin(ctx), &rallyv1.CreateCampaignRequest{Campaign: validCampaign()})
	if err != nil {
		t.Fatal(err)
	}
	ev := validEvent(c.GetName())
	edit(ev)
	e, err := rallyv1.NewEventServiceClient(conn).CreateEvent(admin(ctx), &rallyv1.CreateEventRequest{Event: ev})
	if err != nil {
		t.Fatal(err)
	}
	return conn, broker, c, e
}
