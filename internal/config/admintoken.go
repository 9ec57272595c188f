package config

import (
	"errors"
	"math"
	"strings"

	"github.com/rallyhq/rally/internal/auth"
)

// The admin token is the one credential that can create organisers and act on every
// campaign, event and RSVP, and rallyd cannot rate its way out of a guessable one: a state
// that guesses it owns the deployment. The generated token (auth.NewToken) and the
// documented recipe (rly_admin_ and `openssl rand -hex 32`) carry 256 random bits; an
// operator who types one instead ("rly_admin_" + 40 × "a", a test constant, a word
// repeated) gets far less, and rallyd refuses to start with it rather than run with it.
//
// Randomness cannot be measured from one string, only bounded from above. estimateBits
// does what a guesser would: the string's own character frequencies give a Shannon
// entropy per character (low for a few characters repeated, at most log2 of the number of
// different characters), counted only over the characters a guesser could not predict
// from the ones before: not those that continue a run or a step of one ("aaaa", "abcd",
// "4321"), nor those that complete four characters seen earlier in the string
// ("pass-pass-pass"). Random tokens lose almost nothing to this (a 43-character base64url
// body estimates above 170 bits, 64 hex characters above 200), patterned ones lose most
// (the 40 "a" estimate 0, "0123456789abcdef..." test tokens under 90). It cannot know
// words: a passphrase of dictionary words estimates like random letters. The bar is
// minAdminTokenBits, under the estimate of any 32-byte random token in hex or base64 (and
// of any 24-byte one in base64url); 16 random bytes in hex (32 characters, 128 bits)
// often estimate less and are refused: use 32 bytes.

// minAdminTokenBits is the least estimated entropy of an admin token's random part.
const minAdminTokenBits = 112

// minAdminTokenChars is the least number of characters after the prefix.
const minAdminTokenChars = 32

// adminTokenRecipe tells the operator how to make a good token.
const adminTokenRecipe = `generate one with: printf 'rly_admin_%s\n' "$(openssl rand -hex 32)", or leave it unset for rallyd to generate and print one`

// checkAdminToken refuses an admin token that is malformed or could be guessed. Its
// errors never quote the token, which would then reach logs and terminals.
func checkAdminToken(token string) error {
	body, ok := strings.CutPrefix(token, auth.AdminPrefix)
	if !ok {
		return errors.New("admin-token: must start with " + auth.AdminPrefix + " (so that secret scanners recognise a leaked one); " + adminTokenRecipe)
	}
	for i := 0; i < len(body); i++ {
		if body[i] <= ' ' || body[i] > '~' {
			return errors.New("admin-token: only printable ASCII characters without spaces may follow " + auth.AdminPrefix + " (it travels in an HTTP header); " + adminTokenRecipe)
		}
	}
	if len(body) < minAdminTokenChars {
		return errors.New("admin-token: must have at least 32 characters after " + auth.AdminPrefix + "; " + adminTokenRecipe)
	}
	if estimateBits(body) < minAdminTokenBits {
		return errors.New("admin-token: not random enough: it repeats characters or sequences (such as aaaa, abcd, 1234, or a part repeated) or uses too few different characters, so it could be guessed; " + adminTokenRecipe)
	}
	return nil
}

// estimateBits estimates the entropy of s, printable ASCII, in bits (see above).
func estimateBits(s string) float64 {
	if s == "" {
		return 0
	}
	var counts [128]int
	for i := 0; i < len(s); i++ {
		counts[s[i]&127]++
	}
	perChar := 0.0
	for _, n := range counts {
		if n > 0 {
			p := float64(n) / float64(len(s))
			perChar -= p * math.Log2(p)
		}
	}
	unpredictable := 0
	for i := 0; i < len(s); i++ {
		if i >= 2 {
			step := int(s[i-1]) - int(s[i-2])
			if int(s[i])-int(s[i-1]) == step && step >= -1 && step <= 1 {
				continue // a run or a step of one goes on
			}
		}
		if i >= 4 && strings.Contains(s[:i], s[i-3:i+1]) {
			continue // four characters seen before
		}
		unpredictable++
	}
	return perChar * float64(unpredictable)
}
