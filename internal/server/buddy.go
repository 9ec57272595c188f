package server

import (
	"context"
	"crypto/aes"
	"crypto/cipher"
	"crypto/hkdf"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"time"

	"google.golang.org/protobuf/types/known/emptypb"
	"google.golang.org/protobuf/types/known/timestamppb"

	rallyv1 "github.com/rallyhq/rally/gen/go/rally/v1"
	"github.com/rallyhq/rally/internal/names"
	"github.com/rallyhq/rally/internal/secret"
	"github.com/rallyhq/rally/internal/store"
)

// The safety of the action itself (issue 17): buddies, the home-safe check-out and
// forget-me (DeleteRsvp).
//
// A holder asks for a buddy code (PairBuddy) and gives it to their buddy in person; the
// buddy's own RSVP joins with it (JoinBuddy). Each then sees the other's nickname and
// check-out time in their own Rsvp.buddy, and nothing else of the other: the store keeps
// the other RSVP's name for the server to notify the buddy's stream, and the server never
// shows it.
//
//   - The code is 12 characters of base32 (60 bits from crypto/rand), kept by the store
//     as its SHA-256 only, for BuddyCodeTTL, and used once. Guessing one needs about 2^59
//     tries within its ten minutes, against the JoinBuddy rate limit.
//   - Nicknames are sealed by the server before the store sees them (sealNickname), so a
//     copy of Redis shows no nickname.
//   - A buddy's stream learns of a change on a topic of its own (buddyTopic), live only,
//     which the holders' history never sees; see publish.go.

// BuddyCodeTTL is how long a buddy code works: long enough to read it out to someone
// standing next to you, short enough that a code seen over a shoulder is soon useless.
const BuddyCodeTTL = 10 * time.Minute

// buddyCodeLen is the length of a buddy code: 12 base32 characters, 60 bits.
const buddyCodeLen = 12

// Purposes of the keys derived from the server secrets (secret.Keyring) for buddies: one
// use each, as secret's own purposes.
const (
	// nicknameSealPurpose keys the AEAD that seals buddies' nicknames.
	nicknameSealPurpose = "buddy-nickname-seal"
	// buddyTopicPurpose keys the MAC that names an RSVP's buddy topic.
	buddyTopicPurpose = "buddy-topic"
)

// newBuddyCode returns a fresh buddy code: the first 60 bits of 8 random bytes, in the
// lower-case base32 of resource IDs (a to z, 2 to 7).
func newBuddyCode() string {
	b := make([]byte, 8)
	rand.Read(b) // never fails (crypto/rand panics rather than return an error)
	return idEncoding.EncodeToString(b)[:buddyCodeLen]
}

// buddyCodeHash is what the store keeps of a code.
func buddyCodeHash(code string) []byte {
	sum := sha256.Sum256([]byte(code))
	return sum[:]
}

// Nicknames are sealed with AES-256-GCM under a key derived by HKDF-SHA256 from the
// server secret (nicknameSealPurpose), as idempotent tokens are (idempotency.go). The
// additional data is the name of the RSVP whose holder chose the nickname: the one name
// known both when it is sealed (PairBuddy, JoinBuddy: the caller's own RSVP, before the
// store knows the other) and when it is opened (the viewer's buddy link names it), so a
// sealed nickname moved to another link does not open. The secret never reaches Redis, so
// a copy of Redis opens none.

// nicknameSealVersion prefixes every sealed nickname, so that the format can change.
const nicknameSealVersion = 1

// nicknameAEAD is the AEAD of one keyring key.
func nicknameAEAD(key []byte) (cipher.AEAD, error) {
	k, err := hkdf.Key(sha256.New, key, nil, "rally buddy nickname v1", 32)
	if err != nil {
		return nil, err
	}
	block, err := aes.NewCipher(k)
	if err != nil {
		return nil, err
	}
	return cipher.NewGCM(block)
}

// nicknameAD binds a sealed nickname to the RSVP whose holder chose it.
func nicknameAD(owner string) []byte { return []byte("rally buddy nickname v1\x00" + owner) }

// sealNickname seals the nickname that owner's holder chose, under the newest secret.
func sealNickname(keys *secret.Keyring, owner, nickname string) ([]byte, error) {
	aead, err := nicknameAEAD(keys.Key(nicknameSealPurpose))
	if err != nil {
		return nil, err
	}
	out := make([]byte, 1+aead.NonceSize(), 1+aead.NonceSize()+len(nickname)+aead.Overhead())
	out[0] = nicknameSealVersion
	rand.Read(out[1:])
	return aead.Seal(out, out[1:], []byte(nickname), nicknameAD(owner)), nil
}

// errNicknameUnopenable: no secret of the keyring opens a sealed nickname (it was sealed
// under a secret since retired, or altered).
var errNicknameUnopenable = errors.New("the sealed nickname opens under no key")

// openNickname opens what sealNickname sealed for owner, trying every secret, newest
// first.
func openNickname(keys *secret.Keyring, owner string, sealed []byte) (string, error) {
	if len(sealed) == 0 || sealed[0] != nicknameSealVersion {
		return "", errNicknameUnopenable
	}
	for _, key := range keys.Keys(nicknameSealPurpose) {
		aead, err := nicknameAEAD(key)
		if err != nil {
			return "", err
		}
		if len(sealed) < 1+aead.NonceSize() {
			return "", errNicknameUnopenable
		}
		if nick, err := aead.Open(nil, sealed[1:1+aead.NonceSize()], sealed[1+aead.NonceSize():], nicknameAD(owner)); err == nil {
			return string(nick), nil
		}
	}
	return "", errNicknameUnopenable
}

// buddyTopics are the topics of an RSVP's buddy notifications, one per secret of the
// keyring, newest first: "buddies/" and a MAC of the RSVP's name under the secret
// (buddyTopicPurpose), so that neither the topic nor Redis names the RSVP. Streams follow
// the newest; a change is published on all of them, so that during a rotation a replica
// that knows the new secret hears one that does not know it yet.
func (s *service) buddyTopics(rsvp string) []string {
	keys := s.secrets.Keys(buddyTopicPurpose)
	topics := make([]string, len(keys))
	for i, k := range keys {
		m := hmac.New(sha256.New, k)
		m.Write([]byte(rsvp))
		topics[i] = "buddies/" + hex.EncodeToString(m.Sum(nil)[:16])
	}
	return topics
}

// buddyPayload is all a buddy topic carries: that something changed. The watcher re-reads
// its own RSVP.
var buddyPayload = []byte("buddy changed")

// notifyBuddy tells the stream of rsvp's holder (if any is open) that its RSVP changed:
// its buddy, or its place (promotion.go).
func (s *service) notifyBuddy(ctx context.Context, rsvp string) {
	if rsvp == "" || s.broker == nil {
		return
	}
	s.publishChange(ctx, buddyPayload, s.buddyTopics(rsvp)...)
}

// presentHolderRSVP shapes an RSVP for its holder, with its buddy as b says.
func (s *service) presentHolderRSVP(ctx context.Context, r *rallyv1.Rsvp, b store.Buddy) *rallyv1.Rsvp {
	r = s.presentRSVPTo(ctx, r, false)
	if b.RSVP == "" {
		return r
	}
	// A nickname that no longer opens (its secret retired) is shown empty rather than
	// failing the holder's read of their own RSVP.
	nick, _ := openNickname(s.secrets, b.RSVP, b.Nickname)
	r.Buddy = &rallyv1.RsvpBuddy{Nickname: nick}
	if !b.CheckOutTime.IsZero() {
		r.Buddy.CheckOutTime = timestamppb.New(b.CheckOutTime)
	}
	return r
}

// holderView is an RSVP as its holder reads it: with its buddy.
func (s *service) holderView(ctx context.Context, r *rallyv1.Rsvp) (*rallyv1.Rsvp, error) {
	b, err := s.store.GetBuddy(ctx, r.GetName())
	if err != nil {
		return nil, err
	}
	return s.presentHolderRSVP(ctx, r, b), nil
}

func (s *rsvpServer) PairBuddy(ctx context.Context, req *rallyv1.PairBuddyRequest) (*rallyv1.PairBuddyResponse, error) {
	name := req.GetName()
	if _, err := s.authorizeHolder(ctx, name, "pair an RSVP with a buddy"); err != nil {
		return nil, err
	}
	sealed, err := sealNickname(s.secrets, name, req.GetNickname())
	if err != nil {
		return nil, err
	}
	now := s.now()
	expire := now.Add(BuddyCodeTTL)
	// A live code with the same hash (a 60-bit collision among live codes) is refused
	// by the store rather than overwritten; another fresh code is the answer, never an
	// error the holder could do nothing about.
	for attempt := 0; ; attempt++ {
		code := newBuddyCode()
		err := s.store.CreateBuddyCode(ctx, name, store.BuddyCode{Hash: buddyCodeHash(code), Nickname: sealed, Expire: expire}, now)
		if errors.Is(err, store.ErrAlreadyExists) && attempt < 3 {
			continue
		}
		if err != nil {
			return nil, rsvpError(name, err)
		}
		return &rallyv1.PairBuddyResponse{BuddyCode: code, ExpireTime: timestamppb.New(expire)}, nil
	}
}

func (s *rsvpServer) JoinBuddy(ctx context.Context, req *rallyv1.JoinBuddyRequest) (*rallyv1.Rsvp, error) {
	name := req.GetName()
	r, err := s.authorizeHolder(ctx, name, "join a buddy")
	if err != nil {
		return nil, err
	}
	sealed, err := sealNickname(s.secrets, name, req.GetNickname())
	if err != nil {
		return nil, err
	}
	b, err := s.store.JoinBuddy(ctx, name, buddyCodeHash(req.GetBuddyCode()), sealed, s.now())
	if err != nil {
		return nil, rsvpError(name, err)
	}
	s.notifyBuddy(ctx, b.RSVP)
	return s.presentHolderRSVP(ctx, r, b), nil
}

func (s *rsvpServer) CheckOutRsvp(ctx context.Context, req *rallyv1.CheckOutRsvpRequest) (*rallyv1.Rsvp, error) {
	name := req.GetName()
	if _, err := s.authorizeHolder(ctx, name, "check out an RSVP"); err != nil {
		return nil, err
	}
	now := s.now()
	co, err := s.store.CheckOutRSVP(ctx, name, now)
	if err != nil {
		return nil, rsvpError(name, err)
	}
	if co.First {
		s.notifyBuddy(ctx, co.Buddy.RSVP)
		s.checkedOut(ctx, names.EventOfRSVP(name), now)
	}
	return s.presentHolderRSVP(ctx, co.Rsvp, co.Buddy), nil
}

// checkedOut tells the event's organisers of a check-out once the event has ended, when
// it lowers not_checked_out (before the end they see no such count; see presentAt). The
// public's and holders' histories hear nothing of it.
func (s *service) checkedOut(ctx context.Context, event string, now time.Time) {
	if s.broker == nil {
		return
	}
	e, err := s.store.GetEvent(ctx, event)
	if err != nil {
		s.log.ErrorContext(ctx, "publishing a change failed", "err", err)
		return
	}
	if end := e.GetEndTime(); end == nil || now.Before(end.AsTime()) {
		return
	}
	s.publishChange(ctx, s.change(rallyv1.ChangeKind_CHANGE_KIND_ATTENDANCE, event, nil),
		eventTopic(event, audienceOrganisers), campaignTopic(e.GetCampaign(), audienceOrganisers))
}

func (s *rsvpServer) DeleteRsvp(ctx context.Context, req *rallyv1.DeleteRsvpRequest) (*emptypb.Empty, error) {
	name := req.GetName()
	organiser, err := s.authorizeRSVP(ctx, name)
	if err != nil {
		return nil, err
	}
	event := names.EventOfRSVP(name)
	// Recorded before the deletion, so that none goes unrecorded. The holder is recorded
	// as "holder" only: the entry outlives the RSVP and must not name whose it was.
	if organiser {
		err = s.audit(ctx, event, "DeleteRsvp")
	} else {
		err = s.auditAs(ctx, event, "DeleteRsvp", auditActorHolder)
	}
	if err != nil {
		return nil, err
	}
	promoted := s.promotions(ctx, event, s.rsvpWritePromotions())
	d, err := s.store.DeleteRSVP(ctx, name, s.now())
	if err != nil {
		return nil, rsvpError(name, err)
	}
	defer promoted()
	s.rsvpChanged(ctx, event)
	s.notifyBuddy(ctx, d.Buddy)
	return &emptypb.Empty{}, nil
}
