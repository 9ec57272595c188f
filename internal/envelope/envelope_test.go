package envelope_test

import (
	"crypto/hpke"
	"encoding/hex"
	"errors"
	"flag"
	"os"
	"path/filepath"
	"testing"

	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"

	rallyv1 "github.com/rallyhq/rally/gen/go/rally/v1"
	"github.com/rallyhq/rally/internal/envelope"
)

var update = flag.Bool("update", false, "write testdata/v1-x25519.json anew (only when the format changes on purpose)")

const resource = "events/vigil-berlin/rsvps/abc123"

var fields = &rallyv1.SealedFields{DisplayName: "Robin", Contact: "signal:robin.01"}

type keyPair struct {
	id   string
	alg  rallyv1.KeyAlgorithm
	priv hpke.PrivateKey
	pub  []byte
}

func newKey(t *testing.T, id string, alg rallyv1.KeyAlgorithm) keyPair {
	t.Helper()
	kem, _ := envelope.KEM(alg)
	priv, err := kem.GenerateKey()
	if err != nil {
		t.Fatal(err)
	}
	pub := priv.PublicKey().Bytes()
	if err := envelope.CheckPublicKey(alg, pub); err != nil {
		t.Fatal(err)
	}
	return keyPair{id, alg, priv, pub}
}

func (k keyPair) recipient() envelope.Recipient {
	return envelope.Recipient{Key: k.id, Algorithm: k.alg, PublicKey: k.pub}
}

func TestRoundTrip(t *testing.T) {
	x := newKey(t, "kx", rallyv1.KeyAlgorithm_KEY_ALGORITHM_HPKE_X25519)
	pq := newKey(t, "kpq", rallyv1.KeyAlgorithm_KEY_ALGORITHM_HPKE_MLKEM768_X25519)
	env, err := envelope.Seal(fields, []envelope.Recipient{x.recipient(), pq.recipient()}, resource)
	if err != nil {
		t.Fatal(err)
	}
	// Through the wire format, as the server stores it.
	raw, _ := proto.Marshal(env)
	env = new(rallyv1.Envelope)
	if err := proto.Unmarshal(raw, env); err != nil {
		t.Fatal(err)
	}
	for _, k := range []keyPair{x, pq} {
		// A private key as a key file holds it, serialised and read back.
		b, err := k.priv.Bytes()
		if err != nil {
			t.Fatal(err)
		}
		kem, _ := envelope.KEM(k.alg)
		priv, err := kem.NewPrivateKey(b)
		if err != nil {
			t.Fatal(err)
		}
		got, err := envelope.Open(env, k.id, priv, resource)
		if err != nil {
			t.Fatalf("%v: %v", k.alg, err)
		}
		if !proto.Equal(got, fields) {
			t.Errorf("%v: opened %v, want %v", k.alg, got, fields)
		}
	}
	if _, err := envelope.Seal(fields, nil, resource); err == nil {
		t.Error("sealed to nobody")
	}
}

func TestWrongKeyOpensNothing(t *testing.T) {
	a := newKey(t, "ka", rallyv1.KeyAlgorithm_KEY_ALGORITHM_HPKE_X25519)
	b := newKey(t, "kb", rallyv1.KeyAlgorithm_KEY_ALGORITHM_HPKE_X25519)
	env, err := envelope.Seal(fields, []envelope.Recipient{a.recipient()}, resource)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := envelope.Open(env, "ka", b.priv, resource); !errors.Is(err, envelope.ErrWrongKey) {
		t.Errorf("another private key under the recipient's ID: %v, want ErrWrongKey", err)
	}
	if _, err := envelope.Open(env, "kb", b.priv, resource); !errors.Is(err, envelope.ErrNotRecipient) {
		t.Errorf("a key it is not sealed to: %v, want ErrNotRecipient", err)
	}
}

func TestTamperedIsRefused(t *testing.T) {
	k := newKey(t, "k", rallyv1.KeyAlgorithm_KEY_ALGORITHM_HPKE_X25519)
	env, err := envelope.Seal(fields, []envelope.Recipient{k.recipient()}, resource)
	if err != nil {
		t.Fatal(err)
	}
	// Every byte of every byte field, one at a time.
	parts := map[string]*[]byte{
		"nonce": &env.Nonce, "ciphertext": &env.Ciphertext,
		"enc": &env.Recipients[0].Enc, "sealed_key": &env.Recipients[0].SealedKey,
	}
	for name, b := range parts {
		for i := range *b {
			(*b)[i] ^= 0x01
			if got, err := envelope.Open(env, "k", k.priv, resource); err == nil {
				t.Fatalf("%s byte %d changed: opened %v", name, i, got)
			} else if !errors.Is(err, envelope.ErrTampered) && !errors.Is(err, envelope.ErrWrongKey) {
				t.Fatalf("%s byte %d changed: %v, want ErrTampered or ErrWrongKey", name, i, err)
			}
			(*b)[i] ^= 0x01
		}
	}
	env.Version = 2
	if _, err := envelope.Open(env, "k", k.priv, resource); !errors.Is(err, envelope.ErrVersion) {
		t.Errorf("version 2: %v, want ErrVersion", err)
	}
	env.Version = 1
	if _, err := envelope.Open(env, "k", k.priv, resource); err != nil {
		t.Fatalf("the restored envelope: %v", err)
	}
}

func TestMovedToAnotherRecordIsRefused(t *testing.T) {
	k := newKey(t, "k", rallyv1.KeyAlgorithm_KEY_ALGORITHM_HPKE_X25519)
	env, err := envelope.Seal(fields, []envelope.Recipient{k.recipient()}, resource)
	if err != nil {
		t.Fatal(err)
	}
	other := "events/vigil-berlin/rsvps/other"
	if _, err := envelope.Open(env, "k", k.priv, other); !errors.Is(err, envelope.ErrOtherRecord) {
		t.Errorf("read from another record: %v, want ErrOtherRecord", err)
	}
	// Rewriting the resource it claims does not help: the crypto binds the real one.
	env.Resource = other
	if _, err := envelope.Open(env, "k", k.priv, other); !errors.Is(err, envelope.ErrWrongKey) {
		t.Errorf("moved, with its resource rewritten: %v, want ErrWrongKey", err)
	}
}

// The known answer: an envelope sealed once (with random content key, nonce and HPKE
// ephemeral key) to a fixed X25519 key, kept in testdata, must keep opening, so that
// envelopes stored by an older Rally, and those a browser makes to the documented
// format, stay readable. The fixed private key is test data, not a secret.
const kaPrivateKey = "4f3c5d1e2b6a79880716253443526170f0e1d2c3b4a5968778695a4b3c2d1e0f"

func TestKnownAnswer(t *testing.T) {
	raw, _ := hex.DecodeString(kaPrivateKey)
	kem, _ := envelope.KEM(rallyv1.KeyAlgorithm_KEY_ALGORITHM_HPKE_X25519)
	priv, err := kem.NewPrivateKey(raw)
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join("testdata", "v1-x25519.json")
	if *update {
		env, err := envelope.Seal(&rallyv1.SealedFields{DisplayName: "Robin", Contact: "signal:robin.01", Note: "n", ProofUrl: "https://social.example/@robin/1"},
			[]envelope.Recipient{{Key: "kat", Algorithm: rallyv1.KeyAlgorithm_KEY_ALGORITHM_HPKE_X25519, PublicKey: priv.PublicKey().Bytes()}}, resource)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := protojson.MarshalOptions{Multiline: true}.Marshal(env)
		if err := os.WriteFile(path, append(b, '\n'), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	env := new(rallyv1.Envelope)
	if err := protojson.Unmarshal(b, env); err != nil {
		t.Fatal(err)
	}
	got, err := envelope.Open(env, "kat", priv, resource)
	if err != nil {
		t.Fatal(err)
	}
	want := &rallyv1.SealedFields{DisplayName: "Robin", Contact: "signal:robin.01", Note: "n", ProofUrl: "https://social.example/@robin/1"}
	if !proto.Equal(got, want) {
		t.Errorf("opened %v, want %v", got, want)
	}
	if fp := envelope.Fingerprint(rallyv1.KeyAlgorithm_KEY_ALGORITHM_HPKE_X25519, priv.PublicKey().Bytes()); len(fp) != 19 {
		t.Errorf("fingerprint %q", fp)
	}
}

// TestSizes: the sizes that the server checks envelopes against, which it cannot open,
// are those Seal makes, for each algorithm.
func TestSizes(t *testing.T) {
	for _, alg := range []rallyv1.KeyAlgorithm{rallyv1.KeyAlgorithm_KEY_ALGORITHM_HPKE_X25519, rallyv1.KeyAlgorithm_KEY_ALGORITHM_HPKE_MLKEM768_X25519} {
		k := newKey(t, "k", alg)
		env, err := envelope.Seal(&rallyv1.SealedFields{}, []envelope.Recipient{k.recipient()}, resource)
		if err != nil {
			t.Fatal(err)
		}
		r := env.GetRecipients()[0]
		if len(r.GetEnc()) != envelope.EncSize(alg) || len(r.GetSealedKey()) != envelope.SealedKeySize ||
			len(env.GetNonce()) != envelope.NonceSize || len(env.GetCiphertext()) != envelope.TagSize {
			t.Errorf("%v: enc %d (EncSize %d), sealed key %d, nonce %d, ciphertext of nothing %d", alg,
				len(r.GetEnc()), envelope.EncSize(alg), len(r.GetSealedKey()), len(env.GetNonce()), len(env.GetCiphertext()))
		}
	}
}
