package server

import (
	"context"
	"crypto/sha256"
	"errors"
	"slices"
	"strings"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	rallyv1 "github.com/rallyhq/rally/gen/go/rally/v1"
	"github.com/rallyhq/rally/internal/auth"
	"github.com/rallyhq/rally/internal/store"
)

// Object-level permissions, in one file so that the rules can be read together:
//
//   - the admin may do everything;
//   - a campaign's organisers (its owner included) manage the campaign and its events;
//     only the owner (or the admin) changes who the organisers are;
//   - an event without a campaign is managed by the organiser who created it;
//   - an organiser manages its own account and API tokens.
//
// A caller without a token never reaches a write (the authenticator refuses it with
// UNAUTHENTICATED); a caller with a valid token but no right gets PERMISSION_DENIED.

func errDenied(what string) error {
	return status.Error(codes.PermissionDenied, "you are not allowed to "+what)
}

// tokenID derives an API token's ID from its secret: the first 128 bits of its SHA-256.
// Authentication then finds the token in one read, and the store keeps nothing from which
// the secret could be recovered.
func tokenID(secret string) string {
	sum := sha256.Sum256([]byte(secret))
	return idEncoding.EncodeToString(sum[:16])
}

// organiserOf returns `organisers/{o}` of a token name `organisers/{o}/apiTokens/{t}`.
func organiserOf(tokenName string) string {
	org, _, _ := strings.Cut(tokenName, "/apiTokens/")
	return org
}

// resolveToken authenticates an organiser's API token.
func (s *service) resolveToken(ctx context.Context, _, secret string) (auth.Principal, error) {
	t, err := s.store.GetAPIToken(ctx, tokenID(secret))
	return s.tokenPrincipal(ctx, t, err)
}

// tokenPrincipal is the principal of an API token as the store returned it (with its
// error): refused if unknown, revoked or expired. Watch streams call it again before
// every message, so that a revoked token's streams end.
func (s *service) tokenPrincipal(ctx context.Context, t *rallyv1.ApiToken, err error) (auth.Principal, error) {
	switch {
	case errors.Is(err, store.ErrNotFound):
		return auth.Principal{}, status.Error(codes.Unauthenticated, "the bearer token is not valid")
	case err != nil:
		// The store is down: the client should retry, not log in again. Debug only: during
		// an outage every authenticated call comes here, the call's own (sampled) log line
		// and readiness already tell the operator.
		s.log.DebugContext(ctx, "checking an API token failed", "err", err)
		return auth.Principal{}, status.Error(codes.Unavailable, "cannot check the bearer token now; retry")
	case t.GetRevokeTime() != nil:
		return auth.Principal{}, status.Error(codes.Unauthenticated, "the bearer token has been revoked")
	case t.GetExpireTime() != nil && !s.now().Before(t.GetExpireTime().AsTime()):
		return auth.Principal{}, status.Error(codes.Unauthenticated, "the bearer token has expired")
	}
	return auth.Principal{Kind: auth.Organiser, Organiser: organiserOf(t.GetName()), Token: t.GetName()}, nil
}

// rsvpMethods accept an RSVP's manage token: the RSVP's own methods, and the event's
// reads, which show the holder the meeting point (once GOING and revealed) and the
// announcements for RSVP holders.
var rsvpMethods = map[string]bool{
	rallyv1.RsvpService_GetRsvp_FullMethodName:            true,
	rallyv1.RsvpService_UpdateRsvp_FullMethodName:         true,
	rallyv1.RsvpService_CancelRsvp_FullMethodName:         true,
	rallyv1.EventService_GetEvent_FullMethodName:          true,
	rallyv1.EventService_WatchEvent_FullMethodName:        true,
	rallyv1.EventService_ListAnnouncements_FullMethodName: true,
}

// resolveRSVPToken accepts a manage token on the methods that take one. It cannot tell
// yet whether the token is valid: that needs the RSVP, which the handler reads.
func resolveRSVPToken(_ context.Context, method, secret string) (auth.Principal, error) {
	if !rsvpMethods[method] {
		return auth.Principal{}, status.Error(codes.Unauthenticated, "an RSVP's manage token only works for that RSVP and its event")
	}
	h := auth.Hash(secret)
	return auth.Principal{Kind: auth.RSVPHolder, TokenHash: h[:]}, nil
}

// claimMethods accept a claim's token.
var claimMethods = map[string]bool{
	rallyv1.TaskService_CompleteClaim_FullMethodName: true,
	rallyv1.TaskService_ReleaseClaim_FullMethodName:  true,
}

// resolveClaimToken accepts a claim token on the methods that take one; the handler
// checks it against the claim.
func resolveClaimToken(_ context.Context, method, secret string) (auth.Principal, error) {
	if !claimMethods[method] {
		return auth.Principal{}, status.Error(codes.Unauthenticated, "a claim token only works to complete or release that claim")
	}
	h := auth.Hash(secret)
	return auth.Principal{Kind: auth.ClaimHolder, TokenHash: h[:]}, nil
}

// organisesCampaign reports whether the caller manages the campaign.
func organisesCampaign(p auth.Principal, c *rallyv1.Campaign) bool {
	return p.IsAdmin() || (p.Kind == auth.Organiser && slices.Contains(c.GetOrganisers(), p.Organiser))
}

// ownsCampaign reports whether the caller may change the campaign's organisers.
func ownsCampaign(p auth.Principal, c *rallyv1.Campaign) bool {
	return p.IsAdmin() || (p.Kind == auth.Organiser && c.GetOwner() == p.Organiser)
}

// organisesEvent reports whether the caller manages the event. campaigns caches the
// campaigns read for one request, so that a list of events reads each campaign once;
// it may be nil.
func (s *service) organisesEvent(ctx context.Context, p auth.Principal, e *rallyv1.Event, campaigns map[string]*rallyv1.Campaign) (bool, error) {
	switch {
	case p.IsAdmin():
		return true, nil
	case p.Kind != auth.Organiser:
		return false, nil
	case e.GetCampaign() == "":
		return e.GetOwner() == p.Organiser, nil
	}
	c, ok := campaigns[e.GetCampaign()]
	if !ok {
		var err error
		if c, err = s.store.GetCampaign(ctx, e.GetCampaign()); err != nil {
			return false, err
		}
		if campaigns != nil {
			campaigns[e.GetCampaign()] = c
		}
	}
	return organisesCampaign(p, c), nil
}

// checkEvent returns the event if the caller manages it.
func (s *service) checkEvent(ctx context.Context, name string) (*rallyv1.Event, error) {
	e, err := s.store.GetEvent(ctx, name)
	if err != nil {
		return nil, err
	}
	ok, err := s.organisesEvent(ctx, auth.FromContext(ctx), e, nil)
	if err != nil {
		return nil, err
	}
	if !ok {
		return nil, errDenied("manage " + name + ": only its organisers may")
	}
	return e, nil
}

// resolveMe replaces `organisers/me` at the start of a name with the caller's name. field
// is the request field that holds name, for the error.
func resolveMe(p auth.Principal, field, name string) (string, error) {
	rest, ok := strings.CutPrefix(name, "organisers/me")
	if !ok || (rest != "" && rest[0] != '/') {
		return name, nil
	}
	if p.Kind != auth.Organiser {
		return "", errInvalid(field, "organisers/me names the calling organiser, and the caller is not one: name the organiser")
	}
	return p.Organiser + rest, nil
}

// checkSelf resolves `organisers/me` in name (the request's field) and checks that the
// caller is the organiser it names (the admin may name anyone).
func checkSelf(ctx context.Context, field, name, what string) (string, error) {
	p := auth.FromContext(ctx)
	name, err := resolveMe(p, field, name)
	if err != nil {
		return "", err
	}
	org := name
	if i := strings.Index(name, "/apiTokens/"); i >= 0 {
		org = name[:i]
	} else if i := strings.Index(name, "/keys/"); i >= 0 {
		org = name[:i]
	}
	if !p.IsAdmin() && org != p.Organiser {
		return "", errDenied(what + " of another organiser")
	}
	return name, nil
}
