package e2e_test

import (
	"crypto/ed25519"
	"crypto/rand"
	"encoding/base64"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"

	rallyv1 "github.com/rallyhq/rally/gen/go/rally/v1"
	"github.com/rallyhq/rally/internal/announcesig"
	"github.com/rallyhq/rally/internal/envelope"
)

// TestSignedAnnouncementREST: issue 17's signed announcements and safety information
// over REST, as the web client and third-party clients use them, on both stores. An
// organiser registers an Ed25519 key, posts an announcement with its signature in JSON
// (bytes as base64, sign_time as RFC 3339), and the public reads it back, from the list
// and from a watch stream, with the key's public key and fingerprint to verify it with;
// a forged signature is 400 naming announcement.signature.signature and stores nothing.
// The event's safety information, updated through the mask, reaches the public watcher.
func TestSignedAnnouncementREST(t *testing.T) {
	for name, url := range backends(t) {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			testSignedAnnouncementREST(t, url(t))
		})
	}
}

func testSignedAnnouncementREST(t *testing.T, redisURL string) {
	a := startApp(t, redisURL)
	base := "http://" + a.HTTPAddr()
	conn, err := grpc.NewClient(a.GRPCAddr(), grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	tok := newOrganiser(t, conn, "alice")
	asAlice := []string{"Authorization", "Bearer " + tok, "Content-Type", "application/json"}

	// The key, registered over REST.
	pub, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	res := restCall(t, "POST", base+"/v1/organisers/me/keys",
		fmt.Sprintf(`{"algorithm":"KEY_ALGORITHM_ED25519","publicKey":%q}`, base64.StdEncoding.EncodeToString(pub)), asAlice...)
	if res.code != http.StatusOK {
		t.Fatalf("register the key: %d %s", res.code, res.raw)
	}
	keyName, _ := res.body["name"].(string)
	keyID := keyName[strings.LastIndex(keyName, "/")+1:]

	res = restCall(t, "POST", base+"/v1/campaigns", `{"title":"Solidarity with Kazakhstan","requireSignedAnnouncements":true}`, asAlice...)
	if res.code != http.StatusOK || res.body["requireSignedAnnouncements"] != true {
		t.Fatalf("create the campaign: %d %s", res.code, res.raw)
	}
	campaign, _ := res.body["name"].(string)
	res = restCall(t, "POST", base+"/v1/events", eventBody(campaign), asAlice...)
	if res.code != http.StatusOK {
		t.Fatalf("create the event: %d %s", res.code, res.raw)
	}
	event, _ := res.body["name"].(string)

	// The public watches the event.
	stream, err := rallyv1.NewEventServiceClient(conn).WatchEvent(t.Context(), &rallyv1.WatchEventRequest{Name: event})
	if err != nil {
		t.Fatal(err)
	}
	watched := collect(t, stream)
	watched.waitFor(t, "the snapshot", func(c *rallyv1.Change) bool { return c.GetKind() == rallyv1.ChangeKind_CHANGE_KIND_SNAPSHOT })

	// rallyd runs on the real clock: sign now.
	const text = "Мы переходим на северную сторону площади; алаңның солтүстігі."
	sig, err := announcesig.Sign(priv, keyID, event, &rallyv1.Announcement{Text: text, Audience: rallyv1.AnnouncementAudience_ANNOUNCEMENT_AUDIENCE_PUBLIC}, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	body := func(signature []byte, signTime string) string {
		return fmt.Sprintf(`{"text":%q,"audience":"ANNOUNCEMENT_AUDIENCE_PUBLIC","signature":{"key":%q,"signTime":%q,"signature":%q}}`,
			text, keyID, signTime, base64.StdEncoding.EncodeToString(signature))
	}
	signTime := sig.GetSignTime().AsTime().Format(announcesig.TimeLayout)
	path := base + "/v1/" + event + "/announcements"

	// Refusals first: nothing may be stored by them.
	forged := slices.Clone(sig.GetSignature())
	forged[0] ^= 1
	for _, tc := range []struct {
		what, body, field string
	}{
		{"a forged signature", body(forged, signTime), "announcement.signature.signature"},
		{"a sign time finer than a millisecond", body(sig.GetSignature(), strings.TrimSuffix(signTime, "Z")+"001Z"), "announcement.signature.sign_time"},
		{"no signature, where the campaign requires one", fmt.Sprintf(`{"text":%q}`, text), "announcement.signature"},
	} {
		res := restCall(t, "POST", path, tc.body, asAlice...)
		if res.code != http.StatusBadRequest || !slices.Contains(res.fields, tc.field) {
			t.Errorf("%s: %d %v, want 400 naming %s: %s", tc.what, res.code, res.fields, tc.field, res.raw)
		}
		if strings.Contains(res.raw, text) || strings.Contains(res.raw, base64.StdEncoding.EncodeToString(forged)) {
			t.Errorf("%s: the error quotes the text or the signature: %s", tc.what, res.raw)
		}
	}
	res = restCall(t, "GET", path, "")
	if res.code != http.StatusOK || len(res.body["announcements"].([]any)) != 0 {
		t.Fatalf("after the refusals: %d %s, want no announcement", res.code, res.raw)
	}

	// The real one, with junk in the output-only fields that the server replaces.
	res = restCall(t, "POST", path, strings.Replace(body(sig.GetSignature(), signTime), `"signature":{`, `"signature":{"fingerprint":"AAAA-AAAA-AAAA-AAAA","publicKey":"AAAA",`, 1), asAlice...)
	if res.code != http.StatusOK {
		t.Fatalf("post the signed announcement: %d %s", res.code, res.raw)
	}
	wantSig := &rallyv1.AnnouncementSignature{Key: keyID, SignTime: sig.GetSignTime(), Signature: sig.GetSignature(),
		PublicKey: pub, Fingerprint: envelope.Fingerprint(rallyv1.KeyAlgorithm_KEY_ALGORITHM_ED25519, pub)}

	// The public reads it over REST and checks it as a client would, with the public key
	// it is given (and the fingerprint it computes, to compare with the organisers').
	res = restCall(t, "GET", path, "")
	list := new(rallyv1.ListAnnouncementsResponse)
	if err := protojson.Unmarshal([]byte(res.raw), list); err != nil || len(list.GetAnnouncements()) != 1 {
		t.Fatalf("list: %v %s", err, res.raw)
	}
	got := list.GetAnnouncements()[0]
	if !proto.Equal(got.GetSignature(), wantSig) {
		t.Errorf("listed signature %v, want %v", got.GetSignature(), wantSig)
	}
	if err := announcesig.Verify(got.GetSignature().GetPublicKey(), event, got); err != nil {
		t.Errorf("the listed announcement does not verify: %v", err)
	}
	c := watched.waitFor(t, "the announcement", func(c *rallyv1.Change) bool { return c.GetKind() == rallyv1.ChangeKind_CHANGE_KIND_ANNOUNCEMENT })
	if w := c[len(c)-1].GetAnnouncement(); !proto.Equal(w, got) {
		t.Errorf("watched %v, want %v", w, got)
	}

	// Safety information: updated through the mask over REST, public in GET and in the
	// public's watch stream.
	res = restCall(t, "PATCH", base+"/v1/"+event+"?updateMask=safety.legalHotline,safety.legalObservers",
		`{"safety":{"legalHotline":"+49 30 1234567","legalObservers":true,"notes":"not in the mask"}}`, asAlice...)
	if res.code != http.StatusOK {
		t.Fatalf("update safety: %d %s", res.code, res.raw)
	}
	wantSafety := &rallyv1.EventSafety{LegalHotline: "+49 30 1234567", LegalObservers: true}
	res = restCall(t, "GET", base+"/v1/"+event, "")
	pubEvent := new(rallyv1.Event)
	if err := protojson.Unmarshal([]byte(res.raw), pubEvent); err != nil || !proto.Equal(pubEvent.GetSafety(), wantSafety) {
		t.Errorf("the public's GET: safety %v (%v), want %v", pubEvent.GetSafety(), err, wantSafety)
	}
	c = watched.waitFor(t, "the safety update", func(c *rallyv1.Change) bool { return c.GetKind() == rallyv1.ChangeKind_CHANGE_KIND_UPDATED })
	if s := c[len(c)-1].GetEvent().GetSafety(); !proto.Equal(s, wantSafety) {
		t.Errorf("watched safety %v, want %v", s, wantSafety)
	}
}
