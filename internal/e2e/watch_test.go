package e2e_test

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/fieldmaskpb"
	"google.golang.org/protobuf/types/known/timestamppb"

	rallyv1 "github.com/rallyhq/rally/gen/go/rally/v1"
	"github.com/rallyhq/rally/internal/redistest"
)

// TestWatchAcrossReplicas: two rallyd processes and one Redis. A watcher on A sees an RSVP
// made on B within a second; when A shuts down, the stream ends with UNAVAILABLE and a
// cursor that resumes it on B without missing the changes made in between.
func TestWatchAcrossReplicas(t *testing.T) {
	testWatchAcrossReplicas(t, redistest.Start(t).URL())
}

// testWatchAcrossReplicas is TestWatchAcrossReplicas on the Redis at url, with the
// replicas' extra flags.
func testWatchAcrossReplicas(t *testing.T, url string, flags ...string) {
	a, b := dialReplica(t, startApp(t, url, flags...)), dialReplica(t, startApp(t, url, flags...))
	ctx := t.Context()
	e := exactEvent(t, a)

	stream, err := a.events.WatchEvent(ctx, &rallyv1.WatchEventRequest{Name: e.GetName()})
	if err != nil {
		t.Fatal(err)
	}
	snap := recv(t, stream, 5*time.Second)
	if snap.GetKind() != rallyv1.ChangeKind_CHANGE_KIND_SNAPSHOT || snap.GetEvent().GetName() != e.GetName() || snap.GetCursor() == "" || snap.GetReset_() {
		t.Fatalf("first message: %v", snap)
	}
	start := time.Now()
	if _, err := b.rsvps.CreateRsvp(ctx, &rallyv1.CreateRsvpRequest{Parent: e.GetName(), Rsvp: &rallyv1.Rsvp{Guests: 2}}); err != nil {
		t.Fatal(err)
	}
	c := recv(t, stream, time.Second)
	if c.GetKind() != rallyv1.ChangeKind_CHANGE_KIND_ATTENDANCE || c.GetEvent().GetAttendance().GetGoing() != 3 {
		t.Fatalf("after an RSVP on the other replica: %v", c)
	}
	t.Logf("RSVP on B seen on A after %v", time.Since(start))

	// A shuts down: the stream ends with UNAVAILABLE and the cursor of the last change.
	sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := a.app.Shutdown(sctx); err != nil {
		t.Fatal(err)
	}
	_, err = stream.Recv()
	st := status.Convert(err)
	if st.Code() != codes.Unavailable {
		t.Fatalf("after shutdown: %v, want UNAVAILABLE", err)
	}
	var cursor string
	for _, d := range st.Details() {
		if info, ok := d.(*errdetails.ErrorInfo); ok {
			cursor = info.GetMetadata()["cursor"]
		}
	}
	if cursor != c.GetCursor() {
		t.Fatalf("shutdown cursor %q, want the last change's %q", cursor, c.GetCursor())
	}

	// Changes while the watcher was away, then resume on B: no snapshot, no gap.
	if _, err := b.events.UpdateEvent(withToken(ctx, token), &rallyv1.UpdateEventRequest{
		Event: &rallyv1.Event{Name: e.GetName(), Title: "Moved"}, UpdateMask: &fieldmaskpb.FieldMask{Paths: []string{"title"}}}); err != nil {
		t.Fatal(err)
	}
	resumed, err := b.events.WatchEvent(ctx, &rallyv1.WatchEventRequest{Name: e.GetName(), Cursor: cursor})
	if err != nil {
		t.Fatal(err)
	}
	if c := recv(t, resumed, 5*time.Second); c.GetKind() != rallyv1.ChangeKind_CHANGE_KIND_UPDATED || c.GetEvent().GetTitle() != "Moved" {
		t.Fatalf("resumed stream starts with %v, want the missed update", c)
	}
	// A cursor that cannot be resumed gives a fresh snapshot marked reset.
	reset, err := b.events.WatchEvent(ctx, &rallyv1.WatchEventRequest{Name: e.GetName(), Cursor: "bm90LWEtY3Vyc29y"})
	if err != nil {
		t.Fatal(err)
	}
	if c := recv(t, reset, 5*time.Second); c.GetKind() != rallyv1.ChangeKind_CHANGE_KIND_SNAPSHOT || !c.GetReset_() || c.GetEvent().GetTitle() != "Moved" {
		t.Fatalf("watch from a bad cursor starts with %v, want a reset snapshot", c)
	}
}

// TestWatchOverREST reads a watch stream as a browser would: newline-delimited JSON
// through the gateway, on both backends.
func TestWatchOverREST(t *testing.T) {
	for name, redisURL := range backends(t) {
		t.Run(name, func(t *testing.T) {
			a := startApp(t, redisURL(t))
			r := dialReplica(t, a)
			e := exactEvent(t, r)
			ctx, cancel := context.WithCancel(t.Context())
			defer cancel()
			req, _ := http.NewRequestWithContext(ctx, "GET", "http://"+a.HTTPAddr()+"/v1/"+e.GetName()+":watch", nil)
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			lines := bufio.NewScanner(resp.Body)
			next := func() map[string]any {
				t.Helper()
				if !lines.Scan() {
					t.Fatalf("stream ended: %v", lines.Err())
				}
				var msg struct {
					Result map[string]any `json:"result"`
				}
				if err := json.Unmarshal(lines.Bytes(), &msg); err != nil || msg.Result == nil {
					t.Fatalf("line %q: %v", lines.Text(), err)
				}
				return msg.Result
			}
			if c := next(); c["kind"] != "CHANGE_KIND_SNAPSHOT" {
				t.Fatalf("first line: %v", c)
			}
			if _, err := r.events.PostAnnouncement(withToken(ctx, token), &rallyv1.PostAnnouncementRequest{Parent: e.GetName(),
				Announcement: &rallyv1.Announcement{Text: "We moved to the north side"}}); err != nil {
				t.Fatal(err)
			}
			if c := next(); c["kind"] != "CHANGE_KIND_ANNOUNCEMENT" || c["announcement"].(map[string]any)["text"] != "We moved to the north side" {
				t.Fatalf("announcement line: %v", c)
			}
		})
	}
}

// TestWatchSlowConsumer: a watcher that never reads does not hold up another one, which
// receives every change in order.
func TestWatchSlowConsumer(t *testing.T) {
	for name, redisURL := range backends(t) {
		t.Run(name, func(t *testing.T) {
			r := dialReplica(t, startApp(t, redisURL(t)))
			e := exactEvent(t, r)
			ctx := t.Context()
			if _, err := r.events.WatchEvent(ctx, &rallyv1.WatchEventRequest{Name: e.GetName()}); err != nil {
				t.Fatal(err) // never read from
			}
			fast, err := r.events.WatchEvent(ctx, &rallyv1.WatchEventRequest{Name: e.GetName()})
			if err != nil {
				t.Fatal(err)
			}
			recv(t, fast, 5*time.Second) // snapshot
			const n = 600
			long := strings.Repeat("x", 900) // large messages fill the never-read stream's windows quickly
			done := make(chan error, 1)
			go func() {
				for i := range n {
					text := fmt.Sprintf("update %04d %s", i, long)
					if _, err := r.events.PostAnnouncement(withToken(ctx, token), &rallyv1.PostAnnouncementRequest{Parent: e.GetName(),
						Announcement: &rallyv1.Announcement{Text: text[:min(len(text), 1000)]}}); err != nil {
						done <- err
						return
					}
				}
				done <- nil
			}()
			for i := range n {
				c := recv(t, fast, 10*time.Second)
				if want := fmt.Sprintf("update %04d", i); c.GetAnnouncement().GetText()[:len(want)] != want {
					t.Fatalf("message %d is %.20q", i, c.GetAnnouncement().GetText())
				}
			}
			if err := <-done; err != nil {
				t.Fatal(err)
			}
		})
	}
}

// TestWatchLimitPerCaller: a caller may hold only so many watch streams at once.
func TestWatchLimitPerCaller(t *testing.T) {
	r := dialReplica(t, startApp(t, "", "--max-watches=2"))
	e := exactEvent(t, r)
	for i := range 3 {
		s, err := r.events.WatchEvent(t.Context(), &rallyv1.WatchEventRequest{Name: e.GetName()})
		if err != nil {
			t.Fatal(err)
		}
		_, err = s.Recv()
		if i < 2 && err != nil {
			t.Fatalf("watch %d: %v", i+1, err)
		}
		if i == 2 && status.Code(err) != codes.ResourceExhausted {
			t.Fatalf("third watch: %v, want RESOURCE_EXHAUSTED", err)
		}
	}
}

// TestWatchTaskProgress: claiming a task pushes its progress to the watchers of its
// campaign and of its event, on both backends.
func TestWatchTaskProgress(t *testing.T) {
	for name, redisURL := range backends(t) {
		t.Run(name, func(t *testing.T) {
			a := startApp(t, redisURL(t))
			conn, err := grpc.NewClient(a.GRPCAddr(), grpc.WithTransportCredentials(insecure.NewCredentials()))
			if err != nil {
				t.Fatal(err)
			}
			defer conn.Close()
			ctx := t.Context()
			admin := withToken(ctx, token)
			campaigns, events, tasks := rallyv1.NewCampaignServiceClient(conn), rallyv1.NewEventServiceClient(conn), rallyv1.NewTaskServiceClient(conn)
			c, err := campaigns.CreateCampaign(admin, &rallyv1.CreateCampaignRequest{Campaign: &rallyv1.Campaign{Title: "Solidarity"}})
			if err != nil {
				t.Fatal(err)
			}
			e, err := events.CreateEvent(admin, &rallyv1.CreateEventRequest{Event: eventIn(c.GetName())})
			if err != nil {
				t.Fatal(err)
			}
			in := taskIn(c.GetName())
			in.Event = e.GetName()
			tk, err := tasks.CreateTask(admin, &rallyv1.CreateTaskRequest{Task: in})
			if err != nil {
				t.Fatal(err)
			}
			campaignWatch, err := events.WatchCampaign(ctx, &rallyv1.WatchCampaignRequest{Name: c.GetName()})
			if err != nil {
				t.Fatal(err)
			}
			eventWatch, err := events.WatchEvent(ctx, &rallyv1.WatchEventRequest{Name: e.GetName()})
			if err != nil {
				t.Fatal(err)
			}
			recv(t, campaignWatch, 5*time.Second) // the campaign's snapshot
			recv(t, campaignWatch, 5*time.Second) // its event's snapshot
			recv(t, eventWatch, 5*time.Second)
			if _, err := tasks.ClaimTask(ctx, &rallyv1.ClaimTaskRequest{Name: tk.GetName()}); err != nil {
				t.Fatal(err)
			}
			for which, s := range map[string]rallyv1.EventService_WatchEventClient{"campaign": campaignWatch, "event": eventWatch} {
				c := recv(t, s, 5*time.Second)
				if c.GetKind() != rallyv1.ChangeKind_CHANGE_KIND_TASK_PROGRESS || c.GetTask().GetProgress().GetClaimed() != 1 {
					t.Errorf("%s watcher got %v, want the task's progress with 1 claimed", which, c)
				}
			}
		})
	}
}

// TestWatchMeetingPointPerHolder: on one event, watchers see the meeting point in live
// changes only as they may: an RSVP holder once GOING (after the reveal time), a
// waitlisted holder only once promoted, an anonymous watcher never. The shaped events are
// shared between watchers, so this checks that sharing never crosses those lines.
func TestWatchMeetingPointPerHolder(t *testing.T) {
	for name, redisURL := range backends(t) {
		t.Run(name, func(t *testing.T) {
			a := startApp(t, redisURL(t))
			r := dialReplica(t, a)
			ev := eventIn("")
			ev.Capacity = 1
			// EXACT, so that every RSVP changes what the public and holders see (they hear of
			// attendance only when their view of it changes).
			ev.AttendanceVisibility = rallyv1.AttendanceVisibility_ATTENDANCE_VISIBILITY_EXACT
			ev.MeetingPoint = "north gate, by the lime tree"
			ev.MeetingPointRevealTime = timestamppb.New(time.Now().Add(-time.Hour))
			e, err := r.events.CreateEvent(withToken(t.Context(), token), &rallyv1.CreateEventRequest{Event: ev})
			if err != nil {
				t.Fatal(err)
			}
			rsvp := func() *rallyv1.CreateRsvpResponse {
				t.Helper()
				resp, err := r.rsvps.CreateRsvp(t.Context(), &rallyv1.CreateRsvpRequest{Parent: e.GetName(), Rsvp: &rallyv1.Rsvp{}})
				if err != nil {
					t.Fatal(err)
				}
				return resp
			}
			going, waiting := rsvp(), rsvp()
			watchAs := func(tok string) rallyv1.EventService_WatchEventClient {
				t.Helper()
				s, err := r.events.WatchEvent(withToken(t.Context(), tok), &rallyv1.WatchEventRequest{Name: e.GetName()})
				if err != nil {
					t.Fatal(err)
				}
				recv(t, s, 2*time.Second) // the snapshot
				return s
			}
			anon, goingW, waitingW := watchAs(""), watchAs(going.GetManageToken()), watchAs(waiting.GetManageToken())
			point := func(s rallyv1.EventService_WatchEventClient) string {
				t.Helper()
				return recv(t, s, 2*time.Second).GetEvent().GetMeetingPoint()
			}

			rsvp() // a change every watcher hears
			if p := point(anon); p != "" {
				t.Errorf("anonymous watcher sees the meeting point %q", p)
			}
			if p := point(goingW); p != ev.GetMeetingPoint() {
				t.Errorf("GOING holder sees %q, want the meeting point", p)
			}
			if p := point(waitingW); p != "" {
				t.Errorf("waitlisted holder sees the meeting point %q", p)
			}

			// The GOING participant cancels (with their own token): the next in line is
			// promoted, hears of it on its own (a BUDDY change with its RSVP, GOING:
			// server/promotion.go), and sees the meeting point in the attendance change,
			// whichever of the two comes first.
			if _, err := r.rsvps.CancelRsvp(withToken(t.Context(), going.GetManageToken()), &rallyv1.CancelRsvpRequest{Name: going.GetRsvp().GetName()}); err != nil {
				t.Fatal(err)
			}
			var told, shown bool
			for range 2 {
				ch := recv(t, waitingW, 2*time.Second)
				if ch.GetKind() == rallyv1.ChangeKind_CHANGE_KIND_BUDDY {
					told = ch.GetRsvp().GetState() == rallyv1.RsvpState_RSVP_STATE_GOING
					continue
				}
				if p := ch.GetEvent().GetMeetingPoint(); p != ev.GetMeetingPoint() {
					t.Errorf("promoted holder sees %q, want the meeting point", p)
				}
				shown = true
			}
			if !told || !shown {
				t.Errorf("promoted holder: told of the promotion %v, shown the meeting point %v; want both", told, shown)
			}
			if p := point(anon); p != "" {
				t.Errorf("anonymous watcher sees the meeting point %q", p)
			}
		})
	}
}
