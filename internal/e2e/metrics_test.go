package e2e_test

import (
	"context"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"

	rallyv1 "github.com/rallyhq/rally/gen/go/rally/v1"
)

// TestMetrics makes RSVPs, claims and watch streams and checks that /metrics counts them,
// by method, code, kind and outcome, with nothing about any person in a label.
func TestMetrics(t *testing.T) {
	for name, redisURL := range backends(t) {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			a := startApp(t, redisURL(t))
			conn, err := grpc.NewClient(a.GRPCAddr(), grpc.WithTransportCredentials(insecure.NewCredentials()))
			if err != nil {
				t.Fatal(err)
			}
			defer conn.Close()
			ctx := t.Context()
			admin := withToken(ctx, token)
			campaigns, events := rallyv1.NewCampaignServiceClient(conn), rallyv1.NewEventServiceClient(conn)
			rsvps, tasks := rallyv1.NewRsvpServiceClient(conn), rallyv1.NewTaskServiceClient(conn)

			const (
				pseudonym  = "Aigerim-Metrics-Pseudonym"
				email      = "aigerim.metrics@example.org"
				claimant   = "Volunteer-Metrics-Pseudonym"
				requestKey = "metrics-request-key-0001"
			)
			c, err := campaigns.CreateCampaign(admin, &rallyv1.CreateCampaignRequest{CampaignId: "metrics-campaign", Campaign: &rallyv1.Campaign{Title: "Solidarity"}})
			if err != nil {
				t.Fatal(err)
			}
			ev := eventIn(c.GetName())
			ev.Capacity = 1
			e, err := events.CreateEvent(admin, &rallyv1.CreateEventRequest{EventId: "metrics-event", Event: ev})
			if err != nil {
				t.Fatal(err)
			}

			// Two watch streams, kept open while scraping.
			wctx, closeWatches := context.WithCancel(ctx)
			defer closeWatches()
			eventWatch, err := events.WatchEvent(wctx, &rallyv1.WatchEventRequest{Name: e.GetName()})
			if err != nil {
				t.Fatal(err)
			}
			recv(t, eventWatch, 5*time.Second) // the snapshot: the stream is open
			campaignWatch, err := events.WatchCampaign(wctx, &rallyv1.WatchCampaignRequest{Name: c.GetName()})
			if err != nil {
				t.Fatal(err)
			}
			recv(t, campaignWatch, 5*time.Second)

			// Going, waitlisted (capacity 1), replayed, refused as too many guests.
			rsvp := &rallyv1.Rsvp{DisplayName: pseudonym, Contact: email}
			going, err := rsvps.CreateRsvp(ctx, &rallyv1.CreateRsvpRequest{Parent: e.GetName(), Rsvp: rsvp, RequestId: requestKey})
			if err != nil {
				t.Fatal(err)
			}
			waitlisted, err := rsvps.CreateRsvp(ctx, &rallyv1.CreateRsvpRequest{Parent: e.GetName(), Rsvp: rsvp})
			if err != nil {
				t.Fatal(err)
			}
			if _, err := rsvps.CreateRsvp(ctx, &rallyv1.CreateRsvpRequest{Parent: e.GetName(), Rsvp: rsvp, RequestId: requestKey}); err != nil {
				t.Fatal(err)
			}
			if _, err := rsvps.CreateRsvp(ctx, &rallyv1.CreateRsvpRequest{Parent: e.GetName(), Rsvp: &rallyv1.Rsvp{DisplayName: pseudonym, Guests: 5}}); err == nil {
				t.Fatal("an RSVP with 5 guests for 1 place was accepted")
			}
			if _, err := rsvps.CancelRsvp(withToken(ctx, going.GetManageToken()), &rallyv1.CancelRsvpRequest{Name: going.GetRsvp().GetName()}); err != nil {
				t.Fatal(err)
			}

			tk, err := tasks.CreateTask(admin, &rallyv1.CreateTaskRequest{Task: taskIn(c.GetName())})
			if err != nil {
				t.Fatal(err)
			}
			claim, err := tasks.ClaimTask(ctx, &rallyv1.ClaimTaskRequest{Name: tk.GetName(), DisplayName: claimant})
			if err != nil {
				t.Fatal(err)
			}
			// Refused before the handler: counted by code, not by outcome.
			if _, err := campaigns.CreateCampaign(ctx, &rallyv1.CreateCampaignRequest{Campaign: &rallyv1.Campaign{Title: "x"}}); err == nil {
				t.Fatal("an anonymous CreateCampaign was accepted")
			}

			m := scrape(t, a)
			for _, w := range []struct {
				name   string
				labels map[string]string
				want   float64
			}{
				{"rally_watch_streams", map[string]string{"kind": "event"}, 1},
				{"rally_watch_streams", map[string]string{"kind": "campaign"}, 1},
				{"rally_watch_slow_drops_total", map[string]string{"kind": "event"}, 0},
				{"rally_rsvps_total", map[string]string{"outcome": "going"}, 1},
				{"rally_rsvps_total", map[string]string{"outcome": "waitlisted"}, 1},
				{"rally_rsvps_total", map[string]string{"outcome": "replayed"}, 1},
				{"rally_rsvps_total", map[string]string{"outcome": "too_large"}, 1},
				{"rally_rsvps_total", map[string]string{"outcome": "cancelled"}, 1},
				{"rally_rsvps_total", map[string]string{"outcome": "no_room"}, 0},
				{"rally_claims_total", map[string]string{"outcome": "claimed"}, 1},
				{"rally_claims_total", map[string]string{"outcome": "full"}, 0},
				{"grpc_server_handled_total", map[string]string{"grpc_service": "rally.v1.RsvpService", "grpc_method": "CreateRsvp", "grpc_code": "OK"}, 3},
				{"grpc_server_handled_total", map[string]string{"grpc_service": "rally.v1.RsvpService", "grpc_method": "CreateRsvp", "grpc_code": "FailedPrecondition"}, 1},
				{"grpc_server_handled_total", map[string]string{"grpc_method": "CreateCampaign", "grpc_code": "Unauthenticated"}, 1},
				{"grpc_server_handled_total", map[string]string{"grpc_method": "ClaimTask", "grpc_code": "OK"}, 1},
				{"grpc_server_started_total", map[string]string{"grpc_type": "server_stream", "grpc_method": "WatchEvent"}, 1},
				{"grpc_server_handling_seconds", map[string]string{"grpc_type": "unary", "grpc_method": "CreateRsvp"}, 4},
			} {
				if got, ok := value(m, w.name, w.labels); !ok || got != w.want {
					t.Errorf("%s%v = %v (found: %v), want %v", w.name, w.labels, got, ok, w.want)
				}
			}
			for _, name := range []string{"go_goroutines", "process_resident_memory_bytes"} {
				if m[name] == nil {
					t.Errorf("no %s: the Go and process collectors are missing", name)
				}
			}
			if name == "redis" {
				hits, _ := value(m, "rally_redis_pool_hits_total", nil)
				misses, _ := value(m, "rally_redis_pool_misses_total", nil)
				conns, ok := value(m, "rally_redis_pool_connections", nil)
				if hits+misses == 0 || !ok || conns == 0 {
					t.Errorf("Redis pool: %v hits, %v misses, %v connections; want some of each", hits, misses, conns)
				}
			} else if m["rally_redis_pool_hits_total"] != nil {
				t.Error("Redis pool metrics without Redis")
			}

			// Nothing in a label says who did what, or which resource they did it to.
			secrets := []string{"rly_", pseudonym, email, claimant, requestKey, "@", "/",
				going.GetRsvp().GetName(), waitlisted.GetRsvp().GetName(), claim.GetClaim().GetName(),
				"metrics-event", "metrics-campaign", strings.TrimPrefix(tk.GetName(), "tasks/"), "127.0.0.1"}
			for _, f := range m {
				for _, s := range f.GetMetric() {
					for _, l := range s.GetLabel() {
						for _, secret := range secrets {
							if strings.Contains(l.GetValue(), secret) {
								t.Errorf("%s{%s=%q} contains %q", f.GetName(), l.GetName(), l.GetValue(), secret)
							}
						}
					}
				}
			}

			// Closed streams leave the gauge.
			closeWatches()
			deadline := time.Now().Add(5 * time.Second)
			for {
				ev, _ := value(scrape(t, a), "rally_watch_streams", map[string]string{"kind": "event"})
				camp, _ := value(scrape(t, a), "rally_watch_streams", map[string]string{"kind": "campaign"})
				if ev == 0 && camp == 0 {
					break
				}
				if time.Now().After(deadline) {
					t.Fatalf("rally_watch_streams: %v event, %v campaign after the streams closed, want 0", ev, camp)
				}
				time.Sleep(20 * time.Millisecond)
			}
		})
	}
}

// TestMetricsSlowWatcher: a watcher that stops reading is dropped by the broker (and
// resumes); rally_watch_slow_drops_total counts the drop when it happens, although the
// stream's goroutine, stuck writing to a client that does not read, cannot notice it.
func TestMetricsSlowWatcher(t *testing.T) {
	for name, redisURL := range backends(t) {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			a := startApp(t, redisURL(t))
			r := dialReplica(t, a)
			e := exactEvent(t, r)
			ctx := t.Context()
			if _, err := r.events.WatchEvent(ctx, &rallyv1.WatchEventRequest{Name: e.GetName()}); err != nil {
				t.Fatal(err) // never read from
			}
			text := strings.Repeat("x", 900) // large messages fill the stream's flow-control window quickly
			for i := 1; i <= 3000; i++ {
				if _, err := r.events.PostAnnouncement(withToken(ctx, token), &rallyv1.PostAnnouncementRequest{Parent: e.GetName(),
					Announcement: &rallyv1.Announcement{Text: text}}); err != nil {
					t.Fatal(err)
				}
				if i%50 != 0 {
					continue
				}
				if n, _ := value(scrape(t, a), "rally_watch_slow_drops_total", map[string]string{"kind": "event"}); n > 0 {
					return
				}
			}
			t.Fatal(`rally_watch_slow_drops_total{kind="event"} is still 0 after 3000 changes to a watcher that reads none`)
		})
	}
}

// TestMetricsNotPublic: the public HTTP port does not serve the metrics, which show
// activity that attendance visibility may hide; only --metrics-addr does.
func TestMetricsNotPublic(t *testing.T) {
	t.Parallel()
	a := startApp(t, "")
	resp, err := http.Get("http://" + a.HTTPAddr() + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	body, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(string(body), "rally_rsvps_total") || strings.Contains(string(body), "grpc_server_handled_total") {
		t.Errorf("the public port serves the metrics (HTTP %d)", resp.StatusCode)
	}
	if a.MetricsAddr() == "" || a.MetricsAddr() == a.HTTPAddr() {
		t.Errorf("metrics listen on %q, want their own address", a.MetricsAddr())
	}
}
