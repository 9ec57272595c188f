package server

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"time"

	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"

	rallyv1 "github.com/rallyhq/rally/gen/go/rally/v1"
	"github.com/rallyhq/rally/internal/auth"
	"github.com/rallyhq/rally/internal/metrics"
	"github.com/rallyhq/rally/internal/pubsub"
	"github.com/rallyhq/rally/internal/store"
)

// Live updates. Every mutation publishes a small Change (what happened to which
// resource) on the topics of the resource and of its campaign. A watch stream renders each
// Change for its watcher when delivering it: it reads the resource's current state (once
// per replica and message, however many watchers) and shapes it as a read would be
// shaped. Rendering the current state rather than carrying it in the message means that
// messages published in a different order than their writes (two replicas racing) can
// never leave a watcher with a stale state: the last message delivered shows the latest.

// publish records a change for the watchers of resource and of the resources in also
// (its campaign, the event a task is tied to; empty ones are skipped). The write it
// reports has succeeded, so a failure here is logged rather than returned: the client
// must not retry a write that happened. Watchers resynchronise on their next change or
// reconnect.
func (s *service) publish(ctx context.Context, kind rallyv1.ChangeKind, resource string, ann *rallyv1.Announcement, also ...string) {
	s.publishChange(ctx, s.change(kind, resource, ann), append([]string{resource}, also...)...)
}

// change encodes a Change to publish (nil without a broker: nothing to publish).
func (s *service) change(kind rallyv1.ChangeKind, resource string, ann *rallyv1.Announcement) []byte {
	if s.broker == nil {
		return nil
	}
	// Marshalling these messages cannot fail; if it did, publishChange would log it.
	payload, _ := proto.Marshal(&rallyv1.Change{Resource: resource, Kind: kind, Announcement: ann, ChangeTime: timestamppb.New(s.now())})
	return payload
}

// publishChange publishes an encoded change on the topics, skipping empty ones (it
// reuses the slice).
func (s *service) publishChange(ctx context.Context, payload []byte, topics ...string) {
	if s.broker == nil {
		return
	}
	topics = slices.DeleteFunc(topics, func(t string) bool { return t == "" })
	if payload == nil {
		s.log.ErrorContext(ctx, "publishing a change failed: it could not be encoded", "topics", topics)
		return
	}
	if err := s.broker.Publish(context.WithoutCancel(ctx), topics, payload); err != nil {
		s.log.ErrorContext(ctx, "publishing a change failed", "topics", topics, "err", err)
	}
}

// publishEvent publishes a change of an event, looking up its campaign.
func (s *service) publishEvent(ctx context.Context, kind rallyv1.ChangeKind, event string) {
	e, err := s.store.GetEvent(ctx, event)
	if err != nil {
		s.log.ErrorContext(ctx, "publishing a change failed", "resource", event, "err", err)
		return
	}
	s.publish(ctx, kind, event, nil, e.GetCampaign())
}

// watchers counts the open watch streams of each caller, to cap them.
type watchers struct {
	mu  sync.Mutex
	max int
	n   map[string]int
}

// acquire takes a watch slot for the caller, or fails with RESOURCE_EXHAUSTED.
func (w *watchers) acquire(caller string) (release func(), err error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.n[caller] >= w.max {
		return nil, status.Errorf(codes.ResourceExhausted, "at most %d watch streams at once per caller; close one first", w.max)
	}
	w.n[caller]++
	return func() {
		w.mu.Lock()
		defer w.mu.Unlock()
		if w.n[caller]--; w.n[caller] == 0 {
			delete(w.n, caller)
		}
	}, nil
}

// watch runs one watch stream on topic until the client leaves or the server shuts down.
// snapshot sends the current state with the given cursor; render turns a published Change
// into what this watcher receives, or reports false to skip it (an announcement the
// watcher may not read).
func (s *service) watch(ctx context.Context, topic, cursor string,
	send func(*rallyv1.Change) error,
	snapshot func(cursor string, reset bool) error,
	render func(*rallyv1.Change) (*rallyv1.Change, bool, error),
) error {
	if s.broker == nil {
		return status.Error(codes.Unimplemented, "live updates are not configured")
	}
	release, err := s.watches.acquire(s.callerKey(ctx))
	if err != nil {
		return err
	}
	defer release()
	kind := metrics.WatchEvent
	if strings.HasPrefix(topic, "campaigns/") {
		kind = metrics.WatchCampaign
	}
	defer s.metrics.WatchOpened(kind)()
	ctx = pubsub.WithSlowHook(ctx, func() { s.metrics.WatchDropped(kind) })

	// last is the watcher's position: the cursor of the last message it was sent.
	sub, last, err := s.subscribe(ctx, topic, cursor, snapshot)
	if err != nil {
		return err
	}
	for {
		select {
		case <-ctx.Done():
			sub.Close()
			return ctx.Err()
		case m, ok := <-sub.C():
			if ok {
				if err := s.deliver(m, send, render); err != nil {
					sub.Close()
					return err
				}
				last = m.Cursor
				continue
			}
			switch err := sub.Err(); {
			case errors.Is(err, pubsub.ErrSlow):
				// The watcher fell behind; pick up from the last message it got. If that is
				// no longer in the history, it gets a fresh snapshot: the coalesced state.
				if sub, last, err = s.subscribe(ctx, topic, last, snapshot); err != nil {
					return err
				}
			case errors.Is(err, pubsub.ErrReset):
				if sub, last, err = s.subscribe(ctx, topic, "", snapshot); err != nil {
					return err
				}
			case errors.Is(err, pubsub.ErrClosed):
				return errShutdown(last)
			default:
				return err
			}
		}
	}
}

// subscribe subscribes from cursor, or afresh when cursor is empty or cannot be resumed,
// in which case it sends the snapshot first (marked reset if a cursor was given). It
// returns the watcher's position: cursor when resuming, the snapshot's cursor otherwise,
// so that a watcher dropped again before its next message resumes from the right place.
func (s *service) subscribe(ctx context.Context, topic, cursor string, snapshot func(string, bool) error) (pubsub.Subscription, string, error) {
	sub, err := s.broker.Subscribe(ctx, topic, cursor)
	reset := errors.Is(err, pubsub.ErrReset)
	if reset {
		sub, err = s.broker.Subscribe(ctx, topic, "")
	}
	if errors.Is(err, pubsub.ErrClosed) {
		return nil, "", errShutdown(cursor)
	}
	if err != nil {
		return nil, "", err
	}
	if cursor != "" && !reset {
		return sub, cursor, nil
	}
	if err := snapshot(sub.Head(), reset); err != nil {
		sub.Close()
		return nil, "", err
	}
	return sub, sub.Head(), nil
}

// deliver renders one published message and sends it. m is shared with every other
// watcher of the topic on this replica, and so is the Change decoded from it (once per
// replica, see recent): each watcher renders into a Change of its own that shares the
// decoded parts, which nobody modifies.
func (s *service) deliver(m *pubsub.Message, send func(*rallyv1.Change) error, render func(*rallyv1.Change) (*rallyv1.Change, bool, error)) error {
	v, err := s.reads.Do("change@"+m.Cursor, func() (any, error) {
		c := new(rallyv1.Change)
		err := proto.Unmarshal(m.Payload, c)
		return c, err
	})
	if err != nil {
		s.log.Error("dropping an undecodable change", "topic", m.Topic, "err", err)
		return nil
	}
	shared := v.(*rallyv1.Change)
	c := &rallyv1.Change{
		Resource: shared.GetResource(), Kind: shared.GetKind(), Announcement: shared.GetAnnouncement(),
		ChangeTime: shared.GetChangeTime(), Cursor: m.Cursor,
	}
	out, ok, err := render(c)
	if err != nil || !ok {
		return err
	}
	return send(out)
}

// errShutdown ends a stream when the server shuts down, with the cursor to resume from on
// another replica.
func errShutdown(cursor string) error {
	msg := "the server is shutting down; watch again with cursor " + cursor
	st, err := status.New(codes.Unavailable, msg).WithDetails(&errdetails.ErrorInfo{
		Reason: "SHUTTING_DOWN", Domain: "rally.v1", Metadata: map[string]string{"cursor": cursor},
	})
	if err != nil {
		return status.Error(codes.Unavailable, msg)
	}
	return st.Err()
}

// readTimeout bounds a read shared by the watchers of a message: it runs on behalf of
// all of them, so no single watcher leaving may cancel it.
const readTimeout = 10 * time.Second

// shared runs a read for all the watchers of one message on this replica (see recent).
func (s *service) shared(ctx context.Context, key string, read func(context.Context) (any, error)) (any, error) {
	return s.reads.Do(key, func() (any, error) {
		ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), readTimeout)
		defer cancel()
		return read(ctx)
	})
}

// sharedEvent reads an event's state once per replica for all the watchers delivering
// the same message. The event is shared: read it, copy it to shape it.
func (s *service) sharedEvent(ctx context.Context, name, cursor string) (*rallyv1.Event, error) {
	v, err := s.shared(ctx, name+"@"+cursor, func(ctx context.Context) (any, error) { return s.store.GetEvent(ctx, name) })
	if err != nil {
		return nil, err
	}
	return v.(*rallyv1.Event), nil
}

// readEvent is sharedEvent with the watcher's own copy.
func (s *service) readEvent(ctx context.Context, name, cursor string) (*rallyv1.Event, error) {
	e, err := s.sharedEvent(ctx, name, cursor)
	if err != nil {
		return nil, err
	}
	return proto.CloneOf(e), nil
}

// readCampaign is readEvent for a campaign.
func (s *service) readCampaign(ctx context.Context, name, cursor string) (*rallyv1.Campaign, error) {
	v, err := s.shared(ctx, name+"@"+cursor, func(ctx context.Context) (any, error) { return s.store.GetCampaign(ctx, name) })
	if err != nil {
		return nil, err
	}
	return proto.CloneOf(v.(*rallyv1.Campaign)), nil
}

// renderTask fills a task change with the task's current state and progress, shaped once
// for all the watchers of the message (a task looks the same to every watcher).
func (s *service) renderTask(ctx context.Context, c *rallyv1.Change) (*rallyv1.Change, bool, error) {
	v, err := s.shared(ctx, c.GetResource()+"@"+c.GetCursor(), func(ctx context.Context) (any, error) {
		t, err := s.store.GetTask(ctx, c.GetResource(), s.now())
		if err != nil {
			return nil, err
		}
		return s.presentTask(t), nil
	})
	if err != nil {
		return nil, false, err
	}
	c.Task = v.(*rallyv1.Task)
	return c, true, nil
}

// mayRead reports whether a watcher may read an announcement.
func mayRead(a *rallyv1.Announcement, privileged bool) bool {
	return privileged || a.GetAudience() != rallyv1.AnnouncementAudience_ANNOUNCEMENT_AUDIENCE_RSVP_HOLDERS
}

func (s *eventServer) WatchEvent(req *rallyv1.WatchEventRequest, stream rallyv1.EventService_WatchEventServer) error {
	ctx := stream.Context()
	e, err := s.store.GetEvent(ctx, req.GetName())
	if err != nil {
		return err
	}
	caller := auth.FromContext(ctx)
	// Organisers and RSVP holders read announcements for RSVP holders too.
	privileged, err := s.organisesEvent(ctx, caller, e, nil)
	if err != nil {
		return err
	}
	if caller.Kind == auth.RSVPHolder {
		if _, err := s.meetingPointRevealed(ctx, e, caller); err != nil {
			return err
		}
		privileged = true
	}
	view := func(e *rallyv1.Event) (*rallyv1.Event, error) { return s.viewEvent(ctx, caller, e, nil) }
	// The shaped event is shared by all the watchers of a message who see it alike: with
	// thousands of watchers, shaping (and copying) it once per watcher was a fifth of the
	// fan-out's CPU. Everyone sees it as the public or as its organisers do, except that
	// an RSVP holder also sees the meeting point once their RSVP is GOING and the reveal
	// time has passed. Reading the holder's RSVP for every change would be a Redis read
	// per holder per change on a busy event; it is only needed once the reveal time has
	// passed, and only until it says yes: a holder shown the meeting point keeps it for
	// the stream.
	manages := privileged && caller.Kind != auth.RSVPHolder
	revealed := false
	viewKey := func(ctx context.Context, e *rallyv1.Event) (string, error) {
		if caller.Kind != auth.RSVPHolder {
			return fmt.Sprintf("view:%t:", manages), nil
		}
		if reveal := e.GetMeetingPointRevealTime(); !revealed && (reveal == nil || !s.now().Before(reveal.AsTime())) {
			var err error
			if revealed, err = s.meetingPointRevealed(ctx, e, caller); err != nil {
				return "", err
			}
		}
		return fmt.Sprintf("holder:%t:", revealed), nil
	}
	return s.watch(ctx, req.GetName(), req.GetCursor(), stream.Send,
		func(cursor string, reset bool) error {
			e, err := s.store.GetEvent(ctx, req.GetName())
			if err == nil {
				e, err = view(e)
			}
			if err != nil {
				return err
			}
			return stream.Send(&rallyv1.Change{Resource: e.GetName(), Kind: rallyv1.ChangeKind_CHANGE_KIND_SNAPSHOT, Event: e, Cursor: cursor, Reset_: reset, ChangeTime: timestamppb.New(s.now())})
		},
		func(c *rallyv1.Change) (*rallyv1.Change, bool, error) {
			switch {
			case c.GetKind() == rallyv1.ChangeKind_CHANGE_KIND_ANNOUNCEMENT:
				return c, mayRead(c.GetAnnouncement(), privileged), nil
			case strings.HasPrefix(c.GetResource(), "tasks/"):
				return s.renderTask(ctx, c)
			}
			current, err := s.sharedEvent(ctx, c.GetResource(), c.GetCursor())
			if err != nil {
				return nil, false, err
			}
			key, err := viewKey(ctx, current)
			if err != nil {
				return nil, false, err
			}
			v, err := s.shared(ctx, key+c.GetResource()+"@"+c.GetCursor(), func(ctx context.Context) (any, error) {
				e := proto.CloneOf(current)
				if caller.Kind == auth.RSVPHolder {
					return presentToHolder(e, revealed), nil
				}
				return present(e, manages), nil
			})
			if err != nil {
				return nil, false, err
			}
			c.Event = v.(*rallyv1.Event) // shared: marshalled, never modified
			return c, true, nil
		})
}

func (s *eventServer) WatchCampaign(req *rallyv1.WatchCampaignRequest, stream rallyv1.EventService_WatchCampaignServer) error {
	ctx := stream.Context()
	c, err := s.store.GetCampaign(ctx, req.GetName())
	if err != nil {
		return err
	}
	caller := auth.FromContext(ctx)
	privileged := organisesCampaign(caller, c)
	campaigns := map[string]*rallyv1.Campaign{}
	return s.watch(ctx, req.GetName(), req.GetCursor(), stream.Send,
		func(cursor string, reset bool) error {
			c, err := s.store.GetCampaign(ctx, req.GetName())
			if err != nil {
				return err
			}
			now := timestamppb.New(s.now())
			if err := stream.Send(&rallyv1.Change{Resource: c.GetName(), Kind: rallyv1.ChangeKind_CHANGE_KIND_SNAPSHOT,
				Campaign: s.presentCampaign(ctx, c), Cursor: cursor, Reset_: reset, ChangeTime: now}); err != nil {
				return err
			}
			q := store.EventQuery{Campaign: c.GetName(), PageSize: maxPageSize}
			for {
				page, err := s.store.ListEvents(ctx, q)
				if err != nil {
					return err
				}
				for _, e := range page.Items {
					if e, err = s.viewEvent(ctx, caller, e, campaigns); err != nil {
						return err
					}
					if err := stream.Send(&rallyv1.Change{Resource: e.GetName(), Kind: rallyv1.ChangeKind_CHANGE_KIND_SNAPSHOT,
						Event: e, Cursor: cursor, Reset_: reset, ChangeTime: now}); err != nil {
						return err
					}
				}
				if q.PageToken = page.NextPageToken; q.PageToken == "" {
					return nil
				}
			}
		},
		func(ch *rallyv1.Change) (*rallyv1.Change, bool, error) {
			switch {
			case ch.GetKind() == rallyv1.ChangeKind_CHANGE_KIND_ANNOUNCEMENT:
				return ch, mayRead(ch.GetAnnouncement(), privileged), nil
			case strings.HasPrefix(ch.GetResource(), "tasks/"):
				return s.renderTask(ctx, ch)
			case ch.GetResource() == req.GetName():
				c, err := s.readCampaign(ctx, ch.GetResource(), ch.GetCursor())
				if err != nil {
					return nil, false, err
				}
				ch.Campaign = s.presentCampaign(ctx, c)
				return ch, true, nil
			}
			e, err := s.readEvent(ctx, ch.GetResource(), ch.GetCursor())
			if err == nil {
				ch.Event, err = s.viewEvent(ctx, caller, e, campaigns)
			}
			return ch, err == nil, err
		})
}

func (s *eventServer) PostAnnouncement(ctx context.Context, req *rallyv1.PostAnnouncementRequest) (*rallyv1.Announcement, error) {
	e, err := s.checkEvent(ctx, req.GetParent())
	if err != nil {
		return nil, err
	}
	a := &rallyv1.Announcement{
		Name:       req.GetParent() + "/announcements/" + newID(),
		Text:       req.GetAnnouncement().GetText(),
		Audience:   req.GetAnnouncement().GetAudience(),
		CreateTime: timestamppb.New(s.now()),
	}
	if a.Audience == rallyv1.AnnouncementAudience_ANNOUNCEMENT_AUDIENCE_UNSPECIFIED {
		a.Audience = rallyv1.AnnouncementAudience_ANNOUNCEMENT_AUDIENCE_PUBLIC
	}
	if err := s.store.AppendAnnouncement(ctx, req.GetParent(), a); err != nil {
		return nil, err
	}
	s.publish(ctx, rallyv1.ChangeKind_CHANGE_KIND_ANNOUNCEMENT, e.GetName(), a, e.GetCampaign())
	return a, nil
}

func (s *eventServer) ListAnnouncements(ctx context.Context, req *rallyv1.ListAnnouncementsRequest) (*rallyv1.ListAnnouncementsResponse, error) {
	e, err := s.store.GetEvent(ctx, req.GetParent())
	if err != nil {
		return nil, err
	}
	caller := auth.FromContext(ctx)
	privileged, err := s.organisesEvent(ctx, caller, e, nil)
	if err != nil {
		return nil, err
	}
	if caller.Kind == auth.RSVPHolder {
		if _, err := s.meetingPointRevealed(ctx, e, caller); err != nil {
			return nil, err
		}
		privileged = true
	}
	all, err := s.store.ListAnnouncements(ctx, req.GetParent())
	if err != nil {
		return nil, err
	}
	out := all[:0]
	for _, a := range all {
		if mayRead(a, privileged) {
			out = append(out, a)
		}
	}
	return &rallyv1.ListAnnouncementsResponse{Announcements: out}, nil
}
