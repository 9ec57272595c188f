package server

import (
	"context"
	"errors"
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

// rsvpChanged publishes an RSVP change of an event made by a write that does not publish
// it itself (all but CreateRSVP): at once to the event's organisers, coalesced to the
// others.
func (s *service) rsvpChanged(ctx context.Context, event string) {
	s.publishChange(ctx, s.change(rallyv1.ChangeKind_CHANGE_KIND_ATTENDANCE, event, nil), eventTopic(event, audienceOrganisers))
	s.attendanceChanged(event)
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
// into what this watcher receives, or reports false to skip it (nothing it sees changed).
// rights, if not nil, re-checks before every message that the caller may still read the
// topic (its token, its place among the organisers, its RSVP): rights taken away end the
// stream with the status rights returns, before the next message, on every replica.
// private, if not nil, is the watcher's own live feed besides the topic (see privateFeed).
func (s *service) watch(ctx context.Context, topic, cursor string,
	send func(*rallyv1.Change) error,
	snapshot func(cursor string, reset bool) error,
	render func(*rallyv1.Change) (*rallyv1.Change, bool, error),
	rights func(ctx context.Context, cursor string) error,
	private *privateFeed,
) error {
	w, err := s.startWatch(ctx, topic, cursor, send, snapshot, render, rights, private)
	if err != nil {
		return err
	}
	defer w.close()
	return w.loop()
}

// watching is one watch stream's state. watch keeps it out of its frames: the stream
// waits for hours in loop, whose frame is small, so that the goroutine's stack at rest is
// shallow enough for the runtime to shrink it (see streamchain); the work is done in
// functions called when a message comes, whose frames come and go.
type watching struct {
	s        *service
	ctx      context.Context
	topic    string
	send     func(*rallyv1.Change) error
	snapshot func(cursor string, reset bool) error
	render   func(*rallyv1.Change) (*rallyv1.Change, bool, error)
	rights   func(ctx context.Context, cursor string) error
	private  *privateFeed
	sub      pubsub.Subscription
	psub     pubsub.Subscription // the private feed's; nil without one
	last     string              // the watcher's position: the cursor of the last message it was sent
	release  func()              // the caller's watch slot
	closed   func()              // the metrics' count of open watches
}

// startWatch takes a watch slot, subscribes and sends the snapshot (see subscribe).
func (s *service) startWatch(ctx context.Context, topic, cursor string,
	send func(*rallyv1.Change) error,
	snapshot func(cursor string, reset bool) error,
	render func(*rallyv1.Change) (*rallyv1.Change, bool, error),
	rights func(ctx context.Context, cursor string) error,
	private *privateFeed,
) (*watching, error) {
	if s.broker == nil {
		return nil, status.Error(codes.Unimplemented, "live updates are not configured")
	}
	release, err := s.watches.acquire(s.callerKey(ctx))
	if err != nil {
		return nil, err
	}
	kind := metrics.WatchEvent
	if strings.HasPrefix(topic, "campaigns/") {
		kind = metrics.WatchCampaign
	}
	w := &watching{s: s, topic: topic, send: send, snapshot: snapshot, render: render, rights: rights, private: private,
		release: release, closed: s.metrics.WatchOpened(kind)}
	w.ctx = pubsub.WithSlowHook(ctx, func() { s.metrics.WatchDropped(kind) })

	// The private feed is subscribed first, so that nothing it carries after the
	// snapshot is missed.
	if private != nil {
		if w.psub, _, err = s.subscribe(w.ctx, private.topic, cursor, nil); err != nil {
			w.close()
			return nil, err
		}
	}
	if w.sub, w.last, err = s.subscribe(w.ctx, topic, cursor, snapshot); err != nil {
		w.close()
		return nil, err
	}
	return w, nil
}

// close gives back what the stream holds, its subscription aside (loop closes that).
func (w *watching) close() {
	if w.psub != nil {
		w.psub.Close()
	}
	w.closed()
	w.release()
}

// loop delivers until the client leaves, the server shuts down or delivering fails.
func (w *watching) loop() error {
	for {
		if w.psub == nil {
			// Most watchers have no private feed: the topic's subscription is all they wait
			// on, and it ends when the stream's context does (pubsub.Broker), so a receive
			// does what the select below would, for less (it runs for every watcher of
			// every message, and a select locks each of its channels to sleep and again to
			// wake).
			m, ok := <-w.sub.C()
			if err := w.received(m, ok); err != nil {
				return err
			}
			continue
		}
		select {
		case <-w.ctx.Done():
			w.sub.Close()
			return w.ctx.Err()
		case _, ok := <-w.psub.C():
			if err := w.signalled(ok); err != nil {
				w.sub.Close()
				return err
			}
		case m, ok := <-w.sub.C():
			if err := w.received(m, ok); err != nil {
				return err
			}
		}
	}
}

// received handles a message of the topic's subscription, or its end (ok false).
func (w *watching) received(m *pubsub.Message, ok bool) error {
	if !ok {
		return w.resume()
	}
	if err := w.message(m); err != nil {
		w.sub.Close()
		return err
	}
	return nil
}

// signalled handles a signal of the private feed, or its end (ok false).
func (w *watching) signalled(ok bool) error {
	if !ok {
		// Dropped (slow, or its history expired) or shut down: follow it afresh and send
		// the current state, in case a signal was lost meanwhile.
		if w.ctx.Err() != nil {
			return w.ctx.Err()
		}
		if errors.Is(w.psub.Err(), pubsub.ErrClosed) {
			return errShutdown(w.last)
		}
		psub, _, err := w.s.subscribe(w.ctx, w.private.topic, w.last, nil)
		if err != nil {
			return err
		}
		w.psub = psub
	}
	return w.private.send(w.ctx, w.last)
}

// message re-checks the watcher's rights and delivers m.
func (w *watching) message(m *pubsub.Message) error {
	if w.rights != nil {
		if err := w.rights(w.ctx, m.Cursor); err != nil {
			return err
		}
	}
	if err := w.s.deliver(m, w.send, w.render); err != nil {
		return err
	}
	w.last = m.Cursor
	return nil
}

// resume follows the topic again after its subscription ended, or says why the stream
// ends.
func (w *watching) resume() error {
	switch err := w.sub.Err(); {
	case errors.Is(err, pubsub.ErrSlow):
		// The watcher fell behind; pick up from the last message it got. If that is no
		// longer in the history, it gets a fresh snapshot: the coalesced state.
		w.sub, w.last, err = w.s.subscribe(w.ctx, w.topic, w.last, w.snapshot)
		return err
	case errors.Is(err, pubsub.ErrReset):
		w.sub, w.last, err = w.s.subscribe(w.ctx, w.topic, "", w.snapshot)
		return err
	case errors.Is(err, pubsub.ErrClosed):
		return errShutdown(w.last)
	default:
		return err
	}
}

// privateFeed is a live feed of one watcher's own, which watch follows besides its
// audience's history: a buddy topic (buddy.go, publish.go). It has no history the
// watcher resumes from and no cursors of its own: what it sends carries the watcher's
// position in the history (send's cursor), so that the history's numbering is the same
// whether or not a watcher has a buddy. Its messages say only that something changed.
type privateFeed struct {
	topic string
	// send sends the watcher its own state after a signal, at its position cursor.
	send func(ctx context.Context, cursor string) error
}

// subscribe subscribes from cursor, or afresh when cursor is empty or cannot be resumed,
// in which case it sends the snapshot first (marked reset if a cursor was given). It
// returns the watcher's position: cursor when resuming, the snapshot's cursor otherwise,
// so that a watcher dropped again before its next message resumes from the right place.
func (s *service) subscribe(ctx context.Context, topic, cursor string, snapshot func(string, bool) error) (pubsub.Subscription, string, error) {
	if snapshot == nil {
		// A live feed: no history to resume, no snapshot to send.
		sub, err := s.broker.Subscribe(ctx, topic, "")
		if errors.Is(err, pubsub.ErrClosed) {
			return nil, "", errShutdown(cursor)
		}
		return sub, "", err
	}
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
// replica, see decodeChange): each watcher renders into a Change of its own that shares
// the decoded parts, which nobody modifies.
func (s *service) deliver(m *pubsub.Message, send func(*rallyv1.Change) error, render func(*rallyv1.Change) (*rallyv1.Change, bool, error)) error {
	shared, err := s.decodeChange(m)
	if err != nil {
		s.log.Error("dropping an undecodable change", "topic", m.Topic, "err", err)
		return nil
	}
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

// decodeChange returns the Change published as m, decoded once per replica (see latest
// and recent).
func (s *service) decodeChange(m *pubsub.Message) (*rallyv1.Change, error) {
	if c, ok := s.lastChange.get(m.Topic, m.Cursor); ok {
		return c, nil
	}
	// The topic is in the key as a cursor only holds a hash of it.
	v, err := s.reads.Do("change@"+m.Topic+"@"+m.Cursor, func() (any, error) {
		c := new(rallyv1.Change)
		err := proto.Unmarshal(m.Payload, c)
		return c, err
	})
	if err != nil {
		return nil, err
	}
	c := v.(*rallyv1.Change)
	s.lastChange.set(m.Topic, m.Cursor, c)
	return c, nil
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
	if e, ok := s.lastEvent.get(name, cursor); ok {
		return e, nil
	}
	v, err := s.shared(ctx, name+"@"+cursor, func(ctx context.Context) (any, error) { return s.store.GetEvent(ctx, name) })
	if err != nil {
		return nil, err
	}
	e := v.(*rallyv1.Event)
	s.lastEvent.set(name, cursor, e)
	return e, nil
}

// shaper says how one watcher sees an event: the key of its view, shared by the
// watchers who see it alike, and the function that makes the view from a copy.
type shaper func(context.Context, *rallyv1.Event) (key string, view func(*rallyv1.Event) *rallyv1.Event, err error)

// sharedView is current as shape shows it, made once under the view's key and at (a
// position: the message's, or the snapshot's) for every watcher who sees it alike.
// current is shared: it is copied before it is shaped.
func (s *service) sharedView(ctx context.Context, current *rallyv1.Event, shape shaper, at string) (*rallyv1.Event, error) {
	key, view, err := shape(ctx, current)
	if err != nil {
		return nil, err
	}
	if e, ok := s.lastView.get(key, at); ok {
		return e, nil
	}
	v, err := s.shared(ctx, key+at, func(context.Context) (any, error) { return view(proto.CloneOf(current)), nil })
	if err != nil {
		return nil, err
	}
	e := v.(*rallyv1.Event)
	s.lastView.set(key, at, e)
	return e, nil
}

// snapshotEvent is the event as a watcher of topic whose subscription starts at cursor
// is shown it first, shaped for it: shared, like a rendered change, by the watchers of
// the topic who subscribe at the same cursor and see it alike. Each watcher keeps the
// event it was last sent for the life of its stream (to skip changes it would not see),
// so a copy of its own cost every watcher about a kilobyte for as long as nothing
// changed. Any read shared at cursor was made after cursor was the topic's latest, as
// this watcher's own would be, and whatever changed since follows cursor in the topic.
// A topic without history (cursor "") has nothing to anchor a shared read to: its
// watchers read their own.
func (s *service) snapshotEvent(ctx context.Context, topic, name, cursor string, shape shaper) (*rallyv1.Event, error) {
	if cursor == "" {
		e, err := s.store.GetEvent(ctx, name)
		if err != nil {
			return nil, err
		}
		_, view, err := shape(ctx, e)
		if err != nil {
			return nil, err
		}
		return view(e), nil
	}
	at := "snapshot:" + topic + "@" + cursor
	current, err := s.shared(ctx, at, func(ctx context.Context) (any, error) { return s.store.GetEvent(ctx, name) })
	if err != nil {
		return nil, err
	}
	return s.sharedView(ctx, current.(*rallyv1.Event), shape, at)
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
	c, err := s.sharedCampaign(ctx, name, cursor)
	if err != nil {
		return nil, err
	}
	return proto.CloneOf(c), nil
}

// sharedCampaign is sharedEvent for a campaign: shared, not to be modified.
func (s *service) sharedCampaign(ctx context.Context, name, cursor string) (*rallyv1.Campaign, error) {
	v, err := s.shared(ctx, name+"@"+cursor, func(ctx context.Context) (any, error) { return s.store.GetCampaign(ctx, name) })
	if err != nil {
		return nil, err
	}
	return v.(*rallyv1.Campaign), nil
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

// watchArgs are the arguments of watch, prepared by a handler (see WatchEvent).
type watchArgs struct {
	ctx           context.Context
	topic, cursor string
	send          func(*rallyv1.Change) error
	snapshot      func(cursor string, reset bool) error
	render        func(*rallyv1.Change) (*rallyv1.Change, bool, error)
	rights        func(ctx context.Context, cursor string) error
	private       *privateFeed
}

// WatchEvent prepares the stream in a function of its own, so that the stack it waits on
// for hours holds this small frame, not the preparation's (see streamchain: the smaller
// the stack at rest, the smaller the runtime shrinks it).
func (s *eventServer) WatchEvent(req *rallyv1.WatchEventRequest, stream rallyv1.EventService_WatchEventServer) error {
	a, err := s.prepareWatchEvent(req, stream)
	if err != nil {
		return err
	}
	return s.watch(a.ctx, a.topic, a.cursor, a.send, a.snapshot, a.render, a.rights, a.private)
}

func (s *eventServer) prepareWatchEvent(req *rallyv1.WatchEventRequest, stream rallyv1.EventService_WatchEventServer) (*watchArgs, error) {
	ctx := stream.Context()
	e, err := s.store.GetEvent(ctx, req.GetName())
	if err != nil {
		return nil, err
	}
	caller := auth.FromContext(ctx)
	aud, err := s.eventAudience(ctx, caller, e)
	if err != nil {
		return nil, err
	}
	// The shaped event is shared by all the watchers of a message who see it alike: with
	// thousands of watchers, shaping (and copying) it once per watcher was a fifth of the
	// fan-out's CPU. Everyone sees it as the public or as its organisers do, except that
	// an RSVP holder also sees the meeting point once their RSVP is GOING and the reveal
	// time has passed. Reading the holder's RSVP for that is only needed once the reveal
	// time has passed, and only until it says yes: a holder shown the meeting point keeps
	// it for the stream (the re-check of rights ends the stream if the RSVP is cancelled).
	revealed := false
	shape := shaper(func(ctx context.Context, e *rallyv1.Event) (string, func(*rallyv1.Event) *rallyv1.Event, error) {
		switch aud {
		case audienceOrganisers:
			// The organisers' view depends on the time: not_checked_out once ended.
			now := s.now()
			ended := e.GetEndTime() != nil && !now.Before(e.GetEndTime().AsTime())
			key := "view:organisers:open:" // a constant: this runs for each watcher of each message
			if ended {
				key = "view:organisers:ended:"
			}
			return key, func(e *rallyv1.Event) *rallyv1.Event { return presentAt(e, true, now) }, nil
		case audiencePublic:
			return "view:public:", func(e *rallyv1.Event) *rallyv1.Event { return present(e, false) }, nil
		}
		if reveal := e.GetMeetingPointRevealTime(); !revealed && (reveal == nil || !s.now().Before(reveal.AsTime())) {
			r, _, err := s.holderRSVP(ctx, e.GetName(), caller)
			if err != nil {
				return "", nil, err
			}
			revealed = r.GetState() == rallyv1.RsvpState_RSVP_STATE_GOING
		}
		r := revealed
		key := "holder:hidden:"
		if r {
			key = "holder:revealed:"
		}
		return key, func(e *rallyv1.Event) *rallyv1.Event { return presentToHolder(e, r) }, nil
	})
	// last is the event as this watcher was last sent it: a change that leaves it as it
	// was (an attendance change after a shutdown's lost window, one published by two
	// replicas) is not sent. Organisers are sent every change.
	var last *rallyv1.Event
	private, err := s.buddyFeed(ctx, caller, req.GetName(), aud, stream.Send)
	if err != nil {
		return nil, err
	}
	topic := eventTopic(req.GetName(), aud)
	return &watchArgs{ctx: ctx, topic: topic, cursor: req.GetCursor(), send: s.changeSender(stream),
		snapshot: func(cursor string, reset bool) error {
			e, err := s.snapshotEvent(ctx, topic, req.GetName(), cursor, shape)
			if err != nil {
				return err
			}
			last = e
			return stream.Send(&rallyv1.Change{Resource: e.GetName(), Kind: rallyv1.ChangeKind_CHANGE_KIND_SNAPSHOT, Event: last, Cursor: cursor, Reset_: reset, ChangeTime: timestamppb.New(s.now())})
		},
		render: func(c *rallyv1.Change) (*rallyv1.Change, bool, error) {
			switch {
			case c.GetKind() == rallyv1.ChangeKind_CHANGE_KIND_ANNOUNCEMENT:
				return c, mayRead(c.GetAnnouncement(), aud), nil
			case strings.HasPrefix(c.GetResource(), "tasks/"):
				return s.renderTask(ctx, c)
			}
			current, err := s.sharedEvent(ctx, c.GetResource(), c.GetCursor())
			if err != nil {
				return nil, false, err
			}
			e, err := s.sharedView(ctx, current, shape, c.GetResource()+"@"+c.GetCursor())
			if err != nil {
				return nil, false, err
			}
			// e is shared: marshalled, never modified.
			if aud != audienceOrganisers && proto.Equal(e, last) {
				return nil, false, nil
			}
			last, c.Event = e, e
			return c, true, nil
		},
		rights: s.authorizeEventStream(caller, req.GetName(), aud), private: private}, nil
}

// buddyFeed is the private feed of an RSVP holder's stream: its own RSVP's buddy topic.
// On each signal the stream re-reads the holder's RSVP (re-checking that it is current,
// as every message of the holders' history does) and sends it, as GetRsvp shows it to
// its holder, in a Change of kind BUDDY. Nobody else's stream follows that topic. Nil for
// other audiences.
func (s *service) buddyFeed(ctx context.Context, caller auth.Principal, event string, aud audience, send func(*rallyv1.Change) error) (*privateFeed, error) {
	if aud != audienceHolders {
		return nil, nil
	}
	r, _, err := s.holderRSVP(ctx, event, caller)
	if err != nil {
		return nil, err
	}
	rights := s.authorizeEventStream(caller, event, aud)
	return &privateFeed{topic: s.buddyTopics(r.GetName())[0], send: func(ctx context.Context, cursor string) error {
		if err := rights(ctx, cursor); err != nil {
			return err
		}
		r, _, err := s.holderRSVP(ctx, event, caller)
		if err != nil {
			return err
		}
		view, err := s.holderView(ctx, r)
		if err != nil {
			return err
		}
		return send(&rallyv1.Change{Resource: view.GetName(), Kind: rallyv1.ChangeKind_CHANGE_KIND_BUDDY, Rsvp: view,
			Cursor: cursor, ChangeTime: timestamppb.New(s.now())})
	}}, nil
}

// WatchCampaign prepares the stream in a function of its own, as WatchEvent does.
func (s *eventServer) WatchCampaign(req *rallyv1.WatchCampaignRequest, stream rallyv1.EventService_WatchCampaignServer) error {
	a, err := s.prepareWatchCampaign(req, stream)
	if err != nil {
		return err
	}
	return s.watch(a.ctx, a.topic, a.cursor, a.send, a.snapshot, a.render, a.rights, a.private)
}

func (s *eventServer) prepareWatchCampaign(req *rallyv1.WatchCampaignRequest, stream rallyv1.EventService_WatchCampaignServer) (*watchArgs, error) {
	ctx := stream.Context()
	c, err := s.store.GetCampaign(ctx, req.GetName())
	if err != nil {
		return nil, err
	}
	caller := auth.FromContext(ctx)
	aud := audiencePublic
	if organisesCampaign(caller, c) {
		aud = audienceOrganisers
	}
	// last holds each event as this watcher was last sent it; see WatchEvent.
	last := map[string]*rallyv1.Event{}
	viewEvent := func(e *rallyv1.Event) *rallyv1.Event { return presentAt(e, aud == audienceOrganisers, s.now()) }
	return &watchArgs{ctx: ctx, topic: campaignTopic(req.GetName(), aud), cursor: req.GetCursor(), send: s.changeSender(stream),
		snapshot: func(cursor string, reset bool) error {
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
					e = viewEvent(e)
					last[e.GetName()] = e
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
		render: func(ch *rallyv1.Change) (*rallyv1.Change, bool, error) {
			switch {
			case ch.GetKind() == rallyv1.ChangeKind_CHANGE_KIND_ANNOUNCEMENT:
				return ch, mayRead(ch.GetAnnouncement(), aud), nil
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
			if err != nil {
				return nil, false, err
			}
			e = viewEvent(e)
			if aud != audienceOrganisers && proto.Equal(e, last[e.GetName()]) {
				return nil, false, nil
			}
			last[e.GetName()], ch.Event = e, e
			return ch, true, nil
		},
		rights: s.authorizeCampaignStream(caller, req.GetName(), aud)}, nil
}
