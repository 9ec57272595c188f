package storetest

import (
	"crypto/sha256"
	"errors"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	rallyv1 "github.com/rallyhq/rally/gen/go/rally/v1"
	"github.com/rallyhq/rally/internal/store"
)

// safetyTests are the tests of store.SafetyStore (issue 17: buddies, check-out,
// forget-me), registered in Run.
var safetyTests = []struct {
	name string
	fn   func(t *testing.T, s store.Store)
}{
	{"BuddyPairJoinGet", testBuddyPairJoinGet},
	{"BuddyCodeExpiry", testBuddyCodeExpiry},
	{"BuddySelf", testBuddySelf},
	{"BuddyCancelledOrClosed", testBuddyCancelledOrClosed},
	{"BuddyCodeReplaced", testBuddyCodeReplaced},
	{"BuddyCodeOfAnotherEvent", testBuddyCodeOfAnotherEvent},
	{"BuddyConcurrentJoin", testBuddyConcurrentJoin},
	{"CheckOut", testCheckOut},
	{"CheckOutCounts", testCheckOutCounts},
	{"DeleteRSVPPromotes", testDeleteRSVPPromotes},
	{"DeleteRSVPForgetsTokenAndRequest", testDeleteRSVPForgets},
	{"DeleteRSVPBuddy", testDeleteRSVPBuddy},
}

// BuddyCode builds a buddy code for the tests: the hash of code, the sealed nickname
// "sealed:<nickname>" and the expiry.
func BuddyCode(code, nickname string, expire time.Time) store.BuddyCode {
	return store.BuddyCode{Hash: CodeHash(code), Nickname: []byte("sealed:" + nickname), Expire: expire}
}

// CodeHash is the SHA-256 of a test buddy code, as the server would store it.
func CodeHash(code string) []byte {
	h := sha256.Sum256([]byte(code))
	return h[:]
}

func rsvpName(event, id string) string { return "events/" + event + "/rsvps/" + id }

// pairCode has RSVP id of event create a code valid for ten minutes from rsvpNow.
func pairCode(t *testing.T, s store.Store, event, id, code string) {
	t.Helper()
	if err := s.CreateBuddyCode(t.Context(), rsvpName(event, id), BuddyCode(code, id, rsvpNow.Add(10*time.Minute)), rsvpNow); err != nil {
		t.Fatalf("CreateBuddyCode(%s): %v", id, err)
	}
}

// join has RSVP id join with code, its nickname "sealed:<id>", at rsvpNow.
func join(t *testing.T, s store.Store, event, id, code string) (store.Buddy, error) {
	t.Helper()
	return s.JoinBuddy(t.Context(), rsvpName(event, id), CodeHash(code), []byte("sealed:"+id), rsvpNow)
}

// wantBuddy fails unless RSVP id's buddy is RSVP other (none for "") with other's
// nickname and the check-out time out.
func wantBuddy(t *testing.T, s store.Store, event, id, other string, out time.Time) {
	t.Helper()
	got, err := s.GetBuddy(t.Context(), rsvpName(event, id))
	if err != nil {
		t.Fatalf("GetBuddy(%s): %v", id, err)
	}
	checkBuddy(t, "buddy of "+id, got, event, other, out)
}

func checkBuddy(t *testing.T, what string, got store.Buddy, event, other string, out time.Time) {
	t.Helper()
	want := store.Buddy{}
	if other != "" {
		want = store.Buddy{RSVP: rsvpName(event, other), Nickname: []byte("sealed:" + other), CheckOutTime: out}
	}
	if got.RSVP != want.RSVP || string(got.Nickname) != string(want.Nickname) || !got.CheckOutTime.Equal(want.CheckOutTime) {
		t.Errorf("%s: %+v (nickname %q), want %+v (nickname %q)", what, got, got.Nickname, want, want.Nickname)
	}
}

// wantSafetyCounts fails unless the event's attendance has the checked_in and
// not_checked_out counts, by GetEvent and by ListEvents.
func wantSafetyCounts(t *testing.T, s store.Store, event string, checkedIn, notOut int32) {
	t.Helper()
	e := getEvent(t, s, "events/"+event)
	if a := e.GetAttendance(); a.GetCheckedIn() != checkedIn || a.GetNotCheckedOut() != notOut {
		t.Errorf("GetEvent(%s): checked_in %d, not_checked_out %d; want %d, %d", event, a.GetCheckedIn(), a.GetNotCheckedOut(), checkedIn, notOut)
	}
	p, err := s.ListEvents(t.Context(), store.EventQuery{PageSize: 100, ShowCancelled: true})
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range p.Items {
		if e.GetName() != "events/"+event {
			continue
		}
		if a := e.GetAttendance(); a.GetCheckedIn() != checkedIn || a.GetNotCheckedOut() != notOut {
			t.Errorf("ListEvents(%s): checked_in %d, not_checked_out %d; want %d, %d", event, a.GetCheckedIn(), a.GetNotCheckedOut(), checkedIn, notOut)
		}
		return
	}
	t.Errorf("ListEvents does not list %s", event)
}

// testBuddyPairJoinGet: a code pairs two RSVPs both ways, each seeing the other's
// nickname; it works once; an RSVP with a buddy takes no other, and a refused join
// leaves the code usable.
func testBuddyPairJoinGet(t *testing.T, s store.Store) {
	ctx := t.Context()
	createEvents(t, s, Event("e", base))
	for _, id := range []string{"a", "b", "c", "d"} {
		mustRSVP(t, s, "e", id, 1)
	}
	wantBuddy(t, s, "e", "a", "", time.Time{})
	pairCode(t, s, "e", "a", "code-a")
	got, err := join(t, s, "e", "b", "code-a")
	if err != nil {
		t.Fatalf("JoinBuddy: %v", err)
	}
	checkBuddy(t, "JoinBuddy", got, "e", "a", time.Time{})
	wantBuddy(t, s, "e", "a", "b", time.Time{})
	wantBuddy(t, s, "e", "b", "a", time.Time{})

	// Single use.
	if _, err := join(t, s, "e", "c", "code-a"); !errors.Is(err, store.ErrBuddyCode) {
		t.Errorf("second join with a code: %v, want ErrBuddyCode", err)
	}
	wantBuddy(t, s, "e", "c", "", time.Time{})
	// One buddy each.
	if err := s.CreateBuddyCode(ctx, rsvpName("e", "a"), BuddyCode("code-a2", "a", rsvpNow.Add(time.Minute)), rsvpNow); !errors.Is(err, store.ErrHasBuddy) {
		t.Errorf("code of an RSVP with a buddy: %v, want ErrHasBuddy", err)
	}
	pairCode(t, s, "e", "c", "code-c")
	if _, err := join(t, s, "e", "a", "code-c"); !errors.Is(err, store.ErrHasBuddy) {
		t.Errorf("join by an RSVP with a buddy: %v, want ErrHasBuddy", err)
	}
	wantBuddy(t, s, "e", "a", "b", time.Time{})
	wantBuddy(t, s, "e", "c", "", time.Time{})
	// The refused join left the code usable.
	if _, err := join(t, s, "e", "d", "code-c"); err != nil {
		t.Fatalf("join after a refused one: %v", err)
	}
	wantBuddy(t, s, "e", "c", "d", time.Time{})
	wantBuddy(t, s, "e", "d", "c", time.Time{})

	// The buddy's check-out shows in the link.
	out := base.Add(3 * time.Hour).Truncate(time.Millisecond)
	if _, err := s.CheckOutRSVP(ctx, rsvpName("e", "b"), out); err != nil {
		t.Fatal(err)
	}
	wantBuddy(t, s, "e", "a", "b", out)
	wantBuddy(t, s, "e", "b", "a", time.Time{})

	if _, err := s.GetBuddy(ctx, rsvpName("e", "nobody")); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("GetBuddy of an unknown RSVP: %v, want ErrNotFound", err)
	}
	if _, err := join(t, s, "e", "nobody", "code-c"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("JoinBuddy of an unknown RSVP: %v, want ErrNotFound", err)
	}
	if err := s.CreateBuddyCode(ctx, rsvpName("e", "nobody"), BuddyCode("x", "x", rsvpNow.Add(time.Minute)), rsvpNow); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("CreateBuddyCode of an unknown RSVP: %v, want ErrNotFound", err)
	}
	mustRSVP(t, s, "e", "z", 1)
	if _, err := join(t, s, "e", "z", "never-given"); !errors.Is(err, store.ErrBuddyCode) {
		t.Errorf("unknown code: %v, want ErrBuddyCode", err)
	}
}

// testBuddyCodeExpiry: a code works until its expiry (exclusive) by the caller's clock.
func testBuddyCodeExpiry(t *testing.T, s store.Store) {
	ctx := t.Context()
	createEvents(t, s, Event("e", base))
	mustRSVP(t, s, "e", "a", 1)
	mustRSVP(t, s, "e", "b", 1)
	expire := rsvpNow.Add(5 * time.Minute)
	if err := s.CreateBuddyCode(ctx, rsvpName("e", "a"), BuddyCode("code", "a", expire), rsvpNow); err != nil {
		t.Fatal(err)
	}
	if _, err := s.JoinBuddy(ctx, rsvpName("e", "b"), CodeHash("code"), []byte("sealed:b"), expire); !errors.Is(err, store.ErrBuddyCode) {
		t.Fatalf("join at the expiry: %v, want ErrBuddyCode", err)
	}
	if _, err := s.JoinBuddy(ctx, rsvpName("e", "b"), CodeHash("code"), []byte("sealed:b"), expire.Add(time.Hour)); !errors.Is(err, store.ErrBuddyCode) {
		t.Fatalf("join after the expiry: %v, want ErrBuddyCode", err)
	}
	wantBuddy(t, s, "e", "a", "", time.Time{})
	wantBuddy(t, s, "e", "b", "", time.Time{})
	// The refusals changed nothing: just before the expiry it still works.
	got, err := s.JoinBuddy(ctx, rsvpName("e", "b"), CodeHash("code"), []byte("sealed:b"), expire.Add(-time.Millisecond))
	if err != nil {
		t.Fatalf("join just before the expiry: %v", err)
	}
	checkBuddy(t, "JoinBuddy", got, "e", "a", time.Time{})
}

// testBuddySelf: an RSVP cannot join with its own code, which stays usable.
func testBuddySelf(t *testing.T, s store.Store) {
	createEvents(t, s, Event("e", base))
	mustRSVP(t, s, "e", "a", 1)
	mustRSVP(t, s, "e", "b", 1)
	pairCode(t, s, "e", "a", "code")
	if _, err := join(t, s, "e", "a", "code"); !errors.Is(err, store.ErrBuddySelf) {
		t.Fatalf("join with its own code: %v, want ErrBuddySelf", err)
	}
	wantBuddy(t, s, "e", "a", "", time.Time{})
	if _, err := join(t, s, "e", "b", "code"); err != nil {
		t.Fatalf("the code after a self-join: %v", err)
	}
	wantBuddy(t, s, "e", "a", "b", time.Time{})
}

// testBuddyCancelledOrClosed: a cancelled RSVP neither gives nor joins a code; the code
// of an RSVP cancelled since is dead; a cancelled or finished event takes no pairing.
func testBuddyCancelledOrClosed(t *testing.T, s store.Store) {
	ctx := t.Context()
	createEvents(t, s, Event("e", base), Event("off", base, Cancelled))
	for _, id := range []string{"a", "b", "c", "d", "f"} {
		mustRSVP(t, s, "e", id, 1)
	}
	if _, err := s.CancelRSVP(ctx, rsvpName("e", "a"), rsvpNow); err != nil {
		t.Fatal(err)
	}
	if err := s.CreateBuddyCode(ctx, rsvpName("e", "a"), BuddyCode("code-a", "a", rsvpNow.Add(time.Minute)), rsvpNow); !errors.Is(err, store.ErrRSVPCancelled) {
		t.Errorf("code of a cancelled RSVP: %v, want ErrRSVPCancelled", err)
	}
	pairCode(t, s, "e", "b", "code-b")
	if _, err := join(t, s, "e", "a", "code-b"); !errors.Is(err, store.ErrRSVPCancelled) {
		t.Errorf("join by a cancelled RSVP: %v, want ErrRSVPCancelled", err)
	}
	if _, err := join(t, s, "e", "c", "code-b"); err != nil {
		t.Errorf("the code after a refused join: %v", err)
	}
	// The code's holder cancels: the code is dead.
	pairCode(t, s, "e", "d", "code-d")
	if _, err := s.CancelRSVP(ctx, rsvpName("e", "d"), rsvpNow); err != nil {
		t.Fatal(err)
	}
	if _, err := join(t, s, "e", "f", "code-d"); !errors.Is(err, store.ErrBuddyCode) {
		t.Errorf("join with the code of a cancelled RSVP: %v, want ErrBuddyCode", err)
	}
	wantBuddy(t, s, "e", "f", "", time.Time{})

	// After the end.
	end := base.Add(2 * time.Hour)
	pairCode(t, s, "e", "f", "code-f")
	if err := s.CreateBuddyCode(ctx, rsvpName("e", "f"), BuddyCode("code-f2", "f", end.Add(time.Minute)), end); !errors.Is(err, store.ErrEventClosed) {
		t.Errorf("code after the end: %v, want ErrEventClosed", err)
	}
	mustRSVP(t, s, "e", "g", 1)
	if _, err := s.JoinBuddy(ctx, rsvpName("e", "g"), CodeHash("code-f"), []byte("sealed:g"), end); !errors.Is(err, store.ErrEventClosed) {
		t.Errorf("join after the end: %v, want ErrEventClosed", err)
	}
	// A cancelled event (RSVPs made before it was cancelled).
	mustRSVP(t, s, "e", "h", 1)
	if _, err := s.UpdateEvent(ctx, "events/e", func(e *rallyv1.Event) error { Cancelled(e); return nil }); err != nil {
		t.Fatal(err)
	}
	if err := s.CreateBuddyCode(ctx, rsvpName("e", "h"), BuddyCode("code-h", "h", rsvpNow.Add(time.Minute)), rsvpNow); !errors.Is(err, store.ErrEventClosed) {
		t.Errorf("code at a cancelled event: %v, want ErrEventClosed", err)
	}
	if _, err := join(t, s, "e", "g", "code-f"); !errors.Is(err, store.ErrEventClosed) {
		t.Errorf("join at a cancelled event: %v, want ErrEventClosed", err)
	}
	wantBuddy(t, s, "e", "f", "", time.Time{})
	wantBuddy(t, s, "e", "g", "", time.Time{})
}

// testBuddyCodeReplaced: a new code replaces the RSVP's previous one.
func testBuddyCodeReplaced(t *testing.T, s store.Store) {
	createEvents(t, s, Event("e", base))
	mustRSVP(t, s, "e", "a", 1)
	mustRSVP(t, s, "e", "b", 1)
	pairCode(t, s, "e", "a", "old")
	pairCode(t, s, "e", "a", "new")
	if _, err := join(t, s, "e", "b", "old"); !errors.Is(err, store.ErrBuddyCode) {
		t.Fatalf("join with the replaced code: %v, want ErrBuddyCode", err)
	}
	if _, err := join(t, s, "e", "b", "new"); err != nil {
		t.Fatalf("join with the new code: %v", err)
	}
	wantBuddy(t, s, "e", "b", "a", time.Time{})
}

// testBuddyCodeOfAnotherEvent: a code pairs only RSVPs of its own event.
func testBuddyCodeOfAnotherEvent(t *testing.T, s store.Store) {
	createEvents(t, s, Event("e1", base), Event("e2", base))
	mustRSVP(t, s, "e1", "a", 1)
	mustRSVP(t, s, "e2", "b", 1)
	mustRSVP(t, s, "e1", "c", 1)
	pairCode(t, s, "e1", "a", "code")
	if _, err := join(t, s, "e2", "b", "code"); !errors.Is(err, store.ErrBuddyCode) {
		t.Fatalf("join with another event's code: %v, want ErrBuddyCode", err)
	}
	wantBuddy(t, s, "e2", "b", "", time.Time{})
	if _, err := join(t, s, "e1", "c", "code"); err != nil {
		t.Fatalf("join in the code's event: %v", err)
	}
}

// testBuddyConcurrentJoin: of many RSVPs joining with one code at once, exactly one
// gets the buddy; the others are told the code is used.
func testBuddyConcurrentJoin(t *testing.T, s store.Store) {
	const n = 24
	createEvents(t, s, Event("e", base))
	mustRSVP(t, s, "e", "owner", 1)
	for i := range n {
		mustRSVP(t, s, "e", fmt.Sprintf("j%02d", i), 1)
	}
	pairCode(t, s, "e", "owner", "code")
	var wg sync.WaitGroup
	errs := make([]error, n)
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, errs[i] = s.JoinBuddy(t.Context(), rsvpName("e", fmt.Sprintf("j%02d", i)), CodeHash("code"), []byte("sealed:joiner"), rsvpNow)
		}()
	}
	wg.Wait()
	var winners []int
	for i, err := range errs {
		switch {
		case err == nil:
			winners = append(winners, i)
		case !errors.Is(err, store.ErrBuddyCode):
			t.Errorf("joiner %d: %v, want nil or ErrBuddyCode", i, err)
		}
	}
	if len(winners) != 1 {
		t.Fatalf("%d joins succeeded (%v), want exactly 1", len(winners), winners)
	}
	got, err := s.GetBuddy(t.Context(), rsvpName("e", "owner"))
	if err != nil || got.RSVP != rsvpName("e", fmt.Sprintf("j%02d", winners[0])) {
		t.Errorf("owner's buddy %+v, %v; want the winner j%02d", got, err, winners[0])
	}
	for i := range n {
		if i == winners[0] {
			continue
		}
		wantBuddy(t, s, "e", fmt.Sprintf("j%02d", i), "", time.Time{})
	}
}

// testCheckOut: not before the start; the first time is kept; works on a cancelled
// event and after the end; GetRSVP shows it.
func testCheckOut(t *testing.T, s store.Store) {
	ctx := t.Context()
	createEvents(t, s, Event("e", base), Event("off", base))
	mustRSVP(t, s, "e", "a", 1)
	mustRSVP(t, s, "e", "b", 1)
	mustRSVP(t, s, "off", "x", 1)
	pairCode(t, s, "e", "a", "code")
	if _, err := join(t, s, "e", "b", "code"); err != nil {
		t.Fatal(err)
	}
	if _, err := s.CheckOutRSVP(ctx, rsvpName("e", "a"), base.Add(-time.Millisecond)); !errors.Is(err, store.ErrNotStarted) {
		t.Fatalf("check-out before the start: %v, want ErrNotStarted", err)
	}
	if r, _, err := s.GetRSVP(ctx, rsvpName("e", "a")); err != nil || r.GetCheckOutTime() != nil {
		t.Fatalf("after a refused check-out: %v, %v", r, err)
	}
	first := base.Add(30 * time.Minute)
	c, err := s.CheckOutRSVP(ctx, rsvpName("e", "a"), first)
	if err != nil {
		t.Fatal(err)
	}
	if !c.First || !c.Rsvp.GetCheckOutTime().AsTime().Equal(first) || c.Rsvp.GetName() != rsvpName("e", "a") {
		t.Errorf("first check-out: %+v", c)
	}
	checkBuddy(t, "check-out's buddy", c.Buddy, "e", "b", time.Time{})
	// Again, after the end: the first time stays.
	c, err = s.CheckOutRSVP(ctx, rsvpName("e", "a"), base.Add(5*time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	if c.First || !c.Rsvp.GetCheckOutTime().AsTime().Equal(first) {
		t.Errorf("second check-out: first %v, time %v; want false, %v", c.First, c.Rsvp.GetCheckOutTime().AsTime(), first)
	}
	r, _, err := s.GetRSVP(ctx, rsvpName("e", "a"))
	if err != nil || !r.GetCheckOutTime().AsTime().Equal(first) {
		t.Errorf("GetRSVP after check-out: %v, %v", r, err)
	}
	// b checks out after the end; a sees it.
	late := base.Add(4 * time.Hour)
	c, err = s.CheckOutRSVP(ctx, rsvpName("e", "b"), late)
	if err != nil || !c.First {
		t.Fatalf("check-out after the end: %+v, %v", c, err)
	}
	checkBuddy(t, "b's check-out's buddy", c.Buddy, "e", "a", first)
	wantBuddy(t, s, "e", "a", "b", late)

	// A cancelled event, and a cancelled RSVP.
	if _, err := s.UpdateEvent(ctx, "events/off", func(e *rallyv1.Event) error { Cancelled(e); return nil }); err != nil {
		t.Fatal(err)
	}
	if _, err := s.CancelRSVP(ctx, rsvpName("off", "x"), base); err != nil {
		t.Fatal(err)
	}
	if c, err := s.CheckOutRSVP(ctx, rsvpName("off", "x"), base.Add(time.Hour)); err != nil || !c.First || c.Buddy.RSVP != "" {
		t.Errorf("check-out at a cancelled event: %+v, %v", c, err)
	}
	if _, err := s.CheckOutRSVP(ctx, rsvpName("e", "nobody"), base); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("check-out of an unknown RSVP: %v, want ErrNotFound", err)
	}
}

// testCheckOutCounts: checked_in and not_checked_out follow check-ins, check-outs (in
// either order) and deletions.
func testCheckOutCounts(t *testing.T, s store.Store) {
	ctx := t.Context()
	createEvents(t, s, Event("e", base, WithCapacity(10)))
	for _, id := range []string{"a", "b", "c", "d"} {
		mustRSVP(t, s, "e", id, 2)
	}
	wantSafetyCounts(t, s, "e", 0, 0)
	checkIn := func(id string) {
		t.Helper()
		if _, err := s.CheckInRSVP(ctx, rsvpName("e", id), base); err != nil {
			t.Fatal(err)
		}
	}
	checkOut := func(id string) {
		t.Helper()
		if _, err := s.CheckOutRSVP(ctx, rsvpName("e", id), base.Add(3*time.Hour)); err != nil {
			t.Fatal(err)
		}
	}
	checkIn("a")
	checkIn("b")
	checkIn("b") // again: no change
	wantSafetyCounts(t, s, "e", 2, 2)
	checkOut("a")
	checkOut("a") // again: no change
	wantSafetyCounts(t, s, "e", 2, 1)
	checkOut("c") // not checked in: counts nothing
	wantSafetyCounts(t, s, "e", 2, 1)
	checkIn("c") // checked in after checking out: checked out already
	wantSafetyCounts(t, s, "e", 3, 1)
	wantCounts(t, s, "e", 8, 0)

	del := func(id string) {
		t.Helper()
		if _, err := s.DeleteRSVP(ctx, rsvpName("e", id), base.Add(3*time.Hour)); err != nil {
			t.Fatal(err)
		}
	}
	del("b") // checked in, not out
	wantSafetyCounts(t, s, "e", 2, 0)
	del("a") // checked in and out
	wantSafetyCounts(t, s, "e", 1, 0)
	del("d") // never checked in
	wantSafetyCounts(t, s, "e", 1, 0)
	wantCounts(t, s, "e", 2, 0)
}

// testDeleteRSVPPromotes: deleting a GOING RSVP of a full event gives its place to the
// head of the waitlist, and the counts follow; it works on any RSVP, in any state.
func testDeleteRSVPPromotes(t *testing.T, s store.Store) {
	ctx := t.Context()
	e := Event("e", base, WithCapacity(2))
	e.Campaign = "campaigns/c"
	createEvents(t, s, e)
	for _, id := range []string{"a", "b", "c", "d", "x"} {
		mustRSVP(t, s, "e", id, 1)
	}
	if _, err := s.CancelRSVP(ctx, rsvpName("e", "x"), rsvpNow); err != nil {
		t.Fatal(err)
	}
	wantCounts(t, s, "e", 2, 2)
	d, err := s.DeleteRSVP(ctx, rsvpName("e", "a"), rsvpNow)
	if err != nil {
		t.Fatal(err)
	}
	if !d.Promoted || d.Buddy != "" {
		t.Errorf("DeleteRSVP of a GOING RSVP: %+v, want promoted, no buddy", d)
	}
	wantRSVP(t, s, "e", "c", going, 0)
	wantRSVP(t, s, "e", "d", waitlisted, 1)
	wantCounts(t, s, "e", 2, 1)
	if _, _, err := s.GetRSVP(ctx, rsvpName("e", "a")); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("GetRSVP of a deleted RSVP: %v, want ErrNotFound", err)
	}
	if _, err := s.DeleteRSVP(ctx, rsvpName("e", "a"), rsvpNow); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("deleting again: %v, want ErrNotFound", err)
	}
	// A waitlisted one: nobody moves.
	if d, err := s.DeleteRSVP(ctx, rsvpName("e", "d"), rsvpNow); err != nil || d.Promoted {
		t.Errorf("DeleteRSVP of a waitlisted RSVP: %+v, %v", d, err)
	}
	wantCounts(t, s, "e", 2, 0)
	// A cancelled one.
	if _, err := s.DeleteRSVP(ctx, rsvpName("e", "x"), rsvpNow); err != nil {
		t.Errorf("DeleteRSVP of a cancelled RSVP: %v", err)
	}
	wantCounts(t, s, "e", 2, 0)
	for _, state := range []rallyv1.RsvpState{rallyv1.RsvpState_RSVP_STATE_UNSPECIFIED, going, waitlisted, cancelled} {
		p, err := s.ListRSVPs(ctx, store.RSVPQuery{Event: "events/e", State: state, PageSize: 10})
		if err != nil {
			t.Fatal(err)
		}
		var ids []string
		for _, r := range p.Items {
			ids = append(ids, store.ID(r.GetName()))
		}
		want := map[rallyv1.RsvpState][]string{rallyv1.RsvpState_RSVP_STATE_UNSPECIFIED: {"b", "c"}, going: {"b", "c"}}[state]
		if !slices.Equal(ids, want) {
			t.Errorf("ListRSVPs(%v) after deletions: %v, want %v", state, ids, want)
		}
	}
	// After the end, at a cancelled event.
	if _, err := s.UpdateEvent(ctx, "events/e", func(e *rallyv1.Event) error { Cancelled(e); return nil }); err != nil {
		t.Fatal(err)
	}
	if _, err := s.DeleteRSVP(ctx, rsvpName("e", "b"), base.Add(10*time.Hour)); err != nil {
		t.Errorf("DeleteRSVP at a cancelled, finished event: %v", err)
	}
	wantCounts(t, s, "e", 1, 0)
	if _, err := s.DeleteRSVP(ctx, rsvpName("nothing", "b"), rsvpNow); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("DeleteRSVP at an unknown event: %v, want ErrNotFound", err)
	}
}

// testDeleteRSVPForgets: a deleted RSVP's token finds nothing, and its request key is
// forgotten: a create with it makes a new RSVP (the deleted one is never replayed).
func testDeleteRSVPForgets(t *testing.T, s store.Store) {
	ctx := t.Context()
	createEvents(t, s, Event("e", base, WithCapacity(5)))
	n := NewRSVP("e", "a", 2)
	n.RequestKey, n.SealedToken = "request-a", []byte("sealed-a")
	if _, err := s.CreateRSVP(ctx, "events/e", n, rsvpNow); err != nil {
		t.Fatal(err)
	}
	if _, err := s.DeleteRSVP(ctx, rsvpName("e", "a"), rsvpNow); err != nil {
		t.Fatal(err)
	}
	if _, err := s.FindRSVPByToken(ctx, "events/e", n.TokenHash); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("FindRSVPByToken after deletion: %v, want ErrNotFound", err)
	}
	wantCounts(t, s, "e", 0, 0)
	retry := NewRSVP("e", "a2", 1)
	retry.RequestKey, retry.SealedToken = "request-a", []byte("sealed-a2")
	c, err := s.CreateRSVP(ctx, "events/e", retry, rsvpNow)
	if err != nil {
		t.Fatal(err)
	}
	if c.Replayed || c.Rsvp.GetName() != rsvpName("e", "a2") {
		t.Errorf("create with a deleted RSVP's request key: %+v, want a new RSVP a2", c)
	}
	wantCounts(t, s, "e", 1, 0)
	// And a replay of that one works as before.
	again := NewRSVP("e", "a3", 1)
	again.RequestKey = "request-a"
	if c, err := s.CreateRSVP(ctx, "events/e", again, rsvpNow); err != nil || !c.Replayed || c.Rsvp.GetName() != rsvpName("e", "a2") {
		t.Errorf("replay after re-creation: %+v, %v", c, err)
	}
}

// testDeleteRSVPBuddy: deleting an RSVP removes its buddy's link to it, and its unused
// code.
func testDeleteRSVPBuddy(t *testing.T, s store.Store) {
	ctx := t.Context()
	createEvents(t, s, Event("e", base))
	for _, id := range []string{"a", "b", "c", "d"} {
		mustRSVP(t, s, "e", id, 1)
	}
	pairCode(t, s, "e", "a", "code-a")
	if _, err := join(t, s, "e", "b", "code-a"); err != nil {
		t.Fatal(err)
	}
	d, err := s.DeleteRSVP(ctx, rsvpName("e", "a"), rsvpNow)
	if err != nil {
		t.Fatal(err)
	}
	if d.Buddy != rsvpName("e", "b") {
		t.Errorf("DeletedRSVP.Buddy %q, want %s", d.Buddy, rsvpName("e", "b"))
	}
	wantBuddy(t, s, "e", "b", "", time.Time{})
	// b is free to pair again.
	pairCode(t, s, "e", "b", "code-b")
	if _, err := join(t, s, "e", "c", "code-b"); err != nil {
		t.Fatalf("b pairing again: %v", err)
	}
	// The deleted RSVP's unused code goes with it.
	pairCode(t, s, "e", "d", "code-d")
	if d, err := s.DeleteRSVP(ctx, rsvpName("e", "d"), rsvpNow); err != nil || d.Buddy != "" {
		t.Fatalf("DeleteRSVP of a code holder: %+v, %v", d, err)
	}
	mustRSVP(t, s, "e", "f", 1)
	if _, err := join(t, s, "e", "f", "code-d"); !errors.Is(err, store.ErrBuddyCode) {
		t.Errorf("join with a deleted RSVP's code: %v, want ErrBuddyCode", err)
	}
}
