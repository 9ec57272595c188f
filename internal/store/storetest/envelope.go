package storetest

import (
	"errors"
	"testing"
	"time"

	"google.golang.org/protobuf/proto"

	rallyv1 "github.com/rallyhq/rally/gen/go/rally/v1"
	"github.com/rallyhq/rally/internal/store"
)

// testEnvelope builds an envelope for resource; the store keeps it as opaque bytes, so
// its contents need not open.
func testEnvelope(resource string, b byte) *rallyv1.Envelope {
	return &rallyv1.Envelope{
		Version: 1, Resource: resource,
		Recipients: []*rallyv1.SealedKey{{Key: "k1", Enc: make([]byte, 32), SealedKey: make([]byte, 48)}},
		Nonce:      make([]byte, 12), Ciphertext: []byte{b, b, b, b, b, b, b, b, b, b, b, b, b, b, b, b, b},
	}
}

// sealedRSVP is NewRSVP for one person whose personal fields are in an envelope only.
func sealedRSVP(event, id string) store.NewRSVP {
	n := NewRSVP(event, id, 1)
	n.Rsvp.DisplayName, n.Rsvp.Contact = "", ""
	n.Rsvp.Envelope = testEnvelope(n.Rsvp.GetName(), 1)
	return n
}

// testRSVPEnvelope: an RSVP's envelope is kept as given through create, get, list and
// check-in; an update replaces it or, empty, removes it; guests changes leave it alone.
func testRSVPEnvelope(t *testing.T, s store.Store) {
	ctx := t.Context()
	createEvents(t, s, Event("e", base, WithCapacity(10)))
	n := sealedRSVP("e", "a")
	if _, err := s.CreateRSVP(ctx, "events/e", n, rsvpNow); err != nil {
		t.Fatal(err)
	}
	wantEnvelope := func(step string, want *rallyv1.Envelope) {
		t.Helper()
		r, _, err := s.GetRSVP(ctx, n.Rsvp.GetName())
		if err != nil {
			t.Fatal(err)
		}
		if !proto.Equal(r.GetEnvelope(), want) || r.GetDisplayName() != "" || r.GetContact() != "" {
			t.Errorf("%s: GetRSVP = %v, want envelope %v and no plain fields", step, r, want)
		}
		page, err := s.ListRSVPs(ctx, store.RSVPQuery{Event: "events/e", PageSize: 10})
		if err != nil || len(page.Items) != 1 || !proto.Equal(page.Items[0].GetEnvelope(), want) {
			t.Errorf("%s: ListRSVPs = %v, %v; want the envelope", step, page.Items, err)
		}
	}
	wantEnvelope("created", n.Rsvp.GetEnvelope())

	guests := int32(2)
	if _, err := s.UpdateRSVP(ctx, n.Rsvp.GetName(), store.RSVPChange{Guests: &guests}, rsvpNow); err != nil {
		t.Fatal(err)
	}
	wantEnvelope("guests changed", n.Rsvp.GetEnvelope())

	next := testEnvelope(n.Rsvp.GetName(), 2)
	if _, err := s.UpdateRSVP(ctx, n.Rsvp.GetName(), store.RSVPChange{Envelope: next}, rsvpNow); err != nil {
		t.Fatal(err)
	}
	wantEnvelope("replaced", next)
	if r, err := s.CheckInRSVP(ctx, n.Rsvp.GetName(), rsvpNow); err != nil || !proto.Equal(r.GetEnvelope(), next) {
		t.Errorf("CheckInRSVP = %v, %v; want the envelope", r, err)
	}

	none := ""
	if _, err := s.UpdateRSVP(ctx, n.Rsvp.GetName(), store.RSVPChange{Envelope: &rallyv1.Envelope{}, DisplayName: &none}, rsvpNow); err != nil {
		t.Fatal(err)
	}
	wantEnvelope("removed", nil)
}

// testRSVPIDTaken: a client chooses RSVP IDs (to seal for the name), so a create under
// an ID in use with another token is ErrAlreadyExists and changes nothing, while the same
// call sent again (same ID and token) is answered as the first.
func testRSVPIDTaken(t *testing.T, s store.Store) {
	ctx := t.Context()
	createEvents(t, s, Event("e", base, WithCapacity(10)))
	first := mustRSVP(t, s, "e", "a", 1)
	again, err := s.CreateRSVP(ctx, "events/e", NewRSVP("e", "a", 1), rsvpNow)
	if err != nil || again.Replayed || again.Rsvp.GetName() != first.GetName() {
		t.Errorf("the same create again = %v, %v; want the RSVP, not replayed", again, err)
	}
	other := NewRSVP("e", "a", 3)
	other.TokenHash = []byte("another participant's token hash")
	other.Rsvp.DisplayName = "someone else"
	if _, err := s.CreateRSVP(ctx, "events/e", other, rsvpNow); !errors.Is(err, store.ErrAlreadyExists) {
		t.Errorf("create under a taken ID: %v, want ErrAlreadyExists", err)
	}
	r, _, err := s.GetRSVP(ctx, first.GetName())
	if err != nil || r.GetDisplayName() != first.GetDisplayName() || r.GetGuests() != 0 {
		t.Errorf("after the refused create: %v, %v; want the first RSVP unchanged", r, err)
	}
	wantCounts(t, s, "e", 1, 0)
}

// testClaimEnvelopes: a claim's envelope (made with it) and completion envelope (given
// when it is completed) are kept as given, and returned by GetClaim and ListClaims.
func testClaimEnvelopes(t *testing.T, s store.Store) {
	ctx := t.Context()
	createTasks(t, s, Task("x", base.Add(24*time.Hour), WithMaxClaims(2)))
	n := NewClaim("x", "a")
	n.Claim.DisplayName = ""
	n.Claim.Envelope = testEnvelope(n.Claim.GetName(), 3)
	if _, err := s.ClaimTask(ctx, "tasks/x", n, base); err != nil {
		t.Fatal(err)
	}
	done := testEnvelope(n.Claim.GetName(), 4)
	c, err := s.CompleteClaim(ctx, n.Claim.GetName(), store.Completion{Envelope: done}, base.Add(time.Minute))
	if err != nil {
		t.Fatal(err)
	}
	check := func(step string, c *rallyv1.Claim) {
		t.Helper()
		if !proto.Equal(c.GetEnvelope(), n.Claim.GetEnvelope()) || !proto.Equal(c.GetCompletionEnvelope(), done) ||
			c.GetDisplayName() != "" || c.GetNote() != "" || c.GetProofUrl() != "" {
			t.Errorf("%s = %v; want both envelopes and no plain fields", step, c)
		}
	}
	check("CompleteClaim", c)
	got, _, err := s.GetClaim(ctx, n.Claim.GetName(), base.Add(time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	check("GetClaim", got)
	claim(t, s, "x", "b", base)
	page, err := s.ListClaims(ctx, "tasks/x", 10, "", base.Add(time.Hour))
	if err != nil || len(page.Items) != 2 {
		t.Fatalf("ListClaims = %v, %v", page.Items, err)
	}
	check("ListClaims", page.Items[0])
	if page.Items[1].GetCompletionEnvelope() != nil || page.Items[1].GetDisplayName() != "volunteer b" {
		t.Errorf("ListClaims' plain claim = %v", page.Items[1])
	}
}
