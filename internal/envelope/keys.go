package envelope

import (
	"crypto/ecdh"
	"crypto/ed25519"
	"crypto/hpke"
	"crypto/sha256"
	"encoding/base32"
	"fmt"
	"strings"

	rallyv1 "github.com/rallyhq/rally/gen/go/rally/v1"
)

// Public key sizes of the algorithms, in their raw encodings.
const (
	x25519PublicKeySize = 32
	// ML-KEM-768's encapsulation key (1184 bytes), then X25519's public key (32).
	mlkem768X25519PublicKeySize = 1184 + 32
)

// KEM returns the HPKE KEM of an HPKE key algorithm, or false for others.
func KEM(alg rallyv1.KeyAlgorithm) (hpke.KEM, bool) {
	switch alg {
	case rallyv1.KeyAlgorithm_KEY_ALGORITHM_HPKE_X25519:
		return hpke.DHKEM(ecdh.X25519()), true
	case rallyv1.KeyAlgorithm_KEY_ALGORITHM_HPKE_MLKEM768_X25519:
		return hpke.MLKEM768X25519(), true
	}
	return nil, false
}

// EncSize returns the size of the HPKE encapsulated key of an HPKE key algorithm (0 for
// others).
func EncSize(alg rallyv1.KeyAlgorithm) int {
	switch alg {
	case rallyv1.KeyAlgorithm_KEY_ALGORITHM_HPKE_X25519:
		return 32
	case rallyv1.KeyAlgorithm_KEY_ALGORITHM_HPKE_MLKEM768_X25519:
		return 1088 + 32 // ML-KEM-768's ciphertext, then X25519's ephemeral key
	}
	return 0
}

// IsHPKE reports whether keys of the algorithm are sealed to.
func IsHPKE(alg rallyv1.KeyAlgorithm) bool {
	_, ok := KEM(alg)
	return ok
}

// CheckPublicKey reports what is wrong with a public key of the algorithm, or nil. An
// HPKE key must also take a trial seal: X25519 accepts any 32 bytes as a public key, and
// only an exchange finds a low-order point, which would give every envelope sealed to it
// a key anyone can compute.
func CheckPublicKey(alg rallyv1.KeyAlgorithm, pub []byte) error {
	switch alg {
	case rallyv1.KeyAlgorithm_KEY_ALGORITHM_HPKE_X25519:
		if len(pub) != x25519PublicKeySize {
			return fmt.Errorf("an X25519 public key is %d bytes, not %d", x25519PublicKeySize, len(pub))
		}
	case rallyv1.KeyAlgorithm_KEY_ALGORITHM_HPKE_MLKEM768_X25519:
		if len(pub) != mlkem768X25519PublicKeySize {
			return fmt.Errorf("an ML-KEM-768 + X25519 public key is %d bytes, not %d", mlkem768X25519PublicKeySize, len(pub))
		}
	case rallyv1.KeyAlgorithm_KEY_ALGORITHM_ED25519:
		if len(pub) != ed25519.PublicKeySize {
			return fmt.Errorf("an Ed25519 public key is %d bytes, not %d", ed25519.PublicKeySize, len(pub))
		}
		return nil
	default:
		return fmt.Errorf("unknown key algorithm %v", alg)
	}
	kem, _ := KEM(alg)
	pk, err := kem.NewPublicKey(pub)
	if err != nil {
		return fmt.Errorf("not a valid public key: %v", err)
	}
	if _, err := hpke.Seal(pk, hpke.HKDFSHA256(), hpke.AES128GCM(), nil, nil); err != nil {
		return fmt.Errorf("not a usable public key: %v", err)
	}
	return nil
}

// fingerprintEncoding is base32 without padding: 80 bits are 16 characters exactly.
var fingerprintEncoding = base32.StdEncoding.WithPadding(base32.NoPadding)

// Fingerprint returns a key's fingerprint, short enough to print on a flyer and compare
// by eye: the first 80 bits of SHA-256(algorithm's enum name || 0x00 || public key), in
// base32, as four dash-separated groups of four characters. The algorithm is part of the
// input so that one key's bytes under two algorithms never share a fingerprint.
func Fingerprint(alg rallyv1.KeyAlgorithm, pub []byte) string {
	h := sha256.New()
	h.Write([]byte(alg.String()))
	h.Write([]byte{0})
	h.Write(pub)
	s := fingerprintEncoding.EncodeToString(h.Sum(nil)[:10])
	return strings.Join([]string{s[0:4], s[4:8], s[8:12], s[12:16]}, "-")
}
