package redis

import (
	"bytes"
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
	"path/filepath"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	goredis "github.com/redis/go-redis/v9"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"

	rallyv1 "github.com/rallyhq/rally/gen/go/rally/v1"
	"github.com/rallyhq/rally/internal/redistest"
	"github.com/rallyhq/rally/internal/store"
	"github.com/rallyhq/rally/internal/store/storetest"
)

// The RSVP tests use events in the future of the real clock, because Redis deletes an
// event's RSVPs by its own clock (see TestConformance for the suite's fixed calendar).

const (
	going      = rallyv1.RsvpState_RSVP_STATE_GOING
	waitlisted = rallyv1.RsvpState_RSVP_STATE_WAITLISTED
	cancelled  = rallyv1.RsvpState_RSVP_STATE_CANCELLED
)

// futureEvent creates event `events/<id>` of the given capacity, starting tomorrow on a
// whole second and lasting two hours.
func futureEvent(t *testing.T, s *Store, id string, capacity int32) *rallyv1.Event {
	t.Helper()
	start := time.Now().Add(24 * time.Hour).Truncate(time.Second)
	e := storetest.Event(id, start, storetest.WithCapacity(capacity))
	if err := s.CreateEvent(t.Context(), e); err != nil {
		t.Fatal(err)
	}
	return e
}

// rsvp creates RSVP id of people people (guests = people-1) now.
func rsvp(t *testing.T, s *Store, event, id string, people int32) *rallyv1.Rsvp {
	t.Helper()
	c, err := s.CreateRSVP(t.Context(), "events/"+event, storetest.NewRSVP(event, id, people), time.Now())
	if err != nil {
		t.Fatalf("create RSVP %s: %v", id, err)
	}
	return c.Rsvp
}

// want fails unless RSVP id of event is in the state at the waitlist position.
func want(t *testing.T, s *Store, event, id string, state rallyv1.RsvpState, position int32) {
	t.Helper()
	r, _, err := s.GetRSVP(t.Context(), "events/"+event+"/rsvps/"+id)
	if err != nil {
		t.Fatal(err)
	}
	if r.GetState() != state || r.GetWaitlistPosition() != position {
		t.Errorf("%s: %v at %d, want %v at %d", id, r.GetState(), r.GetWaitlistPosition(), state, position)
	}
}

// raw is an event's RSVP data as stored, read straight from Redis.
type raw struct {
	records             map[string]rawRecord // by RSVP ID
	going, waitlisted   int64                // the counts in the event hash
	seq                 int64                // the arrival counter in the event hash
	all, goingIdx       []string             // index members, in index order
	waitlistIdx, cxlIdx []string
}

type rawRecord struct {
	state, guests int64
	seq           string
}

func readRaw(t *testing.T, s *Store, eventID string) raw {
	t.Helper()
	ctx := t.Context()
	keys := s.rsvpKeys(eventID)
	ev, err := s.rdb.HMGet(ctx, keys[0], "going", "waitlisted", "rsvp_seq").Result()
	if err != nil {
		t.Fatal(err)
	}
	num := func(v any) int64 { n, _ := strconv.ParseInt(fmt.Sprint(v), 10, 64); return n }
	r := raw{records: map[string]rawRecord{}, going: num(ev[0]), waitlisted: num(ev[1]), seq: num(ev[2])}
	h, err := s.rdb.HGetAll(ctx, keys[1]).Result()
	if err != nil {
		t.Fatal(err)
	}
	for f, v := range h {
		id, ok := strings.CutSuffix(f, ":s")
		if !ok {
			continue
		}
		p := strings.Split(v, ":")
		r.records[id] = rawRecord{state: num(p[0]), guests: num(p[1]), seq: p[2]}
	}
	for i, dst := range []*[]string{&r.all, &r.goingIdx, &r.waitlistIdx, &r.cxlIdx} {
		if *dst, err = s.rdb.ZRange(ctx, keys[2+i], 0, -1).Result(); err != nil {
			t.Fatal(err)
		}
	}
	return r
}

// checkInvariants fails unless the stored RSVPs of the event hold together: counts equal
// to the sums over the records, each record in the index of its state and no other, no
// more people GOING than capacity (which these tests never lower), and a waitlist in
// arrival order whose head does not fit (strict first come, first served).
func checkInvariants(t *testing.T, s *Store, eventID string, capacity int64) raw {
	t.Helper()
	r := readRaw(t, s, eventID)
	var goingPeople, waitPeople int64
	byState := map[int64][]string{}
	for id, rec := range r.records {
		member := rec.seq + "|" + id
		byState[rec.state] = append(byState[rec.state], member)
		switch rallyv1.RsvpState(rec.state) {
		case going:
			goingPeople += 1 + rec.guests
		case waitlisted:
			waitPeople += 1 + rec.guests
		}
	}
	for _, l := range [][]string{byState[1], byState[2], byState[3]} {
		slices.Sort(l)
	}
	if r.going != goingPeople || r.waitlisted != waitPeople {
		t.Errorf("counts going %d, waitlisted %d; the records sum to %d and %d", r.going, r.waitlisted, goingPeople, waitPeople)
	}
	for name, got := range map[string][2][]string{
		"all": {r.all, nil}, "going": {r.goingIdx, byState[1]}, "waitlisted": {r.waitlistIdx, byState[2]}, "cancelled": {r.cxlIdx, byState[3]},
	} {
		if !slices.Equal(got[0], got[1]) {
			t.Errorf("index %s holds %d entries, the records say %d", name, len(got[0]), len(got[1]))
		}
	}
	if capacity > 0 && goingPeople > capacity {
		t.Errorf("%d people going for %d places", goingPeople, capacity)
	}
	if len(r.waitlistIdx) > 0 {
		head := r.records[store.KeyID(r.waitlistIdx[0])]
		if capacity == 0 || goingPeople+1+head.guests <= capacity {
			t.Errorf("the head of the waitlist (%d people) fits in the %d free places", 1+head.guests, capacity-goingPeople)
		}
	}
	// Index keys are store.RSVPKey, so sorted index order is arrival order.
	for i, m := range r.waitlistIdx {
		seq, err := strconv.ParseInt(m[:16], 16, 64)
		if err != nil || store.RSVPKey(seq, store.KeyID(m)) != m {
			t.Errorf("waitlist entry %d, %q, is not store.RSVPKey", i, m)
		}
	}
	return r
}

func attendance(t *testing.T, s *Store, event string) (int32, int32) {
	t.Helper()
	e, err := s.GetEvent(t.Context(), "events/"+event)
	if err != nil {
		t.Fatal(err)
	}
	return e.GetAttendance().GetGoing(), e.GetAttendance().GetWaitlisted()
}

// TestRSVPConcurrentCreates: 1,000 concurrent RSVPs of 1 to 4 people for 100 places.
func TestRSVPConcurrentCreates(t *testing.T) {
	t.Parallel()
	s, _ := newStore(t)
	testRSVPConcurrentCreates(t, s)
}

// testRSVPConcurrentCreates is TestRSVPConcurrentCreates on s, a new, empty store.
func testRSVPConcurrentCreates(t *testing.T, s *Store) {
	ctx := t.Context()
	const n, capacity = 1000, 100
	futureEvent(t, s, "big", capacity)
	start := time.Now()
	var wg sync.WaitGroup
	errs := make(chan error, n)
	for i := range n {
		wg.Go(func() {
			_, err := s.CreateRSVP(ctx, "events/big", storetest.NewRSVP("big", fmt.Sprintf("r%04d", i), 1+rand.Int32N(4)), time.Now())
			errs <- err
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	t.Logf("%d concurrent creates in %v", n, time.Since(start).Round(time.Millisecond))

	r := checkInvariants(t, s, "big", capacity)
	if len(r.records) != n || r.seq != n {
		t.Fatalf("%d records, arrival counter %d; want %d", len(r.records), r.seq, n)
	}
	if len(r.waitlistIdx) == 0 || r.going > capacity {
		t.Fatalf("going %d, %d waitlisted RSVPs: want the event full", r.going, len(r.waitlistIdx))
	}
	// Arrival order: every GOING RSVP came before every waitlisted one (nobody got a
	// place while someone who came earlier waited).
	if last, first := r.goingIdx[len(r.goingIdx)-1], r.waitlistIdx[0]; last > first {
		t.Errorf("GOING %s arrived after waitlisted %s", last, first)
	}
	// Positions as the API shows them: 1, 2, 3... in arrival order.
	p, err := s.ListRSVPs(ctx, store.RSVPQuery{Event: "events/big", State: waitlisted, PageSize: 1000})
	if err != nil {
		t.Fatal(err)
	}
	for i, rsvp := range p.Items {
		if rsvp.GetWaitlistPosition() != int32(i+1) || store.ID(rsvp.GetName()) != store.KeyID(r.waitlistIdx[i]) {
			t.Fatalf("waitlisted RSVP %d: %s at position %d", i, rsvp.GetName(), rsvp.GetWaitlistPosition())
		}
	}
	if g, w := attendance(t, s, "big"); int64(g) != r.going || int64(w) != r.waitlisted {
		t.Errorf("GetEvent attendance %d/%d, counts %d/%d", g, w, r.going, r.waitlisted)
	}
	page, err := s.ListEvents(ctx, store.EventQuery{PageSize: 10})
	if err != nil || len(page.Items) != 1 || int64(page.Items[0].GetAttendance().GetGoing()) != r.going {
		t.Errorf("ListEvents attendance: %v, %v; want going %d", page.Items, err, r.going)
	}
}

// createArgv is the ARGV of one rsvp_create.lua call, as CreateRSVP builds it.
func createArgv(t *testing.T, s *Store, n store.NewRSVP, now time.Time) []any {
	t.Helper()
	pb, err := personal(n.Rsvp)
	if err != nil {
		t.Fatal(err)
	}
	return s.createArgv(now, createArgs{store.ID(n.Rsvp.GetName()), pb, n.Rsvp.GetGuests(), n.TokenHash, n.RequestKey, n.SealedToken})
}

// TestCreateArgc: rsvp_create.lua reads a change's arguments after as many of its own as
// CreateRSVP passes.
func TestCreateArgc(t *testing.T) {
	if want := fmt.Sprintf("local OWN_ARGS = %d ", createArgc); !strings.Contains(rsvpCreateSrc, want) {
		t.Errorf("rsvp_create.lua does not declare %q", want)
	}
	if n := len((&Store{}).createArgv(time.Now(), createArgs{})); n != createArgc {
		t.Errorf("createArgv makes %d arguments, createArgc is %d", n, createArgc)
	}
}

// TestRSVPCreateRunTwice: go-redis resends a command when the connection breaks before
// the reply, so the create script can run twice with the same arguments. The second run
// must count nothing and answer like the first, with or without a request key.
func TestRSVPCreateRunTwice(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	s, _ := newStore(t)
	futureEvent(t, s, "e", 10)
	keys := s.rsvpKeys("e")

	withKey := storetest.NewRSVP("e", "keyed", 3)
	withKey.RequestKey, withKey.SealedToken = "request-key", []byte("sealed\x00token")
	noKey := storetest.NewRSVP("e", "plain", 2)
	people := int64(0)
	for _, n := range []store.NewRSVP{withKey, noKey} {
		args := createArgv(t, s, n, time.Now())
		first, err := s.createScript.Run(ctx, s.rdb, keys, args...).Slice()
		if err != nil {
			t.Fatal(err)
		}
		second, err := s.createScript.Run(ctx, s.rdb, keys, args...).Slice()
		if err != nil {
			t.Fatal(err)
		}
		if first[0] != "created" || !reflect.DeepEqual(first, second) {
			t.Errorf("%s: first run %q, second %q; want the same created", n.Rsvp.GetName(), first, second)
		}
		people += int64(1 + n.Rsvp.GetGuests())
	}
	r := checkInvariants(t, s, "e", 10)
	if len(r.records) != 2 || r.seq != 2 || r.going != people {
		t.Errorf("%d records, arrival counter %d, going %d; want 2, 2, %d", len(r.records), r.seq, r.going, people)
	}
}

// dropProxy forwards a unix socket to Redis, but closes the client's connection instead
// of passing on the reply to the first command that contains drop: the command ran,
// and the client does not know.
type dropProxy struct {
	drop    []byte
	dropped atomic.Bool
	seen    atomic.Int32 // commands that contained drop
}

func startDropProxy(t *testing.T, target string, drop []byte) (*dropProxy, string) {
	t.Helper()
	p := &dropProxy{drop: drop}
	addr := filepath.Join(t.TempDir(), "proxy.sock")
	l, err := net.Listen("unix", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			go p.serve(c, target)
		}
	}()
	return p, addr
}

func (p *dropProxy) serve(client net.Conn, target string) {
	defer client.Close()
	server, err := net.Dial("unix", target)
	if err != nil {
		return
	}
	var dropping atomic.Bool
	done := make(chan struct{})
	go func() { // replies
		defer close(done)
		defer client.Close()
		buf := make([]byte, 1<<16)
		for {
			n, err := server.Read(buf)
			if err != nil || dropping.Load() {
				// Dropping: the reply came, so Redis ran the command; the client gets
				// a closed connection instead.
				return
			}
			if _, err := client.Write(buf[:n]); err != nil {
				return
			}
		}
	}()
	buf := make([]byte, 1<<16)
	for {
		n, err := client.Read(buf)
		if err != nil {
			break
		}
		if bytes.Contains(buf[:n], p.drop) {
			p.seen.Add(1)
			if p.dropped.CompareAndSwap(false, true) {
				dropping.Store(true)
			}
		}
		if _, err := server.Write(buf[:n]); err != nil {
			break
		}
	}
	server.Close()
	<-done
}

// TestRSVPCreateRetriedByClient: the same through go-redis itself: the connection breaks
// after Redis ran the create, go-redis retries on a new connection, and CreateRSVP
// reports one new RSVP, counted once.
func TestRSVPCreateRetriedByClient(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	srv := redistest.Start(t)
	direct := New(srv.Client(), testPrefix)
	futureEvent(t, direct, "e", 10)
	// Loaded in advance so that the first attempt is an FCALL that runs, not a
	// "Function not found".
	if err := loadLibrary(ctx, srv.Client()); err != nil {
		t.Fatal(err)
	}
	for _, requestKey := range []string{"", "request-key"} {
		proxy, addr := startDropProxy(t, srv.Socket(), []byte(direct.createScript.Name()))
		rdb := goredis.NewClient(&goredis.Options{Network: "unix", Addr: addr})
		t.Cleanup(func() { rdb.Close() })
		s := New(rdb, testPrefix)

		n := storetest.NewRSVP("e", "r"+strconv.Itoa(len(requestKey)), 2)
		n.RequestKey, n.SealedToken = requestKey, []byte("sealed")
		c, err := s.CreateRSVP(ctx, "events/e", n, time.Now())
		if err != nil {
			t.Fatalf("request key %q: %v", requestKey, err)
		}
		if seen := proxy.seen.Load(); seen != 2 {
			t.Fatalf("request key %q: the create script was sent %d times, want 2 (one retry)", requestKey, seen)
		}
		if c.Replayed || c.Rsvp.GetName() != n.Rsvp.GetName() || c.Rsvp.GetState() != going {
			t.Errorf("request key %q: %+v; want the new RSVP, not a replay", requestKey, c)
		}
	}
	r := checkInvariants(t, direct, "e", 10)
	if len(r.records) != 2 || r.going != 4 || r.seq != 2 {
		t.Errorf("%d records, going %d, arrival counter %d; want 2, 4, 2", len(r.records), r.going, r.seq)
	}
}

// TestRSVPConcurrentRequestKey: 50 concurrent creates with one request key (each with
// its own ID and token, as the server makes them) make one RSVP; the others replay it.
func TestRSVPConcurrentRequestKey(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	s, _ := newStore(t)
	futureEvent(t, s, "e", 10)
	const n = 50
	results := make([]store.CreatedRSVP, n)
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			nr := storetest.NewRSVP("e", fmt.Sprintf("try%02d", i), 2)
			nr.RequestKey, nr.SealedToken = "same-request", []byte(fmt.Sprintf("sealed-%02d", i))
			results[i], errs[i] = s.CreateRSVP(ctx, "events/e", nr, time.Now())
		})
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		t.Fatal(err)
	}
	var winner string
	fresh := 0
	for i, c := range results {
		if !c.Replayed {
			fresh++
			winner = store.ID(c.Rsvp.GetName())
			if winner != fmt.Sprintf("try%02d", i) {
				t.Errorf("try %d got %s unreplayed", i, winner)
			}
		}
	}
	if fresh != 1 {
		t.Fatalf("%d creates were not replays, want 1", fresh)
	}
	for i, c := range results {
		if c.Replayed && (store.ID(c.Rsvp.GetName()) != winner || string(c.SealedToken) != "sealed-"+winner[3:]) {
			t.Errorf("try %d: replayed %s with %q, want %s with its sealed token", i, c.Rsvp.GetName(), c.SealedToken, winner)
		}
	}
	r := checkInvariants(t, s, "e", 10)
	if len(r.records) != 1 || r.going != 2 {
		t.Errorf("%d records, going %d; want 1 RSVP of 2 people", len(r.records), r.going)
	}
}

// TestRSVPCancelPromotesInOrder: places freed by cancels go to the waitlist strictly in
// arrival order; a smaller party that came later never passes a larger earlier one.
func TestRSVPCancelPromotesInOrder(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	s, _ := newStore(t)
	futureEvent(t, s, "e", 4)
	rsvp(t, s, "e", "a", 2)
	rsvp(t, s, "e", "b", 2)
	rsvp(t, s, "e", "c", 3) // waitlisted 1st
	rsvp(t, s, "e", "d", 1) // waitlisted 2nd: would fit once anyone cancels, but c is first
	rsvp(t, s, "e", "f", 2) // waitlisted 3rd
	want(t, s, "e", "c", waitlisted, 1)
	want(t, s, "e", "d", waitlisted, 2)
	want(t, s, "e", "f", waitlisted, 3)

	// Two places free: c needs three, so nobody moves, not even d.
	if _, err := s.CancelRSVP(ctx, "events/e/rsvps/a", time.Now()); err != nil {
		t.Fatal(err)
	}
	want(t, s, "e", "c", waitlisted, 1)
	want(t, s, "e", "d", waitlisted, 2)
	checkInvariants(t, s, "e", 4)

	// Four places free: c (3) then d (1); f (2) does not fit.
	later := time.Now().Add(time.Minute).Truncate(time.Millisecond)
	if _, err := s.CancelRSVP(ctx, "events/e/rsvps/b", later); err != nil {
		t.Fatal(err)
	}
	want(t, s, "e", "c", going, 0)
	want(t, s, "e", "d", going, 0)
	want(t, s, "e", "f", waitlisted, 1)
	c, _, err := s.GetRSVP(ctx, "events/e/rsvps/c")
	if err != nil || !c.GetUpdateTime().AsTime().Equal(later) {
		t.Errorf("promoted c: update_time %v, %v; want the cancel's %v", c.GetUpdateTime().AsTime(), err, later)
	}
	if g, w := attendance(t, s, "e"); g != 4 || w != 2 {
		t.Errorf("attendance %d/%d, want 4/2", g, w)
	}
	checkInvariants(t, s, "e", 4)

	// A cancel of a waitlisted RSVP frees no place but moves those behind it up.
	rsvp(t, s, "e", "g", 1)
	if _, err := s.CancelRSVP(ctx, "events/e/rsvps/f", time.Now()); err != nil {
		t.Fatal(err)
	}
	want(t, s, "e", "g", waitlisted, 1)
	checkInvariants(t, s, "e", 4)
}

// TestRSVPRebalanceAfterCapacityIncrease: a larger capacity takes effect at Rebalance,
// which the server calls after every event update; event writes leave the counts alone.
func TestRSVPRebalanceAfterCapacityIncrease(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	s, _ := newStore(t)
	clock := time.Now().Add(time.Hour).Truncate(time.Millisecond)
	s.now = func() time.Time { return clock }
	futureEvent(t, s, "e", 2)
	for _, id := range []string{"a", "b", "c", "d"} {
		rsvp(t, s, "e", id, 1)
	}
	if _, err := s.UpdateEvent(ctx, "events/e", func(e *rallyv1.Event) error { e.Capacity = 3; return nil }); err != nil {
		t.Fatal(err)
	}
	if g, w := attendance(t, s, "e"); g != 2 || w != 2 {
		t.Fatalf("after the event update: attendance %d/%d, want 2/2 (unchanged until Rebalance)", g, w)
	}
	if err := s.Rebalance(ctx, "events/e"); err != nil {
		t.Fatal(err)
	}
	want(t, s, "e", "c", going, 0)
	want(t, s, "e", "d", waitlisted, 1)
	if c, _, _ := s.GetRSVP(ctx, "events/e/rsvps/c"); !c.GetUpdateTime().AsTime().Equal(clock) {
		t.Errorf("promoted by Rebalance: update_time %v, want the store's clock %v", c.GetUpdateTime().AsTime(), clock)
	}
	checkInvariants(t, s, "e", 3)
	if err := s.Rebalance(ctx, "events/nothing"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("Rebalance of no event: %v, want ErrNotFound", err)
	}
}

// dump returns every key of the store with its type, value and expiry, to compare
// states. A test helper: the store itself never lists keys.
func dump(t *testing.T, rdb *goredis.Client) map[string]string {
	t.Helper()
	ctx := t.Context()
	keys, err := rdb.Keys(ctx, "*").Result()
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]string{}
	for _, k := range keys {
		v, err := rdb.Dump(ctx, k).Result()
		if err != nil {
			t.Fatal(err)
		}
		ttl, _ := rdb.PExpireTime(ctx, k).Result()
		out[k] = fmt.Sprintf("%q %v", v, ttl)
	}
	return out
}

// TestRSVPGuestsNoRoomChangesNothing: an RSVP that cannot grow leaves every key as it
// was; one that shrinks frees places; a waitlisted one keeps its position.
func TestRSVPGuestsNoRoomChangesNothing(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	s, rdb := newStore(t)
	futureEvent(t, s, "e", 5)
	rsvp(t, s, "e", "a", 2)
	rsvp(t, s, "e", "b", 2)
	rsvp(t, s, "e", "c", 3) // waitlisted
	rsvp(t, s, "e", "d", 1) // waitlisted
	before := dump(t, rdb)
	for _, guests := range []int32{3, 5} {
		name := "changed"
		_, err := s.UpdateRSVP(ctx, "events/e/rsvps/a", store.RSVPChange{Guests: &guests, DisplayName: &name}, time.Now())
		if !errors.Is(err, store.ErrNoRoom) {
			t.Fatalf("a to %d guests: %v, want ErrNoRoom", guests, err)
		}
	}
	if after := dump(t, rdb); !reflect.DeepEqual(before, after) {
		t.Errorf("a refused update changed the data:\nbefore %v\nafter  %v", before, after)
	}
	// One free place: a may take it.
	two := int32(2)
	if r, err := s.UpdateRSVP(ctx, "events/e/rsvps/a", store.RSVPChange{Guests: &two}, time.Now()); err != nil || r.GetGuests() != 2 {
		t.Fatalf("a to 2 guests: %v, %v", r, err)
	}
	// The waitlisted c grows and keeps its place in the queue.
	five := int32(5)
	if r, err := s.UpdateRSVP(ctx, "events/e/rsvps/c", store.RSVPChange{Guests: &five}, time.Now()); err != nil || r.GetWaitlistPosition() != 1 {
		t.Fatalf("c to 5 guests: %v, %v", r, err)
	}
	checkInvariants(t, s, "e", 5)
	// b shrinks by one: one place free, c (6) still does not fit, and d stays behind it.
	zero := int32(0)
	if _, err := s.UpdateRSVP(ctx, "events/e/rsvps/b", store.RSVPChange{Guests: &zero}, time.Now()); err != nil {
		t.Fatal(err)
	}
	want(t, s, "e", "d", waitlisted, 2)
	// c shrinks to fit: promoted, then d fits too.
	if r, err := s.UpdateRSVP(ctx, "events/e/rsvps/c", store.RSVPChange{Guests: &zero}, time.Now()); err != nil || r.GetState() != going {
		t.Fatalf("c to 0 guests: %v, %v", r, err)
	}
	want(t, s, "e", "d", waitlisted, 1) // 3 + 1 + 1 = 5: full
	checkInvariants(t, s, "e", 5)
}

// TestRSVPConcurrentUpdates: personal fields changed by concurrent updates (a
// compare-and-set of pb, retried) are none of them lost, while other writers change the
// guests, cancel and create.
func TestRSVPConcurrentUpdates(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	s, _ := newStore(t)
	futureEvent(t, s, "e", 20)
	for i := range 20 {
		rsvp(t, s, "e", fmt.Sprintf("r%02d", i), 1+int32(i%3))
	}
	var wg sync.WaitGroup
	errs := make(chan error, 200)
	for w := range 8 {
		wg.Go(func() {
			for i := range 20 {
				name := fmt.Sprintf("events/e/rsvps/r%02d", i)
				var err error
				switch w % 4 {
				case 0: // r00's display name, while other writers change its contact
					mark := fmt.Sprintf("w%d-%d", w, i)
					_, err = s.UpdateRSVP(ctx, "events/e/rsvps/r00", store.RSVPChange{DisplayName: &mark}, time.Now())
				case 1:
					g := rand.Int32N(4)
					_, err = s.UpdateRSVP(ctx, name, store.RSVPChange{Guests: &g}, time.Now())
				case 2:
					c := fmt.Sprintf("contact %d", w)
					_, err = s.UpdateRSVP(ctx, name, store.RSVPChange{Contact: &c}, time.Now())
				case 3:
					if i%5 == 1 { // never r00
						_, err = s.CancelRSVP(ctx, name, time.Now())
					} else {
						_, err = s.CreateRSVP(ctx, "events/e", storetest.NewRSVP("e", fmt.Sprintf("n%d%02d", w, i), 2), time.Now())
					}
				}
				if err != nil && !errors.Is(err, store.ErrNoRoom) && !errors.Is(err, store.ErrEventClosed) {
					errs <- err
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	checkInvariants(t, s, "e", 20)
	// No update was lost to another based on an older read: r00 has the last name
	// that one of its writers gave, and a contact from the others.
	r, _, err := s.GetRSVP(ctx, "events/e/rsvps/r00")
	if err != nil || (r.GetDisplayName() != "w0-19" && r.GetDisplayName() != "w4-19") ||
		(r.GetContact() != "contact 2" && r.GetContact() != "contact 6") {
		t.Errorf("r00 after the updates: %v, %v", r, err)
	}
}

// TestRSVPCheckInAndClosed covers the checks that only the scripts make.
func TestRSVPCheckInAndClosed(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	s, _ := newStore(t)
	futureEvent(t, s, "e", 1)
	rsvp(t, s, "e", "a", 1)
	rsvp(t, s, "e", "b", 1)
	at := time.Now().Add(time.Minute).Truncate(time.Millisecond)
	r, err := s.CheckInRSVP(ctx, "events/e/rsvps/a", at)
	if err != nil || !r.GetCheckedIn() || !r.GetUpdateTime().AsTime().Equal(at) {
		t.Fatalf("check in: %v, %v", r, err)
	}
	if r, err := s.CheckInRSVP(ctx, "events/e/rsvps/a", at.Add(time.Minute)); err != nil || !r.GetUpdateTime().AsTime().Equal(at) {
		t.Errorf("second check in: %v, %v; want it unchanged", r, err)
	}
	if _, err := s.CheckInRSVP(ctx, "events/e/rsvps/b", at); !errors.Is(err, store.ErrNotGoing) {
		t.Errorf("check in of a waitlisted RSVP: %v", err)
	}
	if _, err := s.CheckInRSVP(ctx, "events/e/rsvps/zz", at); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("check in of no RSVP: %v", err)
	}
	if _, err := s.UpdateEvent(ctx, "events/e", func(e *rallyv1.Event) error { storetest.Cancelled(e); return nil }); err != nil {
		t.Fatal(err)
	}
	if _, err := s.CheckInRSVP(ctx, "events/e/rsvps/a", at); !errors.Is(err, store.ErrEventClosed) {
		t.Errorf("check in at a cancelled event: %v", err)
	}
	name := "x"
	if _, err := s.UpdateRSVP(ctx, "events/e/rsvps/a", store.RSVPChange{DisplayName: &name}, at); !errors.Is(err, store.ErrEventClosed) {
		t.Errorf("update at a cancelled event: %v", err)
	}
	if _, err := s.CreateRSVP(ctx, "events/e", storetest.NewRSVP("e", "c", 1), at); !errors.Is(err, store.ErrEventClosed) {
		t.Errorf("create at a cancelled event: %v", err)
	}
	if r, err := s.CancelRSVP(ctx, "events/e/rsvps/a", at); err != nil || r.GetState() != cancelled {
		t.Errorf("cancel at a cancelled event: %v, %v", r, err)
	}
	for _, name := range []string{"events/e/rsvps/", "events/e}/rsvps/a", "events/{e}/rsvps/a", "nope"} {
		if _, _, err := s.GetRSVP(ctx, name); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("GetRSVP(%q): %v, want ErrNotFound", name, err)
		}
	}
}

// rsvpDataKeys are the keys of an event that hold participants' data and expire.
// (Not rsvp:all, KEYS[3], which Rally no longer writes; an older Rally's expires with the
// rest, see TestRSVPListAllStatesOlderIndex.)
func rsvpDataKeys(s *Store, eventID string) []string {
	k := s.rsvpKeys(eventID)
	return append([]string{k[1]}, k[3:]...)
}

// TestRSVPExpiry: every key holding an event's RSVP data expires at the event's end plus
// the retention, moves with the end, and the counts and audit log never expire.
func TestRSVPExpiry(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	srv := redistest.Start(t)
	const retention = 5 * time.Hour
	s := New(srv.Client(), testPrefix, WithRSVPRetention(retention))
	e := futureEvent(t, s, "e", 1)
	n := storetest.NewRSVP("e", "a", 1)
	n.RequestKey, n.SealedToken = "key", []byte("sealed")
	if _, err := s.CreateRSVP(ctx, "events/e", n, time.Now()); err != nil {
		t.Fatal(err)
	}
	rsvp(t, s, "e", "b", 1) // waitlisted
	rsvp(t, s, "e", "c", 1) // waitlisted, then cancelled
	if _, err := s.CancelRSVP(ctx, "events/e/rsvps/c", time.Now()); err != nil {
		t.Fatal(err)
	}
	if err := s.AppendAudit(ctx, "events/e", &rallyv1.AuditEntry{Actor: "admin", Action: "ListRsvps", Event: "events/e"}); err != nil {
		t.Fatal(err)
	}
	check := func(end time.Time) {
		t.Helper()
		at := end.Add(retention)
		for _, k := range rsvpDataKeys(s, "e") {
			ms, err := srv.Client().Do(ctx, "PEXPIRETIME", k).Int64()
			if err != nil || ms != at.UnixMilli() {
				t.Errorf("PEXPIRETIME %s = %d, %v; want %d (end + retention)", k, ms, err, at.UnixMilli())
			}
			sec, err := srv.Client().Do(ctx, "EXPIRETIME", k).Int64()
			if err != nil || sec != at.Unix() {
				t.Errorf("EXPIRETIME %s = %d, %v; want %d", k, sec, err, at.Unix())
			}
		}
		for _, k := range []string{s.recordKey("ev", "e"), s.recordKey("ev", "e") + ":audit"} {
			if ms, err := srv.Client().Do(ctx, "PEXPIRETIME", k).Int64(); err != nil || ms != -1 {
				t.Errorf("PEXPIRETIME %s = %d, %v; want -1 (kept)", k, ms, err)
			}
		}
	}
	check(e.GetEndTime().AsTime())

	// The event moves a day later: after Rebalance, so does the deletion.
	moved := e.GetEndTime().AsTime().Add(24 * time.Hour)
	if _, err := s.UpdateEvent(ctx, "events/e", func(e *rallyv1.Event) error {
		e.StartTime, e.EndTime = timestamppb.New(e.GetStartTime().AsTime().Add(24*time.Hour)), timestamppb.New(moved)
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	if err := s.Rebalance(ctx, "events/e"); err != nil {
		t.Fatal(err)
	}
	check(moved)
	// And a write after that keeps it there.
	if _, err := s.CheckInRSVP(ctx, "events/e/rsvps/a", time.Now()); err != nil {
		t.Fatal(err)
	}
	check(moved)
}

// TestRSVPDeletedAfterRetention, in real time: an event that ends in a second, kept for
// a second: its RSVP data is gone a few seconds later, and its attendance stays.
func TestRSVPDeletedAfterRetention(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	srv := redistest.Start(t)
	s := New(srv.Client(), testPrefix, WithRSVPRetention(time.Second))
	now := time.Now()
	e := storetest.Event("soon", now.Add(-time.Hour), storetest.WithCapacity(3))
	e.EndTime = timestamppb.New(now.Add(time.Second))
	if err := s.CreateEvent(ctx, e); err != nil {
		t.Fatal(err)
	}
	n := storetest.NewRSVP("soon", "a", 3)
	n.RequestKey, n.SealedToken = "key", []byte("sealed")
	if _, err := s.CreateRSVP(ctx, "events/soon", n, time.Now()); err != nil {
		t.Fatal(err)
	}
	rsvp(t, s, "soon", "b", 3) // waitlisted
	rsvp(t, s, "soon", "c", 1) // waitlisted, then cancelled
	if _, err := s.CancelRSVP(ctx, "events/soon/rsvps/c", time.Now()); err != nil {
		t.Fatal(err)
	}
	keys := rsvpDataKeys(s, "soon")
	if n, err := srv.Client().Exists(ctx, keys...).Result(); err != nil || n != int64(len(keys)) {
		t.Fatalf("%d of the %d RSVP keys exist before the end, %v", n, len(keys), err)
	}

	waitGone(t, srv.Client(), keys, now.Add(2*time.Second).Add(5*time.Second), "RSVP keys after the event's end and the retention")
	gone := time.Since(now)
	if gone < 2*time.Second-10*time.Millisecond { // end_ms rounds down to the ms

		t.Errorf("deleted %v after the start of the test, before the end plus retention (2s)", gone)
	}
	t.Logf("RSVP keys gone %v after the test started (end + retention = 2s)", gone.Round(time.Millisecond))
	if _, _, err := s.GetRSVP(ctx, "events/soon/rsvps/a"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("GetRSVP after deletion: %v, want ErrNotFound", err)
	}
	if g, w := attendance(t, s, "soon"); g != 3 || w != 3 {
		t.Errorf("attendance after deletion %d/%d, want 3/3: counts outlive the RSVPs", g, w)
	}
}

// TestRSVPKeys: every key that RSVP operations write carries the store's prefix, and
// those of an event carry its hash tag, so that each script runs on one Cluster slot.
func TestRSVPKeys(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	srv := redistest.Start(t)
	rdb := srv.Client()
	s := New(rdb, "tenant:")
	futureEvent(t, s, "kz-1", 2)
	futureEvent(t, s, "kz-2", 0)
	for _, ev := range []string{"kz-1", "kz-2"} {
		n := storetest.NewRSVP(ev, "a", 2)
		n.RequestKey = "key"
		if _, err := s.CreateRSVP(ctx, "events/"+ev, n, time.Now()); err != nil {
			t.Fatal(err)
		}
		rsvp(t, s, ev, "b", 1) // waitlisted at kz-1
		rsvp(t, s, ev, "c", 1)
		name := "new name"
		if _, err := s.UpdateRSVP(ctx, "events/"+ev+"/rsvps/b", store.RSVPChange{DisplayName: &name}, time.Now()); err != nil {
			t.Fatal(err)
		}
		if _, err := s.CancelRSVP(ctx, "events/"+ev+"/rsvps/c", time.Now()); err != nil {
			t.Fatal(err)
		}
		if _, err := s.CheckInRSVP(ctx, "events/"+ev+"/rsvps/a", time.Now()); err != nil {
			t.Fatal(err)
		}
		if err := s.Rebalance(ctx, "events/"+ev); err != nil {
			t.Fatal(err)
		}
		if err := s.AppendAudit(ctx, "events/"+ev, &rallyv1.AuditEntry{Actor: "admin"}); err != nil {
			t.Fatal(err)
		}
	}
	keys, err := rdb.Keys(ctx, "*").Result()
	if err != nil {
		t.Fatal(err)
	}
	perEvent := map[string][]string{}
	for _, k := range keys {
		rest, ok := strings.CutPrefix(k, "tenant:")
		if !ok {
			t.Errorf("key %q lacks the prefix", k)
			continue
		}
		if strings.HasPrefix(rest, "{idx}:") {
			continue // the event indexes
		}
		tag, _, ok := strings.Cut(rest, "}")
		id, isEvent := strings.CutPrefix(tag, "{ev:")
		if !ok || !isEvent {
			t.Errorf("key %q has neither an event's hash tag nor {idx}", k)
			continue
		}
		perEvent[id] = append(perEvent[id], k)
	}
	// kz-1 has every kind of key: the event, RSVP records (with the token and request
	// maps), the three state indexes (someone was waitlisted) and the audit log. kz-2
	// never had a waitlist. (No rsvp:all: no longer written.)
	for ev, n := range map[string]int{"kz-1": 6, "kz-2": 5} {
		if len(perEvent[ev]) != n {
			t.Errorf("%d keys with the hash tag of %s, want %d: %v", len(perEvent[ev]), ev, n, perEvent[ev])
		}
	}
}

// TestRSVPCommands: an RSVP write is one command (its script), a read of an RSVP or a
// page of RSVPs costs the same whatever the number of RSVPs, and GetEvent reads the
// attendance in the same command as the event.
func TestRSVPCommands(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	s, rdb := newStore(t)
	counter := &commandCounter{}
	rdb.AddHook(counter)
	futureEvent(t, s, "e", 0)
	seed := func(from, to int) {
		t.Helper()
		for i := from; i < to; i++ {
			rsvp(t, s, "e", fmt.Sprintf("r%05d", i), 1)
		}
	}
	cost := func() map[string][]string {
		t.Helper()
		out := map[string][]string{}
		var err error
		out["create"] = counter.during(func() {
			_, err = s.CreateRSVP(ctx, "events/e", storetest.NewRSVP("e", fmt.Sprintf("x%d", rand.Int()), 1), time.Now())
		})
		if err != nil {
			t.Fatal(err)
		}
		out["get"] = counter.during(func() { _, _, err = s.GetRSVP(ctx, "events/e/rsvps/r00001") })
		if err != nil {
			t.Fatal(err)
		}
		var p store.Page[*rallyv1.Rsvp]
		out["list"] = counter.during(func() { p, err = s.ListRSVPs(ctx, store.RSVPQuery{Event: "events/e", State: going, PageSize: 50}) })
		if err != nil || len(p.Items) != 50 || p.NextPageToken == "" {
			t.Fatalf("list: %d items, %v", len(p.Items), err)
		}
		out["getEvent"] = counter.during(func() { _, err = s.GetEvent(ctx, "events/e") })
		if err != nil {
			t.Fatal(err)
		}
		return out
	}
	seed(0, 100)
	cost() // loads the library: the first call is FCALL, Function not found, FUNCTION LOAD, FCALL
	small := cost()
	seed(100, 3000)
	large := cost()
	if !reflect.DeepEqual(small, large) {
		t.Errorf("commands with 100 RSVPs %v, with 3000 %v", small, large)
	}
	wantCmds := map[string][]string{
		"create": {"fcall"}, "get": {"fcall"}, "list": {"zrange", "fcall"}, "getEvent": {"hmget"},
	}
	if !reflect.DeepEqual(large, wantCmds) {
		t.Errorf("commands %v, want %v", large, wantCmds)
	}
}

// TestRSVPStoredFields: the record holds the token's hash and pb, pb the personal fields
// only, and the plain record what the scripts decide on; the returned RSVP merges both.
// Three fields an RSVP without a request key, besides the expiries kept with them.
func TestRSVPStoredFields(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	s, rdb := newStore(t)
	futureEvent(t, s, "e", 0)
	n := storetest.NewRSVP("e", "a", 3)
	n.Rsvp.State, n.Rsvp.WaitlistPosition, n.Rsvp.CheckedIn = cancelled, 7, true // ignored
	now := time.Now().Truncate(time.Millisecond)
	c, err := s.CreateRSVP(ctx, "events/e", n, now)
	if err != nil {
		t.Fatal(err)
	}
	if c.Rsvp.GetState() != going || c.Rsvp.GetGuests() != 2 || c.Rsvp.GetCheckedIn() || !c.Rsvp.GetUpdateTime().AsTime().Equal(now) {
		t.Errorf("created %v", c.Rsvp)
	}
	h, err := rdb.HGetAll(ctx, s.rsvpKeys("e")[1]).Result()
	if err != nil {
		t.Fatal(err)
	}
	rec := []byte(h["a"])
	if len(rec) < 1+tokenHashLen || rec[0] != 0 || string(rec[1:1+tokenHashLen]) != string(n.TokenHash) {
		t.Fatalf("record %x: want a zero byte and the token's hash %x before pb", rec, n.TokenHash)
	}
	stored := new(rallyv1.Rsvp)
	if err := proto.Unmarshal(rec[1+tokenHashLen:], stored); err != nil {
		t.Fatal(err)
	}
	wantPB := &rallyv1.Rsvp{Name: n.Rsvp.GetName(), DisplayName: n.Rsvp.GetDisplayName(), Contact: n.Rsvp.GetContact(), CreateTime: n.Rsvp.GetCreateTime()}
	if !proto.Equal(stored, wantPB) {
		t.Errorf("pb holds %v, want only %v", stored, wantPB)
	}
	if want := fmt.Sprintf("1:2:%016x:0:%d", 1, now.UnixMilli()); h["a:s"] != want {
		t.Errorf("plain record %q, want %q", h["a:s"], want)
	}
	want := []string{"a", "a:s", "#" + string(n.TokenHash)}
	for f := range h {
		if f != "" && f[0] == '!' { // the expiries kept with the records (rsvp_lib.lua)
			continue
		}
		if !slices.Contains(want, f) {
			t.Errorf("field %q stored, want only %q and the expiries", f, want)
		}
	}
}

// TestRSVPOlderRecord: an RSVP stored before its record held the token's hash (pb alone
// in <rid>, the hash in <rid>:t) is still found by its token, read, updated, recognised
// when its create is sent again, and deleted with every field; RSVPs created next to it
// take the new form.
func TestRSVPOlderRecord(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	s, rdb := newStore(t)
	futureEvent(t, s, "e", 0)
	n := storetest.NewRSVP("e", "old", 1)
	now := time.Now().Truncate(time.Millisecond)
	if _, err := s.CreateRSVP(ctx, "events/e", n, now); err != nil {
		t.Fatal(err)
	}
	// Rewrite it as an older Rally stored it.
	records := s.rsvpKeys("e")[1]
	rec, err := rdb.HGet(ctx, records, "old").Bytes()
	if err != nil {
		t.Fatal(err)
	}
	pb, hash := splitRecord(rec)
	if hash == nil {
		t.Fatalf("record %x holds no token hash", rec)
	}
	if err := rdb.HSet(ctx, records, "old", pb, "old:t", hash).Err(); err != nil {
		t.Fatal(err)
	}

	got, err := s.FindRSVPByToken(ctx, "events/e", n.TokenHash)
	if err != nil || got.GetName() != n.Rsvp.GetName() || got.GetDisplayName() != n.Rsvp.GetDisplayName() {
		t.Fatalf("by token: %v, %v", got, err)
	}
	// The same create again (a retry): recognised by ID and token, not a collision.
	again, err := s.CreateRSVP(ctx, "events/e", n, now)
	if err != nil || again.Replayed || again.Rsvp.GetName() != n.Rsvp.GetName() {
		t.Fatalf("the create again: %+v, %v", again, err)
	}
	// Another token under the same ID is.
	other := storetest.NewRSVP("e", "old", 1)
	other.TokenHash = bytes.Repeat([]byte{7}, tokenHashLen)
	if _, err := s.CreateRSVP(ctx, "events/e", other, now); !errors.Is(err, store.ErrAlreadyExists) {
		t.Fatalf("another token under the ID: %v, want ErrAlreadyExists", err)
	}
	name := "changed"
	upd, err := s.UpdateRSVP(ctx, n.Rsvp.GetName(), store.RSVPChange{DisplayName: &name}, now)
	if err != nil || upd.GetDisplayName() != name {
		t.Fatalf("update: %v, %v", upd, err)
	}
	if rec, err := rdb.HGet(ctx, records, "old").Bytes(); err != nil || rec[0] == 0 {
		t.Fatalf("after the update the record is %x (%v), want pb alone as it was stored", rec, err)
	}
	if got, err := s.FindRSVPByToken(ctx, "events/e", n.TokenHash); err != nil || got.GetDisplayName() != name {
		t.Fatalf("by token after the update: %v, %v", got, err)
	}

	if _, err := s.CreateRSVP(ctx, "events/e", storetest.NewRSVP("e", "new", 1), now); err != nil {
		t.Fatal(err)
	}
	if _, err := s.DeleteRSVP(ctx, n.Rsvp.GetName(), now); err != nil {
		t.Fatal(err)
	}
	h, err := rdb.HGetAll(ctx, records).Result()
	if err != nil {
		t.Fatal(err)
	}
	for f := range h {
		if strings.HasPrefix(f, "old") || f == "#"+string(n.TokenHash) {
			t.Errorf("field %q left after the delete", f)
		}
	}
	if rec := []byte(h["new"]); len(rec) == 0 || rec[0] != 0 {
		t.Errorf("a new RSVP's record %x, want the new form", rec)
	}
}

// TestRSVPListAllStatesOlderIndex: RSVPs of every state list in arrival order, page by
// page, from the three state indexes (rsvp:all is no longer written); an older Rally's
// rsvp:all entries change nothing, and DeleteRSVP still takes them out.
func TestRSVPListAllStatesOlderIndex(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	s := New(redistest.Start(t).Client(), testPrefix)
	futureEvent(t, s, "e", 2)
	var ids []string
	for i := range 7 {
		id := fmt.Sprintf("r%d", i)
		rsvp(t, s, "e", id, 1) // r0, r1 going; the rest waitlisted
		ids = append(ids, id)
	}
	for _, id := range []string{"r1", "r4"} {
		if _, err := s.CancelRSVP(ctx, "events/e/rsvps/"+id, time.Now()); err != nil {
			t.Fatal(err)
		}
	}
	// What an older Rally wrote: every RSVP in rsvp:all too.
	all := s.rsvpKeys("e")[2]
	raw := readRaw(t, s, "e")
	for id, rec := range raw.records {
		if err := s.rdb.ZAdd(ctx, all, goredis.Z{Member: rec.seq + "|" + id}).Err(); err != nil {
			t.Fatal(err)
		}
	}
	var got []string
	token := ""
	for {
		p, err := s.ListRSVPs(ctx, store.RSVPQuery{Event: "events/e", PageSize: 3, PageToken: token})
		if err != nil {
			t.Fatal(err)
		}
		for _, r := range p.Items {
			_, id, _ := rsvpID(r.GetName())
			got = append(got, id)
		}
		if token = p.NextPageToken; token == "" {
			break
		}
	}
	if !slices.Equal(got, ids) {
		t.Errorf("listed %v, want %v (arrival order, every state)", got, ids)
	}
	if _, err := s.DeleteRSVP(ctx, "events/e/rsvps/r3", time.Now()); err != nil {
		t.Fatal(err)
	}
	if n, err := s.rdb.ZCard(ctx, all).Result(); err != nil || n != int64(len(ids)-1) {
		t.Errorf("rsvp:all holds %d entries after a delete, %v; want %d", n, err, len(ids)-1)
	}
}

// TestRSVPExpirySkipped: rsvp_create.lua leaves out the PEXPIREATs that the fields kept
// with the records prove done (rsvp_lib.lua's expire), yet through random creates,
// cancellations, deletions, guest changes, capacity changes and moved ends, with and
// without Rebalance after them, no data key is ever without an expiry, a create leaves
// the keys it wrote expiring at the current end plus retention, and Rebalance all of
// them.
func TestRSVPExpirySkipped(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	srv := redistest.Start(t)
	rdb := srv.Client()
	const retention = time.Hour
	s := New(rdb, testPrefix, WithRSVPRetention(retention))
	e := futureEvent(t, s, "e", 3)
	end := e.GetEndTime().AsTime()
	rng := rand.New(rand.NewPCG(1, 2))
	keys := s.rsvpKeys("e")
	expiries := func() map[string]int64 {
		out := map[string]int64{}
		for _, k := range rsvpDataKeys(s, "e") {
			ms, err := rdb.Do(ctx, "PEXPIRETIME", k).Int64()
			if err != nil {
				t.Fatal(err)
			}
			if ms == -1 {
				t.Fatalf("%s has no expiry", k)
			}
			if ms != -2 {
				out[k] = ms
			}
		}
		return out
	}
	var live []string
	next := 0
	for step := range 600 {
		switch op := rng.IntN(10); {
		case op < 5 || len(live) == 0:
			id := fmt.Sprintf("r%d", next)
			next++
			c, err := s.CreateRSVP(ctx, "events/e", storetest.NewRSVP("e", id, 1+rng.Int32N(2)), time.Now())
			if err != nil {
				t.Fatalf("step %d: %v", step, err)
			}
			live = append(live, id)
			at := end.Add(retention).UnixMilli()
			got := expiries()
			for _, k := range []string{keys[1], s.rsvpIndexKey("e", c.Rsvp.GetState())} {
				if got[k] != at {
					t.Fatalf("step %d: after a create %s expires at %d, want %d", step, k, got[k], at)
				}
			}
		case op < 7:
			i := rng.IntN(len(live))
			if _, err := s.CancelRSVP(ctx, "events/e/rsvps/"+live[i], time.Now()); err != nil {
				t.Fatalf("step %d: %v", step, err)
			}
		case op < 8:
			i := rng.IntN(len(live))
			if _, err := s.DeleteRSVP(ctx, "events/e/rsvps/"+live[i], time.Now()); err != nil {
				t.Fatalf("step %d: %v", step, err)
			}
			live = slices.Delete(live, i, i+1)
		case op < 9:
			g := rng.Int32N(3)
			i := rng.IntN(len(live))
			_, err := s.UpdateRSVP(ctx, "events/e/rsvps/"+live[i], store.RSVPChange{Guests: &g}, time.Now())
			if err != nil && !errors.Is(err, store.ErrNoRoom) && !errors.Is(err, store.ErrPartyTooLarge) && !errors.Is(err, store.ErrEventClosed) {
				t.Fatalf("step %d: %v", step, err)
			}
		default:
			// The end moves (back or forth) and the capacity changes; Rebalance, which
			// the server runs after, is left out at times, as after a crash.
			end = end.Add(time.Duration(rng.IntN(5)-2) * time.Minute)
			capacity := 2 + rng.Int32N(5) // parties of 1 or 2 people are created
			if _, err := s.UpdateEvent(ctx, "events/e", func(e *rallyv1.Event) error {
				e.EndTime, e.Capacity = timestamppb.New(end), capacity
				return nil
			}); err != nil {
				t.Fatal(err)
			}
			if rng.IntN(3) > 0 {
				if err := s.Rebalance(ctx, "events/e"); err != nil {
					t.Fatal(err)
				}
				at := end.Add(retention).UnixMilli()
				for k, ms := range expiries() {
					if ms != at {
						t.Fatalf("step %d: after Rebalance %s expires at %d, want %d", step, k, ms, at)
					}
				}
			}
		}
		expiries()
	}
}

// rsvpKeys cuts the event's keys from one string; they must be the keys rsvpIndexKey and
// recordKey spell, in the order of rsvp_lib.lua's KEYS table.
func TestRSVPKeysSpelledOnce(t *testing.T) {
	s := New(nil, "tenant:")
	want := []string{
		s.recordKey("ev", "kz-1"),
		s.recordKey("ev", "kz-1") + ":rsvp",
		s.rsvpIndexKey("kz-1", rallyv1.RsvpState_RSVP_STATE_UNSPECIFIED),
		s.rsvpIndexKey("kz-1", rallyv1.RsvpState_RSVP_STATE_GOING),
		s.rsvpIndexKey("kz-1", rallyv1.RsvpState_RSVP_STATE_WAITLISTED),
		s.rsvpIndexKey("kz-1", rallyv1.RsvpState_RSVP_STATE_CANCELLED),
	}
	got := s.rsvpKeys("kz-1")
	if !slices.Equal(got, want) {
		t.Errorf("rsvpKeys = %q, want %q", got, want)
	}
	if cap(got) <= len(got) {
		t.Errorf("rsvpKeys has no room for a change's key: cap %d", cap(got))
	}
}
