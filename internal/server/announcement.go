package server

import (
	"context"
	"crypto/ed25519"
	"errors"
	"fmt"
	"strings"
	"time"

	"google.golang.org/protobuf/types/known/timestamppb"

	rallyv1 "github.com/rallyhq/rally/gen/go/rally/v1"
	"github.com/rallyhq/rally/internal/announcesig"
	"github.com/rallyhq/rally/internal/auth"
	"github.com/rallyhq/rally/internal/store"
)

// Announcements: organisers post them to an event (PostAnnouncement), and whoever may
// read them lists them (ListAnnouncements). Who may read which is mayRead (access.go);
// watch streams carry them as changes (watch.go).
//
// A posted announcement may carry an organiser's Ed25519 signature (issue 17), which the
// server checks (checkSignature) before it stores anything, and a campaign may require
// one. The server's check protects participants from a stolen organiser token; against
// a compromised server, their clients check the signature again themselves.

// signTimeSkew is how far a signature's sign_time may be from the server's clock, either
// way: it bounds how long a signed announcement can be replayed (on the same event: the
// event is signed), while leaving room for a phone's clock being a few minutes off.
const signTimeSkew = 10 * time.Minute

func (s *eventServer) PostAnnouncement(ctx context.Context, req *rallyv1.PostAnnouncementRequest) (*rallyv1.Announcement, error) {
	e, err := s.authorizeEvent(ctx, req.GetParent())
	if err != nil {
		return nil, err
	}
	in := req.GetAnnouncement()
	a := &rallyv1.Announcement{
		Name:       req.GetParent() + "/announcements/" + newID(),
		Text:       in.GetText(),
		Audience:   in.GetAudience(),
		CreateTime: timestamppb.New(s.now()),
	}
	if a.Audience == rallyv1.AnnouncementAudience_ANNOUNCEMENT_AUDIENCE_UNSPECIFIED {
		a.Audience = rallyv1.AnnouncementAudience_ANNOUNCEMENT_AUDIENCE_PUBLIC
	}
	if a.Signature, err = s.checkSignature(ctx, e, in); err != nil {
		return nil, err
	}
	if err := s.store.AppendAnnouncement(ctx, req.GetParent(), a); err != nil {
		return nil, err
	}
	least := audiencePublic
	if a.Audience == rallyv1.AnnouncementAudience_ANNOUNCEMENT_AUDIENCE_RSVP_HOLDERS {
		least = audienceHolders
	}
	s.publishTo(ctx, least, rallyv1.ChangeKind_CHANGE_KIND_ANNOUNCEMENT, e.GetName(), a, e.GetName(), e.GetCampaign())
	return a, nil
}

// checkSignature checks the signature of announcement in, posted to event e, and returns
// it as it is stored: what the client sent of it, with the output-only public_key and
// fingerprint filled from the key (whatever the client put there is dropped). It returns
// nil for an unsigned announcement, unless the event's campaign requires signatures.
// Its errors name the field at fault and never quote the text or the signature.
func (s *eventServer) checkSignature(ctx context.Context, e *rallyv1.Event, in *rallyv1.Announcement) (*rallyv1.AnnouncementSignature, error) {
	campaigns := map[string]*rallyv1.Campaign{}
	if e.GetCampaign() != "" {
		c, err := s.store.GetCampaign(ctx, e.GetCampaign())
		if err != nil {
			return nil, err
		}
		campaigns[c.GetName()] = c
	}
	sig := in.GetSignature()
	if sig == nil {
		if campaigns[e.GetCampaign()].GetRequireSignedAnnouncements() {
			return nil, errInvalid("announcement.signature", "is required: the event's campaign accepts only announcements signed by an organiser's Ed25519 key")
		}
		return nil, nil
	}

	// The key: an Ed25519 key, not revoked, of one of the event's organisers. An unknown
	// key and another organiser's key get one answer, so that the check does not tell
	// which key IDs exist.
	const keyField = "announcement.signature.key"
	notOurs := errInvalid(keyField, "is not a key of one of this event's organisers")
	k, err := s.store.GetOrganiserKey(ctx, sig.GetKey())
	if errors.Is(err, store.ErrNotFound) {
		return nil, notOurs
	} else if err != nil {
		return nil, err
	}
	owner, _, ok := strings.Cut(k.GetName(), "/keys/")
	if !ok {
		return nil, notOurs
	}
	// The key's organiser is checked as if it were the caller: the same rule that lets
	// an organiser manage the event decides whose keys may sign for it.
	organises, err := s.organisesEvent(ctx, auth.Principal{Kind: auth.Organiser, Organiser: owner}, e, campaigns)
	if err != nil {
		return nil, err
	}
	switch {
	case !organises:
		return nil, notOurs
	case k.GetAlgorithm() != rallyv1.KeyAlgorithm_KEY_ALGORITHM_ED25519:
		return nil, errInvalid(keyField, "is not an Ed25519 signing key (KEY_ALGORITHM_ED25519)")
	case k.GetRevokeTime() != nil:
		return nil, errInvalid(keyField, "is revoked")
	}

	// The time: whole milliseconds (the encoding has no finer digits), and near now.
	const timeField = "announcement.signature.sign_time"
	ts := sig.GetSignTime()
	if ts == nil || ts.CheckValid() != nil || ts.GetNanos()%int32(time.Millisecond) != 0 {
		return nil, errInvalid(timeField, "must be a time in whole milliseconds")
	}
	if d := ts.AsTime().Sub(s.now()); d > signTimeSkew || d < -signTimeSkew {
		return nil, errInvalid(timeField, fmt.Sprintf("is more than %d minutes away from the server's clock; sign again now (and check this device's clock)", int(signTimeSkew.Minutes())))
	}

	// The signature itself, over the event's canonical name.
	switch err := announcesig.Verify(ed25519.PublicKey(k.GetPublicKey()), e.GetName(), in); {
	case errors.Is(err, announcesig.ErrBadSignature):
		return nil, errInvalid("announcement.signature.signature", "does not verify with the key over this announcement (event, text, audience and sign_time)")
	case errors.Is(err, announcesig.ErrSignTime):
		return nil, errInvalid(timeField, "must be a time in whole milliseconds")
	case errors.Is(err, announcesig.ErrText):
		return nil, errInvalid("announcement.text", "must be UTF-8")
	case errors.Is(err, announcesig.ErrAudience):
		return nil, errInvalid("announcement.audience", "is not a defined audience")
	case err != nil:
		// A stored Ed25519 key of the wrong size: the server's data is at fault.
		return nil, err
	}
	return &rallyv1.AnnouncementSignature{
		Key:         sig.GetKey(),
		SignTime:    ts,
		Signature:   sig.GetSignature(),
		PublicKey:   k.GetPublicKey(),
		Fingerprint: k.GetFingerprint(),
	}, nil
}

func (s *eventServer) ListAnnouncements(ctx context.Context, req *rallyv1.ListAnnouncementsRequest) (*rallyv1.ListAnnouncementsResponse, error) {
	e, err := s.store.GetEvent(ctx, req.GetParent())
	if err != nil {
		return nil, err
	}
	aud, err := s.eventAudience(ctx, auth.FromContext(ctx), e)
	if err != nil {
		return nil, err
	}
	// The default page holds every announcement an event keeps, as before the list paged.
	size := int(req.GetPageSize())
	if size == 0 {
		size = store.MaxAnnouncements
	}
	page, err := s.store.ListAnnouncements(ctx, store.AnnouncementQuery{
		Event:     req.GetParent(),
		Keep:      func(a *rallyv1.Announcement) bool { return mayRead(a, aud) },
		PageSize:  size,
		PageToken: req.GetPageToken(),
	})
	if err != nil {
		return nil, err
	}
	return &rallyv1.ListAnnouncementsResponse{Announcements: page.Items, NextPageToken: page.NextPageToken}, nil
}
