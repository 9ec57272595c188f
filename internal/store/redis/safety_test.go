package redis

import (
	"bytes"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	goredis "github.com/redis/go-redis/v9"

	"github.com/rallyhq/rally/internal/redistest"
	"github.com/rallyhq/rally/internal/store"
	"github.com/rallyhq/rally/internal/store/storetest"
)

// eventData returns every field name, value and member of the keys with the event's
// hash tag, each as one byte string, read straight from Redis: what a seized server
// would show of the event.
func eventData(t *testing.T, rdb *goredis.Client, s *Store, eventID string) [][]byte {
	t.Helper()
	ctx := t.Context()
	keys, err := rdb.Keys(ctx, s.prefix+"{ev:"+eventID+"}*").Result() // a test helper: the store never lists keys
	if err != nil {
		t.Fatal(err)
	}
	var out [][]byte
	for _, k := range keys {
		out = append(out, []byte(k))
		typ, err := rdb.Type(ctx, k).Result()
		if err != nil {
			t.Fatal(err)
		}
		switch typ {
		case "hash":
			h, err := rdb.HGetAll(ctx, k).Result()
			if err != nil {
				t.Fatal(err)
			}
			for f, v := range h {
				out = append(out, []byte(f), []byte(v))
			}
		case "zset":
			m, err := rdb.ZRange(ctx, k, 0, -1).Result()
			if err != nil {
				t.Fatal(err)
			}
			for _, v := range m {
				out = append(out, []byte(v))
			}
		case "list":
			m, err := rdb.LRange(ctx, k, 0, -1).Result()
			if err != nil {
				t.Fatal(err)
			}
			for _, v := range m {
				out = append(out, []byte(v))
			}
		default:
			t.Fatalf("key %s of type %s: the test does not read it", k, typ)
		}
	}
	return out
}

// holds reports which of the needles some datum contains.
func holds(data [][]byte, needles map[string][]byte) []string {
	var found []string
	for what, n := range needles {
		for _, d := range data {
			if bytes.Contains(d, n) {
				found = append(found, what)
				break
			}
		}
	}
	return found
}

// TestDeleteRSVPLeavesNothing: after DeleteRSVP, nothing in the event's keys holds the
// deleted RSVPs' IDs, token hashes, request keys, sealed tokens, nicknames or code
// hashes; and no buddy code is ever stored in clear.
func TestDeleteRSVPLeavesNothing(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	s, rdb := newStore(t)
	futureEvent(t, s, "e", 2)
	var needles = map[string][]byte{}
	for _, id := range []string{"victimone", "victimtwo", "pal", "other"} {
		n := storetest.NewRSVP("e", id, 1)
		n.RequestKey, n.SealedToken = "request-"+id, []byte("sealed-token-"+id)
		if _, err := s.CreateRSVP(ctx, "events/e", n, time.Now()); err != nil {
			t.Fatal(err)
		}
		if id == "victimone" || id == "victimtwo" {
			needles[id+" ID"] = []byte(id)
			needles[id+" token hash"] = n.TokenHash
			needles[id+" request key"] = []byte(n.RequestKey)
			needles[id+" sealed token"] = n.SealedToken
			needles[id+" nickname"] = []byte("sealed:" + id)
		}
	}
	soon := time.Now().Add(10 * time.Minute)
	// victimone pairs with pal (pal's code), checks in and out; victimtwo keeps a code.
	if err := s.CreateBuddyCode(ctx, "events/e/rsvps/pal", storetest.BuddyCode("code-pal", "pal", soon), time.Now()); err != nil {
		t.Fatal(err)
	}
	if _, err := s.JoinBuddy(ctx, "events/e/rsvps/victimone", storetest.CodeHash("code-pal"), []byte("sealed:victimone"), time.Now()); err != nil {
		t.Fatal(err)
	}
	if err := s.CreateBuddyCode(ctx, "events/e/rsvps/victimtwo", storetest.BuddyCode("code-victimtwo", "victimtwo", soon), time.Now()); err != nil {
		t.Fatal(err)
	}
	needles["victimtwo code hash"] = storetest.CodeHash("code-victimtwo")
	if _, err := s.CheckInRSVP(ctx, "events/e/rsvps/victimone", time.Now()); err != nil {
		t.Fatal(err)
	}
	if _, err := s.CheckOutRSVP(ctx, "events/e/rsvps/victimone", time.Now().Add(25*time.Hour)); err != nil {
		t.Fatal(err)
	}

	before := eventData(t, rdb, s, "e")
	if found := holds(before, map[string][]byte{"code-pal": []byte("code-pal"), "code-victimtwo": []byte("code-victimtwo")}); len(found) > 0 {
		t.Errorf("buddy codes stored in clear: %v", found)
	}
	// The test can fail: before deletion everything is there.
	if found := holds(before, needles); len(found) != len(needles) {
		t.Fatalf("before deletion the data holds only %v of %d needles", found, len(needles))
	}

	for _, id := range []string{"victimone", "victimtwo"} {
		if _, err := s.DeleteRSVP(ctx, "events/e/rsvps/"+id, time.Now()); err != nil {
			t.Fatal(err)
		}
	}
	after := eventData(t, rdb, s, "e")
	if found := holds(after, needles); len(found) > 0 {
		t.Errorf("after deletion the event's keys still hold %v", found)
	}
	if found := holds(after, map[string][]byte{"pal": []byte("sealed:pal"), "other": []byte("other")}); len(found) != 1 {
		// pal's nickname was only in victimone's link; other is still there.
		t.Errorf("after deletion found %v, want only other", found)
	}
	checkInvariants(t, s, "e", 2)
}

// TestBuddyJoinRaceTwoReplicas: two stores (replicas) on one Redis race to join with
// one code: exactly one join succeeds.
func TestBuddyJoinRaceTwoReplicas(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	srv := redistest.Start(t)
	// Each replica with its own client (connection pool), as separate processes have.
	opts, err := goredis.ParseURL(srv.URL())
	if err != nil {
		t.Fatal(err)
	}
	other := goredis.NewClient(opts)
	t.Cleanup(func() { other.Close() })
	replicas := []*Store{New(srv.Client(), testPrefix), New(other, testPrefix)}
	futureEvent(t, replicas[0], "e", 0)
	rsvp(t, replicas[0], "e", "owner", 1)
	const n = 32
	for i := range n {
		rsvp(t, replicas[i%2], "e", fmt.Sprintf("j%02d", i), 1)
	}
	if err := replicas[1].CreateBuddyCode(ctx, "events/e/rsvps/owner", storetest.BuddyCode("code", "owner", time.Now().Add(time.Minute)), time.Now()); err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	errs := make([]error, n)
	start := make(chan struct{})
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			_, errs[i] = replicas[i%2].JoinBuddy(ctx, fmt.Sprintf("events/e/rsvps/j%02d", i), storetest.CodeHash("code"), []byte("sealed:j"), time.Now())
		}()
	}
	close(start)
	wg.Wait()
	wins := 0
	for i, err := range errs {
		switch {
		case err == nil:
			wins++
		case !errors.Is(err, store.ErrBuddyCode):
			t.Errorf("joiner %d: %v", i, err)
		}
	}
	if wins != 1 {
		t.Errorf("%d joins with one code succeeded, want 1", wins)
	}
}

// TestCheckOutEventWithoutStart: an event hash without start_ms (stored by an older
// Rally) counts as started; one with it refuses an early check-out.
func TestCheckOutEventWithoutStart(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	s, rdb := newStore(t)
	futureEvent(t, s, "e", 0) // starts tomorrow
	rsvp(t, s, "e", "a", 1)
	if _, err := s.CheckOutRSVP(ctx, "events/e/rsvps/a", time.Now()); !errors.Is(err, store.ErrNotStarted) {
		t.Fatalf("check-out before the start: %v, want ErrNotStarted", err)
	}
	if err := rdb.HDel(ctx, s.rsvpKeys("e")[0], "start_ms").Err(); err != nil {
		t.Fatal(err)
	}
	c, err := s.CheckOutRSVP(ctx, "events/e/rsvps/a", time.Now())
	if err != nil || !c.First {
		t.Fatalf("check-out at an event without start_ms: %+v, %v", c, err)
	}
}

// TestSafetyStoredFields: the plain record gains the check-out time, the request key is
// kept with the record for deletion, and a record of the older five-field format (no
// check-out) still reads and deletes; an RSVP without its request key (stored by an
// older Rally) is deleted all the same.
func TestSafetyStoredFields(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	s, rdb := newStore(t)
	e := futureEvent(t, s, "e", 0)
	n := storetest.NewRSVP("e", "a", 1)
	n.RequestKey = "rk"
	now := time.Now().Truncate(time.Millisecond)
	if _, err := s.CreateRSVP(ctx, "events/e", n, now); err != nil {
		t.Fatal(err)
	}
	records := s.rsvpKeys("e")[1]
	if q, err := rdb.HGet(ctx, records, "a:q").Result(); err != nil || q != "rk" {
		t.Errorf("a:q = %q, %v; want the request key", q, err)
	}
	out := e.GetStartTime().AsTime().Add(time.Hour)
	if _, err := s.CheckOutRSVP(ctx, "events/e/rsvps/a", out); err != nil {
		t.Fatal(err)
	}
	if want := fmt.Sprintf("1:0:%016x:0:%d:%d", 1, out.UnixMilli(), out.UnixMilli()); rdb.HGet(ctx, records, "a:s").Val() != want {
		t.Errorf("plain record %q, want %q", rdb.HGet(ctx, records, "a:s").Val(), want)
	}
	// An older RSVP: no request key kept with it.
	rsvp(t, s, "e", "b", 1)
	if err := rdb.HDel(ctx, records, "b:q").Err(); err != nil {
		t.Fatal(err)
	}
	if _, err := s.DeleteRSVP(ctx, "events/e/rsvps/b", now); err != nil {
		t.Fatalf("deleting an RSVP without its request key: %v", err)
	}
	if _, _, err := s.GetRSVP(ctx, "events/e/rsvps/b"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("GetRSVP after deletion: %v", err)
	}
	checkInvariants(t, s, "e", 0)
}
