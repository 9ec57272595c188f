package e2e_test

import (
	"context"
	"encoding/json"
	"log/slog"
	"net/http"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/metadata"

	rallyv1 "github.com/rallyhq/rally/gen/go/rally/v1"
	"github.com/rallyhq/rally/internal/app"
	"github.com/rallyhq/rally/internal/config"
)

// callLine waits for the "finished call" log line of method carrying request ID id, and
// fails the test if none comes.
func callLine(t *testing.T, logs *syncBuffer, method, id string) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for {
		for line := range strings.SplitSeq(logs.String(), "\n") {
			var rec map[string]any
			if json.Unmarshal([]byte(line), &rec) != nil {
				continue
			}
			if rec["msg"] == "finished call" && rec["grpc.method"] == method && rec["request_id"] == id {
				return
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("no finished call of %s with request_id %q in the logs:\n%s", method, id, logs.String())
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// TestRequestID: every call gets a request ID, the client's own when it is a safe token,
// which comes back in the x-request-id header (X-Request-Id over REST) and is on the
// call's log line.
func TestRequestID(t *testing.T) {
	var logs syncBuffer
	cfg, err := config.Parse([]string{"--grpc-addr=127.0.0.1:0", "--http-addr=127.0.0.1:0", "--metrics-addr=127.0.0.1:0", "--admin-token=" + token,
		"--rate-limits=read=off;write=off;rally.v1.RsvpService/CreateRsvp=off", "--cors-origins=https://app.example.org"})
	if err != nil {
		t.Fatal(err)
	}
	a, err := app.Start(t.Context(), cfg, slog.New(slog.NewJSONHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug})))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		if err := a.Shutdown(ctx); err != nil {
			t.Errorf("shutdown: %v", err)
		}
	})
	conn, err := grpc.NewClient(a.GRPCAddr(), grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	ctx := t.Context()
	campaigns, events := rallyv1.NewCampaignServiceClient(conn), rallyv1.NewEventServiceClient(conn)
	c, err := campaigns.CreateCampaign(withToken(ctx, token), &rallyv1.CreateCampaignRequest{Campaign: &rallyv1.Campaign{Title: "Solidarity"}})
	if err != nil {
		t.Fatal(err)
	}
	e, err := events.CreateEvent(withToken(ctx, token), &rallyv1.CreateEventRequest{Event: eventIn(c.GetName())})
	if err != nil {
		t.Fatal(err)
	}

	t.Run("gRPC", func(t *testing.T) {
		for _, tc := range []struct {
			name, sent string
			keep       bool
		}{
			{"client's own", "client-Req.0001_a", true},
			{"none", "", false},
			{"too long", strings.Repeat("a", 65), false},
			{"unsafe characters", "req id;forged=1", false},
			{"a token", "rly_org_" + strings.Repeat("x", 43), false},
		} {
			t.Run(tc.name, func(t *testing.T) {
				ctx := ctx
				if tc.sent != "" {
					ctx = metadata.AppendToOutgoingContext(ctx, "x-request-id", tc.sent)
				}
				var header metadata.MD
				if _, err := events.GetEvent(ctx, &rallyv1.GetEventRequest{Name: e.GetName()}, grpc.Header(&header)); err != nil {
					t.Fatal(err)
				}
				got := header.Get("x-request-id")
				if len(got) != 1 {
					t.Fatalf("x-request-id header: %q, want one value", got)
				}
				if want := tc.sent; tc.keep && got[0] != want {
					t.Fatalf("x-request-id = %q, want the client's %q", got[0], want)
				}
				if !tc.keep && !generatedID.MatchString(got[0]) {
					t.Fatalf("x-request-id = %q, want a generated ID", got[0])
				}
				callLine(t, &logs, "GetEvent", got[0])
				if tc.sent != "" && !tc.keep && strings.Contains(logs.String(), tc.sent) {
					t.Errorf("the refused ID %q reached the logs", tc.sent)
				}
			})
		}
	})

	t.Run("failed call", func(t *testing.T) {
		var header metadata.MD
		ctx := metadata.AppendToOutgoingContext(ctx, "x-request-id", "failed-call-0001")
		if _, err := campaigns.CreateCampaign(ctx, &rallyv1.CreateCampaignRequest{Campaign: &rallyv1.Campaign{Title: "x"}}, grpc.Header(&header)); err == nil {
			t.Fatal("an anonymous CreateCampaign was accepted")
		}
		if got := header.Get("x-request-id"); len(got) != 1 || got[0] != "failed-call-0001" {
			t.Fatalf("x-request-id of a refused call = %q", got)
		}
		callLine(t, &logs, "CreateCampaign", "failed-call-0001")
	})

	t.Run("stream", func(t *testing.T) {
		sctx, cancel := context.WithCancel(metadata.AppendToOutgoingContext(ctx, "x-request-id", "watch-0001"))
		defer cancel()
		s, err := events.WatchEvent(sctx, &rallyv1.WatchEventRequest{Name: e.GetName()})
		if err != nil {
			t.Fatal(err)
		}
		header, err := s.Header()
		if err != nil {
			t.Fatal(err)
		}
		if got := header.Get("x-request-id"); len(got) != 1 || got[0] != "watch-0001" {
			t.Fatalf("x-request-id of a stream = %q", got)
		}
		cancel()
		callLine(t, &logs, "WatchEvent", "watch-0001")
	})

	t.Run("REST", func(t *testing.T) {
		base := "http://" + a.HTTPAddr()
		resp := request(t, "GET", base+"/v1/"+e.GetName(), nil, "X-Request-Id", "rest-req-0001")
		if got := resp.Header.Values("X-Request-Id"); resp.StatusCode != http.StatusOK || len(got) != 1 || got[0] != "rest-req-0001" {
			t.Fatalf("GET the event: %s, X-Request-Id %q, want 200 with the client's ID", resp.Status, got)
		}
		if resp.Header.Get("Grpc-Metadata-X-Request-Id") != "" {
			t.Error("the ID also comes back as Grpc-Metadata-X-Request-Id")
		}
		callLine(t, &logs, "GetEvent", "rest-req-0001")

		resp = request(t, "GET", base+"/v1/events/no-such-event", nil)
		id := resp.Header.Get("X-Request-Id")
		if resp.StatusCode != http.StatusNotFound || !generatedID.MatchString(id) {
			t.Fatalf("GET a missing event: %s, X-Request-Id %q, want 404 with a generated ID", resp.Status, id)
		}
		callLine(t, &logs, "GetEvent", id)

		// A browser page may send the header, and read it back.
		resp = request(t, "OPTIONS", base+"/v1/campaigns", nil, "Origin", "https://app.example.org",
			"Access-Control-Request-Method", "GET", "Access-Control-Request-Headers", "x-request-id")
		if !strings.Contains(resp.Header.Get("Access-Control-Allow-Headers"), "X-Request-Id") {
			t.Errorf("preflight allows %q, not X-Request-Id", resp.Header.Get("Access-Control-Allow-Headers"))
		}
		resp = request(t, "GET", base+"/v1/campaigns", nil, "Origin", "https://app.example.org")
		if !strings.Contains(resp.Header.Get("Access-Control-Expose-Headers"), "X-Request-Id") {
			t.Errorf("CORS exposes %q, not X-Request-Id", resp.Header.Get("Access-Control-Expose-Headers"))
		}
	})
}
