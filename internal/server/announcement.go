package server

import (
	"context"

	"google.golang.org/protobuf/types/known/timestamppb"

	rallyv1 "github.com/rallyhq/rally/gen/go/rally/v1"
	"github.com/rallyhq/rally/internal/auth"
	"github.com/rallyhq/rally/internal/store"
)

// Announcements: organisers post them to an event (PostAnnouncement), and whoever may
// read them lists them (ListAnnouncements). Who may read which is mayRead (access.go);
// watch streams carry them as changes (watch.go).

func (s *eventServer) PostAnnouncement(ctx context.Context, req *rallyv1.PostAnnouncementRequest) (*rallyv1.Announcement, error) {
	e, err := s.authorizeEvent(ctx, req.GetParent())
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
	least := audiencePublic
	if a.Audience == rallyv1.AnnouncementAudience_ANNOUNCEMENT_AUDIENCE_RSVP_HOLDERS {
		least = audienceHolders
	}
	s.publishTo(ctx, least, rallyv1.ChangeKind_CHANGE_KIND_ANNOUNCEMENT, e.GetName(), a, e.GetName(), e.GetCampaign())
	return a, nil
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
