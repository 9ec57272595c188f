package server_test

import (
	"context"
	"fmt"
	"slices"
	"testing"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/fieldmaskpb"

	rallyv1 "github.com/rallyhq/rally/gen/go/rally/v1"
)

// TestAddOrganiserNoExistenceOracle: a caller who may not change a campaign's organisers
// gets the same answer whether the organiser it names exists or not.
func TestAddOrganiserNoExistenceOracle(t *testing.T) {
	onStores(t, func(t *testing.T, h *harness) {
		orgs := rallyv1.NewOrganiserServiceClient(h.conn)
		_, asAlice := h.organiser(t, "Alice")
		bob, asBob := h.organiser(t, "Bob")
		carol, asCarol := h.organiser(t, "Carol")
		c, err := h.campaigns.CreateCampaign(asAlice, &rallyv1.CreateCampaignRequest{Campaign: validCampaign()})
		if err != nil {
			t.Fatal(err)
		}
		// Bob co-organises (he may not add either); Carol is a stranger.
		if _, err := orgs.AddCampaignOrganiser(asAlice, &rallyv1.AddCampaignOrganiserRequest{Campaign: c.GetName(), Organiser: bob}); err != nil {
			t.Fatal(err)
		}
		if _, err := orgs.AcceptCampaignInvitation(asBob, &rallyv1.AcceptCampaignInvitationRequest{Campaign: c.GetName()}); err != nil {
			t.Fatal(err)
		}
		for who, ctx := range map[string]context.Context{"a co-organiser": asBob, "a stranger": asCarol} {
			var answers []string
			for _, target := range []string{carol, bob, "organisers/nobody", "organisers/zz-never-created"} {
				_, err := orgs.AddCampaignOrganiser(ctx, &rallyv1.AddCampaignOrganiserRequest{Campaign: c.GetName(), Organiser: target})
				st := status.Convert(err)
				if st.Code() != codes.PermissionDenied {
					t.Errorf("%s adding %s: %v, want PERMISSION_DENIED", who, target, err)
				}
				answers = append(answers, fmt.Sprint(st.Code(), st.Message(), st.Details()))
			}
			if answers[0] != answers[1] || answers[0] != answers[2] || answers[0] != answers[3] {
				t.Errorf("%s tells organisers apart by the answer: %q", who, answers)
			}
		}
		// The owner may add, and so learns which names exist: that is the right it has.
		_, err = orgs.AddCampaignOrganiser(asAlice, &rallyv1.AddCampaignOrganiserRequest{Campaign: c.GetName(), Organiser: "organisers/nobody"})
		wantCode(t, err, codes.NotFound, "")
		// Nothing changed: no invitation for Carol from the refused calls.
		got, err := h.campaigns.GetCampaign(asAlice, &rallyv1.GetCampaignRequest{Name: c.GetName()})
		if err != nil || len(got.GetInvitations()) != 0 {
			t.Fatalf("after refused adds: %v, %v", got.GetInvitations(), err)
		}
	})
}

// TestInvitations: an invited organiser is not an organiser until it accepts, with its
// own token; it may decline; the owner may withdraw the invitation; nobody else answers
// for it, the admin included.
func TestInvitations(t *testing.T) {
	onStores(t, func(t *testing.T, h *harness) {
		orgs := rallyv1.NewOrganiserServiceClient(h.conn)
		alice, asAlice := h.organiser(t, "Alice")
		bob, asBob := h.organiser(t, "Bob")
		carol, asCarol := h.organiser(t, "Carol")
		c, err := h.campaigns.CreateCampaign(asAlice, &rallyv1.CreateCampaignRequest{Campaign: validCampaign()})
		if err != nil {
			t.Fatal(err)
		}
		name := c.GetName()
		pending := func(ctx context.Context, parent string) []string {
			t.Helper()
			resp, err := orgs.ListCampaignInvitations(ctx, &rallyv1.ListCampaignInvitationsRequest{Parent: parent})
			if err != nil {
				t.Fatalf("ListCampaignInvitations(%s): %v", parent, err)
			}
			var names []string
			for _, inv := range resp.GetCampaignInvitations() {
				names = append(names, inv.GetName())
			}
			return names
		}

		// The invitation: pending on the campaign, not an organiser yet.
		inv, err := orgs.AddCampaignOrganiser(asAlice, &rallyv1.AddCampaignOrganiserRequest{Campaign: name, Organiser: bob})
		if err != nil {
			t.Fatal(err)
		}
		if !slices.Equal(inv.GetOrganisers(), []string{alice}) || len(inv.GetInvitations()) != 1 {
			t.Fatalf("after the invitation: organisers %v, invitations %v", inv.GetOrganisers(), inv.GetInvitations())
		}
		got := inv.GetInvitations()[0]
		bobID := bob[len("organisers/"):]
		if got.GetName() != name+"/invitations/"+bobID || got.GetInvitee() != bob || got.GetInviter() != alice || got.GetCreateTime() == nil {
			t.Errorf("invitation: %v", got)
		}
		_, err = h.events.CreateEvent(asBob, &rallyv1.CreateEventRequest{Event: validEvent(name)})
		wantCode(t, err, codes.PermissionDenied, "")
		// Inviting again, or inviting an organiser, changes nothing.
		again, err := orgs.AddCampaignOrganiser(asAlice, &rallyv1.AddCampaignOrganiserRequest{Campaign: name, Organiser: bob})
		if err != nil || len(again.GetInvitations()) != 1 || again.GetEtag() != inv.GetEtag() {
			t.Fatalf("second invitation: %v, %v", again, err)
		}
		self, err := orgs.AddCampaignOrganiser(asAlice, &rallyv1.AddCampaignOrganiserRequest{Campaign: name, Organiser: alice})
		if err != nil || len(self.GetInvitations()) != 1 || self.GetEtag() != inv.GetEtag() {
			t.Fatalf("inviting an organiser: %v, %v", self, err)
		}

		// Who sees the invitation: the campaign's organisers and the invitee's own list.
		for who, ctx := range map[string]context.Context{"the public": h.ctx, "the invitee": asBob, "a stranger": asCarol} {
			seen, err := h.campaigns.GetCampaign(ctx, &rallyv1.GetCampaignRequest{Name: name})
			if err != nil || len(seen.GetInvitations()) != 0 || len(seen.GetOrganisers()) != 0 || seen.GetOwner() != "" {
				t.Errorf("%s sees %v, %v", who, seen, err)
			}
		}
		if got := pending(asBob, "organisers/me"); !slices.Equal(got, []string{name + "/invitations/" + bobID}) {
			t.Errorf("bob's invitations: %v", got)
		}
		if got := pending(h.admin, bob); len(got) != 1 {
			t.Errorf("bob's invitations, as the admin lists them: %v", got)
		}
		if got := pending(asCarol, "organisers/me"); len(got) != 0 {
			t.Errorf("carol's invitations: %v", got)
		}
		_, err = orgs.ListCampaignInvitations(asCarol, &rallyv1.ListCampaignInvitationsRequest{Parent: bob})
		wantCode(t, err, codes.PermissionDenied, "")

		// Nobody answers for bob: not the admin, not the owner, not carol.
		_, err = orgs.AcceptCampaignInvitation(h.admin, &rallyv1.AcceptCampaignInvitationRequest{Campaign: name})
		wantCode(t, err, codes.PermissionDenied, "")
		_, err = orgs.DeclineCampaignInvitation(h.admin, &rallyv1.DeclineCampaignInvitationRequest{Campaign: name})
		wantCode(t, err, codes.PermissionDenied, "")
		_, err = orgs.AcceptCampaignInvitation(asCarol, &rallyv1.AcceptCampaignInvitationRequest{Campaign: name})
		wantCode(t, err, codes.NotFound, "")
		_, err = orgs.DeclineCampaignInvitation(asCarol, &rallyv1.DeclineCampaignInvitationRequest{Campaign: name})
		wantCode(t, err, codes.NotFound, "")
		_, err = orgs.AcceptCampaignInvitation(asBob, &rallyv1.AcceptCampaignInvitationRequest{Campaign: "campaigns/nothing"})
		wantCode(t, err, codes.NotFound, "")

		// Bob accepts: an organiser now, seeing the campaign as organisers do.
		joined, err := orgs.AcceptCampaignInvitation(asBob, &rallyv1.AcceptCampaignInvitationRequest{Campaign: name})
		if err != nil {
			t.Fatal(err)
		}
		if !slices.Equal(joined.GetOrganisers(), []string{alice, bob}) || len(joined.GetInvitations()) != 0 || joined.GetOwner() != alice {
			t.Fatalf("after accepting: %v", joined)
		}
		if _, err := h.events.CreateEvent(asBob, &rallyv1.CreateEventRequest{Event: validEvent(name)}); err != nil {
			t.Fatalf("bob, an organiser now: %v", err)
		}
		// Accepting again (a retry) returns the campaign; declining now finds nothing.
		retry, err := orgs.AcceptCampaignInvitation(asBob, &rallyv1.AcceptCampaignInvitationRequest{Campaign: name})
		if err != nil || !slices.Equal(retry.GetOrganisers(), []string{alice, bob}) {
			t.Fatalf("second accept: %v, %v", retry, err)
		}
		_, err = orgs.DeclineCampaignInvitation(asBob, &rallyv1.DeclineCampaignInvitationRequest{Campaign: name})
		wantCode(t, err, codes.NotFound, "")
		if got := pending(asBob, "organisers/me"); len(got) != 0 {
			t.Errorf("bob's invitations after accepting: %v", got)
		}
		// A co-organiser cannot invite.
		_, err = orgs.AddCampaignOrganiser(asBob, &rallyv1.AddCampaignOrganiserRequest{Campaign: name, Organiser: carol})
		wantCode(t, err, codes.PermissionDenied, "")

		// Carol declines: she never joins, and her answer is final for this invitation.
		if _, err := orgs.AddCampaignOrganiser(asAlice, &rallyv1.AddCampaignOrganiserRequest{Campaign: name, Organiser: carol}); err != nil {
			t.Fatal(err)
		}
		if _, err := orgs.DeclineCampaignInvitation(asCarol, &rallyv1.DeclineCampaignInvitationRequest{Campaign: name}); err != nil {
			t.Fatal(err)
		}
		_, err = orgs.AcceptCampaignInvitation(asCarol, &rallyv1.AcceptCampaignInvitationRequest{Campaign: name})
		wantCode(t, err, codes.NotFound, "")
		after, err := h.campaigns.GetCampaign(asAlice, &rallyv1.GetCampaignRequest{Name: name})
		if err != nil || slices.Contains(after.GetOrganisers(), carol) || len(after.GetInvitations()) != 0 {
			t.Fatalf("after carol declined: %v, %v", after, err)
		}

		// The owner withdraws an invitation with RemoveCampaignOrganiser.
		if _, err := orgs.AddCampaignOrganiser(asAlice, &rallyv1.AddCampaignOrganiserRequest{Campaign: name, Organiser: carol}); err != nil {
			t.Fatal(err)
		}
		withdrawn, err := orgs.RemoveCampaignOrganiser(asAlice, &rallyv1.RemoveCampaignOrganiserRequest{Campaign: name, Organiser: carol})
		if err != nil || len(withdrawn.GetInvitations()) != 0 || !slices.Equal(withdrawn.GetOrganisers(), []string{alice, bob}) {
			t.Fatalf("withdrawn: %v, %v", withdrawn, err)
		}
		if got := pending(asCarol, "organisers/me"); len(got) != 0 {
			t.Errorf("carol's invitations after the withdrawal: %v", got)
		}
		_, err = orgs.AcceptCampaignInvitation(asCarol, &rallyv1.AcceptCampaignInvitationRequest{Campaign: name})
		wantCode(t, err, codes.NotFound, "")

		// An update of the campaign cannot smuggle organisers or invitations in.
		upd, err := h.campaigns.UpdateCampaign(asAlice, &rallyv1.UpdateCampaignRequest{
			Campaign:   &rallyv1.Campaign{Name: name, Title: "Renamed", Organisers: []string{carol}, Invitations: []*rallyv1.CampaignInvitation{{Invitee: carol}}},
			UpdateMask: &fieldmaskpb.FieldMask{Paths: []string{"title", "organisers", "invitations"}}})
		if err != nil || slices.Contains(upd.GetOrganisers(), carol) || len(upd.GetInvitations()) != 0 {
			t.Fatalf("update with organisers and invitations: %v, %v", upd, err)
		}
		// Nor can a create.
		created, err := h.campaigns.CreateCampaign(asAlice, &rallyv1.CreateCampaignRequest{Campaign: &rallyv1.Campaign{
			Title: "Another", Invitations: []*rallyv1.CampaignInvitation{{Name: "campaigns/x/invitations/y", Invitee: carol}}}})
		if err != nil || len(created.GetInvitations()) != 0 {
			t.Fatalf("create with invitations: %v, %v", created, err)
		}
		if got := pending(asCarol, "organisers/me"); len(got) != 0 {
			t.Errorf("carol's invitations after a create that named her: %v", got)
		}
	})
}

// TestInvitationList: an organiser's pending invitations across campaigns, paged, oldest
// campaign first; answered and withdrawn ones leave the list.
func TestInvitationList(t *testing.T) {
	onStores(t, func(t *testing.T, h *harness) {
		orgs := rallyv1.NewOrganiserServiceClient(h.conn)
		_, asAlice := h.organiser(t, "Alice")
		bob, asBob := h.organiser(t, "Bob")
		var campaigns []string
		for i := range 5 {
			c, err := h.campaigns.CreateCampaign(asAlice, &rallyv1.CreateCampaignRequest{CampaignId: fmt.Sprintf("campaign-%d", i), Campaign: validCampaign()})
			if err != nil {
				t.Fatal(err)
			}
			h.clock.Add(1e9)
			campaigns = append(campaigns, c.GetName())
			if _, err := orgs.AddCampaignOrganiser(asAlice, &rallyv1.AddCampaignOrganiserRequest{Campaign: c.GetName(), Organiser: bob}); err != nil {
				t.Fatal(err)
			}
		}
		// The admin created one too, and invites bob: no inviter.
		adm, err := h.campaigns.CreateCampaign(h.admin, &rallyv1.CreateCampaignRequest{CampaignId: "campaign-admin", Campaign: validCampaign()})
		if err != nil {
			t.Fatal(err)
		}
		byAdmin, err := orgs.AddCampaignOrganiser(h.admin, &rallyv1.AddCampaignOrganiserRequest{Campaign: adm.GetName(), Organiser: bob})
		if err != nil || len(byAdmin.GetInvitations()) != 1 || byAdmin.GetInvitations()[0].GetInviter() != "" {
			t.Fatalf("the admin's invitation: %v, %v", byAdmin, err)
		}
		campaigns = append(campaigns, adm.GetName())

		if _, err := orgs.AcceptCampaignInvitation(asBob, &rallyv1.AcceptCampaignInvitationRequest{Campaign: campaigns[1]}); err != nil {
			t.Fatal(err)
		}
		if _, err := orgs.DeclineCampaignInvitation(asBob, &rallyv1.DeclineCampaignInvitationRequest{Campaign: campaigns[2]}); err != nil {
			t.Fatal(err)
		}
		if _, err := orgs.RemoveCampaignOrganiser(asAlice, &rallyv1.RemoveCampaignOrganiserRequest{Campaign: campaigns[3], Organiser: bob}); err != nil {
			t.Fatal(err)
		}
		var got []string
		token := ""
		for pages := 0; ; pages++ {
			resp, err := orgs.ListCampaignInvitations(asBob, &rallyv1.ListCampaignInvitationsRequest{Parent: "organisers/me", PageSize: 1, PageToken: token})
			if err != nil {
				t.Fatal(err)
			}
			for _, inv := range resp.GetCampaignInvitations() {
				if inv.GetInvitee() != bob {
					t.Errorf("bob's list holds %v", inv)
				}
				got = append(got, inv.GetName())
			}
			if token = resp.GetNextPageToken(); token == "" || pages > 10 {
				break
			}
		}
		bobID := bob[len("organisers/"):]
		want := []string{campaigns[0] + "/invitations/" + bobID, campaigns[4] + "/invitations/" + bobID, campaigns[5] + "/invitations/" + bobID}
		if !slices.Equal(got, want) {
			t.Errorf("bob's pending invitations: %v, want %v", got, want)
		}
		_, err = orgs.ListCampaignInvitations(asBob, &rallyv1.ListCampaignInvitationsRequest{Parent: "organisers/me", PageToken: "garbage"})
		wantCode(t, err, codes.InvalidArgument, "page_token")
		_, err = orgs.ListCampaignInvitations(h.admin, &rallyv1.ListCampaignInvitationsRequest{Parent: "organisers/me"})
		wantCode(t, err, codes.InvalidArgument, "parent")
	})
}

// TestInvitationCap: at most 100 invitations wait on one campaign.
func TestInvitationCap(t *testing.T) {
	onStores(t, func(t *testing.T, h *harness) {
		orgs := rallyv1.NewOrganiserServiceClient(h.conn)
		_, asAlice := h.organiser(t, "Alice")
		c, err := h.campaigns.CreateCampaign(asAlice, &rallyv1.CreateCampaignRequest{Campaign: validCampaign()})
		if err != nil {
			t.Fatal(err)
		}
		invite := func(i int) error {
			o, err := orgs.CreateOrganiser(h.admin, &rallyv1.CreateOrganiserRequest{OrganiserId: fmt.Sprintf("invitee-%03d", i), Organiser: &rallyv1.Organiser{DisplayName: "x"}})
			if err != nil {
				t.Fatal(err)
			}
			_, err = orgs.AddCampaignOrganiser(asAlice, &rallyv1.AddCampaignOrganiserRequest{Campaign: c.GetName(), Organiser: o.GetName()})
			return err
		}
		for i := range 100 {
			if err := invite(i); err != nil {
				t.Fatalf("invitation %d: %v", i, err)
			}
		}
		wantCode(t, invite(100), codes.FailedPrecondition, "")
		if _, err := orgs.RemoveCampaignOrganiser(asAlice, &rallyv1.RemoveCampaignOrganiserRequest{Campaign: c.GetName(), Organiser: "organisers/invitee-000"}); err != nil {
			t.Fatal(err)
		}
		if err := invite(101); err != nil {
			t.Fatalf("an invitation after one was withdrawn: %v", err)
		}
	})
}
