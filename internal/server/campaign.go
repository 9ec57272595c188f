package server

import (
	"context"
	"errors"

	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"

	rallyv1 "github.com/rallyhq/rally/gen/go/rally/v1"
	"github.com/rallyhq/rally/internal/auth"
	"github.com/rallyhq/rally/internal/names"
	"github.com/rallyhq/rally/internal/store"
)

type campaignServer struct {
	rallyv1.UnimplementedCampaignServiceServer
	*service
}

var campaignMask = deriveMask((*rallyv1.Campaign)(nil).ProtoReflect().Descriptor())

func (s *campaignServer) CreateCampaign(ctx context.Context, req *rallyv1.CreateCampaignRequest) (*rallyv1.Campaign, error) {
	caller := auth.FromContext(ctx)
	c := proto.CloneOf(req.GetCampaign())
	c.Organisers, c.Owner, c.Invitations, c.Etag, c.RecipientKeys = nil, "", nil, "", nil
	if caller.Kind == auth.Organiser {
		c.Owner, c.Organisers = caller.Organiser, []string{caller.Organiser}
	}
	id := req.GetCampaignId()
	switch {
	case id != "":
	case req.GetRequestId() != "":
		id = idFromRequestID("campaigns", caller.ID(), req.GetRequestId())
	default:
		id = newID()
	}
	now := timestamppb.New(s.now())
	c.Name, c.CreateTime, c.UpdateTime = "campaigns/"+id, now, now
	c.Etag = s.etag(c)
	err := s.store.CreateCampaign(ctx, c)
	if errors.Is(err, store.ErrAlreadyExists) && req.GetRequestId() != "" && req.GetCampaignId() == "" {
		c, err = s.store.GetCampaign(ctx, c.Name) // a retry: return the first attempt's result
	}
	if err != nil {
		return nil, err
	}
	return s.presentCampaign(ctx, c), nil
}

// GetCampaign returns the campaign with its recipient keys. Only GetCampaign looks them up
// (one read per organiser): lists stay one read per campaign, and a client about to seal
// reads the one campaign it seals for.
func (s *campaignServer) GetCampaign(ctx context.Context, req *rallyv1.GetCampaignRequest) (*rallyv1.Campaign, error) {
	c, err := s.store.GetCampaign(ctx, req.GetName())
	if err != nil {
		return nil, err
	}
	keys, err := s.recipientKeys(ctx, c)
	if err != nil {
		return nil, err
	}
	c = s.presentCampaign(ctx, c)
	c.RecipientKeys = keys
	return c, nil
}

func (s *campaignServer) ListCampaigns(ctx context.Context, req *rallyv1.ListCampaignsRequest) (*rallyv1.ListCampaignsResponse, error) {
	page, err := s.store.ListCampaigns(ctx, store.CampaignQuery{PageSize: pageSize(req.GetPageSize()), PageToken: req.GetPageToken()})
	if err != nil {
		return nil, err
	}
	for i, c := range page.Items {
		page.Items[i] = s.presentCampaign(ctx, c)
	}
	return &rallyv1.ListCampaignsResponse{Campaigns: page.Items, NextPageToken: page.NextPageToken}, nil
}

func (s *campaignServer) UpdateCampaign(ctx context.Context, req *rallyv1.UpdateCampaignRequest) (*rallyv1.Campaign, error) {
	in := req.GetCampaign()
	if _, ok := names.Campaign(in.GetName()); !ok {
		return nil, errInvalid("campaign.name", "must be a campaign name such as campaigns/abc")
	}
	paths, err := campaignMask.paths("update_mask", req.GetUpdateMask(), in)
	if err != nil {
		return nil, err
	}
	caller := auth.FromContext(ctx)
	c, err := s.store.UpdateCampaign(ctx, in.GetName(), func(cur *rallyv1.Campaign) error {
		if !organisesCampaign(caller, cur) {
			return errDenied("change " + cur.GetName() + ": only its organisers may")
		}
		if in.GetEtag() != "" && in.GetEtag() != cur.GetEtag() {
			return errEtagMismatch("campaign.etag")
		}
		apply(in, cur, paths)
		if err := s.validator.Validate(cur); err != nil {
			return validationError(err, "campaign")
		}
		cur.UpdateTime = timestamppb.New(s.now())
		cur.Etag = s.etag(cur)
		return nil
	})
	if err != nil {
		return nil, err
	}
	s.publishTo(ctx, audiencePublic, rallyv1.ChangeKind_CHANGE_KIND_UPDATED, c.GetName(), nil, "", c.GetName())
	return s.presentCampaign(ctx, c), nil
}
