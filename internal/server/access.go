package server

import (
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"errors"
	"slices"
	"strings"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	rallyv1 "github.com/rallyhq/rally/gen/go/rally/v1"
	"github.com/rallyhq/rally/internal/auth"
	"github.com/rallyhq/rally/internal/names"
	"github.com/rallyhq/rally/internal/store"
)

// Who may call what, in one file so that the rules can be read together: the method table
// (methodAccess), which the authenticator enforces for anonymous callers and the holders
// of RSVP and claim tokens, the authentication of organisers' API tokens, and every
// object-level check (the authorize* functions, and the re-checks of watch streams):
//
//   - the admin may do everything;
//   - a campaign's organisers (its owner included) manage the campaign and its events;
//     only the owner (or the admin) changes who the organisers are;
//   - an event without a campaign is managed by the organiser who created it;
//   - an organiser manages its own account and API tokens.
//
// A caller without a token never reaches a write (the authenticator refuses it with
// UNAUTHENTICATED); a caller with a valid token but no right gets PERMISSION_DENIED.

// access says who may call a method. The authenticator enforces the first three: a
// call without a token reaches only a method that anyone may call, an RSVP's manage
// token only one that rsvpHolder allows, a claim token only one that claimHolder allows.
// An organiser's API token and the admin token authenticate on every method; rule names
// the object-level check the handler makes then (the authorize* functions below), which
// answers PERMISSION_DENIED, or NOT_FOUND where even existence is private.
type access struct {
	anyone      bool // without a token: reads of public data, RSVPs and claims
	rsvpHolder  bool // with an RSVP's manage token
	claimHolder bool // with a claim's token
	rule        string
}

// methodAccess is the one place that says who may call what; TestMethodAccess checks that
// every method of Rally's services has an entry.
var methodAccess = map[string]access{
	rallyv1.CampaignService_CreateCampaign_FullMethodName: {rule: "any organiser, who becomes its owner; the admin"},
	rallyv1.CampaignService_GetCampaign_FullMethodName:    {anyone: true, rule: "public; organisers and invitations for its organisers only (presentCampaign)"},
	rallyv1.CampaignService_ListCampaigns_FullMethodName:  {anyone: true, rule: "public, as GetCampaign"},
	rallyv1.CampaignService_UpdateCampaign_FullMethodName: {rule: "its organisers (organisesCampaign, inside the update)"},

	rallyv1.EventService_CreateEvent_FullMethodName:       {rule: "any organiser; in a campaign, its organisers"},
	rallyv1.EventService_GetEvent_FullMethodName:          {anyone: true, rsvpHolder: true, rule: "public; more for organisers and holders (viewEvent)"},
	rallyv1.EventService_ListEvents_FullMethodName:        {anyone: true, rule: "public, as GetEvent"},
	rallyv1.EventService_UpdateEvent_FullMethodName:       {rule: "its organisers (authorizeEvent)"},
	rallyv1.EventService_CancelEvent_FullMethodName:       {rule: "its organisers (authorizeEvent)"},
	rallyv1.EventService_WatchEvent_FullMethodName:        {anyone: true, rsvpHolder: true, rule: "public; the caller's audience (eventAudience), re-checked per message (authorizeEventStream)"},
	rallyv1.EventService_WatchCampaign_FullMethodName:     {anyone: true, rule: "public; organisers see more, re-checked per message (authorizeCampaignStream)"},
	rallyv1.EventService_PostAnnouncement_FullMethodName:  {rule: "its organisers (authorizeEvent)"},
	rallyv1.EventService_ListAnnouncements_FullMethodName: {anyone: true, rsvpHolder: true, rule: "public; holders' announcements for holders and organisers (mayRead)"},

	rallyv1.RsvpService_CreateRsvp_FullMethodName:       {anyone: true, rule: "anyone"},
	rallyv1.RsvpService_GetRsvp_FullMethodName:          {rsvpHolder: true, rule: "its holder, its event's organisers; NOT_FOUND for others (authorizeRSVP)"},
	rallyv1.RsvpService_UpdateRsvp_FullMethodName:       {rsvpHolder: true, rule: "as GetRsvp"},
	rallyv1.RsvpService_CancelRsvp_FullMethodName:       {rsvpHolder: true, rule: "as GetRsvp"},
	rallyv1.RsvpService_ListRsvps_FullMethodName:        {rule: "the event's organisers (authorizeEventOrganiser)"},
	rallyv1.RsvpService_CheckInRsvp_FullMethodName:      {rule: "the event's organisers (authorizeEventOrganiser)"},
	rallyv1.RsvpService_ListAuditEntries_FullMethodName: {rule: "the event's or the task's organisers"},
	rallyv1.RsvpService_DeleteRsvp_FullMethodName:       {rsvpHolder: true, rule: "as GetRsvp (authorizeRSVP)"},
	rallyv1.RsvpService_PairBuddy_FullMethodName:        {rsvpHolder: true, rule: "its holder only, not its organisers; NOT_FOUND for another token (authorizeHolder)"},
	rallyv1.RsvpService_JoinBuddy_FullMethodName:        {rsvpHolder: true, rule: "as PairBuddy (authorizeHolder)"},
	rallyv1.RsvpService_CheckOutRsvp_FullMethodName:     {rsvpHolder: true, rule: "as PairBuddy (authorizeHolder)"},

	rallyv1.TaskService_CreateTask_FullMethodName:    {rule: "the campaign's organisers (authorizeTaskCreate)"},
	rallyv1.TaskService_GetTask_FullMethodName:       {anyone: true, rule: "public"},
	rallyv1.TaskService_ListTasks_FullMethodName:     {anyone: true, rule: "public"},
	rallyv1.TaskService_UpdateTask_FullMethodName:    {rule: "the campaign's organisers (authorizeTask)"},
	rallyv1.TaskService_CloseTask_FullMethodName:     {rule: "the campaign's organisers (authorizeTask)"},
	rallyv1.TaskService_ClaimTask_FullMethodName:     {anyone: true, rule: "anyone"},
	rallyv1.TaskService_CompleteClaim_FullMethodName: {claimHolder: true, rule: "its holder, the campaign's organisers; NOT_FOUND for others (authorizeClaim)"},
	rallyv1.TaskService_ReleaseClaim_FullMethodName:  {claimHolder: true, rule: "as CompleteClaim"},
	rallyv1.TaskService_ListClaims_FullMethodName:    {rule: "the campaign's organisers (authorizeTask)"},

	rallyv1.OrganiserService_CreateOrganiser_FullMethodName:           {rule: "the admin only (authorizeAdmin)"},
	rallyv1.OrganiserService_GetOrganiser_FullMethodName:              {rule: "the organiser itself, the admin (authorizeSelf)"},
	rallyv1.OrganiserService_CreateApiToken_FullMethodName:            {rule: "the organiser itself, the admin (authorizeSelf)"},
	rallyv1.OrganiserService_ListApiTokens_FullMethodName:             {rule: "the organiser itself, the admin (authorizeSelf)"},
	rallyv1.OrganiserService_RevokeApiToken_FullMethodName:            {rule: "the organiser itself, the admin (authorizeSelf)"},
	rallyv1.OrganiserService_CreateOrganiserKey_FullMethodName:        {rule: "the organiser itself, the admin (authorizeSelf)"},
	rallyv1.OrganiserService_ListOrganiserKeys_FullMethodName:         {rule: "the organiser itself, the admin (authorizeSelf)"},
	rallyv1.OrganiserService_RevokeOrganiserKey_FullMethodName:        {rule: "the organiser itself, the admin (authorizeSelf)"},
	rallyv1.OrganiserService_AddCampaignOrganiser_FullMethodName:      {rule: "the campaign's owner, the admin (ownsCampaign)"},
	rallyv1.OrganiserService_RemoveCampaignOrganiser_FullMethodName:   {rule: "the campaign's owner, the admin (ownsCampaign)"},
	rallyv1.OrganiserService_AcceptCampaignInvitation_FullMethodName:  {rule: "the invited organiser only, with its own token (authorizeInvitee)"},
	rallyv1.OrganiserService_DeclineCampaignInvitation_FullMethodName: {rule: "the invited organiser only, with its own token (authorizeInvitee)"},
	rallyv1.OrganiserService_ListCampaignInvitations_FullMethodName:   {rule: "the organiser itself, the admin (authorizeSelf)"},
}

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

// resolveRSVPToken accepts a manage token on the methods that take one. It cannot tell
// yet whether the token is valid: that needs the RSVP, which the handler reads.
func resolveRSVPToken(_ context.Context, method, secret string) (auth.Principal, error) {
	if !methodAccess[method].rsvpHolder {
		return auth.Principal{}, status.Error(codes.Unauthenticated, "an RSVP's manage token only works for that RSVP and its event")
	}
	h := auth.Hash(secret)
	return auth.Principal{Kind: auth.RSVPHolder, TokenHash: h[:]}, nil
}

// resolveClaimToken accepts a claim token on the methods that take one; the handler
// checks it against the claim.
func resolveClaimToken(_ context.Context, method, secret string) (auth.Principal, error) {
	if !methodAccess[method].claimHolder {
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

// authorizeEvent returns the event if the caller manages it.
func (s *service) authorizeEvent(ctx context.Context, name string) (*rallyv1.Event, error) {
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

// authorizeSelf resolves `organisers/me` in name (the request's field) and checks that the
// caller is the organiser it names (the admin may name anyone).
func authorizeSelf(ctx context.Context, field, name, what string) (string, error) {
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

// isPublic reports whether a method may be called anonymously: Rally's public reads and
// the standard health and reflection services.
func isPublic(fullMethod string) bool {
	return methodAccess[fullMethod].anyone || !strings.HasPrefix(fullMethod, "/rally.")
}

// meetingPointRevealed reports whether the holder of an RSVP token may see the event's
// meeting point: the RSVP is GOING and the reveal time has passed. A token that is not
// one of this event's RSVPs is refused, as any invalid token is.
func (s *service) meetingPointRevealed(ctx context.Context, e *rallyv1.Event, holder auth.Principal) (bool, error) {
	r, err := s.store.FindRSVPByToken(ctx, e.GetName(), holder.TokenHash)
	if errors.Is(err, store.ErrNotFound) {
		return false, status.Error(codes.Unauthenticated, "the bearer token is not an RSVP of this event")
	}
	if err != nil {
		return false, err
	}
	reveal := e.GetMeetingPointRevealTime()
	return r.GetState() == rallyv1.RsvpState_RSVP_STATE_GOING && (reveal == nil || !s.now().Before(reveal.AsTime())), nil
}

// errNoRSVP is what every caller who may not see an RSVP gets, whether it exists or not:
// an informant probing names learns nothing.
func errNoRSVP(name string) error { return store.NotFoundError(name) }

// authorizeRSVP lets the holder of the RSVP's manage token, or an organiser of its event,
// act on it, and returns whether the caller organises the event. Everyone else gets
// NOT_FOUND, never PERMISSION_DENIED, so that nobody can learn that an RSVP exists.
func (s *service) authorizeRSVP(ctx context.Context, name string) (organiser bool, err error) {
	p := auth.FromContext(ctx)
	if p.Kind == auth.RSVPHolder {
		_, hash, err := s.store.GetRSVP(ctx, name)
		if errors.Is(err, store.ErrNotFound) || (err == nil && subtle.ConstantTimeCompare(hash, p.TokenHash) != 1) {
			return false, errNoRSVP(name)
		}
		return false, err
	}
	e, err := s.store.GetEvent(ctx, names.EventOfRSVP(name))
	if errors.Is(err, store.ErrNotFound) {
		return false, errNoRSVP(name)
	}
	if err != nil {
		return false, err
	}
	ok, err := s.organisesEvent(ctx, p, e, nil)
	if err == nil && !ok {
		return false, errNoRSVP(name)
	}
	return ok, err
}

// authorizeHolder lets only the holder of the RSVP's manage token act on it, and returns
// the RSVP: pairing with a buddy and saying one is home safe are the participant's own
// acts, which no organiser (nor the admin) may make for them. An organiser's or the
// admin's token is refused whatever the RSVP, so the answer says nothing of whether it
// exists; another RSVP's token gets NOT_FOUND, as from authorizeRSVP.
func (s *service) authorizeHolder(ctx context.Context, name, what string) (*rallyv1.Rsvp, error) {
	p := auth.FromContext(ctx)
	if p.Kind != auth.RSVPHolder {
		return nil, errDenied(what + ": only the RSVP's holder may, with its manage token")
	}
	r, hash, err := s.store.GetRSVP(ctx, name)
	if errors.Is(err, store.ErrNotFound) || (err == nil && subtle.ConstantTimeCompare(hash, p.TokenHash) != 1) {
		return nil, errNoRSVP(name)
	}
	return r, err
}

// authorizeEventOrganiser lets only the event's organisers through.
func (s *service) authorizeEventOrganiser(ctx context.Context, event, what string) error {
	_, err := s.authorizeEvent(ctx, event)
	if status.Code(err) == codes.PermissionDenied {
		return errDenied(what + " of " + event + ": only its organisers may")
	}
	return err
}

// authorizeTaskCreate returns the campaign a task may be created in by the caller.
func (s *service) authorizeTaskCreate(ctx context.Context, t *rallyv1.Task) error {
	c, err := s.store.GetCampaign(ctx, t.GetCampaign())
	if errors.Is(err, store.ErrNotFound) {
		return errInvalid("task.campaign", "no such campaign")
	}
	if err != nil {
		return err
	}
	if !organisesCampaign(auth.FromContext(ctx), c) {
		return errDenied("create tasks in " + c.GetName() + ": only its organisers may")
	}
	if t.GetEvent() != "" {
		e, err := s.store.GetEvent(ctx, t.GetEvent())
		if errors.Is(err, store.ErrNotFound) || (err == nil && e.GetCampaign() != c.GetName()) {
			return errInvalid("task.event", "no such event in the task's campaign")
		}
		if err != nil {
			return err
		}
	}
	return nil
}

// authorizeTask returns the task if the caller organises its campaign.
func (s *service) authorizeTask(ctx context.Context, name string) (*rallyv1.Task, error) {
	t, err := s.store.GetTask(ctx, name, s.now())
	if err != nil {
		return nil, err
	}
	c, err := s.store.GetCampaign(ctx, t.GetCampaign())
	if err != nil {
		return nil, err
	}
	if !organisesCampaign(auth.FromContext(ctx), c) {
		return nil, errDenied("manage " + name + ": only its campaign's organisers may")
	}
	return t, nil
}

// authorizeClaim lets the holder of the claim's token, or an organiser of the task's
// campaign, act on it; to everyone else it does not exist (NOT_FOUND), as for RSVPs.
func (s *service) authorizeClaim(ctx context.Context, name string) (organiser bool, err error) {
	p := auth.FromContext(ctx)
	if p.Kind == auth.ClaimHolder {
		_, hash, err := s.store.GetClaim(ctx, name, s.now())
		if errors.Is(err, store.ErrNotFound) || (err == nil && subtle.ConstantTimeCompare(hash, p.TokenHash) != 1) {
			return false, store.NotFoundError(name)
		}
		return false, err
	}
	if _, err := s.authorizeTask(ctx, names.TaskOfClaim(name)); err != nil {
		if errors.Is(err, store.ErrNotFound) || status.Code(err) == codes.PermissionDenied {
			return false, store.NotFoundError(name)
		}
		return false, err
	}
	return true, nil
}

// authorizeInvitee returns the calling organiser, who alone may answer its invitations: consent is
// not the admin's to give.
func authorizeInvitee(ctx context.Context, verb string) (string, error) {
	p := auth.FromContext(ctx)
	if p.Kind != auth.Organiser {
		return "", errDenied(verb + " an invitation: only the invited organiser may, with its own token")
	}
	return p.Organiser, nil
}

func errDeniedOrganisers(campaign string) error {
	return errDenied("change the organisers of " + campaign + ": only its owner may")
}

// holderRSVP returns the RSVP of the event that the caller's manage token holds, and
// whether it is current (GOING or WAITLISTED): a cancelled RSVP's token no longer opens
// what is for RSVP holders. A token that is not one of this event's RSVPs is refused, as
// any invalid token is.
func (s *service) holderRSVP(ctx context.Context, event string, holder auth.Principal) (*rallyv1.Rsvp, bool, error) {
	r, err := s.store.FindRSVPByToken(ctx, event, holder.TokenHash)
	if errors.Is(err, store.ErrNotFound) {
		return nil, false, status.Error(codes.Unauthenticated, "the bearer token is not an RSVP of this event")
	}
	if err != nil {
		return nil, false, err
	}
	return r, r.GetState() != rallyv1.RsvpState_RSVP_STATE_CANCELLED, nil
}

// eventAudience is the history of the event that the caller may follow: the organisers',
// the holders' for the holder of a current RSVP, the public's otherwise.
func (s *service) eventAudience(ctx context.Context, caller auth.Principal, e *rallyv1.Event) (audience, error) {
	if caller.Kind == auth.RSVPHolder {
		_, current, err := s.holderRSVP(ctx, e.GetName(), caller)
		if err != nil || !current {
			return audiencePublic, err
		}
		return audienceHolders, nil
	}
	manages, err := s.organisesEvent(ctx, caller, e, nil)
	if err != nil || !manages {
		return audiencePublic, err
	}
	return audienceOrganisers, nil
}

// mayRead reports whether an audience may read an announcement.
func mayRead(a *rallyv1.Announcement, aud audience) bool {
	return aud > audiencePublic || a.GetAudience() != rallyv1.AnnouncementAudience_ANNOUNCEMENT_AUDIENCE_RSVP_HOLDERS
}

// errRightsEnded ends a stream whose caller lost the rights it was opened with.
func errRightsEnded(why string) error {
	return status.Error(codes.PermissionDenied, why+"; this stream has ended: watch again with the rights you have now")
}

// stillValid re-checks an organiser's API token (revoked or expired since the stream
// opened) before the message at cursor, read once per replica and message for all the
// streams of that token; other callers' credentials do not change.
func (s *service) stillValid(ctx context.Context, caller auth.Principal, cursor string) error {
	if caller.Kind != auth.Organiser {
		return nil
	}
	v, err := s.shared(ctx, caller.Token+"@"+cursor, func(ctx context.Context) (any, error) { return s.store.GetAPIToken(ctx, caller.Token) })
	t, _ := v.(*rallyv1.ApiToken)
	_, err = s.tokenPrincipal(ctx, t, err)
	return err
}

// authorizeEventStream is the re-check of a stream on an event's history of audience aud: the
// holder's RSVP is still current, the organiser still organises the event with a valid
// token. Reads shared by the watchers of a message (the event, its campaign) are made once
// per replica.
func (s *service) authorizeEventStream(caller auth.Principal, event string, aud audience) func(context.Context, string) error {
	switch aud {
	case audienceHolders:
		return func(ctx context.Context, _ string) error {
			_, current, err := s.holderRSVP(ctx, event, caller)
			if status.Code(err) == codes.Unauthenticated || (err == nil && !current) {
				return errRightsEnded("the RSVP of this token is cancelled or deleted")
			}
			return err
		}
	case audienceOrganisers:
		return func(ctx context.Context, cursor string) error {
			if err := s.stillValid(ctx, caller, cursor); err != nil {
				return err
			}
			e, err := s.sharedEvent(ctx, event, cursor)
			if err != nil {
				return err
			}
			ok, err := s.organisesShared(ctx, caller, e.GetCampaign(), e.GetOwner(), cursor)
			if err == nil && !ok {
				return errRightsEnded("you no longer organise " + event)
			}
			return err
		}
	}
	return nil
}

// organisesShared is organisesEvent for a stream's re-check, with the campaign read once
// per replica and message.
func (s *service) organisesShared(ctx context.Context, caller auth.Principal, campaign, owner, cursor string) (bool, error) {
	switch {
	case caller.IsAdmin():
		return true, nil
	case caller.Kind != auth.Organiser:
		return false, nil
	case campaign == "":
		return owner == caller.Organiser, nil
	}
	c, err := s.sharedCampaign(ctx, campaign, cursor) // only read
	if err != nil {
		return false, err
	}
	return organisesCampaign(caller, c), nil
}

// authorizeCampaignStream is the re-check of a stream on a campaign's history of audience
// aud: an organiser still organises the campaign with a valid token. The public's stream
// needs none.
func (s *service) authorizeCampaignStream(caller auth.Principal, campaign string, aud audience) func(context.Context, string) error {
	if aud != audienceOrganisers {
		return nil
	}
	return func(ctx context.Context, cursor string) error {
		if err := s.stillValid(ctx, caller, cursor); err != nil {
			return err
		}
		ok, err := s.organisesShared(ctx, caller, campaign, "", cursor)
		if err == nil && !ok {
			return errRightsEnded("you no longer organise " + campaign)
		}
		return err
	}
}

// authorizeAdmin lets only the admin through, to do what.
func authorizeAdmin(ctx context.Context, what string) error {
	if !auth.FromContext(ctx).IsAdmin() {
		return errDenied(what + ": only the admin may")
	}
	return nil
}
