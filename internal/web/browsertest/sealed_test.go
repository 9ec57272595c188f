package browsertest_test

// Issue 15 in the browser: participants' pages seal personal fields with WebCrypto to the
// campaign's organisers' keys (envelope.js), and the organiser console opens them with a
// key file kept in the browser as a non-extractable key.

import (
	"context"
	"crypto/ecdh"
	"crypto/ed25519"
	"crypto/hpke"
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"net/http/httptest"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc/metadata"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/encoding/protowire"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"

	rallyv1 "github.com/rallyhq/rally/gen/go/rally/v1"
	"github.com/rallyhq/rally/internal/envelope"
	"github.com/rallyhq/rally/internal/web"
	"github.com/rallyhq/rally/internal/web/browsertest"
)

const x25519Alg = rallyv1.KeyAlgorithm_KEY_ALGORITHM_HPKE_X25519

var b64url = base64.RawURLEncoding

// The fixed private key of internal/envelope's known-answer envelope
// (testdata/v1-x25519.json, sealed by Go): test data, not a secret.
const kaPrivateKey = "4f3c5d1e2b6a79880716253443526170f0e1d2c3b4a5968778695a4b3c2d1e0f"

// jsonLit writes v as a JavaScript literal (JSON is one).
func jsonLit(t *testing.T, v any) string {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func newX25519(t *testing.T) *ecdh.PrivateKey {
	t.Helper()
	k, err := ecdh.X25519().GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

func hpkeKey(t *testing.T, k *ecdh.PrivateKey) hpke.PrivateKey {
	t.Helper()
	kem, _ := envelope.KEM(x25519Alg)
	priv, err := kem.NewPrivateKey(k.Bytes())
	if err != nil {
		t.Fatal(err)
	}
	return priv
}

// cryptoPage is a page of the web client (the sign-in page: it calls no API) served by
// web.Handler alone, to run envelope.js in.
func cryptoPage(t *testing.T) *browsertest.Page {
	t.Helper()
	srv := httptest.NewServer(web.Handler())
	t.Cleanup(srv.Close)
	p := browsertest.Start(t).NewPage("crypto", browsertest.Desktop)
	p.Open(srv.URL + "/organise")
	return p
}

// The JavaScript envelope and Go's are one format, both ways: the browser opens the
// committed Go envelope, Go opens what the browser seals, fingerprints agree, and each
// way an envelope can fail to open gives its own message.
func TestEnvelopeJSMatchesGo(t *testing.T) {
	p := cryptoPage(t)
	const prelude = `const E = await import("/assets/envelope.js");
		const key = async (d, x, id) => ({ id, publicKey: E.fromBase64(x), privateKey: await E.importPrivateKey(E.fromBase64(d), E.fromBase64(x)) });
		const attempt = async (f) => { try { await f(); return "opened"; } catch (e) { return e.kind || String(e); } };`

	// Go → JS: the known answer.
	raw, _ := hex.DecodeString(kaPrivateKey)
	ka, err := ecdh.X25519().NewPrivateKey(raw)
	if err != nil {
		t.Fatal(err)
	}
	vector, err := os.ReadFile(filepath.Join("..", "..", "envelope", "testdata", "v1-x25519.json"))
	if err != nil {
		t.Fatal(err)
	}
	out := p.EvalAsync(`(async () => { ` + prelude + `
		const k = await key(` + jsonLit(t, b64url.EncodeToString(ka.Bytes())) + `, ` + jsonLit(t, b64url.EncodeToString(ka.PublicKey().Bytes())) + `, "kat");
		const fields = await E.open(` + string(vector) + `, "events/vigil-berlin/rsvps/abc123", [k]);
		return JSON.stringify({ fields, fingerprint: await E.fingerprint(E.X25519, k.publicKey), extractable: k.privateKey.extractable });
	})()`)
	var ko struct {
		Fields      map[string]string
		Fingerprint string
		Extractable bool
	}
	if err := json.Unmarshal([]byte(out), &ko); err != nil {
		t.Fatal(err)
	}
	want := map[string]string{"displayName": "Robin", "contact": "signal:robin.01", "note": "n", "proofUrl": "https://social.example/@robin/1"}
	for k, v := range want {
		if ko.Fields[k] != v {
			t.Errorf("known answer opened in the browser: %s = %q, want %q", k, ko.Fields[k], v)
		}
	}
	if fp := envelope.Fingerprint(x25519Alg, ka.PublicKey().Bytes()); ko.Fingerprint != fp {
		t.Errorf("fingerprint in the browser %q, in Go %q", ko.Fingerprint, fp)
	}
	if ko.Extractable {
		t.Error("the imported private key is extractable")
	}

	// JS → Go: sealed in the browser to two keys (and not to an ML-KEM hybrid, which
	// WebCrypto cannot do), opened in Go with each.
	k1, k2 := newX25519(t), newX25519(t)
	recipient := func(id string, alg rallyv1.KeyAlgorithm, pub []byte) map[string]string {
		return map[string]string{"key": id, "algorithm": alg.String(), "publicKey": base64.StdEncoding.EncodeToString(pub), "fingerprint": envelope.Fingerprint(alg, pub)}
	}
	hybrid := make([]byte, 1216)
	rand.Read(hybrid)
	keys := []map[string]string{
		recipient("k1", x25519Alg, k1.PublicKey().Bytes()),
		recipient("kh", rallyv1.KeyAlgorithm_KEY_ALGORITHM_HPKE_MLKEM768_X25519, hybrid),
		recipient("k2", x25519Alg, k2.PublicKey().Bytes()),
	}
	const resource = "events/vigil-berlin/rsvps/k5x2abcdefghijklmnopqrstuv"
	sent := map[string]string{"displayName": "Ару 🌈", "contact": "signal:aru.01"}
	sealed := p.EvalAsync(`(async () => { ` + prelude + `
		const to = await E.sealTo(` + jsonLit(t, keys) + `);
		return JSON.stringify(await E.seal(` + jsonLit(t, sent) + `, to, ` + jsonLit(t, resource) + `));
	})()`)
	env := new(rallyv1.Envelope)
	if err := protojson.Unmarshal([]byte(sealed), env); err != nil {
		t.Fatalf("the browser's envelope is not an Envelope: %v\n%s", err, sealed)
	}
	if env.GetVersion() != 1 || env.GetResource() != resource || len(env.GetRecipients()) != 2 || len(env.GetNonce()) != 12 {
		t.Fatalf("the browser's envelope: %v", env)
	}
	for _, r := range env.GetRecipients() {
		if len(r.GetEnc()) != 32 || len(r.GetSealedKey()) != 48 {
			t.Errorf("recipient %s: enc %d bytes, sealed key %d", r.GetKey(), len(r.GetEnc()), len(r.GetSealedKey()))
		}
	}
	for id, k := range map[string]*ecdh.PrivateKey{"k1": k1, "k2": k2} {
		got, err := envelope.Open(env, id, hpkeKey(t, k), resource)
		if err != nil {
			t.Fatalf("Go opening the browser's envelope with %s: %v", id, err)
		}
		if got.GetDisplayName() != sent["displayName"] || got.GetContact() != sent["contact"] || got.GetNote() != "" || got.GetProofUrl() != "" {
			t.Errorf("Go opened %v with %s", got, id)
		}
	}
	if _, err := envelope.Open(env, "k1", hpkeKey(t, k1), resource+"x"); err == nil {
		t.Error("the browser's envelope opens for another record")
	}

	// A server whose fingerprint is not its key's: nothing is sealed.
	bad := []map[string]string{recipient("k1", x25519Alg, k1.PublicKey().Bytes())}
	bad[0]["fingerprint"] = envelope.Fingerprint(x25519Alg, k2.PublicKey().Bytes())
	if got := p.EvalAsync(`(async () => { ` + prelude + `
		return attempt(() => E.sealTo(` + jsonLit(t, bad) + `)).then((r) => r === "opened" ? "sealed" : r);
	})()`); !strings.Contains(got, "fingerprint") {
		t.Errorf("sealing to a key whose fingerprint disagrees: %q, want it refused", got)
	}

	// Go → JS with an encoding the browser's encoder never writes (unknown fields, a field
	// given twice), and every way of not opening.
	fields := &rallyv1.SealedFields{DisplayName: "first", Contact: "c", Note: "a note", ProofUrl: "https://example.org/p"}
	var unknown []byte
	unknown = protowire.AppendTag(unknown, 9, protowire.VarintType)
	unknown = protowire.AppendVarint(unknown, 300)
	unknown = protowire.AppendTag(unknown, 10, protowire.Fixed64Type)
	unknown = protowire.AppendFixed64(unknown, 7)
	unknown = protowire.AppendTag(unknown, 1, protowire.BytesType)
	unknown = protowire.AppendString(unknown, "Robin") // a repeated field: the last one counts
	fields.ProtoReflect().SetUnknown(unknown)
	env, err = envelope.Seal(fields, []envelope.Recipient{
		{Key: "k1", Algorithm: x25519Alg, PublicKey: k1.PublicKey().Bytes()},
	}, resource)
	if err != nil {
		t.Fatal(err)
	}
	goEnv, _ := protojson.Marshal(env)
	k3 := newX25519(t)
	lit := func(k *ecdh.PrivateKey) string {
		return jsonLit(t, b64url.EncodeToString(k.Bytes())) + ", " + jsonLit(t, b64url.EncodeToString(k.PublicKey().Bytes()))
	}
	out = p.EvalAsync(`(async () => { ` + prelude + `
		const env = ` + string(goEnv) + `, res = ` + jsonLit(t, resource) + `;
		const right = await key(` + lit(k1) + `, "k1"), wrong = await key(` + lit(k3) + `, "k1"), other = await key(` + lit(k3) + `, "k3");
		const flip = (s, i) => { const b = E.fromBase64(s); b[i] ^= 1; return E.toBase64(b); };
		const cases = {
			right: () => E.open(env, res, [other, right]),
			wrongKey: () => E.open(env, res, [wrong]),
			notRecipient: () => E.open(env, res, [other]),
			otherRecord: () => E.open(env, res + "x", [right]),
			resourceRewritten: () => E.open({ ...env, resource: res + "x" }, res + "x", [right]),
			tamperedCiphertext: () => E.open({ ...env, ciphertext: flip(env.ciphertext, 3) }, res, [right]),
			tamperedNonce: () => E.open({ ...env, nonce: flip(env.nonce, 0) }, res, [right]),
			tamperedSealedKey: () => E.open({ ...env, recipients: [{ ...env.recipients[0], sealedKey: flip(env.recipients[0].sealedKey, 5) }] }, res, [right]),
			tamperedEnc: () => E.open({ ...env, recipients: [{ ...env.recipients[0], enc: flip(env.recipients[0].enc, 5) }] }, res, [right]),
			version: () => E.open({ ...env, version: 2 }, res, [right]),
		};
		const got = {};
		for (const [k, f] of Object.entries(cases)) got[k] = await attempt(f);
		got.fields = await E.open(env, res, [right]);
		got.ids = Array.from({ length: 50 }, () => E.randomId());
		return JSON.stringify(got);
	})()`)
	var cases struct {
		Right, WrongKey, NotRecipient, OtherRecord, ResourceRewritten, TamperedCiphertext, TamperedNonce, TamperedSealedKey, TamperedEnc, Version string
		Fields                                                                                                                                    map[string]string
		IDs                                                                                                                                       []string
	}
	if err := json.Unmarshal([]byte(out), &cases); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct{ name, got, want string }{
		{"the right key", cases.Right, "opened"},
		{"another private key under the recipient's ID", cases.WrongKey, "wrong-key"},
		{"a key it is not sealed to", cases.NotRecipient, "not-recipient"},
		{"read from another record", cases.OtherRecord, "other-record"},
		{"moved, with its resource rewritten", cases.ResourceRewritten, "wrong-key"},
		{"a changed ciphertext byte", cases.TamperedCiphertext, "tampered"},
		{"a changed nonce byte", cases.TamperedNonce, "tampered"},
		{"a changed sealed key byte", cases.TamperedSealedKey, "wrong-key"},
		{"a changed enc byte", cases.TamperedEnc, "wrong-key"},
		{"version 2", cases.Version, "version"},
	} {
		if c.got != c.want {
			t.Errorf("%s: %s, want %s", c.name, c.got, c.want)
		}
	}
	if f := cases.Fields; f["displayName"] != "Robin" || f["contact"] != "c" || f["note"] != "a note" || f["proofUrl"] != "https://example.org/p" {
		t.Errorf("the browser opened %v", f)
	}
	seen := map[string]bool{}
	for _, id := range cases.IDs {
		if !regexp.MustCompile(`^[a-z2-7]{26}$`).MatchString(id) || seen[id] {
			t.Errorf("random ID %q", id)
		}
		seen[id] = true
	}
}

// organiser is one organiser with an API token, acting through gRPC.
type organiser struct {
	name, secret string
	ctx          context.Context
	orgs         rallyv1.OrganiserServiceClient
}

func (r rally) organiser(t *testing.T, display string) organiser {
	t.Helper()
	orgs := rallyv1.NewOrganiserServiceClient(r.conn)
	o, err := orgs.CreateOrganiser(r.admin, &rallyv1.CreateOrganiserRequest{Organiser: &rallyv1.Organiser{DisplayName: display}})
	if err != nil {
		t.Fatal(err)
	}
	tok, err := orgs.CreateApiToken(r.admin, &rallyv1.CreateApiTokenRequest{Parent: o.GetName(), ApiToken: &rallyv1.ApiToken{DisplayName: "laptop"}})
	if err != nil {
		t.Fatal(err)
	}
	ctx := metadata.AppendToOutgoingContext(t.Context(), "authorization", "Bearer "+tok.GetSecret())
	return organiser{o.GetName(), tok.GetSecret(), ctx, orgs}
}

// campaign creates a campaign that o owns, with an event in 2030.
func (r rally) ownCampaign(t *testing.T, o organiser, id, eventID string) string {
	t.Helper()
	c, err := r.campaigns.CreateCampaign(o.ctx, &rallyv1.CreateCampaignRequest{CampaignId: id, Campaign: &rallyv1.Campaign{Title: "Solidarity with LGBTI people in Kazakhstan"}})
	if err != nil {
		t.Fatalf("create campaign: %v", err)
	}
	r.event(t, c.GetName(), eventID, "Vigil at the Embassy of Kazakhstan", "Berlin", "DE", 20)
	return c.GetName()
}

// key is an X25519 key pair registered for an organiser.
type key struct {
	name, id, fingerprint string
	priv                  *ecdh.PrivateKey
}

func (o organiser) register(t *testing.T) key {
	t.Helper()
	priv := newX25519(t)
	k, err := o.orgs.CreateOrganiserKey(o.ctx, &rallyv1.CreateOrganiserKeyRequest{Parent: "organisers/me",
		OrganiserKey: &rallyv1.OrganiserKey{Algorithm: x25519Alg, PublicKey: priv.PublicKey().Bytes()}})
	if err != nil {
		t.Fatalf("register a key: %v", err)
	}
	return key{k.GetName(), k.GetName()[strings.LastIndex(k.GetName(), "/")+1:], k.GetFingerprint(), priv}
}

// keyFile writes a key file as `rally keys create` does, holding priv under name.
func keyFile(t *testing.T, name string, priv *ecdh.PrivateKey) string {
	t.Helper()
	b, _ := json.MarshalIndent(map[string]any{"keys": []map[string]string{{
		"name": name, "algorithm": x25519Alg.String(),
		"publicKey": b64url.EncodeToString(priv.PublicKey().Bytes()), "privateKey": b64url.EncodeToString(priv.Bytes()),
	}}}, "", "  ")
	path := filepath.Join(t.TempDir(), "rally-keys.json")
	if err := os.WriteFile(path, b, 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// signIn signs the console in with o's token.
func signIn(p *browsertest.Page, base string, o organiser) {
	p.Open(base + "/organise")
	p.Fill("#org-token", o.secret)
	p.Click(`main form button[type="submit"]`)
	p.WaitVisible("#keys")
}

// storedKeys describes the keys the console keeps in IndexedDB.
func storedKeys(p *browsertest.Page) string {
	return p.EvalAsync(`new Promise((resolve, reject) => {
		const req = indexedDB.open("rally-keys", 1);
		req.onupgradeneeded = () => req.result.createObjectStore("keys", { keyPath: "id" });
		req.onerror = () => reject(req.error);
		req.onsuccess = () => {
			const get = req.result.transaction("keys").objectStore("keys").getAll();
			get.onsuccess = () => { req.result.close(); resolve(JSON.stringify(get.result.map((k) => ({
				id: k.id, type: k.privateKey.type, extractable: k.privateKey.extractable, usages: k.privateKey.usages })))); };
		};
	})`)
}

// noSecretInStorage fails if a private key shows in the page's localStorage or
// sessionStorage.
func noSecretInStorage(t *testing.T, p *browsertest.Page, priv *ecdh.PrivateKey) {
	t.Helper()
	all := p.Eval(`JSON.stringify(localStorage) + JSON.stringify(sessionStorage)`)
	for _, enc := range []*base64.Encoding{base64.RawURLEncoding, base64.StdEncoding} {
		if s := enc.EncodeToString(priv.Bytes()); strings.Contains(all, strings.TrimRight(s, "=")) {
			t.Errorf("the private key is in web storage: %s", all)
		}
	}
}

// rsvpRow is the selector of a cell of an RSVP's row in the console.
func rsvpRow(name, cell string) string {
	return `tr[data-rsvp="` + name[strings.LastIndex(name, "/")+1:] + `"] ` + cell
}

// End to end: a participant RSVPs in Chromium with a name and contact; the server stores
// an envelope and no plain field; the organiser's console, once it has imported the key
// file, shows them, at check-in too, and keeps the key across reloads until forgotten.
func TestSealedRSVPOpensInConsole(t *testing.T) {
	r := startRally(t)
	alice := r.organiser(t, "Alice")
	r.ownCampaign(t, alice, "kz-solidarity", "vigil-berlin")
	k := alice.register(t)
	b := browsertest.Start(t)

	participant := b.NewPage("participant", browsertest.Phone)
	participant.Open(r.base + "/e/vigil-berlin")
	participant.WaitText("#rsvp-sealed-to", regexp.MustCompile(`sealed on this device to the organisers' key: `+k.fingerprint+`\. Compare`))
	participant.Fill("#rsvp-name", "Aru")
	participant.Fill("#rsvp-contact", "signal:aru.01")
	if got := participant.Eval(`String(document.getElementById("rsvp-clear-notice").hidden)`); got != "true" {
		t.Error("the stored-in-clear notice shows for a campaign with a key")
	}
	participant.Click("#rsvp-submit")
	participant.WaitText("#my-rsvp-state", re(`^Going\. \(as Aru\)$`))

	rsvps := rallyv1.NewRsvpServiceClient(r.conn)
	list, err := rsvps.ListRsvps(alice.ctx, &rallyv1.ListRsvpsRequest{Parent: "events/vigil-berlin"})
	if err != nil || len(list.GetRsvps()) != 1 {
		t.Fatalf("ListRsvps: %v, %v", list, err)
	}
	stored := list.GetRsvps()[0]
	if stored.GetDisplayName() != "" || stored.GetContact() != "" || stored.GetEnvelope() == nil {
		t.Fatalf("stored RSVP: name %q, contact %q, envelope %v: want only an envelope", stored.GetDisplayName(), stored.GetContact(), stored.GetEnvelope())
	}
	if !re(`^events/vigil-berlin/rsvps/[a-z2-7]{26}$`).MatchString(stored.GetName()) {
		t.Errorf("RSVP name %q: the browser chooses 26 base32 characters", stored.GetName())
	}
	fields, err := envelope.Open(stored.GetEnvelope(), k.id, hpkeKey(t, k.priv), stored.GetName())
	if err != nil || fields.GetDisplayName() != "Aru" || fields.GetContact() != "signal:aru.01" {
		t.Fatalf("the stored envelope opens in Go to %v, %v", fields, err)
	}

	console := b.NewPage("organiser", browsertest.Desktop)
	signIn(console, r.base, alice)
	console.WaitText("#key-registered", regexp.MustCompile(k.fingerprint))
	console.WaitVisible("#key-none")
	if got := console.Eval(`String(document.getElementById("key-setup"))`); got != "null" {
		t.Error("an organiser with a key is asked to create one")
	}
	console.SetFiles("#key-file", keyFile(t, k.name, k.priv))
	console.WaitText("#key-loaded", regexp.MustCompile(`Loaded in this browser: `+k.fingerprint))
	console.Click("#rsvps-vigil-berlin > summary")
	console.WaitText(rsvpRow(stored.GetName(), ".p-displayName"), re(`^Aru$`))
	console.WaitText(rsvpRow(stored.GetName(), ".p-contact"), re(`^signal:aru\.01$`))
	console.WaitText(rsvpRow(stored.GetName(), ".p-kept"), re(`^Sealed$`))

	// At check-in, the name stays shown.
	console.Click(rsvpRow(stored.GetName(), ".check-in"))
	console.WaitText(rsvpRow(stored.GetName(), ".p-checked-in"), re(`^yes$`))
	console.WaitText(rsvpRow(stored.GetName(), ".p-displayName"), re(`^Aru$`))

	// The private key is kept in IndexedDB, not extractable, and nowhere in web storage.
	if got, want := storedKeys(console), `[{"id":"`+k.id+`","type":"private","extractable":false,"usages":["deriveBits"]}]`; got != want {
		t.Errorf("IndexedDB holds %s, want %s", got, want)
	}
	noSecretInStorage(t, console, k.priv)

	// Kept across a reload; gone once forgotten.
	console.Open(r.base + "/organise")
	console.WaitText("#key-loaded", regexp.MustCompile(k.fingerprint))
	console.Click("#rsvps-vigil-berlin > summary")
	console.WaitText(rsvpRow(stored.GetName(), ".p-contact"), re(`^signal:aru\.01$`))
	console.Click("#key-forget")
	console.WaitVisible("#key-none")
	console.WaitText(rsvpRow(stored.GetName(), ".p-message"), re(`^Sealed: import your key file to read it\.$`))
	if got := storedKeys(console); got != "[]" {
		t.Errorf("IndexedDB holds %s after forgetting", got)
	}
}

// A wrong key opens nothing and says so, row by row; a tampered envelope says it was
// tampered with; an RSVP stored in clear (before the campaign had keys) shows, marked.
func TestConsoleRefusesWrongKeyAndTampering(t *testing.T) {
	r := startRally(t)
	alice, bob := r.organiser(t, "Alice"), r.organiser(t, "Bob")
	r.ownCampaign(t, alice, "kz-solidarity", "vigil-berlin")
	rsvps := rallyv1.NewRsvpServiceClient(r.conn)
	anon := t.Context()

	clear, err := rsvps.CreateRsvp(anon, &rallyv1.CreateRsvpRequest{Parent: "events/vigil-berlin", Rsvp: &rallyv1.Rsvp{DisplayName: "Dana", Contact: "dana@example.org"}})
	if err != nil {
		t.Fatal(err)
	}
	k, bobKey := alice.register(t), bob.register(t)
	sealedRsvp := func(id string, tamper bool) string {
		t.Helper()
		name := "events/vigil-berlin/rsvps/" + id
		env, err := envelope.Seal(&rallyv1.SealedFields{DisplayName: "Aru", Contact: "signal:aru.01"},
			[]envelope.Recipient{{Key: k.id, Algorithm: x25519Alg, PublicKey: k.priv.PublicKey().Bytes()}}, name)
		if err != nil {
			t.Fatal(err)
		}
		if tamper {
			env.Ciphertext[2] ^= 1 // the server cannot tell: it never reads the contents
		}
		res, err := rsvps.CreateRsvp(anon, &rallyv1.CreateRsvpRequest{Parent: "events/vigil-berlin", RsvpId: id, Rsvp: &rallyv1.Rsvp{Envelope: env}})
		if err != nil {
			t.Fatalf("CreateRsvp with an envelope: %v", err)
		}
		if res.GetRsvp().GetName() != name {
			t.Fatalf("CreateRsvp named it %s, want %s", res.GetRsvp().GetName(), name)
		}
		return name
	}
	good := sealedRsvp("aaaaaaaaaaaaaaaaaaaaaaaaa2", false)
	tampered := sealedRsvp("aaaaaaaaaaaaaaaaaaaaaaaaa3", true)

	b := browsertest.Start(t)
	console := b.NewPage("organiser", browsertest.Desktop)
	signIn(console, r.base, alice)
	console.Click("#rsvps-vigil-berlin > summary")
	console.WaitText(rsvpRow(clear.GetRsvp().GetName(), ".p-displayName"), re(`^Dana$`))
	console.WaitText(rsvpRow(clear.GetRsvp().GetName(), ".p-contact"), re(`^dana@example\.org$`))
	console.WaitText(rsvpRow(clear.GetRsvp().GetName(), ".p-kept"), re(`^Stored in clear$`))
	console.WaitText(rsvpRow(good, ".p-message"), re(`^Sealed: import your key file`))

	// Another private key under Alice's key ID.
	console.SetFiles("#key-file", keyFile(t, k.name, newX25519(t)))
	console.WaitVisible("#key-loaded")
	for _, name := range []string{good, tampered} {
		console.WaitText(rsvpRow(name, ".p-message"), re(`^Does not open with your key: the key file is not the one this was sealed to, or the envelope was tampered with\.$`))
		console.WaitText(rsvpRow(name, ".p-kept"), re(`^Not opened$`))
	}
	console.WaitText(rsvpRow(clear.GetRsvp().GetName(), ".p-contact"), re(`^dana@example\.org$`))

	// Bob's key, which nothing here is sealed to.
	console.Click("#key-forget")
	console.WaitVisible("#key-none")
	console.SetFiles("#key-file", keyFile(t, bobKey.name, bobKey.priv))
	console.WaitText("#key-loaded", regexp.MustCompile(bobKey.fingerprint))
	console.WaitText(rsvpRow(good, ".p-message"), re(`^Not sealed to your key: it was sealed to other organisers' keys, or before your key was registered\.$`))

	// Alice's own key: the good one opens, the tampered one says so, and the page holds.
	console.Click("#key-forget")
	console.WaitVisible("#key-none")
	console.SetFiles("#key-file", keyFile(t, k.name, k.priv))
	console.WaitText("#key-loaded", regexp.MustCompile(k.fingerprint))
	console.WaitText(rsvpRow(good, ".p-contact"), re(`^signal:aru\.01$`))
	console.WaitText(rsvpRow(tampered, ".p-message"), re(`^Tampered with: the sealed fields fail their integrity check, and are not shown\.$`))
	console.WaitText(rsvpRow(clear.GetRsvp().GetName(), ".p-displayName"), re(`^Dana$`))

	// A file that is not a key file is refused, and the key loaded stays.
	bad := filepath.Join(t.TempDir(), "notes.json")
	os.WriteFile(bad, []byte(`{"keys": []}`), 0o600)
	console.SetFiles("#key-file", bad)
	console.WaitText("#key-error", re(`holds no X25519 key`))
	console.WaitText("#key-loaded", regexp.MustCompile(k.fingerprint))
}

// A campaign without keys: the event page says, before sending, that a name or contact
// would be stored in clear, and the participant can still send; so does the tasks page.
func TestNoKeysSaysStoredInClear(t *testing.T) {
	r := startRally(t)
	alice := r.organiser(t, "Alice")
	campaign := r.ownCampaign(t, alice, "kz-solidarity", "vigil-berlin")
	b := browsertest.Start(t)

	p := b.NewPage("participant", browsertest.Phone)
	p.Open(r.base + "/e/vigil-berlin")
	p.WaitVisible("#rsvp-form")
	hidden := func(sel string) string {
		return p.Eval(`String(document.querySelector(` + jsonLit(t, sel) + `).hidden)`)
	}
	if hidden("#rsvp-clear-notice") != "true" || hidden("#rsvp-sealed-to") != "true" {
		t.Error("with nothing typed, the page speaks of sealing or of storing in clear")
	}
	const notice = `would be stored in clear on the server: anyone who gets a copy of its data`
	p.Fill("#rsvp-name", "Aru")
	p.WaitText("#rsvp-clear-notice", regexp.MustCompile(`^The organisers of this campaign have not set up a key yet, so your name and contact `+notice))
	p.Fill("#rsvp-name", "")
	// Fill empties a field without an input event; deleting by hand fires one.
	p.Eval(`(document.getElementById("rsvp-name").dispatchEvent(new Event("input", { bubbles: true })), "")`)
	if hidden("#rsvp-clear-notice") != "true" {
		t.Error("the notice stays once the fields are empty again")
	}
	p.Fill("#rsvp-contact", "signal:aru.01")
	p.WaitText("#rsvp-clear-notice", regexp.MustCompile(notice))
	p.Click("#rsvp-submit")
	p.WaitText("#my-rsvp-state", re(`^Going\.$`))

	list, err := rallyv1.NewRsvpServiceClient(r.conn).ListRsvps(alice.ctx, &rallyv1.ListRsvpsRequest{Parent: "events/vigil-berlin"})
	if err != nil || len(list.GetRsvps()) != 1 || list.GetRsvps()[0].GetContact() != "signal:aru.01" || list.GetRsvps()[0].GetEnvelope() != nil {
		t.Fatalf("ListRsvps: %v, %v: want the contact in clear, as the page said", list, err)
	}

	task, err := rallyv1.NewTaskServiceClient(r.conn).CreateTask(alice.ctx, &rallyv1.CreateTaskRequest{Task: &rallyv1.Task{
		Campaign: campaign, Kind: rallyv1.TaskKind_TASK_KIND_SHARE_POST, Title: "Share the statement",
		Deadline: timestamppb.New(time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC))}})
	if err != nil {
		t.Fatal(err)
	}
	tid := task.GetName()[len("tasks/"):]
	p.Open(r.base + "/t/kz-solidarity")
	card := `[data-task="` + tid + `"] `
	p.Fill("#claim-name-"+tid, "Aru")
	p.WaitText(card+".clear-notice", regexp.MustCompile(`your name `+notice))
	p.Click(card + `form button[type="submit"]`)
	p.WaitVisible("#note-" + tid)
	p.Fill("#note-"+tid, "posted from my cousin's account")
	p.WaitText(card+".clear-notice", regexp.MustCompile(`your link and note `+notice))
}

// A task's claim and its completion are sealed in the browser; the console's claims list
// opens the name, link and note.
func TestSealedClaimOpensInConsole(t *testing.T) {
	r := startRally(t)
	alice := r.organiser(t, "Alice")
	campaign := r.ownCampaign(t, alice, "kz-solidarity", "vigil-berlin")
	k := alice.register(t)
	tasks := rallyv1.NewTaskServiceClient(r.conn)
	task, err := tasks.CreateTask(alice.ctx, &rallyv1.CreateTaskRequest{Task: &rallyv1.Task{
		Campaign: campaign, Kind: rallyv1.TaskKind_TASK_KIND_SHARE_POST, Title: "Share the statement",
		Deadline: timestamppb.New(time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC))}})
	if err != nil {
		t.Fatal(err)
	}
	tid := task.GetName()[len("tasks/"):]
	b := browsertest.Start(t)

	p := b.NewPage("volunteer", browsertest.Phone)
	p.Open(r.base + "/t/kz-solidarity")
	p.WaitText("#tasks-sealed-to", regexp.MustCompile(k.fingerprint))
	card := `[data-task="` + tid + `"] `
	p.Fill("#claim-name-"+tid, "Aru")
	p.Click(card + `form button[type="submit"]`)
	// A sealed link the server cannot check is checked here.
	p.Fill("#proof-"+tid, "http://example.org/post")
	p.Click(card + `form button[type="submit"]`)
	p.WaitText(card+".error", re(`^Link to your work: must be a link starting with https://`))
	p.Fill("#proof-"+tid, "https://example.org/post/1")
	p.Fill("#note-"+tid, "posted from my cousin's account")
	p.Click(card + `form button[type="submit"]`)
	p.WaitText(card+".claim p", re(`^You completed this task\. Thank you!$`))

	list, err := tasks.ListClaims(alice.ctx, &rallyv1.ListClaimsRequest{Parent: task.GetName()})
	if err != nil || len(list.GetClaims()) != 1 {
		t.Fatalf("ListClaims: %v, %v", list, err)
	}
	c := list.GetClaims()[0]
	if c.GetDisplayName() != "" || c.GetNote() != "" || c.GetProofUrl() != "" || c.GetEnvelope() == nil || c.GetCompletionEnvelope() == nil {
		t.Fatalf("stored claim %v: want envelopes only", c)
	}
	for _, env := range []*rallyv1.Envelope{c.GetEnvelope(), c.GetCompletionEnvelope()} {
		if _, err := envelope.Open(env, k.id, hpkeKey(t, k.priv), c.GetName()); err != nil {
			t.Errorf("Go opening the claim's envelope: %v", err)
		}
	}

	console := b.NewPage("organiser", browsertest.Desktop)
	signIn(console, r.base, alice)
	console.SetFiles("#key-file", keyFile(t, k.name, k.priv))
	console.WaitVisible("#key-loaded")
	console.Click("#claims-" + tid + " > summary")
	row := `tr[data-claim="` + c.GetName()[strings.LastIndex(c.GetName(), "/")+1:] + `"] `
	console.WaitText(row+".p-displayName", re(`^Aru$`))
	console.WaitText(row+".p-proofUrl a", re(`^https://example\.org/post/1$`))
	console.WaitText(row+".p-note", re(`^posted from my cousin's account$`))
	console.WaitText(row+".p-kept", re(`^Sealed$`))
}

// First sign-in without a key: creating one is the next step. The console makes the key
// pairs, registers their public halves, hands over the key file in the CLI's format (which
// opens what is sealed to the key), and keeps only a non-extractable copy.
func TestFirstSignInCreatesKey(t *testing.T) {
	r := startRally(t)
	bob := r.organiser(t, "Bob")
	b := browsertest.Start(t)
	console := b.NewPage("organiser", browsertest.Desktop)
	signIn(console, r.base, bob)
	console.WaitText("#key-setup", re(`^First, create your key\.`))
	console.Click("#key-create")
	file := console.Download("#key-download")

	var kf struct {
		Keys []struct{ Name, Algorithm, PublicKey, PrivateKey string }
	}
	if err := json.Unmarshal(file, &kf); err != nil {
		t.Fatalf("the key file is not JSON: %v\n%s", err, file)
	}
	if !strings.HasPrefix(string(file), "{\n  \"keys\": [\n    {\n      \"name\": ") || !strings.HasSuffix(string(file), "}\n") {
		t.Errorf("the key file is not written as the CLI writes it:\n%s", file)
	}
	registered, err := bob.orgs.ListOrganiserKeys(bob.ctx, &rallyv1.ListOrganiserKeysRequest{Parent: "organisers/me"})
	if err != nil {
		t.Fatal(err)
	}
	byName := map[string]*rallyv1.OrganiserKey{}
	for _, k := range registered.GetOrganiserKeys() {
		byName[k.GetName()] = k
	}
	if len(kf.Keys) != 2 || len(byName) != 2 {
		t.Fatalf("key file %s, registered %v: want an X25519 and an Ed25519 key, both registered", file, registered)
	}
	var x25519Key *ecdh.PrivateKey
	var x25519Name string
	for _, k := range kf.Keys {
		reg := byName[k.Name]
		pub, err1 := b64url.DecodeString(k.PublicKey)
		priv, err2 := b64url.DecodeString(k.PrivateKey)
		if reg == nil || err1 != nil || err2 != nil || reg.GetAlgorithm().String() != k.Algorithm || string(reg.GetPublicKey()) != string(pub) {
			t.Fatalf("key file entry %+v does not match a registered key (%v %v)", k, err1, err2)
		}
		switch k.Algorithm {
		case x25519Alg.String():
			x25519Key, err = ecdh.X25519().NewPrivateKey(priv)
			if err != nil || string(x25519Key.PublicKey().Bytes()) != string(pub) {
				t.Fatalf("the X25519 private key does not give its public key: %v", err)
			}
			x25519Name = k.Name
		case rallyv1.KeyAlgorithm_KEY_ALGORITHM_ED25519.String():
			if len(priv) != ed25519.SeedSize || string(ed25519.NewKeyFromSeed(priv).Public().(ed25519.PublicKey)) != string(pub) {
				t.Fatalf("the Ed25519 seed does not give its public key")
			}
		default:
			t.Fatalf("key file algorithm %q", k.Algorithm)
		}
	}
	// What is sealed to the registered key opens with the file, as rally rsvps list --key
	// opens it.
	id := x25519Name[strings.LastIndex(x25519Name, "/")+1:]
	env, err := envelope.Seal(&rallyv1.SealedFields{Contact: "signal:aru.01"}, []envelope.Recipient{{Key: id, Algorithm: x25519Alg, PublicKey: byName[x25519Name].GetPublicKey()}}, "events/e/rsvps/r")
	if err != nil {
		t.Fatal(err)
	}
	if got, err := envelope.Open(env, id, hpkeKey(t, x25519Key), "events/e/rsvps/r"); err != nil || !proto.Equal(got, &rallyv1.SealedFields{Contact: "signal:aru.01"}) {
		t.Fatalf("the downloaded key file opens %v, %v", got, err)
	}

	console.Click("#key-saved")
	console.WaitText("#key-loaded", regexp.MustCompile(byName[x25519Name].GetFingerprint()))
	console.WaitText("#key-registered", regexp.MustCompile(byName[x25519Name].GetFingerprint()))
	if got := console.Eval(`String(document.getElementById("key-setup") || document.getElementById("key-download"))`); got != "null" {
		t.Errorf("after saving, the console still offers to create or download a key (%s)", got)
	}
	if got, want := storedKeys(console), `[{"id":"`+id+`","type":"private","extractable":false,"usages":["deriveBits"]}]`; got != want {
		t.Errorf("IndexedDB holds %s, want %s", got, want)
	}
	noSecretInStorage(t, console, x25519Key)
	// The campaign pages now seal to it.
	c, err := r.campaigns.CreateCampaign(bob.ctx, &rallyv1.CreateCampaignRequest{Campaign: &rallyv1.Campaign{Title: "Bob's"}})
	if err != nil {
		t.Fatal(err)
	}
	c, err = r.campaigns.GetCampaign(t.Context(), &rallyv1.GetCampaignRequest{Name: c.GetName()})
	if err != nil || len(c.GetRecipientKeys()) != 1 || c.GetRecipientKeys()[0].GetKey() != id {
		t.Fatalf("campaign recipient keys: %v, %v", c.GetRecipientKeys(), err)
	}
}

// Keys that change between loading the event page and sending (a key revoked, another
// registered) are not sealed to silently: the page shows the new fingerprint, asks to
// compare it, and the next send seals to the new key.
func TestKeysChangedBeforeSending(t *testing.T) {
	r := startRally(t)
	alice := r.organiser(t, "Alice")
	r.ownCampaign(t, alice, "kz-solidarity", "vigil-berlin")
	old := alice.register(t)
	b := browsertest.Start(t)
	p := b.NewPage("participant", browsertest.Phone)
	p.Open(r.base + "/e/vigil-berlin")
	p.WaitText("#rsvp-sealed-to", regexp.MustCompile(old.fingerprint))

	if _, err := alice.orgs.RevokeOrganiserKey(alice.ctx, &rallyv1.RevokeOrganiserKeyRequest{Name: old.name}); err != nil {
		t.Fatal(err)
	}
	k := alice.register(t)
	p.Fill("#rsvp-name", "Aru")
	p.Click("#rsvp-submit")
	p.WaitText("#form-error", re(`^The organisers' keys have changed since this page was opened\. Compare them again, then send again\.$`))
	p.WaitText("#rsvp-sealed-to", regexp.MustCompile(`key: `+k.fingerprint+`\.`))
	p.Click("#rsvp-submit")
	p.WaitText("#my-rsvp-state", re(`^Going\. \(as Aru\)$`))

	list, err := rallyv1.NewRsvpServiceClient(r.conn).ListRsvps(alice.ctx, &rallyv1.ListRsvpsRequest{Parent: "events/vigil-berlin"})
	if err != nil || len(list.GetRsvps()) != 1 {
		t.Fatalf("ListRsvps: %v, %v", list, err)
	}
	got := list.GetRsvps()[0]
	if f, err := envelope.Open(got.GetEnvelope(), k.id, hpkeKey(t, k.priv), got.GetName()); err != nil || f.GetDisplayName() != "Aru" {
		t.Fatalf("the RSVP opens with the new key to %v, %v", f, err)
	}
}
