package server_test

import (
	"crypto/ecdh"
	"crypto/ed25519"
	"crypto/rand"
	"regexp"
	"testing"

	"google.golang.org/grpc/codes"

	rallyv1 "github.com/rallyhq/rally/gen/go/rally/v1"
)

func x25519Key(t *testing.T) []byte {
	t.Helper()
	k, err := ecdh.X25519().GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return k.PublicKey().Bytes()
}

// TestOrganiserKeys: keys are validated, fingerprinted, listed in pages, revoked; a
// campaign shows its organisers' current HPKE keys to everyone, by key ID alone.
func TestOrganiserKeys(t *testing.T) {
	h := newHarness(t)
	orgs := rallyv1.NewOrganiserServiceClient(h.conn)
	alice, asAlice := h.organiser(t, "Alice")
	bob, asBob := h.organiser(t, "Bob")
	create := func(who string, alg rallyv1.KeyAlgorithm, pub []byte) (*rallyv1.OrganiserKey, error) {
		ctx := asAlice
		if who == "bob" {
			ctx = asBob
		}
		return orgs.CreateOrganiserKey(ctx, &rallyv1.CreateOrganiserKeyRequest{Parent: "organisers/me", OrganiserKey: &rallyv1.OrganiserKey{Algorithm: alg, PublicKey: pub}})
	}
	x := rallyv1.KeyAlgorithm_KEY_ALGORITHM_HPKE_X25519
	_, err := create("alice", x, make([]byte, 31))
	wantCode(t, err, codes.InvalidArgument, "organiser_key.public_key")
	_, err = create("alice", x, make([]byte, 32)) // a low-order point: no exchange works
	wantCode(t, err, codes.InvalidArgument, "organiser_key.public_key")
	_, err = create("alice", rallyv1.KeyAlgorithm_KEY_ALGORITHM_HPKE_MLKEM768_X25519, x25519Key(t))
	wantCode(t, err, codes.InvalidArgument, "organiser_key.public_key")
	_, err = create("alice", rallyv1.KeyAlgorithm_KEY_ALGORITHM_UNSPECIFIED, x25519Key(t))
	wantCode(t, err, codes.InvalidArgument, "organiser_key.algorithm")

	k1, err := create("alice", x, x25519Key(t))
	if err != nil {
		t.Fatal(err)
	}
	if !regexp.MustCompile(`^`+alice+`/keys/[a-z0-9]+$`).MatchString(k1.GetName()) ||
		!regexp.MustCompile(`^[A-Z2-7]{4}-[A-Z2-7]{4}-[A-Z2-7]{4}-[A-Z2-7]{4}$`).MatchString(k1.GetFingerprint()) {
		t.Fatalf("key: %v", k1)
	}
	signPub, _, _ := ed25519.GenerateKey(rand.Reader)
	if _, err := create("alice", rallyv1.KeyAlgorithm_KEY_ALGORITHM_ED25519, signPub); err != nil {
		t.Fatal(err)
	}
	k3, err := create("alice", x, x25519Key(t))
	if err != nil {
		t.Fatal(err)
	}
	bobKey, err := create("bob", x, x25519Key(t))
	if err != nil {
		t.Fatal(err)
	}

	page, err := orgs.ListOrganiserKeys(asAlice, &rallyv1.ListOrganiserKeysRequest{Parent: "organisers/me", PageSize: 2})
	if err != nil || len(page.GetOrganiserKeys()) != 2 || page.GetNextPageToken() == "" {
		t.Fatalf("first page: %v, %v", page, err)
	}
	// Bob cannot revoke Alice's key, even by naming it under his own name.
	_, err = orgs.RevokeOrganiserKey(asBob, &rallyv1.RevokeOrganiserKeyRequest{Name: k1.GetName()})
	wantCode(t, err, codes.PermissionDenied, "")
	_, err = orgs.RevokeOrganiserKey(asBob, &rallyv1.RevokeOrganiserKeyRequest{Name: bob + "/keys/" + k1.GetName()[len(alice+"/keys/"):]})
	wantCode(t, err, codes.NotFound, "")
	revoked, err := orgs.RevokeOrganiserKey(asAlice, &rallyv1.RevokeOrganiserKeyRequest{Name: "organisers/me/keys/" + k1.GetName()[len(alice+"/keys/"):]})
	if err != nil || revoked.GetRevokeTime() == nil {
		t.Fatalf("revoke: %v, %v", revoked, err)
	}

	c, err := h.campaigns.CreateCampaign(asAlice, &rallyv1.CreateCampaignRequest{Campaign: validCampaign()})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := orgs.AddCampaignOrganiser(asAlice, &rallyv1.AddCampaignOrganiserRequest{Campaign: c.GetName(), Organiser: bob}); err != nil {
		t.Fatal(err)
	}
	pub, err := h.campaigns.GetCampaign(h.ctx, &rallyv1.GetCampaignRequest{Name: c.GetName()})
	if err != nil {
		t.Fatal(err)
	}
	// Only the current HPKE key of the owner: Bob has not accepted yet, k1 is revoked,
	// the Ed25519 key is not sealed to.
	if got := pub.GetRecipientKeys(); len(got) != 1 || got[0].GetKey() != k3.GetName()[len(alice+"/keys/"):] ||
		got[0].GetFingerprint() != k3.GetFingerprint() || string(got[0].GetPublicKey()) != string(k3.GetPublicKey()) {
		t.Fatalf("recipient keys: %v, want only k3", got)
	}
	if _, err := orgs.AcceptCampaignInvitation(asBob, &rallyv1.AcceptCampaignInvitationRequest{Campaign: c.GetName()}); err != nil {
		t.Fatal(err)
	}
	pub, err = h.campaigns.GetCampaign(h.ctx, &rallyv1.GetCampaignRequest{Name: c.GetName()})
	if err != nil || len(pub.GetRecipientKeys()) != 2 || pub.GetRecipientKeys()[1].GetKey() != bobKey.GetName()[len(bob+"/keys/"):] {
		t.Fatalf("recipient keys after Bob joined: %v, %v", pub.GetRecipientKeys(), err)
	}
	if pub.GetOwner() != "" || len(pub.GetOrganisers()) != 0 {
		t.Fatalf("organisers leaked to the public: %v", pub)
	}
}
