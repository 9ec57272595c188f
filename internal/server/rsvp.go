package server

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/timestamppb"

	rallyv1 "github.com/rallyhq/rally/gen/go/rally/v1"
	"github.com/rallyhq/rally/internal/auth"
	"github.com/rallyhq/rally/internal/metrics"
	"github.com/rallyhq/rally/internal/names"
	"github.com/rallyhq/rally/internal/store"
)

type rsvpServer struct {
	rallyv1.UnimplementedRsvpServiceServer
	*service
}

var rsvpMask = deriveMask((*rallyv1.Rsvp)(nil).ProtoReflect().Descriptor())

// defaultRSVPPageSize is the page size of lists of people (RSVPs, claims) and of the
// audit log of reads of them, which organisers read in bulk.
const defaultRSVPPageSize = 100

func (s *rsvpServer) CreateRsvp(ctx context.Context, req *rallyv1.CreateRsvpRequest) (*rallyv1.CreateRsvpResponse, error) {
	in := req.GetRsvp()
	if in.GetGuests() > s.maxGuests {
		s.metrics.RSVP(metrics.RSVPTooManyGuests)
		return nil, errInvalid("rsvp.guests", fmt.Sprintf("at most %d guests", s.maxGuests))
	}
	event := req.GetParent()
	id := req.GetRsvpId()
	if id == "" {
		id = newID()
	}
	name := names.RSVPName(event, id)
	personal, err := s.sealRSVP(ctx, event, name, in.GetEnvelope(), &rallyv1.SealedFields{DisplayName: in.GetDisplayName(), Contact: in.GetContact()})
	if err != nil {
		return nil, err
	}
	token := auth.NewToken(auth.RSVPPrefix)
	hash := auth.Hash(token)
	now := s.now()
	n := store.NewRSVP{
		Rsvp: &rallyv1.Rsvp{
			Name:       name,
			Guests:     in.GetGuests(),
			Envelope:   personal.Envelope,
			CreateTime: timestamppb.New(now),
			UpdateTime: timestamppb.New(now),
		},
		TokenHash: hash[:],
	}
	// The organisers' attendance change goes with the first RSVP of a rush, the rest
	// once per interval (throttle.go). A store that can records it with the RSVP (one
	// round trip on the hot path, and the change cannot be lost); the others return it
	// to publish below.
	live := s.organisers.live(event)
	if live {
		n.Change = &store.Publication{Topic: eventTopic(event, audienceOrganisers), Payload: s.change(rallyv1.ChangeKind_CHANGE_KIND_ATTENDANCE, event, nil)}
	} else {
		defer s.organisers.after(event)
	}
	if personal.InClear {
		n.Rsvp.DisplayName, n.Rsvp.Contact = in.GetDisplayName(), in.GetContact()
	}
	if id := req.GetRequestId(); id != "" {
		sealed, err := sealToken(s.secrets, event, id, []byte(token))
		if err != nil {
			return nil, err
		}
		n.RequestKey, n.SealedToken = requestKey(event, id), sealed
	}
	created, err := s.store.CreateRSVP(ctx, event, n, now)
	s.metrics.RSVP(createOutcome(created, err))
	if errors.Is(err, store.ErrPartyTooLarge) {
		// The store decided; read the event only to say how large a party may be (if the
		// capacity grew meanwhile, the store's answer stands).
		if _, precise := s.checkPartyFits(ctx, event, in.GetGuests()); precise != nil {
			err = precise
		}
	}
	if err != nil {
		return nil, rsvpError(event, err)
	}
	switch {
	case created.Replayed:
		opened, err := openToken(s.secrets, event, req.GetRequestId(), created.SealedToken)
		if errors.Is(err, errSealedUnopenable) {
			return nil, errReplayUnopenable()
		} else if err != nil {
			return nil, err
		}
		token = string(opened)
	default:
		if u := created.Unpublished; u != nil {
			s.publishChange(ctx, u.Payload, u.Topic)
		}
		s.attendanceChanged(event)
	}
	inClear := created.Rsvp.GetDisplayName() != "" || created.Rsvp.GetContact() != ""
	return &rallyv1.CreateRsvpResponse{Rsvp: s.presentRSVPTo(ctx, created.Rsvp, false), ManageToken: token, StoredInClear: inClear}, nil
}

// sealRSVP seals an RSVP's personal fields for the RSVP named name (see seal).
func (s *service) sealRSVP(ctx context.Context, event, name string, env *rallyv1.Envelope, plain *rallyv1.SealedFields) (sealed, error) {
	if !hasPersonal(env, plain) {
		return sealed{}, nil
	}
	e, err := s.store.GetEvent(ctx, event)
	if err != nil {
		return sealed{}, err
	}
	keys, err := s.eventRecipientKeys(ctx, e)
	if err != nil {
		return sealed{}, err
	}
	return seal(name, "rsvp.envelope", env, plain, keys)
}

// createOutcome is the outcome of a CreateRsvp to count, from the store's answer.
func createOutcome(created store.CreatedRSVP, err error) metrics.RSVPOutcome {
	switch {
	case err != nil:
		return rsvpRefusal(err)
	case created.Replayed:
		return metrics.RSVPReplayed
	case created.Rsvp.GetState() == rallyv1.RsvpState_RSVP_STATE_WAITLISTED:
		return metrics.RSVPWaitlisted
	}
	return metrics.RSVPGoing
}

// checkPartyFits refuses a party larger than the whole capacity: with a first come, first
// served waitlist it could never be promoted, and would block everyone behind it.
// It returns the event it read.
func (s *service) checkPartyFits(ctx context.Context, event string, guests int32) (*rallyv1.Event, error) {
	e, err := s.store.GetEvent(ctx, event)
	if err != nil {
		return nil, err
	}
	if c := e.GetCapacity(); c > 0 && 1+guests > c {
		return nil, errPrecondition(event, fmt.Sprintf("the event has %d places in all; a party of %d can never fit", c, 1+guests))
	}
	return e, nil
}

func (s *rsvpServer) GetRsvp(ctx context.Context, req *rallyv1.GetRsvpRequest) (*rallyv1.Rsvp, error) {
	organiser, err := s.authorizeRSVP(ctx, req.GetName())
	if err != nil {
		return nil, err
	}
	if organiser {
		if err := s.audit(ctx, names.EventOfRSVP(req.GetName()), "GetRsvp"); err != nil {
			return nil, err
		}
	}
	r, _, err := s.store.GetRSVP(ctx, req.GetName())
	if err != nil {
		return nil, err
	}
	return s.viewRSVP(ctx, r, organiser)
}

// viewRSVP shapes an RSVP for its reader: for an organiser as presentRSVPTo does, for
// its holder with its buddy too (holderView).
func (s *service) viewRSVP(ctx context.Context, r *rallyv1.Rsvp, organiser bool) (*rallyv1.Rsvp, error) {
	if organiser {
		return s.presentRSVPTo(ctx, r, true), nil
	}
	return s.holderView(ctx, r)
}

func (s *rsvpServer) UpdateRsvp(ctx context.Context, req *rallyv1.UpdateRsvpRequest) (*rallyv1.Rsvp, error) {
	in := req.GetRsvp()
	if _, _, ok := names.RSVP(in.GetName()); !ok {
		return nil, errInvalid("rsvp.name", "must be an RSVP name such as events/abc/rsvps/xyz")
	}
	paths, err := rsvpMask.paths("update_mask", req.GetUpdateMask(), in)
	if err != nil {
		return nil, err
	}
	organiser, err := s.authorizeRSVP(ctx, in.GetName())
	if err != nil {
		return nil, err
	}
	hidden := false // whether a holder's raise of guests must not consult the free places
	c, err := s.personalChange(ctx, in, paths)
	if err != nil {
		return nil, err
	}
	for _, p := range paths {
		switch p {
		case "guests":
			if in.GetGuests() > s.maxGuests {
				s.metrics.RSVP(metrics.RSVPTooManyGuests)
				return nil, errInvalid("rsvp.guests", fmt.Sprintf("at most %d guests", s.maxGuests))
			}
			e, err := s.checkPartyFits(ctx, names.EventOfRSVP(in.GetName()), in.GetGuests())
			if err != nil {
				if status.Code(err) == codes.FailedPrecondition {
					s.metrics.RSVP(metrics.RSVPTooLarge)
				}
				return nil, err
			}
			if err := s.refuseHiddenGrowth(ctx, e, in.GetName(), in.GetGuests(), organiser); err != nil {
				return nil, err
			}
			hidden = !organiser && e.GetAttendanceVisibility() == rallyv1.AttendanceVisibility_ATTENDANCE_VISIBILITY_HIDDEN
			c.Guests = &in.Guests
		}
	}
	if organiser {
		if err := s.audit(ctx, names.EventOfRSVP(in.GetName()), "UpdateRsvp"); err != nil {
			return nil, err
		}
	}
	promoted := func() {}
	if c.Guests != nil {
		promoted = s.promotions(ctx, names.EventOfRSVP(in.GetName()), s.rsvpWritePromotions())
	}
	r, err := s.store.UpdateRSVP(ctx, in.GetName(), c, s.now())
	if err != nil {
		s.metrics.RSVP(rsvpRefusal(err))
		if hidden && errors.Is(err, store.ErrNoRoom) {
			return nil, errHiddenGrowth(in.GetName())
		}
		return nil, rsvpError(in.GetName(), err)
	}
	s.metrics.RSVP(metrics.RSVPUpdated)
	if c.Guests != nil {
		s.rsvpChanged(ctx, names.EventOfRSVP(in.GetName()))
		promoted()
	}
	return s.viewRSVP(ctx, r, organiser)
}

func (s *rsvpServer) CancelRsvp(ctx context.Context, req *rallyv1.CancelRsvpRequest) (*rallyv1.Rsvp, error) {
	organiser, err := s.authorizeRSVP(ctx, req.GetName())
	if err != nil {
		return nil, err
	}
	if organiser {
		if err := s.audit(ctx, names.EventOfRSVP(req.GetName()), "CancelRsvp"); err != nil {
			return nil, err
		}
	}
	promoted := s.promotions(ctx, names.EventOfRSVP(req.GetName()), s.rsvpWritePromotions())
	r, err := s.store.CancelRSVP(ctx, req.GetName(), s.now())
	if err != nil {
		s.metrics.RSVP(rsvpRefusal(err))
		return nil, rsvpError(req.GetName(), err)
	}
	s.metrics.RSVP(metrics.RSVPCancelled)
	s.rsvpChanged(ctx, names.EventOfRSVP(req.GetName()))
	promoted()
	return s.viewRSVP(ctx, r, organiser)
}

// personalChange is the change of an UpdateRsvp to the RSVP's personal fields, sealed as
// a new RSVP's would be. The server cannot open a sealed RSVP's fields, so plain changes
// to one must give both fields; an unsealed RSVP's plain fields are merged and sealed
// when its campaign has keys by now.
func (s *service) personalChange(ctx context.Context, in *rallyv1.Rsvp, paths []string) (store.RSVPChange, error) {
	byEnvelope := slices.Contains(paths, "envelope")
	name, contact := slices.Contains(paths, "display_name"), slices.Contains(paths, "contact")
	if !byEnvelope && !name && !contact {
		return store.RSVPChange{}, nil
	}
	if byEnvelope && (name || contact) {
		return store.RSVPChange{}, errInvalid("update_mask", "change the personal fields either sealed in envelope or as display_name and contact, not both")
	}
	cur, _, err := s.store.GetRSVP(ctx, in.GetName())
	if err != nil {
		return store.RSVPChange{}, err
	}
	none, removed := "", &rallyv1.Envelope{}
	if byEnvelope && in.GetEnvelope() == nil {
		// An empty envelope in the mask removes the personal fields.
		return store.RSVPChange{Envelope: removed, DisplayName: &none, Contact: &none}, nil
	}
	fields := &rallyv1.SealedFields{DisplayName: cur.GetDisplayName(), Contact: cur.GetContact()}
	var env *rallyv1.Envelope
	switch {
	case byEnvelope:
		env, fields = in.GetEnvelope(), nil
	case cur.GetEnvelope() != nil && !(name && contact):
		return store.RSVPChange{}, errInvalid("update_mask", "the RSVP's display_name and contact are sealed, so the server cannot keep one while changing the other: change both together (or send a new envelope)")
	default:
		if name {
			fields.DisplayName = in.GetDisplayName()
		}
		if contact {
			fields.Contact = in.GetContact()
		}
	}
	personal, err := s.sealRSVP(ctx, names.EventOfRSVP(in.GetName()), in.GetName(), env, fields)
	if err != nil {
		return store.RSVPChange{}, err
	}
	if personal.Envelope != nil {
		return store.RSVPChange{Envelope: personal.Envelope, DisplayName: &none, Contact: &none}, nil
	}
	return store.RSVPChange{Envelope: removed, DisplayName: &fields.DisplayName, Contact: &fields.Contact}, nil
}

func (s *rsvpServer) ListRsvps(ctx context.Context, req *rallyv1.ListRsvpsRequest) (*rallyv1.ListRsvpsResponse, error) {
	if err := s.authorizeEventOrganiser(ctx, req.GetParent(), "list the RSVPs"); err != nil {
		return nil, err
	}
	// Recorded before the read, so that no read of the attendee list goes unrecorded.
	if err := s.audit(ctx, req.GetParent(), "ListRsvps"); err != nil {
		return nil, err
	}
	size := int(req.GetPageSize())
	if size == 0 {
		size = defaultRSVPPageSize
	}
	page, err := s.store.ListRSVPs(ctx, store.RSVPQuery{Event: req.GetParent(), State: req.GetState(), PageSize: size, PageToken: req.GetPageToken()})
	if err != nil {
		return nil, err
	}
	return &rallyv1.ListRsvpsResponse{Rsvps: page.Items, NextPageToken: page.NextPageToken}, nil
}

func (s *rsvpServer) CheckInRsvp(ctx context.Context, req *rallyv1.CheckInRsvpRequest) (*rallyv1.Rsvp, error) {
	if err := s.authorizeEventOrganiser(ctx, names.EventOfRSVP(req.GetName()), "check in RSVPs"); err != nil {
		return nil, err
	}
	if err := s.audit(ctx, names.EventOfRSVP(req.GetName()), "CheckInRsvp"); err != nil {
		return nil, err
	}
	r, err := s.store.CheckInRSVP(ctx, req.GetName(), s.now())
	if err != nil {
		s.metrics.RSVP(rsvpRefusal(err))
		return nil, rsvpError(req.GetName(), err)
	}
	s.metrics.RSVP(metrics.RSVPCheckedIn)
	// The organisers' streams carry checked_in: co-organisers checking people in on
	// several phones at the door see one count. The public view does not change.
	s.rsvpChanged(ctx, names.EventOfRSVP(req.GetName()))
	return r, nil
}

func (s *rsvpServer) ListAuditEntries(ctx context.Context, req *rallyv1.ListAuditEntriesRequest) (*rallyv1.ListAuditEntriesResponse, error) {
	if strings.HasPrefix(req.GetParent(), "tasks/") {
		// A task's claims are its campaign's organisers' to read, and so is their audit.
		if _, err := s.authorizeTask(ctx, req.GetParent()); err != nil {
			return nil, err
		}
	} else if err := s.authorizeEventOrganiser(ctx, req.GetParent(), "read the audit log"); err != nil {
		return nil, err
	}
	size := int(req.GetPageSize())
	if size == 0 {
		size = defaultRSVPPageSize
	}
	page, err := s.store.ListAudit(ctx, store.AuditQuery{Parent: req.GetParent(), PageSize: size, PageToken: req.GetPageToken()})
	if err != nil {
		return nil, err
	}
	return &rallyv1.ListAuditEntriesResponse{AuditEntries: page.Items, NextPageToken: page.NextPageToken}, nil
}
