package server_test

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"slices"
	"strings"
	"testing"
	"time"

	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/reflect/protoregistry"
	"google.golang.org/protobuf/types/known/durationpb"
	"google.golang.org/protobuf/types/known/fieldmaskpb"
	"google.golang.org/protobuf/types/known/timestamppb"

	rallyv1 "github.com/rallyhq/rally/gen/go/rally/v1"
	"github.com/rallyhq/rally/internal/pubsub/memory"
	"github.com/rallyhq/rally/internal/server"
	memstore "github.com/rallyhq/rally/internal/store/memory"
)

// The request fuzz tests send arbitrary requests to every Rally RPC of a real server (the
// whole interceptor chain, the memory store and broker) over bufconn, as each kind of
// caller, and check the contract of errors.go: an error is a status with a code that
// tells the client what it did wrong, never UNKNOWN or INTERNAL (a panic, a rule that
// failed to evaluate, an unmapped store error), and INVALID_ARGUMENT names its fields in
// a google.rpc.BadRequest. `go test` runs the seeds; to explore:
//
//	go test -run '^$' -fuzz '^FuzzRequestProto$' -fuzztime 1m ./internal/server
//	go test -run '^$' -fuzz '^FuzzRequestJSON$' -fuzztime 1m ./internal/server

// fuzzMethod is one RPC of the rally.v1 services.
type fuzzMethod struct {
	path   string // "/rally.v1.EventService/CreateEvent"
	in     protoreflect.MessageType
	out    protoreflect.MessageType
	stream bool // server streaming (the watches)
}

// fuzzMethods lists every RPC of the rally.v1 services, sorted by path, so that a new RPC
// is fuzzed without a change here.
func fuzzMethods(tb testing.TB) []fuzzMethod {
	var out []fuzzMethod
	var err error
	protoregistry.GlobalFiles.RangeFilesByPackage("rally.v1", func(fd protoreflect.FileDescriptor) bool {
		for i := range fd.Services().Len() {
			sd := fd.Services().Get(i)
			for j := range sd.Methods().Len() {
				md := sd.Methods().Get(j)
				m := fuzzMethod{path: "/" + string(sd.FullName()) + "/" + string(md.Name()), stream: md.IsStreamingServer()}
				if m.in, err = protoregistry.GlobalTypes.FindMessageByName(md.Input().FullName()); err != nil {
					return false
				}
				if m.out, err = protoregistry.GlobalTypes.FindMessageByName(md.Output().FullName()); err != nil {
					return false
				}
				out = append(out, m)
			}
		}
		return true
	})
	if err != nil || len(out) < 30 {
		tb.Fatalf("rally.v1 methods: %d found, %v", len(out), err)
	}
	slices.SortFunc(out, func(a, b fuzzMethod) int { return strings.Compare(a.path, b.path) })
	return out
}

// fuzzTarget is a running server with some data and a caller of each kind.
type fuzzTarget struct {
	conn    *grpc.ClientConn
	methods []fuzzMethod
	callers []context.Context // anonymous, admin, an organiser, an RSVP holder
	seeds   []fuzzSeed
}

// fuzzSeed is a request that a caller sends to a method: valid ones, so that the fuzzer
// starts from requests that reach the handlers and the store.
type fuzzSeed struct {
	method string
	caller uint8
	req    proto.Message
}

func newFuzzTarget(f *testing.F) *fuzzTarget {
	clk := newClock()
	conn := serve(f, server.Options{Store: memstore.New(memstore.WithSweepInterval(0)), Broker: memory.New(),
		AdminToken: adminToken, Now: clk.Now, Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	ctx := context.Background()
	asAdmin := admin(ctx)
	must := func(err error) {
		if err != nil {
			f.Helper()
			f.Fatal(err)
		}
	}

	// An organiser with a token, its campaign and event, a task, an RSVP.
	orgs := rallyv1.NewOrganiserServiceClient(conn)
	org, err := orgs.CreateOrganiser(asAdmin, &rallyv1.CreateOrganiserRequest{OrganiserId: "fuzz-org", Organiser: &rallyv1.Organiser{DisplayName: "Fuzz group"}})
	must(err)
	tok, err := orgs.CreateApiToken(asAdmin, &rallyv1.CreateApiTokenRequest{Parent: org.GetName(), ApiToken: &rallyv1.ApiToken{DisplayName: "fuzz"}})
	must(err)
	asOrg := metadata.AppendToOutgoingContext(ctx, "authorization", "Bearer "+tok.GetSecret())
	campaign, err := rallyv1.NewCampaignServiceClient(conn).CreateCampaign(asOrg, &rallyv1.CreateCampaignRequest{CampaignId: "fuzz", Campaign: validCampaign()})
	must(err)
	event, err := rallyv1.NewEventServiceClient(conn).CreateEvent(asOrg, &rallyv1.CreateEventRequest{EventId: "fuzz", Event: validEvent(campaign.GetName())})
	must(err)
	task, err := rallyv1.NewTaskServiceClient(conn).CreateTask(asOrg, &rallyv1.CreateTaskRequest{Task: validTask(campaign.GetName(), clk.Now())})
	must(err)
	rsvp, err := rallyv1.NewRsvpServiceClient(conn).CreateRsvp(ctx, &rallyv1.CreateRsvpRequest{Parent: event.GetName(), Rsvp: &rallyv1.Rsvp{DisplayName: "Dana", Guests: 1}})
	must(err)
	asRSVP := metadata.AppendToOutgoingContext(ctx, "authorization", "Bearer "+rsvp.GetManageToken())
	claim, err := rallyv1.NewTaskServiceClient(conn).ClaimTask(ctx, &rallyv1.ClaimTaskRequest{Name: task.GetName()})
	must(err)

	ev, rs, cl := event.GetName(), rsvp.GetRsvp().GetName(), claim.GetClaim().GetName()
	start := event.GetStartTime().AsTime()
	const anon, adm, orgc, rsvpc = 0, 1, 2, 3
	seeds := []fuzzSeed{
		{"CreateCampaign", orgc, &rallyv1.CreateCampaignRequest{Campaign: validCampaign(), RequestId: "req-0123456789abcdef"}},
		{"GetCampaign", anon, &rallyv1.GetCampaignRequest{Name: campaign.GetName()}},
		{"ListCampaigns", anon, &rallyv1.ListCampaignsRequest{PageSize: 1, PageToken: "eyJhIjoieCJ9"}},
		{"UpdateCampaign", orgc, &rallyv1.UpdateCampaignRequest{Campaign: &rallyv1.Campaign{Name: campaign.GetName(), Title: "New title", Etag: campaign.GetEtag()},
			UpdateMask: &fieldmaskpb.FieldMask{Paths: []string{"title"}}}},
		{"CreateEvent", orgc, &rallyv1.CreateEventRequest{Event: validEvent(campaign.GetName())}},
		{"CreateEvent", adm, &rallyv1.CreateEventRequest{Event: validEvent(""), EventId: "another-event"}},
		{"GetEvent", rsvpc, &rallyv1.GetEventRequest{Name: ev}},
		{"ListEvents", anon, &rallyv1.ListEventsRequest{Campaign: campaign.GetName(), Country: "DE", Locality: "Berlin", RepresentedCountry: "KZ",
			StartAfter: timestamppb.New(start.Add(-time.Hour)), StartBefore: timestamppb.New(start.Add(time.Hour)), PageSize: 10}},
		{"ListEvents", anon, &rallyv1.ListEventsRequest{PageSize: 1, PageToken: "not-a-token", ShowCancelled: true}},
		{"UpdateEvent", orgc, &rallyv1.UpdateEventRequest{Event: &rallyv1.Event{Name: ev, Capacity: 10, TimeZone: "Asia/Almaty"},
			UpdateMask: &fieldmaskpb.FieldMask{Paths: []string{"capacity", "time_zone"}}}},
		{"CancelEvent", orgc, &rallyv1.CancelEventRequest{Name: "events/another-event", Reason: "Storm warning"}},
		{"PostAnnouncement", orgc, &rallyv1.PostAnnouncementRequest{Parent: ev, Announcement: &rallyv1.Announcement{Text: "Bring candles",
			Audience: rallyv1.AnnouncementAudience_ANNOUNCEMENT_AUDIENCE_RSVP_HOLDERS}}},
		{"ListAnnouncements", rsvpc, &rallyv1.ListAnnouncementsRequest{Parent: ev}},
		{"WatchEvent", anon, &rallyv1.WatchEventRequest{Name: ev}},
		{"WatchEvent", rsvpc, &rallyv1.WatchEventRequest{Name: ev, Cursor: "AQAAAAAAAAAHX8sP8AA"}},
		{"WatchCampaign", anon, &rallyv1.WatchCampaignRequest{Name: campaign.GetName(), Cursor: "x"}},
		{"CreateRsvp", anon, &rallyv1.CreateRsvpRequest{Parent: ev, Rsvp: &rallyv1.Rsvp{DisplayName: "Robin", Contact: "signal:robin.01", Guests: 1},
			RequestId: "0123456789abcdef0123"}},
		{"GetRsvp", rsvpc, &rallyv1.GetRsvpRequest{Name: rs}},
		{"UpdateRsvp", rsvpc, &rallyv1.UpdateRsvpRequest{Rsvp: &rallyv1.Rsvp{Name: rs, Guests: 2}, UpdateMask: &fieldmaskpb.FieldMask{Paths: []string{"guests"}}}},
		{"CancelRsvp", rsvpc, &rallyv1.CancelRsvpRequest{Name: ev + "/rsvps/nobody"}},
		{"ListRsvps", orgc, &rallyv1.ListRsvpsRequest{Parent: ev, PageSize: 5, State: rallyv1.RsvpState_RSVP_STATE_GOING}},
		{"CheckInRsvp", orgc, &rallyv1.CheckInRsvpRequest{Name: rs}},
		{"ListAuditEntries", orgc, &rallyv1.ListAuditEntriesRequest{Parent: ev}},
		{"CreateOrganiser", adm, &rallyv1.CreateOrganiserRequest{Organiser: &rallyv1.Organiser{DisplayName: "Another group"}}},
		{"GetOrganiser", orgc, &rallyv1.GetOrganiserRequest{Name: "organisers/me"}},
		{"GetOrganiser", adm, &rallyv1.GetOrganiserRequest{Name: "organisers/me"}},
		{"RevokeApiToken", anon, &rallyv1.RevokeApiTokenRequest{Name: "organisers/me/apiTokens/x"}},
		{"CreateApiToken", orgc, &rallyv1.CreateApiTokenRequest{Parent: org.GetName(), ApiToken: &rallyv1.ApiToken{DisplayName: "phone"}}},
		{"ListApiTokens", orgc, &rallyv1.ListApiTokensRequest{Parent: org.GetName()}},
		{"RevokeApiToken", orgc, &rallyv1.RevokeApiTokenRequest{Name: org.GetName() + "/apiTokens/nothing"}},
		{"AddCampaignOrganiser", orgc, &rallyv1.AddCampaignOrganiserRequest{Campaign: campaign.GetName(), Organiser: org.GetName()}},
		{"RemoveCampaignOrganiser", adm, &rallyv1.RemoveCampaignOrganiserRequest{Campaign: campaign.GetName(), Organiser: "organisers/nobody"}},
		{"AcceptCampaignInvitation", orgc, &rallyv1.AcceptCampaignInvitationRequest{Campaign: campaign.GetName()}},
		{"DeclineCampaignInvitation", orgc, &rallyv1.DeclineCampaignInvitationRequest{Campaign: campaign.GetName()}},
		{"ListCampaignInvitations", orgc, &rallyv1.ListCampaignInvitationsRequest{Parent: "organisers/me", PageSize: 2}},
		{"CreateTask", orgc, &rallyv1.CreateTaskRequest{Task: validTask(campaign.GetName(), clk.Now())}},
		{"GetTask", anon, &rallyv1.GetTaskRequest{Name: task.GetName()}},
		{"ListTasks", anon, &rallyv1.ListTasksRequest{Campaign: campaign.GetName(), PageSize: 2}},
		{"UpdateTask", orgc, &rallyv1.UpdateTaskRequest{Task: &rallyv1.Task{Name: task.GetName(), Title: "Share it"}, UpdateMask: &fieldmaskpb.FieldMask{Paths: []string{"title"}}}},
		{"CloseTask", orgc, &rallyv1.CloseTaskRequest{Name: "tasks/nothing"}},
		{"ClaimTask", anon, &rallyv1.ClaimTaskRequest{Name: task.GetName(), RequestId: "claim-0123456789abcdef"}},
		{"CompleteClaim", orgc, &rallyv1.CompleteClaimRequest{Name: cl}},
		{"ListClaims", orgc, &rallyv1.ListClaimsRequest{Parent: task.GetName(), PageSize: 3}},
		{"ReleaseClaim", anon, &rallyv1.ReleaseClaimRequest{Name: cl}},
	}
	// Timestamps and durations out of their valid range, which protojson refuses but
	// binary protobuf carries.
	far := func(e *rallyv1.Event, start, end int64) *rallyv1.Event {
		e.StartTime, e.EndTime = &timestamppb.Timestamp{Seconds: start}, &timestamppb.Timestamp{Seconds: end}
		return e
	}
	seeds = append(seeds,
		fuzzSeed{"CreateEvent", orgc, &rallyv1.CreateEventRequest{Event: far(validEvent(""), -1<<62, 1<<62)}},
		fuzzSeed{"CreateEvent", orgc, &rallyv1.CreateEventRequest{Event: far(validEvent(""), 1<<40, 1<<40+3600)}},
		fuzzSeed{"CreateEvent", orgc, &rallyv1.CreateEventRequest{Event: far(validEvent(""), -62135596800, 1905264000)}},
		fuzzSeed{"ListEvents", anon, &rallyv1.ListEventsRequest{StartAfter: &timestamppb.Timestamp{Seconds: -1 << 62}, StartBefore: &timestamppb.Timestamp{Seconds: 1 << 62, Nanos: -1}}},
		fuzzSeed{"UpdateTask", orgc, &rallyv1.UpdateTaskRequest{Task: &rallyv1.Task{Name: task.GetName(), ClaimTtl: &durationpb.Duration{Seconds: 1 << 62, Nanos: -5}},
			UpdateMask: &fieldmaskpb.FieldMask{Paths: []string{"claim_ttl"}}}},
	)
	return &fuzzTarget{conn: conn, methods: fuzzMethods(f), callers: []context.Context{ctx, asAdmin, asOrg, asRSVP}, seeds: seeds}
}

// methodIndex returns the index of the method named name (its last path element).
func (ft *fuzzTarget) methodIndex(tb testing.TB, name string) uint8 {
	for i, m := range ft.methods {
		if strings.HasSuffix(m.path, "/"+name) {
			return uint8(i)
		}
	}
	tb.Fatalf("no method %s", name)
	return 0
}

// call sends req to method m as caller and checks the error contract.
func (ft *fuzzTarget) call(t *testing.T, m fuzzMethod, caller uint8, req proto.Message) {
	ctx, cancel := context.WithTimeout(ft.callers[int(caller)%len(ft.callers)], 10*time.Second)
	defer cancel()
	var err error
	if !m.stream {
		err = ft.conn.Invoke(ctx, m.path, req, m.out.New().Interface())
	} else {
		// A watch answers with a snapshot, or waits for the next change when it resumes
		// from a valid cursor: either is an answer.
		ctx, cancel := context.WithTimeout(ctx, 500*time.Millisecond)
		defer cancel()
		var s grpc.ClientStream
		s, err = ft.conn.NewStream(ctx, &grpc.StreamDesc{ServerStreams: true}, m.path)
		if err == nil {
			if err = s.SendMsg(req); err == nil {
				if err = s.CloseSend(); err == nil {
					err = s.RecvMsg(m.out.New().Interface())
				}
			}
		}
		if errors.Is(err, io.EOF) {
			t.Fatalf("%s: the stream ended without a status", m.path)
		}
		if status.Code(err) == codes.DeadlineExceeded && ctx.Err() != nil {
			return // still waiting for a change
		}
	}
	checkClientError(t, m.path, req, err)
}

// clientCodes are the codes that tell a client what it did wrong, or that its request
// lost a race it may retry.
var clientCodes = map[codes.Code]bool{
	codes.InvalidArgument: true, codes.NotFound: true, codes.FailedPrecondition: true,
	codes.PermissionDenied: true, codes.Unauthenticated: true, codes.OutOfRange: true,
	codes.AlreadyExists: true, codes.ResourceExhausted: true, codes.Aborted: true,
}

func checkClientError(t *testing.T, method string, req proto.Message, err error) {
	t.Helper()
	if err == nil {
		return
	}
	st, ok := status.FromError(err)
	if !ok || !clientCodes[st.Code()] {
		t.Fatalf("%s(%v): %v, want a client error code", method, req, err)
	}
	if st.Code() != codes.InvalidArgument {
		return
	}
	var found bool
	for _, d := range st.Details() {
		br, ok := d.(*errdetails.BadRequest)
		if !ok {
			continue
		}
		found = true
		if len(br.GetFieldViolations()) == 0 {
			t.Fatalf("%s(%v): BadRequest without field violations: %v", method, req, st.Proto())
		}
		for _, v := range br.GetFieldViolations() {
			if v.GetField() == "" || v.GetDescription() == "" {
				t.Fatalf("%s(%v): a field violation without field or description: %v", method, req, st.Proto())
			}
			if !strings.Contains(st.Message(), v.GetField()) {
				t.Fatalf("%s(%v): message %q does not name field %q", method, req, st.Message(), v.GetField())
			}
		}
	}
	if !found {
		t.Fatalf("%s(%v): INVALID_ARGUMENT without a google.rpc.BadRequest: %v", method, req, st.Proto())
	}
}

// FuzzRequestProto sends arbitrary protobuf bytes, as a gRPC client can, to the method
// numbered method (modulo the number of methods) as the caller numbered caller
// (anonymous, admin, organiser, RSVP holder). Bytes that are not a message of the
// method's request type are skipped here: FuzzRequestBytes covers them (the codec answers
// INVALID_ARGUMENT naming the field).
func FuzzRequestProto(f *testing.F) {
	ft := newFuzzTarget(f)
	for _, s := range ft.seeds {
		b, err := proto.Marshal(s.req)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(ft.methodIndex(f, s.method), s.caller, b)
	}
	for i := range ft.methods {
		f.Add(uint8(i), uint8(i), []byte{})
	}
	f.Fuzz(func(t *testing.T, method, caller uint8, data []byte) {
		m := ft.methods[int(method)%len(ft.methods)]
		req := m.in.New().Interface()
		if err := proto.Unmarshal(data, req); err != nil {
			return
		}
		ft.call(t, m, caller, req)
	})
}

// FuzzRequestJSON does the same with arbitrary JSON, decoded as the REST gateway decodes
// request bodies (protojson, unknown fields refused) before it calls the same method.
func FuzzRequestJSON(f *testing.F) {
	ft := newFuzzTarget(f)
	for _, s := range ft.seeds {
		b, err := protojson.Marshal(s.req)
		if err != nil {
			continue // out of JSON's range: for FuzzRequestProto
		}
		f.Add(ft.methodIndex(f, s.method), s.caller, string(b))
	}
	for _, s := range []struct{ method, json string }{
		{"CreateEvent", `{"event": {"title": "", "venue": {"kind": "VENUE_KIND_EMBASSY", "latitude": 91}, "startTime": "2030-05-17T16:00:00Z", "endTime": "0001-01-01T00:00:00Z", "timeZone": "Local", "capacity": -1}}`},
		{"CreateEvent", `{"event": {"startTime": "9999-12-31T23:59:59.999999999Z", "endTime": "9999-12-31T23:59:59.999999999Z"}, "eventId": "Bad_ID"}`},
		{"UpdateEvent", `{"event": {"name": "events/fuzz", "startTime": "0001-01-01T00:00:00Z"}, "updateMask": "startTime,venue.kind,nosuchfield"}`},
		{"ListEvents", `{"startAfter": "2030-01-01T00:00:00Z", "startBefore": "2020-01-01T00:00:00Z", "pageSize": 1001, "pageToken": "eyJhIjoieCJ9"}`},
		{"CreateRsvp", `{"parent": "events/fuzz", "rsvp": {"guests": 2147483647, "displayName": "\u0000"}, "requestId": "short"}`},
		{"ClaimTask", `{"name": "tasks/fuzz", "claim": {"displayName": "x"}}`},
		{"UpdateTask", `{"task": {"name": "tasks/fuzz", "claimTtl": "-315576000000s", "deadline": "1970-01-01T00:00:00Z"}, "updateMask": "claimTtl,deadline"}`},
		{"WatchEvent", `{"name": "events/fuzz", "cursor": "AQAAAAAAAAAH\nX8sP8AA"}`},
	} {
		for caller := range uint8(len(ft.callers)) {
			f.Add(ft.methodIndex(f, s.method), caller, s.json)
		}
	}
	opts := protojson.UnmarshalOptions{DiscardUnknown: false}
	f.Fuzz(func(t *testing.T, method, caller uint8, data string) {
		m := ft.methods[int(method)%len(ft.methods)]
		req := m.in.New().Interface()
		if err := opts.Unmarshal([]byte(data), req); err != nil {
			return
		}
		ft.call(t, m, caller, req)
	})
}

// Found by FuzzRequestJSON and FuzzRequestProto: times far apart made a rule's arithmetic
// overflow (UNKNOWN, with the rule's error as message), and times out of protobuf's
// range, which only binary protobuf carries, were stored and failed every JSON read.
func TestFarAndInvalidTimes(t *testing.T) {
	h := newHarness(t)
	e := validEvent("")
	e.StartTime, e.EndTime = &timestamppb.Timestamp{Seconds: -62135596800}, timestamppb.New(time.Date(2030, 5, 17, 16, 0, 0, 0, time.UTC))
	_, err := h.events.CreateEvent(h.admin, &rallyv1.CreateEventRequest{Event: e})
	wantCode(t, err, codes.InvalidArgument, "event")
	e.StartTime, e.EndTime = e.EndTime, e.StartTime
	_, err = h.events.CreateEvent(h.admin, &rallyv1.CreateEventRequest{Event: e})
	wantCode(t, err, codes.InvalidArgument, "event")
	e.StartTime, e.EndTime = &timestamppb.Timestamp{Seconds: 1 << 40}, &timestamppb.Timestamp{Seconds: 1<<40 + 3600}
	_, err = h.events.CreateEvent(h.admin, &rallyv1.CreateEventRequest{Event: e})
	wantCode(t, err, codes.InvalidArgument, "event.start_time")
	_, err = h.events.ListEvents(h.ctx, &rallyv1.ListEventsRequest{StartBefore: &timestamppb.Timestamp{Nanos: -1}})
	wantCode(t, err, codes.InvalidArgument, "start_before")
}
