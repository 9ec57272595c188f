package server_test

import (
	"bytes"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	rallyv1 "github.com/rallyhq/rally/gen/go/rally/v1"
	"github.com/rallyhq/rally/internal/secret"
	"github.com/rallyhq/rally/internal/store"
)

func testKeyring(t *testing.T, secrets ...string) *secret.Keyring {
	t.Helper()
	var bs [][]byte
	for _, s := range secrets {
		bs = append(bs, bytes.Repeat([]byte(s), secret.MinBytes))
	}
	k, err := secret.New(bs...)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

// TestReplayAcrossRotation retries idempotent creates on replicas that share a store:
// during a rotation (new secret first, old one kept) the retry gets the first token
// back; once the old secret is dropped it gets a clear FAILED_PRECONDITION naming
// request_id, never INTERNAL.
func TestReplayAcrossRotation(t *testing.T) {
	for name, open := range stores {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			st := open(t, newClock().Now)
			shared := func(*testing.T, func() time.Time) store.Store { return st }
			before := newHarnessOn(t, shared, testKeyring(t, "old"))
			during := newHarnessOn(t, shared, testKeyring(t, "new", "old"))
			after := newHarnessOn(t, shared, testKeyring(t, "new"))

			_, asAlice := before.organiser(t, "Alice")
			e := before.rsvpEvent(t, asAlice, 10, rallyv1.AttendanceVisibility_ATTENDANCE_VISIBILITY_HIDDEN)
			c, err := before.campaigns.CreateCampaign(asAlice, &rallyv1.CreateCampaignRequest{Campaign: validCampaign()})
			if err != nil {
				t.Fatal(err)
			}
			tk, err := before.tasks().CreateTask(asAlice, &rallyv1.CreateTaskRequest{Task: validTask(c.GetName(), before.clock.Now())})
			if err != nil {
				t.Fatal(err)
			}

			const id = "retry-0123456789abcdef"
			createRSVP := func(h *harness, id string) (string, error) {
				r, err := h.rsvps().CreateRsvp(h.ctx, &rallyv1.CreateRsvpRequest{Parent: e.GetName(), RequestId: id, Rsvp: &rallyv1.Rsvp{DisplayName: "Dana"}})
				return r.GetManageToken(), err
			}
			claim := func(h *harness, id string) (string, error) {
				r, err := h.tasks().ClaimTask(h.ctx, &rallyv1.ClaimTaskRequest{Name: tk.GetName(), RequestId: id, DisplayName: "Sky"})
				return r.GetClaimToken(), err
			}
			for what, create := range map[string]func(*harness, string) (string, error){"CreateRsvp": createRSVP, "ClaimTask": claim} {
				first, err := create(before, id)
				if err != nil {
					t.Fatalf("%s: %v", what, err)
				}
				for _, h := range []*harness{before, during} {
					again, err := create(h, id)
					if err != nil || again != first {
						t.Fatalf("%s retried: %q, %v; want the first token", what, again, err)
					}
				}
				_, err = create(after, id)
				wantCode(t, err, codes.FailedPrecondition, "")
				if msg := status.Convert(err).Message(); !strings.Contains(msg, "request_id") || !strings.Contains(msg, "new request_id") {
					t.Errorf("%s retried after the secret was dropped: %q does not say to retry with a new request_id", what, msg)
				}
				// A new request_id works.
				if tok, err := create(after, id+"-2"); err != nil || tok == "" || tok == first {
					t.Fatalf("%s with a new request_id: %q, %v", what, tok, err)
				}
			}
		})
	}
}
