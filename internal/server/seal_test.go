package server

import (
	"bytes"
	"crypto/sha512"
	"errors"
	"testing"

	"github.com/rallyhq/rally/internal/secret"
)

func keyring(t *testing.T, secrets ...string) *secret.Keyring {
	t.Helper()
	var bs [][]byte
	for _, s := range secrets {
		bs = append(bs, bytes.Repeat([]byte(s), secret.MinBytes))
	}
	k, err := secret.New(bs...)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

const (
	testScope     = "events/vigil"
	testRequestID = "0123456789abcdef-request"
	testToken     = "rly_rsvp_aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
)

func TestSealRoundTrip(t *testing.T) {
	k := keyring(t, "a")
	sealed, err := sealToken(k, testScope, testRequestID, []byte(testToken))
	if err != nil {
		t.Fatal(err)
	}
	if bytes.Contains(sealed, []byte(testToken)) || bytes.Contains(sealed, []byte(testToken[9:20])) {
		t.Fatalf("sealed value %q holds the token in clear", sealed)
	}
	got, err := openToken(k, testScope, testRequestID, sealed)
	if err != nil || string(got) != testToken {
		t.Fatalf("open = %q, %v; want %q", got, err, testToken)
	}
	// A fresh nonce each time: two seals of one token differ.
	again, _ := sealToken(k, testScope, testRequestID, []byte(testToken))
	if bytes.Equal(again, sealed) {
		t.Fatal("two seals of one token are equal: the nonce repeats")
	}
}

func TestSealTamper(t *testing.T) {
	k := keyring(t, "a")
	sealed, err := sealToken(k, testScope, testRequestID, []byte(testToken))
	if err != nil {
		t.Fatal(err)
	}
	for i := range sealed {
		for _, bit := range []byte{0x01, 0x80} {
			bad := bytes.Clone(sealed)
			bad[i] ^= bit
			if got, err := openToken(k, testScope, testRequestID, bad); !errors.Is(err, errSealedUnopenable) {
				t.Fatalf("byte %d flipped (%#x): open = %q, %v; want errSealedUnopenable", i, bit, got, err)
			}
		}
	}
	for _, bad := range [][]byte{nil, {}, sealed[:1], sealed[:13], sealed[:len(sealed)-1], append(bytes.Clone(sealed), 0)} {
		if _, err := openToken(k, testScope, testRequestID, bad); !errors.Is(err, errSealedUnopenable) {
			t.Fatalf("open(%d bytes of %d) = %v; want errSealedUnopenable", len(bad), len(sealed), err)
		}
	}
}

func TestSealBoundToScopeAndRequestID(t *testing.T) {
	k := keyring(t, "a")
	sealed, err := sealToken(k, testScope, testRequestID, []byte(testToken))
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct{ scope, requestID string }{
		{"events/other", testRequestID},
		{"tasks/vigil", testRequestID},
		{testScope, testRequestID + "x"},
		{testScope, "0123456789abcdef-requesu"},
		{testScope + "\x00" + testRequestID, ""},
	} {
		if got, err := openToken(k, tc.scope, tc.requestID, sealed); !errors.Is(err, errSealedUnopenable) {
			t.Errorf("open in %q with %q = %q, %v; want errSealedUnopenable", tc.scope, tc.requestID, got, err)
		}
	}
	// Another deployment's secret opens nothing.
	if _, err := openToken(keyring(t, "b"), testScope, testRequestID, sealed); !errors.Is(err, errSealedUnopenable) {
		t.Errorf("open under another secret = %v; want errSealedUnopenable", err)
	}
}

func TestSealRotation(t *testing.T) {
	old, rotated, retired := keyring(t, "old"), keyring(t, "new", "old"), keyring(t, "new")
	sealedOld, err := sealToken(old, testScope, testRequestID, []byte(testToken))
	if err != nil {
		t.Fatal(err)
	}
	// During the rotation, what the old secret sealed still opens, and new seals use
	// the new secret (the old keyring alone does not open them).
	if got, err := openToken(rotated, testScope, testRequestID, sealedOld); err != nil || string(got) != testToken {
		t.Fatalf("old seal under the rotated keyring = %q, %v", got, err)
	}
	sealedNew, err := sealToken(rotated, testScope, testRequestID, []byte(testToken))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := openToken(old, testScope, testRequestID, sealedNew); !errors.Is(err, errSealedUnopenable) {
		t.Fatalf("new seal under the old secret alone = %v; want errSealedUnopenable", err)
	}
	if got, err := openToken(retired, testScope, testRequestID, sealedNew); err != nil || string(got) != testToken {
		t.Fatalf("new seal once the old secret is retired = %q, %v", got, err)
	}
	// Once the old secret is dropped, its seals no longer open.
	if _, err := openToken(retired, testScope, testRequestID, sealedOld); !errors.Is(err, errSealedUnopenable) {
		t.Fatalf("old seal once the old secret is retired = %v; want errSealedUnopenable", err)
	}
}

// TestSealLegacy: a value sealed by an older Rally (XOR with SHA-512 of the request_id)
// is told apart and not opened, rather than misread as a token.
func TestSealLegacy(t *testing.T) {
	key := sha512.Sum512([]byte("rally seal\x00" + testScope + "\x00" + testRequestID))
	legacy := make([]byte, len(testToken))
	for i := range legacy {
		legacy[i] = testToken[i] ^ key[i]
	}
	if got, err := openToken(keyring(t, "a"), testScope, testRequestID, legacy); !errors.Is(err, errSealedUnopenable) {
		t.Fatalf("legacy seal = %q, %v; want errSealedUnopenable", got, err)
	}
}
