package envelope

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/hpke"
	"crypto/rand"
	"errors"
	"fmt"

	"google.golang.org/protobuf/proto"

	rallyv1 "github.com/rallyhq/rally/gen/go/rally/v1"
)

// Version is the envelope format that Seal writes and Open reads.
const Version = 1

// label starts the HPKE info and the AES-GCM additional data, so that nothing sealed for
// another purpose or version opens as an envelope.
const label = "rally-envelope-v1\x00"

// Sizes of an envelope's parts, for checks of envelopes that cannot be opened.
const (
	contentKeySize = 32 // AES-256
	// NonceSize is the AES-GCM nonce's size.
	NonceSize = 12
	// TagSize is the AES-GCM tag's size: the least ciphertext (of empty fields).
	TagSize = 16
	// SealedKeySize is HPKE's ciphertext of a content key: the key and AES-128-GCM's tag.
	SealedKeySize = contentKeySize + TagSize
)

// Errors of Open, to test with errors.Is. Each says what is wrong, for the organiser who
// sees it.
var (
	// ErrVersion: the envelope is of a format this code does not read.
	ErrVersion = errors.New("envelope: unknown format version")
	// ErrOtherRecord: the envelope belongs to another record than the one it was read
	// from (moved, or copied from another RSVP).
	ErrOtherRecord = errors.New("envelope: sealed for another record")
	// ErrNotRecipient: the envelope is not sealed to the key given (sealed before the key
	// was made, or to other organisers only).
	ErrNotRecipient = errors.New("envelope: not sealed to this key")
	// ErrWrongKey: the envelope names the key, but its sealed content key does not open
	// with the private key given: a wrong private key, or a tampered sealed key.
	ErrWrongKey = errors.New("envelope: the private key does not open it (wrong key, or the envelope was tampered with)")
	// ErrTampered: the content key opened but the fields did not: the envelope was
	// changed after it was sealed.
	ErrTampered = errors.New("envelope: tampered with (the sealed fields fail their integrity check)")
)

// Recipient is a public key to seal to.
type Recipient struct {
	Key       string // the key ID (RecipientKey.key)
	Algorithm rallyv1.KeyAlgorithm
	PublicKey []byte
}

// FromRecipientKeys returns the campaign's recipient keys as Recipients.
func FromRecipientKeys(keys []*rallyv1.RecipientKey) []Recipient {
	out := make([]Recipient, 0, len(keys))
	for _, k := range keys {
		out = append(out, Recipient{Key: k.GetKey(), Algorithm: k.GetAlgorithm(), PublicKey: k.GetPublicKey()})
	}
	return out
}

func suite() (hpke.KDF, hpke.AEAD) { return hpke.HKDFSHA256(), hpke.AES128GCM() }

func hpkeInfo(resource, key string) []byte { return []byte(label + resource + "\x00" + key) }

func additionalData(resource string) []byte { return []byte(label + resource) }

// Seal seals fields for the record named resource to each recipient, as described in
// proto/rally/v1/envelope.proto.
func Seal(fields *rallyv1.SealedFields, recipients []Recipient, resource string) (*rallyv1.Envelope, error) {
	if len(recipients) == 0 {
		return nil, errors.New("envelope: no recipient keys to seal to")
	}
	plaintext, err := proto.MarshalOptions{Deterministic: true}.Marshal(fields)
	if err != nil {
		return nil, err
	}
	contentKey := make([]byte, contentKeySize)
	nonce := make([]byte, NonceSize)
	_, _ = rand.Read(contentKey)
	_, _ = rand.Read(nonce)
	gcm, err := newGCM(contentKey)
	if err != nil {
		return nil, err
	}
	env := &rallyv1.Envelope{
		Version:    Version,
		Resource:   resource,
		Nonce:      nonce,
		Ciphertext: gcm.Seal(nil, nonce, plaintext, additionalData(resource)),
	}
	kdf, aead := suite()
	for _, r := range recipients {
		kem, ok := KEM(r.Algorithm)
		if !ok {
			return nil, fmt.Errorf("envelope: key %s is %v, not an HPKE key", r.Key, r.Algorithm)
		}
		pk, err := kem.NewPublicKey(r.PublicKey)
		if err != nil {
			return nil, fmt.Errorf("envelope: key %s: %w", r.Key, err)
		}
		out, err := hpke.Seal(pk, kdf, aead, hpkeInfo(resource, r.Key), contentKey)
		if err != nil {
			return nil, fmt.Errorf("envelope: sealing to key %s: %w", r.Key, err)
		}
		// hpke.Seal returns enc || ciphertext; the ciphertext of a content key has a fixed
		// size, so enc is the rest, whatever the KEM.
		split := len(out) - SealedKeySize
		env.Recipients = append(env.Recipients, &rallyv1.SealedKey{Key: r.Key, Enc: out[:split], SealedKey: out[split:]})
	}
	return env, nil
}

// Open opens an envelope read from the record named resource with the private key whose
// ID is key.
func Open(env *rallyv1.Envelope, key string, priv hpke.PrivateKey, resource string) (*rallyv1.SealedFields, error) {
	if env.GetVersion() != Version {
		return nil, fmt.Errorf("%w %d", ErrVersion, env.GetVersion())
	}
	// The check below only gives a clearer error: the resource expected, not the one the
	// envelope claims, is what the HPKE info and the additional data are computed from.
	if env.GetResource() != resource {
		return nil, fmt.Errorf("%w: %s, read from %s", ErrOtherRecord, env.GetResource(), resource)
	}
	var sk *rallyv1.SealedKey
	for _, r := range env.GetRecipients() {
		if r.GetKey() == key {
			sk = r
			break
		}
	}
	if sk == nil {
		return nil, fmt.Errorf("%w (key %s)", ErrNotRecipient, key)
	}
	kdf, aead := suite()
	ct := append(append([]byte(nil), sk.GetEnc()...), sk.GetSealedKey()...)
	contentKey, err := hpke.Open(priv, kdf, aead, hpkeInfo(resource, key), ct)
	if err != nil || len(contentKey) != contentKeySize {
		return nil, fmt.Errorf("%w (key %s)", ErrWrongKey, key)
	}
	if len(env.GetNonce()) != NonceSize {
		return nil, fmt.Errorf("%w: the nonce is %d bytes, not %d", ErrTampered, len(env.GetNonce()), NonceSize)
	}
	gcm, err := newGCM(contentKey)
	if err != nil {
		return nil, err
	}
	plaintext, err := gcm.Open(nil, env.GetNonce(), env.GetCiphertext(), additionalData(resource))
	if err != nil {
		return nil, ErrTampered
	}
	fields := new(rallyv1.SealedFields)
	if err := proto.Unmarshal(plaintext, fields); err != nil {
		return nil, fmt.Errorf("%w: the fields do not decode: %v", ErrTampered, err)
	}
	return fields, nil
}

func newGCM(key []byte) (cipher.AEAD, error) {
	block, err := aes.NewCipher(key)
	if err != nil {
		return nil, err
	}
	return cipher.NewGCM(block)
}
