package e2e_test

import (
	"context"
	"encoding/json"
	"log/slog"
	"net/http"
	"strings"
	"testing"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"

	rallyv1 "github.com/rallyhq/rally/gen/go/rally/v1"
	"github.com/rallyhq/rally/internal/app"
	"github.com/rallyhq/rally/internal/app/apptest"
	"github.com/rallyhq/rally/internal/config"
)

// TestLogsHoldNoSecrets runs a full scenario with debug logging and checks that no token,
// personal data or client address reaches the logs.
func TestLogsHoldNoSecrets(t *testing.T) {
	for name, redisURL := range backends(t) {
		t.Run(name, func(t *testing.T) {
			var logs syncBuffer
			cfg, err := config.Parse([]string{"--grpc-addr=127.0.0.1:0", "--http-addr=127.0.0.1:0", "--metrics-addr=127.0.0.1:0", "--admin-token=" + token, "--secrets=" + apptest.Secrets, "--redis-url=" + redisURL(t)})
			if err != nil {
				t.Fatal(err)
			}
			a, err := app.Start(t.Context(), cfg, slog.New(slog.NewJSONHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug})))
			if err != nil {
				t.Fatal(err)
			}
			conn, err := grpc.NewClient(a.GRPCAddr(), grpc.WithTransportCredentials(insecure.NewCredentials()))
			if err != nil {
				t.Fatal(err)
			}
			defer conn.Close()
			ctx := t.Context()
			orgs := rallyv1.NewOrganiserServiceClient(conn)
			campaigns := rallyv1.NewCampaignServiceClient(conn)
			events := rallyv1.NewEventServiceClient(conn)

			const (
				pseudonym    = "Aigerim-Pseudonym-7731"
				meetingPoint = "Behind-the-kiosk-4410"
				clientIP     = "203.0.113.77"
				contact      = "signal-contact-5512"
				claimant     = "Claimant-Pseudonym-9902"
			)
			o, err := orgs.CreateOrganiser(withToken(ctx, token), &rallyv1.CreateOrganiserRequest{Organiser: &rallyv1.Organiser{DisplayName: pseudonym}})
			if err != nil {
				t.Fatal(err)
			}
			tok, err := orgs.CreateApiToken(withToken(ctx, token), &rallyv1.CreateApiTokenRequest{Parent: o.GetName()})
			if err != nil {
				t.Fatal(err)
			}
			asOrg := withToken(ctx, tok.GetSecret())
			c, err := campaigns.CreateCampaign(asOrg, &rallyv1.CreateCampaignRequest{Campaign: &rallyv1.Campaign{Title: "Solidarity"}})
			if err != nil {
				t.Fatal(err)
			}
			ev := eventIn(c.GetName())
			ev.MeetingPoint = meetingPoint
			created, err := events.CreateEvent(asOrg, &rallyv1.CreateEventRequest{Event: ev})
			if err != nil {
				t.Fatal(err)
			}
			// A participant's RSVP: pseudonym, contact, manage token.
			rsvps := rallyv1.NewRsvpServiceClient(conn)
			r, err := rsvps.CreateRsvp(ctx, &rallyv1.CreateRsvpRequest{Parent: created.GetName(), RequestId: "request-id-secret-0001",
				Rsvp: &rallyv1.Rsvp{DisplayName: pseudonym, Contact: contact}})
			if err != nil {
				t.Fatal(err)
			}
			if _, err := rsvps.GetRsvp(withToken(ctx, r.GetManageToken()), &rallyv1.GetRsvpRequest{Name: r.GetRsvp().GetName()}); err != nil {
				t.Fatal(err)
			}
			if _, err := rsvps.ListRsvps(asOrg, &rallyv1.ListRsvpsRequest{Parent: created.GetName()}); err != nil {
				t.Fatal(err)
			}
			// A claim of a task: pseudonym and claim token.
			task, err := rallyv1.NewTaskServiceClient(conn).CreateTask(asOrg, &rallyv1.CreateTaskRequest{Task: taskIn(c.GetName())})
			if err != nil {
				t.Fatal(err)
			}
			tasks := rallyv1.NewTaskServiceClient(conn)
			claim, err := tasks.ClaimTask(ctx, &rallyv1.ClaimTaskRequest{Name: task.GetName(), DisplayName: claimant})
			if err != nil {
				t.Fatal(err)
			}
			// Failed calls that name the RSVP and the claim: each with the other's token,
			// and a second RSVP read with the first one's token.
			other, err := rsvps.CreateRsvp(ctx, &rallyv1.CreateRsvpRequest{Parent: created.GetName(), Rsvp: &rallyv1.Rsvp{DisplayName: "someone"}})
			if err != nil {
				t.Fatal(err)
			}
			if _, err := rsvps.CancelRsvp(withToken(ctx, claim.GetClaimToken()), &rallyv1.CancelRsvpRequest{Name: r.GetRsvp().GetName()}); err == nil {
				t.Fatal("a claim token cancelled an RSVP")
			}
			if _, err := tasks.ReleaseClaim(withToken(ctx, r.GetManageToken()), &rallyv1.ReleaseClaimRequest{Name: claim.GetClaim().GetName()}); err == nil {
				t.Fatal("an RSVP token released a claim")
			}
			if _, err := rsvps.GetRsvp(withToken(ctx, r.GetManageToken()), &rallyv1.GetRsvpRequest{Name: other.GetRsvp().GetName()}); err == nil {
				t.Fatal("an RSVP token read another RSVP")
			}
			// Failures log too: bad tokens, bad input carrying personal data, denied calls.
			_, _ = orgs.GetOrganiser(withToken(ctx, "rly_org_"+strings.Repeat("x", 43)), &rallyv1.GetOrganiserRequest{Name: "organisers/me"})
			_, _ = orgs.CreateOrganiser(asOrg, &rallyv1.CreateOrganiserRequest{Organiser: &rallyv1.Organiser{DisplayName: pseudonym}})
			_, _ = events.CreateEvent(asOrg, &rallyv1.CreateEventRequest{Event: &rallyv1.Event{Title: pseudonym, MeetingPoint: meetingPoint}})
			for _, path := range []string{"/v1/events", "/v1/" + c.GetName(), "/v1/organisers/me"} {
				req, _ := http.NewRequest("GET", "http://"+a.HTTPAddr()+path, nil)
				req.Header.Set("X-Forwarded-For", clientIP)
				req.Header.Set("Authorization", "Bearer "+tok.GetSecret())
				resp, err := http.DefaultClient.Do(req)
				if err != nil {
					t.Fatal(err)
				}
				resp.Body.Close()
			}
			sctx, cancel := context.WithTimeout(context.Background(), 5e9)
			defer cancel()
			if err := a.Shutdown(sctx); err != nil {
				t.Fatal(err)
			}

			out := logs.String()
			if strings.Count(out, "finished call") < 8 {
				t.Fatalf("the scenario was not logged; logs:\n%s", out)
			}
			for what, secret := range map[string]string{
				"admin token": token, "organiser token": tok.GetSecret(), "token body": tok.GetSecret()[len("rly_org_"):],
				"pseudonym": pseudonym, "meeting point": meetingPoint, "forwarded client address": clientIP,
				"peer address field": "peer.address", "authorization header": "authorization",
				"RSVP contact": contact, "RSVP request id": "request-id-secret-0001", "RSVP manage token": r.GetManageToken(),
				"claimant's pseudonym": claimant, "claim token": claim.GetClaimToken(),
				"claim token body": strings.TrimPrefix(claim.GetClaimToken(), "rly_claim_"),
			} {
				if strings.Contains(out, secret) {
					t.Errorf("the logs contain the %s", what)
				}
			}
			// At info and above, no line names a participant (an RSVP or a claim), though
			// the failed calls above named them in their errors.
			var named int
			for _, line := range strings.Split(strings.TrimSpace(out), "\n") {
				var l map[string]any
				if err := json.Unmarshal([]byte(line), &l); err != nil {
					t.Fatalf("not JSON: %q", line)
				}
				if e, _ := l["grpc.error"].(string); strings.Contains(e, "rsvps/…") || strings.Contains(e, "claims/…") {
					named++
				}
				if l["level"] == "DEBUG" {
					continue
				}
				for _, name := range []string{r.GetRsvp().GetName(), other.GetRsvp().GetName(), claim.GetClaim().GetName()} {
					if id := name[strings.LastIndex(name, "/")+1:]; strings.Contains(line, id) {
						t.Errorf("a %s line names %s: %s", l["level"], name, line)
					}
				}
			}
			if named == 0 {
				t.Errorf("no failed call's error named a participant (redacted); the check above proves nothing:\n%s", out)
			}
		})
	}
}
