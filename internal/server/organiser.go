package server

import (
	"context"
	"errors"
	"slices"

	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"

	rallyv1 "github.com/rallyhq/rally/gen/go/rally/v1"
	"github.com/rallyhq/rally/internal/auth"
	"github.com/rallyhq/rally/internal/store"
)

type organiserServer struct {
	rallyv1.UnimplementedOrganiserServiceServer
	*service
}

func (s *organiserServer) CreateOrganiser(ctx context.Context, req *rallyv1.CreateOrganiserRequest) (*rallyv1.Organiser, error) {
	if !auth.FromContext(ctx).IsAdmin() {
		return nil, errDenied("create organisers: only the admin may")
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
	name, err := checkSelf(ctx, "name", req.GetName(), "read the account")
	if err != nil {
		return nil, err
	}
	return s.store.GetOrganiser(ctx, name)
}

func (s *organiserServer) CreateApiToken(ctx context.Context, req *rallyv1.CreateApiTokenRequest) (*rallyv1.CreateApiTokenResponse, error) {
	parent, err := checkSelf(ctx, "parent", req.GetParent(), "create API tokens")
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
	parent, err := checkSelf(ctx, "parent", req.GetParent(), "list API tokens")
	if err != nil {
		return nil, err
	}
	tokens, err := s.store.ListAPITokens(ctx, parent)
	if err != nil {
		return nil, err
	}
	slices.Reverse(tokens) // newest first: the one just made is the one looked for
	return &rallyv1.ListApiTokensResponse{ApiTokens: tokens}, nil
}

func (s *organiserServer) RevokeApiToken(ctx context.Context, req *rallyv1.RevokeApiTokenRequest) (*rallyv1.ApiToken, error) {
	name, err := checkSelf(ctx, "name", req.GetName(), "revoke API tokens")
	if err != nil {
		return nil, err
	}
	// Tokens are stored by ID: a token of another organiser must not be found under
	// this organiser's name.
	t, err := s.store.UpdateAPIToken(ctx, store.ID(name), func(t *rallyv1.ApiToken) error {
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
		return s.store.GetAPIToken(ctx, store.ID(name))
	}
	return t, err
}

func (s *organiserServer) AddCampaignOrganiser(ctx context.Context, req *rallyv1.AddCampaignOrganiserRequest) (*rallyv1.Campaign, error) {
	if _, err := s.store.GetOrganiser(ctx, req.GetOrganiser()); err != nil {
		return nil, err
	}
	return s.changeOrganisers(ctx, req.GetCampaign(), func(c *rallyv1.Campaign) error {
		if slices.Contains(c.GetOrganisers(), req.GetOrganiser()) {
			return errNoChange
		}
		c.Organisers = append(c.Organisers, req.GetOrganiser())
		return nil
	})
}

func (s *organiserServer) RemoveCampaignOrganiser(ctx context.Context, req *rallyv1.RemoveCampaignOrganiserRequest) (*rallyv1.Campaign, error) {
	return s.changeOrganisers(ctx, req.GetCampaign(), func(c *rallyv1.Campaign) error {
		if req.GetOrganiser() == c.GetOwner() {
			return errPrecondition(c.GetName(), "the owner cannot be removed from the campaign")
		}
		i := slices.Index(c.GetOrganisers(), req.GetOrganiser())
		if i < 0 {
			return errNoChange
		}
		c.Organisers = slices.Delete(c.Organisers, i, i+1)
		return nil
	})
}

// changeOrganisers applies change to a campaign's organisers if the caller owns it.
// The check runs inside the update, on the stored campaign, so that it cannot race with
// a concurrent change of the owner's rights.
func (s *organiserServer) changeOrganisers(ctx context.Context, name string, change func(*rallyv1.Campaign) error) (*rallyv1.Campaign, error) {
	p := auth.FromContext(ctx)
	c, err := s.store.UpdateCampaign(ctx, name, func(c *rallyv1.Campaign) error {
		if !ownsCampaign(p, c) {
			return errDenied("change the organisers of " + name + ": only its owner may")
		}
		if err := change(c); err != nil {
			return err
		}
		c.UpdateTime = timestamppb.New(s.now())
		c.Etag = s.etag(c)
		return nil
	})
	if errors.Is(err, errNoChange) {
		c, err = s.store.GetCampaign(ctx, name)
	} else if err == nil {
		// Who organises is not public: only the organisers' history hears of it (and a
		// removed organiser's open stream ends on it, see watch).
		s.publishTo(ctx, audienceOrganisers, rallyv1.ChangeKind_CHANGE_KIND_UPDATED, c.GetName(), nil, "", c.GetName())
	}
	if err != nil {
		return nil, err
	}
	return s.presentCampaign(ctx, c), nil
}
