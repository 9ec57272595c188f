package e2e_test

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/fieldmaskpb"

	rallyv1 "github.com/rallyhq/rally/gen/go/rally/v1"
	"github.com/rallyhq/rally/internal/app/apptest"
	"github.com/rallyhq/rally/internal/pubsub/hub"
)

// The tests in this file play the informant: someone without a token, or with one RSVP,
// who watches streams, resumes old cursors and diffs public reads to learn how many come
// to a HIDDEN event, or when; and the co-organiser who was removed, the organiser whose
// token was revoked, the holder whose RSVP was cancelled, who keep an open stream.

// ended waits for the stream to end and returns its error.
func (c *changes) ended(t *testing.T) error {
	t.Helper()
	select {
	case <-c.done:
		return c.err
	case <-time.After(10 * time.Second):
		t.Fatalf("the stream is still open 10s later; it got %v", c.all())
		return nil
	}
}

func isAnnouncement(text string) func(*rallyv1.Change) bool {
	return func(c *rallyv1.Change) bool { return c.GetAnnouncement().GetText() == text }
}

// position decodes a cursor of topic, failing the test if it is not one.
func position(t *testing.T, cursor, topic string) uint64 {
	t.Helper()
	_, pos, err := hub.DecodeCursor(cursor, topic)
	if err != nil {
		t.Fatalf("cursor %q of %s: %v", cursor, topic, err)
	}
	return pos
}

// publicReads is everything an anonymous caller reads of an event and its campaign.
type publicReads struct {
	event *rallyv1.Event
	list  []string // names and etags of the campaign's events, in order
	ics   string   // the event's calendar feed, but for DTSTAMP (the time it was generated)
	page  string   // the event's REST representation
}

var dtstamp = regexp.MustCompile(`(?m)^DTSTAMP:.*$`)

func readPublic(t *testing.T, n node, event, campaign string) publicReads {
	t.Helper()
	ctx := t.Context()
	var r publicReads
	var err error
	if r.event, err = n.events.GetEvent(ctx, &rallyv1.GetEventRequest{Name: event}); err != nil {
		t.Fatal(err)
	}
	list, err := n.events.ListEvents(ctx, &rallyv1.ListEventsRequest{Campaign: campaign})
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range list.GetEvents() {
		r.list = append(r.list, e.GetName()+" "+e.GetEtag()+" "+e.GetUpdateTime().AsTime().String())
	}
	get := func(path string) string {
		resp, err := http.Get("http://" + n.app.HTTPAddr() + path)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("GET %s: %d %s", path, resp.StatusCode, b)
		}
		return string(b)
	}
	r.ics = dtstamp.ReplaceAllString(get("/v1/"+event+".ics"), "")
	r.page = get("/v1/" + event)
	return r
}

// TestInformantWatchers: dozens of RSVPs to a HIDDEN and an APPROXIMATE event, made on two
// replicas, watched by anonymous watchers over gRPC and REST, and by the organiser.
func TestInformantWatchers(t *testing.T) {
	for name, redisURL := range backends(t) {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			testInformantWatchers(t, redisURL(t))
		})
	}
}

func testInformantWatchers(t *testing.T, url string, flags ...string) {
	a, b := twoNodes(t, url, flags...)
	ctx := t.Context()
	admin := withToken(ctx, token)
	c, err := a.campaigns.CreateCampaign(admin, &rallyv1.CreateCampaignRequest{CampaignId: "informant", Campaign: &rallyv1.Campaign{Title: "Solidarity"}})
	if err != nil {
		t.Fatal(err)
	}
	newEvent := func(v rallyv1.AttendanceVisibility, capacity int32) *rallyv1.Event {
		ev := eventIn(c.GetName())
		ev.AttendanceVisibility, ev.Capacity, ev.MeetingPoint = v, capacity, "Gate 3"
		e, err := a.events.CreateEvent(admin, &rallyv1.CreateEventRequest{Event: ev})
		if err != nil {
			t.Fatal(err)
		}
		return e
	}
	hidden := newEvent(rallyv1.AttendanceVisibility_ATTENDANCE_VISIBILITY_HIDDEN, 20)
	approx := newEvent(rallyv1.AttendanceVisibility_ATTENDANCE_VISIBILITY_APPROXIMATE, 0)

	watch := func(n node, ctx context.Context, event, cursor string) *changes {
		s, err := n.events.WatchEvent(ctx, &rallyv1.WatchEventRequest{Name: event, Cursor: cursor})
		if err != nil {
			t.Fatal(err)
		}
		return collect(t, s)
	}
	isSnapshot := func(c *rallyv1.Change) bool { return c.GetKind() == rallyv1.ChangeKind_CHANGE_KIND_SNAPSHOT }
	anonHidden := watch(a, ctx, hidden.GetName(), "")
	anonApprox := watch(b, ctx, approx.GetName(), "")
	orgHidden := watch(b, admin, hidden.GetName(), "")
	campaignStream, err := b.events.WatchCampaign(ctx, &rallyv1.WatchCampaignRequest{Name: c.GetName()})
	if err != nil {
		t.Fatal(err)
	}
	anonCampaign := collect(t, campaignStream)
	snapHidden := anonHidden.waitFor(t, "a snapshot", isSnapshot)[0]
	anonApprox.waitFor(t, "a snapshot", isSnapshot)
	orgSnap := orgHidden.waitFor(t, "a snapshot", isSnapshot)[0]
	anonCampaign.waitFor(t, "the snapshot of the approximate event", func(c *rallyv1.Change) bool { return c.GetEvent().GetName() == approx.GetName() })
	if snapHidden.GetEvent().GetAttendance() != nil || snapHidden.GetEvent().GetMeetingPoint() != "" {
		t.Fatalf("the public snapshot of a HIDDEN event shows %v", snapHidden.GetEvent())
	}

	// The REST stream of an anonymous browser, on the other replica.
	rctx, cancel := context.WithCancel(ctx)
	defer cancel()
	req, _ := http.NewRequestWithContext(rctx, "GET", "http://"+b.app.HTTPAddr()+"/v1/"+hidden.GetName()+":watch", nil)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	restLines := bufio.NewScanner(resp.Body)
	restNext := func() map[string]any {
		t.Helper()
		if !restLines.Scan() {
			t.Fatalf("REST stream ended: %v", restLines.Err())
		}
		var msg struct {
			Result map[string]any `json:"result"`
		}
		if err := json.Unmarshal(restLines.Bytes(), &msg); err != nil || msg.Result == nil {
			t.Fatalf("REST line %q: %v", restLines.Text(), err)
		}
		return msg.Result
	}
	if m := restNext(); m["kind"] != "CHANGE_KIND_SNAPSHOT" {
		t.Fatalf("REST stream starts with %v", m)
	}

	before := readPublic(t, a, hidden.GetName(), c.GetName())

	// The rush: 30 RSVPs to the HIDDEN event (some waitlisted), 3 cancelled, 12 to the
	// APPROXIMATE one, alternating between the replicas.
	var cancel3 []string
	var writes int
	for i := range 30 {
		n := []node{a, b}[i%2]
		r, err := n.rsvps.CreateRsvp(ctx, &rallyv1.CreateRsvpRequest{Parent: hidden.GetName(), Rsvp: &rallyv1.Rsvp{Guests: int32(i % 2)}})
		if err != nil {
			t.Fatal(err)
		}
		writes++
		if i%10 == 0 {
			cancel3 = append(cancel3, r.GetRsvp().GetName())
		}
	}
	for _, name := range cancel3 {
		if _, err := b.rsvps.CancelRsvp(admin, &rallyv1.CancelRsvpRequest{Name: name}); err != nil {
			t.Fatal(err)
		}
		writes++
	}
	for i := range 12 {
		if _, err := []node{a, b}[i%2].rsvps.CreateRsvp(ctx, &rallyv1.CreateRsvpRequest{Parent: approx.GetName(), Rsvp: &rallyv1.Rsvp{}}); err != nil {
			t.Fatal(err)
		}
	}
	full, err := a.events.GetEvent(admin, &rallyv1.GetEventRequest{Name: hidden.GetName()})
	if err != nil {
		t.Fatal(err)
	}
	if full.GetAttendance().GetGoing() == 0 || full.GetAttendance().GetWaitlisted() == 0 {
		t.Fatalf("the rush left %v: want places taken and a waitlist", full.GetAttendance())
	}

	// The organiser sees the rush live and exact: attendance changes, at most one per
	// RSVP write (a rush is paced, --organiser-interval), until one shows the counts as
	// they are.
	got := orgHidden.waitFor(t, fmt.Sprintf("the counts %v", full.GetAttendance()), func(c *rallyv1.Change) bool {
		return c.GetKind() == rallyv1.ChangeKind_CHANGE_KIND_ATTENDANCE && proto.Equal(c.GetEvent().GetAttendance(), full.GetAttendance())
	})
	if changes := len(got) - 1; changes > writes {
		t.Errorf("the organiser got %d changes for %d RSVP writes", changes, writes)
	}

	// Let every coalescing window close (several times the test window), then mark the
	// streams with a public announcement: what each received before it is all the rush
	// showed it.
	time.Sleep(20 * apptest.AttendanceWindow)
	const marker = "The vigil starts at noon"
	if _, err := b.events.PostAnnouncement(admin, &rallyv1.PostAnnouncementRequest{Parent: hidden.GetName(), Announcement: &rallyv1.Announcement{Text: marker}}); err != nil {
		t.Fatal(err)
	}
	got = anonHidden.waitFor(t, "the marker", isAnnouncement(marker))
	if len(got) != 2 {
		t.Errorf("an anonymous watcher of the HIDDEN event got %d messages from the rush: %v", len(got)-2, got[1:len(got)-1])
	}
	publicTopic := hidden.GetName() + "/public"
	if p0, p1 := position(t, snapHidden.GetCursor(), publicTopic), position(t, got[len(got)-1].GetCursor(), publicTopic); p1 != p0+1 {
		t.Errorf("the marker's cursor is %d after the snapshot's: the cursor counts %d changes the public may not see", p1-p0, p1-p0-1)
	}
	if m := restNext(); m["kind"] != "CHANGE_KIND_ANNOUNCEMENT" {
		t.Errorf("the anonymous REST watcher's next line after the rush is %v, want the marker", m)
	}
	// The APPROXIMATE event's watcher saw the bucket change (0 → 1-9 → 10-49) at most
	// once per bucket, never one message per RSVP.
	if _, err := b.events.PostAnnouncement(admin, &rallyv1.PostAnnouncementRequest{Parent: approx.GetName(), Announcement: &rallyv1.Announcement{Text: marker}}); err != nil {
		t.Fatal(err)
	}
	got = anonApprox.waitFor(t, "the marker", isAnnouncement(marker))
	var ranges []string
	for _, m := range got[1 : len(got)-1] {
		if m.GetKind() != rallyv1.ChangeKind_CHANGE_KIND_ATTENDANCE {
			t.Errorf("unexpected change %v", m)
		}
		ranges = append(ranges, m.GetEvent().GetAttendance().GetGoingRange())
	}
	if len(ranges) == 0 || len(ranges) > 2 || ranges[len(ranges)-1] != "10-49" || (len(ranges) == 2 && ranges[0] == ranges[1]) {
		t.Errorf("12 RSVPs to an APPROXIMATE event showed its public watcher %q; want at most one change per bucket, ending at 10-49", ranges)
	}
	// The campaign's public stream: nothing of the HIDDEN event's RSVPs.
	got = anonCampaign.waitFor(t, "the marker", func(c *rallyv1.Change) bool {
		return c.GetAnnouncement().GetText() == marker && c.GetResource() == approx.GetName()
	})
	for _, m := range got {
		if m.GetResource() == hidden.GetName() && m.GetKind() == rallyv1.ChangeKind_CHANGE_KIND_ATTENDANCE {
			t.Errorf("the public campaign stream got an attendance change of the HIDDEN event: %v", m)
		}
	}

	// Resuming from the old public cursor replays only the marker; the organiser's cursor,
	// used without the organiser's token, gets a reset snapshot without counts.
	resumed := watch(b, ctx, hidden.GetName(), snapHidden.GetCursor())
	if first := resumed.waitFor(t, "a message", func(*rallyv1.Change) bool { return true })[0]; first.GetAnnouncement().GetText() != marker {
		t.Errorf("resuming from the snapshot's cursor starts with %v, want the marker", first)
	}
	stolen := watch(a, ctx, hidden.GetName(), orgSnap.GetCursor())
	if first := stolen.waitFor(t, "a message", func(*rallyv1.Change) bool { return true })[0]; !isSnapshot(first) || !first.GetReset_() || first.GetEvent().GetAttendance() != nil {
		t.Errorf("an organiser's cursor resumed anonymously gave %v, want a reset snapshot without counts", first)
	}

	// Public reads stayed still: etag, update_time, list order, feed, REST body.
	after := readPublic(t, a, hidden.GetName(), c.GetName())
	if !proto.Equal(before.event, after.event) {
		t.Errorf("a public GetEvent changed with RSVPs:\nbefore %v\nafter  %v", before.event, after.event)
	}
	if !slices.Equal(before.list, after.list) {
		t.Errorf("a public ListEvents changed with RSVPs:\nbefore %q\nafter  %q", before.list, after.list)
	}
	if before.ics != after.ics {
		t.Errorf("the public calendar feed changed with RSVPs:\nbefore %s\nafter  %s", before.ics, after.ics)
	}
	if before.page != after.page {
		t.Errorf("the public REST GetEvent changed with RSVPs:\nbefore %s\nafter  %s", before.page, after.page)
	}
}

// TestRightsEndOnStreams: "remove the informant, then move the meeting point". Streams
// opened by a co-organiser, by an organiser whose token is then revoked, and by an RSVP
// holder on one replica; the removal, revocation and cancellation on the other; then a new
// meeting point: none of them gets it.
func TestRightsEndOnStreams(t *testing.T) {
	for name, redisURL := range backends(t) {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			testRightsEndOnStreams(t, redisURL(t))
		})
	}
}

func testRightsEndOnStreams(t *testing.T, url string, flags ...string) {
	a, b := twoNodes(t, url, flags...)
	ctx := t.Context()
	admin := withToken(ctx, token)
	organiser := func(id string) (string, string) {
		o, err := a.organisers.CreateOrganiser(admin, &rallyv1.CreateOrganiserRequest{OrganiserId: id, Organiser: &rallyv1.Organiser{DisplayName: id}})
		if err != nil {
			t.Fatal(err)
		}
		tok, err := a.organisers.CreateApiToken(admin, &rallyv1.CreateApiTokenRequest{Parent: o.GetName(), ApiToken: &rallyv1.ApiToken{DisplayName: "laptop"}})
		if err != nil {
			t.Fatal(err)
		}
		return o.GetName(), tok.GetSecret()
	}
	_, aliceTok := organiser("alice")
	bob, bobTok := organiser("bob")
	carol, carolTok := organiser("carol")
	asAlice := withToken(ctx, aliceTok)
	c, err := a.campaigns.CreateCampaign(asAlice, &rallyv1.CreateCampaignRequest{CampaignId: "rights", Campaign: &rallyv1.Campaign{Title: "Solidarity"}})
	if err != nil {
		t.Fatal(err)
	}
	for o, tok := range map[string]string{bob: bobTok, carol: carolTok} {
		if _, err := a.organisers.AddCampaignOrganiser(asAlice, &rallyv1.AddCampaignOrganiserRequest{Campaign: c.GetName(), Organiser: o}); err != nil {
			t.Fatal(err)
		}
		if _, err := b.organisers.AcceptCampaignInvitation(withToken(ctx, tok), &rallyv1.AcceptCampaignInvitationRequest{Campaign: c.GetName()}); err != nil {
			t.Fatal(err)
		}
	}
	ev := eventIn(c.GetName())
	ev.AttendanceVisibility, ev.MeetingPoint = rallyv1.AttendanceVisibility_ATTENDANCE_VISIBILITY_HIDDEN, "Gate 3"
	e, err := a.events.CreateEvent(asAlice, &rallyv1.CreateEventRequest{Event: ev})
	if err != nil {
		t.Fatal(err)
	}
	rsvp, err := a.rsvps.CreateRsvp(ctx, &rallyv1.CreateRsvpRequest{Parent: e.GetName(), Rsvp: &rallyv1.Rsvp{DisplayName: "informant"}})
	if err != nil {
		t.Fatal(err)
	}
	asHolder := withToken(ctx, rsvp.GetManageToken())
	if _, err := a.events.PostAnnouncement(asAlice, &rallyv1.PostAnnouncementRequest{Parent: e.GetName(),
		Announcement: &rallyv1.Announcement{Text: "Bring water", Audience: rallyv1.AnnouncementAudience_ANNOUNCEMENT_AUDIENCE_RSVP_HOLDERS}}); err != nil {
		t.Fatal(err)
	}

	type opened struct {
		who string
		c   *changes
	}
	var streams []opened
	for _, w := range []struct {
		who string
		ctx context.Context
	}{{"removed co-organiser", withToken(ctx, bobTok)}, {"revoked organiser", withToken(ctx, carolTok)}, {"cancelled holder", asHolder}} {
		s, err := a.events.WatchEvent(w.ctx, &rallyv1.WatchEventRequest{Name: e.GetName()})
		if err != nil {
			t.Fatal(err)
		}
		ch := collect(t, s)
		snap := ch.waitFor(t, w.who+"'s snapshot", func(c *rallyv1.Change) bool { return c.GetKind() == rallyv1.ChangeKind_CHANGE_KIND_SNAPSHOT })[0]
		if snap.GetEvent().GetMeetingPoint() != "Gate 3" {
			t.Fatalf("%s's snapshot lacks the meeting point: %v", w.who, snap.GetEvent())
		}
		streams = append(streams, opened{w.who, ch})
	}
	cs, err := a.events.WatchCampaign(withToken(ctx, bobTok), &rallyv1.WatchCampaignRequest{Name: c.GetName()})
	if err != nil {
		t.Fatal(err)
	}
	campaignStream := collect(t, cs)
	if snap := campaignStream.waitFor(t, "the campaign stream's snapshot of the event", func(c *rallyv1.Change) bool { return c.GetEvent() != nil })[1]; snap.GetEvent().GetMeetingPoint() != "Gate 3" {
		t.Fatalf("the co-organiser's campaign snapshot lacks the meeting point: %v", snap.GetEvent())
	}
	streams = append(streams, opened{"removed co-organiser's campaign stream", campaignStream})

	// On the other replica: remove bob, revoke carol's token, cancel the holder's RSVP.
	if _, err := b.organisers.RemoveCampaignOrganiser(asAlice, &rallyv1.RemoveCampaignOrganiserRequest{Campaign: c.GetName(), Organiser: bob}); err != nil {
		t.Fatal(err)
	}
	tokens, err := b.organisers.ListApiTokens(admin, &rallyv1.ListApiTokensRequest{Parent: carol})
	if err != nil || len(tokens.GetApiTokens()) != 1 {
		t.Fatalf("carol's tokens: %v, %v", tokens, err)
	}
	if _, err := b.organisers.RevokeApiToken(admin, &rallyv1.RevokeApiTokenRequest{Name: tokens.GetApiTokens()[0].GetName()}); err != nil {
		t.Fatal(err)
	}
	if _, err := b.rsvps.CancelRsvp(asAlice, &rallyv1.CancelRsvpRequest{Name: rsvp.GetRsvp().GetName()}); err != nil {
		t.Fatal(err)
	}
	const moved = "Gate 7, behind the bus stop"
	if _, err := b.events.UpdateEvent(asAlice, &rallyv1.UpdateEventRequest{Event: &rallyv1.Event{Name: e.GetName(), MeetingPoint: moved},
		UpdateMask: &fieldmaskpb.FieldMask{Paths: []string{"meeting_point"}}}); err != nil {
		t.Fatal(err)
	}
	for _, s := range streams {
		err := s.c.ended(t)
		if code := status.Code(err); code != codes.PermissionDenied && code != codes.Unauthenticated {
			t.Errorf("%s's stream ended with %v, want PERMISSION_DENIED or UNAUTHENTICATED", s.who, err)
		}
		for _, m := range s.c.all() {
			if strings.Contains(fmt.Sprint(m), moved) {
				t.Errorf("%s's stream got the new meeting point: %v", s.who, m)
			}
		}
	}
	// The cancelled holder's unary reads: no meeting point, no announcements for holders.
	got, err := a.events.GetEvent(asHolder, &rallyv1.GetEventRequest{Name: e.GetName()})
	if err != nil || got.GetMeetingPoint() != "" {
		t.Errorf("a cancelled holder's GetEvent: %v, %v", got, err)
	}
	anns, err := b.events.ListAnnouncements(asHolder, &rallyv1.ListAnnouncementsRequest{Parent: e.GetName()})
	if err != nil || len(anns.GetAnnouncements()) != 0 {
		t.Errorf("a cancelled holder lists announcements for holders: %v, %v", anns, err)
	}
	// Alice, still an organiser, still watches.
	s, err := b.events.WatchEvent(asAlice, &rallyv1.WatchEventRequest{Name: e.GetName()})
	if err != nil {
		t.Fatal(err)
	}
	if snap := collect(t, s).waitFor(t, "alice's snapshot", func(*rallyv1.Change) bool { return true })[0]; snap.GetEvent().GetMeetingPoint() != moved {
		t.Errorf("the organiser's snapshot: %v", snap.GetEvent())
	}
}
