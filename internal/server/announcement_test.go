package server_test

import (
	"context"
	"crypto/ecdh"
	"crypto/ed25519"
	"crypto/rand"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/fieldmaskpb"
	"google.golang.org/protobuf/types/known/timestamppb"

	rallyv1 "github.com/rallyhq/rally/gen/go/rally/v1"
	"github.com/rallyhq/rally/internal/announcesig"
	"github.com/rallyhq/rally/internal/envelope"
)

// signingKey is an organiser's registered Ed25519 key.
type signingKey struct {
	id   string
	name string
	priv ed25519.PrivateKey
	pub  ed25519.PublicKey
}

// signingKey registers a new Ed25519 key for the organiser that asOrg calls as.
func (h *harness) signingKey(t *testing.T, asOrg context.Context) signingKey {
	t.Helper()
	pub, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	k, err := rallyv1.NewOrganiserServiceClient(h.conn).CreateOrganiserKey(asOrg, &rallyv1.CreateOrganiserKeyRequest{
		Parent:       "organisers/me",
		OrganiserKey: &rallyv1.OrganiserKey{Algorithm: rallyv1.KeyAlgorithm_KEY_ALGORITHM_ED25519, PublicKey: pub},
	})
	if err != nil {
		t.Fatal(err)
	}
	return signingKey{id: k.GetName()[strings.LastIndex(k.GetName(), "/")+1:], name: k.GetName(), priv: priv, pub: pub}
}

// signed returns the announcement signed by k for event at the harness's time.
func (h *harness) signed(t *testing.T, k signingKey, event, text string, aud rallyv1.AnnouncementAudience) *rallyv1.Announcement {
	t.Helper()
	a := &rallyv1.Announcement{Text: text, Audience: aud}
	sig, err := announcesig.Sign(k.priv, k.id, event, a, h.clock.Now())
	if err != nil {
		t.Fatal(err)
	}
	a.Signature = sig
	return a
}

// announcementTexts lists an event's announcements as an organiser sees them.
func (h *harness) announcements(t *testing.T, as context.Context, event string) []*rallyv1.Announcement {
	t.Helper()
	resp, err := h.events.ListAnnouncements(as, &rallyv1.ListAnnouncementsRequest{Parent: event})
	if err != nil {
		t.Fatal(err)
	}
	return resp.GetAnnouncements()
}

// TestSignedAnnouncements: a signature by an organiser's current Ed25519 key over the
// announcement as posted is stored with the key's public key and fingerprint, and read
// back by ListAnnouncements (the watch stream: internal/e2e/announce_sign_test.go,
// which runs with a broker); every bad signature is INVALID_ARGUMENT
// naming the field at fault, and stores and publishes nothing.
func TestSignedAnnouncements(t *testing.T) {
	onStores(t, func(t *testing.T, h *harness) {
		orgs := rallyv1.NewOrganiserServiceClient(h.conn)
		_, asAlice := h.organiser(t, "Alice")
		bob, asBob := h.organiser(t, "Bob")
		_, asCarol := h.organiser(t, "Carol")
		c, err := h.campaigns.CreateCampaign(asAlice, &rallyv1.CreateCampaignRequest{Campaign: validCampaign()})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := orgs.AddCampaignOrganiser(asAlice, &rallyv1.AddCampaignOrganiserRequest{Campaign: c.GetName(), Organiser: bob}); err != nil {
			t.Fatal(err)
		}
		if _, err := orgs.AcceptCampaignInvitation(asBob, &rallyv1.AcceptCampaignInvitationRequest{Campaign: c.GetName()}); err != nil {
			t.Fatal(err)
		}
		e, err := h.events.CreateEvent(asAlice, &rallyv1.CreateEventRequest{Event: validEvent(c.GetName())})
		if err != nil {
			t.Fatal(err)
		}
		other, err := h.events.CreateEvent(asAlice, &rallyv1.CreateEventRequest{Event: validEvent(c.GetName())})
		if err != nil {
			t.Fatal(err)
		}
		ev := e.GetName()
		aliceKey, bobKey, carolKey := h.signingKey(t, asAlice), h.signingKey(t, asBob), h.signingKey(t, asCarol)

		// Alice posts, signed with her key; what the client puts in the output-only
		// fields is replaced by the key's own.
		a := h.signed(t, aliceKey, ev, "Север площади — Солтүстік жақ", rallyv1.AnnouncementAudience_ANNOUNCEMENT_AUDIENCE_UNSPECIFIED)
		a.Signature.PublicKey, a.Signature.Fingerprint = carolKey.pub, "AAAA-AAAA-AAAA-AAAA"
		posted, err := h.events.PostAnnouncement(asAlice, &rallyv1.PostAnnouncementRequest{Parent: ev, Announcement: a})
		if err != nil {
			t.Fatal(err)
		}
		want := &rallyv1.AnnouncementSignature{
			Key:         aliceKey.id,
			SignTime:    a.GetSignature().GetSignTime(),
			Signature:   a.GetSignature().GetSignature(),
			PublicKey:   aliceKey.pub,
			Fingerprint: envelope.Fingerprint(rallyv1.KeyAlgorithm_KEY_ALGORITHM_ED25519, aliceKey.pub),
		}
		if !proto.Equal(posted.GetSignature(), want) {
			t.Fatalf("posted signature %v, want %v", posted.GetSignature(), want)
		}
		// A reader checks it on its own, against the public key it was given.
		if err := announcesig.Verify(posted.GetSignature().GetPublicKey(), ev, posted); err != nil {
			t.Errorf("the stored announcement does not verify: %v", err)
		}
		list := h.announcements(t, h.ctx, ev)
		if len(list) != 1 || !proto.Equal(list[0], posted) {
			t.Fatalf("listed %v, want %v", list, posted)
		}
		// A co-organiser signs with his own key, for holders only.
		if _, err := h.events.PostAnnouncement(asBob, &rallyv1.PostAnnouncementRequest{Parent: ev,
			Announcement: h.signed(t, bobKey, ev, "Meet at the corner", rallyv1.AnnouncementAudience_ANNOUNCEMENT_AUDIENCE_RSVP_HOLDERS)}); err != nil {
			t.Fatalf("co-organiser's key: %v", err)
		}
		stored := h.announcements(t, asAlice, ev)
		if len(stored) != 2 {
			t.Fatalf("%d announcements, want 2", len(stored))
		}

		// An HPKE key of Alice's, and one she revokes.
		x, err := ecdh.X25519().GenerateKey(rand.Reader)
		if err != nil {
			t.Fatal(err)
		}
		hpkeKey, err := orgs.CreateOrganiserKey(asAlice, &rallyv1.CreateOrganiserKeyRequest{Parent: "organisers/me",
			OrganiserKey: &rallyv1.OrganiserKey{Algorithm: rallyv1.KeyAlgorithm_KEY_ALGORITHM_HPKE_X25519, PublicKey: x.PublicKey().Bytes()}})
		if err != nil {
			t.Fatal(err)
		}
		revokedKey := h.signingKey(t, asAlice)
		if _, err := orgs.RevokeOrganiserKey(asAlice, &rallyv1.RevokeOrganiserKeyRequest{Name: revokedKey.name}); err != nil {
			t.Fatal(err)
		}

		const (
			fKey  = "announcement.signature.key"
			fTime = "announcement.signature.sign_time"
			fSig  = "announcement.signature.signature"
			text  = "We moved to the north side"
		)
		pub := rallyv1.AnnouncementAudience_ANNOUNCEMENT_AUDIENCE_PUBLIC
		holders := rallyv1.AnnouncementAudience_ANNOUNCEMENT_AUDIENCE_RSVP_HOLDERS
		for _, tc := range []struct {
			name  string
			field string
			make  func() *rallyv1.Announcement
		}{
			{"signature bytes changed", fSig, func() *rallyv1.Announcement {
				a := h.signed(t, aliceKey, ev, text, pub)
				a.Signature.Signature[10] ^= 0x40
				return a
			}},
			{"text changed after signing", fSig, func() *rallyv1.Announcement {
				a := h.signed(t, aliceKey, ev, text, pub)
				a.Text = "We moved to the south side"
				return a
			}},
			{"signed for another event", fSig, func() *rallyv1.Announcement { return h.signed(t, aliceKey, other.GetName(), text, pub) }},
			{"audience changed after signing", fSig, func() *rallyv1.Announcement {
				a := h.signed(t, aliceKey, ev, text, holders)
				a.Audience = pub
				return a
			}},
			{"sign_time changed after signing", fSig, func() *rallyv1.Announcement {
				a := h.signed(t, aliceKey, ev, text, pub)
				a.Signature.SignTime = timestamppb.New(a.GetSignature().GetSignTime().AsTime().Add(time.Second))
				return a
			}},
			{"signed by another key, claiming Alice's", fSig, func() *rallyv1.Announcement {
				a := h.signed(t, carolKey, ev, text, pub)
				a.Signature.Key = aliceKey.id
				return a
			}},
			{"key of an organiser not of this campaign", fKey, func() *rallyv1.Announcement { return h.signed(t, carolKey, ev, text, pub) }},
			{"HPKE key", fKey, func() *rallyv1.Announcement {
				a := h.signed(t, aliceKey, ev, text, pub)
				a.Signature.Key = hpkeKey.GetName()[strings.LastIndex(hpkeKey.GetName(), "/")+1:]
				return a
			}},
			{"revoked key", fKey, func() *rallyv1.Announcement { return h.signed(t, revokedKey, ev, text, pub) }},
			{"unknown key", fKey, func() *rallyv1.Announcement {
				a := h.signed(t, aliceKey, ev, text, pub)
				a.Signature.Key = "nosuchkey0000000000000000"
				return a
			}},
			{"signed 11 minutes ago", fTime, func() *rallyv1.Announcement {
				a := &rallyv1.Announcement{Text: text}
				a.Signature, _ = announcesig.Sign(aliceKey.priv, aliceKey.id, ev, a, h.clock.Now().Add(-11*time.Minute))
				return a
			}},
			{"signed 11 minutes ahead", fTime, func() *rallyv1.Announcement {
				a := &rallyv1.Announcement{Text: text}
				a.Signature, _ = announcesig.Sign(aliceKey.priv, aliceKey.id, ev, a, h.clock.Now().Add(11*time.Minute))
				return a
			}},
			{"sign_time finer than a millisecond", fTime, func() *rallyv1.Announcement {
				a := h.signed(t, aliceKey, ev, text, pub)
				a.Signature.SignTime.Nanos += 1000
				return a
			}},
		} {
			_, err := h.events.PostAnnouncement(asAlice, &rallyv1.PostAnnouncementRequest{Parent: ev, Announcement: tc.make()})
			t.Run(tc.name, func(t *testing.T) { wantCode(t, err, codes.InvalidArgument, tc.field) })
			if err != nil && strings.Contains(err.Error(), text) {
				t.Errorf("%s: the error quotes the text: %v", tc.name, err)
			}
		}
		// Within the allowed skew, either way, is accepted.
		for _, d := range []time.Duration{-9 * time.Minute, 9 * time.Minute} {
			a := &rallyv1.Announcement{Text: "skew"}
			a.Signature, _ = announcesig.Sign(aliceKey.priv, aliceKey.id, ev, a, h.clock.Now().Add(d))
			if _, err := h.events.PostAnnouncement(asAlice, &rallyv1.PostAnnouncementRequest{Parent: ev, Announcement: a}); err != nil {
				t.Errorf("signed %v from the server's clock: %v", d, err)
			}
		}
		if got := h.announcements(t, asAlice, ev); len(got) != 4 {
			t.Errorf("%d announcements after the refusals and two accepted, want 4", len(got))
		}
		if got := h.announcements(t, asAlice, other.GetName()); len(got) != 0 {
			t.Errorf("the other event has %d announcements, want 0", len(got))
		}

		// The campaign comes to require signatures: an unsigned announcement is refused,
		// a signed one still accepted. The setting is public: clients flag unsigned ones.
		upd, err := h.campaigns.UpdateCampaign(asAlice, &rallyv1.UpdateCampaignRequest{
			Campaign:   &rallyv1.Campaign{Name: c.GetName(), RequireSignedAnnouncements: true},
			UpdateMask: &fieldmaskpb.FieldMask{Paths: []string{"require_signed_announcements"}}})
		if err != nil || !upd.GetRequireSignedAnnouncements() {
			t.Fatalf("require signatures: %v, %v", upd, err)
		}
		if pc, err := h.campaigns.GetCampaign(h.ctx, &rallyv1.GetCampaignRequest{Name: c.GetName()}); err != nil || !pc.GetRequireSignedAnnouncements() {
			t.Errorf("the public does not see that signatures are required: %v, %v", pc, err)
		}
		_, err = h.events.PostAnnouncement(asAlice, &rallyv1.PostAnnouncementRequest{Parent: ev, Announcement: &rallyv1.Announcement{Text: text}})
		wantCode(t, err, codes.InvalidArgument, "announcement.signature")
		if _, err := h.events.PostAnnouncement(asBob, &rallyv1.PostAnnouncementRequest{Parent: ev, Announcement: h.signed(t, bobKey, ev, "signed", pub)}); err != nil {
			t.Errorf("signed, where signatures are required: %v", err)
		}
		if got := h.announcements(t, asAlice, ev); len(got) != 5 {
			t.Errorf("%d announcements, want 5", len(got))
		}
	})
}

// TestSignedAnnouncementsStandalone: for an event outside a campaign, its owner's key
// signs, and no other organiser's; a campaign's setting is set on create.
func TestSignedAnnouncementsStandalone(t *testing.T) {
	onStores(t, func(t *testing.T, h *harness) {
		_, asAlice := h.organiser(t, "Alice")
		_, asBob := h.organiser(t, "Bob")
		e := h.rsvpEvent(t, asAlice, 10, rallyv1.AttendanceVisibility_ATTENDANCE_VISIBILITY_EXACT)
		aliceKey, bobKey := h.signingKey(t, asAlice), h.signingKey(t, asBob)
		_, err := h.events.PostAnnouncement(asAlice, &rallyv1.PostAnnouncementRequest{Parent: e.GetName(),
			Announcement: h.signed(t, bobKey, e.GetName(), "x", rallyv1.AnnouncementAudience_ANNOUNCEMENT_AUDIENCE_PUBLIC)})
		wantCode(t, err, codes.InvalidArgument, "announcement.signature.key")
		if n := len(h.announcements(t, asAlice, e.GetName())); n != 0 {
			t.Fatalf("%d announcements stored after a refusal", n)
		}
		// The admin may post, with the owner's signature.
		if _, err := h.events.PostAnnouncement(h.admin, &rallyv1.PostAnnouncementRequest{Parent: e.GetName(),
			Announcement: h.signed(t, aliceKey, e.GetName(), "x", rallyv1.AnnouncementAudience_ANNOUNCEMENT_AUDIENCE_PUBLIC)}); err != nil {
			t.Fatal(err)
		}
		// Unsigned is fine where no campaign requires signatures.
		if _, err := h.events.PostAnnouncement(asAlice, &rallyv1.PostAnnouncementRequest{Parent: e.GetName(), Announcement: &rallyv1.Announcement{Text: "y"}}); err != nil {
			t.Fatal(err)
		}
		if got := h.announcements(t, asAlice, e.GetName()); len(got) != 2 || got[0].GetSignature() != nil || got[1].GetSignature().GetFingerprint() == "" {
			t.Errorf("announcements %v", got)
		}

		cc := validCampaign()
		cc.RequireSignedAnnouncements = true
		c, err := h.campaigns.CreateCampaign(asAlice, &rallyv1.CreateCampaignRequest{Campaign: cc})
		if err != nil || !c.GetRequireSignedAnnouncements() {
			t.Fatalf("create requiring signatures: %v, %v", c, err)
		}
		ce, err := h.events.CreateEvent(asAlice, &rallyv1.CreateEventRequest{Event: validEvent(c.GetName())})
		if err != nil {
			t.Fatal(err)
		}
		_, err = h.events.PostAnnouncement(asAlice, &rallyv1.PostAnnouncementRequest{Parent: ce.GetName(), Announcement: &rallyv1.Announcement{Text: "y"}})
		wantCode(t, err, codes.InvalidArgument, "announcement.signature")
		if n := len(h.announcements(t, asAlice, ce.GetName())); n != 0 {
			t.Fatalf("%d announcements stored after a refusal", n)
		}
	})
}
