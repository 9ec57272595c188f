package announcesig_test

import (
	"bytes"
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"flag"
	"os"
	"path/filepath"
	"testing"
	"time"

	rallyv1 "github.com/rallyhq/rally/gen/go/rally/v1"
	"github.com/rallyhq/rally/internal/announcesig"
	"github.com/rallyhq/rally/internal/envelope"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"
)

var update = flag.Bool("update", false, "write testdata/vectors.json anew (only when the encoding changes on purpose)")

const event = "events/vigil-almaty"

// signTime is a fixed signing time, a whole millisecond.
var signTime = time.Date(2026, 3, 8, 14, 0, 0, 123_000_000, time.UTC)

func key(t *testing.T, label string) ed25519.PrivateKey {
	t.Helper()
	seed := sha256.Sum256([]byte("announcesig test key " + label))
	return ed25519.NewKeyFromSeed(seed[:])
}

// TestMessage pins the encoding by hand, field by field, as the proto's comment
// describes it: it is what every other implementation must reproduce.
func TestMessage(t *testing.T) {
	a := &rallyv1.Announcement{
		Text:      "Север",
		Signature: &rallyv1.AnnouncementSignature{SignTime: timestamppb.New(signTime)},
	}
	got, err := announcesig.Message("events/e", a)
	if err != nil {
		t.Fatal(err)
	}
	var want []byte
	for _, f := range []string{"rally.v1.Announcement", "events/e", "Север", "ANNOUNCEMENT_AUDIENCE_PUBLIC", "2026-03-08T14:00:00.123Z"} {
		want = append(want, byte(len(f)>>24), byte(len(f)>>16), byte(len(f)>>8), byte(len(f)))
		want = append(want, f...)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("message\n%x\nwant\n%x", got, want)
	}
	// "Север" is 10 bytes in UTF-8, 5 characters: the prefix counts bytes.
	if i := bytes.Index(got, []byte("Север")); i < 4 || got[i-1] != 10 {
		t.Errorf("text's length prefix is not its length in bytes: %x", got)
	}

	// UNSPECIFIED and PUBLIC sign alike; RSVP_HOLDERS differently.
	a.Audience = rallyv1.AnnouncementAudience_ANNOUNCEMENT_AUDIENCE_PUBLIC
	if pub, _ := announcesig.Message("events/e", a); !bytes.Equal(pub, got) {
		t.Error("PUBLIC encodes unlike UNSPECIFIED")
	}
	a.Audience = rallyv1.AnnouncementAudience_ANNOUNCEMENT_AUDIENCE_RSVP_HOLDERS
	if holders, _ := announcesig.Message("events/e", a); bytes.Equal(holders, got) || !bytes.Contains(holders, []byte("ANNOUNCEMENT_AUDIENCE_RSVP_HOLDERS")) {
		t.Errorf("RSVP_HOLDERS: %x", holders)
	}
}

// TestUnambiguous: moving bytes from one field to the next changes the message, which
// plain concatenation would not.
func TestUnambiguous(t *testing.T) {
	ts := &rallyv1.AnnouncementSignature{SignTime: timestamppb.New(signTime)}
	m1, _ := announcesig.Message("events/a", &rallyv1.Announcement{Text: "bc", Signature: ts})
	m2, _ := announcesig.Message("events/ab", &rallyv1.Announcement{Text: "c", Signature: ts})
	if bytes.Equal(m1, m2) {
		t.Error("two announcements encode alike")
	}
}

func TestMessageErrors(t *testing.T) {
	for name, tc := range map[string]struct {
		a    *rallyv1.Announcement
		want error
	}{
		"no signature":    {&rallyv1.Announcement{Text: "x"}, announcesig.ErrNoSignature},
		"no sign_time":    {&rallyv1.Announcement{Text: "x", Signature: &rallyv1.AnnouncementSignature{}}, announcesig.ErrSignTime},
		"sub-millisecond": {&rallyv1.Announcement{Text: "x", Signature: &rallyv1.AnnouncementSignature{SignTime: timestamppb.New(signTime.Add(time.Microsecond))}}, announcesig.ErrSignTime},
		"year 10000":      {&rallyv1.Announcement{Text: "x", Signature: &rallyv1.AnnouncementSignature{SignTime: &timestamppb.Timestamp{Seconds: 253402300800}}}, announcesig.ErrSignTime},
		"negative nanos":  {&rallyv1.Announcement{Text: "x", Signature: &rallyv1.AnnouncementSignature{SignTime: &timestamppb.Timestamp{Seconds: 1, Nanos: -1000000}}}, announcesig.ErrSignTime},
		"bad UTF-8":       {&rallyv1.Announcement{Text: "\xff", Signature: &rallyv1.AnnouncementSignature{SignTime: timestamppb.New(signTime)}}, announcesig.ErrText},
		"unknown audience": {&rallyv1.Announcement{Text: "x", Audience: 7, Signature: &rallyv1.AnnouncementSignature{SignTime: timestamppb.New(signTime)}},
			announcesig.ErrAudience},
	} {
		if _, err := announcesig.Message(event, tc.a); !errors.Is(err, tc.want) {
			t.Errorf("%s: %v, want %v", name, err, tc.want)
		}
	}
}

func TestSignVerify(t *testing.T) {
	priv := key(t, "organiser")
	pub := priv.Public().(ed25519.PublicKey)
	a := &rallyv1.Announcement{Text: "We moved to the north side", Audience: rallyv1.AnnouncementAudience_ANNOUNCEMENT_AUDIENCE_RSVP_HOLDERS}
	orig := proto.Clone(a)
	// Sign truncates to the millisecond, so that any clock reading signs.
	sig, err := announcesig.Sign(priv, "k1", event, a, signTime.Add(456*time.Microsecond))
	if err != nil {
		t.Fatal(err)
	}
	if !proto.Equal(a, orig) {
		t.Error("Sign changed the announcement")
	}
	if sig.GetKey() != "k1" || !sig.GetSignTime().AsTime().Equal(signTime) || len(sig.GetSignature()) != ed25519.SignatureSize ||
		sig.GetPublicKey() != nil || sig.GetFingerprint() != "" {
		t.Errorf("signature %v", sig)
	}
	a.Signature = sig
	if err := announcesig.Verify(pub, event, a); err != nil {
		t.Fatalf("Verify: %v", err)
	}

	// Everything that is signed is bound: a change to any of it fails.
	for name, change := range map[string]func(a *rallyv1.Announcement) (string, *rallyv1.Announcement){
		"text":     func(a *rallyv1.Announcement) (string, *rallyv1.Announcement) { a.Text += "!"; return event, a },
		"audience": func(a *rallyv1.Announcement) (string, *rallyv1.Announcement) { a.Audience = 1; return event, a },
		"event":    func(a *rallyv1.Announcement) (string, *rallyv1.Announcement) { return "events/other", a },
		"sign_time": func(a *rallyv1.Announcement) (string, *rallyv1.Announcement) {
			a.Signature.SignTime.Seconds++
			return event, a
		},
		"signature": func(a *rallyv1.Announcement) (string, *rallyv1.Announcement) {
			a.Signature.Signature[0] ^= 1
			return event, a
		},
		"short signature": func(a *rallyv1.Announcement) (string, *rallyv1.Announcement) {
			a.Signature.Signature = a.Signature.Signature[:63]
			return event, a
		},
	} {
		ev, b := change(proto.Clone(a).(*rallyv1.Announcement))
		if err := announcesig.Verify(pub, ev, b); !errors.Is(err, announcesig.ErrBadSignature) {
			t.Errorf("%s changed: %v, want ErrBadSignature", name, err)
		}
	}
	other := key(t, "someone else").Public().(ed25519.PublicKey)
	if err := announcesig.Verify(other, event, a); !errors.Is(err, announcesig.ErrBadSignature) {
		t.Errorf("another key: %v", err)
	}
	if err := announcesig.Verify(pub[:31], event, a); !errors.Is(err, announcesig.ErrPublicKey) {
		t.Errorf("short key: %v", err)
	}
	if err := announcesig.Verify(pub, event, &rallyv1.Announcement{Text: a.Text}); !errors.Is(err, announcesig.ErrNoSignature) {
		t.Errorf("unsigned: %v", err)
	}
	if _, err := announcesig.Sign(priv[:10], "k1", event, a, signTime); err == nil {
		t.Error("signed with a short private key")
	}
}

// vector is one known answer of testdata/vectors.json, the file that the web client's
// browser test verifies with WebCrypto too: both must agree on every byte.
type vector struct {
	Event       string `json:"event"`
	Text        string `json:"text"`
	Audience    string `json:"audience"`
	SignTime    string `json:"signTime"`
	PublicKey   string `json:"publicKey"` // base64
	Seed        string `json:"seed"`      // base64, the Ed25519 private key's 32-byte seed
	Message     string `json:"message"`   // hex
	Signature   string `json:"signature"` // base64
	Fingerprint string `json:"fingerprint"`
}

// vectorInputs are what the vectors sign: non-ASCII text (Kazakh, Russian, German,
// emoji, a newline), both audiences and UNSPECIFIED (written as PUBLIC), times with and
// without milliseconds. The seeds are test data, not secrets.
var vectorInputs = []struct {
	seedLabel string
	event     string
	text      string
	audience  rallyv1.AnnouncementAudience
	signTime  time.Time
}{
	{"a", "events/vigil-berlin", "We moved to the north side of the square.", rallyv1.AnnouncementAudience_ANNOUNCEMENT_AUDIENCE_PUBLIC, time.Date(2026, 3, 8, 14, 0, 0, 0, time.UTC)},
	{"a", "events/vigil-berlin", "We moved to the north side of the square.", rallyv1.AnnouncementAudience_ANNOUNCEMENT_AUDIENCE_UNSPECIFIED, time.Date(2026, 3, 8, 14, 0, 0, 0, time.UTC)},
	{"b", "events/almaty-2026", "Алаңның солтүстік жағына көштік. Құқықтық көмек: +7 727 000 00 00", rallyv1.AnnouncementAudience_ANNOUNCEMENT_AUDIENCE_RSVP_HOLDERS, time.Date(2026, 1, 5, 9, 30, 15, 7_000_000, time.UTC)},
	{"c", "events/moskva-piket", "Встречаемся у памятника в 18:00.\nНе берите с собой документы, кроме паспорта.", rallyv1.AnnouncementAudience_ANNOUNCEMENT_AUDIENCE_PUBLIC, time.Date(2025, 12, 31, 23, 59, 59, 999_000_000, time.UTC)},
	{"c", "events/moskva-piket", "Straße gesperrt 🚧 — bitte über die Brücke", rallyv1.AnnouncementAudience_ANNOUNCEMENT_AUDIENCE_RSVP_HOLDERS, time.Date(2026, 7, 1, 0, 0, 0, 500_000_000, time.UTC)},
}

func makeVectors(t *testing.T) []vector {
	var vs []vector
	for _, in := range vectorInputs {
		priv := key(t, in.seedLabel)
		pub := priv.Public().(ed25519.PublicKey)
		a := &rallyv1.Announcement{Text: in.text, Audience: in.audience}
		sig, err := announcesig.Sign(priv, "k", in.event, a, in.signTime)
		if err != nil {
			t.Fatal(err)
		}
		a.Signature = sig
		msg, err := announcesig.Message(in.event, a)
		if err != nil {
			t.Fatal(err)
		}
		vs = append(vs, vector{
			Event:       in.event,
			Text:        in.text,
			Audience:    in.audience.String(),
			SignTime:    in.signTime.Format(announcesig.TimeLayout),
			PublicKey:   base64.StdEncoding.EncodeToString(pub),
			Seed:        base64.StdEncoding.EncodeToString(priv.Seed()),
			Message:     hex.EncodeToString(msg),
			Signature:   base64.StdEncoding.EncodeToString(sig.GetSignature()),
			Fingerprint: envelope.Fingerprint(rallyv1.KeyAlgorithm_KEY_ALGORITHM_ED25519, pub),
		})
	}
	return vs
}

// TestVectors regenerates the known answers and compares them with the file, then
// verifies the file's own values as another implementation would read them: from the
// file alone (seed, fields, time string), not from vectorInputs.
func TestVectors(t *testing.T) {
	path := filepath.Join("testdata", "vectors.json")
	if *update {
		b, err := json.MarshalIndent(makeVectors(t), "", "  ")
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, append(b, '\n'), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var file []vector
	if err := json.Unmarshal(b, &file); err != nil {
		t.Fatal(err)
	}
	want := makeVectors(t)
	if len(file) != len(want) {
		t.Fatalf("%d vectors in %s, want %d (run go test -update)", len(file), path, len(want))
	}
	audiences := map[string]bool{}
	for i, v := range file {
		if v != want[i] {
			t.Errorf("vector %d:\n%+v\nwant\n%+v", i, v, want[i])
		}
		audiences[v.Audience] = true
		seed, _ := base64.StdEncoding.DecodeString(v.Seed)
		priv := ed25519.NewKeyFromSeed(seed)
		pub, _ := base64.StdEncoding.DecodeString(v.PublicKey)
		if !bytes.Equal(priv.Public().(ed25519.PublicKey), pub) {
			t.Errorf("vector %d: publicKey is not the seed's", i)
		}
		ts, err := time.Parse(time.RFC3339Nano, v.SignTime)
		if err != nil {
			t.Fatalf("vector %d: %v", i, err)
		}
		sig, _ := base64.StdEncoding.DecodeString(v.Signature)
		a := &rallyv1.Announcement{
			Text:      v.Text,
			Audience:  rallyv1.AnnouncementAudience(rallyv1.AnnouncementAudience_value[v.Audience]),
			Signature: &rallyv1.AnnouncementSignature{SignTime: timestamppb.New(ts), Signature: sig},
		}
		msg, _ := announcesig.Message(v.Event, a)
		if hex.EncodeToString(msg) != v.Message {
			t.Errorf("vector %d: message differs", i)
		}
		if err := announcesig.Verify(pub, v.Event, a); err != nil {
			t.Errorf("vector %d: %v", i, err)
		}
		// Ed25519 is deterministic: the same key and message sign alike everywhere.
		if !bytes.Equal(ed25519.Sign(priv, msg), sig) {
			t.Errorf("vector %d: signature is not the deterministic one", i)
		}
	}
	for _, a := range []string{"ANNOUNCEMENT_AUDIENCE_UNSPECIFIED", "ANNOUNCEMENT_AUDIENCE_PUBLIC", "ANNOUNCEMENT_AUDIENCE_RSVP_HOLDERS"} {
		if !audiences[a] {
			t.Errorf("no vector with audience %s", a)
		}
	}
}
