package server_test

import (
	"context"
	"io"
	"log/slog"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/metadata"
	reflectionpb "google.golang.org/grpc/reflection/grpc_reflection_v1"
	"google.golang.org/grpc/status"
	"google.golang.org/grpc/test/bufconn"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/fieldmaskpb"
	"google.golang.org/protobuf/types/known/timestamppb"

	rallyv1 "github.com/rallyhq/rally/gen/go/rally/v1"
	"github.com/rallyhq/rally/internal/server"
	"github.com/rallyhq/rally/internal/store/memory"
)

const adminToken = "rly_admin_test-token-0123456789abcdefghijklmnopqrstuv"

// clock is a controllable time source.
type clock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *clock) Now() time.Time      { c.mu.Lock(); defer c.mu.Unlock(); return c.now }
func (c *clock) Add(d time.Duration) { c.mu.Lock(); c.now = c.now.Add(d); c.mu.Unlock() }
func newClock() *clock               { return &clock{now: time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)} }
func admin(ctx context.Context) context.Context {
	return metadata.AppendToOutgoingContext(ctx, "authorization", "Bearer "+adminToken)
}

type harness struct {
	conn      *grpc.ClientConn
	campaigns rallyv1.CampaignServiceClient
	events    rallyv1.EventServiceClient
	clock     *clock
	ctx       context.Context // anonymous
	admin     context.Context // with the admin token
}

// serve serves the real server made with opts, with its real interceptor chain, over
// bufconn, and returns a client connection to it; both end with tb.
func serve(tb testing.TB, opts server.Options) *grpc.ClientConn {
	tb.Helper()
	srv, err := server.New(opts)
	if err != nil {
		tb.Fatal(err)
	}
	lis := bufconn.Listen(1 << 20)
	go srv.GRPC.Serve(lis)
	tb.Cleanup(srv.GRPC.Stop)
	conn, err := grpc.NewClient("passthrough:///bufnet",
		grpc.WithContextDialer(func(ctx context.Context, _ string) (net.Conn, error) { return lis.DialContext(ctx) }),
		grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { conn.Close() })
	return conn
}

// newHarness serves the real server, with its real interceptor chain, over bufconn.
func newHarness(t *testing.T) *harness {
	t.Helper()
	clk := newClock()
	conn := serve(t, server.Options{Store: memory.New(), AdminToken: adminToken, Now: clk.Now,
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	t.Cleanup(cancel)
	return &harness{
		conn:      conn,
		campaigns: rallyv1.NewCampaignServiceClient(conn),
		events:    rallyv1.NewEventServiceClient(conn),
		clock:     clk,
		ctx:       ctx,
		admin:     admin(ctx),
	}
}

func validCampaign() *rallyv1.Campaign {
	return &rallyv1.Campaign{
		Title:       "Solidarity with LGBTI people in Kazakhstan",
		Description: "Actions at embassies.",
		Hashtags:    []string{"#LoveIsNotPropaganda"},
		WebsiteUri:  "https://example.org/call",
	}
}

func validEvent(campaign string) *rallyv1.Event {
	start := time.Date(2026, 4, 4, 12, 0, 0, 0, time.UTC)
	return &rallyv1.Event{
		Campaign: campaign,
		Title:    "Vigil at the Embassy of Kazakhstan",
		Venue: &rallyv1.Venue{
			Kind:               rallyv1.VenueKind_VENUE_KIND_EMBASSY,
			RepresentedCountry: "KZ",
			AddressLines:       []string{"In front of the embassy"},
			Locality:           "Berlin",
			Country:            "DE",
		},
		StartTime:            timestamppb.New(start),
		EndTime:              timestamppb.New(start.Add(2 * time.Hour)),
		TimeZone:             "Europe/Berlin",
		Capacity:             100,
		AttendanceVisibility: rallyv1.AttendanceVisibility_ATTENDANCE_VISIBILITY_EXACT,
		MeetingPoint:         "Corner opposite the entrance",
	}
}

// wantCode fails unless err is a status with the code; for InvalidArgument it also
// requires a google.rpc.BadRequest naming field.
func wantCode(t *testing.T, err error, code codes.Code, field string) {
	t.Helper()
	st, ok := status.FromError(err)
	if !ok || st.Code() != code {
		t.Fatalf("got %v, want code %v", err, code)
	}
	if field == "" {
		return
	}
	if !strings.Contains(st.Message(), field) {
		t.Errorf("message %q does not name field %q", st.Message(), field)
	}
	for _, d := range st.Details() {
		if br, ok := d.(*errdetails.BadRequest); ok {
			for _, v := range br.GetFieldViolations() {
				if v.GetField() == field {
					return
				}
			}
			t.Fatalf("BadRequest %v does not name field %q", br, field)
		}
	}
	t.Fatalf("no BadRequest detail in %v", st.Proto())
}

func TestCampaignLifecycle(t *testing.T) {
	h := newHarness(t)
	in := validCampaign()
	in.Name = "campaigns/ignored"
	in.Organisers = []string{"organisers/x"}
	c, err := h.campaigns.CreateCampaign(h.admin, &rallyv1.CreateCampaignRequest{Campaign: in})
	if err != nil {
		t.Fatal(err)
	}
	if c.GetName() == "campaigns/ignored" || !strings.HasPrefix(c.GetName(), "campaigns/") || len(c.GetName()) != len("campaigns/")+26 {
		t.Errorf("name %q: want a server-assigned random ID", c.GetName())
	}
	if len(c.GetOrganisers()) != 0 || c.GetEtag() == "" || !c.GetCreateTime().AsTime().Equal(h.clock.Now()) {
		t.Errorf("output-only fields not set by the server: %v", c)
	}
	got, err := h.campaigns.GetCampaign(h.ctx, &rallyv1.GetCampaignRequest{Name: c.GetName()})
	if err != nil || !proto.Equal(got, c) {
		t.Fatalf("get: %v, %v; want %v", got, err, c)
	}

	h.clock.Add(time.Minute)
	upd, err := h.campaigns.UpdateCampaign(h.admin, &rallyv1.UpdateCampaignRequest{
		Campaign:   &rallyv1.Campaign{Name: c.GetName(), Description: "new", Etag: c.GetEtag()},
		UpdateMask: &fieldmaskpb.FieldMask{Paths: []string{"description"}},
	})
	if err != nil {
		t.Fatal(err)
	}
	if upd.GetDescription() != "new" || upd.GetTitle() != c.GetTitle() || upd.GetEtag() == c.GetEtag() || !upd.GetUpdateTime().AsTime().Equal(h.clock.Now()) {
		t.Errorf("update: %v", upd)
	}
	// The old etag is stale now.
	_, err = h.campaigns.UpdateCampaign(h.admin, &rallyv1.UpdateCampaignRequest{
		Campaign:   &rallyv1.Campaign{Name: c.GetName(), Title: "x", Etag: c.GetEtag()},
		UpdateMask: &fieldmaskpb.FieldMask{Paths: []string{"title"}},
	})
	wantCode(t, err, codes.Aborted, "")

	// A partial update that would make the campaign invalid is rejected, naming the field.
	_, err = h.campaigns.UpdateCampaign(h.admin, &rallyv1.UpdateCampaignRequest{
		Campaign:   &rallyv1.Campaign{Name: c.GetName()},
		UpdateMask: &fieldmaskpb.FieldMask{Paths: []string{"title"}},
	})
	wantCode(t, err, codes.InvalidArgument, "campaign.title")

	list, err := h.campaigns.ListCampaigns(h.ctx, &rallyv1.ListCampaignsRequest{})
	if err != nil || len(list.GetCampaigns()) != 1 || list.GetNextPageToken() != "" {
		t.Fatalf("list: %v, %v", list, err)
	}
}

func TestCreateWithRequestIDIsIdempotent(t *testing.T) {
	h := newHarness(t)
	req := &rallyv1.CreateEventRequest{Event: validEvent(""), RequestId: "8d3f1c2a-retry-key"}
	first, err := h.events.CreateEvent(h.admin, req)
	if err != nil {
		t.Fatal(err)
	}
	h.clock.Add(time.Second)
	second, err := h.events.CreateEvent(h.admin, req)
	if err != nil {
		t.Fatal(err)
	}
	if !proto.Equal(first, second) {
		t.Errorf("retry returned %v, want %v", second, first)
	}
	list, err := h.events.ListEvents(h.ctx, &rallyv1.ListEventsRequest{})
	if err != nil || len(list.GetEvents()) != 1 {
		t.Fatalf("want one event after a retried create, got %v, %v", list, err)
	}
	// A chosen event_id that is taken is a conflict, not a retry.
	_, err = h.events.CreateEvent(h.admin, &rallyv1.CreateEventRequest{Event: validEvent(""), EventId: "vigil-berlin"})
	if err != nil {
		t.Fatal(err)
	}
	_, err = h.events.CreateEvent(h.admin, &rallyv1.CreateEventRequest{Event: validEvent(""), EventId: "vigil-berlin"})
	wantCode(t, err, codes.AlreadyExists, "")
}

func TestEventLifecycle(t *testing.T) {
	h := newHarness(t)
	c, err := h.campaigns.CreateCampaign(h.admin, &rallyv1.CreateCampaignRequest{Campaign: validCampaign()})
	if err != nil {
		t.Fatal(err)
	}
	in := validEvent(c.GetName())
	in.State = rallyv1.EventState_EVENT_STATE_CANCELLED // output only: ignored
	in.Attendance = &rallyv1.Attendance{Going: 99}      // output only: ignored
	e, err := h.events.CreateEvent(h.admin, &rallyv1.CreateEventRequest{Event: in})
	if err != nil {
		t.Fatal(err)
	}
	if e.GetState() != rallyv1.EventState_EVENT_STATE_SCHEDULED || e.GetAttendance().GetGoing() != 0 || e.GetMeetingPoint() == "" {
		t.Errorf("created event: %v", e)
	}

	// The public never sees the meeting point.
	pub, err := h.events.GetEvent(h.ctx, &rallyv1.GetEventRequest{Name: e.GetName()})
	if err != nil {
		t.Fatal(err)
	}
	if pub.GetMeetingPoint() != "" || pub.GetMeetingPointRevealTime() != nil {
		t.Errorf("meeting point leaked to an anonymous reader: %v", pub)
	}

	// Partial update of a nested field.
	upd, err := h.events.UpdateEvent(h.admin, &rallyv1.UpdateEventRequest{
		Event:      &rallyv1.Event{Name: e.GetName(), Venue: &rallyv1.Venue{Locality: "Hamburg"}},
		UpdateMask: &fieldmaskpb.FieldMask{Paths: []string{"venue.locality"}},
	})
	if err != nil {
		t.Fatal(err)
	}
	if upd.GetVenue().GetLocality() != "Hamburg" || upd.GetVenue().GetCountry() != "DE" || upd.GetTitle() != in.GetTitle() {
		t.Errorf("update of venue.locality: %v", upd)
	}
	list, err := h.events.ListEvents(h.ctx, &rallyv1.ListEventsRequest{Locality: "hamburg", Campaign: c.GetName()})
	if err != nil || len(list.GetEvents()) != 1 {
		t.Fatalf("list by new locality: %v, %v", list, err)
	}

	// Mask paths: unknown and immutable ones are rejected; output-only ones ignored.
	for _, tc := range []struct {
		paths []string
		code  codes.Code
	}{
		{[]string{"colour"}, codes.InvalidArgument},
		{[]string{"campaign"}, codes.InvalidArgument},
		{[]string{"state"}, codes.InvalidArgument}, // ignored, leaving nothing to update
		{[]string{"state", "title"}, codes.OK},
	} {
		_, err := h.events.UpdateEvent(h.admin, &rallyv1.UpdateEventRequest{
			Event:      &rallyv1.Event{Name: e.GetName(), Title: "Renamed", State: rallyv1.EventState_EVENT_STATE_CANCELLED},
			UpdateMask: &fieldmaskpb.FieldMask{Paths: tc.paths},
		})
		if status.Code(err) != tc.code {
			t.Errorf("mask %v: got %v, want %v", tc.paths, err, tc.code)
		}
	}

	// Cancel, twice: the retry returns the same event.
	cancelled, err := h.events.CancelEvent(h.admin, &rallyv1.CancelEventRequest{Name: e.GetName(), Reason: "Storm warning"})
	if err != nil {
		t.Fatal(err)
	}
	again, err := h.events.CancelEvent(h.admin, &rallyv1.CancelEventRequest{Name: e.GetName(), Reason: "other"})
	if err != nil || !proto.Equal(cancelled, again) || again.GetCancelReason() != "Storm warning" {
		t.Fatalf("second cancel: %v, %v", again, err)
	}
	_, err = h.events.UpdateEvent(h.admin, &rallyv1.UpdateEventRequest{
		Event:      &rallyv1.Event{Name: e.GetName(), Title: "x"},
		UpdateMask: &fieldmaskpb.FieldMask{Paths: []string{"title"}},
	})
	wantCode(t, err, codes.FailedPrecondition, "")

	// Cancelled events are listed only on request.
	list, err = h.events.ListEvents(h.ctx, &rallyv1.ListEventsRequest{})
	if err != nil || len(list.GetEvents()) != 0 {
		t.Fatalf("cancelled event listed by default: %v, %v", list, err)
	}
	list, err = h.events.ListEvents(h.ctx, &rallyv1.ListEventsRequest{ShowCancelled: true})
	if err != nil || len(list.GetEvents()) != 1 {
		t.Fatalf("show_cancelled: %v, %v", list, err)
	}
}

func TestEtagOnCancel(t *testing.T) {
	h := newHarness(t)
	e, err := h.events.CreateEvent(h.admin, &rallyv1.CreateEventRequest{Event: validEvent("")})
	if err != nil {
		t.Fatal(err)
	}
	_, err = h.events.CancelEvent(h.admin, &rallyv1.CancelEventRequest{Name: e.GetName(), Etag: "stale"})
	wantCode(t, err, codes.Aborted, "")
	if _, err := h.events.CancelEvent(h.admin, &rallyv1.CancelEventRequest{Name: e.GetName(), Etag: e.GetEtag()}); err != nil {
		t.Fatal(err)
	}
}

func TestAttendanceVisibility(t *testing.T) {
	h := newHarness(t)
	for _, tc := range []struct {
		vis     rallyv1.AttendanceVisibility
		wantNil bool
		wantVis rallyv1.AttendanceVisibility
	}{
		{rallyv1.AttendanceVisibility_ATTENDANCE_VISIBILITY_EXACT, false, rallyv1.AttendanceVisibility_ATTENDANCE_VISIBILITY_EXACT},
		{rallyv1.AttendanceVisibility_ATTENDANCE_VISIBILITY_HIDDEN, true, rallyv1.AttendanceVisibility_ATTENDANCE_VISIBILITY_HIDDEN},
		{rallyv1.AttendanceVisibility_ATTENDANCE_VISIBILITY_UNSPECIFIED, false, rallyv1.AttendanceVisibility_ATTENDANCE_VISIBILITY_APPROXIMATE},
	} {
		in := validEvent("")
		in.AttendanceVisibility = tc.vis
		e, err := h.events.CreateEvent(h.admin, &rallyv1.CreateEventRequest{Event: in})
		if err != nil {
			t.Fatal(err)
		}
		pub, err := h.events.GetEvent(h.ctx, &rallyv1.GetEventRequest{Name: e.GetName()})
		if err != nil {
			t.Fatal(err)
		}
		if (pub.GetAttendance() == nil) != tc.wantNil || pub.GetAttendanceVisibility() != tc.wantVis {
			t.Errorf("visibility %v: public sees attendance %v, visibility %v", tc.vis, pub.GetAttendance(), pub.GetAttendanceVisibility())
		}
		if e.GetAttendance() == nil {
			t.Errorf("visibility %v: the organiser must always see attendance", tc.vis)
		}
	}
}

func TestValidation(t *testing.T) {
	h := newHarness(t)
	mod := func(f func(e *rallyv1.Event)) *rallyv1.Event { e := validEvent(""); f(e); return e }
	long := strings.Repeat("x", 201)
	for _, tc := range []struct {
		name  string
		event *rallyv1.Event
		id    string
		field string
	}{
		{"missing event", nil, "", "event"},
		{"empty title", mod(func(e *rallyv1.Event) { e.Title = "" }), "", "event.title"},
		{"long title", mod(func(e *rallyv1.Event) { e.Title = long }), "", "event.title"},
		{"no venue", mod(func(e *rallyv1.Event) { e.Venue = nil }), "", "event.venue"},
		{"unknown country", mod(func(e *rallyv1.Event) { e.Venue.Country = "XX" }), "", "event.venue.country"},
		{"lower-case country", mod(func(e *rallyv1.Event) { e.Venue.Country = "de" }), "", "event.venue.country"},
		{"bad represented country", mod(func(e *rallyv1.Event) { e.Venue.RepresentedCountry = "KAZ" }), "", "event.venue.represented_country"},
		{"embassy without represented country", mod(func(e *rallyv1.Event) { e.Venue.RepresentedCountry = "" }), "", "event.venue"},
		{"unspecified venue kind", mod(func(e *rallyv1.Event) { e.Venue.Kind = 0 }), "", "event.venue.kind"},
		{"unknown venue kind", mod(func(e *rallyv1.Event) { e.Venue.Kind = 42 }), "", "event.venue.kind"},
		{"latitude out of range", mod(func(e *rallyv1.Event) { lat, lng := 91.0, 0.0; e.Venue.Latitude, e.Venue.Longitude = &lat, &lng }), "", "event.venue.latitude"},
		{"latitude without longitude", mod(func(e *rallyv1.Event) { lat := 52.5; e.Venue.Latitude = &lat }), "", "event.venue"},
		{"end before start", mod(func(e *rallyv1.Event) { e.EndTime = timestamppb.New(e.StartTime.AsTime().Add(-time.Hour)) }), "", "event"},
		{"too long", mod(func(e *rallyv1.Event) { e.EndTime = timestamppb.New(e.StartTime.AsTime().Add(40 * 24 * time.Hour)) }), "", "event"},
		{"no start", mod(func(e *rallyv1.Event) { e.StartTime = nil }), "", "event.start_time"},
		{"unknown time zone", mod(func(e *rallyv1.Event) { e.TimeZone = "Europe/Atlantis" }), "", "event.time_zone"},
		{"Local time zone", mod(func(e *rallyv1.Event) { e.TimeZone = "Local" }), "", "event.time_zone"},
		{"malformed time zone", mod(func(e *rallyv1.Event) { e.TimeZone = "../etc/passwd" }), "", "event.time_zone"},
		{"negative capacity", mod(func(e *rallyv1.Event) { e.Capacity = -1 }), "", "event.capacity"},
		{"unknown visibility", mod(func(e *rallyv1.Event) { e.AttendanceVisibility = 9 }), "", "event.attendance_visibility"},
		{"bad campaign name", mod(func(e *rallyv1.Event) { e.Campaign = "events/x" }), "", "event.campaign"},
		{"missing campaign", mod(func(e *rallyv1.Event) { e.Campaign = "campaigns/nope" }), "", "event.campaign"},
		{"bad event id", validEvent(""), "Bad_ID", "event_id"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := h.events.CreateEvent(h.admin, &rallyv1.CreateEventRequest{Event: tc.event, EventId: tc.id})
			wantCode(t, err, codes.InvalidArgument, tc.field)
		})
	}
	// Nothing was created by the failed requests.
	list, err := h.events.ListEvents(h.ctx, &rallyv1.ListEventsRequest{ShowCancelled: true})
	if err != nil || len(list.GetEvents()) != 0 {
		t.Fatalf("bad requests changed the store: %v, %v", list, err)
	}

	campaignCases := []struct {
		name  string
		c     *rallyv1.Campaign
		field string
	}{
		{"http website", &rallyv1.Campaign{Title: "t", WebsiteUri: "http://example.org"}, "campaign.website_uri"},
		{"javascript website", &rallyv1.Campaign{Title: "t", WebsiteUri: "javascript:alert(1)"}, "campaign.website_uri"},
		{"bad hashtag", &rallyv1.Campaign{Title: "t", Hashtags: []string{"#no spaces"}}, "campaign.hashtags[0]"},
		{"duplicate hashtags", &rallyv1.Campaign{Title: "t", Hashtags: []string{"#a", "#a"}}, "campaign.hashtags"},
		{"end before start", &rallyv1.Campaign{Title: "t", StartTime: timestamppb.New(time.Unix(2000, 0)), EndTime: timestamppb.New(time.Unix(1000, 0))}, "campaign"},
	}
	for _, tc := range campaignCases {
		t.Run(tc.name, func(t *testing.T) {
			_, err := h.campaigns.CreateCampaign(h.admin, &rallyv1.CreateCampaignRequest{Campaign: tc.c})
			wantCode(t, err, codes.InvalidArgument, tc.field)
		})
	}

	listCases := []struct {
		name  string
		req   *rallyv1.ListEventsRequest
		field string
	}{
		{"page size too big", &rallyv1.ListEventsRequest{PageSize: 1001}, "page_size"},
		{"negative page size", &rallyv1.ListEventsRequest{PageSize: -1}, "page_size"},
		{"garbage page token", &rallyv1.ListEventsRequest{PageToken: "not-a-token"}, "page_token"},
		{"bad country filter", &rallyv1.ListEventsRequest{Country: "Germany"}, "country"},
		{"inverted window", &rallyv1.ListEventsRequest{StartAfter: timestamppb.New(time.Unix(2000, 0)), StartBefore: timestamppb.New(time.Unix(1000, 0))}, "request"},
	}
	for _, tc := range listCases {
		t.Run(tc.name, func(t *testing.T) {
			_, err := h.events.ListEvents(h.ctx, tc.req)
			wantCode(t, err, codes.InvalidArgument, tc.field)
		})
	}
	_, err = h.events.GetEvent(h.ctx, &rallyv1.GetEventRequest{Name: "campaigns/x"})
	wantCode(t, err, codes.InvalidArgument, "name")
	_, err = h.events.GetEvent(h.ctx, &rallyv1.GetEventRequest{Name: "events/unknown"})
	wantCode(t, err, codes.NotFound, "")
}

func TestPaginationThroughServer(t *testing.T) {
	h := newHarness(t)
	for i := range 7 {
		e := validEvent("")
		e.StartTime = timestamppb.New(e.GetStartTime().AsTime().Add(time.Duration(i) * time.Hour))
		e.EndTime = timestamppb.New(e.GetStartTime().AsTime().Add(time.Hour))
		if _, err := h.events.CreateEvent(h.admin, &rallyv1.CreateEventRequest{Event: e}); err != nil {
			t.Fatal(err)
		}
	}
	var seen []string
	token := ""
	for {
		page, err := h.events.ListEvents(h.ctx, &rallyv1.ListEventsRequest{PageSize: 3, PageToken: token, Country: "DE"})
		if err != nil {
			t.Fatal(err)
		}
		for _, e := range page.GetEvents() {
			seen = append(seen, e.GetName())
		}
		if token = page.GetNextPageToken(); token == "" {
			break
		}
		// A token belongs to its query.
		_, err = h.events.ListEvents(h.ctx, &rallyv1.ListEventsRequest{PageSize: 3, PageToken: token, Country: "FR"})
		wantCode(t, err, codes.InvalidArgument, "page_token")
	}
	if len(seen) != 7 {
		t.Fatalf("paged through %d events, want 7: %v", len(seen), seen)
	}
}

func TestAuthentication(t *testing.T) {
	h := newHarness(t)
	bad := metadata.AppendToOutgoingContext(h.ctx, "authorization", "Bearer rly_admin_wrong")
	malformed := metadata.AppendToOutgoingContext(h.ctx, "authorization", "Basic abc")
	for name, ctx := range map[string]context.Context{"anonymous": h.ctx, "wrong token": bad, "not bearer": malformed} {
		_, err := h.campaigns.CreateCampaign(ctx, &rallyv1.CreateCampaignRequest{Campaign: validCampaign()})
		wantCode(t, err, codes.Unauthenticated, "")
		if st, _ := status.FromError(err); strings.Contains(st.Message(), "wrong") {
			t.Errorf("%s: the error echoes the token: %q", name, st.Message())
		}
		_, err = h.events.CancelEvent(ctx, &rallyv1.CancelEventRequest{Name: "events/abc"})
		wantCode(t, err, codes.Unauthenticated, "")
	}
	// Authentication comes before validation: an anonymous invalid write learns nothing.
	_, err := h.events.CreateEvent(h.ctx, &rallyv1.CreateEventRequest{})
	wantCode(t, err, codes.Unauthenticated, "")
	// Public reads need no token, but a bad token is still refused.
	if _, err := h.campaigns.ListCampaigns(h.ctx, &rallyv1.ListCampaignsRequest{}); err != nil {
		t.Fatal(err)
	}
	_, err = h.campaigns.ListCampaigns(bad, &rallyv1.ListCampaignsRequest{})
	wantCode(t, err, codes.Unauthenticated, "")
}

func TestHealthAndReflection(t *testing.T) {
	h := newHarness(t)
	// New leaves the status to the caller, which sets it once it serves; the health
	// service itself must answer without a token.
	_, err := healthpb.NewHealthClient(h.conn).Check(h.ctx, &healthpb.HealthCheckRequest{})
	if err != nil {
		t.Fatal(err)
	}
	stream, err := reflectionpb.NewServerReflectionClient(h.conn).ServerReflectionInfo(h.ctx)
	if err != nil {
		t.Fatal(err)
	}
	if err := stream.Send(&reflectionpb.ServerReflectionRequest{MessageRequest: &reflectionpb.ServerReflectionRequest_ListServices{}}); err != nil {
		t.Fatal(err)
	}
	resp, err := stream.Recv()
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, s := range resp.GetListServicesResponse().GetService() {
		names = append(names, s.GetName())
	}
	for _, want := range []string{"rally.v1.CampaignService", "rally.v1.EventService", "grpc.health.v1.Health"} {
		if !strings.Contains(strings.Join(names, " "), want) {
			t.Errorf("reflection lists %v, missing %s", names, want)
		}
	}
}
