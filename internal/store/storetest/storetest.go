// Package storetest is the conformance suite of store.Store: every backend runs it from
// its own tests, so that they all behave the same way, down to ordering and page tokens.
//
//	func TestConformance(t *testing.T) {
//		storetest.Run(t, func(t *testing.T) store.Store { return memory.New() })
//	}
package storetest

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/testing/protocmp"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/google/go-cmp/cmp"

	rallyv1 "github.com/rallyhq/rally/gen/go/rally/v1"
	"github.com/rallyhq/rally/internal/store"
)

// Run runs the suite. newStore returns a new, empty store for one subtest; it may use
// t.Cleanup to release it. Subtests run in parallel, each on its own store.
func Run(t *testing.T, newStore func(t *testing.T) store.Store) {
	tests := []struct {
		name string
		fn   func(t *testing.T, s store.Store)
	}{
		{"CampaignRoundTrip", testCampaignRoundTrip},
		{"EventRoundTrip", testEventRoundTrip},
		{"AlreadyExists", testAlreadyExists},
		{"NotFound", testNotFound},
		{"UpdateCampaign", testUpdateCampaign},
		{"UpdateEventMovesIndexEntries", testUpdateEventMovesIndexEntries},
		{"MutateErrorAborts", testMutateErrorAborts},
		{"MutateMustNotRename", testMutateMustNotRename},
		{"ConcurrentUpdates", testConcurrentUpdates},
		{"EventRevision", testEventRevision},
		{"Filters", testFilters},
		{"OrderByStartTimeThenID", testOrder},
		{"TimesBefore1970", testTimesBefore1970},
		{"SubMillisecondBounds", testSubMillisecondBounds},
		{"Pagination", testPagination},
		{"PageTokenOfAnotherQuery", testPageTokenOfAnotherQuery},
		{"GarbagePageTokens", testGarbagePageTokens},
		{"ListCampaigns", testListCampaigns},
		{"InvitedCampaigns", testInvitedCampaigns},
		{"EmptyLists", testEmptyLists},
		{"Ping", testPing},
		{"Organisers", testOrganisers},
		{"APITokens", testAPITokens},
		{"OrganiserKeys", testOrganiserKeys},
		{"RSVPEnvelope", testRSVPEnvelope},
		{"RSVPIDTaken", testRSVPIDTaken},
		{"ClaimEnvelopes", testClaimEnvelopes},
		{"RSVPCreateAndGet", testRSVPCreateAndGet},
		{"RSVPWaitlistIsFirstComeFirstServed", testRSVPWaitlistFIFO},
		{"RSVPCapacityIncreasePromotes", testRSVPCapacityIncrease},
		{"RSVPGuests", testRSVPGuests},
		{"RSVPIdempotentCreate", testRSVPIdempotentCreate},
		{"RSVPCreatedAsStored", testRSVPCreatedAsStored},
		{"RSVPClosedEvents", testRSVPClosedEvents},
		{"RSVPPartyTooLarge", testRSVPPartyTooLarge},
		{"RSVPCheckIn", testRSVPCheckIn},
		{"RSVPList", testRSVPList},
		{"RSVPConcurrentCreates", testRSVPConcurrentCreates},
		{"RSVPAudit", testRSVPAudit},
		{"Announcements", testAnnouncements},
		{"SwapPublicView", testSwapPublicView},
	}
	tests = append(tests, taskTests...)
	tests = append(tests, safetyTests...)
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			tc.fn(t, newStore(t))
		})
	}
}

// base is an arbitrary reference time for the test events.
var base = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)

// Event builds a scheduled test event `events/<id>` at an embassy of Kazakhstan in Berlin,
// starting at start and lasting two hours; options change it.
func Event(id string, start time.Time, opts ...func(*rallyv1.Event)) *rallyv1.Event {
	e := &rallyv1.Event{
		Name:  "events/" + id,
		Title: "Solidarity vigil " + id,
		Venue: &rallyv1.Venue{
			Kind:               rallyv1.VenueKind_VENUE_KIND_EMBASSY,
			Country:            "DE",
			Locality:           "Berlin",
			RepresentedCountry: "KZ",
		},
		StartTime: timestamppb.New(start),
		EndTime:   timestamppb.New(start.Add(2 * time.Hour)),
		TimeZone:  "Europe/Berlin",
		State:     rallyv1.EventState_EVENT_STATE_SCHEDULED,
	}
	for _, o := range opts {
		o(e)
	}
	return e
}

// At moves the event to a venue in another place.
func At(country, locality string) func(*rallyv1.Event) {
	return func(e *rallyv1.Event) { e.Venue.Country, e.Venue.Locality = country, locality }
}

// Representing sets the state whose embassy the venue is; "" makes it another venue.
func Representing(country string) func(*rallyv1.Event) {
	return func(e *rallyv1.Event) {
		e.Venue.RepresentedCountry = country
		if country == "" {
			e.Venue.Kind = rallyv1.VenueKind_VENUE_KIND_OTHER
		}
	}
}

// InCampaign attaches the event to `campaigns/<id>`.
func InCampaign(id string) func(*rallyv1.Event) {
	return func(e *rallyv1.Event) { e.Campaign = "campaigns/" + id }
}

// Cancelled cancels the event.
func Cancelled(e *rallyv1.Event) {
	e.State = rallyv1.EventState_EVENT_STATE_CANCELLED
	e.CancelReason = "called off"
}

// Campaign builds a test campaign `campaigns/<id>` created at created.
func Campaign(id string, created time.Time) *rallyv1.Campaign {
	return &rallyv1.Campaign{
		Name:       "campaigns/" + id,
		Title:      "Campaign " + id,
		CreateTime: timestamppb.New(created),
		UpdateTime: timestamppb.New(created),
		Etag:       "1",
	}
}

func createEvents(t *testing.T, s store.Store, events ...*rallyv1.Event) {
	t.Helper()
	for _, e := range events {
		if err := s.CreateEvent(t.Context(), e); err != nil {
			t.Fatalf("CreateEvent(%s): %v", e.GetName(), err)
		}
	}
}

func createCampaigns(t *testing.T, s store.Store, campaigns ...*rallyv1.Campaign) {
	t.Helper()
	for _, c := range campaigns {
		if err := s.CreateCampaign(t.Context(), c); err != nil {
			t.Fatalf("CreateCampaign(%s): %v", c.GetName(), err)
		}
	}
}

func getEvent(t *testing.T, s store.Store, name string) *rallyv1.Event {
	t.Helper()
	e, err := s.GetEvent(t.Context(), name)
	if err != nil {
		t.Fatalf("GetEvent(%s): %v", name, err)
	}
	return e
}

// listEvents walks every page of q with the given page size and returns the IDs in order.
// It checks the page sizes: full pages while a token follows, and no empty last page
// unless the list is empty.
func listEvents(t *testing.T, s store.Store, q store.EventQuery, pageSize int) []string {
	t.Helper()
	q.PageSize = pageSize
	var ids []string
	for pages := 1; ; pages++ {
		p, err := s.ListEvents(t.Context(), q)
		if err != nil {
			t.Fatalf("ListEvents(%+v): %v", q, err)
		}
		for _, e := range p.Items {
			ids = append(ids, store.ID(e.GetName()))
		}
		if p.NextPageToken == "" {
			if len(p.Items) == 0 && pages > 1 {
				t.Errorf("ListEvents(%+v): empty last page after a token", q)
			}
			return ids
		}
		if len(p.Items) != pageSize {
			t.Errorf("ListEvents(%+v): page %d has %d items and a next page, want %d", q, pages, len(p.Items), pageSize)
		}
		if pages > 10000 {
			t.Fatalf("ListEvents(%+v): the pages do not end", q)
		}
		q.PageToken = p.NextPageToken
	}
}

func listCampaigns(t *testing.T, s store.Store, pageSize int) []string {
	t.Helper()
	q := store.CampaignQuery{PageSize: pageSize}
	var ids []string
	for pages := 1; ; pages++ {
		p, err := s.ListCampaigns(t.Context(), q)
		if err != nil {
			t.Fatalf("ListCampaigns(%+v): %v", q, err)
		}
		for _, c := range p.Items {
			ids = append(ids, store.ID(c.GetName()))
		}
		if p.NextPageToken == "" {
			return ids
		}
		if len(p.Items) != pageSize {
			t.Errorf("ListCampaigns: page %d has %d items and a next page, want %d", pages, len(p.Items), pageSize)
		}
		if pages > 10000 {
			t.Fatal("ListCampaigns: the pages do not end")
		}
		q.PageToken = p.NextPageToken
	}
}

func diffProto(want, got proto.Message) string {
	return cmp.Diff(want, got, protocmp.Transform())
}

func testCampaignRoundTrip(t *testing.T, s store.Store) {
	ctx := t.Context()
	c := &rallyv1.Campaign{
		Name:        "campaigns/kz-solidarity",
		Title:       "Solidarity with LGBTI people in Kazakhstan",
		Description: "Hold solidarity actions in front of Kazakhstan's embassies.",
		Hashtags:    []string{"#KZ", "LoveIsNotPropaganda"},
		StartTime:   timestamppb.New(base),
		EndTime:     timestamppb.New(base.Add(90 * 24 * time.Hour)),
		WebsiteUri:  "https://example.org/kz",
		Organisers:  []string{"organisers/a", "organisers/b"},
		CreateTime:  timestamppb.New(base.Add(-time.Hour)),
		UpdateTime:  timestamppb.New(base.Add(-time.Minute)),
		Etag:        "W/1",
	}
	want := proto.Clone(c).(*rallyv1.Campaign)
	if err := s.CreateCampaign(ctx, c); err != nil {
		t.Fatal(err)
	}
	c.Title = "changed by the caller after Create" // the store kept its own copy

	got, err := s.GetCampaign(ctx, want.GetName())
	if err != nil {
		t.Fatal(err)
	}
	if d := diffProto(want, got); d != "" {
		t.Errorf("GetCampaign (-want +got):\n%s", d)
	}
	got.Title = "changed by the caller after Get"
	got.Hashtags[0] = "#changed"

	p, err := s.ListCampaigns(ctx, store.CampaignQuery{PageSize: 10})
	if err != nil {
		t.Fatal(err)
	}
	if len(p.Items) != 1 {
		t.Fatalf("ListCampaigns: %d items, want 1", len(p.Items))
	}
	if d := diffProto(want, p.Items[0]); d != "" {
		t.Errorf("ListCampaigns (-want +got):\n%s", d)
	}
	p.Items[0].Organisers[0] = "organisers/changed"

	upd, err := s.UpdateCampaign(ctx, want.GetName(), func(c *rallyv1.Campaign) error { return nil })
	if err != nil {
		t.Fatal(err)
	}
	upd.Title = "changed by the caller after Update"

	got, err = s.GetCampaign(ctx, want.GetName())
	if err != nil {
		t.Fatal(err)
	}
	if d := diffProto(want, got); d != "" {
		t.Errorf("returned messages are not copies (-want +got):\n%s", d)
	}
}

func testEventRoundTrip(t *testing.T, s store.Store) {
	ctx := t.Context()
	lat, lng := 52.5200, 13.4050
	e := &rallyv1.Event{
		Name:        "events/vigil-berlin",
		Campaign:    "campaigns/kz-solidarity",
		Title:       "Vigil at the embassy",
		Description: "Bring candles. Ünïcödé survives: Қазақстан.",
		Venue: &rallyv1.Venue{
			Kind:               rallyv1.VenueKind_VENUE_KIND_EMBASSY,
			RepresentedCountry: "KZ",
			AddressLines:       []string{"Nordendstraße 10", "13156 Berlin"},
			Locality:           "Berlin",
			Country:            "DE",
			Latitude:           &lat,
			Longitude:          &lng,
		},
		StartTime:              timestamppb.New(base.Add(123456789 * time.Nanosecond)),
		EndTime:                timestamppb.New(base.Add(2 * time.Hour)),
		TimeZone:               "Europe/Berlin",
		Capacity:               120,
		State:                  rallyv1.EventState_EVENT_STATE_SCHEDULED,
		CancelReason:           "",
		AttendanceVisibility:   rallyv1.AttendanceVisibility_ATTENDANCE_VISIBILITY_APPROXIMATE,
		Attendance:             &rallyv1.Attendance{Going: 12, Waitlisted: 3},
		MeetingPoint:           "North gate",
		MeetingPointRevealTime: timestamppb.New(base.Add(-time.Hour)),
		CreateTime:             timestamppb.New(base.Add(-48 * time.Hour)),
		UpdateTime:             timestamppb.New(base.Add(-24 * time.Hour)),
		Etag:                   "W/7",
	}
	want := proto.Clone(e).(*rallyv1.Event)
	if err := s.CreateEvent(ctx, e); err != nil {
		t.Fatal(err)
	}
	e.Venue.Locality = "changed by the caller after Create"

	got := getEvent(t, s, want.GetName())
	if d := diffProto(want, got); d != "" {
		t.Errorf("GetEvent (-want +got):\n%s", d)
	}
	got.Venue.Country = "FR"
	got.Venue.AddressLines[0] = "changed"

	p, err := s.ListEvents(ctx, store.EventQuery{PageSize: 10})
	if err != nil {
		t.Fatal(err)
	}
	if len(p.Items) != 1 {
		t.Fatalf("ListEvents: %d items, want 1", len(p.Items))
	}
	if d := diffProto(want, p.Items[0]); d != "" {
		t.Errorf("ListEvents (-want +got):\n%s", d)
	}
	p.Items[0].Attendance.Going = 1000

	var seen *rallyv1.Event
	upd, err := s.UpdateEvent(ctx, want.GetName(), func(e *rallyv1.Event) error {
		seen = e
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	want.Revision++ // every update is one revision up (testEventRevision)
	if d := diffProto(want, seen); d != "" {
		t.Errorf("mutate got (-want +got):\n%s", d)
	}
	upd.Title = "changed by the caller after Update"
	seen.Capacity = 1 // mutate's argument is not the store's either

	if d := diffProto(want, getEvent(t, s, want.GetName())); d != "" {
		t.Errorf("returned messages are not copies (-want +got):\n%s", d)
	}
}

func testAlreadyExists(t *testing.T, s store.Store) {
	ctx := t.Context()
	createEvents(t, s, Event("one", base))
	createCampaigns(t, s, Campaign("one", base))

	err := s.CreateEvent(ctx, Event("one", base.Add(time.Hour), At("FR", "Paris")))
	if !errors.Is(err, store.ErrAlreadyExists) {
		t.Errorf("CreateEvent of a taken name: %v, want ErrAlreadyExists", err)
	}
	if err != nil && !strings.Contains(err.Error(), "events/one") {
		t.Errorf("error %q does not name the event", err)
	}
	err = s.CreateCampaign(ctx, Campaign("one", base.Add(time.Hour)))
	if !errors.Is(err, store.ErrAlreadyExists) {
		t.Errorf("CreateCampaign of a taken name: %v, want ErrAlreadyExists", err)
	}

	// The first ones are intact, and listed once.
	if d := diffProto(Event("one", base), getEvent(t, s, "events/one")); d != "" {
		t.Errorf("event changed by a failed create (-want +got):\n%s", d)
	}
	if got := listEvents(t, s, store.EventQuery{ShowCancelled: true}, 100); !slices.Equal(got, []string{"one"}) {
		t.Errorf("ListEvents = %v, want [one]", got)
	}
	if got := listEvents(t, s, store.EventQuery{Country: "FR"}, 100); len(got) != 0 {
		t.Errorf("ListEvents(FR) = %v, want none", got)
	}
	if got := listCampaigns(t, s, 100); !slices.Equal(got, []string{"one"}) {
		t.Errorf("ListCampaigns = %v, want [one]", got)
	}
}

func testNotFound(t *testing.T, s store.Store) {
	ctx := t.Context()
	// Another resource exists, so that "empty store" is not the only case.
	createEvents(t, s, Event("other", base))
	createCampaigns(t, s, Campaign("other", base))

	called := false
	checks := []struct {
		op  string
		err error
	}{
		{"GetEvent", func() error { _, err := s.GetEvent(ctx, "events/missing"); return err }()},
		{"GetCampaign", func() error { _, err := s.GetCampaign(ctx, "campaigns/missing"); return err }()},
		{"UpdateEvent", func() error {
			_, err := s.UpdateEvent(ctx, "events/missing", func(*rallyv1.Event) error { called = true; return nil })
			return err
		}()},
		{"UpdateCampaign", func() error {
			_, err := s.UpdateCampaign(ctx, "campaigns/missing", func(*rallyv1.Campaign) error { called = true; return nil })
			return err
		}()},
	}
	for _, c := range checks {
		if !errors.Is(c.err, store.ErrNotFound) {
			t.Errorf("%s of a missing name: %v, want ErrNotFound", c.op, c.err)
		} else if !strings.Contains(c.err.Error(), "missing") {
			t.Errorf("%s: error %q does not name the resource", c.op, c.err)
		}
	}
	if called {
		t.Error("mutate called for a missing resource")
	}
	if _, err := s.GetEvent(ctx, "events/missing"); err == nil {
		t.Error("an update of a missing event created it")
	}
}

func testUpdateCampaign(t *testing.T, s store.Store) {
	ctx := t.Context()
	createCampaigns(t, s, Campaign("a", base), Campaign("b", base.Add(time.Hour)), Campaign("c", base.Add(2*time.Hour)))

	got, err := s.UpdateCampaign(ctx, "campaigns/a", func(c *rallyv1.Campaign) error {
		c.Title = "New title"
		c.Hashtags = append(c.Hashtags, "#new")
		c.Etag = "2"
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	want := Campaign("a", base)
	want.Title, want.Hashtags, want.Etag = "New title", []string{"#new"}, "2"
	if d := diffProto(want, got); d != "" {
		t.Errorf("UpdateCampaign returned (-want +got):\n%s", d)
	}
	stored, err := s.GetCampaign(ctx, "campaigns/a")
	if err != nil {
		t.Fatal(err)
	}
	if d := diffProto(want, stored); d != "" {
		t.Errorf("GetCampaign after update (-want +got):\n%s", d)
	}

	// The list follows a change of the sort key.
	if _, err := s.UpdateCampaign(ctx, "campaigns/a", func(c *rallyv1.Campaign) error {
		c.CreateTime = timestamppb.New(base.Add(3 * time.Hour))
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	if got := listCampaigns(t, s, 100); !slices.Equal(got, []string{"b", "c", "a"}) {
		t.Errorf("ListCampaigns = %v, want [b c a]", got)
	}
}

func testUpdateEventMovesIndexEntries(t *testing.T, s store.Store) {
	// One store for all cases: each case has its own event, next to the others, so this
	// also checks that an update leaves the other events' entries alone.
	type query = store.EventQuery
	cases := []struct {
		name    string
		mutates []func(*rallyv1.Event)
		gone    []query // listed the event before, must not after
		now     []query // must list it after
	}{
		{
			name:    "country",
			mutates: []func(*rallyv1.Event){At("FR", "Berlin")},
			gone:    []query{{Country: "DE"}, {Country: "DE", Locality: "Berlin"}},
			now:     []query{{Country: "FR"}, {Country: "FR", Locality: "berlin"}, {}},
		},
		{
			name:    "locality",
			mutates: []func(*rallyv1.Event){At("DE", "Hamburg")},
			gone:    []query{{Locality: "Berlin"}, {Country: "DE", Locality: "Berlin", RepresentedCountry: "KZ"}},
			now:     []query{{Locality: "HAMBURG"}, {Country: "DE", Locality: "hamburg", RepresentedCountry: "KZ"}, {Country: "DE"}},
		},
		{
			name:    "represented country",
			mutates: []func(*rallyv1.Event){Representing("RU")},
			gone:    []query{{RepresentedCountry: "KZ"}},
			now:     []query{{RepresentedCountry: "RU"}, {RepresentedCountry: "RU", Country: "DE"}},
		},
		{
			name:    "no represented country",
			mutates: []func(*rallyv1.Event){Representing("")},
			gone:    []query{{RepresentedCountry: "KZ"}},
			now:     []query{{}, {Country: "DE"}},
		},
		{
			name:    "campaign",
			mutates: []func(*rallyv1.Event){InCampaign("other")},
			gone:    []query{{Campaign: "campaigns/c"}},
			now:     []query{{Campaign: "campaigns/other"}, {Campaign: "campaigns/other", Country: "DE"}},
		},
		{
			name:    "campaign removed",
			mutates: []func(*rallyv1.Event){func(e *rallyv1.Event) { e.Campaign = "" }},
			gone:    []query{{Campaign: "campaigns/c"}},
			now:     []query{{}, {Country: "DE", Locality: "Berlin"}},
		},
		{
			name: "start time",
			mutates: []func(*rallyv1.Event){func(e *rallyv1.Event) {
				e.StartTime = timestamppb.New(e.GetStartTime().AsTime().Add(30 * 24 * time.Hour))
			}},
			gone: []query{{StartBefore: base.Add(24 * time.Hour)}, {Country: "DE", StartBefore: base.Add(24 * time.Hour)}},
			now:  []query{{StartAfter: base.Add(24 * time.Hour)}, {Campaign: "campaigns/c", StartAfter: base.Add(24 * time.Hour)}},
		},
		{
			name:    "cancelled",
			mutates: []func(*rallyv1.Event){Cancelled},
			gone:    []query{{}, {Country: "DE"}, {Campaign: "campaigns/c", Locality: "Berlin"}},
			now:     []query{{ShowCancelled: true}, {Country: "DE", ShowCancelled: true}},
		},
		{
			name: "cancelled then rescheduled",
			mutates: []func(*rallyv1.Event){Cancelled, func(e *rallyv1.Event) {
				e.State = rallyv1.EventState_EVENT_STATE_SCHEDULED
			}},
			now: []query{{}, {Country: "DE"}, {ShowCancelled: true}},
		},
	}
	ctx := t.Context()
	for i := range cases {
		createEvents(t, s, Event(fmt.Sprintf("ev-%02d", i), base.Add(time.Duration(i)*time.Minute), InCampaign("c")))
	}
	for i, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			id := fmt.Sprintf("ev-%02d", i)
			for _, q := range tc.gone {
				if !slices.Contains(listEvents(t, s, q, 1000), id) {
					t.Fatalf("before the update, %+v does not list %s", q, id)
				}
			}
			want := getEvent(t, s, "events/"+id)
			for _, m := range tc.mutates {
				m(want)
				want.Revision++ // every update is one revision up (testEventRevision)
				got, err := s.UpdateEvent(ctx, "events/"+id, func(e *rallyv1.Event) error { m(e); return nil })
				if err != nil {
					t.Fatal(err)
				}
				if d := diffProto(want, got); d != "" {
					t.Errorf("UpdateEvent returned (-want +got):\n%s", d)
				}
			}
			if d := diffProto(want, getEvent(t, s, "events/"+id)); d != "" {
				t.Errorf("GetEvent after update (-want +got):\n%s", d)
			}
			for _, q := range tc.gone {
				if got := listEvents(t, s, q, 1000); slices.Contains(got, id) {
					t.Errorf("after the update, %+v lists %s: %v", q, id, got)
				}
			}
			for _, q := range tc.now {
				if got := listEvents(t, s, q, 1000); !slices.Contains(got, id) {
					t.Errorf("after the update, %+v does not list %s: %v", q, id, got)
				}
			}
		})
	}
	// No index holds an entry twice or an old position, and the events that were not
	// updated in a way that hides them are still listed.
	all := listEvents(t, s, store.EventQuery{ShowCancelled: true}, 1000)
	if len(all) != len(cases) {
		t.Errorf("ListEvents(ShowCancelled) = %v, want each of the %d events once", all, len(cases))
	}
	for _, q := range []store.EventQuery{{}, {Country: "DE"}, {Campaign: "campaigns/c"}, {Locality: "berlin"}} {
		got := listEvents(t, s, q, 3)
		seen := map[string]bool{}
		for _, id := range got {
			if seen[id] {
				t.Errorf("%+v lists %s twice: %v", q, id, got)
			}
			seen[id] = true
		}
	}
}

func testMutateErrorAborts(t *testing.T, s store.Store) {
	ctx := t.Context()
	createEvents(t, s, Event("e", base, InCampaign("c")))
	createCampaigns(t, s, Campaign("c", base))
	errBoom := errors.New("boom")

	_, err := s.UpdateEvent(ctx, "events/e", func(e *rallyv1.Event) error {
		// Changes made before the error must not be stored.
		e.Title = "half-done"
		Cancelled(e)
		At("FR", "Paris")(e)
		return errBoom
	})
	if err != errBoom {
		t.Errorf("UpdateEvent = %v, want the mutate error unchanged", err)
	}
	if d := diffProto(Event("e", base, InCampaign("c")), getEvent(t, s, "events/e")); d != "" {
		t.Errorf("event changed by an aborted update (-want +got):\n%s", d)
	}
	if got := listEvents(t, s, store.EventQuery{Country: "DE"}, 10); !slices.Equal(got, []string{"e"}) {
		t.Errorf("ListEvents(DE) = %v, want [e]", got)
	}
	if got := listEvents(t, s, store.EventQuery{Country: "FR", ShowCancelled: true}, 10); len(got) != 0 {
		t.Errorf("ListEvents(FR) = %v, want none", got)
	}

	_, err = s.UpdateCampaign(ctx, "campaigns/c", func(c *rallyv1.Campaign) error {
		c.Title = "half-done"
		return errBoom
	})
	if err != errBoom {
		t.Errorf("UpdateCampaign = %v, want the mutate error unchanged", err)
	}
	c, err := s.GetCampaign(ctx, "campaigns/c")
	if err != nil {
		t.Fatal(err)
	}
	if d := diffProto(Campaign("c", base), c); d != "" {
		t.Errorf("campaign changed by an aborted update (-want +got):\n%s", d)
	}
}

func testMutateMustNotRename(t *testing.T, s store.Store) {
	ctx := t.Context()
	createEvents(t, s, Event("e", base))
	createCampaigns(t, s, Campaign("c", base))
	if _, err := s.UpdateEvent(ctx, "events/e", func(e *rallyv1.Event) error {
		e.Name = "events/renamed"
		return nil
	}); err == nil {
		t.Error("UpdateEvent renamed the event")
	}
	if _, err := s.UpdateCampaign(ctx, "campaigns/c", func(c *rallyv1.Campaign) error {
		c.Name = "campaigns/renamed"
		return nil
	}); err == nil {
		t.Error("UpdateCampaign renamed the campaign")
	}
	if _, err := s.GetEvent(ctx, "events/renamed"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("GetEvent(events/renamed) = %v, want ErrNotFound", err)
	}
	if d := diffProto(Event("e", base), getEvent(t, s, "events/e")); d != "" {
		t.Errorf("event changed by a rename (-want +got):\n%s", d)
	}
	if got := listEvents(t, s, store.EventQuery{}, 10); !slices.Equal(got, []string{"e"}) {
		t.Errorf("ListEvents = %v, want [e]", got)
	}
}

// testConcurrentUpdates proves the compare-and-set: with lost updates the total would be
// less than the number of increments.
func testConcurrentUpdates(t *testing.T, s store.Store) {
	const n = 50
	ctx := t.Context()
	createEvents(t, s, Event("busy", base))
	createCampaigns(t, s, Campaign("busy", base))
	var wg sync.WaitGroup
	errs := make(chan error, 2*n)
	for range n {
		wg.Go(func() {
			_, err := s.UpdateEvent(ctx, "events/busy", func(e *rallyv1.Event) error {
				e.Capacity++
				return nil
			})
			errs <- err
		})
		wg.Go(func() {
			_, err := s.UpdateCampaign(ctx, "campaigns/busy", func(c *rallyv1.Campaign) error {
				c.Hashtags = append(c.Hashtags, fmt.Sprintf("#t%d", len(c.Hashtags)))
				return nil
			})
			errs <- err
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Errorf("concurrent update: %v", err)
		}
	}
	if got := getEvent(t, s, "events/busy").GetCapacity(); got != n {
		t.Errorf("capacity after %d concurrent increments = %d", n, got)
	}
	c, err := s.GetCampaign(ctx, "campaigns/busy")
	if err != nil {
		t.Fatal(err)
	}
	if got := len(c.GetHashtags()); got != n {
		t.Errorf("%d hashtags after %d concurrent appends", got, n)
	}
	if got := listEvents(t, s, store.EventQuery{}, 10); !slices.Equal(got, []string{"busy"}) {
		t.Errorf("ListEvents = %v, want [busy]", got)
	}
}

// filterEvents are the events of the filter tests, in list order (start time, then ID).
func filterEvents() []*rallyv1.Event {
	h := time.Hour
	return []*rallyv1.Event{
		Event("g", base.Add(-24*h), InCampaign("c2")),
		Event("a", base, InCampaign("c1")),
		Event("b", base.Add(h), InCampaign("c1"), At("DE", "  BERLIN "), Representing("RU")),
		Event("f", base.Add(h), InCampaign("c2"), At("GB", "London"), Representing("GE")),
		Event("c", base.Add(2*h), InCampaign("c2"), At("FR", "Paris")),
		Event("d", base.Add(3*h), At("DE", "Munich")),
		Event("e", base.Add(4*h), InCampaign("c1"), At("FR", "Paris"), Cancelled),
		Event("h", base.Add(5*h), InCampaign("c1"), At("US", "New York"), Representing("")),
	}
}

func testFilters(t *testing.T, s store.Store) {
	h := time.Hour
	events := filterEvents()
	// Create in an order unlike the list order.
	for _, i := range []int{5, 0, 7, 2, 4, 1, 6, 3} {
		createEvents(t, s, events[i])
	}
	cases := []struct {
		name string
		q    store.EventQuery
		want string // IDs in order
	}{
		{"none", store.EventQuery{}, "g a b f c d h"},
		{"show cancelled", store.EventQuery{ShowCancelled: true}, "g a b f c d e h"},
		{"campaign", store.EventQuery{Campaign: "campaigns/c1"}, "a b h"},
		{"campaign with cancelled", store.EventQuery{Campaign: "campaigns/c1", ShowCancelled: true}, "a b e h"},
		{"unknown campaign", store.EventQuery{Campaign: "campaigns/none"}, ""},
		{"country", store.EventQuery{Country: "DE"}, "g a b d"},
		{"country only cancelled", store.EventQuery{Country: "FR"}, "c"},
		{"country with cancelled", store.EventQuery{Country: "FR", ShowCancelled: true}, "c e"},
		{"unknown country", store.EventQuery{Country: "XX"}, ""},
		{"locality", store.EventQuery{Locality: "Berlin"}, "g a b"},
		{"locality lower case", store.EventQuery{Locality: "berlin"}, "g a b"},
		{"locality spaced upper case", store.EventQuery{Locality: " BERLIN"}, "g a b"},
		{"locality of two words", store.EventQuery{Locality: "new  york"}, "h"},
		{"represented country", store.EventQuery{RepresentedCountry: "KZ"}, "g a c d"},
		{"represented country with cancelled", store.EventQuery{RepresentedCountry: "KZ", ShowCancelled: true}, "g a c d e"},
		{"start after is inclusive", store.EventQuery{StartAfter: base.Add(h)}, "b f c d h"},
		{"start before is exclusive", store.EventQuery{StartBefore: base.Add(h)}, "g a"},
		{"time window", store.EventQuery{StartAfter: base, StartBefore: base.Add(3 * h)}, "a b f c"},
		{"empty time window", store.EventQuery{StartAfter: base.Add(h / 2), StartBefore: base.Add(h)}, ""},
		{"campaign and country", store.EventQuery{Campaign: "campaigns/c2", Country: "DE"}, "g"},
		{"country and locality", store.EventQuery{Country: "DE", Locality: "munich"}, "d"},
		{"locality of another country", store.EventQuery{Country: "DE", Locality: "Paris"}, ""},
		{"all four", store.EventQuery{Campaign: "campaigns/c1", Country: "DE", Locality: "berlin", RepresentedCountry: "RU"}, "b"},
		{"campaign, represented country and time", store.EventQuery{Campaign: "campaigns/c1", RepresentedCountry: "KZ", StartAfter: base.Add(h)}, ""},
		{"campaign and time", store.EventQuery{Campaign: "campaigns/c1", StartAfter: base.Add(h)}, "b h"},
		{"country, cancelled and time", store.EventQuery{Country: "FR", ShowCancelled: true, StartAfter: base.Add(3 * h)}, "e"},
		{"everything", store.EventQuery{
			Campaign: "campaigns/c2", Country: "DE", Locality: "BERLIN", RepresentedCountry: "KZ",
			StartAfter: base.Add(-25 * h), StartBefore: base, ShowCancelled: true,
		}, "g"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			want := strings.Fields(tc.want)
			for _, size := range []int{1000, 1} {
				got := listEvents(t, s, tc.q, size)
				if !slices.Equal(got, want) && !(len(got) == 0 && len(want) == 0) {
					t.Errorf("page size %d: got %v, want %v", size, got, want)
				}
			}
		})
	}
}

func testOrder(t *testing.T, s store.Store) {
	// Several events at the same time are ordered by ID, whatever the creation order.
	var events []*rallyv1.Event
	for _, id := range []string{"m", "b", "z", "a", "k"} {
		events = append(events, Event(id, base))
	}
	events = append(events,
		Event("y", base.Add(-time.Millisecond)),
		Event("c", base.Add(time.Millisecond)),
		Event("x", base.Add(-365*24*time.Hour)),
		Event("d", base.Add(365*24*time.Hour)),
		Event("a1", base.Add(time.Minute)),
	)
	createEvents(t, s, events...)
	want := []string{"x", "y", "a", "b", "k", "m", "z", "c", "a1", "d"}
	for _, size := range []int{1000, 1, 3} {
		if got := listEvents(t, s, store.EventQuery{}, size); !slices.Equal(got, want) {
			t.Errorf("page size %d: got %v, want %v", size, got, want)
		}
	}
}

func testTimesBefore1970(t *testing.T, s store.Store) {
	epoch := time.Unix(0, 0).UTC()
	createEvents(t, s,
		Event("y2026", base),
		Event("y1970", epoch),
		Event("y1969", epoch.Add(-time.Millisecond)),
		Event("y1960", time.Date(1960, 1, 1, 0, 0, 0, 0, time.UTC)),
		Event("y1900", time.Date(1900, 6, 1, 0, 0, 0, 0, time.UTC)),
		Event("y1970b", epoch.Add(time.Millisecond)),
	)
	if got, want := listEvents(t, s, store.EventQuery{}, 1000), []string{"y1900", "y1960", "y1969", "y1970", "y1970b", "y2026"}; !slices.Equal(got, want) {
		t.Errorf("ListEvents = %v, want %v", got, want)
	}
	q := store.EventQuery{StartAfter: time.Date(1950, 1, 1, 0, 0, 0, 0, time.UTC), StartBefore: epoch}
	if got, want := listEvents(t, s, q, 1), []string{"y1960", "y1969"}; !slices.Equal(got, want) {
		t.Errorf("ListEvents(1950 to 1970) = %v, want %v", got, want)
	}
	q = store.EventQuery{StartAfter: epoch.Add(-time.Millisecond)}
	if got, want := listEvents(t, s, q, 2), []string{"y1969", "y1970", "y1970b", "y2026"}; !slices.Equal(got, want) {
		t.Errorf("ListEvents(from 1969-12-31T23:59:59.999) = %v, want %v", got, want)
	}
}

// testSubMillisecondBounds: the time filters are exact even though indexes keep
// milliseconds.
func testSubMillisecondBounds(t *testing.T, s store.Store) {
	us := time.Microsecond
	createEvents(t, s,
		Event("early", base.Add(300*us)),
		Event("late", base.Add(700*us)),
		Event("next", base.Add(time.Millisecond)),
		Event("before", base.Add(-300*us)),
	)
	cases := []struct {
		q    store.EventQuery
		want string
	}{
		{store.EventQuery{StartBefore: base.Add(500 * us)}, "before early"},
		{store.EventQuery{StartAfter: base.Add(500 * us)}, "late next"},
		{store.EventQuery{StartAfter: base.Add(300 * us), StartBefore: base.Add(700 * us)}, "early"},
		{store.EventQuery{StartAfter: base.Add(301 * us), StartBefore: base.Add(701 * us)}, "late"},
		{store.EventQuery{StartBefore: base}, "before"},
		{store.EventQuery{StartAfter: base.Add(-299 * us), StartBefore: base.Add(time.Millisecond)}, "early late"},
	}
	for _, tc := range cases {
		if got, want := listEvents(t, s, tc.q, 1000), strings.Fields(tc.want); !slices.Equal(got, want) {
			t.Errorf("ListEvents(%v to %v) = %v, want %v", tc.q.StartAfter, tc.q.StartBefore, got, want)
		}
	}
}

func testPagination(t *testing.T, s store.Store) {
	// 23 events: ties in start time, two countries, and a cancelled one.
	type ev struct {
		id      string
		start   time.Time
		country string
		active  bool
	}
	var all []ev
	for i := range 23 {
		e := ev{
			id:      fmt.Sprintf("p%02d", 22-i), // IDs against time order
			start:   base.Add(time.Duration(i/3) * time.Hour),
			country: "DE",
			active:  i != 11,
		}
		if i%2 == 1 {
			e.country = "FR"
		}
		all = append(all, e)
		opts := []func(*rallyv1.Event){At(e.country, "City")}
		if !e.active {
			opts = append(opts, Cancelled)
		}
		createEvents(t, s, Event(e.id, e.start, opts...))
	}
	slices.SortFunc(all, func(a, b ev) int {
		if c := a.start.Compare(b.start); c != 0 {
			return c
		}
		return strings.Compare(a.id, b.id)
	})
	expect := func(keep func(ev) bool) []string {
		var ids []string
		for _, e := range all {
			if keep(e) {
				ids = append(ids, e.id)
			}
		}
		return ids
	}
	queries := []struct {
		name string
		q    store.EventQuery
		want []string
	}{
		{"all", store.EventQuery{ShowCancelled: true}, expect(func(ev) bool { return true })},
		{"active", store.EventQuery{}, expect(func(e ev) bool { return e.active })},
		{"country", store.EventQuery{Country: "FR"}, expect(func(e ev) bool { return e.active && e.country == "FR" })},
		{"window", store.EventQuery{StartAfter: base.Add(2 * time.Hour), StartBefore: base.Add(6 * time.Hour), ShowCancelled: true},
			expect(func(e ev) bool {
				return !e.start.Before(base.Add(2*time.Hour)) && e.start.Before(base.Add(6*time.Hour))
			})},
	}
	for _, qc := range queries {
		for _, size := range []int{1, 2, 7, 1000} {
			t.Run(fmt.Sprintf("%s/size=%d", qc.name, size), func(t *testing.T) {
				if got := listEvents(t, s, qc.q, size); !slices.Equal(got, qc.want) {
					t.Errorf("got %v, want %v", got, qc.want)
				}
			})
		}
	}

	// Exact multiples: the last full page carries no token, so there is no empty page.
	p, err := s.ListEvents(t.Context(), store.EventQuery{ShowCancelled: true, PageSize: 23})
	if err != nil {
		t.Fatal(err)
	}
	if len(p.Items) != 23 || p.NextPageToken != "" {
		t.Errorf("a page of exactly all 23 events: %d items, token %q", len(p.Items), p.NextPageToken)
	}

	// The page size may change between pages of one list.
	q := store.EventQuery{ShowCancelled: true, PageSize: 5}
	var got []string
	for _, size := range []int{5, 1, 10, 100} {
		q.PageSize = size
		p, err := s.ListEvents(t.Context(), q)
		if err != nil {
			t.Fatal(err)
		}
		for _, e := range p.Items {
			got = append(got, store.ID(e.GetName()))
		}
		q.PageToken = p.NextPageToken
	}
	if want := queries[0].want; !slices.Equal(got, want) {
		t.Errorf("with changing page sizes: got %v, want %v", got, want)
	}
}

func testPageTokenOfAnotherQuery(t *testing.T, s store.Store) {
	ctx := t.Context()
	createEvents(t, s,
		Event("a", base), Event("b", base.Add(time.Hour)), Event("c", base.Add(2*time.Hour)),
		Event("d", base.Add(3*time.Hour), At("FR", "Paris")),
		Event("e", base.Add(4*time.Hour), At("FR", "Paris")),
	)
	createCampaigns(t, s, Campaign("a", base), Campaign("b", base.Add(time.Hour)))

	first := store.EventQuery{Country: "DE", PageSize: 1}
	p, err := s.ListEvents(ctx, first)
	if err != nil {
		t.Fatal(err)
	}
	if p.NextPageToken == "" {
		t.Fatal("no next page token")
	}
	token := p.NextPageToken
	if strings.ContainsAny(token, "+/=?&# ") {
		t.Errorf("page token %q is not URL-safe", token)
	}
	others := []store.EventQuery{
		{Country: "FR"},
		{},
		{Country: "DE", ShowCancelled: true},
		{Country: "DE", Locality: "Berlin"},
		{Country: "DE", RepresentedCountry: "KZ"},
		{Country: "DE", Campaign: "campaigns/a"},
		{Country: "DE", StartAfter: base},
		{Country: "DE", StartBefore: base.Add(24 * time.Hour)},
	}
	for _, q := range others {
		q.PageSize, q.PageToken = 1, token
		if _, err := s.ListEvents(ctx, q); !errors.Is(err, store.ErrInvalidPageToken) {
			t.Errorf("token of %+v reused for %+v: %v, want ErrInvalidPageToken", first, q, err)
		}
	}
	if _, err := s.ListCampaigns(ctx, store.CampaignQuery{PageSize: 1, PageToken: token}); !errors.Is(err, store.ErrInvalidPageToken) {
		t.Errorf("event token reused for ListCampaigns: %v, want ErrInvalidPageToken", err)
	}
	cp, err := s.ListCampaigns(ctx, store.CampaignQuery{PageSize: 1})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.ListEvents(ctx, store.EventQuery{PageSize: 1, PageToken: cp.NextPageToken}); !errors.Is(err, store.ErrInvalidPageToken) {
		t.Errorf("campaign token reused for ListEvents: %v, want ErrInvalidPageToken", err)
	}

	// The same query with its token continues; the locality's spelling does not matter.
	same := store.EventQuery{Country: "DE", PageSize: 5, PageToken: token}
	p, err = s.ListEvents(ctx, same)
	if err != nil {
		t.Fatalf("token reused for the same query: %v", err)
	}
	var ids []string
	for _, e := range p.Items {
		ids = append(ids, store.ID(e.GetName()))
	}
	if want := []string{"b", "c"}; !slices.Equal(ids, want) {
		t.Errorf("second page = %v, want %v", ids, want)
	}
	p, err = s.ListEvents(ctx, store.EventQuery{Locality: "BERLIN", PageSize: 1})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.ListEvents(ctx, store.EventQuery{Locality: "berlin", PageSize: 1, PageToken: p.NextPageToken}); err != nil {
		t.Errorf("token of locality BERLIN used for berlin: %v", err)
	}
}

func testGarbagePageTokens(t *testing.T, s store.Store) {
	ctx := t.Context()
	createEvents(t, s, Event("a", base), Event("b", base.Add(time.Hour)))
	createCampaigns(t, s, Campaign("a", base))
	p, err := s.ListEvents(ctx, store.EventQuery{PageSize: 1})
	if err != nil {
		t.Fatal(err)
	}
	valid := p.NextPageToken
	tokens := []string{
		"garbage",
		"!!!",
		"eyJ9",                    // base64url of `{}` cut short
		"e30",                     // base64url of `{}`
		"bnVsbA",                  // base64url of `null`
		"eyJhIjoiIiwicSI6IiJ9",    // {"a":"","q":""}
		"eyJhIjoieCIsInEiOiJ4In0", // {"a":"x","q":"x"}
		valid[:len(valid)-2],
		valid + "A",
		"=" + valid,
		strings.Repeat("A", 2000),
	}
	for _, tok := range tokens {
		if _, err := s.ListEvents(ctx, store.EventQuery{PageSize: 1, PageToken: tok}); !errors.Is(err, store.ErrInvalidPageToken) {
			t.Errorf("ListEvents with token %q: %v, want ErrInvalidPageToken", tok, err)
		}
		if _, err := s.ListCampaigns(ctx, store.CampaignQuery{PageSize: 1, PageToken: tok}); !errors.Is(err, store.ErrInvalidPageToken) {
			t.Errorf("ListCampaigns with token %q: %v, want ErrInvalidPageToken", tok, err)
		}
	}
}

func testListCampaigns(t *testing.T, s store.Store) {
	h := time.Hour
	created := map[string]time.Time{
		"k": base,
		"a": base.Add(h),
		"b": base.Add(h), // same time as a: by ID
		"z": base.Add(-h),
		"c": base.Add(48 * h),
		"o": time.Date(1969, 7, 20, 20, 17, 0, 0, time.UTC),
		"d": base.Add(h + time.Millisecond),
		"e": base.Add(h),
	}
	for _, id := range []string{"k", "a", "b", "z", "c", "o", "d", "e"} {
		createCampaigns(t, s, Campaign(id, created[id]))
	}
	want := []string{"o", "z", "k", "a", "b", "e", "d", "c"}
	for _, size := range []int{1, 2, 7, 1000} {
		if got := listCampaigns(t, s, size); !slices.Equal(got, want) {
			t.Errorf("page size %d: got %v, want %v", size, got, want)
		}
	}
}

func testEmptyLists(t *testing.T, s store.Store) {
	ctx := t.Context()
	p, err := s.ListEvents(ctx, store.EventQuery{PageSize: 10})
	if err != nil || len(p.Items) != 0 || p.NextPageToken != "" {
		t.Errorf("ListEvents of an empty store = %d items, token %q, %v", len(p.Items), p.NextPageToken, err)
	}
	c, err := s.ListCampaigns(ctx, store.CampaignQuery{PageSize: 10})
	if err != nil || len(c.Items) != 0 || c.NextPageToken != "" {
		t.Errorf("ListCampaigns of an empty store = %d items, token %q, %v", len(c.Items), c.NextPageToken, err)
	}
	// A page size below 1 is read as 1 rather than failing or listing everything.
	createEvents(t, s, Event("a", base), Event("b", base))
	p, err = s.ListEvents(ctx, store.EventQuery{})
	if err != nil || len(p.Items) != 1 || p.NextPageToken == "" {
		t.Errorf("ListEvents with page size 0 = %d items, token %q, %v; want 1 item and a token", len(p.Items), p.NextPageToken, err)
	}
}

func testPing(t *testing.T, s store.Store) {
	if err := s.Ping(t.Context()); err != nil {
		t.Errorf("Ping: %v", err)
	}
}

func testOrganisers(t *testing.T, s store.Store) {
	ctx := t.Context()
	o := &rallyv1.Organiser{Name: "organisers/alma", DisplayName: "Alma", CreateTime: timestamppb.New(base)}
	if err := s.CreateOrganiser(ctx, o); err != nil {
		t.Fatal(err)
	}
	if err := s.CreateOrganiser(ctx, o); !errors.Is(err, store.ErrAlreadyExists) {
		t.Fatalf("second create: %v, want ErrAlreadyExists", err)
	}
	got, err := s.GetOrganiser(ctx, "organisers/alma")
	if err != nil {
		t.Fatal(err)
	}
	if d := diffProto(o, got); d != "" {
		t.Errorf("organiser round trip (-want +got):\n%s", d)
	}
	if _, err := s.GetOrganiser(ctx, "organisers/nobody"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("unknown organiser: %v, want ErrNotFound", err)
	}
}

func testAPITokens(t *testing.T, s store.Store) {
	ctx := t.Context()
	tok := func(org, id string, created time.Time) *rallyv1.ApiToken {
		return &rallyv1.ApiToken{Name: "organisers/" + org + "/apiTokens/" + id, DisplayName: id, CreateTime: timestamppb.New(created)}
	}
	for _, tk := range []*rallyv1.ApiToken{
		tok("alma", "t2", base.Add(time.Minute)),
		tok("alma", "t1", base),
		tok("bota", "t3", base),
	} {
		if err := s.CreateAPIToken(ctx, tk); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.CreateAPIToken(ctx, tok("bota", "t1", base)); !errors.Is(err, store.ErrAlreadyExists) {
		t.Fatalf("token IDs are unique across organisers: %v, want ErrAlreadyExists", err)
	}
	// By bare ID, as authentication looks tokens up.
	got, err := s.GetAPIToken(ctx, "t3")
	if err != nil || got.GetName() != "organisers/bota/apiTokens/t3" {
		t.Fatalf("get by ID: %v, %v", got, err)
	}
	list, err := s.ListAPITokens(ctx, store.APITokenQuery{Organiser: "organisers/alma", PageSize: 50})
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, tk := range list.Items {
		names = append(names, store.ID(tk.GetName()))
	}
	if strings.Join(names, ",") != "t2,t1" || list.NextPageToken != "" {
		t.Errorf("alma's tokens: %v, token %q; want t2,t1 (newest first, no other organiser's) and no token", names, list.NextPageToken)
	}
	// Pages of one, with a newer token made between them: it sorts before the position.
	first, err := s.ListAPITokens(ctx, store.APITokenQuery{Organiser: "organisers/alma", PageSize: 1})
	if err != nil || len(first.Items) != 1 || store.ID(first.Items[0].GetName()) != "t2" || first.NextPageToken == "" {
		t.Fatalf("alma's first page of one: %v, %v", first, err)
	}
	if err := s.CreateAPIToken(ctx, tok("alma", "t4", base.Add(time.Hour))); err != nil {
		t.Fatal(err)
	}
	second, err := s.ListAPITokens(ctx, store.APITokenQuery{Organiser: "organisers/alma", PageSize: 1, PageToken: first.NextPageToken})
	if err != nil || len(second.Items) != 1 || store.ID(second.Items[0].GetName()) != "t1" || second.NextPageToken != "" {
		t.Errorf("alma's second page of one: %v, %v; want t1 and no token", second, err)
	}
	if _, err := s.ListAPITokens(ctx, store.APITokenQuery{Organiser: "organisers/bota", PageToken: first.NextPageToken}); !errors.Is(err, store.ErrInvalidPageToken) {
		t.Errorf("alma's page token on bota's tokens: %v, want ErrInvalidPageToken", err)
	}
	revoked, err := s.UpdateAPIToken(ctx, "organisers/alma/apiTokens/t1", func(tk *rallyv1.ApiToken) error {
		tk.RevokeTime = timestamppb.New(base.Add(time.Hour))
		return nil
	})
	if err != nil || revoked.GetRevokeTime() == nil {
		t.Fatalf("revoke: %v, %v", revoked, err)
	}
	got, err = s.GetAPIToken(ctx, "t1")
	if err != nil || got.GetRevokeTime() == nil {
		t.Fatalf("revocation not stored: %v, %v", got, err)
	}
	if _, err := s.GetAPIToken(ctx, "nope"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("unknown token: %v, want ErrNotFound", err)
	}
	if list, _ := s.ListAPITokens(ctx, store.APITokenQuery{Organiser: "organisers/nobody"}); len(list.Items) != 0 {
		t.Errorf("tokens of an organiser without any: %v", list)
	}
}
