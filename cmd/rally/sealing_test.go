package main

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/protobuf/encoding/protojson"

	rallyv1 "github.com/rallyhq/rally/gen/go/rally/v1"
	"github.com/rallyhq/rally/internal/envelope"
)

// tap forwards TCP connections to a server and records every byte that clients send, to
// check what crossed the wire: gRPC without TLS carries the messages' strings as they are.
type tap struct {
	addr string
	mu   sync.Mutex
	sent bytes.Buffer
}

func (tp *tap) Write(b []byte) (int, error) {
	tp.mu.Lock()
	defer tp.mu.Unlock()
	return tp.sent.Write(b)
}

func (tp *tap) saw(s string) bool {
	tp.mu.Lock()
	defer tp.mu.Unlock()
	return bytes.Contains(tp.sent.Bytes(), []byte(s))
}

func startTap(t *testing.T, server string) *tap {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	tp := &tap{addr: l.Addr().String()}
	go func() {
		for {
			in, err := l.Accept()
			if err != nil {
				return
			}
			out, err := net.Dial("tcp", server)
			if err != nil {
				in.Close()
				continue
			}
			go func() { io.Copy(out, io.TeeReader(in, tp)); out.Close() }()
			go func() { io.Copy(in, out); in.Close() }()
		}
	}()
	return tp
}

// organiserWithKey returns an organiser logged in as id, with a registered key file, its
// path and its X25519 key's fingerprint.
func organiserWithKey(t *testing.T, server, id string) (*user, string, string) {
	t.Helper()
	org := newOrganiser(t, server, id)
	path := filepath.Join(t.TempDir(), id+".keys")
	org.ok("keys", "create", "--out", path)
	f := must(readKeyFile(path))
	pub, _ := b64.DecodeString(f.Keys[0].PublicKey)
	return org, path, envelope.Fingerprint(rallyv1.KeyAlgorithm_KEY_ALGORITHM_HPKE_X25519, pub)
}

// apiClient is a gRPC connection to server that sends token, if any: for what the CLI
// does not do, such as sending a tampered envelope.
func apiClient(t *testing.T, server, token string) *grpc.ClientConn {
	t.Helper()
	opts := []grpc.DialOption{grpc.WithTransportCredentials(insecure.NewCredentials())}
	if token != "" {
		opts = append(opts, grpc.WithPerRPCCredentials(bearer(token)))
	}
	conn, err := grpc.NewClient(server, opts...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	return conn
}

// TestSealedRsvps: a participant's pseudonym and contact are sealed by rally rsvp create
// to the organisers' key, never cross the wire in clear, are stored as an envelope, and
// open only with the organiser's key file.
func TestSealedRsvps(t *testing.T) {
	server := startRallyd(t, noCreateLimit)
	org, keyPath, fingerprint := organiserWithKey(t, server, "berlin-group")
	org.ok("campaigns", "create", "--title", "Solidarity", "--id", "kz-berlin")
	createEvent(org, "vigil", "--campaign", "kz-berlin")
	wire := startTap(t, server)

	// The participant seals on their computer, and is shown the fingerprint.
	p := newUser(t, wire.addr) // all of the participant's calls go through the tap
	r := p.ok("rsvp", "create", "vigil", "--name", "Robin", "--contact", "signal:robin.01")
	if !strings.Contains(r.stderr, "Your pseudonym and contact are sealed to the organisers' keys: "+fingerprint) || strings.Contains(r.stderr, "in clear") {
		t.Errorf("rsvp create says:\n%s", r.stderr)
	}
	m := rsvpNameLine.FindStringSubmatch(r.stdout)
	if m == nil || strings.Contains(r.stdout, "Robin") {
		t.Fatalf("rsvp create shows:\n%s", r.stdout)
	}
	name := m[1]
	if !regexp.MustCompile(`^events/vigil/rsvps/[a-z2-7]{26}$`).MatchString(name) {
		t.Errorf("the RSVP's ID is not 26 base32 characters: %s", name)
	}
	for _, s := range []string{"Robin", "signal:robin.01"} {
		if wire.saw(s) {
			t.Errorf("%q crossed the wire in clear", s)
		}
	}
	if !wire.saw(name) {
		t.Errorf("the client did not choose the RSVP's name %s", name)
	}
	// A second, with --json: the API's response, not stored in clear.
	resp := p.json("rsvp", "create", "vigil", "--name", "Sam", "--contact", "sam@example.org")
	if resp["storedInClear"] != nil || resp["rsvp"].(map[string]any)["displayName"] != nil {
		t.Errorf("rsvp create --json: %v", resp)
	}

	// Stored as an envelope for that RSVP, sealed to the organiser's key alone.
	got := org.json("rsvp", "get", name)
	env := new(rallyv1.Envelope)
	raw, _ := json.Marshal(got["envelope"])
	if err := protojson.Unmarshal(raw, env); err != nil || got["displayName"] != nil || got["contact"] != nil {
		t.Fatalf("the stored RSVP: %v (%v)", got, err)
	}
	keyID := strings.TrimPrefix(must(readKeyFile(keyPath)).Keys[0].Name, "organisers/berlin-group/keys/")
	if env.GetResource() != name || len(env.GetRecipients()) != 1 || env.GetRecipients()[0].GetKey() != keyID {
		t.Errorf("the envelope is not the client's for %s to key %s: %v", name, keyID, env)
	}
	if r := org.ok("rsvp", "get", name); !strings.Contains(r.stdout, "(sealed: rally rsvps list --key FILE opens it)") {
		t.Errorf("rsvp get of a sealed RSVP by the organiser:\n%s", r.stdout)
	}

	// The organiser opens them with the key file; without it they show as sealed.
	r = org.ok("rsvps", "list", "vigil", "--key", keyPath)
	for _, want := range []string{name, "Robin", "signal:robin.01", "Sam", "sam@example.org"} {
		if !strings.Contains(r.stdout, want) {
			t.Errorf("rsvps list --key lacks %q:\n%s", want, r.stdout)
		}
	}
	if r.stderr != "" {
		t.Errorf("rsvps list --key warns:\n%s", r.stderr)
	}
	list := org.json("rsvps", "list", "vigil", "--key", keyPath)["rsvps"].([]any)
	first := list[0].(map[string]any)
	if first["displayName"] != "Robin" || first["contact"] != "signal:robin.01" || first["envelope"] == nil {
		t.Errorf("rsvps list --key --json: %v", first)
	}
	r = org.ok("rsvps", "list", "vigil")
	if strings.Contains(r.stdout, "Robin") || strings.Count(r.stdout, "(sealed)") != 4 || !strings.Contains(r.stderr, "Sealed to the organisers' keys: 2 of 2 RSVPs; --key FILE") {
		t.Errorf("rsvps list without --key:\nstdout:\n%s\nstderr:\n%s", r.stdout, r.stderr)
	}

	// Another organiser's key opens nothing: exit 1, after the list.
	_, otherKey, _ := organiserWithKey(t, server, "other-group")
	r = org.fails(exitError, []string{"none of the 2 sealed RSVPs opened with " + otherKey, "2 sealed to another key"}, "rsvps", "list", "vigil", "--key", otherKey)
	if strings.Count(r.stdout, "(sealed to another key)") != 4 || strings.Contains(r.stdout, "Robin") {
		t.Errorf("rsvps list with another key:\n%s", r.stdout)
	}
	unregistered := filepath.Join(t.TempDir(), "unregistered.keys")
	org.ok("keys", "create", "--out", unregistered, "--no-register")
	org.fails(exitUsage, []string{"holds no registered HPKE key", "rally keys register"}, "rsvps", "list", "vigil", "--key", unregistered)
	org.fails(exitUsage, []string{"--key"}, "rsvps", "list", "vigil", "--key", filepath.Join(t.TempDir(), "missing.keys"))

	// A tampered envelope and one moved from another record are refused by the client,
	// each in its cells, with one warning; the others still open.
	f := must(readKeyFile(keyPath))
	pub, _ := b64.DecodeString(f.Keys[0].PublicKey)
	to := []envelope.Recipient{{Key: keyID, Algorithm: rallyv1.KeyAlgorithm_KEY_ALGORITHM_HPKE_X25519, PublicKey: pub}}
	rsvps := rallyv1.NewRsvpServiceClient(apiClient(t, server, ""))
	for i, id := range []string{"tamperedtampered01", "movedmovedmoved01"} {
		env, err := envelope.Seal(&rallyv1.SealedFields{DisplayName: "Mallory"}, to, "events/vigil/rsvps/"+id)
		if err != nil {
			t.Fatal(err)
		}
		if i == 0 {
			env.Ciphertext[0] ^= 1
		} else {
			env, _ = envelope.Seal(&rallyv1.SealedFields{DisplayName: "Mallory"}, to, name)
			env.Resource = "events/vigil/rsvps/" + id
		}
		if _, err := rsvps.CreateRsvp(context.Background(), &rallyv1.CreateRsvpRequest{Parent: "events/vigil", RsvpId: id, Rsvp: &rallyv1.Rsvp{Envelope: env}}); err != nil {
			t.Fatal(err)
		}
	}
	r = org.ok("rsvps", "list", "vigil", "--key", keyPath)
	for _, want := range []string{"Robin", "(tampered with)", "(does not open with this key: wrong key or tampered with)"} {
		if !strings.Contains(r.stdout, want) {
			t.Errorf("rsvps list with a tampered envelope lacks %q:\n%s", want, r.stdout)
		}
	}
	if strings.Contains(r.stdout, "Mallory") || strings.Count(r.stderr, "\n") != 1 || !strings.Contains(r.stderr, "rally: warning: 2 of 4 sealed RSVPs did not open with "+keyPath+": 1 does not open with this key: wrong key or tampered with, 1 tampered with") {
		t.Errorf("rsvps list with a tampered envelope:\nstdout:\n%s\nstderr:\n%s", r.stdout, r.stderr)
	}

	// An update seals both fields anew; one alone cannot be sealed with the old other.
	p.fails(exitUsage, []string{"give --name and --contact together", "rally cannot read the old contact"}, "rsvp", "update", name, "--name", "Robin R.")
	if r := p.ok("rsvp", "update", name, "--name", "Robin R.", "--contact", "signal:robin.02", "--guests", "1"); !strings.Contains(r.stderr, "sealed to the organisers' keys: "+fingerprint) {
		t.Errorf("rsvp update says:\n%s", r.stderr)
	}
	if r := org.ok("rsvps", "list", "vigil", "--key", keyPath); !strings.Contains(r.stdout, "Robin R.") || !strings.Contains(r.stdout, "signal:robin.02") || strings.Contains(r.stdout, "signal:robin.01") {
		t.Errorf("rsvps list after an update:\n%s", r.stdout)
	}
	if wire.saw("Robin R.") {
		t.Error("the update crossed the wire in clear")
	}
	p.ok("rsvp", "update", name, "--name", "", "--contact", "")
	if got := org.json("rsvp", "get", name); got["envelope"] != nil || got["guests"] != float64(1) {
		t.Errorf("after removing both fields: %v", got)
	}

	// The limits the server cannot check on sealed fields are checked here, naming the flag.
	p.fails(exitUsage, []string{"rsvp.display_name (--name)"}, "rsvp", "create", "vigil", "--name", strings.Repeat("x", 61))
	p.fails(exitUsage, []string{"rsvp.contact (--contact)"}, "rsvp", "update", name, "--name", "R", "--contact", strings.Repeat("x", 201))

	// A retry with the same request ID gives the first RSVP back.
	a := p.json("rsvp", "create", "vigil", "--name", "Kim", "--request-id", "retry-0123456789abcdef")
	b := p.json("rsvp", "create", "vigil", "--name", "Kim", "--request-id", "retry-0123456789abcdef")
	if a["manageToken"] != b["manageToken"] || a["rsvp"].(map[string]any)["name"] != b["rsvp"].(map[string]any)["name"] {
		t.Errorf("a repeated request ID gave a second RSVP:\n%v\n%v", a, b)
	}
}

// TestSealedClaims: a volunteer's pseudonym, proof and note are sealed by rally tasks
// claim and complete, and only the organiser's key file opens them in rally tasks claims.
func TestSealedClaims(t *testing.T) {
	server := startRallyd(t, noLimits)
	org, keyPath, fingerprint := organiserWithKey(t, server, "berlin-group")
	org.ok("campaigns", "create", "--title", "Berlin stands with Kazakh LGBTI people", "--id", "kz-berlin")
	task := taskNameLine.FindStringSubmatch(createTask(org).stdout)[1]
	wire := startTap(t, server)

	v := newUser(t, wire.addr)
	r := v.ok("tasks", "claim", task, "--name", "Sky")
	if !strings.Contains(r.stderr, "Your pseudonym is sealed to the organisers' keys: "+fingerprint) {
		t.Errorf("tasks claim says:\n%s", r.stderr)
	}
	name := claimNameLine.FindStringSubmatch(r.stdout)[1]
	r = v.ok("tasks", "complete", name, "--proof", "https://social.example/@sky/1", "--note", "posted from my cousin's account")
	if !strings.Contains(r.stderr, "Your proof and note are sealed to the organisers' keys: "+fingerprint) {
		t.Errorf("tasks complete says:\n%s", r.stderr)
	}
	for _, s := range []string{"Sky", "social.example", "cousin"} {
		if wire.saw(s) {
			t.Errorf("%q crossed the wire in clear", s)
		}
	}
	if !wire.saw(name) {
		t.Errorf("the client did not choose the claim's name %s", name)
	}
	v.fails(exitUsage, []string{"proof_url (--proof)", "https://"}, "tasks", "complete", name, "--proof", "http://social.example/@sky/1")

	// A second claim, not completed.
	other := newUser(t, server)
	other.ok("tasks", "claim", task, "--name", "Ash")

	r = org.ok("tasks", "claims", task, "--key", keyPath)
	for _, want := range []string{"PSEUDONYM", name, "completed", "Sky", "https://social.example/@sky/1", "posted from my cousin's account", "Ash", "claimed"} {
		if !strings.Contains(r.stdout, want) {
			t.Errorf("tasks claims --key lacks %q:\n%s", want, r.stdout)
		}
	}
	claims := org.json("tasks", "claims", task, "--key", keyPath)["claims"].([]any)
	first := claims[0].(map[string]any)
	if first["displayName"] != "Sky" || first["proofUrl"] != "https://social.example/@sky/1" || first["note"] != "posted from my cousin's account" ||
		first["envelope"] == nil || first["completionEnvelope"] == nil {
		t.Errorf("tasks claims --key --json: %v", first)
	}
	raw := org.json("tasks", "claims", task)["claims"].([]any)[0].(map[string]any)
	if raw["displayName"] != nil || raw["note"] != nil || raw["proofUrl"] != nil {
		t.Errorf("the stored claim has plain fields: %v", raw)
	}
	r = org.ok("tasks", "claims", task)
	if strings.Contains(r.stdout, "Sky") || strings.Count(r.stdout, "(sealed)") != 4 || !strings.Contains(r.stderr, "Sealed to the organisers' keys: 2 of 2 claims") {
		t.Errorf("tasks claims without --key:\nstdout:\n%s\nstderr:\n%s", r.stdout, r.stderr)
	}
	_, otherKey, _ := organiserWithKey(t, server, "other-group")
	r = org.fails(exitError, []string{"none of the 2 sealed claims opened", "2 sealed to another key"}, "tasks", "claims", task, "--key", otherKey)
	if strings.Count(r.stdout, "(sealed to another key)") != 4 {
		t.Errorf("tasks claims with another key:\n%s", r.stdout)
	}
	newUser(t, server).fails(exitDenied, nil, "tasks", "claims", task)
}

// TestInClear: without any organiser key, personal fields are sent in plain and stored in
// clear, and rally says so.
func TestInClear(t *testing.T) {
	server := startRallyd(t, noLimits)
	org := newOrganiser(t, server, "berlin-group")
	org.ok("campaigns", "create", "--title", "Solidarity", "--id", "kz-berlin")
	createEvent(org, "vigil", "--campaign", "kz-berlin")
	task := taskNameLine.FindStringSubmatch(createTask(org).stdout)[1]
	const warning = "organisers have no key yet, so your "

	p := newUser(t, server)
	r := p.ok("rsvp", "create", "vigil", "--name", "Robin", "--contact", "signal:robin.01")
	if !strings.Contains(r.stderr, "rally: warning: the event's "+warning+"pseudonym and contact are stored in clear") || strings.Contains(r.stderr, "sealed to") {
		t.Errorf("rsvp create without keys says:\n%s", r.stderr)
	}
	name := rsvpNameLine.FindStringSubmatch(r.stdout)[1]
	if resp := p.json("rsvp", "create", "vigil", "--contact", "sam@example.org"); resp["storedInClear"] != true {
		t.Errorf("rsvp create --json: %v", resp)
	}
	if r := p.ok("rsvp", "create", "vigil", "--guests", "1"); strings.Contains(r.stderr, "warning") {
		t.Errorf("rsvp create without personal fields warns:\n%s", r.stderr)
	}
	if r := p.ok("rsvp", "update", name, "--name", "Robin R."); !strings.Contains(r.stderr, warning+"pseudonym is stored in clear") {
		t.Errorf("rsvp update without keys says:\n%s", r.stderr)
	}
	r = p.ok("tasks", "claim", task, "--name", "Sky")
	if !strings.Contains(r.stderr, "rally: warning: the campaign's "+warning+"pseudonym is stored in clear") {
		t.Errorf("tasks claim without keys says:\n%s", r.stderr)
	}
	claim := claimNameLine.FindStringSubmatch(r.stdout)[1]
	if r := p.ok("tasks", "complete", claim, "--note", "done"); !strings.Contains(r.stderr, warning+"note is stored in clear") {
		t.Errorf("tasks complete without keys says:\n%s", r.stderr)
	}

	// In the lists as stored; a key file changes nothing and opens nothing.
	_, otherKey, _ := organiserWithKey(t, server, "other-group")
	for _, args := range [][]string{{"rsvps", "list", "vigil"}, {"rsvps", "list", "vigil", "--key", otherKey}} {
		r := org.ok(args...)
		if !strings.Contains(r.stdout, "Robin R.") || !strings.Contains(r.stdout, "signal:robin.01") || strings.Contains(r.stdout, "(sealed") || r.stderr != "" {
			t.Errorf("rally %s:\nstdout:\n%s\nstderr:\n%s", strings.Join(args, " "), r.stdout, r.stderr)
		}
	}
	if r := org.ok("tasks", "claims", task); !strings.Contains(r.stdout, "Sky") || !strings.Contains(r.stdout, "done") {
		t.Errorf("tasks claims:\n%s", r.stdout)
	}
}

// TestSealTarget: rally refuses to seal to a key whose published fingerprint is not its
// own, or that is not a usable public key, and skips algorithms it does not know.
func TestSealTarget(t *testing.T) {
	f := must(newKeyFile())
	pub, _ := b64.DecodeString(f.Keys[0].PublicKey)
	alg := rallyv1.KeyAlgorithm_KEY_ALGORITHM_HPKE_X25519
	fp := envelope.Fingerprint(alg, pub)
	to, err := sealTarget([]*rallyv1.RecipientKey{{Key: "k1", Algorithm: alg, PublicKey: pub, Fingerprint: fp}, {Key: "k2", Algorithm: rallyv1.KeyAlgorithm(99), PublicKey: []byte{1}}})
	if err != nil || len(to.recipients) != 1 || to.fingerprints[0] != fp || to.none {
		t.Fatalf("sealTarget: %+v, %v", to, err)
	}
	if _, err := sealTarget([]*rallyv1.RecipientKey{{Key: "k1", Algorithm: alg, PublicKey: pub, Fingerprint: "AAAA-BBBB-CCCC-DDDD"}}); err == nil || !strings.Contains(err.Error(), "refusing to seal") {
		t.Errorf("a misstated fingerprint: %v", err)
	}
	if _, err := sealTarget([]*rallyv1.RecipientKey{{Key: "k1", Algorithm: alg, PublicKey: make([]byte, 32)}}); err == nil || !strings.Contains(err.Error(), "not usable") {
		t.Errorf("a low-order public key: %v", err)
	}
	if to, err := sealTarget(nil); err != nil || !to.none {
		t.Errorf("no keys: %+v, %v", to, err)
	}
	if got := cell("Robin\x1b[2J\nR.\t"); got != "Robin [2J R. " {
		t.Errorf("cell: %q", got)
	}
}
