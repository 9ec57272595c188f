package e2e_test

import (
	"fmt"
	"net/http"
	"strings"
	"sync"
	"testing"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	rallyv1 "github.com/rallyhq/rally/gen/go/rally/v1"
)

// The shipped budgets these tests rely on (ratelimit.DefaultRules); a test that runs for
// a few seconds may see one more refill of a budget that refills once a minute.
const (
	rsvpBurst  = 5 // rally.v1.RsvpService/CreateRsvp=1/m,burst=5
	claimBurst = 5 // rally.v1.TaskService/ClaimTask=10/h,burst=5
	mintBurst  = 5 // rally.v1.OrganiserService/CreateApiToken=10/h,burst=5
	maxGuests  = 5 // --max-guests
)

// TestAbuseMintedTokens replays the organiser of issue 14 who minted 12 API tokens and
// filled all 60 places of another campaign's event in under a second, each token being a
// fresh CreateRsvp budget. Now minting is itself limited, and every token of an account
// shares the account's budget: the flood takes a few RSVPs, and the next honest RSVP,
// from another address, still gets a place.
func TestAbuseMintedTokens(t *testing.T) {
	for name, redisURL := range backends(t) {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			a := startDefaults(t, redisURL(t))
			honest := grpcFrom(t, a, honestIP)
			w := newAbuseWorld(t, honest)
			attacker := grpcFrom(t, a, attackerIP)
			first := newOrganiser(t, honest, "mallory")

			// Mallory mints tokens with her own: the minting budget stops her.
			orgs := rallyv1.NewOrganiserServiceClient(attacker)
			tokens := []string{first}
			minted := map[codes.Code]int{}
			for range 12 {
				tok, err := orgs.CreateApiToken(withToken(t.Context(), first), &rallyv1.CreateApiTokenRequest{Parent: "organisers/mallory", ApiToken: &rallyv1.ApiToken{DisplayName: "another"}})
				minted[status.Code(err)]++
				if err == nil {
					tokens = append(tokens, tok.GetSecret())
				}
			}
			if minted[codes.OK] > mintBurst || unexpected(minted, codes.OK, codes.ResourceExhausted) > 0 {
				t.Errorf("12 tokens minted by the organiser: %v, want at most %d and RESOURCE_EXHAUSTED after", minted, mintBurst)
			}
			// The attack as reported, with 12 tokens: the admin (whom no limit counts)
			// mints the rest.
			for len(tokens) < 12 {
				tokens = append(tokens, mintToken(t, rallyv1.NewOrganiserServiceClient(honest), withToken(t.Context(), token), "organisers/mallory"))
			}

			// Every token floods CreateRsvp at once, each RSVP with as many guests as allowed.
			rsvps := rallyv1.NewRsvpServiceClient(attacker)
			var mu sync.Mutex
			seen := map[codes.Code]int{}
			places := 0
			var wg sync.WaitGroup
			for _, tok := range tokens {
				for range 10 {
					wg.Add(1)
					go func() {
						defer wg.Done()
						r, err := rsvps.CreateRsvp(withToken(t.Context(), tok), &rallyv1.CreateRsvpRequest{Parent: w.event, Rsvp: &rallyv1.Rsvp{Guests: maxGuests}})
						mu.Lock()
						defer mu.Unlock()
						seen[status.Code(err)]++
						if err == nil {
							places += 1 + int(r.GetRsvp().GetGuests())
						}
					}()
				}
			}
			wg.Wait()
			t.Logf("120 RSVPs from 12 tokens of one organiser: %v, %d places taken", seen, places)
			if seen[codes.OK] > rsvpBurst+1 || unexpected(seen, codes.OK, codes.ResourceExhausted) > 0 {
				t.Errorf("120 RSVPs from 12 tokens of one organiser: %v, want at most %d and RESOURCE_EXHAUSTED for the rest", seen, rsvpBurst+1)
			}

			// The next honest RSVP, from another address, still gets a place.
			r := untilAnswered(t, func() (*rallyv1.CreateRsvpResponse, error) {
				return rallyv1.NewRsvpServiceClient(honest).CreateRsvp(t.Context(), &rallyv1.CreateRsvpRequest{Parent: w.event, Rsvp: &rallyv1.Rsvp{}})
			})
			if got := r.GetRsvp().GetState(); got != rallyv1.RsvpState_RSVP_STATE_GOING {
				t.Errorf("the honest RSVP after the flood is %v, want GOING", got)
			}
		})
	}
}

// TestAbuseClaimHoarding replays the anonymous client of issue 14 who took 20 to 30 of a
// task's 30 places within seconds, and held them for the claim TTL. Now ClaimTask has its
// own budget per address: the hoarder gets a handful, over gRPC and REST together, and a
// volunteer at another address still gets a place.
func TestAbuseClaimHoarding(t *testing.T) {
	for name, redisURL := range backends(t) {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			a := startDefaults(t, redisURL(t))
			honest := grpcFrom(t, a, honestIP)
			w := newAbuseWorld(t, honest)
			tasks := rallyv1.NewTaskServiceClient(grpcFrom(t, a, attackerIP))
			web := httpFrom(t, attackerIP)

			var mu sync.Mutex
			seen := map[codes.Code]int{}
			var wg sync.WaitGroup
			for i := range 60 {
				wg.Add(1)
				go func() {
					defer wg.Done()
					var code codes.Code
					if i%2 == 0 {
						_, err := tasks.ClaimTask(t.Context(), &rallyv1.ClaimTaskRequest{Name: w.task, DisplayName: fmt.Sprint("hoarder ", i)})
						code = status.Code(err)
					} else {
						resp, err := web.Post("http://"+a.HTTPAddr()+"/v1/"+w.task+"/claims", "application/json", strings.NewReader(`{}`))
						if err != nil {
							t.Error(err)
							return
						}
						resp.Body.Close()
						code = httpCode(resp.StatusCode)
						if resp.StatusCode == http.StatusTooManyRequests && resp.Header.Get("Retry-After") == "" {
							t.Error("429 without Retry-After")
						}
					}
					mu.Lock()
					seen[code]++
					mu.Unlock()
				}()
			}
			wg.Wait()
			t.Logf("60 claims from one address: %v", seen)
			if seen[codes.OK] > claimBurst || unexpected(seen, codes.OK, codes.ResourceExhausted) > 0 {
				t.Errorf("60 claims from one address: %v, want at most %d and RESOURCE_EXHAUSTED for the rest", seen, claimBurst)
			}
			task := untilAnswered(t, func() (*rallyv1.Task, error) {
				return rallyv1.NewTaskServiceClient(honest).GetTask(t.Context(), &rallyv1.GetTaskRequest{Name: w.task})
			})
			if held := task.GetProgress().GetClaimed(); held > claimBurst {
				t.Errorf("the hoarder holds %d of the task's 30 places, want at most %d", held, claimBurst)
			}
			untilAnswered(t, func() (*rallyv1.ClaimTaskResponse, error) { // a volunteer at another address
				return rallyv1.NewTaskServiceClient(honest).ClaimTask(t.Context(), &rallyv1.ClaimTaskRequest{Name: w.task})
			})
		})
	}
}
