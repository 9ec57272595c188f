package store_test

import (
	"errors"
	"fmt"
	"testing"
	"time"

	rallyv1 "github.com/rallyhq/rally/gen/go/rally/v1"
	"github.com/rallyhq/rally/internal/store"
	"github.com/rallyhq/rally/internal/store/memory"
	"github.com/rallyhq/rally/internal/store/storetest"
)

// Page tokens come from clients, who may send anything. These fuzz tests check that
// anything is either ErrInvalidPageToken (InvalidArgument on the API) or a position in
// the list it was issued for, and never a panic. `go test` runs the seeds;
// `go test -run '^$' -fuzz '^FuzzPageToken$' ./internal/store` explores.

var fuzzStart = time.Date(2030, 5, 17, 16, 0, 0, 0, time.UTC)

// fuzzQueries are lists of several kinds, each as a function from a page token to the
// range that the token selects.
var fuzzQueries = []struct {
	name  string
	rng   func(token string) (store.Range, error)
	first string // key of a typical index entry, to build seed tokens
}{
	{"events", func(tok string) (store.Range, error) { return store.EventQuery{PageToken: tok}.Range() },
		store.EventKey(storetest.Event("e1", fuzzStart))},
	{"events by country", func(tok string) (store.Range, error) {
		return store.EventQuery{Country: "DE", ShowCancelled: true, PageToken: tok}.Range()
	}, store.EventKey(storetest.Event("e2", fuzzStart))},
	{"events in a window", func(tok string) (store.Range, error) {
		return store.EventQuery{StartAfter: fuzzStart, StartBefore: fuzzStart.Add(48 * time.Hour), PageToken: tok}.Range()
	}, store.EventKey(storetest.Event("e3", fuzzStart.Add(time.Hour)))},
	{"campaigns", func(tok string) (store.Range, error) { return store.CampaignQuery{PageToken: tok}.Range() },
		store.CampaignKey(&rallyv1.Campaign{Name: "campaigns/c"})},
	{"rsvps", func(tok string) (store.Range, error) {
		return store.RSVPQuery{Event: "events/e1", PageToken: tok}.Range()
	}, store.RSVPKey(3, "r3")},
	{"waitlisted rsvps", func(tok string) (store.Range, error) {
		return store.RSVPQuery{Event: "events/e1", State: rallyv1.RsvpState_RSVP_STATE_WAITLISTED, PageToken: tok}.Range()
	}, store.RSVPKey(4, "r4")},
	{"closed tasks", func(tok string) (store.Range, error) {
		return store.TaskQuery{State: rallyv1.TaskState_TASK_STATE_CLOSED, PageToken: tok}.Range()
	}, "x"},
	{"claims", func(tok string) (store.Range, error) { return store.ClaimRange("tasks/t", tok) }, store.ClaimKey(1, "c1")},
}

// FuzzPageToken: an arbitrary token decodes to ErrInvalidPageToken or to a range of the
// same index that starts no earlier than the list's own start, ends where it ends, and
// is the range of the token that NextPageToken writes for that position (the round trip).
func FuzzPageToken(f *testing.F) {
	for _, q := range fuzzQueries {
		first, err := q.rng("")
		if err != nil {
			f.Fatal(err)
		}
		f.Add(first.NextPageToken(q.first))
		f.Add(first.NextPageToken("\xff\x00"))
	}
	for _, s := range []string{"", "not-a-token", "e30", "eyJhIjoieCJ9", "eyJhIjoiIiwicSI6IiJ9", "====", "\n", "eyJ\nhIjoieCJ9"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, token string) {
		for _, q := range fuzzQueries {
			first, err := q.rng("")
			if err != nil {
				t.Fatal(err)
			}
			r, err := q.rng(token)
			if err != nil {
				if !errors.Is(err, store.ErrInvalidPageToken) {
					t.Fatalf("%s: token %q: %v, want ErrInvalidPageToken", q.name, token, err)
				}
				continue
			}
			if token == "" {
				if r != first {
					t.Fatalf("%s: empty token gives %+v, want %+v", q.name, r, first)
				}
				continue
			}
			if r.Index != first.Index || r.Max != first.Max {
				t.Fatalf("%s: token %q moved the range to another index or end: %+v, want within %+v", q.name, token, r, first)
			}
			if r.Min == first.Min {
				continue // a position before the list's start: the list from its start
			}
			if len(r.Min) < 2 || r.Min[0] != '(' {
				t.Fatalf("%s: token %q gives lower bound %q", q.name, token, r.Min)
			}
			after := r.Min[1:]
			if first.Min != "-" && after < first.Min[1:] {
				t.Fatalf("%s: token %q widens the range: %q before %q", q.name, token, r.Min, first.Min)
			}
			again, err := q.rng(first.NextPageToken(after))
			if err != nil || again != r {
				t.Fatalf("%s: token %q gives %+v, but the token of its position gives %+v, %v", q.name, token, r, again, err)
			}
		}
	})
}

// fuzzStore is a memory store with events and RSVPs to page through.
func fuzzStore(f *testing.F) *memory.Store {
	ctx := f.Context()
	s := memory.New(memory.WithSweepInterval(0))
	f.Cleanup(func() { s.Close() })
	for i := range 7 {
		e := storetest.Event(fmt.Sprintf("e%d", i), fuzzStart.Add(time.Duration(i%4)*time.Hour), storetest.WithCapacity(3))
		if i%3 == 1 {
			e.Venue.Country = "FR"
		}
		if err := s.CreateEvent(ctx, e); err != nil {
			f.Fatal(err)
		}
	}
	for i := range 6 {
		if _, err := s.CreateRSVP(ctx, "events/e1", storetest.NewRSVP("e1", fmt.Sprintf("r%d", i), 1), fuzzStart.Add(-time.Hour)); err != nil {
			f.Fatal(err)
		}
	}
	return s
}

// FuzzListPageToken: ListEvents and ListRSVPs of the memory store, given an arbitrary page
// token and page size, return ErrInvalidPageToken or a page of the list in order, and the
// rest of the list can be read from there to its end. after is an arbitrary position
// forged into a token of the query's own list (its fingerprint is no secret), which
// random bytes would rarely reach.
func FuzzListPageToken(f *testing.F) {
	s := fuzzStore(f)
	ctx := f.Context()
	// Seeds: the real tokens of every page.
	for _, q := range []store.EventQuery{{PageSize: 2}, {Country: "DE", PageSize: 1}} {
		for {
			p, err := s.ListEvents(ctx, q)
			if err != nil {
				f.Fatal(err)
			}
			if p.NextPageToken == "" {
				break
			}
			f.Add(p.NextPageToken, "", int64(q.PageSize))
			q.PageToken = p.NextPageToken
		}
	}
	for q := (store.RSVPQuery{Event: "events/e1", PageSize: 2}); ; {
		p, err := s.ListRSVPs(ctx, q)
		if err != nil {
			f.Fatal(err)
		}
		if p.NextPageToken == "" {
			break
		}
		f.Add(p.NextPageToken, "", int64(q.PageSize))
		q.PageToken = p.NextPageToken
	}
	f.Add("", "", int64(0))
	f.Add("not-a-token", "", int64(-1))
	f.Add("eyJhIjoi_yIsInEiOiIifQ", "", int64(1<<40))
	f.Add("", store.EventKey(storetest.Event("e2", fuzzStart.Add(time.Hour))), int64(2))
	f.Add("", store.RSVPKey(2, "r"), int64(1))
	f.Add("", "\xff", int64(3))
	f.Add("", "0", int64(3))

	// forge returns a token of q's own list that points after after, or token unchanged
	// when after is empty.
	forge := func(t *testing.T, token, after string, r func() (store.Range, error)) string {
		if after == "" {
			return token
		}
		first, err := r()
		if err != nil {
			t.Fatal(err)
		}
		return first.NextPageToken(after)
	}

	f.Fuzz(func(t *testing.T, token, after string, pageSize int64) {
		size := int(max(min(pageSize, 1<<20), -1<<20))
		events := []store.EventQuery{
			{PageToken: token, PageSize: size},
			{Country: "DE", PageToken: token, PageSize: size},
			{StartAfter: fuzzStart.Add(time.Hour), PageToken: token, PageSize: size},
		}
		for _, q := range events {
			q.PageToken = forge(t, token, after, store.EventQuery{Country: q.Country, StartAfter: q.StartAfter}.Range)
			key := func(e *rallyv1.Event) string { return store.EventKey(e) }
			walk(t, "ListEvents", q.PageToken, key, q.Matches, func(tok string) (store.Page[*rallyv1.Event], error) {
				q.PageToken = tok
				return s.ListEvents(ctx, q)
			})
		}
		for _, state := range []rallyv1.RsvpState{rallyv1.RsvpState_RSVP_STATE_UNSPECIFIED, rallyv1.RsvpState_RSVP_STATE_WAITLISTED} {
			q := store.RSVPQuery{Event: "events/e1", State: state, PageSize: size}
			q.PageToken = forge(t, token, after, store.RSVPQuery{Event: q.Event, State: state}.Range)
			key := func(r *rallyv1.Rsvp) string { return r.GetName() }
			match := func(r *rallyv1.Rsvp) bool {
				return r != nil && (state == rallyv1.RsvpState_RSVP_STATE_UNSPECIFIED || r.GetState() == state)
			}
			walk(t, "ListRSVPs", q.PageToken, key, match, func(tok string) (store.Page[*rallyv1.Rsvp], error) {
				q.PageToken = tok
				return s.ListRSVPs(ctx, q)
			})
		}
	})
}

// walk lists from token to the end of the list: the first page is ErrInvalidPageToken or
// a page, every item matches the query, and no item comes twice.
func walk[T any](t *testing.T, what, token string, key func(T) string, match func(T) bool, list func(string) (store.Page[T], error)) {
	t.Helper()
	seen := map[string]bool{}
	for pages := 0; ; pages++ {
		if pages > 100 {
			t.Fatalf("%s from token %q: more than 100 pages", what, token)
		}
		p, err := list(token)
		if err != nil {
			if pages == 0 && errors.Is(err, store.ErrInvalidPageToken) {
				return
			}
			t.Fatalf("%s: token %q: %v", what, token, err)
		}
		for _, it := range p.Items {
			if !match(it) {
				t.Fatalf("%s: token %q gave an item outside the query: %v", what, token, it)
			}
			if k := key(it); seen[k] {
				t.Fatalf("%s: token %q gave %s twice", what, token, k)
			} else {
				seen[k] = true
			}
		}
		if p.NextPageToken == "" {
			return
		}
		token = p.NextPageToken
	}
}
