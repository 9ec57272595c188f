package storetest

import (
	"crypto/sha256"
	"errors"
	"fmt"
	"math/rand/v2"
	"sync"
	"testing"
	"time"

	"google.golang.org/protobuf/types/known/timestamppb"

	rallyv1 "github.com/rallyhq/rally/gen/go/rally/v1"
	"github.com/rallyhq/rally/internal/store"
)

// rsvpNow is when the RSVP tests act: an hour before their events start at base.
var rsvpNow = base.Add(-time.Hour)

// WithCapacity sets the event's capacity.
func WithCapacity(n int32) func(*rallyv1.Event) {
	return func(e *rallyv1.Event) { e.Capacity = n }
}

// NewRSVP builds an RSVP `events/<event>/rsvps/<id>` for n people (guests = n-1), with a
// token hash derived from the id.
func NewRSVP(event, id string, people int32) store.NewRSVP {
	h := sha256.Sum256([]byte("token-" + id))
	return store.NewRSVP{
		Rsvp: &rallyv1.Rsvp{
			Name:        "events/" + event + "/rsvps/" + id,
			DisplayName: "pseudonym " + id,
			Contact:     "signal:" + id,
			Guests:      people - 1,
			CreateTime:  timestamppb.New(rsvpNow),
		},
		TokenHash: h[:],
	}
}

func mustRSVP(t *testing.T, s store.Store, event, id string, people int32) *rallyv1.Rsvp {
	t.Helper()
	c, err := s.CreateRSVP(t.Context(), "events/"+event, NewRSVP(event, id, people), rsvpNow)
	if err != nil {
		t.Fatalf("create RSVP %s: %v", id, err)
	}
	return c.Rsvp
}

// wantRSVP fails unless the stored RSVP has the state and waitlist position.
func wantRSVP(t *testing.T, s store.Store, event, id string, state rallyv1.RsvpState, position int32) {
	t.Helper()
	r, _, err := s.GetRSVP(t.Context(), "events/"+event+"/rsvps/"+id)
	if err != nil {
		t.Fatal(err)
	}
	if r.GetState() != state || r.GetWaitlistPosition() != position {
		t.Errorf("%s: %v at position %d, want %v at %d", id, r.GetState(), r.GetWaitlistPosition(), state, position)
	}
}

// wantCounts fails unless the event's attendance (people, guests included) is as given.
func wantCounts(t *testing.T, s store.Store, event string, going, waitlisted int32) {
	t.Helper()
	e := getEvent(t, s, "events/"+event)
	if e.GetAttendance().GetGoing() != going || e.GetAttendance().GetWaitlisted() != waitlisted {
		t.Errorf("attendance of %s: %v, want going %d, waitlisted %d", event, e.GetAttendance(), going, waitlisted)
	}
}

const (
	going      = rallyv1.RsvpState_RSVP_STATE_GOING
	waitlisted = rallyv1.RsvpState_RSVP_STATE_WAITLISTED
	cancelled  = rallyv1.RsvpState_RSVP_STATE_CANCELLED
)

func testRSVPCreateAndGet(t *testing.T, s store.Store) {
	ctx := t.Context()
	createEvents(t, s, Event("e", base, WithCapacity(3)))
	r := mustRSVP(t, s, "e", "a", 2)
	if r.GetState() != going || r.GetWaitlistPosition() != 0 || r.GetGuests() != 1 || r.GetContact() != "signal:a" {
		t.Fatalf("created: %v", r)
	}
	got, hash, err := s.GetRSVP(ctx, "events/e/rsvps/a")
	if err != nil {
		t.Fatal(err)
	}
	if d := diffProto(r, got); d != "" {
		t.Errorf("get (-created +got):\n%s", d)
	}
	if want := NewRSVP("e", "a", 2).TokenHash; string(hash) != string(want) {
		t.Errorf("token hash not kept")
	}
	byToken, err := s.FindRSVPByToken(ctx, "events/e", hash)
	if err != nil || byToken.GetName() != r.GetName() {
		t.Errorf("find by token: %v, %v", byToken, err)
	}
	if _, err := s.FindRSVPByToken(ctx, "events/e", make([]byte, 32)); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("unknown token: %v, want ErrNotFound", err)
	}
	if _, _, err := s.GetRSVP(ctx, "events/e/rsvps/nobody"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("unknown RSVP: %v, want ErrNotFound", err)
	}
	if _, err := s.CreateRSVP(ctx, "events/nothing", NewRSVP("nothing", "x", 1), rsvpNow); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("RSVP to an unknown event: %v, want ErrNotFound", err)
	}
	wantCounts(t, s, "e", 2, 0)
}

func testRSVPWaitlistFIFO(t *testing.T, s store.Store) {
	createEvents(t, s, Event("e", base, WithCapacity(3)))
	mustRSVP(t, s, "e", "a", 2)
	mustRSVP(t, s, "e", "b", 2) // does not fit: waitlisted
	mustRSVP(t, s, "e", "c", 1) // would fit, but b came first
	wantRSVP(t, s, "e", "b", waitlisted, 1)
	wantRSVP(t, s, "e", "c", waitlisted, 2)
	wantCounts(t, s, "e", 2, 3)

	if _, err := s.CancelRSVP(t.Context(), "events/e/rsvps/a", rsvpNow); err != nil {
		t.Fatal(err)
	}
	wantRSVP(t, s, "e", "a", cancelled, 0)
	wantRSVP(t, s, "e", "b", going, 0)
	wantRSVP(t, s, "e", "c", going, 0)
	wantCounts(t, s, "e", 3, 0)

	// Cancelling twice changes nothing.
	r, err := s.CancelRSVP(t.Context(), "events/e/rsvps/a", rsvpNow.Add(time.Minute))
	if err != nil || r.GetState() != cancelled {
		t.Fatalf("second cancel: %v, %v", r, err)
	}
	wantCounts(t, s, "e", 3, 0)
}

func testRSVPCapacityIncrease(t *testing.T, s store.Store) {
	ctx := t.Context()
	createEvents(t, s, Event("e", base, WithCapacity(1)))
	mustRSVP(t, s, "e", "a", 1)
	mustRSVP(t, s, "e", "b", 1)
	mustRSVP(t, s, "e", "c", 1)
	if _, err := s.UpdateEvent(ctx, "events/e", func(e *rallyv1.Event) error { e.Capacity = 2; return nil }); err != nil {
		t.Fatal(err)
	}
	if err := s.Rebalance(ctx, "events/e"); err != nil {
		t.Fatal(err)
	}
	wantRSVP(t, s, "e", "b", going, 0)
	wantRSVP(t, s, "e", "c", waitlisted, 1)
	wantCounts(t, s, "e", 2, 1)
	// Removing the limit promotes everyone.
	if _, err := s.UpdateEvent(ctx, "events/e", func(e *rallyv1.Event) error { e.Capacity = 0; return nil }); err != nil {
		t.Fatal(err)
	}
	if err := s.Rebalance(ctx, "events/e"); err != nil {
		t.Fatal(err)
	}
	wantRSVP(t, s, "e", "c", going, 0)
	wantCounts(t, s, "e", 3, 0)
}

func testRSVPGuests(t *testing.T, s store.Store) {
	ctx := t.Context()
	createEvents(t, s, Event("e", base, WithCapacity(4)))
	mustRSVP(t, s, "e", "a", 3)
	mustRSVP(t, s, "e", "b", 2) // waitlisted
	mustRSVP(t, s, "e", "c", 1) // waitlisted behind b
	four, five, zero := int32(4), int32(5), int32(0)
	// a cannot grow beyond the free place; nothing changes.
	if _, err := s.UpdateRSVP(ctx, "events/e/rsvps/a", store.RSVPChange{Guests: &four}, rsvpNow); !errors.Is(err, store.ErrNoRoom) {
		t.Fatalf("growing beyond capacity: %v, want ErrNoRoom", err)
	}
	wantCounts(t, s, "e", 3, 3)
	// A waitlisted RSVP keeps its place when it changes size.
	if _, err := s.UpdateRSVP(ctx, "events/e/rsvps/b", store.RSVPChange{Guests: &five}, rsvpNow); err != nil {
		t.Fatal(err)
	}
	wantRSVP(t, s, "e", "b", waitlisted, 1)
	wantCounts(t, s, "e", 3, 7)
	// b shrinks to fit the one free place: promoted, and c after it does not fit.
	name := "Alma"
	r, err := s.UpdateRSVP(ctx, "events/e/rsvps/b", store.RSVPChange{Guests: &zero, DisplayName: &name}, rsvpNow)
	if err != nil {
		t.Fatal(err)
	}
	if r.GetState() != going || r.GetDisplayName() != "Alma" || r.GetContact() != "signal:b" {
		t.Errorf("after shrinking: %v", r)
	}
	wantRSVP(t, s, "e", "c", waitlisted, 1)
	wantCounts(t, s, "e", 4, 1)
	// a shrinking frees places for c.
	if _, err := s.UpdateRSVP(ctx, "events/e/rsvps/a", store.RSVPChange{Guests: &zero}, rsvpNow); err != nil {
		t.Fatal(err)
	}
	wantRSVP(t, s, "e", "c", going, 0)
	wantCounts(t, s, "e", 3, 0)
}

func testRSVPIdempotentCreate(t *testing.T, s store.Store) {
	ctx := t.Context()
	createEvents(t, s, Event("e", base, WithCapacity(10)))
	n := NewRSVP("e", "first", 2)
	n.RequestKey, n.SealedToken = "request-1", []byte("sealed-1")
	first, err := s.CreateRSVP(ctx, "events/e", n, rsvpNow)
	if err != nil || first.Replayed {
		t.Fatalf("first create: %+v, %v", first, err)
	}
	// The retry carries another fresh ID and token, as the server makes them anew.
	retry := NewRSVP("e", "second", 2)
	retry.RequestKey, retry.SealedToken = "request-1", []byte("sealed-2")
	again, err := s.CreateRSVP(ctx, "events/e", retry, rsvpNow)
	if err != nil {
		t.Fatal(err)
	}
	if !again.Replayed || again.Rsvp.GetName() != first.Rsvp.GetName() || string(again.SealedToken) != "sealed-1" {
		t.Fatalf("retry: %+v, want a replay of %v", again, first.Rsvp.GetName())
	}
	wantCounts(t, s, "e", 2, 0)
	if _, _, err := s.GetRSVP(ctx, "events/e/rsvps/second"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("the retry stored a second RSVP: %v", err)
	}
}

// testRSVPPartyTooLarge: a party larger than the whole capacity is refused, changing
// nothing; one that fits the capacity is waitlisted when the places are taken. Creates
// name the event's campaign, for the change to its watchers.
func testRSVPPartyTooLarge(t *testing.T, s store.Store) {
	ctx := t.Context()
	e := Event("e", base, WithCapacity(3))
	e.Campaign = "campaigns/c"
	createEvents(t, s, e)
	if _, err := s.CreateRSVP(ctx, "events/e", NewRSVP("e", "big", 4), rsvpNow); !errors.Is(err, store.ErrPartyTooLarge) {
		t.Fatalf("party of 4 for 3 places: %v, want ErrPartyTooLarge", err)
	}
	wantCounts(t, s, "e", 0, 0)
	if _, _, err := s.GetRSVP(ctx, "events/e/rsvps/big"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("the refused RSVP was stored: %v", err)
	}
	for _, id := range []string{"a", "b"} {
		c, err := s.CreateRSVP(ctx, "events/e", NewRSVP("e", id, 2), rsvpNow)
		if err != nil {
			t.Fatal(err)
		}
		if c.Campaign != "campaigns/c" {
			t.Errorf("created RSVP %s names campaign %q, want campaigns/c", id, c.Campaign)
		}
	}
	wantCounts(t, s, "e", 2, 2)
}

func testRSVPClosedEvents(t *testing.T, s store.Store) {
	ctx := t.Context()
	createEvents(t, s, Event("off", base, Cancelled), Event("on", base))
	if _, err := s.CreateRSVP(ctx, "events/off", NewRSVP("off", "a", 1), rsvpNow); !errors.Is(err, store.ErrEventClosed) {
		t.Errorf("RSVP to a cancelled event: %v, want ErrEventClosed", err)
	}
	mustRSVP(t, s, "on", "a", 1)
	over := base.Add(2 * time.Hour) // the event's end
	if _, err := s.CreateRSVP(ctx, "events/on", NewRSVP("on", "b", 1), over); !errors.Is(err, store.ErrEventClosed) {
		t.Errorf("RSVP to a finished event: %v, want ErrEventClosed", err)
	}
	one := int32(1)
	if _, err := s.UpdateRSVP(ctx, "events/on/rsvps/a", store.RSVPChange{Guests: &one}, over); !errors.Is(err, store.ErrEventClosed) {
		t.Errorf("update after the end: %v, want ErrEventClosed", err)
	}
	// Withdrawing is always possible.
	if _, err := s.CancelRSVP(ctx, "events/on/rsvps/a", over); err != nil {
		t.Errorf("cancel after the end: %v", err)
	}
	if _, err := s.UpdateRSVP(ctx, "events/on/rsvps/a", store.RSVPChange{Guests: &one}, rsvpNow); !errors.Is(err, store.ErrEventClosed) {
		t.Errorf("update of a cancelled RSVP: %v, want ErrEventClosed", err)
	}
}

func testRSVPCheckIn(t *testing.T, s store.Store) {
	ctx := t.Context()
	createEvents(t, s, Event("e", base, WithCapacity(1)))
	mustRSVP(t, s, "e", "a", 1)
	mustRSVP(t, s, "e", "b", 1)
	for range 2 { // idempotent
		r, err := s.CheckInRSVP(ctx, "events/e/rsvps/a", base)
		if err != nil || !r.GetCheckedIn() {
			t.Fatalf("check in: %v, %v", r, err)
		}
	}
	if _, err := s.CheckInRSVP(ctx, "events/e/rsvps/b", base); !errors.Is(err, store.ErrNotGoing) {
		t.Errorf("check in of a waitlisted RSVP: %v, want ErrNotGoing", err)
	}
}

func testRSVPList(t *testing.T, s store.Store) {
	ctx := t.Context()
	createEvents(t, s, Event("e", base, WithCapacity(3)), Event("other", base))
	for i := range 7 {
		mustRSVP(t, s, "e", fmt.Sprintf("r%d", i), 1)
	}
	mustRSVP(t, s, "other", "x", 1)
	list := func(state rallyv1.RsvpState, pageSize int) []string {
		var names []string
		q := store.RSVPQuery{Event: "events/e", State: state, PageSize: pageSize}
		for {
			page, err := s.ListRSVPs(ctx, q)
			if err != nil {
				t.Fatal(err)
			}
			for _, r := range page.Items {
				names = append(names, store.ID(r.GetName()))
			}
			if page.NextPageToken == "" {
				return names
			}
			q.PageToken = page.NextPageToken
		}
	}
	for _, size := range []int{1, 2, 100} {
		if got := fmt.Sprint(list(rallyv1.RsvpState_RSVP_STATE_UNSPECIFIED, size)); got != "[r0 r1 r2 r3 r4 r5 r6]" {
			t.Errorf("all, pages of %d: %s", size, got)
		}
	}
	if got := fmt.Sprint(list(going, 2)); got != "[r0 r1 r2]" {
		t.Errorf("going: %s", got)
	}
	if got := fmt.Sprint(list(waitlisted, 3)); got != "[r3 r4 r5 r6]" {
		t.Errorf("waitlisted: %s", got)
	}
	page, err := s.ListRSVPs(ctx, store.RSVPQuery{Event: "events/e", State: going, PageSize: 1})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.ListRSVPs(ctx, store.RSVPQuery{Event: "events/e", State: waitlisted, PageSize: 1, PageToken: page.NextPageToken}); !errors.Is(err, store.ErrInvalidPageToken) {
		t.Errorf("token of another state: %v, want ErrInvalidPageToken", err)
	}
	if _, err := s.ListRSVPs(ctx, store.RSVPQuery{Event: "events/other", State: going, PageSize: 1, PageToken: page.NextPageToken}); !errors.Is(err, store.ErrInvalidPageToken) {
		t.Errorf("token of another event: %v, want ErrInvalidPageToken", err)
	}
}

// testRSVPConcurrentCreates: 1,000 concurrent RSVPs of 1 to 4 people for 100 places. No
// overbooking, strict arrival order, and counts equal to the stored records.
func testRSVPConcurrentCreates(t *testing.T, s store.Store) {
	const n, capacity = 1000, 100
	ctx := t.Context()
	createEvents(t, s, Event("e", base, WithCapacity(capacity)))
	var wg sync.WaitGroup
	errs := make(chan error, n)
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, err := s.CreateRSVP(ctx, "events/e", NewRSVP("e", fmt.Sprintf("r%04d", i), 1+rand.Int32N(4)), rsvpNow)
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
	q := store.RSVPQuery{Event: "events/e", PageSize: 1000}
	for {
		page, err := s.ListRSVPs(ctx, q)
		if err != nil {
			t.Fatal(err)
		}
		all = append(all, page.Items...)
		if q.PageToken = page.NextPageToken; q.PageToken == "" {
			break
		}
	}
	if len(all) != n {
		t.Fatalf("%d RSVPs stored, want %d", len(all), n)
	}
	goingPeople, waitPeople := CheckArrivalOrder(t, all, capacity)
	wantCounts(t, s, "e", goingPeople, waitPeople)
}

func testRSVPAudit(t *testing.T, s store.Store) {
	ctx := t.Context()
	createEvents(t, s, Event("e", base))
	for i := range 3 {
		if err := s.AppendAudit(ctx, "events/e", &rallyv1.AuditEntry{
			Actor: fmt.Sprintf("organisers/o%d", i), Action: "ListRsvps", Event: "events/e", CreateTime: timestamppb.New(base.Add(time.Duration(i) * time.Minute)),
		}); err != nil {
			t.Fatal(err)
		}
	}
	got, err := s.ListAudit(ctx, "events/e")
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 3 || got[0].GetActor() != "organisers/o2" || got[2].GetActor() != "organisers/o0" {
		t.Errorf("audit, newest first: %v", got)
	}
	if other, _ := s.ListAudit(ctx, "events/none"); len(other) != 0 {
		t.Errorf("audit of another event: %v", other)
	}

	// A task's audit log is its own, even when its ID is an event's.
	if err := s.AppendAudit(ctx, "tasks/e", &rallyv1.AuditEntry{
		Actor: "organisers/o9", Action: "ListClaims", Task: "tasks/e", CreateTime: timestamppb.New(base),
	}); err != nil {
		t.Fatal(err)
	}
	task, err := s.ListAudit(ctx, "tasks/e")
	if err != nil || len(task) != 1 || task[0].GetAction() != "ListClaims" || task[0].GetTask() != "tasks/e" {
		t.Errorf("audit of tasks/e: %v, %v", task, err)
	}
	if got, err := s.ListAudit(ctx, "events/e"); err != nil || len(got) != 3 {
		t.Errorf("audit of events/e after a task's entry: %v, %v", got, err)
	}
	if other, _ := s.ListAudit(ctx, "tasks/none"); len(other) != 0 {
		t.Errorf("audit of another task: %v", other)
	}

	// The log keeps the newest MaxAuditEntries.
	for i := range store.MaxAuditEntries + 5 {
		if err := s.AppendAudit(ctx, "tasks/capped", &rallyv1.AuditEntry{Actor: fmt.Sprint("organisers/o", i), Action: "ListClaims"}); err != nil {
			t.Fatal(err)
		}
	}
	capped, err := s.ListAudit(ctx, "tasks/capped")
	if err != nil || len(capped) != store.MaxAuditEntries || capped[0].GetActor() != fmt.Sprint("organisers/o", store.MaxAuditEntries+4) {
		t.Errorf("capped audit: %d entries, newest %v, %v; want %d, newest o%d", len(capped), capped[0], err, store.MaxAuditEntries, store.MaxAuditEntries+4)
	}

	// Other names have no audit log.
	for _, bad := range []string{"campaigns/c", "e", "events/e/rsvps/r"} {
		if err := s.AppendAudit(ctx, bad, &rallyv1.AuditEntry{Action: "ListRsvps"}); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("AppendAudit(%q) = %v, want ErrNotFound", bad, err)
		}
		if _, err := s.ListAudit(ctx, bad); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("ListAudit(%q) = %v, want ErrNotFound", bad, err)
		}
	}
}

func testAnnouncements(t *testing.T, s store.Store) {
	ctx := t.Context()
	createEvents(t, s, Event("e", base))
	for i := range store.MaxAnnouncements + 5 {
		if err := s.AppendAnnouncement(ctx, "events/e", &rallyv1.Announcement{
			Name: fmt.Sprintf("events/e/announcements/a%03d", i), Text: fmt.Sprintf("update %d", i),
		}); err != nil {
			t.Fatal(err)
		}
	}
	got, err := s.ListAnnouncements(ctx, "events/e")
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != store.MaxAnnouncements || got[0].GetText() != fmt.Sprintf("update %d", store.MaxAnnouncements+4) {
		t.Errorf("%d announcements, newest %q: want the newest %d, newest first", len(got), got[0].GetText(), store.MaxAnnouncements)
	}
}

// CheckArrivalOrder checks an event's RSVPs, listed in arrival order, after a burst of
// creates: none beyond capacity, strictly first come first served (nobody GOING after an
// earlier waitlisted RSVP, the head of the waitlist does not fit, positions 1, 2, ... in
// arrival order). It returns the people going and waitlisted.
func CheckArrivalOrder(t testing.TB, all []*rallyv1.Rsvp, capacity int32) (goingPeople, waitPeople int32) {
	t.Helper()
	var position int32
	for i, r := range all {
		people := 1 + r.GetGuests()
		switch r.GetState() {
		case going:
			goingPeople += people
			if position > 0 {
				t.Fatalf("%s (arrival %d) is GOING after a waitlisted RSVP that came earlier", r.GetName(), i)
			}
		case waitlisted:
			waitPeople += people
			position++
			if r.GetWaitlistPosition() != position {
				t.Fatalf("%s: waitlist position %d, want %d (arrival order)", r.GetName(), r.GetWaitlistPosition(), position)
			}
			if position == 1 && goingPeople+people <= capacity {
				t.Fatalf("the head of the waitlist (%d people) fits in the %d free places", people, capacity-goingPeople)
			}
		default:
			t.Fatalf("%s: state %v", r.GetName(), r.GetState())
		}
	}
	if goingPeople > capacity || position == 0 {
		t.Fatalf("%d people going for %d places, %d RSVPs waitlisted", goingPeople, capacity, position)
	}
	return goingPeople, waitPeople
}
