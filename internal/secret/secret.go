// Package secret holds the deployment's server secrets and derives from them the keys
// that Rally uses for one purpose each: the MAC of client addresses in rate-limit keys,
// etags, the sealing of idempotent tokens.
//
// # Provision, creation and rotation
//
// Every replica that shares a Redis must hold the same secrets (--secrets or
// --secrets-file, RALLY_SECRETS or RALLY_SECRETS_FILE): a list of base64 strings of at
// least 32 random bytes each, newest first. Create one with
//
//	head -c 32 /dev/urandom | base64
//
// The secrets never reach Redis: a copy of Redis (a dump, its AOF, a backup) holds only
// values keyed by them, which cannot be brute-forced without them. The in-memory store,
// one process, makes a random secret at start when none is given.
//
// To rotate without downtime, put the new secret first and keep the old one second on
// every replica (a rolling restart), then, once every replica has the new one and the
// longest-lived value keyed by the old one has expired (an idempotency retry window:
// a day), drop the old one. The newest secret keys everything written; older ones are
// only tried to open what they keyed (Keys). Rate-limit budgets start afresh under the
// new key, once: a client gets at most one extra burst.
//
// Keys are derived with HKDF-SHA256 (crypto/hkdf), one per purpose, so that no two uses
// share a key and a secret is never used directly.
package secret

import (
	"crypto/hkdf"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"strings"
	"sync"
)

// MinBytes is the shortest secret accepted: 256 bits.
const MinBytes = 32

// Purposes of derived keys. Each names one use; adding one derives a fresh key.
const (
	// ClientMAC keys the MAC of client addresses and other caller identities in
	// rate-limit and watch-limit keys.
	ClientMAC = "client-mac"
	// Etag keys the etags of resources.
	Etag = "etag"
	// TokenSeal keys the AEAD that keeps idempotent creates' tokens.
	TokenSeal = "token-seal"
)

// Keyring is a deployment's secrets, newest first, with the keys derived from them.
type Keyring struct {
	secrets [][]byte

	mu   sync.Mutex
	keys map[string][][]byte // by purpose, one per secret, newest first
}

// New returns a keyring of secrets, newest first; each must be at least MinBytes long.
func New(secrets ...[]byte) (*Keyring, error) {
	if len(secrets) == 0 {
		return nil, errors.New("no secret given")
	}
	for i, s := range secrets {
		if len(s) < MinBytes {
			return nil, fmt.Errorf("secret %d is %d bytes; want at least %d random bytes", i+1, len(s), MinBytes)
		}
	}
	return &Keyring{secrets: secrets, keys: map[string][][]byte{}}, nil
}

// Random returns a keyring of one fresh random secret: for a single process (the memory
// store, tests), never for replicas that share data.
func Random() *Keyring {
	b := make([]byte, MinBytes)
	rand.Read(b) // never fails (crypto/rand panics rather than return an error)
	k, _ := New(b)
	return k
}

// Parse reads secrets as --secrets takes them: base64 (standard or URL alphabet, padded
// or not), separated by commas or newlines, newest first. Blank entries and lines
// starting with # are skipped, so that a secrets file may carry comments.
func Parse(s string) (*Keyring, error) {
	var secrets [][]byte
	for _, f := range strings.FieldsFunc(s, func(r rune) bool { return r == ',' || r == '\n' || r == '\r' }) {
		f = strings.TrimSpace(f)
		if f == "" || strings.HasPrefix(f, "#") {
			continue
		}
		b, err := decode(f)
		if err != nil {
			// Never echo the value: it is a secret.
			return nil, fmt.Errorf("secret %d is not base64", len(secrets)+1)
		}
		secrets = append(secrets, b)
	}
	return New(secrets...)
}

func decode(s string) ([]byte, error) {
	s = strings.TrimRight(s, "=")
	if b, err := base64.RawStdEncoding.DecodeString(s); err == nil {
		return b, nil
	}
	return base64.RawURLEncoding.DecodeString(s)
}

// Key returns the key for purpose derived from the newest secret: what keys everything
// written now.
func (k *Keyring) Key(purpose string) []byte { return k.Keys(purpose)[0] }

// Keys returns the keys for purpose derived from every secret, newest first: to open or
// verify what an older secret keyed, during a rotation.
func (k *Keyring) Keys(purpose string) [][]byte {
	k.mu.Lock()
	defer k.mu.Unlock()
	if ks, ok := k.keys[purpose]; ok {
		return ks
	}
	ks := make([][]byte, len(k.secrets))
	for i, s := range k.secrets {
		key, err := hkdf.Key(sha256.New, s, nil, "rally "+purpose, 32)
		if err != nil {
			panic("secret: hkdf: " + err.Error()) // only for lengths beyond 255×32
		}
		ks[i] = key
	}
	k.keys[purpose] = ks
	return ks
}

// MAC returns HMAC-SHA256 of msg under the newest key for purpose.
func (k *Keyring) MAC(purpose string, msg []byte) []byte {
	m := hmac.New(sha256.New, k.Key(purpose))
	m.Write(msg)
	return m.Sum(nil)
}

// Len is the number of secrets.
func (k *Keyring) Len() int { return len(k.secrets) }
