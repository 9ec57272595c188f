package storetest

import (
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"math/rand/v2"
	"strings"
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

// testRSVPCreatedAsStored: what CreateRSVP returns is the RSVP as GetRSVP then reads it,
// field for field: GOING, WAITLISTED with its position, with an envelope, and the answer
// to the same create sent again.
func testRSVPCreatedAsStored(t *testing.T, s store.Store) {
	ctx := t.Context()
	createEvents(t, s, Event("e", base, WithCapacity(3)))
	for _, n := range []store.NewRSVP{NewRSVP("e", "going", 2), sealedRSVP("e", "sealed"), NewRSVP("e", "waits", 2), NewRSVP("e", "waits2", 1)} {
		for _, call := range []string{"create", "the same create again"} {
			c, err := s.CreateRSVP(ctx, "events/e", n, rsvpNow)
			if err != nil {
				t.Fatalf("%s %s: %v", call, n.Rsvp.GetName(), err)
			}
			got, _, err := s.GetRSVP(ctx, n.Rsvp.GetName())
			if err != nil {
				t.Fatal(err)
			}
			if diff := diffProto(got, c.Rsvp); diff != "" {
				t.Errorf("%s %s returned another RSVP than it stored (-stored +returned):\n%s", call, n.Rsvp.GetName(), diff)
			}
		}
	}
	wantRSVP(t, s, "e", "waits2", rallyv1.RsvpState_RSVP_STATE_WAITLISTED, 2)
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
// nothing; one that fits the capacity is waitlisted when the places are taken.
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
		if _, err := s.CreateRSVP(ctx, "events/e", NewRSVP("e", id, 2), rsvpNow); err != nil {
			t.Fatal(err)
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
	got, err := listAudit(s, ctx, "events/e")
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 3 || got[0].GetActor() != "organisers/o2" || got[2].GetActor() != "organisers/o0" {
		t.Errorf("audit, newest first: %v", got)
	}
	if other, _ := listAudit(s, ctx, "events/none"); len(other) != 0 {
		t.Errorf("audit of another event: %v", other)
	}

	// A task's audit log is its own, even when its ID is an event's.
	if err := s.AppendAudit(ctx, "tasks/e", &rallyv1.AuditEntry{
		Actor: "organisers/o9", Action: "ListClaims", Task: "tasks/e", CreateTime: timestamppb.New(base),
	}); err != nil {
		t.Fatal(err)
	}
	task, err := listAudit(s, ctx, "tasks/e")
	if err != nil || len(task) != 1 || task[0].GetAction() != "ListClaims" || task[0].GetTask() != "tasks/e" {
		t.Errorf("audit of tasks/e: %v, %v", task, err)
	}
	if got, err := listAudit(s, ctx, "events/e"); err != nil || len(got) != 3 {
		t.Errorf("audit of events/e after a task's entry: %v, %v", got, err)
	}
	if other, _ := listAudit(s, ctx, "tasks/none"); len(other) != 0 {
		t.Errorf("audit of another task: %v", other)
	}

	// The log keeps the newest MaxAuditEntries.
	for i := range store.MaxAuditEntries + 5 {
		if err := s.AppendAudit(ctx, "tasks/capped", &rallyv1.AuditEntry{Actor: fmt.Sprint("organisers/o", i), Action: "ListClaims"}); err != nil {
			t.Fatal(err)
		}
	}
	capped, err := listAudit(s, ctx, "tasks/capped")
	if err != nil || len(capped) != store.MaxAuditEntries || capped[0].GetActor() != fmt.Sprint("organisers/o", store.MaxAuditEntries+4) {
		t.Errorf("capped audit: %d entries, newest %v, %v; want %d, newest o%d", len(capped), capped[0], err, store.MaxAuditEntries, store.MaxAuditEntries+4)
	}

	// Entries of one time (none here) page in the order of the log.
	testLogPages(t, "audit of tasks/paged", 250, func(size int, token string) (store.Page[*rallyv1.AuditEntry], error) {
		return s.ListAudit(ctx, store.AuditQuery{Parent: "tasks/paged", PageSize: size, PageToken: token})
	}, func(i int) error {
		return s.AppendAudit(ctx, "tasks/paged", &rallyv1.AuditEntry{Actor: fmt.Sprint("organisers/o", i), Action: "ListClaims"})
	}, (*rallyv1.AuditEntry).GetActor)
	// Entries of several times page by time, newest first, however they were appended.
	for i, min := range []int{3, 1, 2, 2, 0} {
		if err := s.AppendAudit(ctx, "events/timed", &rallyv1.AuditEntry{Actor: fmt.Sprint("organisers/t", i), Action: "GetRsvp", CreateTime: timestamppb.New(base.Add(time.Duration(min) * time.Minute))}); err != nil {
			t.Fatal(err)
		}
	}
	var timed []string
	for token := ""; ; {
		page, err := s.ListAudit(ctx, store.AuditQuery{Parent: "events/timed", PageSize: 2, PageToken: token})
		if err != nil {
			t.Fatal(err)
		}
		for _, e := range page.Items {
			timed = append(timed, e.GetActor())
		}
		if token = page.NextPageToken; token == "" {
			break
		}
	}
	if got := strings.Join(timed, ","); got != "organisers/t0,organisers/t3,organisers/t2,organisers/t1,organisers/t4" {
		t.Errorf("audit of events/timed in pages of 2: %s, want by time, newest first, the later appended first within a minute", got)
	}
	// A page token is bound to its list.
	first, err := s.ListAudit(ctx, store.AuditQuery{Parent: "events/timed", PageSize: 1})
	if err != nil || first.NextPageToken == "" {
		t.Fatalf("first page of events/timed: %v, %v", first, err)
	}
	if _, err := s.ListAudit(ctx, store.AuditQuery{Parent: "events/e", PageToken: first.NextPageToken}); !errors.Is(err, store.ErrInvalidPageToken) {
		t.Errorf("a token of events/timed on events/e: %v, want ErrInvalidPageToken", err)
	}
	for _, bad := range []string{"x", "e30", first.NextPageToken + "x"} {
		if _, err := s.ListAudit(ctx, store.AuditQuery{Parent: "events/timed", PageToken: bad}); !errors.Is(err, store.ErrInvalidPageToken) {
			t.Errorf("page token %q: %v, want ErrInvalidPageToken", bad, err)
		}
	}

	// Other names have no audit log.
	for _, bad := range []string{"campaigns/c", "e", "events/e/rsvps/r"} {
		if err := s.AppendAudit(ctx, bad, &rallyv1.AuditEntry{Action: "ListRsvps"}); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("AppendAudit(%q) = %v, want ErrNotFound", bad, err)
		}
		if _, err := listAudit(s, ctx, bad); !errors.Is(err, store.ErrNotFound) {
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
	page, err := s.ListAnnouncements(ctx, store.AnnouncementQuery{Event: "events/e", PageSize: store.MaxAnnouncements})
	got := page.Items
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != store.MaxAnnouncements || got[0].GetText() != fmt.Sprintf("update %d", store.MaxAnnouncements+4) {
		t.Errorf("%d announcements, newest %q: want the newest %d, newest first", len(got), got[0].GetText(), store.MaxAnnouncements)
	}
	createEvents(t, s, Event("paged", base))
	testLogPages(t, "announcements of events/paged", 60, func(size int, token string) (store.Page[*rallyv1.Announcement], error) {
		return s.ListAnnouncements(ctx, store.AnnouncementQuery{Event: "events/paged", PageSize: size, PageToken: token})
	}, func(i int) error {
		return s.AppendAnnouncement(ctx, "events/paged", &rallyv1.Announcement{Name: fmt.Sprintf("events/paged/announcements/p%03d", i), Text: fmt.Sprint("update ", i)})
	}, (*rallyv1.Announcement).GetText)

	// Keep leaves out what the caller may not read before the page is cut: pages of 2
	// hold 2 kept announcements each.
	createEvents(t, s, Event("kept", base))
	for i := range 7 {
		aud := rallyv1.AnnouncementAudience_ANNOUNCEMENT_AUDIENCE_PUBLIC
		if i%2 == 1 {
			aud = rallyv1.AnnouncementAudience_ANNOUNCEMENT_AUDIENCE_RSVP_HOLDERS
		}
		if err := s.AppendAnnouncement(ctx, "events/kept", &rallyv1.Announcement{Name: fmt.Sprintf("events/kept/announcements/k%d", i), Text: fmt.Sprint(i), Audience: aud}); err != nil {
			t.Fatal(err)
		}
	}
	public := func(a *rallyv1.Announcement) bool {
		return a.GetAudience() == rallyv1.AnnouncementAudience_ANNOUNCEMENT_AUDIENCE_PUBLIC
	}
	var texts []string
	var sizes []int
	for token := ""; ; {
		page, err := s.ListAnnouncements(ctx, store.AnnouncementQuery{Event: "events/kept", Keep: public, PageSize: 2, PageToken: token})
		if err != nil {
			t.Fatal(err)
		}
		sizes = append(sizes, len(page.Items))
		for _, a := range page.Items {
			texts = append(texts, a.GetText())
		}
		if token = page.NextPageToken; token == "" {
			break
		}
	}
	if got := strings.Join(texts, ","); got != "6,4,2,0" || fmt.Sprint(sizes) != "[2 2]" {
		t.Errorf("public announcements in pages of 2: %s in pages of %v, want 6,4,2,0 in [2 2]", got, sizes)
	}
}

// listAudit reads a whole audit log in one page.
func listAudit(s store.Store, ctx context.Context, parent string) ([]*rallyv1.AuditEntry, error) {
	page, err := s.ListAudit(ctx, store.AuditQuery{Parent: parent, PageSize: store.MaxAuditEntries})
	return page.Items, err
}

// testLogPages checks the paging of a newest-first log: after n entries appended by add
// (fewer than the log keeps), pages of a third of it, with more entries appended between
// pages, hold together what one page of the whole log held, in the same order, each once;
// the last page has no token.
func testLogPages[T any](t *testing.T, what string, n int, list func(size int, token string) (store.Page[T], error), add func(i int) error, id func(T) string) {
	t.Helper()
	for i := range n {
		if err := add(i); err != nil {
			t.Fatal(err)
		}
	}
	whole, err := list(n, "")
	if err != nil || len(whole.Items) != n || whole.NextPageToken != "" {
		t.Fatalf("%s in one page: %d entries, token %q, %v; want %d and no token", what, len(whole.Items), whole.NextPageToken, err, n)
	}
	size := n/3 + 1
	var paged []string
	pages := 0
	for token := ""; ; pages++ {
		page, err := list(size, token)
		if err != nil {
			t.Fatalf("%s, page %d: %v", what, pages+1, err)
		}
		for _, e := range page.Items {
			paged = append(paged, id(e))
		}
		if token = page.NextPageToken; token == "" {
			break
		}
		if len(page.Items) != size {
			t.Errorf("%s, page %d: %d entries, want %d", what, pages+1, len(page.Items), size)
		}
		// A newer entry, appended between pages, sorts before the position and shifts nothing.
		if err := add(n + pages); err != nil {
			t.Fatal(err)
		}
	}
	var want []string
	for _, e := range whole.Items {
		want = append(want, id(e))
	}
	if strings.Join(paged, "\n") != strings.Join(want, "\n") {
		t.Errorf("%s in pages of %d: %d entries, want the %d of one page in the same order", what, size, len(paged), len(want))
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
