package e2e_test

import (
	"context"
	"crypto/ecdh"
	"crypto/rand"
	"encoding/base64"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/grpc-ecosystem/grpc-gateway/v2/runtime"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/fieldmaskpb"
	"google.golang.org/protobuf/types/known/timestamppb"

	rallyv1 "github.com/rallyhq/rally/gen/go/rally/v1"
)

// The permission matrix: every RPC, called by every kind of caller, over gRPC and REST,
// on both backends. Each later RPC adds its rows to matrixRows.

type caller string

const (
	anonymous caller = "anonymous"
	other     caller = "other organiser"
	right     caller = "right organiser"
	admin     caller = "admin"
	revoked   caller = "revoked token"
	expired   caller = "expired token"
	garbage   caller = "garbage token"
	// The holders of RSVP manage tokens, for the rows of RSVPs (rsvpPrivate, holderOnly):
	// the row's RSVP's own, and another RSVP's of the same event.
	holder      caller = "holder"
	otherHolder caller = "other holder"
)

var callers = []caller{anonymous, other, right, admin, revoked, expired, garbage}

// callersOf are the callers of a row: the holders too on the rows of RSVPs.
func callersOf(a access) []caller {
	if a == rsvpPrivate || a == holderOnly {
		return append(slices.Clone(callers), holder, otherHolder)
	}
	return callers
}

// access says who may call an RPC on the row's resource.
type access int

const (
	public         access = iota // anyone, even without a token
	anyOrganiser                 // any organiser (and the admin)
	rightOrganiser               // the resource's organisers (and the admin)
	adminOnly                    // the admin
	private                      // an RSVP: its holder and its event's organisers; to anyone else it does not exist
	invitee                      // an invitation: only the invited organiser answers it, not even the admin; to another organiser it does not exist
	rsvpPrivate                  // as private, for an RSVP: its holder may too, another RSVP's holder finds nothing
	holderOnly                   // an RSVP's holder alone (buddies, check-out): no organiser, not the admin; another holder finds nothing
)

// want is the code a caller gets from an RPC with the given access.
func (a access) want(c caller) codes.Code {
	switch {
	case c == revoked || c == expired || c == garbage:
		return codes.Unauthenticated // a bad token is refused even on public reads
	case c == holder:
		return codes.OK
	case c == otherHolder:
		return codes.NotFound
	case a == holderOnly && c != anonymous:
		return codes.PermissionDenied // the participant's own act, whatever the RSVP
	case a == invitee && c == admin:
		return codes.PermissionDenied // consent is not the admin's to give
	case c == admin || a == public:
		return codes.OK
	case c == anonymous:
		return codes.Unauthenticated
	case (a == private || a == rsvpPrivate || a == invitee) && c == other:
		return codes.NotFound
	case a == adminOnly, a == rightOrganiser && c == other:
		return codes.PermissionDenied
	}
	return codes.OK
}

// world is what every matrix cell starts from: made fresh for each cell, so that one
// cell's change (a cancel, a revoke) cannot decide another's outcome.
type world struct {
	alice, bob string // organiser names; alice is the "right" organiser
	campaign   string // owned by alice
	event      string // in campaign
	standalone string // alice's event without a campaign
	aliceToken string // a spare token of alice, to revoke
	rsvp       string // an anonymous RSVP to event
	task       string // a task in campaign
	claim      string // an anonymous claim of task
	invitation string // a campaign of the admin's that invites alice to co-organise it
	aliceKey   string // a current key of alice, to revoke
	rsvpToken  string // rsvp's manage token
	otherToken string // the manage token of another RSVP to event
	buddyCode  string // the other RSVP's buddy code, for rsvp to join
}

type rest struct{ method, path, body string }

type matrixRow struct {
	rpc    string
	access access
	grpc   func(ctx context.Context, c clients, w world) error
	rest   func(w world) rest
}

// x25519Public returns a fresh X25519 public key, as an organiser's device would make.
func x25519Public() []byte {
	k, err := ecdh.X25519().GenerateKey(rand.Reader)
	if err != nil {
		panic(err)
	}
	return k.PublicKey().Bytes()
}

var matrixRows = []matrixRow{
	{"CreateCampaign", anyOrganiser,
		func(ctx context.Context, c clients, w world) error {
			_, err := c.campaigns.CreateCampaign(ctx, &rallyv1.CreateCampaignRequest{Campaign: &rallyv1.Campaign{Title: "New"}})
			return err
		},
		func(w world) rest { return rest{"POST", "/v1/campaigns", `{"title":"New"}`} }},
	{"GetCampaign", public,
		func(ctx context.Context, c clients, w world) error {
			_, err := c.campaigns.GetCampaign(ctx, &rallyv1.GetCampaignRequest{Name: w.campaign})
			return err
		},
		func(w world) rest { return rest{"GET", "/v1/" + w.campaign, ""} }},
	{"ListCampaigns", public,
		func(ctx context.Context, c clients, w world) error {
			_, err := c.campaigns.ListCampaigns(ctx, &rallyv1.ListCampaignsRequest{})
			return err
		},
		func(w world) rest { return rest{"GET", "/v1/campaigns", ""} }},
	{"UpdateCampaign", rightOrganiser,
		func(ctx context.Context, c clients, w world) error {
			_, err := c.campaigns.UpdateCampaign(ctx, &rallyv1.UpdateCampaignRequest{
				Campaign: &rallyv1.Campaign{Name: w.campaign, Title: "Renamed"}, UpdateMask: &fieldmaskpb.FieldMask{Paths: []string{"title"}}})
			return err
		},
		func(w world) rest { return rest{"PATCH", "/v1/" + w.campaign, `{"title":"Renamed"}`} }},
	{"CreateEvent in a campaign", rightOrganiser,
		func(ctx context.Context, c clients, w world) error {
			_, err := c.events.CreateEvent(ctx, &rallyv1.CreateEventRequest{Event: eventIn(w.campaign)})
			return err
		},
		func(w world) rest { return rest{"POST", "/v1/events", eventBody(w.campaign)} }},
	{"CreateEvent standalone", anyOrganiser,
		func(ctx context.Context, c clients, w world) error {
			_, err := c.events.CreateEvent(ctx, &rallyv1.CreateEventRequest{Event: eventIn("")})
			return err
		},
		func(w world) rest { return rest{"POST", "/v1/events", eventBody("")} }},
	{"GetEvent", public,
		func(ctx context.Context, c clients, w world) error {
			_, err := c.events.GetEvent(ctx, &rallyv1.GetEventRequest{Name: w.event})
			return err
		},
		func(w world) rest { return rest{"GET", "/v1/" + w.event, ""} }},
	{"ListEvents", public,
		func(ctx context.Context, c clients, w world) error {
			_, err := c.events.ListEvents(ctx, &rallyv1.ListEventsRequest{Campaign: w.campaign})
			return err
		},
		func(w world) rest { return rest{"GET", "/v1/events?campaign=" + w.campaign, ""} }},
	{"UpdateEvent", rightOrganiser,
		func(ctx context.Context, c clients, w world) error {
			_, err := c.events.UpdateEvent(ctx, &rallyv1.UpdateEventRequest{
				Event: &rallyv1.Event{Name: w.event, Title: "Renamed"}, UpdateMask: &fieldmaskpb.FieldMask{Paths: []string{"title"}}})
			return err
		},
		func(w world) rest { return rest{"PATCH", "/v1/" + w.event, `{"title":"Renamed"}`} }},
	{"UpdateEvent standalone", rightOrganiser,
		func(ctx context.Context, c clients, w world) error {
			_, err := c.events.UpdateEvent(ctx, &rallyv1.UpdateEventRequest{
				Event: &rallyv1.Event{Name: w.standalone, Title: "Renamed"}, UpdateMask: &fieldmaskpb.FieldMask{Paths: []string{"title"}}})
			return err
		},
		func(w world) rest { return rest{"PATCH", "/v1/" + w.standalone, `{"title":"Renamed"}`} }},
	{"CancelEvent", rightOrganiser,
		func(ctx context.Context, c clients, w world) error {
			_, err := c.events.CancelEvent(ctx, &rallyv1.CancelEventRequest{Name: w.event, Reason: "rain"})
			return err
		},
		func(w world) rest { return rest{"POST", "/v1/" + w.event + ":cancel", `{"reason":"rain"}`} }},
	{"CreateOrganiser", adminOnly,
		func(ctx context.Context, c clients, w world) error {
			_, err := c.organisers.CreateOrganiser(ctx, &rallyv1.CreateOrganiserRequest{Organiser: &rallyv1.Organiser{DisplayName: "Carol"}})
			return err
		},
		func(w world) rest { return rest{"POST", "/v1/organisers", `{"displayName":"Carol"}`} }},
	{"GetOrganiser", rightOrganiser,
		func(ctx context.Context, c clients, w world) error {
			_, err := c.organisers.GetOrganiser(ctx, &rallyv1.GetOrganiserRequest{Name: w.alice})
			return err
		},
		func(w world) rest { return rest{"GET", "/v1/" + w.alice, ""} }},
	{"CreateApiToken", rightOrganiser,
		func(ctx context.Context, c clients, w world) error {
			_, err := c.organisers.CreateApiToken(ctx, &rallyv1.CreateApiTokenRequest{Parent: w.alice, ApiToken: &rallyv1.ApiToken{DisplayName: "laptop"}})
			return err
		},
		func(w world) rest { return rest{"POST", "/v1/" + w.alice + "/apiTokens", `{"displayName":"laptop"}`} }},
	{"ListApiTokens", rightOrganiser,
		func(ctx context.Context, c clients, w world) error {
			_, err := c.organisers.ListApiTokens(ctx, &rallyv1.ListApiTokensRequest{Parent: w.alice})
			return err
		},
		func(w world) rest { return rest{"GET", "/v1/" + w.alice + "/apiTokens", ""} }},
	{"RevokeApiToken", rightOrganiser,
		func(ctx context.Context, c clients, w world) error {
			_, err := c.organisers.RevokeApiToken(ctx, &rallyv1.RevokeApiTokenRequest{Name: w.aliceToken})
			return err
		},
		func(w world) rest { return rest{"POST", "/v1/" + w.aliceToken + ":revoke", `{}`} }},
	{"CreateOrganiserKey", rightOrganiser,
		func(ctx context.Context, c clients, w world) error {
			_, err := c.organisers.CreateOrganiserKey(ctx, &rallyv1.CreateOrganiserKeyRequest{Parent: w.alice, OrganiserKey: &rallyv1.OrganiserKey{
				Algorithm: rallyv1.KeyAlgorithm_KEY_ALGORITHM_HPKE_X25519, PublicKey: x25519Public()}})
			return err
		},
		func(w world) rest {
			return rest{"POST", "/v1/" + w.alice + "/keys", `{"algorithm":"KEY_ALGORITHM_HPKE_X25519","publicKey":"` + base64.StdEncoding.EncodeToString(x25519Public()) + `"}`}
		}},
	{"ListOrganiserKeys", rightOrganiser,
		func(ctx context.Context, c clients, w world) error {
			_, err := c.organisers.ListOrganiserKeys(ctx, &rallyv1.ListOrganiserKeysRequest{Parent: w.alice})
			return err
		},
		func(w world) rest { return rest{"GET", "/v1/" + w.alice + "/keys", ""} }},
	{"RevokeOrganiserKey", rightOrganiser,
		func(ctx context.Context, c clients, w world) error {
			_, err := c.organisers.RevokeOrganiserKey(ctx, &rallyv1.RevokeOrganiserKeyRequest{Name: w.aliceKey})
			return err
		},
		func(w world) rest { return rest{"POST", "/v1/" + w.aliceKey + ":revoke", `{}`} }},
	{"AddCampaignOrganiser", rightOrganiser,
		func(ctx context.Context, c clients, w world) error {
			_, err := c.organisers.AddCampaignOrganiser(ctx, &rallyv1.AddCampaignOrganiserRequest{Campaign: w.campaign, Organiser: w.bob})
			return err
		},
		func(w world) rest {
			return rest{"POST", "/v1/" + w.campaign + ":addOrganiser", `{"organiser":"` + w.bob + `"}`}
		}},
	{"RemoveCampaignOrganiser", rightOrganiser,
		func(ctx context.Context, c clients, w world) error {
			_, err := c.organisers.RemoveCampaignOrganiser(ctx, &rallyv1.RemoveCampaignOrganiserRequest{Campaign: w.campaign, Organiser: w.bob})
			return err
		},
		func(w world) rest {
			return rest{"POST", "/v1/" + w.campaign + ":removeOrganiser", `{"organiser":"` + w.bob + `"}`}
		}},
	{"AcceptCampaignInvitation", invitee,
		func(ctx context.Context, c clients, w world) error {
			_, err := c.organisers.AcceptCampaignInvitation(ctx, &rallyv1.AcceptCampaignInvitationRequest{Campaign: w.invitation})
			return err
		},
		func(w world) rest { return rest{"POST", "/v1/" + w.invitation + ":acceptInvitation", `{}`} }},
	{"DeclineCampaignInvitation", invitee,
		func(ctx context.Context, c clients, w world) error {
			_, err := c.organisers.DeclineCampaignInvitation(ctx, &rallyv1.DeclineCampaignInvitationRequest{Campaign: w.invitation})
			return err
		},
		func(w world) rest { return rest{"POST", "/v1/" + w.invitation + ":declineInvitation", `{}`} }},
	{"ListCampaignInvitations", rightOrganiser,
		func(ctx context.Context, c clients, w world) error {
			_, err := c.organisers.ListCampaignInvitations(ctx, &rallyv1.ListCampaignInvitationsRequest{Parent: w.alice})
			return err
		},
		func(w world) rest { return rest{"GET", "/v1/" + w.alice + "/campaignInvitations", ""} }},
	{"CreateRsvp", public,
		func(ctx context.Context, c clients, w world) error {
			_, err := c.rsvps.CreateRsvp(ctx, &rallyv1.CreateRsvpRequest{Parent: w.event, Rsvp: &rallyv1.Rsvp{Guests: 1}})
			return err
		},
		func(w world) rest { return rest{"POST", "/v1/" + w.event + "/rsvps", `{"guests":1}`} }},
	{"GetRsvp", rsvpPrivate,
		func(ctx context.Context, c clients, w world) error {
			_, err := c.rsvps.GetRsvp(ctx, &rallyv1.GetRsvpRequest{Name: w.rsvp})
			return err
		},
		func(w world) rest { return rest{"GET", "/v1/" + w.rsvp, ""} }},
	{"UpdateRsvp", rsvpPrivate,
		func(ctx context.Context, c clients, w world) error {
			_, err := c.rsvps.UpdateRsvp(ctx, &rallyv1.UpdateRsvpRequest{Rsvp: &rallyv1.Rsvp{Name: w.rsvp, Guests: 1}, UpdateMask: &fieldmaskpb.FieldMask{Paths: []string{"guests"}}})
			return err
		},
		func(w world) rest { return rest{"PATCH", "/v1/" + w.rsvp, `{"guests":1}`} }},
	{"CancelRsvp", rsvpPrivate,
		func(ctx context.Context, c clients, w world) error {
			_, err := c.rsvps.CancelRsvp(ctx, &rallyv1.CancelRsvpRequest{Name: w.rsvp})
			return err
		},
		func(w world) rest { return rest{"POST", "/v1/" + w.rsvp + ":cancel", `{}`} }},
	{"DeleteRsvp", rsvpPrivate,
		func(ctx context.Context, c clients, w world) error {
			_, err := c.rsvps.DeleteRsvp(ctx, &rallyv1.DeleteRsvpRequest{Name: w.rsvp})
			return err
		},
		func(w world) rest { return rest{"DELETE", "/v1/" + w.rsvp, ""} }},
	{"PairBuddy", holderOnly,
		func(ctx context.Context, c clients, w world) error {
			_, err := c.rsvps.PairBuddy(ctx, &rallyv1.PairBuddyRequest{Name: w.rsvp, Nickname: "Heron"})
			return err
		},
		func(w world) rest { return rest{"POST", "/v1/" + w.rsvp + ":pairBuddy", `{"nickname":"Heron"}`} }},
	{"JoinBuddy", holderOnly,
		func(ctx context.Context, c clients, w world) error {
			_, err := c.rsvps.JoinBuddy(ctx, &rallyv1.JoinBuddyRequest{Name: w.rsvp, BuddyCode: w.buddyCode, Nickname: "Wren"})
			return err
		},
		func(w world) rest {
			return rest{"POST", "/v1/" + w.rsvp + ":joinBuddy", `{"buddyCode":"` + w.buddyCode + `","nickname":"Wren"}`}
		}},
	{"CheckOutRsvp", holderOnly,
		func(ctx context.Context, c clients, w world) error {
			_, err := c.rsvps.CheckOutRsvp(ctx, &rallyv1.CheckOutRsvpRequest{Name: w.rsvp})
			return err
		},
		func(w world) rest { return rest{"POST", "/v1/" + w.rsvp + ":checkOut", `{}`} }},
	{"ListRsvps", rightOrganiser,
		func(ctx context.Context, c clients, w world) error {
			_, err := c.rsvps.ListRsvps(ctx, &rallyv1.ListRsvpsRequest{Parent: w.event})
			return err
		},
		func(w world) rest { return rest{"GET", "/v1/" + w.event + "/rsvps", ""} }},
	{"CheckInRsvp", rightOrganiser,
		func(ctx context.Context, c clients, w world) error {
			_, err := c.rsvps.CheckInRsvp(ctx, &rallyv1.CheckInRsvpRequest{Name: w.rsvp})
			return err
		},
		func(w world) rest { return rest{"POST", "/v1/" + w.rsvp + ":checkIn", `{}`} }},
	{"ListAuditEntries", rightOrganiser,
		func(ctx context.Context, c clients, w world) error {
			_, err := c.rsvps.ListAuditEntries(ctx, &rallyv1.ListAuditEntriesRequest{Parent: w.event})
			return err
		},
		func(w world) rest { return rest{"GET", "/v1/" + w.event + "/auditEntries", ""} }},
	{"CreateTask", rightOrganiser,
		func(ctx context.Context, c clients, w world) error {
			_, err := c.tasks.CreateTask(ctx, &rallyv1.CreateTaskRequest{Task: taskIn(w.campaign)})
			return err
		},
		func(w world) rest { return rest{"POST", "/v1/tasks", taskBody(w.campaign)} }},
	{"GetTask", public,
		func(ctx context.Context, c clients, w world) error {
			_, err := c.tasks.GetTask(ctx, &rallyv1.GetTaskRequest{Name: w.task})
			return err
		},
		func(w world) rest { return rest{"GET", "/v1/" + w.task, ""} }},
	{"ListTasks", public,
		func(ctx context.Context, c clients, w world) error {
			_, err := c.tasks.ListTasks(ctx, &rallyv1.ListTasksRequest{Campaign: w.campaign})
			return err
		},
		func(w world) rest { return rest{"GET", "/v1/tasks?campaign=" + w.campaign, ""} }},
	{"UpdateTask", rightOrganiser,
		func(ctx context.Context, c clients, w world) error {
			_, err := c.tasks.UpdateTask(ctx, &rallyv1.UpdateTaskRequest{Task: &rallyv1.Task{Name: w.task, Title: "Renamed"}, UpdateMask: &fieldmaskpb.FieldMask{Paths: []string{"title"}}})
			return err
		},
		func(w world) rest { return rest{"PATCH", "/v1/" + w.task, `{"title":"Renamed"}`} }},
	{"CloseTask", rightOrganiser,
		func(ctx context.Context, c clients, w world) error {
			_, err := c.tasks.CloseTask(ctx, &rallyv1.CloseTaskRequest{Name: w.task})
			return err
		},
		func(w world) rest { return rest{"POST", "/v1/" + w.task + ":close", `{}`} }},
	{"ClaimTask", public,
		func(ctx context.Context, c clients, w world) error {
			_, err := c.tasks.ClaimTask(ctx, &rallyv1.ClaimTaskRequest{Name: w.task})
			return err
		},
		func(w world) rest { return rest{"POST", "/v1/" + w.task + "/claims", `{}`} }},
	{"CompleteClaim", private,
		func(ctx context.Context, c clients, w world) error {
			_, err := c.tasks.CompleteClaim(ctx, &rallyv1.CompleteClaimRequest{Name: w.claim, ProofUrl: "https://example.org/post"})
			return err
		},
		func(w world) rest {
			return rest{"POST", "/v1/" + w.claim + ":complete", `{"proofUrl":"https://example.org/post"}`}
		}},
	{"ListClaims", rightOrganiser,
		func(ctx context.Context, c clients, w world) error {
			_, err := c.tasks.ListClaims(ctx, &rallyv1.ListClaimsRequest{Parent: w.task})
			return err
		},
		func(w world) rest { return rest{"GET", "/v1/" + w.task + "/claims", ""} }},
	{"ReleaseClaim", private,
		func(ctx context.Context, c clients, w world) error {
			_, err := c.tasks.ReleaseClaim(ctx, &rallyv1.ReleaseClaimRequest{Name: w.claim})
			return err
		},
		func(w world) rest { return rest{"POST", "/v1/" + w.claim + ":release", `{}`} }},
}

func taskBody(campaign string) string {
	return fmt.Sprintf(`{"campaign":%q,"kind":"TASK_KIND_SHARE_POST","title":"Share the statement","deadline":"2030-01-01T00:00:00Z"}`, campaign)
}

func TestPermissionMatrix(t *testing.T) {
	for name, redisURL := range backends(t) {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			a := startApp(t, redisURL(t), safetyLimits)
			conn, err := grpc.NewClient(a.GRPCAddr(), grpc.WithTransportCredentials(insecure.NewCredentials()))
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { conn.Close() })
			c := clients{rallyv1.NewCampaignServiceClient(conn), rallyv1.NewEventServiceClient(conn), rallyv1.NewOrganiserServiceClient(conn), rallyv1.NewRsvpServiceClient(conn), rallyv1.NewTaskServiceClient(conn)}
			ctx := t.Context()
			adminCtx := withToken(ctx, token)

			mustOrg := func(display string) string {
				o, err := c.organisers.CreateOrganiser(adminCtx, &rallyv1.CreateOrganiserRequest{Organiser: &rallyv1.Organiser{DisplayName: display}})
				if err != nil {
					t.Fatal(err)
				}
				return o.GetName()
			}
			mustToken := func(org string, expire time.Time) (name, secret string) {
				req := &rallyv1.CreateApiTokenRequest{Parent: org, ApiToken: &rallyv1.ApiToken{DisplayName: "t"}}
				if !expire.IsZero() {
					req.ApiToken.ExpireTime = timestamppb.New(expire)
				}
				resp, err := c.organisers.CreateApiToken(adminCtx, req)
				if err != nil {
					t.Fatal(err)
				}
				if !strings.HasPrefix(resp.GetSecret(), "rly_org_") || len(resp.GetSecret()) != len("rly_org_")+43 {
					t.Fatalf("token secret %d chars, want rly_org_ and 43", len(resp.GetSecret()))
				}
				return resp.GetApiToken().GetName(), resp.GetSecret()
			}
			alice, bob := mustOrg("Alice"), mustOrg("Bob")
			expiresAt := time.Now().Add(1500 * time.Millisecond)
			_, expiredSecret := mustToken(alice, expiresAt)
			_, aliceSecret := mustToken(alice, time.Time{})
			_, bobSecret := mustToken(bob, time.Time{})
			revokedName, revokedSecret := mustToken(alice, time.Time{})
			if _, err := c.organisers.RevokeApiToken(withToken(ctx, aliceSecret), &rallyv1.RevokeApiTokenRequest{Name: revokedName}); err != nil {
				t.Fatal(err)
			}
			secrets := map[caller]string{
				anonymous: "", other: bobSecret, right: aliceSecret, admin: token,
				revoked: revokedSecret, expired: expiredSecret, garbage: "rly_org_" + strings.Repeat("A", 43),
			}
			time.Sleep(time.Until(expiresAt) + 50*time.Millisecond)

			aliceCtx := withToken(ctx, aliceSecret)
			lastKey := ""
			newWorld := func(t *testing.T) world {
				t.Helper()
				cp, err := c.campaigns.CreateCampaign(aliceCtx, &rallyv1.CreateCampaignRequest{Campaign: &rallyv1.Campaign{Title: "Solidarity"}})
				if err != nil {
					t.Fatal(err)
				}
				// The event has started, so that its RSVPs' holders may check out.
				started := eventIn(cp.GetName())
				started.StartTime, started.EndTime = timestamppb.New(time.Now().Add(-time.Hour)), timestamppb.New(time.Now().Add(time.Hour))
				ev, err := c.events.CreateEvent(aliceCtx, &rallyv1.CreateEventRequest{Event: started})
				if err != nil {
					t.Fatal(err)
				}
				sa, err := c.events.CreateEvent(aliceCtx, &rallyv1.CreateEventRequest{Event: eventIn("")})
				if err != nil {
					t.Fatal(err)
				}
				spare, _ := mustToken(alice, time.Time{})
				r, err := c.rsvps.CreateRsvp(ctx, &rallyv1.CreateRsvpRequest{Parent: ev.GetName(), Rsvp: &rallyv1.Rsvp{DisplayName: "Dana"}})
				if err != nil {
					t.Fatal(err)
				}
				or, err := c.rsvps.CreateRsvp(ctx, &rallyv1.CreateRsvpRequest{Parent: ev.GetName(), Rsvp: &rallyv1.Rsvp{}})
				if err != nil {
					t.Fatal(err)
				}
				code, err := c.rsvps.PairBuddy(withToken(ctx, or.GetManageToken()), &rallyv1.PairBuddyRequest{Name: or.GetRsvp().GetName(), Nickname: "Heron"})
				if err != nil {
					t.Fatal(err)
				}
				tk, err := c.tasks.CreateTask(aliceCtx, &rallyv1.CreateTaskRequest{Task: taskIn(cp.GetName())})
				if err != nil {
					t.Fatal(err)
				}
				cl, err := c.tasks.ClaimTask(ctx, &rallyv1.ClaimTaskRequest{Name: tk.GetName()})
				if err != nil {
					t.Fatal(err)
				}
				inviting, err := c.campaigns.CreateCampaign(adminCtx, &rallyv1.CreateCampaignRequest{Campaign: &rallyv1.Campaign{Title: "Invites alice"}})
				if err != nil {
					t.Fatal(err)
				}
				if _, err := c.organisers.AddCampaignOrganiser(adminCtx, &rallyv1.AddCampaignOrganiserRequest{Campaign: inviting.GetName(), Organiser: alice}); err != nil {
					t.Fatal(err)
				}
				// One current key per world: the last world's is revoked first, so that the
				// worlds do not add up to more keys than an organiser may hold.
				if lastKey != "" {
					if _, err := c.organisers.RevokeOrganiserKey(adminCtx, &rallyv1.RevokeOrganiserKeyRequest{Name: lastKey}); err != nil {
						t.Fatal(err)
					}
				}
				key, err := c.organisers.CreateOrganiserKey(adminCtx, &rallyv1.CreateOrganiserKeyRequest{Parent: alice, OrganiserKey: &rallyv1.OrganiserKey{
					Algorithm: rallyv1.KeyAlgorithm_KEY_ALGORITHM_HPKE_X25519, PublicKey: x25519Public()}})
				if err != nil {
					t.Fatal(err)
				}
				lastKey = key.GetName()
				return world{alice: alice, bob: bob, campaign: cp.GetName(), event: ev.GetName(), standalone: sa.GetName(), aliceToken: spare,
					rsvp: r.GetRsvp().GetName(), task: tk.GetName(), claim: cl.GetClaim().GetName(), invitation: inviting.GetName(), aliceKey: lastKey,
					rsvpToken: r.GetManageToken(), otherToken: or.GetManageToken(), buddyCode: code.GetBuddyCode()}
			}

			secretOf := func(who caller, w world) string {
				switch who {
				case holder:
					return w.rsvpToken
				case otherHolder:
					return w.otherToken
				}
				return secrets[who]
			}
			for _, row := range matrixRows {
				for _, who := range callersOf(row.access) {
					want := row.access.want(who)
					t.Run(row.rpc+"/gRPC/"+string(who), func(t *testing.T) {
						w := newWorld(t)
						err := row.grpc(withToken(ctx, secretOf(who, w)), c, w)
						if got := status.Code(err); got != want {
							t.Errorf("got %v (%v), want %v", got, err, want)
						}
					})
					t.Run(row.rpc+"/REST/"+string(who), func(t *testing.T) {
						w := newWorld(t)
						r := row.rest(w)
						req, _ := http.NewRequest(r.method, "http://"+a.HTTPAddr()+r.path, strings.NewReader(r.body))
						if s := secretOf(who, w); s != "" {
							req.Header.Set("Authorization", "Bearer "+s)
						}
						resp, err := http.DefaultClient.Do(req)
						if err != nil {
							t.Fatal(err)
						}
						resp.Body.Close()
						if wantHTTP := runtime.HTTPStatusFromCode(want); resp.StatusCode != wantHTTP {
							t.Errorf("got HTTP %d, want %d (%v)", resp.StatusCode, wantHTTP, want)
						}
					})
				}
			}
		})
	}
}
