package e2e_test

import (
	"encoding/json"
	"io"
	"net/http"
	"slices"
	"strings"
	"testing"

	"google.golang.org/protobuf/types/known/fieldmaskpb"

	rallyv1 "github.com/rallyhq/rally/gen/go/rally/v1"
)

// TestCoOrganiserInvitation is docs/api.md's "Bootstrapping" example over REST, on a real
// rallyd (two replicas sharing Redis, or one on the memory store): the owner's
// :addOrganiser only invites; the invitee lists its invitation and accepts it with its
// own token, and only then organises. The organisers' live view hears of both steps, the
// public's of neither.
func TestCoOrganiserInvitation(t *testing.T) {
	for name, redisURL := range backends(t) {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			a, b := twoNodes(t, redisURL(t))
			call := func(n node, method, path, tok, body string) (int, map[string]any, string) {
				t.Helper()
				req, _ := http.NewRequestWithContext(t.Context(), method, "http://"+n.app.HTTPAddr()+path, strings.NewReader(body))
				if tok != "" {
					req.Header.Set("Authorization", "Bearer "+tok)
				}
				resp, err := http.DefaultClient.Do(req)
				if err != nil {
					t.Fatal(err)
				}
				defer resp.Body.Close()
				raw, _ := io.ReadAll(resp.Body)
				var m map[string]any
				if err := json.Unmarshal(raw, &m); err != nil {
					t.Fatalf("%s %s: %d %q", method, path, resp.StatusCode, raw)
				}
				return resp.StatusCode, m, string(raw)
			}
			ok := func(n node, method, path, tok, body string) map[string]any {
				t.Helper()
				code, m, raw := call(n, method, path, tok, body)
				if code != http.StatusOK {
					t.Fatalf("%s %s: HTTP %d %s", method, path, code, raw)
				}
				return m
			}
			strs := func(v any) []string {
				var out []string
				for _, s := range asSlice(v) {
					out = append(out, s.(string))
				}
				return out
			}

			// As docs/api.md: the admin makes alma and bota and their tokens.
			for _, id := range []string{"alma", "bota", "cora"} {
				ok(a, "POST", "/v1/organisers?organiserId="+id, token, `{"displayName": "`+id+`"}`)
			}
			secret := func(id string) string {
				return ok(a, "POST", "/v1/organisers/"+id+"/apiTokens", token, `{"displayName": "first token"}`)["secret"].(string)
			}
			alma, bota, cora := secret("alma"), secret("bota"), secret("cora")
			ok(a, "POST", "/v1/campaigns?campaignId=alma-vigils", alma, `{"title": "Vigils for Kazakh LGBTI people"}`)

			orgWatch, err := b.events.WatchCampaign(withToken(t.Context(), alma), &rallyv1.WatchCampaignRequest{Name: "campaigns/alma-vigils"})
			if err != nil {
				t.Fatal(err)
			}
			organisers := collect(t, orgWatch)
			pubWatch, err := b.events.WatchCampaign(t.Context(), &rallyv1.WatchCampaignRequest{Name: "campaigns/alma-vigils"})
			if err != nil {
				t.Fatal(err)
			}
			public := collect(t, pubWatch)
			isSnapshot := func(c *rallyv1.Change) bool { return c.GetKind() == rallyv1.ChangeKind_CHANGE_KIND_SNAPSHOT }
			organisers.waitFor(t, "the organisers' snapshot", isSnapshot)
			public.waitFor(t, "the public snapshot", isSnapshot)

			// "Co-organisers: the campaign's owner adds them by name." An invitation.
			got := ok(a, "POST", "/v1/campaigns/alma-vigils:addOrganiser", alma, `{"organiser": "organisers/bota"}`)
			if o := strs(got["organisers"]); !slices.Equal(o, []string{"organisers/alma"}) {
				t.Errorf("organisers right after the invitation: %v", o)
			}
			invs := asSlice(got["invitations"])
			if len(invs) != 1 || invs[0].(map[string]any)["name"] != "campaigns/alma-vigils/invitations/bota" ||
				invs[0].(map[string]any)["invitee"] != "organisers/bota" || invs[0].(map[string]any)["inviter"] != "organisers/alma" {
				t.Fatalf("invitations: %v", got["invitations"])
			}
			organisers.waitFor(t, "the invitation, live to the organisers", func(c *rallyv1.Change) bool {
				return c.GetKind() == rallyv1.ChangeKind_CHANGE_KIND_UPDATED && len(c.GetCampaign().GetInvitations()) == 1
			})
			// Not an organiser yet: bota cannot create an event in the campaign.
			if code, _, raw := call(b, "POST", "/v1/events", bota, eventBody("campaigns/alma-vigils")); code != http.StatusForbidden {
				t.Errorf("an invitee creating an event: HTTP %d %s", code, raw)
			}

			// A stranger learns nothing about which organisers exist.
			c1, _, raw1 := call(a, "POST", "/v1/campaigns/alma-vigils:addOrganiser", cora, `{"organiser": "organisers/bota"}`)
			c2, _, raw2 := call(b, "POST", "/v1/campaigns/alma-vigils:addOrganiser", cora, `{"organiser": "organisers/nobody-at-all"}`)
			if c1 != http.StatusForbidden || c1 != c2 || raw1 != raw2 {
				t.Errorf("a stranger's :addOrganiser of an organiser: HTTP %d %s; of no organiser: HTTP %d %s", c1, raw1, c2, raw2)
			}

			// Bota's invitations, and the answer.
			list := ok(b, "GET", "/v1/organisers/me/campaignInvitations", bota, "")
			if l := asSlice(list["campaignInvitations"]); len(l) != 1 || l[0].(map[string]any)["name"] != "campaigns/alma-vigils/invitations/bota" {
				t.Fatalf("bota's invitations: %v", list)
			}
			joined := ok(b, "POST", "/v1/campaigns/alma-vigils:acceptInvitation", bota, `{}`)
			if o := strs(joined["organisers"]); !slices.Equal(o, []string{"organisers/alma", "organisers/bota"}) || len(asSlice(joined["invitations"])) != 0 {
				t.Fatalf("after accepting: %v", joined)
			}
			organisers.waitFor(t, "the acceptance, live to the organisers", func(c *rallyv1.Change) bool {
				return c.GetKind() == rallyv1.ChangeKind_CHANGE_KIND_UPDATED && slices.Contains(c.GetCampaign().GetOrganisers(), "organisers/bota")
			})
			ok(a, "POST", "/v1/events", bota, eventBody("campaigns/alma-vigils"))

			// Cora is invited and declines: never an organiser.
			ok(a, "POST", "/v1/campaigns/alma-vigils:addOrganiser", alma, `{"organiser": "organisers/cora"}`)
			if m := ok(b, "POST", "/v1/campaigns/alma-vigils:declineInvitation", cora, `{}`); len(m) != 0 {
				t.Errorf("decline answers %v, want {}", m)
			}
			if code, _, raw := call(a, "POST", "/v1/campaigns/alma-vigils:acceptInvitation", cora, `{}`); code != http.StatusNotFound {
				t.Errorf("accepting a declined invitation: HTTP %d %s", code, raw)
			}
			final := ok(a, "GET", "/v1/campaigns/alma-vigils", alma, "")
			if o := strs(final["organisers"]); !slices.Equal(o, []string{"organisers/alma", "organisers/bota"}) || len(asSlice(final["invitations"])) != 0 {
				t.Errorf("the campaign at the end: %v", final)
			}

			// The public heard of none of it: its next change is the title's.
			if _, err := a.campaigns.UpdateCampaign(withToken(t.Context(), alma), &rallyv1.UpdateCampaignRequest{
				Campaign: &rallyv1.Campaign{Name: "campaigns/alma-vigils", Title: "Renamed"}, UpdateMask: &fieldmaskpb.FieldMask{Paths: []string{"title"}}}); err != nil {
				t.Fatal(err)
			}
			seen := public.waitFor(t, "the public title change", func(c *rallyv1.Change) bool { return c.GetCampaign().GetTitle() == "Renamed" })
			for _, c := range seen {
				if c.GetKind() == rallyv1.ChangeKind_CHANGE_KIND_UPDATED && c.GetCampaign().GetTitle() != "Renamed" {
					t.Errorf("the public heard of a change of organisers: %v", c)
				}
				if len(c.GetCampaign().GetInvitations()) != 0 || len(c.GetCampaign().GetOrganisers()) != 0 {
					t.Errorf("the public saw who organises: %v", c)
				}
			}
		})
	}
}

func asSlice(v any) []any {
	s, _ := v.([]any)
	return s
}
