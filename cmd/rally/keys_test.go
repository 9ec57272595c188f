package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	rallyv1 "github.com/rallyhq/rally/gen/go/rally/v1"
	"github.com/rallyhq/rally/internal/envelope"
)

// TestKeys: an organiser creates a key file (0600, never replaced), registers it, lists
// and revokes keys; its campaign seals to the registered key, and the key file opens
// what is sealed to it.
func TestKeys(t *testing.T) {
	server := startRallyd(t)
	admin := newUser(t, server)
	admin.ok("login", "--token", adminToken)
	admin.ok("organisers", "create", "--display-name", "Berlin group", "--id", "berlin-group")
	org := newUser(t, server)
	org.run(strings.TrimSpace(admin.ok("tokens", "create", "--organiser", "berlin-group").stdout)+"\n", "login")

	path := filepath.Join(t.TempDir(), "berlin.keys")
	if r := org.ok("keys", "create", "--out", path); !strings.Contains(r.stderr, "Registered organisers/berlin-group/keys/") {
		t.Fatalf("keys create says:\n%s", r.stderr)
	}
	if fi, err := os.Stat(path); err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("key file: %v, %v", fi, err)
	}
	org.fails(exitUsage, nil, "keys", "create", "--out")
	if r := org.run("", "keys", "create", "--out", path, "--no-register"); r.code == 0 {
		t.Fatal("keys create replaced an existing key file")
	}
	f, err := readKeyFile(path)
	if err != nil || len(f.Keys) != 2 || f.Keys[0].Name == "" || f.Keys[1].Name == "" {
		t.Fatalf("key file after registering: %+v, %v", f, err)
	}
	raw, _ := os.ReadFile(path)
	var generic map[string][]map[string]string
	if err := json.Unmarshal(raw, &generic); err != nil || len(generic["keys"][0]["privateKey"]) != 43 {
		t.Fatalf("the X25519 private key is not 32 raw bytes in base64url: %s", raw)
	}

	// Only written, then registered.
	later := filepath.Join(t.TempDir(), "later.keys")
	org.ok("keys", "create", "--out", later, "--no-register")
	if f, _ := readKeyFile(later); f.Keys[0].Name != "" {
		t.Fatalf("--no-register registered: %+v", f)
	}
	org.ok("keys", "register", later)
	keys := org.json("keys", "list")["organiserKeys"].([]any)
	if len(keys) != 4 {
		t.Fatalf("keys list: %v", keys)
	}
	org.ok("keys", "revoke", strings.TrimPrefix(must(readKeyFile(later)).Keys[0].Name, "organisers/berlin-group/keys/"))
	if r := org.ok("keys", "list"); strings.Count(r.stdout, "revoked") != 1 || !strings.Contains(r.stdout, "HPKE_X25519") {
		t.Errorf("keys list:\n%s", r.stdout)
	}

	// The campaign seals to the current X25519 key, and the key file opens it.
	org.ok("campaigns", "create", "--title", "Solidarity", "--id", "kz-berlin")
	cp := org.json("campaigns", "get", "kz-berlin")
	rks, _ := cp["recipientKeys"].([]any)
	if len(rks) != 1 {
		t.Fatalf("recipient keys: %v", cp["recipientKeys"])
	}
	id := rks[0].(map[string]any)["key"].(string)
	if f.Keys[0].Name != "organisers/berlin-group/keys/"+id {
		t.Fatalf("the campaign seals to %s, the key file holds %s", id, f.Keys[0].Name)
	}
	pub, _ := b64.DecodeString(f.Keys[0].PublicKey)
	fields := &rallyv1.SealedFields{DisplayName: "Robin", Contact: "signal:robin.01"}
	env, err := envelope.Seal(fields, []envelope.Recipient{{Key: id, Algorithm: rallyv1.KeyAlgorithm_KEY_ALGORITHM_HPKE_X25519, PublicKey: pub}}, "events/e/rsvps/r")
	if err != nil {
		t.Fatal(err)
	}
	openers, err := f.openers()
	if err != nil {
		t.Fatal(err)
	}
	got, err := envelope.Open(env, id, openers[id], "events/e/rsvps/r")
	if err != nil || got.GetContact() != "signal:robin.01" {
		t.Fatalf("opened %v, %v", got, err)
	}
}

func must[T any](v T, err error) T {
	if err != nil {
		panic(err)
	}
	return v
}
