package memory

import (
	"context"
	"encoding/hex"
	"fmt"
	"slices"
	"time"

	"google.golang.org/protobuf/types/known/timestamppb"

	rallyv1 "github.com/rallyhq/rally/gen/go/rally/v1"
	"github.com/rallyhq/rally/internal/store"
)

// Buddies, check-out and deletion (store.SafetyStore). Like the other RSVP writes, each
// runs under the write lock, so a code is used once and a deletion promotes the waitlist
// in the same step.

// buddyCode is an unused buddy code of a book, kept under the hex of its hash.
type buddyCode struct {
	id       string // the pairing RSVP's ID
	nickname []byte // sealed: what the joining holder will see
	expire   time.Time
}

// buddyLink is an RSVP's buddy: the other RSVP's ID and its nickname as this RSVP's
// holder sees it.
type buddyLink struct {
	id       string
	nickname []byte
}

// dropCode forgets r's unused buddy code, if any. The caller holds the write lock.
func (b *book) dropCode(r *rsvpRecord) {
	if c, ok := b.codes[r.code]; ok && c.id == store.ID(r.rsvp.GetName()) {
		delete(b.codes, r.code)
	}
	r.code = ""
}

// buddyOf returns r's buddy link as the store hands it out. The caller holds a lock.
func buddyOf(e *rallyv1.Event, b *book, r *rsvpRecord) store.Buddy {
	if r.buddy == nil {
		return store.Buddy{}
	}
	out := store.Buddy{RSVP: e.GetName() + "/rsvps/" + r.buddy.id, Nickname: slices.Clone(r.buddy.nickname)}
	if other := b.rsvps[r.buddy.id]; other != nil && other.rsvp.GetCheckOutTime() != nil {
		out.CheckOutTime = other.rsvp.GetCheckOutTime().AsTime()
	}
	return out
}

// canPair checks what CreateBuddyCode and JoinBuddy require of an RSVP.
func canPair(e *rallyv1.Event, r *rsvpRecord, now time.Time) error {
	switch {
	case closed(e, now):
		return fmt.Errorf("%w: %s", store.ErrEventClosed, r.rsvp.GetName())
	case r.rsvp.GetState() == rallyv1.RsvpState_RSVP_STATE_CANCELLED:
		return fmt.Errorf("%w: %s", store.ErrRSVPCancelled, r.rsvp.GetName())
	case r.buddy != nil:
		return fmt.Errorf("%w: %s", store.ErrHasBuddy, r.rsvp.GetName())
	}
	return nil
}

// CreateBuddyCode implements store.SafetyStore.
func (s *Store) CreateBuddyCode(_ context.Context, rsvp string, code store.BuddyCode, now time.Time) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	e, b, r, err := s.lookup(rsvp)
	if err != nil {
		return err
	}
	if err := canPair(e, r, now); err != nil {
		return err
	}
	h := hex.EncodeToString(code.Hash)
	if c, ok := b.codes[h]; ok && c.id != store.ID(rsvp) && now.Before(c.expire) {
		// Two live codes with one hash would pair the joiner with either: refuse, and
		// let the caller draw another code.
		return store.AlreadyExistsError(rsvp + "/buddyCode")
	}
	b.dropCode(r)
	if b.codes == nil {
		b.codes = map[string]buddyCode{}
	}
	b.codes[h] = buddyCode{id: store.ID(rsvp), nickname: slices.Clone(code.Nickname), expire: code.Expire}
	r.code = h
	return nil
}

// JoinBuddy implements store.SafetyStore.
func (s *Store) JoinBuddy(_ context.Context, rsvp string, codeHash, nickname []byte, now time.Time) (store.Buddy, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	e, b, r, err := s.lookup(rsvp)
	if err != nil {
		return store.Buddy{}, err
	}
	if err := canPair(e, r, now); err != nil {
		return store.Buddy{}, err
	}
	h := hex.EncodeToString(codeHash)
	c, ok := b.codes[h]
	if !ok || !now.Before(c.expire) {
		return store.Buddy{}, fmt.Errorf("%w: %s", store.ErrBuddyCode, rsvp)
	}
	if c.id == store.ID(rsvp) {
		return store.Buddy{}, fmt.Errorf("%w: %s", store.ErrBuddySelf, rsvp)
	}
	other := b.rsvps[c.id]
	if other == nil || other.rsvp.GetState() == rallyv1.RsvpState_RSVP_STATE_CANCELLED {
		// The code's holder withdrew: the code is dead. Saying so would tell the
		// joiner about someone else's RSVP.
		return store.Buddy{}, fmt.Errorf("%w: %s", store.ErrBuddyCode, rsvp)
	}
	if other.buddy != nil {
		return store.Buddy{}, fmt.Errorf("%w: %s", store.ErrHasBuddy, rsvp)
	}
	// Used up; and neither needs its own code any more: each has its buddy.
	b.dropCode(other)
	b.dropCode(r)
	other.buddy = &buddyLink{id: store.ID(rsvp), nickname: slices.Clone(nickname)}
	r.buddy = &buddyLink{id: c.id, nickname: slices.Clone(c.nickname)}
	return buddyOf(e, b, r), nil
}

// GetBuddy implements store.SafetyStore.
func (s *Store) GetBuddy(_ context.Context, rsvp string) (store.Buddy, error) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	e, b, r, err := s.lookup(rsvp)
	if err != nil {
		return store.Buddy{}, err
	}
	return buddyOf(e, b, r), nil
}

// CheckOutRSVP implements store.SafetyStore.
func (s *Store) CheckOutRSVP(_ context.Context, name string, now time.Time) (*store.Checkout, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	e, b, r, err := s.lookup(name)
	if err != nil {
		return nil, err
	}
	first := r.rsvp.GetCheckOutTime() == nil
	if first {
		if now.Before(e.GetStartTime().AsTime()) {
			return nil, fmt.Errorf("%w: %s", store.ErrNotStarted, name)
		}
		r.rsvp.CheckOutTime = timestamppb.New(now)
		r.rsvp.UpdateTime = timestamppb.New(now)
		if r.rsvp.GetCheckedIn() {
			attendance(e).NotCheckedOut--
		}
	}
	return &store.Checkout{Rsvp: s.view(r), Buddy: buddyOf(e, b, r), First: first}, nil
}

// DeleteRSVP implements store.SafetyStore.
func (s *Store) DeleteRSVP(_ context.Context, name string, now time.Time) (store.DeletedRSVP, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	e, b, r, err := s.lookup(name)
	if err != nil {
		return store.DeletedRSVP{}, err
	}
	id := store.ID(name)
	out := store.DeletedRSVP{}
	// Leave the counts as if it had never been: its place, its check-in.
	a := attendance(e)
	switch r.rsvp.GetState() {
	case rallyv1.RsvpState_RSVP_STATE_GOING:
		a.Going -= party(r.rsvp)
	case rallyv1.RsvpState_RSVP_STATE_WAITLISTED:
		a.Waitlisted -= party(r.rsvp)
	}
	if r.rsvp.GetCheckedIn() {
		a.CheckedIn--
		if r.rsvp.GetCheckOutTime() == nil {
			a.NotCheckedOut--
		}
	}
	s.remove(store.RSVPIndex(e.GetName(), r.rsvp.GetState()), r.key())
	s.remove(store.RSVPIndex(e.GetName(), rallyv1.RsvpState_RSVP_STATE_UNSPECIFIED), r.key())
	b.dropCode(r)
	if r.buddy != nil {
		if other := b.rsvps[r.buddy.id]; other != nil && other.buddy != nil && other.buddy.id == id {
			other.buddy = nil
		}
		out.Buddy = e.GetName() + "/rsvps/" + r.buddy.id
	}
	delete(b.byToken, hex.EncodeToString(r.tokenHash))
	if req, ok := b.byRequest[r.requestKey]; ok && req.id == id {
		delete(b.byRequest, r.requestKey)
	}
	delete(b.rsvps, id)
	going := a.GetGoing()
	s.promote(e, b, now)
	out.Promoted = a.GetGoing() != going
	return out, nil
}
