package e2e_test

import (
	"net/http"
	"strconv"
	"strings"
	"testing"

	goredis "github.com/redis/go-redis/v9"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	rallyv1 "github.com/rallyhq/rally/gen/go/rally/v1"
	"github.com/rallyhq/rally/internal/auth"
	"github.com/rallyhq/rally/internal/redistest"
)

// authBurst is the shipped budget of failed authentications per address
// (ratelimit.DefaultRules: auth=1/m,burst=10); a test that runs for a few seconds may see
// one more refill.
const authBurst = 10

// TestAbuseTokenGuessing replays the guesser of issue 14: 150 made-up tokens (RSVP tokens
// over REST, organiser and admin tokens over gRPC) from one address. Before, each got 401
// and each RSVP token a rate-limit key of its own. Now the address gets its budget of
// failed authentications and then 429, further guesses cost Redis nothing, no key is
// created per token, and callers without a token from that address, and everyone from
// other addresses, carry on.
func TestAbuseTokenGuessing(t *testing.T) {
	for _, backend := range []string{"memory", "redis"} {
		t.Run(backend, func(t *testing.T) {
			t.Parallel()
			var rdb *goredis.Client
			url := ""
			if backend == "redis" {
				srv := redistest.Start(t)
				url, rdb = srv.URL(), srv.Client()
			}
			a := startDefaults(t, url)
			honest := grpcFrom(t, a, honestIP)
			w := newAbuseWorld(t, honest)
			attacker := grpcFrom(t, a, attackerIP)
			web := httpFrom(t, attackerIP)
			events := rallyv1.NewEventServiceClient(attacker)
			rsvps := rallyv1.NewRsvpServiceClient(attacker)
			keysBefore := rateLimitKeys(t, rdb)

			// guess makes one guess, alternating the kinds of token and the ports, and
			// returns the gRPC code it got (over REST, the code its HTTP status stands for).
			guess := func(i int) codes.Code {
				switch i % 3 {
				case 0:
					req, _ := http.NewRequest("GET", "http://"+a.HTTPAddr()+"/v1/"+w.event, nil)
					req.Header.Set("Authorization", "Bearer "+auth.NewToken(auth.RSVPPrefix))
					resp, err := web.Do(req)
					if err != nil {
						t.Fatal(err)
					}
					resp.Body.Close()
					if resp.StatusCode == http.StatusTooManyRequests {
						if s, err := strconv.Atoi(resp.Header.Get("Retry-After")); err != nil || s < 1 || s > 60 {
							t.Errorf("429 with Retry-After %q, want the seconds to the next refill (at most 60)", resp.Header.Get("Retry-After"))
						}
					}
					return httpCode(resp.StatusCode)
				case 1:
					_, err := events.GetEvent(withToken(t.Context(), auth.NewToken(auth.OrganiserPrefix)), &rallyv1.GetEventRequest{Name: w.event})
					return status.Code(err)
				default:
					_, err := rsvps.ListRsvps(withToken(t.Context(), auth.NewToken(auth.AdminPrefix)), &rallyv1.ListRsvpsRequest{Parent: w.event})
					return status.Code(err)
				}
			}
			seen := map[codes.Code]int{}
			for i := range 150 {
				seen[guess(i)]++
			}
			t.Logf("150 guesses: %v", seen)
			if seen[codes.Unauthenticated] > authBurst+1 || unexpected(seen, codes.Unauthenticated, codes.ResourceExhausted) > 0 {
				t.Errorf("150 guesses: %v, want at most %d UNAUTHENTICATED and RESOURCE_EXHAUSTED for the rest", seen, authBurst+1)
			}

			if rdb != nil {
				// Once the address is blocked, a guess is refused before anything asks
				// Redis: 60 more guesses cost no command (a few are the replica's own
				// background work, such as its readiness check, and INFO itself).
				before := commandsProcessed(t, rdb)
				for i := range 60 {
					if code := guess(i); code != codes.ResourceExhausted && code != codes.Unavailable {
						t.Errorf("guess %d after the budget: %v, want RESOURCE_EXHAUSTED", i, code)
					}
				}
				n := commandsProcessed(t, rdb) - before
				t.Logf("60 blocked guesses: %d Redis commands", n)
				if n > 10 {
					t.Errorf("60 blocked guesses cost Redis %d commands", n)
				}
				// One budget per rule for the address, however many tokens it made up.
				added := len(rateLimitKeys(t, rdb)) - len(keysBefore)
				t.Logf("rate-limit keys added: %d", added)
				if added > 3 {
					t.Errorf("210 guesses added %d rate-limit keys, want at most 3 (auth, read, write of one address)", added)
				}
			}

			// Reading without a token from the guesser's address carries on: someone else
			// behind the same NAT is not locked out of public pages.
			if _, err := events.GetEvent(t.Context(), &rallyv1.GetEventRequest{Name: w.event}); err != nil {
				t.Errorf("an anonymous read from the guesser's address: %v", err)
			}
			// Another address is not affected, with or without a token.
			org := newOrganiser(t, honest, "alma")
			if _, err := rallyv1.NewEventServiceClient(honest).GetEvent(withToken(t.Context(), org), &rallyv1.GetEventRequest{Name: w.event}); err != nil {
				t.Errorf("an organiser at another address: %v", err)
			}
			if code := status.Code(func() error {
				_, err := rallyv1.NewEventServiceClient(honest).GetEvent(withToken(t.Context(), auth.NewToken(auth.RSVPPrefix)), &rallyv1.GetEventRequest{Name: w.event})
				return err
			}()); code != codes.Unauthenticated {
				t.Errorf("a wrong token at another address: %v, want UNAUTHENTICATED (its own budget)", code)
			}
		})
	}
}

// rateLimitKeys lists the rate limiter's keys in Redis; none on the memory store.
func rateLimitKeys(t *testing.T, rdb *goredis.Client) []string {
	t.Helper()
	if rdb == nil {
		return nil
	}
	keys, err := rdb.Keys(t.Context(), "rally:rl:*").Result()
	if err != nil {
		t.Fatal(err)
	}
	return keys
}

// commandsProcessed is Redis's count of the commands it has run.
func commandsProcessed(t *testing.T, rdb *goredis.Client) int {
	t.Helper()
	info, err := rdb.Info(t.Context(), "stats").Result()
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range strings.Split(info, "\n") {
		if v, ok := strings.CutPrefix(strings.TrimSpace(line), "total_commands_processed:"); ok {
			n, err := strconv.Atoi(v)
			if err != nil {
				t.Fatal(err)
			}
			return n
		}
	}
	t.Fatalf("INFO stats has no total_commands_processed:\n%s", info)
	return 0
}
