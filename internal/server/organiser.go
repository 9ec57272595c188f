package server

import (
	"context"
	"errors"
	"fmt"
	"slices"

	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/emptypb"
	"google.golang.org/protobuf/types/known/timestamppb"

	rallyv1 "github.com/rallyhq/rally/gen/go/rally/v1"
	"github.com/rallyhq/rally/internal/auth"
	"github.com/rallyhq/rally/internal/names"
	"github.com/rallyhq/rally/internal/store"
)

type organiserServer struct {
	rallyv1.UnimplementedOrganiserServiceServer
	*service
}

func (s *organiserServer) CreateOrganiser(ctx context.Context, req *rallyv1.CreateOrganiserRequest) (*rallyv1.Organiser, error) {
	if err := authorizeAdmin(ctx, "create organisers"); err != nil {
		return nil, err
	}
	o := proto.CloneOf(req.GetOrganiser())
	id := req.GetOrganiserId()
	if id == "" {
		id = newID()
	}
	o.Name, o.CreateTime = "organisers/"+id, timestamppb.New(s.now())
	if err := s.store.CreateOrganiser(ctx, o); err != nil {
		return nil, err
	}
	return o, nil
}

func (s *organiserServer) GetOrganiser(ctx context.Context, req *rallyv1.GetOrganiserRequest) (*rallyv1.Organiser, error) {
	name, err := authorizeSelf(ctx, "name", req.GetName(), "read the account")
	if err != nil {
		return nil, err
	}
	return s.store.GetOrganiser(ctx, name)
}

func (s *organiserServer) CreateApiToken(ctx context.Context, req *rallyv1.CreateApiTokenRequest) (*rallyv1.CreateApiTokenResponse, error) {
	parent, err := authorizeSelf(ctx, "parent", req.GetParent(), "create API tokens")
	if err != nil {
		return nil, err
	}
	now := s.now()
	in := req.GetApiToken()
	if in.GetExpireTime() != nil && !in.GetExpireTime().AsTime().After(now) {
		return nil, errInvalid("api_token.expire_time", "must be in the future")
	}
	if _, err := s.store.GetOrganiser(ctx, parent); err != nil {
		return nil, err
	}
	secret := auth.NewToken(auth.OrganiserPrefix)
	t := &rallyv1.ApiToken{
		Name:        parent + "/apiTokens/" + tokenID(secret),
		DisplayName: in.GetDisplayName(),
		ExpireTime:  in.GetExpireTime(),
		CreateTime:  timestamppb.New(now),
	}
	if err := s.store.CreateAPIToken(ctx, t); err != nil {
		return nil, err
	}
	return &rallyv1.CreateApiTokenResponse{ApiToken: t, Secret: secret}, nil
}

func (s *organiserServer) ListApiTokens(ctx context.Context, req *rallyv1.ListApiTokensRequest) (*rallyv1.ListApiTokensResponse, error) {
	parent, err := authorizeSelf(ctx, "parent", req.GetParent(), "list API tokens")
	if err != nil {
		return nil, err
	}
	// Newest first: the one just made is the one looked for.
	page, err := s.store.ListAPITokens(ctx, store.APITokenQuery{Organiser: parent, PageSize: pageSize(req.GetPageSize()), PageToken: req.GetPageToken()})
	if err != nil {
		return nil, err
	}
	return &rallyv1.ListApiTokensResponse{ApiTokens: page.Items, NextPageToken: page.NextPageToken}, nil
}

func (s *organiserServer) RevokeApiToken(ctx context.Context, req *rallyv1.RevokeApiTokenRequest) (*rallyv1.ApiToken, error) {
	name, err := authorizeSelf(ctx, "name", req.GetName(), "revoke API tokens")
	if err != nil {
		return nil, err
	}
	// Tokens are stored by ID: a token of another organiser must not be found under
	// this organiser's name.
	t, err := s.store.UpdateAPIToken(ctx, names.ID(name), func(t *rallyv1.ApiToken) error {
		if t.GetName() != name {
			return store.NotFoundError(name)
		}
		if t.GetRevokeTime() != nil {
			return errNoChange
		}
		t.RevokeTime = timestamppb.New(s.now())
		return nil
	})
	if errors.Is(err, errNoChange) {
		return s.store.GetAPIToken(ctx, names.ID(name))
	}
	return t, err
}

// maxInvitations bounds the invitations pending on one campaign, so that an owner cannot
// grow a campaign's record (and the invitation indexes) without limit.
const maxInvitations = 100

// AddCampaignOrganiser invites an organiser: the campaign holds the invitation until the
// invitee accepts it (AcceptCampaignInvitation), and only then lists it among its
// organisers, so that nobody is listed on a cause without agreeing.
func (s *organiserServer) AddCampaignOrganiser(ctx context.Context, req *rallyv1.AddCampaignOrganiserRequest) (*rallyv1.Campaign, error) {
	p := auth.FromContext(ctx)
	name, invitee := req.GetCampaign(), req.GetOrganiser()
	// The right first, the invitee second: a caller who may not add organisers gets the
	// same answer whether the organiser exists or not, and no store read of it, so that
	// neither the answer nor its timing tells which organisers exist. (The campaign is
	// public: its existence tells nothing.) The update checks the right again.
	c, err := s.store.GetCampaign(ctx, name)
	if err != nil {
		return nil, err
	}
	if !ownsCampaign(p, c) {
		return nil, errDeniedOrganisers(name)
	}
	if _, err := s.store.GetOrganiser(ctx, invitee); err != nil {
		return nil, err
	}
	now := timestamppb.New(s.now())
	inviter := ""
	if p.Kind == auth.Organiser {
		inviter = p.Organiser
	}
	c, err = s.changeOrganisers(ctx, name, func(c *rallyv1.Campaign) error {
		if !ownsCampaign(p, c) {
			return errDeniedOrganisers(name)
		}
		if slices.Contains(c.GetOrganisers(), invitee) || invitation(c, invitee) >= 0 {
			return errNoChange
		}
		if len(c.GetInvitations()) >= maxInvitations {
			return errPrecondition(name, fmt.Sprintf("%d invitations are pending already; withdraw some with RemoveCampaignOrganiser first", maxInvitations))
		}
		c.Invitations = append(c.Invitations, &rallyv1.CampaignInvitation{
			Name: invitationName(name, invitee), Invitee: invitee, Inviter: inviter, CreateTime: now,
		})
		return nil
	})
	if err != nil {
		return nil, err
	}
	return s.presentCampaign(ctx, c), nil
}

// RemoveCampaignOrganiser removes a co-organiser, or withdraws its pending invitation.
func (s *organiserServer) RemoveCampaignOrganiser(ctx context.Context, req *rallyv1.RemoveCampaignOrganiserRequest) (*rallyv1.Campaign, error) {
	p := auth.FromContext(ctx)
	name, org := req.GetCampaign(), req.GetOrganiser()
	c, err := s.changeOrganisers(ctx, name, func(c *rallyv1.Campaign) error {
		if !ownsCampaign(p, c) {
			return errDeniedOrganisers(name)
		}
		if org == c.GetOwner() {
			return errPrecondition(c.GetName(), "the owner cannot be removed from the campaign")
		}
		if i := invitation(c, org); i >= 0 {
			c.Invitations = slices.Delete(c.Invitations, i, i+1)
			return nil
		}
		i := slices.Index(c.GetOrganisers(), org)
		if i < 0 {
			return errNoChange
		}
		c.Organisers = slices.Delete(c.Organisers, i, i+1)
		return nil
	})
	if err != nil {
		return nil, err
	}
	return s.presentCampaign(ctx, c), nil
}

// AcceptCampaignInvitation moves the caller from the campaign's invitations to its
// organisers.
func (s *organiserServer) AcceptCampaignInvitation(ctx context.Context, req *rallyv1.AcceptCampaignInvitationRequest) (*rallyv1.Campaign, error) {
	me, err := authorizeInvitee(ctx, "accept")
	if err != nil {
		return nil, err
	}
	name := req.GetCampaign()
	c, err := s.changeOrganisers(ctx, name, func(c *rallyv1.Campaign) error {
		i := invitation(c, me)
		if i < 0 {
			if slices.Contains(c.GetOrganisers(), me) {
				return errNoChange // accepted already: a retry
			}
			return store.NotFoundError(invitationName(name, me))
		}
		c.Invitations = slices.Delete(c.Invitations, i, i+1)
		c.Organisers = append(c.Organisers, me)
		return nil
	})
	if err != nil {
		return nil, err
	}
	return s.presentCampaign(ctx, c), nil
}

// DeclineCampaignInvitation deletes the caller's invitation.
func (s *organiserServer) DeclineCampaignInvitation(ctx context.Context, req *rallyv1.DeclineCampaignInvitationRequest) (*emptypb.Empty, error) {
	me, err := authorizeInvitee(ctx, "decline")
	if err != nil {
		return nil, err
	}
	name := req.GetCampaign()
	_, err = s.changeOrganisers(ctx, name, func(c *rallyv1.Campaign) error {
		i := invitation(c, me)
		if i < 0 {
			return store.NotFoundError(invitationName(name, me))
		}
		c.Invitations = slices.Delete(c.Invitations, i, i+1)
		return nil
	})
	if err != nil {
		return nil, err
	}
	return &emptypb.Empty{}, nil
}

// ListCampaignInvitations lists an organiser's pending invitations.
func (s *organiserServer) ListCampaignInvitations(ctx context.Context, req *rallyv1.ListCampaignInvitationsRequest) (*rallyv1.ListCampaignInvitationsResponse, error) {
	parent, err := authorizeSelf(ctx, "parent", req.GetParent(), "list the invitations")
	if err != nil {
		return nil, err
	}
	page, err := s.store.ListInvitedCampaigns(ctx, store.InvitationQuery{Organiser: parent, PageSize: pageSize(req.GetPageSize()), PageToken: req.GetPageToken()})
	if err != nil {
		return nil, err
	}
	resp := &rallyv1.ListCampaignInvitationsResponse{NextPageToken: page.NextPageToken}
	for _, c := range page.Items {
		if i := invitation(c, parent); i >= 0 {
			resp.CampaignInvitations = append(resp.CampaignInvitations, c.GetInvitations()[i])
		}
	}
	return resp, nil
}

// invitation returns the index of the organiser's pending invitation to c, or -1.
func invitation(c *rallyv1.Campaign, organiser string) int {
	return slices.IndexFunc(c.GetInvitations(), func(inv *rallyv1.CampaignInvitation) bool {
		return inv.GetInvitee() == organiser
	})
}

// invitationName is `campaigns/{c}/invitations/{organiser's ID}`.
func invitationName(campaign, organiser string) string {
	return campaign + "/invitations/" + names.ID(organiser)
}

// changeOrganisers applies change to a campaign's organisers and invitations. change
// checks the caller's right itself, inside the update, on the stored campaign, so that
// the check cannot race with a concurrent change of the campaign.
//
// Who organises, and who is invited, is not public: only the organisers' history hears of
// a change (and an organiser removed by it has its open streams end, see watch).
func (s *organiserServer) changeOrganisers(ctx context.Context, name string, change func(*rallyv1.Campaign) error) (*rallyv1.Campaign, error) {
	c, err := s.store.UpdateCampaign(ctx, name, func(c *rallyv1.Campaign) error {
		if err := change(c); err != nil {
			return err
		}
		c.UpdateTime = timestamppb.New(s.now())
		c.Etag = s.etag(c)
		return nil
	})
	if errors.Is(err, errNoChange) {
		return s.store.GetCampaign(ctx, name)
	}
	if err != nil {
		return nil, err
	}
	s.publishTo(ctx, audienceOrganisers, rallyv1.ChangeKind_CHANGE_KIND_UPDATED, c.GetName(), nil, "", c.GetName())
	return c, nil
}
