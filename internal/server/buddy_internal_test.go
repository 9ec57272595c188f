package server

import (
	"bytes"
	"errors"
	"strings"
	"testing"
)

// TestNicknameSeal: a sealed nickname holds no trace of the nickname, opens only for the
// RSVP whose holder chose it and under the server's secrets (an older one too, during a
// rotation), and never once altered.
func TestNicknameSeal(t *testing.T) {
	const owner, nick = "events/vigil/rsvps/anna", "Anna from the choir"
	old := keyring(t, "o")
	sealed, err := sealNickname(old, owner, nick)
	if err != nil {
		t.Fatal(err)
	}
	if bytes.Contains(sealed, []byte(nick)) || bytes.Contains(sealed, []byte("Anna")) {
		t.Fatalf("the sealed nickname holds it in clear: %q", sealed)
	}
	if got, err := openNickname(old, owner, sealed); err != nil || got != nick {
		t.Fatalf("openNickname = %q, %v", got, err)
	}
	if got, err := openNickname(keyring(t, "n", "o"), owner, sealed); err != nil || got != nick {
		t.Errorf("after a rotation: %q, %v", got, err)
	}
	for what, open := range map[string]func() (string, error){
		"for another RSVP":  func() (string, error) { return openNickname(old, "events/vigil/rsvps/birch", sealed) },
		"under another key": func() (string, error) { return openNickname(keyring(t, "x"), owner, sealed) },
		"altered": func() (string, error) {
			bad := bytes.Clone(sealed)
			bad[len(bad)-1] ^= 1
			return openNickname(old, owner, bad)
		},
		"empty": func() (string, error) { return openNickname(old, owner, nil) },
	} {
		if got, err := open(); !errors.Is(err, errNicknameUnopenable) {
			t.Errorf("%s: opened to %q, %v", what, got, err)
		}
	}
	again, _ := sealNickname(old, owner, nick)
	if bytes.Equal(again, sealed) {
		t.Error("two seals of one nickname are equal: the nonce repeats")
	}
}

// TestBuddyCodes: codes are 12 characters of a-z and 2-7, and differ.
func TestBuddyCodes(t *testing.T) {
	seen := map[string]bool{}
	for range 1000 {
		c := newBuddyCode()
		if len(c) != buddyCodeLen || strings.Trim(c, "abcdefghijklmnopqrstuvwxyz234567") != "" {
			t.Fatalf("code %q", c)
		}
		if seen[c] {
			t.Fatalf("code %q twice in 1000", c)
		}
		seen[c] = true
	}
}

// TestBuddyTopics: an RSVP's buddy topic names neither the RSVP nor its event, differs
// between RSVPs, and follows the keyring (newest first).
func TestBuddyTopics(t *testing.T) {
	s := &service{secrets: keyring(t, "n", "o")}
	a, b := s.buddyTopics("events/vigil/rsvps/anna"), s.buddyTopics("events/vigil/rsvps/birch")
	if len(a) != 2 || a[0] == a[1] || a[0] == b[0] {
		t.Fatalf("topics %v, %v", a, b)
	}
	for _, topic := range a {
		if !strings.HasPrefix(topic, "buddies/") || strings.Contains(topic, "vigil") || strings.Contains(topic, "anna") {
			t.Errorf("topic %q", topic)
		}
	}
	if old := (&service{secrets: keyring(t, "o")}).buddyTopics("events/vigil/rsvps/anna"); old[0] != a[1] {
		t.Errorf("a replica without the new secret follows %s, not among %v", old[0], a)
	}
}
