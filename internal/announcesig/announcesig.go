// Package announcesig signs and verifies organisers' announcements (Announcement.signature)
// with Ed25519 (RFC 8032), over the canonical encoding documented on AnnouncementSignature
// in proto/rally/v1/event.proto. The server checks a signature when an announcement is
// posted; participants' clients (the CLI through this package, the browser through
// WebCrypto) check it again on their own, so that a compromised server or a stolen
// organiser token cannot put words in the organisers' mouths.
//
// The signed message is not the announcement's protobuf encoding: protobuf has no
// canonical form, and a browser would have to reproduce it bit for bit. It is instead the
// concatenation of these fields, each preceded by its length in bytes as a 4-byte
// big-endian integer:
//
//	#  field          written as
//	1  context        "rally.v1.Announcement"
//	2  event          the event's resource name, "events/{event}"
//	3  text           UTF-8
//	4  audience       the enum value name; UNSPECIFIED as "ANNOUNCEMENT_AUDIENCE_PUBLIC"
//	5  sign_time      RFC 3339 UTC, exactly three fractional digits ("…T14:00:00.000Z")
//
// Why a context string: an organiser's Ed25519 key might one day sign other things, and
// the leading "rally.v1.Announcement" makes a signature over an announcement useless as a
// signature over anything else (and the v1 in it lets a later encoding differ). Why
// length prefixes: with plain concatenation, or with a separator that the text may itself
// contain, two different announcements can encode to the same bytes (event "events/a",
// text "bc" against event "events/ab", text "c"), and one signature would cover both.
// Each field's length fixes where it ends, so distinct announcements give distinct
// messages. Why the event name: a signature for one event's announcement must not be
// replayable on another event; sign_time bounds replays on the same event, since the
// server refuses a signature more than SignTimeSkew away from its clock. Why UNSPECIFIED
// is written as PUBLIC: the server treats the two alike, so they must sign alike, or
// a client sending the default would sign something other than what readers see. Why
// whole milliseconds: JavaScript's Date has no finer precision, and a time that could be
// written two ways would not be canonical.
package announcesig

import (
	"crypto/ed25519"
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"time"
	"unicode/utf8"

	rallyv1 "github.com/rallyhq/rally/gen/go/rally/v1"
	"google.golang.org/protobuf/types/known/timestamppb"
)

// Context is the first field of every signed message, which binds a signature to
// Rally's v1 announcements.
const Context = "rally.v1.Announcement"

// TimeLayout writes sign_time as JavaScript's Date.toISOString does.
const TimeLayout = "2006-01-02T15:04:05.000Z"

// The errors of Message, Sign and Verify; each names what is wrong without repeating
// the text or the signature, so that they can be shown to a client or logged.
var (
	// ErrNoSignature: the announcement carries no signature.
	ErrNoSignature = errors.New("the announcement is not signed")
	// ErrSignTime: sign_time is missing, out of range, or not a whole millisecond.
	ErrSignTime = errors.New("sign_time must be set, between years 1 and 9999, in whole milliseconds")
	// ErrText: the text is not valid UTF-8 (Go strings may hold any bytes).
	ErrText = errors.New("the text is not valid UTF-8")
	// ErrAudience: the audience is not one of AnnouncementAudience's values.
	ErrAudience = errors.New("the audience is not a defined AnnouncementAudience")
	// ErrPublicKey: the public key is not 32 bytes.
	ErrPublicKey = fmt.Errorf("an Ed25519 public key is %d bytes", ed25519.PublicKeySize)
	// ErrBadSignature: the signature is not 64 bytes, or does not verify over this
	// announcement with this key (forged, made by another key, or over other content).
	ErrBadSignature = errors.New("the signature does not verify over this announcement with this key")
)

// Message returns the bytes that are signed for announcement a of event (a resource
// name, "events/{event}"), with the sign_time of a.Signature.
func Message(event string, a *rallyv1.Announcement) ([]byte, error) {
	if a.GetSignature() == nil {
		return nil, ErrNoSignature
	}
	t, err := signTime(a.GetSignature().GetSignTime())
	if err != nil {
		return nil, err
	}
	return message(event, a.GetText(), a.GetAudience(), t)
}

// Sign signs announcement a of event with priv at t, truncated to the millisecond, and
// returns the signature to set as a.Signature: key (keyID), sign_time and signature.
// The output-only public_key and fingerprint are left for the server to fill. a itself
// is not changed.
func Sign(priv ed25519.PrivateKey, keyID, event string, a *rallyv1.Announcement, t time.Time) (*rallyv1.AnnouncementSignature, error) {
	if len(priv) != ed25519.PrivateKeySize {
		return nil, fmt.Errorf("an Ed25519 private key is %d bytes", ed25519.PrivateKeySize)
	}
	ts := timestamppb.New(t.UTC().Truncate(time.Millisecond))
	t, err := signTime(ts)
	if err != nil {
		return nil, err
	}
	msg, err := message(event, a.GetText(), a.GetAudience(), t)
	if err != nil {
		return nil, err
	}
	return &rallyv1.AnnouncementSignature{
		Key:       keyID,
		SignTime:  ts,
		Signature: ed25519.Sign(priv, msg),
	}, nil
}

// Verify checks a.Signature over announcement a of event with pub. It checks the
// signature only: whose key it is, whether that key may sign for the event, and whether
// sign_time is recent are the caller's to decide. Its errors are those above, for
// errors.Is.
func Verify(pub ed25519.PublicKey, event string, a *rallyv1.Announcement) error {
	if len(pub) != ed25519.PublicKeySize {
		return ErrPublicKey
	}
	msg, err := Message(event, a)
	if err != nil {
		return err
	}
	sig := a.GetSignature().GetSignature()
	if len(sig) != ed25519.SignatureSize || !ed25519.Verify(pub, msg, sig) {
		return ErrBadSignature
	}
	return nil
}

// signTime returns ts as a time, or ErrSignTime if it is missing, outside the years
// that RFC 3339 writes with four digits (timestamppb's valid range), or finer than a
// millisecond.
func signTime(ts *timestamppb.Timestamp) (time.Time, error) {
	if ts == nil || ts.CheckValid() != nil || ts.GetNanos()%int32(time.Millisecond) != 0 {
		return time.Time{}, ErrSignTime
	}
	return ts.AsTime().UTC(), nil
}

// audienceName is the audience as it is signed: its enum value name, UNSPECIFIED as
// PUBLIC.
func audienceName(a rallyv1.AnnouncementAudience) (string, error) {
	switch a {
	case rallyv1.AnnouncementAudience_ANNOUNCEMENT_AUDIENCE_UNSPECIFIED, rallyv1.AnnouncementAudience_ANNOUNCEMENT_AUDIENCE_PUBLIC:
		return rallyv1.AnnouncementAudience_ANNOUNCEMENT_AUDIENCE_PUBLIC.String(), nil
	case rallyv1.AnnouncementAudience_ANNOUNCEMENT_AUDIENCE_RSVP_HOLDERS:
		return a.String(), nil
	}
	return "", ErrAudience
}

func message(event, text string, audience rallyv1.AnnouncementAudience, t time.Time) ([]byte, error) {
	if !utf8.ValidString(text) {
		return nil, ErrText
	}
	aud, err := audienceName(audience)
	if err != nil {
		return nil, err
	}
	fields := []string{Context, event, text, aud, t.UTC().Format(TimeLayout)}
	n := 0
	for _, f := range fields {
		if uint64(len(f)) > math.MaxUint32 {
			return nil, errors.New("a field is too long to sign")
		}
		n += 4 + len(f)
	}
	msg := make([]byte, 0, n)
	for _, f := range fields {
		msg = binary.BigEndian.AppendUint32(msg, uint32(len(f)))
		msg = append(msg, f...)
	}
	return msg, nil
}
