package server

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"sync"
	"time"

	rallyv1 "github.com/rallyhq/rally/gen/go/rally/v1"
	"github.com/rallyhq/rally/internal/store"
)

// Who learns of a change, and when.
//
// Every event and campaign has one history per audience, and a change is appended only to
// the histories of the audiences allowed to see it:
//
//	topic                  audience     carries
//	events/{e}             organisers   every change of the event, live, but attendance
//	                                    paced in a rush (below); CreateRSVP's script
//	                                    appends to it in the same step as the write
//	events/{e}/holders     RSVP holders the public changes, announcements for RSVP
//	                                    holders, changes of the meeting point
//	events/{e}/public      everyone     public changes: the event created, updated in what
//	                                    the public sees, cancelled; public announcements;
//	                                    task progress; attendance, coalesced (below)
//	campaigns/{c}          organisers   every change of the campaign and its events, but
//	                                    attendance coalesced per event (below)
//	campaigns/{c}/public   everyone     the public changes of the campaign and its events
//	buddies/{mac}          one holder   "buddy changed", nothing more: the RSVP's buddy
//	                                    joined, checked out or was deleted (buddy.go),
//	                                    or the RSVP was promoted (promotion.go)
//
// A buddy topic is an RSVP's own: {mac} is an HMAC of the RSVP's name under a key derived
// from the server secret, so neither the topic nor Redis names the RSVP, and only the
// server can tell which topic is whose. The holder's WatchEvent follows it live, besides
// the holders' history, and on each signal re-reads its own RSVP and sends it as a
// CHANGE_KIND_BUDDY change that carries the holder's position in the holders' history as
// its cursor. Buddy changes never enter the shared histories: if they did, their count in
// the holders' cursors would tell an informant holding an RSVP how many people pair up
// and check out. Check-outs after the event's end reach the organisers' histories as an
// attendance change (not_checked_out), and no other.
//
// A watch stream follows the one history of its caller's audience, so the cursors it
// hands out number only changes that caller may see: counting them, or resuming from an
// old one, reveals nothing else. A cursor of another audience's history (an organiser's
// cursor reused without the token) names another topic and gets a reset snapshot.
//
// Attendance is where counting would leak. RSVPs reach the event's organisers' history at
// once, but in a rush once per organisers' interval (throttle.go), and its campaign's
// organisers' history once per window below, whatever the public view (they may see
// every count; pacing and coalescing only spare Redis, the replicas and the organisers'
// watchers a message per RSVP).
// The public and holders' histories get an attendance change only when the public view of
// the attendance changes: never for a HIDDEN event, when the bucket changes for an
// APPROXIMATE one, when the counts change for an EXACT one. And not at once: the first
// RSVP write to an event starts a timer of the coalescing window plus a random jitter of
// up to one window, and everything until it fires is published as one change, so that a
// public watcher cannot tie a message to an RSVP. When it fires, the replica reads the
// event and swaps the public view it computes into the store (SwapPublicView): only the
// replica that sees a different old view publishes, so several replicas coalescing the
// same rush publish one change.

// audience is who may read a history.
type audience uint8

const (
	audiencePublic audience = iota
	audienceHolders
	audienceOrganisers
)

func (a audience) String() string {
	switch a {
	case audienceOrganisers:
		return "organisers"
	case audienceHolders:
		return "holders"
	}
	return "public"
}

// eventTopic names an event's history for an audience. The organisers' one is the event's
// name: the Redis store tags it like the event's keys to append to it from its scripts.
func eventTopic(event string, a audience) string {
	switch a {
	case audienceOrganisers:
		return event
	case audienceHolders:
		return event + "/holders"
	}
	return event + "/public"
}

// campaignTopic names a campaign's history for an audience; RSVP holders of its events
// follow the public one.
func campaignTopic(campaign string, a audience) string {
	if a == audienceOrganisers {
		return campaign
	}
	return campaign + "/public"
}

// topicsFrom returns the histories of the event and the campaign (either may be empty)
// for every audience from least up: what the public may see, holders and organisers may
// too.
func topicsFrom(least audience, event, campaign string) []string {
	topics := make([]string, 0, 5)
	for a := least; a <= audienceOrganisers; a++ {
		if event != "" {
			topics = append(topics, eventTopic(event, a))
		}
		if campaign != "" && a != audienceHolders {
			topics = append(topics, campaignTopic(campaign, a))
		}
	}
	return topics
}

// publishTo records a change of resource (an event, a task, a campaign, an announcement's
// event) for the audiences from least up, on the histories of event and campaign.
func (s *service) publishTo(ctx context.Context, least audience, kind rallyv1.ChangeKind, resource string, ann *rallyv1.Announcement, event, campaign string) {
	s.publishChange(ctx, s.change(kind, resource, ann), topicsFrom(least, event, campaign)...)
}

// attendanceChanged schedules the campaign organisers' and the public change for an RSVP
// change of an event whose organisers' history has it or will (throttle.go). Publishing to
// the campaign's organisers at once cost every RSVP a second command in Redis, a
// stream append and a signal to every replica, about as much as the RSVP's own write
// (issue 19); a campaign's organisers follow many events, for which an attendance change
// per event and window says enough.
func (s *service) attendanceChanged(event string) {
	if s.broker == nil {
		return
	}
	s.coalescer.touch(event)
}

// publishOrganiserAttendance is what the organisers' throttle does at the end of an
// interval in which RSVPs were written without their change.
func (s *service) publishOrganiserAttendance(event string) {
	ctx, cancel := context.WithTimeout(context.Background(), readTimeout)
	defer cancel()
	s.publishChange(ctx, s.change(rallyv1.ChangeKind_CHANGE_KIND_ATTENDANCE, event, nil), eventTopic(event, audienceOrganisers))
}

// publicAttendance is the public view of an event's attendance as publishing compares it:
// "" for a HIDDEN event (nothing to publish, ever), the buckets of an APPROXIMATE one, the
// counts of an EXACT one.
func publicAttendance(e *rallyv1.Event) string {
	a := e.GetAttendance()
	switch e.GetAttendanceVisibility() {
	case rallyv1.AttendanceVisibility_ATTENDANCE_VISIBILITY_HIDDEN:
		return ""
	case rallyv1.AttendanceVisibility_ATTENDANCE_VISIBILITY_EXACT:
		return fmt.Sprintf("exact:%d:%d", a.GetGoing(), a.GetWaitlisted())
	}
	_, going := bucket(a.GetGoing())
	_, waiting := bucket(a.GetWaitlisted())
	return "approx:" + going + ":" + waiting
}

// publishPublicAttendance is what a coalescing timer does: publish the event's attendance
// to its campaign's organisers, and to the public and its RSVP holders if its public view
// changed since the last time any replica did.
func (s *service) publishPublicAttendance(event string) {
	ctx, cancel := context.WithTimeout(context.Background(), readTimeout)
	defer cancel()
	e, err := s.store.GetEvent(ctx, event)
	if errors.Is(err, store.ErrNotFound) {
		return
	}
	if err != nil {
		s.log.ErrorContext(ctx, "publishing a public attendance change failed", "err", err)
		return
	}
	// Organisers see every count, so the campaign's get the change whatever the view
	// (one per replica that coalesced RSVPs of the event in the window).
	s.publishChange(ctx, s.change(rallyv1.ChangeKind_CHANGE_KIND_ATTENDANCE, event, nil), campaignTopic(e.GetCampaign(), audienceOrganisers))
	view := publicAttendance(e)
	if view == "" {
		return
	}
	old, err := s.store.SwapPublicView(ctx, event, view)
	if err != nil {
		s.log.ErrorContext(ctx, "publishing a public attendance change failed", "err", err)
		return
	}
	if old == view {
		return
	}
	s.publishChange(ctx, s.change(rallyv1.ChangeKind_CHANGE_KIND_ATTENDANCE, event, nil),
		eventTopic(event, audiencePublic), eventTopic(event, audienceHolders), campaignTopic(e.GetCampaign(), audiencePublic))
}

// DefaultAttendanceWindow is how long public attendance changes are coalesced at least;
// each window adds a random jitter of up to its own length.
const DefaultAttendanceWindow = 2 * time.Second

// coalescer runs fire for an event once per window after the first touch, whatever the
// number of touches meanwhile. Timers are per event and only exist while a window is
// open, so an idle event costs nothing.
type coalescer struct {
	window time.Duration
	fire   func(event string)

	mu      sync.Mutex
	pending map[string]struct{}
	closed  bool
}

func newCoalescer(window time.Duration, fire func(string)) *coalescer {
	return &coalescer{window: window, fire: fire, pending: map[string]struct{}{}}
}

// touch opens a window for event unless one is open.
func (c *coalescer) touch(event string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if _, open := c.pending[event]; open || c.closed {
		return
	}
	c.pending[event] = struct{}{}
	delay := c.window + rand.N(c.window+1)
	time.AfterFunc(delay, func() {
		c.mu.Lock()
		delete(c.pending, event)
		closed := c.closed
		c.mu.Unlock()
		if !closed {
			c.fire(event)
		}
	})
}

// close stops the coalescing and publishes at once what the windows still open hold, so
// that a replica shutting down leaves no public change behind; call it before the broker
// closes.
func (c *coalescer) close() {
	c.mu.Lock()
	c.closed = true
	events := make([]string, 0, len(c.pending))
	for e := range c.pending {
		events = append(events, e)
	}
	clear(c.pending)
	c.mu.Unlock()
	for _, e := range events {
		c.fire(e)
	}
}
