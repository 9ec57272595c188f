package server_test

import (
	"context"
	"testing"

	"google.golang.org/protobuf/types/known/fieldmaskpb"

	rallyv1 "github.com/rallyhq/rally/gen/go/rally/v1"
)

// TestWatchSnapshotsShared: watchers of an event who subscribe at the same position of
// its history share the state their snapshot shows (one read, not one a watcher: each
// keeps what it was last sent for the stream's life), and the sharing never hides a
// change: a watcher that subscribes after an update is shown the update, and one that
// subscribed before is sent it.
func TestWatchSnapshotsShared(t *testing.T) {
	t.Parallel()
	st, conn := serveHanging(t, 0)
	events := rallyv1.NewEventServiceClient(conn)
	ev, err := events.CreateEvent(admin(context.Background()), &rallyv1.CreateEventRequest{Event: validEvent("")})
	if err != nil {
		t.Fatal(err)
	}
	// An announcement gives the public history a position to subscribe at.
	if _, err := events.PostAnnouncement(admin(context.Background()), &rallyv1.PostAnnouncementRequest{Parent: ev.GetName(),
		Announcement: &rallyv1.Announcement{Text: "Bring water"}}); err != nil {
		t.Fatal(err)
	}
	reads := func() int {
		st.mu.Lock()
		defer st.mu.Unlock()
		return len(st.given)
	}
	watch := func() (rallyv1.EventService_WatchEventClient, *rallyv1.Change) {
		t.Helper()
		w, err := events.WatchEvent(t.Context(), &rallyv1.WatchEventRequest{Name: ev.GetName()})
		if err != nil {
			t.Fatal(err)
		}
		c, err := w.Recv()
		if err != nil || c.GetKind() != rallyv1.ChangeKind_CHANGE_KIND_SNAPSHOT {
			t.Fatalf("snapshot: %v %v", c, err)
		}
		return w, c
	}

	const watchers = 10
	before := reads()
	first, snap := watch()
	for range watchers - 1 {
		if _, c := watch(); c.GetCursor() != snap.GetCursor() || c.GetEvent().GetTitle() != snap.GetEvent().GetTitle() {
			t.Fatalf("snapshot at %s %q, the first at %s %q", c.GetCursor(), c.GetEvent().GetTitle(), snap.GetCursor(), snap.GetEvent().GetTitle())
		}
	}
	// Each watcher reads the event once to learn what it may see, before subscribing;
	// the snapshots at one position take one read between them.
	if got := reads() - before; got > watchers+1 {
		t.Errorf("%d watchers at one position read the event %d times, want %d at most", watchers, got, watchers+1)
	}

	if _, err := events.UpdateEvent(admin(context.Background()), &rallyv1.UpdateEventRequest{
		Event:      &rallyv1.Event{Name: ev.GetName(), Title: "Vigil, moved"},
		UpdateMask: &fieldmaskpb.FieldMask{Paths: []string{"title"}},
	}); err != nil {
		t.Fatal(err)
	}
	c, err := first.Recv()
	if err != nil || c.GetKind() != rallyv1.ChangeKind_CHANGE_KIND_UPDATED || c.GetEvent().GetTitle() != "Vigil, moved" {
		t.Fatalf("a watcher from before the update got %v, %v", c, err)
	}
	if _, late := watch(); late.GetEvent().GetTitle() != "Vigil, moved" || late.GetCursor() == snap.GetCursor() {
		t.Errorf("a watcher after the update was shown %q at %s", late.GetEvent().GetTitle(), late.GetCursor())
	}
}
