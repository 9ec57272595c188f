package server

import (
	"context"
	"errors"
	"fmt"
	"slices"

	"google.golang.org/protobuf/types/known/timestamppb"

	rallyv1 "github.com/rallyhq/rally/gen/go/rally/v1"
	"github.com/rallyhq/rally/internal/envelope"
	"github.com/rallyhq/rally/internal/names"
	"github.com/rallyhq/rally/internal/store"
)

// maxCurrentKeys bounds an organiser's keys that are not revoked, so that a campaign's
// recipients (and every envelope, which seals to each of them) stay small.
const maxCurrentKeys = 10

// maxListedKeys is how many of an organiser's keys are read to find its current ones: far
// more than maxCurrentKeys allows, with room for revoked ones.
const maxListedKeys = 1000

func (s *organiserServer) CreateOrganiserKey(ctx context.Context, req *rallyv1.CreateOrganiserKeyRequest) (*rallyv1.OrganiserKey, error) {
	parent, err := authorizeSelf(ctx, "parent", req.GetParent(), "register keys")
	if err != nil {
		return nil, err
	}
	in := req.GetOrganiserKey()
	if in.GetAlgorithm() == rallyv1.KeyAlgorithm_KEY_ALGORITHM_UNSPECIFIED {
		return nil, errInvalid("organiser_key.algorithm", "is required")
	}
	if err := envelope.CheckPublicKey(in.GetAlgorithm(), in.GetPublicKey()); err != nil {
		return nil, errInvalid("organiser_key.public_key", err.Error())
	}
	if _, err := s.store.GetOrganiser(ctx, parent); err != nil {
		return nil, err
	}
	current, err := s.currentKeys(ctx, parent)
	if err != nil {
		return nil, err
	}
	if len(current) >= maxCurrentKeys {
		return nil, errPrecondition(parent, fmt.Sprintf("%d keys are current already; revoke one first", maxCurrentKeys))
	}
	k := &rallyv1.OrganiserKey{
		Name:        parent + "/keys/" + newID(),
		Algorithm:   in.GetAlgorithm(),
		PublicKey:   in.GetPublicKey(),
		Fingerprint: envelope.Fingerprint(in.GetAlgorithm(), in.GetPublicKey()),
		CreateTime:  timestamppb.New(s.now()),
	}
	if err := s.store.CreateOrganiserKey(ctx, k); err != nil {
		return nil, err
	}
	return k, nil
}

func (s *organiserServer) ListOrganiserKeys(ctx context.Context, req *rallyv1.ListOrganiserKeysRequest) (*rallyv1.ListOrganiserKeysResponse, error) {
	parent, err := authorizeSelf(ctx, "parent", req.GetParent(), "list keys")
	if err != nil {
		return nil, err
	}
	page, err := s.store.ListOrganiserKeys(ctx, store.OrganiserKeyQuery{Organiser: parent, PageSize: pageSize(req.GetPageSize()), PageToken: req.GetPageToken()})
	if err != nil {
		return nil, err
	}
	return &rallyv1.ListOrganiserKeysResponse{OrganiserKeys: page.Items, NextPageToken: page.NextPageToken}, nil
}

func (s *organiserServer) RevokeOrganiserKey(ctx context.Context, req *rallyv1.RevokeOrganiserKeyRequest) (*rallyv1.OrganiserKey, error) {
	name, err := authorizeSelf(ctx, "name", req.GetName(), "revoke keys")
	if err != nil {
		return nil, err
	}
	// Keys are stored by ID: a key of another organiser must not be found under this
	// organiser's name.
	k, err := s.store.UpdateOrganiserKey(ctx, names.ID(name), func(k *rallyv1.OrganiserKey) error {
		if k.GetName() != name {
			return store.NotFoundError(name)
		}
		if k.GetRevokeTime() != nil {
			return errNoChange
		}
		k.RevokeTime = timestamppb.New(s.now())
		return nil
	})
	if errors.Is(err, errNoChange) {
		return s.store.GetOrganiserKey(ctx, names.ID(name))
	}
	return k, err
}

// currentKeys returns an organiser's keys that are not revoked, oldest first.
func (s *service) currentKeys(ctx context.Context, organiser string) ([]*rallyv1.OrganiserKey, error) {
	page, err := s.store.ListOrganiserKeys(ctx, store.OrganiserKeyQuery{Organiser: organiser, PageSize: maxListedKeys})
	if err != nil {
		return nil, err
	}
	var keys []*rallyv1.OrganiserKey
	for _, k := range page.Items {
		if k.GetRevokeTime() == nil {
			keys = append(keys, k)
		}
	}
	return keys, nil
}

// recipientKeys returns the keys that the campaign's personal fields are sealed to: the
// current HPKE keys of its owner and co-organisers, by key ID only (the public sees them,
// and must not learn who organises).
func (s *service) recipientKeys(ctx context.Context, c *rallyv1.Campaign) ([]*rallyv1.RecipientKey, error) {
	orgs := c.GetOrganisers()
	if c.GetOwner() != "" && !slices.Contains(orgs, c.GetOwner()) {
		orgs = append([]string{c.GetOwner()}, orgs...)
	}
	return s.keysOf(ctx, orgs)
}

// eventRecipientKeys returns the keys that the event's RSVPs are sealed to: its
// campaign's, or its owner's when it has no campaign.
func (s *service) eventRecipientKeys(ctx context.Context, e *rallyv1.Event) ([]*rallyv1.RecipientKey, error) {
	if e.GetCampaign() == "" {
		return s.keysOf(ctx, []string{e.GetOwner()})
	}
	c, err := s.store.GetCampaign(ctx, e.GetCampaign())
	if err != nil {
		return nil, err
	}
	return s.recipientKeys(ctx, c)
}

// keysOf returns the current HPKE keys of the organisers, as recipient keys.
func (s *service) keysOf(ctx context.Context, orgs []string) ([]*rallyv1.RecipientKey, error) {
	var out []*rallyv1.RecipientKey
	for _, o := range orgs {
		keys, err := s.currentKeys(ctx, o)
		if err != nil {
			return nil, err
		}
		for _, k := range keys {
			if envelope.IsHPKE(k.GetAlgorithm()) {
				out = append(out, &rallyv1.RecipientKey{
					Key: names.ID(k.GetName()), Algorithm: k.GetAlgorithm(),
					PublicKey: k.GetPublicKey(), Fingerprint: k.GetFingerprint(),
				})
			}
		}
	}
	return out, nil
}
