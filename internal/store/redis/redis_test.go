package redis

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	goredis "github.com/redis/go-redis/v9"
	"google.golang.org/protobuf/types/known/timestamppb"

	rallyv1 "github.com/rallyhq/rally/gen/go/rally/v1"
	"github.com/rallyhq/rally/internal/redistest"
	"github.com/rallyhq/rally/internal/store"
	"github.com/rallyhq/rally/internal/store/storetest"
)

const testPrefix = "rally-test:"

var base = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)

func newStore(t *testing.T) (*Store, *goredis.Client) {
	t.Helper()
	srv := redistest.Start(t)
	return New(srv.Client(), testPrefix), srv.Client()
}

func TestConformance(t *testing.T) {
	// The suite plays on a fixed calendar (its events are in March 2026), while Redis
	// deletes an event's RSVPs by its own clock at the event's end plus the retention:
	// with the default retention they would be gone as soon as written. A retention that
	// reaches a year past today keeps them for the suite; deletion has its own tests.
	retention := time.Since(base) + 365*24*time.Hour
	storetest.Run(t, func(t *testing.T) store.Store {
		return New(redistest.Start(t).Client(), testPrefix, WithRSVPRetention(retention))
	})
}

// ids returns the IDs of a page's events.
func ids(p store.Page[*rallyv1.Event]) []string {
	var out []string
	for _, e := range p.Items {
		out = append(out, store.ID(e.GetName()))
	}
	return out
}

// listAll walks every page of q and returns the IDs. Unlike the conformance suite's
// helper it allows short and empty pages, which stale entries cause.
func listAll(t *testing.T, s store.Store, q store.EventQuery) []string {
	t.Helper()
	var out []string
	for range 1000 {
		p, err := s.ListEvents(t.Context(), q)
		if err != nil {
			t.Fatalf("ListEvents(%+v): %v", q, err)
		}
		out = append(out, ids(p)...)
		if p.NextPageToken == "" {
			return out
		}
		q.PageToken = p.NextPageToken
	}
	t.Fatalf("ListEvents(%+v): the pages do not end", q)
	return nil
}

func TestKeyPrefix(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	srv := redistest.Start(t)
	rdb := srv.Client()
	a, b := New(rdb, "tenant-a:"), New(rdb, "tenant-b:")

	if err := a.CreateCampaign(ctx, storetest.Campaign("kz", base)); err != nil {
		t.Fatal(err)
	}
	for i, e := range []*rallyv1.Event{
		storetest.Event("one", base, storetest.InCampaign("kz")),
		storetest.Event("two", base.Add(time.Hour), storetest.At("FR", "Paris")),
	} {
		if err := a.CreateEvent(ctx, e); err != nil {
			t.Fatal(i, err)
		}
	}
	if _, err := a.UpdateEvent(ctx, "events/one", func(e *rallyv1.Event) error {
		storetest.Cancelled(e)
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	if _, err := a.UpdateCampaign(ctx, "campaigns/kz", func(c *rallyv1.Campaign) error {
		c.Title = "new"
		return nil
	}); err != nil {
		t.Fatal(err)
	}

	keys, err := rdb.Keys(ctx, "*").Result() // fine in a test; the store never does this
	if err != nil {
		t.Fatal(err)
	}
	if len(keys) == 0 {
		t.Fatal("no keys written")
	}
	var events int
	for _, k := range keys {
		if !strings.HasPrefix(k, "tenant-a:") {
			t.Errorf("key %q lacks the prefix", k)
		}
		if strings.HasPrefix(k, "tenant-a:{ev:") {
			events++
		}
		if !strings.HasPrefix(k, "tenant-a:{ev:") && !strings.HasPrefix(k, "tenant-a:{cp:") && !strings.HasPrefix(k, "tenant-a:{idx}:") {
			t.Errorf("key %q has none of the hash tags {ev:…}, {cp:…}, {idx}", k)
		}
	}
	if events != 2 {
		t.Errorf("%d keys with {ev:, want one per event: %v", events, keys)
	}

	// Another prefix is another, empty store on the same server.
	p, err := b.ListEvents(ctx, store.EventQuery{PageSize: 10, ShowCancelled: true})
	if err != nil || len(p.Items) != 0 {
		t.Errorf("store with another prefix lists %v, %v", ids(p), err)
	}
	if _, err := b.GetEvent(ctx, "events/one"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("store with another prefix: GetEvent = %v, want ErrNotFound", err)
	}
}

// TestRecordLayout checks the plain fields that the RSVP scripts will read.
func TestRecordLayout(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	s, rdb := newStore(t)
	e := storetest.Event("vigil", base)
	e.Capacity = 40
	if err := s.CreateEvent(ctx, e); err != nil {
		t.Fatal(err)
	}
	if _, err := s.UpdateEvent(ctx, "events/vigil", func(e *rallyv1.Event) error {
		e.Capacity = 41
		storetest.Cancelled(e)
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	got, err := rdb.HGetAll(ctx, testPrefix+"{ev:vigil}").Result()
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]string{
		"rev":      "2",
		"state":    strconv.Itoa(int(rallyv1.EventState_EVENT_STATE_CANCELLED)),
		"capacity": "41",
		"start_ms": strconv.FormatInt(base.UnixMilli(), 10),
		"end_ms":   strconv.FormatInt(base.Add(2*time.Hour).UnixMilli(), 10),
	}
	for k, v := range want {
		if got[k] != v {
			t.Errorf("field %s = %q, want %q", k, got[k], v)
		}
	}
	if got["pb"] == "" {
		t.Error("no pb field")
	}
	m, err := rdb.HGetAll(ctx, testPrefix+"{idx}:m:ev:vigil").Result()
	if err != nil {
		t.Fatal(err)
	}
	if m["rev"] != "2" || m["key"] != store.EventKey(e) {
		t.Errorf("membership = %v, want rev 2 and key %q", m, store.EventKey(e))
	}
}

// commandCounter is a go-redis hook that records the commands sent while it is on.
type commandCounter struct {
	mu    sync.Mutex
	on    bool
	names []string
}

func (c *commandCounter) record(cmds ...goredis.Cmder) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if !c.on {
		return
	}
	for _, cmd := range cmds {
		name := strings.ToLower(cmd.Name())
		switch name {
		case "hello", "client", "auth", "select":
			// Sent by go-redis when it opens a new connection, which depends on the
			// state of its pool, not on the store.
			continue
		}
		c.names = append(c.names, name)
	}
}

func (c *commandCounter) DialHook(next goredis.DialHook) goredis.DialHook { return next }

func (c *commandCounter) ProcessHook(next goredis.ProcessHook) goredis.ProcessHook {
	return func(ctx context.Context, cmd goredis.Cmder) error {
		c.record(cmd)
		return next(ctx, cmd)
	}
}

func (c *commandCounter) ProcessPipelineHook(next goredis.ProcessPipelineHook) goredis.ProcessPipelineHook {
	return func(ctx context.Context, cmds []goredis.Cmder) error {
		c.record(cmds...)
		return next(ctx, cmds)
	}
}

// during returns the commands that f sends.
func (c *commandCounter) during(f func()) []string {
	c.mu.Lock()
	c.on, c.names = true, nil
	c.mu.Unlock()
	f()
	c.mu.Lock()
	defer c.mu.Unlock()
	c.on = false
	return c.names
}

// TestPageCostIndependentOfSize checks the promise of store.Store.ListEvents: a page
// costs the same number of commands with 100 events as with 20,000, and no command
// scans, intersects or sorts.
func TestPageCostIndependentOfSize(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	s, rdb := newStore(t)
	counter := &commandCounter{}
	rdb.AddHook(counter)

	seeded := 0
	seed := func(n int) {
		t.Helper()
		start := time.Now()
		// Concurrent creates through the store itself: each is two round trips, which
		// one connection would do in sequence.
		const workers = 32
		var (
			next atomic.Int64
			wg   sync.WaitGroup
			mu   sync.Mutex
			errs []error
		)
		next.Store(int64(seeded))
		for range workers {
			wg.Go(func() {
				for {
					i := int(next.Add(1) - 1)
					if i >= n {
						return
					}
					e := storetest.Event(fmt.Sprintf("s%05d", i), base.Add(time.Duration(i)*time.Minute))
					if i%5 == 0 {
						storetest.At("FR", "Paris")(e)
					}
					if err := s.CreateEvent(ctx, e); err != nil {
						mu.Lock()
						errs = append(errs, err)
						mu.Unlock()
						return
					}
				}
			})
		}
		wg.Wait()
		if err := errors.Join(errs...); err != nil {
			t.Fatal(err)
		}
		t.Logf("seeded events %d to %d in %v", seeded, n, time.Since(start).Round(time.Millisecond))
		seeded = n
	}

	queries := []struct {
		name string
		q    store.EventQuery
	}{
		{"no filter", store.EventQuery{PageSize: 50}},
		{"country", store.EventQuery{PageSize: 50, Country: "DE"}},
		{"country, locality and time", store.EventQuery{PageSize: 50, Country: "DE", Locality: "berlin", StartAfter: base.Add(10 * time.Minute)}},
	}
	// cost lists the first page of each query and returns the commands of each.
	cost := func() [][]string {
		t.Helper()
		var out [][]string
		for _, qc := range queries {
			var p store.Page[*rallyv1.Event]
			var err error
			cmds := counter.during(func() { p, err = s.ListEvents(ctx, qc.q) })
			if err != nil {
				t.Fatal(err)
			}
			if len(p.Items) != 50 || p.NextPageToken == "" {
				t.Fatalf("%s: %d items, token %q; want a full page and more", qc.name, len(p.Items), p.NextPageToken)
			}
			for _, c := range cmds {
				for _, bad := range []string{"scan", "keys", "zinter", "zunion", "zdiff", "sort"} {
					if strings.HasPrefix(c, bad) || strings.HasSuffix(c, bad) {
						t.Errorf("%s: command %s", qc.name, c)
					}
				}
			}
			out = append(out, cmds)
		}
		return out
	}

	seed(100)
	small := cost()
	seed(20000)
	large := cost()
	for i, qc := range queries {
		if !slices.Equal(small[i], large[i]) {
			t.Errorf("%s: %d commands with 100 events, %d with 20000", qc.name, len(small[i]), len(large[i]))
		}
		// One range read and one pipelined read per event of the page.
		if len(small[i]) > 51 {
			t.Errorf("%s: %d commands for a page of 50: %v", qc.name, len(small[i]), small[i])
		}
	}
	t.Logf("commands per page of 50: %d (%v…)", len(large[0]), large[0][:2])
}

// TestStaleIndexEntriesAreDropped: entries that an interrupted write could leave behind
// (no record, another position, another filter value) are not listed, and pagination
// still moves past them.
func TestStaleIndexEntriesAreDropped(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	s, rdb := newStore(t)
	for _, e := range []*rallyv1.Event{storetest.Event("a", base), storetest.Event("b", base.Add(2*time.Hour))} {
		if err := s.CreateEvent(ctx, e); err != nil {
			t.Fatal(err)
		}
	}
	// addStale adds the entries that an event like e would have, without its record.
	addStale := func(e *rallyv1.Event) {
		t.Helper()
		for _, idx := range store.EventIndexes(e) {
			if err := rdb.ZAdd(ctx, s.indexKey(idx), goredis.Z{Member: store.EventKey(e)}).Err(); err != nil {
				t.Fatal(err)
			}
		}
	}
	addStale(storetest.Event("ghost", base.Add(time.Hour)))                           // no record
	addStale(storetest.Event("ghost2", base.Add(-time.Hour)))                         // no record
	addStale(storetest.Event("b", base.Add(time.Hour)))                               // b's old start time
	addStale(storetest.Event("a", base, storetest.At("FR", "Paris")))                 // a's old country
	addStale(storetest.Event("a", base.Add(3*time.Hour), storetest.Representing(""))) // a's old time and venue

	cases := []struct {
		q    store.EventQuery
		want string
	}{
		{store.EventQuery{}, "a b"},
		{store.EventQuery{ShowCancelled: true}, "a b"},
		{store.EventQuery{Country: "FR"}, ""},
		{store.EventQuery{Locality: "paris"}, ""},
		{store.EventQuery{Country: "DE"}, "a b"},
		{store.EventQuery{StartAfter: base.Add(time.Minute)}, "b"},
	}
	for _, tc := range cases {
		for _, size := range []int{1, 2, 100} {
			q := tc.q
			q.PageSize = size
			if got, want := listAll(t, s, q), strings.Fields(tc.want); !slices.Equal(got, want) {
				t.Errorf("ListEvents(%+v) = %v, want %v", q, got, want)
			}
		}
	}
}

// TestOlderIndexUpdateIsIgnored: index updates that arrive out of order converge on the
// newest revision.
func TestOlderIndexUpdateIsIgnored(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	s, rdb := newStore(t)
	v1 := storetest.Event("e", base)
	if err := s.CreateEvent(ctx, v1); err != nil {
		t.Fatal(err)
	}
	v2, err := s.UpdateEvent(ctx, "events/e", func(e *rallyv1.Event) error {
		storetest.At("FR", "Paris")(e)
		e.StartTime = timestamppb.New(base.Add(time.Hour))
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	inIndex := func(e *rallyv1.Event) bool {
		t.Helper()
		for _, idx := range store.EventIndexes(e) {
			err := rdb.ZScore(ctx, s.indexKey(idx), store.EventKey(e)).Err()
			if errors.Is(err, goredis.Nil) {
				return false
			}
			if err != nil {
				t.Fatal(err)
			}
		}
		return true
	}
	apply := func(rev int64, e *rallyv1.Event) {
		t.Helper()
		if err := s.applyIndex(ctx, "ev", "e", rev, store.EventKey(e), store.EventIndexes(e)); err != nil {
			t.Fatal(err)
		}
	}
	check := func(when string, want *rallyv1.Event, stale ...*rallyv1.Event) {
		t.Helper()
		if !inIndex(want) {
			t.Errorf("%s: the entries of %v are missing", when, want.GetVenue())
		}
		for _, e := range stale {
			for _, idx := range store.EventIndexes(e) {
				if slices.Contains(store.EventIndexes(want), idx) && store.EventKey(e) == store.EventKey(want) {
					continue
				}
				if rdb.ZScore(ctx, s.indexKey(idx), store.EventKey(e)).Err() == nil {
					t.Errorf("%s: stale entry %s in %s", when, store.EventKey(e), idx)
				}
			}
		}
	}
	check("after the update", v2, v1)

	// The create's index update, arriving late (or retried), changes nothing.
	apply(1, v1)
	check("after a late revision 1", v2, v1)
	apply(2, v1) // the same revision again, even with other content
	check("after a repeated revision 2", v2, v1)
	if got := listAll(t, s, store.EventQuery{Country: "FR", PageSize: 10}); !slices.Equal(got, []string{"e"}) {
		t.Errorf("ListEvents(FR) = %v, want [e]", got)
	}

	// Revisions 4 then 3: 4 wins.
	v3 := storetest.Event("e", base.Add(3*time.Hour), storetest.At("IT", "Rome"))
	v4 := storetest.Event("e", base.Add(4*time.Hour), storetest.At("GB", "London"))
	apply(4, v4)
	apply(3, v3)
	check("after revisions 4 then 3", v4, v1, v2, v3)
	if rev, err := rdb.HGet(ctx, s.membershipKey("ev", "e"), "rev").Result(); err != nil || rev != "4" {
		t.Errorf("membership rev = %q, %v; want 4", rev, err)
	}
}

// TestIndexRepairedByNextWrite: a record whose index update never ran (the process died
// in between) is readable but not listed, until its next update indexes it.
func TestIndexRepairedByNextWrite(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	s, _ := newStore(t)
	e := storetest.Event("orphan", base)
	args, err := record(eventKind, e)
	if err != nil {
		t.Fatal(err)
	}
	if err := createScript.Run(ctx, s.rdb, []string{s.recordKey("ev", "orphan")}, args...).Err(); err != nil {
		t.Fatal(err)
	}
	if _, err := s.GetEvent(ctx, "events/orphan"); err != nil {
		t.Fatalf("GetEvent: %v", err)
	}
	if got := listAll(t, s, store.EventQuery{PageSize: 10}); len(got) != 0 {
		t.Fatalf("ListEvents = %v before any index update", got)
	}
	if _, err := s.UpdateEvent(ctx, "events/orphan", func(e *rallyv1.Event) error { e.Title = "again"; return nil }); err != nil {
		t.Fatal(err)
	}
	if got := listAll(t, s, store.EventQuery{PageSize: 10}); !slices.Equal(got, []string{"orphan"}) {
		t.Errorf("ListEvents after an update = %v, want [orphan]", got)
	}
}

// TestRedisDown: errors from Redis are returned, not mistaken for missing resources, and
// the store works again once Redis is back (empty, as the server restarted).
func TestRedisDown(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithTimeout(t.Context(), 20*time.Second)
	defer cancel()
	srv := redistest.Start(t)
	opts, err := goredis.ParseURL(srv.URL())
	if err != nil {
		t.Fatal(err)
	}
	opts.MaxRetries = -1
	rdb := goredis.NewClient(opts)
	t.Cleanup(func() { rdb.Close() })
	s := New(rdb, testPrefix)
	if err := s.CreateEvent(ctx, storetest.Event("e", base)); err != nil {
		t.Fatal(err)
	}
	srv.Stop()
	if err := s.Ping(ctx); err == nil {
		t.Error("Ping succeeded with Redis down")
	}
	if _, err := s.GetEvent(ctx, "events/e"); err == nil || errors.Is(err, store.ErrNotFound) {
		t.Errorf("GetEvent with Redis down = %v, want a connection error", err)
	}
	if _, err := s.ListEvents(ctx, store.EventQuery{PageSize: 1}); err == nil {
		t.Error("ListEvents succeeded with Redis down")
	}
	srv.Restart(t)
	if err := s.Ping(ctx); err != nil {
		t.Errorf("Ping after restart: %v", err)
	}
	if err := s.CreateEvent(ctx, storetest.Event("e", base)); err != nil {
		t.Errorf("CreateEvent after restart (scripts reloaded by EVAL): %v", err)
	}
}
