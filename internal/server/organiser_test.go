package server_test

import (
	"context"
	"slices"
	"testing"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/protobuf/types/known/fieldmaskpb"
	"google.golang.org/protobuf/types/known/timestamppb"

	rallyv1 "github.com/rallyhq/rally/gen/go/rally/v1"
)

// organiser creates an organiser and a token for it, and returns its name and a context
// that calls as it.
func (h *harness) organiser(t *testing.T, display string) (string, context.Context) {
	t.Helper()
	orgs := rallyv1.NewOrganiserServiceClient(h.conn)
	o, err := orgs.CreateOrganiser(h.admin, &rallyv1.CreateOrganiserRequest{Organiser: &rallyv1.Organiser{DisplayName: display}})
	if err != nil {
		t.Fatal(err)
	}
	tok, err := orgs.CreateApiToken(h.admin, &rallyv1.CreateApiTokenRequest{Parent: o.GetName(), ApiToken: &rallyv1.ApiToken{DisplayName: "test"}})
	if err != nil {
		t.Fatal(err)
	}
	return o.GetName(), metadata.AppendToOutgoingContext(h.ctx, "authorization", "Bearer "+tok.GetSecret())
}

func TestCoOrganisers(t *testing.T) {
	h := newHarness(t)
	orgs := rallyv1.NewOrganiserServiceClient(h.conn)
	alice, asAlice := h.organiser(t, "Alice")
	bob, asBob := h.organiser(t, "Bob")
	carol, _ := h.organiser(t, "Carol")

	c, err := h.campaigns.CreateCampaign(asAlice, &rallyv1.CreateCampaignRequest{Campaign: validCampaign()})
	if err != nil {
		t.Fatal(err)
	}
	if c.GetOwner() != alice || !slices.Equal(c.GetOrganisers(), []string{alice}) {
		t.Fatalf("creator must own the campaign: %v", c)
	}
	// The public does not learn who organises.
	pub, err := h.campaigns.GetCampaign(h.ctx, &rallyv1.GetCampaignRequest{Name: c.GetName()})
	if err != nil || pub.GetOwner() != "" || len(pub.GetOrganisers()) != 0 {
		t.Fatalf("organisers leaked to the public: %v, %v", pub, err)
	}

	// Bob cannot touch the campaign until Alice invites him and he accepts.
	_, err = h.events.CreateEvent(asBob, &rallyv1.CreateEventRequest{Event: validEvent(c.GetName())})
	wantCode(t, err, codes.PermissionDenied, "")
	if _, err := orgs.AddCampaignOrganiser(asAlice, &rallyv1.AddCampaignOrganiserRequest{Campaign: c.GetName(), Organiser: bob}); err != nil {
		t.Fatal(err)
	}
	_, err = h.events.CreateEvent(asBob, &rallyv1.CreateEventRequest{Event: validEvent(c.GetName())})
	wantCode(t, err, codes.PermissionDenied, "")
	if _, err := orgs.AcceptCampaignInvitation(asBob, &rallyv1.AcceptCampaignInvitationRequest{Campaign: c.GetName()}); err != nil {
		t.Fatal(err)
	}
	e, err := h.events.CreateEvent(asBob, &rallyv1.CreateEventRequest{Event: validEvent(c.GetName())})
	if err != nil {
		t.Fatal(err)
	}
	// Alice manages Bob's event in her campaign, and sees its meeting point.
	got, err := h.events.GetEvent(asAlice, &rallyv1.GetEventRequest{Name: e.GetName()})
	if err != nil || got.GetMeetingPoint() == "" || got.GetOwner() != bob {
		t.Fatalf("co-organiser view: %v, %v", got, err)
	}
	pubEvent, err := h.events.GetEvent(h.ctx, &rallyv1.GetEventRequest{Name: e.GetName()})
	if err != nil || pubEvent.GetOwner() != "" || pubEvent.GetMeetingPoint() != "" {
		t.Fatalf("public view: %v, %v", pubEvent, err)
	}
	// Only the owner changes who organises, and the owner stays.
	_, err = orgs.AddCampaignOrganiser(asBob, &rallyv1.AddCampaignOrganiserRequest{Campaign: c.GetName(), Organiser: carol})
	wantCode(t, err, codes.PermissionDenied, "")
	_, err = orgs.RemoveCampaignOrganiser(asAlice, &rallyv1.RemoveCampaignOrganiserRequest{Campaign: c.GetName(), Organiser: alice})
	wantCode(t, err, codes.FailedPrecondition, "")
	_, err = orgs.AddCampaignOrganiser(asAlice, &rallyv1.AddCampaignOrganiserRequest{Campaign: c.GetName(), Organiser: "organisers/nobody"})
	wantCode(t, err, codes.NotFound, "")

	// Once removed, Bob loses access, even to the event he created.
	if _, err := orgs.RemoveCampaignOrganiser(asAlice, &rallyv1.RemoveCampaignOrganiserRequest{Campaign: c.GetName(), Organiser: bob}); err != nil {
		t.Fatal(err)
	}
	_, err = h.events.UpdateEvent(asBob, &rallyv1.UpdateEventRequest{
		Event: &rallyv1.Event{Name: e.GetName(), Title: "x"}, UpdateMask: &fieldmaskpb.FieldMask{Paths: []string{"title"}}})
	wantCode(t, err, codes.PermissionDenied, "")
	_, err = h.events.CancelEvent(asBob, &rallyv1.CancelEventRequest{Name: e.GetName()})
	wantCode(t, err, codes.PermissionDenied, "")
}

func TestAPITokens(t *testing.T) {
	h := newHarness(t)
	orgs := rallyv1.NewOrganiserServiceClient(h.conn)
	alice, asAlice := h.organiser(t, "Alice")

	me, err := orgs.GetOrganiser(asAlice, &rallyv1.GetOrganiserRequest{Name: "organisers/me"})
	if err != nil || me.GetName() != alice || me.GetDisplayName() != "Alice" {
		t.Fatalf("organisers/me: %v, %v", me, err)
	}
	_, err = orgs.GetOrganiser(h.admin, &rallyv1.GetOrganiserRequest{Name: "organisers/me"})
	wantCode(t, err, codes.InvalidArgument, "")

	_, err = orgs.CreateApiToken(asAlice, &rallyv1.CreateApiTokenRequest{Parent: "organisers/me",
		ApiToken: &rallyv1.ApiToken{ExpireTime: timestamppb.New(h.clock.Now().Add(-time.Minute))}})
	wantCode(t, err, codes.InvalidArgument, "api_token.expire_time")

	h.clock.Add(time.Second) // tokens of the same instant are listed by ID
	second, err := orgs.CreateApiToken(asAlice, &rallyv1.CreateApiTokenRequest{Parent: "organisers/me",
		ApiToken: &rallyv1.ApiToken{DisplayName: "laptop", ExpireTime: timestamppb.New(h.clock.Now().Add(time.Hour))}})
	if err != nil {
		t.Fatal(err)
	}
	asLaptop := metadata.AppendToOutgoingContext(h.ctx, "authorization", "Bearer "+second.GetSecret())
	list, err := orgs.ListApiTokens(asLaptop, &rallyv1.ListApiTokensRequest{Parent: "organisers/me"})
	if err != nil || len(list.GetApiTokens()) != 2 || list.GetApiTokens()[0].GetDisplayName() != "laptop" {
		t.Fatalf("tokens, newest first: %v, %v", list, err)
	}

	// The token expires with the clock.
	h.clock.Add(time.Hour)
	_, err = orgs.GetOrganiser(asLaptop, &rallyv1.GetOrganiserRequest{Name: "organisers/me"})
	wantCode(t, err, codes.Unauthenticated, "")

	// Revoking is immediate and idempotent; another organiser's token is not found
	// under this organiser's name.
	first := list.GetApiTokens()[1]
	r1, err := orgs.RevokeApiToken(h.admin, &rallyv1.RevokeApiTokenRequest{Name: first.GetName()})
	if err != nil || r1.GetRevokeTime() == nil {
		t.Fatalf("revoke: %v, %v", r1, err)
	}
	r2, err := orgs.RevokeApiToken(h.admin, &rallyv1.RevokeApiTokenRequest{Name: first.GetName()})
	if err != nil || !r2.GetRevokeTime().AsTime().Equal(r1.GetRevokeTime().AsTime()) {
		t.Fatalf("second revoke: %v, %v", r2, err)
	}
	_, err = orgs.GetOrganiser(asAlice, &rallyv1.GetOrganiserRequest{Name: "organisers/me"})
	wantCode(t, err, codes.Unauthenticated, "")

	bob, _ := h.organiser(t, "Bob")
	_, err = orgs.RevokeApiToken(h.admin, &rallyv1.RevokeApiTokenRequest{Name: bob + "/apiTokens/" + first.GetName()[len(alice+"/apiTokens/"):]})
	wantCode(t, err, codes.NotFound, "")
}
