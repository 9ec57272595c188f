package server

import (
	"context"
	"errors"
	"slices"
	"time"
	_ "time/tzdata" // time zones must not depend on the host's tzdata package

	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"

	rallyv1 "github.com/rallyhq/rally/gen/go/rally/v1"
	"github.com/rallyhq/rally/internal/auth"
	"github.com/rallyhq/rally/internal/names"
	"github.com/rallyhq/rally/internal/store"
)

type eventServer struct {
	rallyv1.UnimplementedEventServiceServer
	*service
}

// The campaign is IMMUTABLE: moving an event to another campaign would change who
// manages it.
var eventMask = deriveMask((*rallyv1.Event)(nil).ProtoReflect().Descriptor())

// errNoChange tells a mutate function's caller that the stored resource is already in
// the requested state, so nothing is written.
var errNoChange = errors.New("no change")

// checkTimeZone rejects names that protovalidate's pattern lets through but Go's copy
// of the IANA database does not know. "Local" would mean the server's own zone.
func checkTimeZone(field, tz string) error {
	if _, err := time.LoadLocation(tz); err != nil || tz == "Local" {
		return errInvalid(field, "unknown IANA time zone; use a name such as Europe/Berlin")
	}
	return nil
}

func (s *eventServer) CreateEvent(ctx context.Context, req *rallyv1.CreateEventRequest) (*rallyv1.Event, error) {
	caller := auth.FromContext(ctx)
	e := proto.CloneOf(req.GetEvent())
	if err := checkTimeZone("event.time_zone", e.GetTimeZone()); err != nil {
		return nil, err
	}
	if e.GetCampaign() != "" {
		c, err := s.store.GetCampaign(ctx, e.GetCampaign())
		if errors.Is(err, store.ErrNotFound) {
			return nil, errInvalid("event.campaign", "no such campaign")
		} else if err != nil {
			return nil, err
		}
		if !organisesCampaign(caller, c) {
			return nil, errDenied("create events in " + c.GetName() + ": only its organisers may")
		}
	}
	id := req.GetEventId()
	switch {
	case id != "":
	case req.GetRequestId() != "":
		id = idFromRequestID("events", caller.ID(), req.GetRequestId())
	default:
		id = newID()
	}
	now := timestamppb.New(s.now())
	e.Name, e.CreateTime, e.UpdateTime = names.EventName(id), now, now
	e.State, e.CancelReason, e.Attendance = rallyv1.EventState_EVENT_STATE_SCHEDULED, "", nil
	e.Owner = caller.Organiser // empty for the admin
	if e.GetAttendanceVisibility() == rallyv1.AttendanceVisibility_ATTENDANCE_VISIBILITY_UNSPECIFIED {
		e.AttendanceVisibility = rallyv1.AttendanceVisibility_ATTENDANCE_VISIBILITY_APPROXIMATE
	}
	e.Etag = ""
	e.Etag = s.etag(e)
	err := s.store.CreateEvent(ctx, e)
	if errors.Is(err, store.ErrAlreadyExists) && req.GetRequestId() != "" && req.GetEventId() == "" {
		e, err = s.store.GetEvent(ctx, e.GetName()) // a retry: return the first attempt's result
	} else if err == nil {
		s.publishTo(ctx, audiencePublic, rallyv1.ChangeKind_CHANGE_KIND_CREATED, e.GetName(), nil, e.GetName(), e.GetCampaign())
	}
	if err != nil {
		return nil, err
	}
	return present(e, true), nil
}

func (s *eventServer) GetEvent(ctx context.Context, req *rallyv1.GetEventRequest) (*rallyv1.Event, error) {
	e, err := s.store.GetEvent(ctx, req.GetName())
	if err != nil {
		return nil, err
	}
	// Read before viewEvent, which clears the owner for everyone but organisers. Only
	// GetEvent looks the keys up, as only GetCampaign does for a campaign.
	keys, err := s.eventRecipientKeys(ctx, e)
	if err != nil {
		return nil, err
	}
	v, err := s.viewEvent(ctx, auth.FromContext(ctx), e, nil)
	if err != nil {
		return nil, err
	}
	v.RecipientKeys = keys
	return v, nil
}

func (s *eventServer) ListEvents(ctx context.Context, req *rallyv1.ListEventsRequest) (*rallyv1.ListEventsResponse, error) {
	q := store.EventQuery{
		Campaign:           req.GetCampaign(),
		Country:            req.GetCountry(),
		Locality:           req.GetLocality(),
		RepresentedCountry: req.GetRepresentedCountry(),
		ShowCancelled:      req.GetShowCancelled(),
		PageSize:           pageSize(req.GetPageSize()),
		PageToken:          req.GetPageToken(),
	}
	if req.GetStartAfter() != nil {
		q.StartAfter = req.GetStartAfter().AsTime()
	}
	if req.GetStartBefore() != nil {
		q.StartBefore = req.GetStartBefore().AsTime()
	}
	page, err := s.store.ListEvents(ctx, q)
	if err != nil {
		return nil, err
	}
	caller, campaigns := auth.FromContext(ctx), map[string]*rallyv1.Campaign{}
	for i, e := range page.Items {
		if page.Items[i], err = s.viewEvent(ctx, caller, e, campaigns); err != nil {
			return nil, err
		}
	}
	return &rallyv1.ListEventsResponse{Events: page.Items, NextPageToken: page.NextPageToken}, nil
}

func (s *eventServer) UpdateEvent(ctx context.Context, req *rallyv1.UpdateEventRequest) (*rallyv1.Event, error) {
	in := req.GetEvent()
	if _, ok := names.Event(in.GetName()); !ok {
		return nil, errInvalid("event.name", "must be an event name such as events/abc")
	}
	paths, err := eventMask.paths("update_mask", req.GetUpdateMask(), in)
	if err != nil {
		return nil, err
	}
	// The event's campaign and owner never change, so a check before the update holds
	// for the update too.
	if _, err := s.authorizeEvent(ctx, in.GetName()); err != nil {
		return nil, err
	}
	e, err := s.store.UpdateEvent(ctx, in.GetName(), func(cur *rallyv1.Event) error {
		if in.GetEtag() != "" && in.GetEtag() != cur.GetEtag() {
			return errEtagMismatch("event.etag")
		}
		if cur.GetState() == rallyv1.EventState_EVENT_STATE_CANCELLED {
			return errPrecondition(cur.GetName(), "the event is cancelled and can no longer be changed")
		}
		apply(in, cur, paths)
		if err := s.validator.Validate(cur); err != nil {
			return validationError(err, "event")
		}
		if err := checkTimeZone("event.time_zone", cur.GetTimeZone()); err != nil {
			return err
		}
		cur.UpdateTime = timestamppb.New(s.now())
		cur.Etag = s.etag(cur)
		return nil
	})
	if err != nil {
		return nil, err
	}
	// A larger capacity frees places for the waitlist, and a new end time moves the
	// deletion of the RSVPs. The update itself has succeeded: if this fails, the next
	// RSVP write promotes anyway (every one does), so the client is not told to retry.
	promoted := func() {}
	if slices.Contains(paths, "capacity") {
		promoted = s.promotions(ctx, e.GetName(), capacityPromotions)
	}
	if err := s.store.Rebalance(ctx, e.GetName()); err != nil {
		s.log.ErrorContext(ctx, "rebalancing RSVPs after an event update failed", "event", e.GetName(), "err", err)
	}
	promoted()
	s.publishTo(ctx, updateAudience(paths), rallyv1.ChangeKind_CHANGE_KIND_UPDATED, e.GetName(), nil, e.GetName(), e.GetCampaign())
	return present(e, true), nil
}

func (s *eventServer) CancelEvent(ctx context.Context, req *rallyv1.CancelEventRequest) (*rallyv1.Event, error) {
	if _, err := s.authorizeEvent(ctx, req.GetName()); err != nil {
		return nil, err
	}
	e, err := s.store.UpdateEvent(ctx, req.GetName(), func(cur *rallyv1.Event) error {
		if req.GetEtag() != "" && req.GetEtag() != cur.GetEtag() {
			return errEtagMismatch("etag")
		}
		if cur.GetState() == rallyv1.EventState_EVENT_STATE_CANCELLED {
			return errNoChange
		}
		cur.State = rallyv1.EventState_EVENT_STATE_CANCELLED
		cur.CancelReason = req.GetReason()
		cur.UpdateTime = timestamppb.New(s.now())
		cur.Etag = s.etag(cur)
		return nil
	})
	if errors.Is(err, errNoChange) {
		e, err = s.store.GetEvent(ctx, req.GetName())
	} else if err == nil {
		s.publishTo(ctx, audiencePublic, rallyv1.ChangeKind_CHANGE_KIND_CANCELLED, e.GetName(), nil, e.GetName(), e.GetCampaign())
	}
	if err != nil {
		return nil, err
	}
	return present(e, true), nil
}

// updateAudience is the least audience that sees an event update of these paths: the
// holders' and organisers' histories alone when only the meeting point changed, which
// the public does not see (a public message would tell it that something hidden moved).
func updateAudience(paths []string) audience {
	for _, p := range paths {
		if p != "meeting_point" && p != "meeting_point_reveal_time" {
			return audiencePublic
		}
	}
	return audienceHolders
}
