package storetest

import (
	"errors"
	"slices"
	"testing"
	"time"

	"google.golang.org/protobuf/types/known/timestamppb"

	rallyv1 "github.com/rallyhq/rally/gen/go/rally/v1"
	"github.com/rallyhq/rally/internal/store"
)

// inviting is Campaign inviting the named organisers (organisers/{id}).
func inviting(id string, created time.Time, invitees ...string) *rallyv1.Campaign {
	c := Campaign(id, created)
	for _, o := range invitees {
		c.Invitations = append(c.Invitations, &rallyv1.CampaignInvitation{
			Name: c.GetName() + "/invitations/" + o, Invitee: "organisers/" + o, Inviter: "organisers/owner", CreateTime: timestamppb.New(created),
		})
	}
	return c
}

// listInvited lists the IDs of the campaigns inviting organisers/{organiser}, pageSize at a
// time.
func listInvited(t *testing.T, s store.Store, organiser string, pageSize int) []string {
	t.Helper()
	q := store.InvitationQuery{Organiser: "organisers/" + organiser, PageSize: pageSize}
	ids := []string{}
	for pages := 1; ; pages++ {
		p, err := s.ListInvitedCampaigns(t.Context(), q)
		if err != nil {
			t.Fatalf("ListInvitedCampaigns(%+v): %v", q, err)
		}
		for _, c := range p.Items {
			ids = append(ids, store.ID(c.GetName()))
		}
		if p.NextPageToken == "" {
			return ids
		}
		if pages > 100 {
			t.Fatalf("ListInvitedCampaigns(%s) does not end", organiser)
		}
		q.PageToken = p.NextPageToken
	}
}

// testInvitedCampaigns: the campaigns inviting an organiser, in campaign order, following
// every update that adds or removes an invitation.
func testInvitedCampaigns(t *testing.T, s store.Store) {
	ctx := t.Context()
	h := time.Hour
	createCampaigns(t, s,
		inviting("c1", base, "alma", "bota"),
		inviting("c2", base.Add(h), "alma"),
		inviting("c0", base.Add(-h), "bota", "alma"),
		inviting("c3", base.Add(2*h)),
	)
	for _, size := range []int{1, 2, 1000} {
		if got := listInvited(t, s, "alma", size); !slices.Equal(got, []string{"c0", "c1", "c2"}) {
			t.Errorf("alma, page size %d: %v, want c0, c1, c2", size, got)
		}
	}
	if got := listInvited(t, s, "bota", 1); !slices.Equal(got, []string{"c0", "c1"}) {
		t.Errorf("bota: %v, want c0, c1", got)
	}
	if got := listInvited(t, s, "nobody", 10); len(got) != 0 {
		t.Errorf("an organiser nobody invites: %v", got)
	}
	// The campaigns come back whole, invitations included.
	p, err := s.ListInvitedCampaigns(ctx, store.InvitationQuery{Organiser: "organisers/bota", PageSize: 1})
	if err != nil || len(p.Items) != 1 || p.NextPageToken == "" {
		t.Fatalf("first page of bota's: %v, %v", p, err)
	}
	if d := diffProto(inviting("c0", base.Add(-h), "bota", "alma"), p.Items[0]); d != "" {
		t.Errorf("listed campaign (-want +got):\n%s", d)
	}
	// A page token belongs to its organiser's list.
	if _, err := s.ListInvitedCampaigns(ctx, store.InvitationQuery{Organiser: "organisers/alma", PageSize: 1, PageToken: p.NextPageToken}); !errors.Is(err, store.ErrInvalidPageToken) {
		t.Errorf("bota's page token on alma's list: %v, want ErrInvalidPageToken", err)
	}
	if _, err := s.ListInvitedCampaigns(ctx, store.InvitationQuery{Organiser: "organisers/bota", PageSize: 1, PageToken: "garbage"}); !errors.Is(err, store.ErrInvalidPageToken) {
		t.Errorf("a garbage page token: %v, want ErrInvalidPageToken", err)
	}

	// Alma accepts c1's: the invitation leaves, she organises; bota's stays.
	if _, err := s.UpdateCampaign(ctx, "campaigns/c1", func(c *rallyv1.Campaign) error {
		c.Invitations = slices.DeleteFunc(c.Invitations, func(i *rallyv1.CampaignInvitation) bool { return i.GetInvitee() == "organisers/alma" })
		c.Organisers = append(c.Organisers, "organisers/alma")
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	// c3 invites alma now; c0 withdraws every invitation.
	if _, err := s.UpdateCampaign(ctx, "campaigns/c3", func(c *rallyv1.Campaign) error {
		c.Invitations = inviting("c3", base, "alma").Invitations
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	if _, err := s.UpdateCampaign(ctx, "campaigns/c0", func(c *rallyv1.Campaign) error {
		c.Invitations = nil
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	if got := listInvited(t, s, "alma", 1); !slices.Equal(got, []string{"c2", "c3"}) {
		t.Errorf("alma after the updates: %v, want c2, c3", got)
	}
	if got := listInvited(t, s, "bota", 1); !slices.Equal(got, []string{"c1"}) {
		t.Errorf("bota after the updates: %v, want c1", got)
	}
	// Every campaign is still listed once in ListCampaigns.
	if got := listCampaigns(t, s, 10); !slices.Equal(got, []string{"c0", "c1", "c2", "c3"}) {
		t.Errorf("ListCampaigns: %v", got)
	}
}
