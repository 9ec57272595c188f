package e2e_test

import (
	"math/rand/v2"
	"sync"
	"testing"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"

	rallyv1 "github.com/rallyhq/rally/gen/go/rally/v1"
	"github.com/rallyhq/rally/internal/redistest"
	"github.com/rallyhq/rally/internal/store/storetest"
)

// TestRSVPsAcrossReplicas: two rallyd processes share one Redis, and 1,000 concurrent
// RSVPs split between them fill an event of capacity 100 exactly as one process would:
// no overbooking, first come first served, counts equal to the records.
func TestRSVPsAcrossReplicas(t *testing.T) {
	testRSVPsAcrossReplicas(t, redistest.Start(t).URL())
}

// testRSVPsAcrossReplicas is TestRSVPsAcrossReplicas on the Redis at url, with the
// replicas' extra flags.
func testRSVPsAcrossReplicas(t *testing.T, url string, flags ...string) {
	const n, capacity = 1000, 100
	replicas := []rallyv1.RsvpServiceClient{}
	var events rallyv1.EventServiceClient
	// A thousand RSVPs at once take a while to answer (half a second on a quiet machine,
	// several under the race detector on a busy one): longer than the shipped call
	// timeout, which this test of capacity under contention is not about.
	flags = append([]string{"--call-timeout=1m"}, flags...)
	for range 2 {
		a := startApp(t, url, flags...)
		conn, err := grpc.NewClient(a.GRPCAddr(), grpc.WithTransportCredentials(insecure.NewCredentials()))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { conn.Close() })
		replicas = append(replicas, rallyv1.NewRsvpServiceClient(conn))
		events = rallyv1.NewEventServiceClient(conn)
	}
	ctx := t.Context()
	admin := withToken(ctx, token)
	ev := eventIn("")
	ev.Capacity = capacity
	ev.AttendanceVisibility = rallyv1.AttendanceVisibility_ATTENDANCE_VISIBILITY_EXACT
	e, err := events.CreateEvent(admin, &rallyv1.CreateEventRequest{Event: ev})
	if err != nil {
		t.Fatal(err)
	}

	var wg sync.WaitGroup
	errs := make(chan error, n)
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, err := replicas[i%2].CreateRsvp(ctx, &rallyv1.CreateRsvpRequest{Parent: e.GetName(), Rsvp: &rallyv1.Rsvp{Guests: rand.Int32N(4)}})
			errs <- err
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}

	var all []*rallyv1.Rsvp
	req := &rallyv1.ListRsvpsRequest{Parent: e.GetName(), PageSize: 1000}
	for {
		page, err := replicas[0].ListRsvps(admin, req)
		if err != nil {
			t.Fatal(err)
		}
		all = append(all, page.GetRsvps()...)
		if req.PageToken = page.GetNextPageToken(); req.PageToken == "" {
			break
		}
	}
	if len(all) != n {
		t.Fatalf("%d RSVPs, want %d", len(all), n)
	}
	goingPeople, waitPeople := storetest.CheckArrivalOrder(t, all, capacity)
	got, err := events.GetEvent(ctx, &rallyv1.GetEventRequest{Name: e.GetName()})
	if err != nil {
		t.Fatal(err)
	}
	if a := got.GetAttendance(); a.GetGoing() != goingPeople || a.GetWaitlisted() != waitPeople {
		t.Errorf("attendance %v, records say going %d, waitlisted %d", a, goingPeople, waitPeople)
	}
	t.Logf("%d people going, %d waitlisted", goingPeople, waitPeople)
}
