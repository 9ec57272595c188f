package main

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"slices"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/peterbourgon/ff/v3/ffcli"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/encoding/protojson"

	rallyv1 "github.com/rallyhq/rally/gen/go/rally/v1"
	"github.com/rallyhq/rally/internal/announcesig"
	"github.com/rallyhq/rally/internal/envelope"
)

var audiences = map[string]rallyv1.AnnouncementAudience{
	"public":  rallyv1.AnnouncementAudience_ANNOUNCEMENT_AUDIENCE_PUBLIC,
	"holders": rallyv1.AnnouncementAudience_ANNOUNCEMENT_AUDIENCE_RSVP_HOLDERS,
}

// audienceName shows an announcement's audience as --audience takes it.
func audienceName(a rallyv1.AnnouncementAudience) string {
	if a == rallyv1.AnnouncementAudience_ANNOUNCEMENT_AUDIENCE_RSVP_HOLDERS {
		return "holders"
	}
	return "public" // UNSPECIFIED is treated as PUBLIC, by the API and by the signature
}

func (c *cli) announceCommand() *ffcli.Command {
	var text, audience, keyPath string
	return c.leaf(leaf{
		name: "announce", usage: "events announce EVENT --text TEXT [--audience public|holders] [--key FILE]", minArgs: 1, maxArgs: 1,
		short: "post a short message to an event's participants, signed with your key (its organisers only)",
		long: `With --key, the announcement is signed here with the Ed25519 signing key of FILE, your
key file (rally keys create), so that participants' clients can tell it comes from you
even if the server or your token is stolen: they check the signature themselves (rally
events announcements EVENT) and compare the key's fingerprint with the one you publish.
The key must be registered as yours (rally keys register FILE) and not revoked.

Without --key the announcement is posted unsigned; rallyd refuses that when the event's
campaign requires signed announcements (rally campaigns update --require-signed-announcements).

Example: rally events announce vigil-berlin --text "We moved to the north side of the square" --key berlin.keys`,
		flags: func(fs *flag.FlagSet) {
			fs.StringVar(&text, "text", "", "the message, plain `text`, at most 1000 characters")
			fs.StringVar(&audience, "audience", "public", "who may read it (`audience`): public (everyone who can see the event) or holders (holders of its RSVPs, and its organisers)")
			fs.StringVar(&keyPath, "key", "", "your key `file` (rally keys create): sign the announcement with its Ed25519 key")
		},
		run: func(ctx context.Context, args []string) error {
			event, err := resourceName("events", args[0])
			if err != nil {
				return err
			}
			if text == "" {
				return usagef("--text is required")
			}
			a := &rallyv1.Announcement{Text: text}
			if a.Audience, err = parseEnum("audience", audience, audiences); err != nil {
				return err
			}
			var fingerprint string
			if keyPath != "" {
				key, err := c.signingKey(ctx, keyPath)
				if err != nil {
					return err
				}
				if a.Signature, err = announcesig.Sign(key.priv, key.id, event, a, time.Now()); err != nil {
					return err
				}
				fingerprint = key.fingerprint
			} else {
				c.extraHint = func(st *status.Status) string {
					if violates(st, "announcement.signature") {
						return "this event's campaign requires signed announcements: sign it with --key FILE, your key file (rally keys create)"
					}
					return ""
				}
			}
			posted, err := c.eventsClient().PostAnnouncement(ctx, &rallyv1.PostAnnouncementRequest{Parent: event, Announcement: a})
			if err != nil {
				return err
			}
			signed := "no (give --key FILE to sign)"
			if fingerprint != "" {
				signed = "signed by " + fingerprint
			}
			return c.printFields(posted, []field{
				{"Name", posted.GetName()},
				{"Posted", formatTime(posted.GetCreateTime(), nil)},
				{"Audience", audienceName(posted.GetAudience())},
				{"Signature", signed},
				{"Text", posted.GetText()},
			})
		},
	})
}

// signingKey is the Ed25519 key of a key file, with what identifies it.
type signingKey struct {
	priv        ed25519.PrivateKey
	id          string // the key's ID as registered: the last segment of organisers/{o}/keys/{k}
	fingerprint string // computed here from the public key
}

// signingKey reads the Ed25519 signing key of the key file at path. Its key ID is the one
// the file records since rally keys register; a file without it (written elsewhere, or
// registered by another copy) is matched by public key against the logged-in organiser's
// current keys.
func (c *cli) signingKey(ctx context.Context, path string) (signingKey, error) {
	f, err := readKeyFile(path)
	if err != nil {
		return signingKey{}, usagef("--key: %v", err)
	}
	i := slices.IndexFunc(f.Keys, func(k fileKey) bool {
		return k.Algorithm == rallyv1.KeyAlgorithm_KEY_ALGORITHM_ED25519.String()
	})
	if i < 0 {
		return signingKey{}, usagef("--key %s holds no Ed25519 signing key: rally keys create --out NEWFILE makes a key file with one", path)
	}
	k := f.Keys[i]
	seed, err := b64.DecodeString(k.PrivateKey)
	if err != nil || len(seed) != ed25519.SeedSize {
		return signingKey{}, usagef("--key %s: the Ed25519 private key is not %d bytes of base64url", path, ed25519.SeedSize)
	}
	priv := ed25519.NewKeyFromSeed(seed)
	pub := priv.Public().(ed25519.PublicKey)
	// A file whose halves do not match would sign with a key nobody can check.
	if stored, err := b64.DecodeString(k.PublicKey); err != nil || !bytes.Equal(stored, pub) {
		return signingKey{}, usagef("--key %s: the Ed25519 public key does not match its private key: the file is damaged", path)
	}
	key := signingKey{priv: priv, fingerprint: envelope.Fingerprint(rallyv1.KeyAlgorithm_KEY_ALGORITHM_ED25519, pub)}
	if k.Name != "" {
		key.id = k.Name[strings.LastIndex(k.Name, "/")+1:]
		return key, nil
	}
	req := &rallyv1.ListOrganiserKeysRequest{Parent: "organisers/me", PageSize: 1000}
	for {
		page, err := c.organisersClient().ListOrganiserKeys(ctx, req)
		if err != nil {
			return signingKey{}, err
		}
		for _, ok := range page.GetOrganiserKeys() {
			if ok.GetAlgorithm() == rallyv1.KeyAlgorithm_KEY_ALGORITHM_ED25519 && ok.GetRevokeTime() == nil && bytes.Equal(ok.GetPublicKey(), pub) {
				key.id = ok.GetName()[strings.LastIndex(ok.GetName(), "/")+1:]
				return key, nil
			}
		}
		if req.PageToken = page.GetNextPageToken(); req.PageToken == "" {
			break
		}
	}
	return signingKey{}, usagef("--key %s: its Ed25519 key (fingerprint %s) is not one of your current keys: rally keys register %s registers it", path, key.fingerprint, path)
}

// verdict is what a participant's client concludes of one announcement's signature.
type verdict struct {
	Verified bool `json:"verified"`
	// SignedBy is the fingerprint of the key whose signature verifies, computed here from
	// its public key, never the server's copy; empty when none verifies.
	SignedBy string `json:"signedBy,omitempty"`
	// Problem says why it is not verified: unsigned, a signature that does not verify,
	// or a key not among --trust.
	Problem string `json:"problem,omitempty"`
}

func (v verdict) String() string {
	switch {
	case v.Verified:
		return "verified: signed by " + v.SignedBy
	case v.Problem != "":
		return "NOT VERIFIED (" + v.Problem + ")"
	}
	return "NOT VERIFIED"
}

// verifyAnnouncement checks an announcement of event (the event asked for, not one the
// server names: a signature made for another event must not pass here) on its own,
// trusting nothing the server says about the key but its bytes. trusted, when not
// empty, are the normalised fingerprints (see normaliseFingerprint) a valid signature's
// key must be among.
func verifyAnnouncement(event string, a *rallyv1.Announcement, trusted []string) verdict {
	sig := a.GetSignature()
	if sig == nil {
		return verdict{Problem: "unsigned"}
	}
	pub := sig.GetPublicKey()
	if len(pub) != ed25519.PublicKeySize {
		return verdict{Problem: "the signature comes without a valid public key"}
	}
	if err := announcesig.Verify(ed25519.PublicKey(pub), event, a); errors.Is(err, announcesig.ErrBadSignature) {
		return verdict{Problem: "the signature does not match the announcement: it was changed, or not signed by this key"}
	} else if err != nil {
		return verdict{Problem: "malformed signature: " + err.Error()}
	}
	fp := envelope.Fingerprint(rallyv1.KeyAlgorithm_KEY_ALGORITHM_ED25519, pub)
	if len(trusted) > 0 && !slices.Contains(trusted, normaliseFingerprint(fp)) {
		return verdict{Problem: "untrusted key " + fp}
	}
	return verdict{Verified: true, SignedBy: fp}
}

// normaliseFingerprint lets a fingerprint copied from a flyer be typed in any case, with
// or without its dashes and spaces.
func normaliseFingerprint(fp string) string {
	return strings.NewReplacer("-", "", " ", "").Replace(strings.ToUpper(fp))
}

// fingerprintChars are the characters of a normalised fingerprint: base32's.
const fingerprintChars = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567"

func (c *cli) announcementsCommand() *ffcli.Command {
	var list listFlags
	var trust listFlag
	var rsvp string
	return c.leaf(leaf{
		name: "announcements", usage: "events announcements EVENT [--trust FINGERPRINT ...] [--rsvp RSVP] [--limit N]", minArgs: 1, maxArgs: 1,
		offline: true, // it connects itself: with an RSVP's saved manage token for --rsvp
		short:   "list an event's announcements, newest first, checking their signatures here",
		long: `Lists the announcements you may read: public ones to everyone, those for RSVP holders
to the holder of one of the event's RSVPs (--rsvp names it, and rally sends its saved
manage token) and to its organisers. Each shows when it was posted, its audience and its
text, then one of:

  verified: signed by FINGERPRINT
      its signature verifies, here, against the public key it carries; FINGERPRINT is
      computed here from that key. Compare it with the one the organisers publish (on
      flyers, in person), or give it with --trust.
  NOT VERIFIED (unsigned)
  NOT VERIFIED (the signature does not match the announcement: ...)
      it may not come from the organisers: someone changed it, or it was posted with a
      stolen token or by a compromised server.
  NOT VERIFIED (untrusted key FINGERPRINT)
      with --trust: the signature verifies, but by a key you did not name.

The exit code is 0 whatever the verdicts (1 and up only for errors, as for every
command): read the lines. With --json, prints {"announcements": [...]}, each item with
"announcement" (the API's JSON) and "verification": {"verified": true|false,
"signedBy": FINGERPRINT when verified, "problem": why not}.`,
		flags: func(fs *flag.FlagSet) {
			list.register(fs)
			fs.StringVar(&rsvp, "rsvp", "", "your `RSVP` to the event, events/EVENT/rsvps/ID: with its saved manage token, list the announcements for RSVP holders too")
			fs.Var(&trust, "trust", "`fingerprint` of an organiser key to trust, as the organisers publish it (ABCD-EFGH-IJKL-MNOP); repeat for more. Signatures by other keys are NOT VERIFIED")
		},
		run: func(ctx context.Context, args []string) error {
			event, err := resourceName("events", args[0])
			if err != nil {
				return err
			}
			if rsvp == "" {
				err = c.connect()
			} else if rsvp, err = heldName(rsvpHolding, rsvp); err == nil {
				if parentOf(rsvp) != event {
					return usagef("--rsvp %s is not an RSVP of %s", rsvp, event)
				}
				err = c.connectHeld(rsvpHolding, rsvp)
			}
			if err != nil {
				return err
			}
			var trusted []string
			for _, fp := range trust {
				n := normaliseFingerprint(fp)
				if len(n) != 16 || strings.Trim(n, fingerprintChars) != "" {
					return usagef("--trust %q: not a key fingerprint, which is 16 letters and digits 2 to 7 such as ABCD-EFGH-IJKL-MNOP", fp)
				}
				trusted = append(trusted, n)
			}
			announcements, err := collect(list, func(size int32, token string) ([]*rallyv1.Announcement, string, error) {
				resp, err := c.eventsClient().ListAnnouncements(ctx, &rallyv1.ListAnnouncementsRequest{Parent: event, PageSize: size, PageToken: token})
				return resp.GetAnnouncements(), resp.GetNextPageToken(), err
			})
			if err != nil {
				return err
			}
			verdicts := make([]verdict, len(announcements))
			for i, a := range announcements {
				verdicts[i] = verifyAnnouncement(event, a, trusted)
			}
			if c.json {
				return c.printVerifiedJSON(announcements, verdicts)
			}
			if len(announcements) == 0 {
				_, err := fmt.Fprintln(c.stdout, "(none)")
				return err
			}
			var b strings.Builder
			for i, a := range announcements {
				if i > 0 {
					b.WriteString("\n")
				}
				tw := tabwriter.NewWriter(&b, 0, 4, 2, ' ', 0)
				fmt.Fprintf(tw, "%s\t%s\n", formatTime(a.GetCreateTime(), nil), audienceName(a.GetAudience()))
				tw.Flush()
				fmt.Fprintf(&b, "  %s\n  %s\n", strings.ReplaceAll(a.GetText(), "\n", "\n  "), verdicts[i])
			}
			_, err = fmt.Fprint(c.stdout, b.String())
			return err
		},
	})
}

// printVerifiedJSON prints announcements with their verdicts: the API's JSON has no place
// for what the client concluded, so each is wrapped with its own.
func (c *cli) printVerifiedJSON(announcements []*rallyv1.Announcement, verdicts []verdict) error {
	type item struct {
		Announcement json.RawMessage `json:"announcement"`
		Verification verdict         `json:"verification"`
	}
	out := struct {
		Announcements []item `json:"announcements"`
	}{Announcements: []item{}}
	for i, a := range announcements {
		raw, err := protojson.Marshal(a)
		if err != nil {
			return err
		}
		out.Announcements = append(out.Announcements, item{Announcement: raw, Verification: verdicts[i]})
	}
	b, err := json.MarshalIndent(out, "", "  ")
	if err != nil {
		return err
	}
	_, err = c.stdout.Write(append(b, '\n'))
	return err
}
