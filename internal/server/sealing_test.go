package server_test

import (
	"context"
	"crypto/ecdh"
	"crypto/hpke"
	"crypto/rand"
	"strings"
	"testing"

	"google.golang.org/grpc/codes"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/fieldmaskpb"

	rallyv1 "github.com/rallyhq/rally/gen/go/rally/v1"
	"github.com/rallyhq/rally/internal/envelope"
)

// organiserKey is an organiser's registered X25519 key with its private half.
type organiserKey struct {
	id   string // the key ID, as in envelopes
	priv hpke.PrivateKey
}

func (h *harness) registerKey(t *testing.T, asOrg context.Context) organiserKey {
	t.Helper()
	x, err := ecdh.X25519().GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	k, err := rallyv1.NewOrganiserServiceClient(h.conn).CreateOrganiserKey(asOrg, &rallyv1.CreateOrganiserKeyRequest{
		Parent:       "organisers/me",
		OrganiserKey: &rallyv1.OrganiserKey{Algorithm: rallyv1.KeyAlgorithm_KEY_ALGORITHM_HPKE_X25519, PublicKey: x.PublicKey().Bytes()},
	})
	if err != nil {
		t.Fatal(err)
	}
	priv, err := hpke.DHKEM(ecdh.X25519()).NewPrivateKey(x.Bytes())
	if err != nil {
		t.Fatal(err)
	}
	return organiserKey{id: k.GetName()[strings.LastIndex(k.GetName(), "/")+1:], priv: priv}
}

// open opens a record's envelope with the key, failing the test if it does not open.
func (k organiserKey) open(t *testing.T, env *rallyv1.Envelope, resource string) *rallyv1.SealedFields {
	t.Helper()
	if env == nil {
		t.Fatalf("%s has no envelope", resource)
	}
	f, err := envelope.Open(env, k.id, k.priv, resource)
	if err != nil {
		t.Fatalf("opening %s: %v", resource, err)
	}
	return f
}

// TestSealedRSVPs: with a key on the campaign, plain personal fields are sealed on
// receipt, and a client's envelope is kept as sent; only organisers get envelopes, and
// their key opens them. Without keys the fields are stored in clear, and the response
// says so.
func TestSealedRSVPs(t *testing.T) {
	h := newHarness(t)
	_, asAlice := h.organiser(t, "Alice")
	e := h.rsvpEvent(t, asAlice, 10, rallyv1.AttendanceVisibility_ATTENDANCE_VISIBILITY_EXACT)

	// No key yet: in clear, and said.
	clear := h.rsvp(t, e.GetName(), 0)
	if !clear.GetStoredInClear() || clear.GetRsvp().GetEnvelope() != nil {
		t.Fatalf("RSVP to an event without keys: %v, want stored_in_clear", clear)
	}
	anon, err := h.rsvps().CreateRsvp(h.ctx, &rallyv1.CreateRsvpRequest{Parent: e.GetName(), Rsvp: &rallyv1.Rsvp{}})
	if err != nil || anon.GetStoredInClear() {
		t.Fatalf("RSVP without personal fields: %v, %v; nothing is stored in clear", anon, err)
	}

	key := h.registerKey(t, asAlice)
	pub, err := h.events.GetEvent(h.ctx, &rallyv1.GetEventRequest{Name: e.GetName()})
	if err != nil || len(pub.GetRecipientKeys()) != 1 || pub.GetRecipientKeys()[0].GetKey() != key.id || pub.GetOwner() != "" {
		t.Fatalf("public GetEvent: recipient keys %v, owner %q, %v; want the key, no owner", pub.GetRecipientKeys(), pub.GetOwner(), err)
	}

	// Plain fields are sealed by the server.
	plain := h.rsvp(t, e.GetName(), 0)
	if plain.GetStoredInClear() || plain.GetRsvp().GetEnvelope() != nil || plain.GetRsvp().GetDisplayName() != "" {
		t.Fatalf("participant's answer: %v; want no envelope, no name, not in clear", plain)
	}

	// A client seals itself, for the ID it chooses.
	id := "abcdefghij0123456789klmnop"
	name := e.GetName() + "/rsvps/" + id
	mine := &rallyv1.SealedFields{DisplayName: "Robin", Contact: "signal:robin.01"}
	env, err := envelope.Seal(mine, envelope.FromRecipientKeys(pub.GetRecipientKeys()), name)
	if err != nil {
		t.Fatal(err)
	}
	sealedByClient, err := h.rsvps().CreateRsvp(h.ctx, &rallyv1.CreateRsvpRequest{Parent: e.GetName(), RsvpId: id, Rsvp: &rallyv1.Rsvp{Envelope: env, Guests: 1}})
	if err != nil || sealedByClient.GetRsvp().GetName() != name || sealedByClient.GetStoredInClear() {
		t.Fatalf("CreateRsvp with an envelope: %v, %v", sealedByClient, err)
	}
	_, err = h.rsvps().CreateRsvp(h.ctx, &rallyv1.CreateRsvpRequest{Parent: e.GetName(), RsvpId: id, Rsvp: &rallyv1.Rsvp{}})
	wantCode(t, err, codes.AlreadyExists, "")

	// The organiser lists envelopes, which open to what was sent; nothing is plain.
	list, err := h.rsvps().ListRsvps(asAlice, &rallyv1.ListRsvpsRequest{Parent: e.GetName()})
	if err != nil || len(list.GetRsvps()) != 4 {
		t.Fatalf("ListRsvps: %v, %v", list, err)
	}
	byName := map[string]*rallyv1.Rsvp{}
	for _, r := range list.GetRsvps() {
		byName[r.GetName()] = r
	}
	if r := byName[clear.GetRsvp().GetName()]; r.GetContact() != "signal:dana" || r.GetEnvelope() != nil {
		t.Errorf("the RSVP made before the key: %v, want its plain contact", r)
	}
	r := byName[plain.GetRsvp().GetName()]
	if got := key.open(t, r.GetEnvelope(), r.GetName()); got.GetDisplayName() != "Dana" || got.GetContact() != "signal:dana" || r.GetDisplayName() != "" || r.GetContact() != "" {
		t.Errorf("server-sealed RSVP %v opens to %v", r, got)
	}
	if got := key.open(t, byName[name].GetEnvelope(), name); !proto.Equal(got, mine) || !proto.Equal(byName[name].GetEnvelope(), env) {
		t.Errorf("client-sealed RSVP opens to %v; stored envelope changed: %v", got, !proto.Equal(byName[name].GetEnvelope(), env))
	}

	// The holder sees no envelope (it cannot open it, and need not hold it).
	held, err := h.rsvps().GetRsvp(bearer(h.ctx, sealedByClient.GetManageToken()), &rallyv1.GetRsvpRequest{Name: name})
	if err != nil || held.GetEnvelope() != nil {
		t.Errorf("holder's GetRsvp: %v, %v; want no envelope", held, err)
	}

	// Updates: plain fields of a sealed RSVP change together, and are sealed again.
	asHolder := bearer(h.ctx, plain.GetManageToken())
	_, err = h.rsvps().UpdateRsvp(asHolder, &rallyv1.UpdateRsvpRequest{
		Rsvp: &rallyv1.Rsvp{Name: plain.GetRsvp().GetName(), Contact: "signal:new"}, UpdateMask: &fieldmaskpb.FieldMask{Paths: []string{"contact"}}})
	wantCode(t, err, codes.InvalidArgument, "update_mask")
	if _, err := h.rsvps().UpdateRsvp(asHolder, &rallyv1.UpdateRsvpRequest{
		Rsvp: &rallyv1.Rsvp{Name: plain.GetRsvp().GetName(), DisplayName: "Dana", Contact: "signal:new"}}); err != nil {
		t.Fatal(err)
	}
	got, err := h.rsvps().GetRsvp(asAlice, &rallyv1.GetRsvpRequest{Name: plain.GetRsvp().GetName()})
	if err != nil {
		t.Fatal(err)
	}
	if f := key.open(t, got.GetEnvelope(), got.GetName()); f.GetContact() != "signal:new" || got.GetContact() != "" {
		t.Errorf("after the update: %v opens to %v", got, f)
	}
	// The RSVP made in clear is sealed when its holder changes it now that there is a key.
	if _, err := h.rsvps().UpdateRsvp(bearer(h.ctx, clear.GetManageToken()), &rallyv1.UpdateRsvpRequest{
		Rsvp: &rallyv1.Rsvp{Name: clear.GetRsvp().GetName(), Contact: "signal:dana2"}, UpdateMask: &fieldmaskpb.FieldMask{Paths: []string{"contact"}}}); err != nil {
		t.Fatal(err)
	}
	got, err = h.rsvps().GetRsvp(asAlice, &rallyv1.GetRsvpRequest{Name: clear.GetRsvp().GetName()})
	if err != nil {
		t.Fatal(err)
	}
	if f := key.open(t, got.GetEnvelope(), got.GetName()); f.GetDisplayName() != "Dana" || f.GetContact() != "signal:dana2" || got.GetDisplayName() != "" {
		t.Errorf("the RSVP made in clear, after an update: %v opens to %v", got, f)
	}
}

// TestSealedRSVPBadInput: what the server can check of an envelope, it checks, naming the
// field; and a refused RSVP stores nothing.
func TestSealedRSVPBadInput(t *testing.T) {
	h := newHarness(t)
	_, asAlice := h.organiser(t, "Alice")
	_, asBob := h.organiser(t, "Bob")
	e := h.rsvpEvent(t, asAlice, 10, rallyv1.AttendanceVisibility_ATTENDANCE_VISIBILITY_EXACT)
	h.registerKey(t, asAlice)
	bobs := h.registerKey(t, asBob)
	ev, err := h.events.GetEvent(h.ctx, &rallyv1.GetEventRequest{Name: e.GetName()})
	if err != nil {
		t.Fatal(err)
	}
	// An event of Bob's is sealed to his key only.
	bobEvent := h.rsvpEvent(t, asBob, 10, rallyv1.AttendanceVisibility_ATTENDANCE_VISIBILITY_EXACT)

	const id = "abcdefghij0123456789klmnop"
	name := e.GetName() + "/rsvps/" + id
	good := func() *rallyv1.Envelope {
		env, err := envelope.Seal(&rallyv1.SealedFields{Contact: "signal:x"}, envelope.FromRecipientKeys(ev.GetRecipientKeys()), name)
		if err != nil {
			t.Fatal(err)
		}
		return env
	}
	mod := func(f func(*rallyv1.Envelope)) *rallyv1.Envelope { env := good(); f(env); return env }
	other, err := envelope.Seal(&rallyv1.SealedFields{Contact: "signal:x"}, envelope.FromRecipientKeys(ev.GetRecipientKeys()), e.GetName()+"/rsvps/zzzzzzzzzzzzzzzzzzzzzzzzzz")
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name  string
		req   *rallyv1.CreateRsvpRequest
		field string
	}{
		{"envelope and plain fields", &rallyv1.CreateRsvpRequest{Parent: e.GetName(), RsvpId: id, Rsvp: &rallyv1.Rsvp{DisplayName: "x", Envelope: good()}}, "rsvp.envelope"},
		{"no rsvp_id", &rallyv1.CreateRsvpRequest{Parent: e.GetName(), Rsvp: &rallyv1.Rsvp{Envelope: good()}}, "rsvp.envelope.resource"},
		{"another RSVP's envelope", &rallyv1.CreateRsvpRequest{Parent: e.GetName(), RsvpId: id, Rsvp: &rallyv1.Rsvp{Envelope: other}}, "rsvp.envelope.resource"},
		{"version", &rallyv1.CreateRsvpRequest{Parent: e.GetName(), RsvpId: id, Rsvp: &rallyv1.Rsvp{Envelope: mod(func(v *rallyv1.Envelope) { v.Version = 2 })}}, "rsvp.envelope.version"},
		{"short nonce", &rallyv1.CreateRsvpRequest{Parent: e.GetName(), RsvpId: id, Rsvp: &rallyv1.Rsvp{Envelope: mod(func(v *rallyv1.Envelope) { v.Nonce = v.Nonce[:8] })}}, "rsvp.envelope.nonce"},
		{"oversized", &rallyv1.CreateRsvpRequest{Parent: e.GetName(), RsvpId: id, Rsvp: &rallyv1.Rsvp{Envelope: mod(func(v *rallyv1.Envelope) { v.Ciphertext = make([]byte, 9000) })}}, "rsvp.envelope.ciphertext"},
		{"no recipients", &rallyv1.CreateRsvpRequest{Parent: e.GetName(), RsvpId: id, Rsvp: &rallyv1.Rsvp{Envelope: mod(func(v *rallyv1.Envelope) { v.Recipients = nil })}}, "rsvp.envelope.recipients"},
		{"unknown key", &rallyv1.CreateRsvpRequest{Parent: e.GetName(), RsvpId: id, Rsvp: &rallyv1.Rsvp{Envelope: mod(func(v *rallyv1.Envelope) { v.Recipients[0].Key = "nosuchkey" })}}, "rsvp.envelope.recipients[0].key"},
		{"another organiser's key", &rallyv1.CreateRsvpRequest{Parent: e.GetName(), RsvpId: id, Rsvp: &rallyv1.Rsvp{Envelope: mod(func(v *rallyv1.Envelope) { v.Recipients[0].Key = bobs.id })}}, "rsvp.envelope.recipients[0].key"},
		{"a key twice", &rallyv1.CreateRsvpRequest{Parent: e.GetName(), RsvpId: id, Rsvp: &rallyv1.Rsvp{Envelope: mod(func(v *rallyv1.Envelope) { v.Recipients = append(v.Recipients, v.Recipients[0]) })}}, "rsvp.envelope.recipients[1].key"},
		{"short enc", &rallyv1.CreateRsvpRequest{Parent: e.GetName(), RsvpId: id, Rsvp: &rallyv1.Rsvp{Envelope: mod(func(v *rallyv1.Envelope) { v.Recipients[0].Enc = v.Recipients[0].Enc[1:] })}}, "rsvp.envelope.recipients[0].enc"},
		{"long sealed key", &rallyv1.CreateRsvpRequest{Parent: e.GetName(), RsvpId: id, Rsvp: &rallyv1.Rsvp{Envelope: mod(func(v *rallyv1.Envelope) { v.Recipients[0].SealedKey = append(v.Recipients[0].SealedKey, 0) })}}, "rsvp.envelope.recipients[0].sealed_key"},
		{"bad rsvp_id", &rallyv1.CreateRsvpRequest{Parent: e.GetName(), RsvpId: "Short", Rsvp: &rallyv1.Rsvp{}}, "rsvp_id"},
		{"sealed for an event of Bob's", &rallyv1.CreateRsvpRequest{Parent: bobEvent.GetName(), RsvpId: id, Rsvp: &rallyv1.Rsvp{Envelope: mod(func(v *rallyv1.Envelope) { v.Resource = bobEvent.GetName() + "/rsvps/" + id })}}, "rsvp.envelope.recipients[0].key"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := h.rsvps().CreateRsvp(h.ctx, tc.req)
			wantCode(t, err, codes.InvalidArgument, tc.field)
		})
	}
	for _, ev := range []string{e.GetName(), bobEvent.GetName()} {
		got, err := h.events.GetEvent(asAlice, &rallyv1.GetEventRequest{Name: ev})
		if ev == bobEvent.GetName() {
			got, err = h.events.GetEvent(asBob, &rallyv1.GetEventRequest{Name: ev})
		}
		if err != nil || got.GetAttendance().GetGoing() != 0 {
			t.Errorf("%s after refused RSVPs: %v, %v; want nobody going", ev, got.GetAttendance(), err)
		}
	}
}

// TestSealedClaims: a claim's display name and its completion are sealed (two envelopes,
// as the server cannot add to the first), returned to organisers only.
func TestSealedClaims(t *testing.T) {
	h := newHarness(t)
	_, asAlice := h.organiser(t, "Alice")
	c, err := h.campaigns.CreateCampaign(asAlice, &rallyv1.CreateCampaignRequest{Campaign: validCampaign()})
	if err != nil {
		t.Fatal(err)
	}
	tk, err := h.tasks().CreateTask(asAlice, &rallyv1.CreateTaskRequest{Task: validTask(c.GetName(), h.clock.Now())})
	if err != nil {
		t.Fatal(err)
	}
	inClear, err := h.tasks().ClaimTask(h.ctx, &rallyv1.ClaimTaskRequest{Name: tk.GetName(), DisplayName: "Sam"})
	if err != nil || !inClear.GetStoredInClear() {
		t.Fatalf("claim without keys: %v, %v; want stored_in_clear", inClear, err)
	}
	key := h.registerKey(t, asAlice)
	plain, err := h.tasks().ClaimTask(h.ctx, &rallyv1.ClaimTaskRequest{Name: tk.GetName(), DisplayName: "Sam"})
	if err != nil || plain.GetStoredInClear() || plain.GetClaim().GetEnvelope() != nil || plain.GetClaim().GetDisplayName() != "" {
		t.Fatalf("claim with a key: %v, %v", plain, err)
	}
	asClaimer := bearer(h.ctx, plain.GetClaimToken())
	done, err := h.tasks().CompleteClaim(asClaimer, &rallyv1.CompleteClaimRequest{Name: plain.GetClaim().GetName(), ProofUrl: "https://example.org/post/1", Note: "from my cousin's account"})
	if err != nil {
		t.Fatal(err)
	}
	if done.GetEnvelope() != nil || done.GetCompletionEnvelope() != nil || done.GetNote() != "" {
		t.Errorf("the claimer got envelopes or the note back: %v", done)
	}

	// A claim sealed by its client, with a client-sealed completion.
	pub, err := h.campaigns.GetCampaign(h.ctx, &rallyv1.GetCampaignRequest{Name: c.GetName()})
	if err != nil {
		t.Fatal(err)
	}
	recipients := envelope.FromRecipientKeys(pub.GetRecipientKeys())
	id := "claimidclaimid0123456789ab"
	name := tk.GetName() + "/claims/" + id
	env, err := envelope.Seal(&rallyv1.SealedFields{DisplayName: "Kim"}, recipients, name)
	if err != nil {
		t.Fatal(err)
	}
	mine, err := h.tasks().ClaimTask(h.ctx, &rallyv1.ClaimTaskRequest{Name: tk.GetName(), ClaimId: id, Envelope: env})
	if err != nil || mine.GetClaim().GetName() != name {
		t.Fatalf("ClaimTask with an envelope: %v, %v", mine, err)
	}
	_, err = h.tasks().CompleteClaim(bearer(h.ctx, mine.GetClaimToken()), &rallyv1.CompleteClaimRequest{Name: name, Envelope: env})
	if err != nil {
		t.Fatal(err) // the same envelope: the server cannot tell what is inside
	}
	_, err = h.tasks().ClaimTask(h.ctx, &rallyv1.ClaimTaskRequest{Name: tk.GetName(), ClaimId: "claimidclaimid0123456789zz", Envelope: env})
	wantCode(t, err, codes.InvalidArgument, "envelope.resource")

	list, err := h.tasks().ListClaims(asAlice, &rallyv1.ListClaimsRequest{Parent: tk.GetName()})
	if err != nil || len(list.GetClaims()) != 3 {
		t.Fatalf("ListClaims: %v, %v", list, err)
	}
	if got := list.GetClaims()[0]; got.GetDisplayName() != "Sam" || got.GetEnvelope() != nil {
		t.Errorf("the claim made without keys: %v", got)
	}
	got := list.GetClaims()[1]
	if f := key.open(t, got.GetEnvelope(), got.GetName()); f.GetDisplayName() != "Sam" || got.GetDisplayName() != "" {
		t.Errorf("server-sealed claim opens to %v", f)
	}
	if f := key.open(t, got.GetCompletionEnvelope(), got.GetName()); f.GetNote() != "from my cousin's account" || f.GetProofUrl() != "https://example.org/post/1" || got.GetNote() != "" || got.GetProofUrl() != "" {
		t.Errorf("server-sealed completion: %v opens to %v", got, f)
	}
	if f := key.open(t, list.GetClaims()[2].GetEnvelope(), name); f.GetDisplayName() != "Kim" {
		t.Errorf("client-sealed claim opens to %v", f)
	}
}
