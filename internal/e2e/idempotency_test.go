package e2e_test

import (
	"net/http"
	"slices"
	"strings"
	"testing"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/metadata"

	rallyv1 "github.com/rallyhq/rally/gen/go/rally/v1"
)

// Idempotency keys travel in a header (issue 14): Idempotency-Key over REST, the
// idempotency-key metadata over gRPC, with the same effect as requestId in the query or
// the body, which keep working. A key given twice, differently, is INVALID_ARGUMENT
// naming request_id. Real rallyd, on both stores.
func TestIdempotencyKey(t *testing.T) {
	for name, redisURL := range backends(t) {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			a := startApp(t, redisURL(t), "--cors-origins=https://app.example.org")
			base := "http://" + a.HTTPAddr()
			conn, err := grpc.NewClient(a.GRPCAddr(), grpc.WithTransportCredentials(insecure.NewCredentials()))
			if err != nil {
				t.Fatal(err)
			}
			defer conn.Close()
			admin := withToken(t.Context(), token)
			c, err := rallyv1.NewCampaignServiceClient(conn).CreateCampaign(admin, &rallyv1.CreateCampaignRequest{Campaign: &rallyv1.Campaign{Title: "Solidarity"}})
			if err != nil {
				t.Fatal(err)
			}
			e, err := rallyv1.NewEventServiceClient(conn).CreateEvent(admin, &rallyv1.CreateEventRequest{Event: eventIn(c.GetName())})
			if err != nil {
				t.Fatal(err)
			}
			tk, err := rallyv1.NewTaskServiceClient(conn).CreateTask(admin, &rallyv1.CreateTaskRequest{Task: taskIn(c.GetName())})
			if err != nil {
				t.Fatal(err)
			}
			rsvps := rallyv1.NewRsvpServiceClient(conn)
			countRsvps := func(want int) {
				t.Helper()
				list, err := rsvps.ListRsvps(admin, &rallyv1.ListRsvpsRequest{Parent: e.GetName(), PageSize: 100})
				if err != nil || len(list.GetRsvps()) != want {
					t.Fatalf("%d RSVPs (%v), want %d", len(list.GetRsvps()), err, want)
				}
			}
			wantBad := func(res restResult, what, field string) {
				t.Helper()
				if res.code != http.StatusBadRequest || !slices.Equal(res.fields, []string{field}) {
					t.Errorf("%s: %d %s, want 400 naming %s", what, res.code, res.raw, field)
				}
			}

			// REST CreateRsvp: the header, again, in the draft's quoted form, and the same
			// key in the query all give the one RSVP and its token.
			const key = "0c6d1b9e-4f1a-4c2e-8f65-7c1d2a9b3e40"
			rsvpURL := base + "/v1/" + e.GetName() + "/rsvps"
			first := restCall(t, "POST", rsvpURL, `{"displayName":"Dana"}`, "Idempotency-Key", key)
			if first.code != http.StatusOK || first.body["manageToken"] == "" {
				t.Fatalf("CreateRsvp with Idempotency-Key: %d %s", first.code, first.raw)
			}
			rsvp := first.body["rsvp"].(map[string]any)["name"]
			for _, retry := range []struct {
				what, query string
				header      []string
			}{
				{"the header again", "", []string{"Idempotency-Key", key}},
				{"the header quoted", "", []string{"Idempotency-Key", `"` + key + `"`}},
				{"as Grpc-Metadata-Idempotency-Key", "", []string{"Grpc-Metadata-Idempotency-Key", key}},
				{"requestId in the query", "?requestId=" + key, nil},
				{"both, the same", "?requestId=" + key, []string{"idempotency-key", key}},
			} {
				res := restCall(t, "POST", rsvpURL+retry.query, `{"displayName":"Dana"}`, retry.header...)
				if res.code != http.StatusOK || res.body["rsvp"].(map[string]any)["name"] != rsvp || res.body["manageToken"] != first.body["manageToken"] {
					t.Errorf("retry with %s: %d %s, want the first RSVP and token", retry.what, res.code, res.raw)
				}
			}
			countRsvps(1)
			wantBad(restCall(t, "POST", rsvpURL+"?requestId=another-key-0123456789", `{}`, "Idempotency-Key", key), "header and query differ", "request_id")
			wantBad(restCall(t, "POST", rsvpURL, `{}`, "Idempotency-Key", key, "Idempotency-Key", "another-key-0123456789"), "two headers", "idempotency-key")
			wantBad(restCall(t, "POST", rsvpURL, `{}`, "Idempotency-Key", "short"), "a key too short", "request_id")
			countRsvps(1)

			// REST ClaimTask, whose requestId is in the body.
			claimURL := base + "/v1/" + tk.GetName() + "/claims"
			claim := restCall(t, "POST", claimURL, `{"displayName":"Robin"}`, "Idempotency-Key", key)
			again := restCall(t, "POST", claimURL, `{"requestId":"`+key+`"}`)
			if claim.code != http.StatusOK || again.code != http.StatusOK || claim.body["claimToken"] != again.body["claimToken"] ||
				claim.body["claim"].(map[string]any)["name"] != again.body["claim"].(map[string]any)["name"] {
				t.Errorf("ClaimTask with the header, then the key in the body: %s; %s", claim.raw, again.raw)
			}
			wantBad(restCall(t, "POST", claimURL, `{"requestId":"another-key-0123456789"}`, "Idempotency-Key", key), "ClaimTask, header and body differ", "request_id")

			// REST CreateEvent.
			auth := []string{"Authorization", "Bearer " + token, "Idempotency-Key", "event-key-0123"}
			ev1 := restCall(t, "POST", base+"/v1/events", eventBody(c.GetName()), auth...)
			ev2 := restCall(t, "POST", base+"/v1/events", eventBody(c.GetName()), auth...)
			if ev1.code != http.StatusOK || ev1.body["name"] != ev2.body["name"] {
				t.Errorf("CreateEvent twice with one Idempotency-Key: %s; %s", ev1.raw, ev2.raw)
			}

			// A method that takes no key ignores it: clients may send it with every call.
			if res := restCall(t, "GET", base+"/v1/"+e.GetName(), "", "Idempotency-Key", key); res.code != http.StatusOK {
				t.Errorf("GetEvent with Idempotency-Key: %d %s", res.code, res.raw)
			}

			// Browsers on allowed origins may send it.
			pre := restCall(t, "OPTIONS", rsvpURL, "", "Origin", "https://app.example.org", "Access-Control-Request-Method", "POST",
				"Access-Control-Request-Headers", "content-type,idempotency-key")
			if pre.code != http.StatusNoContent || !slices.Contains(splitList(pre.header.Get("Access-Control-Allow-Headers")), "Idempotency-Key") {
				t.Errorf("preflight: %d, Access-Control-Allow-Headers %q", pre.code, pre.header.Get("Access-Control-Allow-Headers"))
			}

			// gRPC: the metadata, the body, both.
			const gkey = "grpc-key-0123456789abcdef"
			withKey := metadata.AppendToOutgoingContext(t.Context(), "idempotency-key", gkey)
			r1, err := rsvps.CreateRsvp(withKey, &rallyv1.CreateRsvpRequest{Parent: e.GetName(), Rsvp: &rallyv1.Rsvp{DisplayName: "Alma"}})
			if err != nil {
				t.Fatal(err)
			}
			for what, call := range map[string]func() (*rallyv1.CreateRsvpResponse, error){
				"metadata again": func() (*rallyv1.CreateRsvpResponse, error) {
					return rsvps.CreateRsvp(withKey, &rallyv1.CreateRsvpRequest{Parent: e.GetName(), Rsvp: &rallyv1.Rsvp{DisplayName: "Alma"}})
				},
				"body": func() (*rallyv1.CreateRsvpResponse, error) {
					return rsvps.CreateRsvp(t.Context(), &rallyv1.CreateRsvpRequest{Parent: e.GetName(), RequestId: gkey, Rsvp: &rallyv1.Rsvp{DisplayName: "Alma"}})
				},
				"both": func() (*rallyv1.CreateRsvpResponse, error) {
					return rsvps.CreateRsvp(withKey, &rallyv1.CreateRsvpRequest{Parent: e.GetName(), RequestId: gkey, Rsvp: &rallyv1.Rsvp{DisplayName: "Alma"}})
				},
			} {
				r2, err := call()
				if err != nil || r2.GetRsvp().GetName() != r1.GetRsvp().GetName() || r2.GetManageToken() != r1.GetManageToken() {
					t.Errorf("gRPC retry with the key in the %s: %v, %v; want the first RSVP and token", what, r2, err)
				}
			}
			countRsvps(2)
			_, err = rsvps.CreateRsvp(withKey, &rallyv1.CreateRsvpRequest{Parent: e.GetName(), RequestId: "another-key-0123456789"})
			if fields := violations(err); !slices.Equal(fields, []string{"request_id"}) {
				t.Errorf("gRPC, metadata and body differ: %v", err)
			}
			_, err = rallyv1.NewTaskServiceClient(conn).ClaimTask(withKey, &rallyv1.ClaimTaskRequest{Name: tk.GetName(), RequestId: "another-key-0123456789"})
			if fields := violations(err); !slices.Equal(fields, []string{"request_id"}) {
				t.Errorf("gRPC ClaimTask, metadata and body differ: %v", err)
			}
			countRsvps(2)
		})
	}
}

// splitList splits a comma-separated header value.
func splitList(v string) []string {
	var out []string
	for part := range strings.SplitSeq(v, ",") {
		out = append(out, strings.TrimSpace(part))
	}
	return out
}
