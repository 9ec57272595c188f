package redis

import (
	"context"
	_ "embed"
	"fmt"
	"strconv"
	"time"

	"github.com/rallyhq/rally/internal/store"
)

// Buddies, check-out and deletion (store.SafetyStore): each one script on the event's
// RSVP keys (rsvp_lib.lua documents the fields they add), so that a buddy code is used
// once even when replicas race for it, and a deletion moves the waitlist up in the step
// that deletes.

var (
	//go:embed rsvp_buddy_code.lua
	rsvpBuddyCodeSrc string
	//go:embed rsvp_buddy_join.lua
	rsvpBuddyJoinSrc string
	//go:embed rsvp_buddy.lua
	rsvpBuddySrc string
	//go:embed rsvp_checkout.lua
	rsvpCheckOutSrc string
	//go:embed rsvp_delete.lua
	rsvpDeleteSrc string

	rsvpBuddyCodeScript = rsvpScript("rsvp_buddy_code", rsvpBuddyCodeSrc)
	rsvpBuddyJoinScript = rsvpScript("rsvp_buddy_join", rsvpBuddyJoinSrc)
	rsvpBuddyScript     = rsvpScript("rsvp_buddy", rsvpBuddySrc)
	rsvpCheckOutScript  = rsvpScript("rsvp_checkout", rsvpCheckOutSrc)
	rsvpDeleteScript    = rsvpScript("rsvp_delete", rsvpDeleteSrc)
)

// runStatus runs a script of the event's RSVP keys whose reply starts with a status,
// and returns the rest of the reply when the status is ok; another status becomes the
// matching store error, about name.
func (s *Store) runStatus(ctx context.Context, script *rsvpFunc, eventID, name string, args ...any) ([]any, error) {
	res, err := script.Run(ctx, s.fcalls, s.rsvpKeys(eventID), args...).Slice()
	if err != nil {
		return nil, fmt.Errorf("writing %s: %w", name, err)
	}
	if status, _ := res[0].(string); status != "ok" {
		return nil, rsvpError(status, name)
	}
	return res[1:], nil
}

// buddyLink decodes a script's buddy link, {buddy's ID, nickname, buddy's check-out
// ms}, each "" without a buddy: a zero Buddy then.
func buddyLink(event string, v []any) (store.Buddy, error) {
	if len(v) != 3 {
		return store.Buddy{}, fmt.Errorf("a buddy link of %d values", len(v))
	}
	id, _ := v[0].(string)
	if id == "" {
		return store.Buddy{}, nil
	}
	nick, _ := v[1].(string)
	b := store.Buddy{RSVP: event + "/rsvps/" + id, Nickname: []byte(nick)}
	if out, _ := v[2].(string); out != "" {
		ms, err := strconv.ParseInt(out, 10, 64)
		if err != nil {
			return store.Buddy{}, fmt.Errorf("a buddy's check-out time %q: %w", out, err)
		}
		b.CheckOutTime = time.UnixMilli(ms)
	}
	return b, nil
}

// CreateBuddyCode implements store.SafetyStore with rsvp_buddy_code.lua. Besides the
// interface's errors it returns store.ErrAlreadyExists when a live code of another RSVP
// has the same hash (the caller draws another code).
func (s *Store) CreateBuddyCode(ctx context.Context, rsvp string, code store.BuddyCode, now time.Time) error {
	evID, id, ok := rsvpID(rsvp)
	if !ok {
		return store.NotFoundError(rsvp)
	}
	if len(code.Hash) == 0 {
		return fmt.Errorf("store: buddy code of %s without a hash", rsvp)
	}
	_, err := s.runStatus(ctx, rsvpBuddyCodeScript, evID, rsvp,
		nowArg(now), s.rsvpRetention.Milliseconds(), id, code.Hash, code.Nickname, code.Expire.UnixMilli())
	return err
}

// JoinBuddy implements store.SafetyStore with rsvp_buddy_join.lua.
func (s *Store) JoinBuddy(ctx context.Context, rsvp string, codeHash, nickname []byte, now time.Time) (store.Buddy, error) {
	evID, id, ok := rsvpID(rsvp)
	if !ok {
		return store.Buddy{}, store.NotFoundError(rsvp)
	}
	if len(codeHash) == 0 {
		return store.Buddy{}, fmt.Errorf("%w: %s", store.ErrBuddyCode, rsvp)
	}
	res, err := s.runStatus(ctx, rsvpBuddyJoinScript, evID, rsvp,
		nowArg(now), s.rsvpRetention.Milliseconds(), id, codeHash, nickname)
	if err != nil {
		return store.Buddy{}, err
	}
	b, err := buddyLink("events/"+evID, res)
	if err != nil {
		return store.Buddy{}, fmt.Errorf("decoding the buddy of %s: %w", rsvp, err)
	}
	return b, nil
}

// GetBuddy implements store.SafetyStore with rsvp_buddy.lua.
func (s *Store) GetBuddy(ctx context.Context, rsvp string) (store.Buddy, error) {
	evID, id, ok := rsvpID(rsvp)
	if !ok {
		return store.Buddy{}, store.NotFoundError(rsvp)
	}
	res, err := s.runStatus(ctx, rsvpBuddyScript, evID, rsvp, id)
	if err != nil {
		return store.Buddy{}, err
	}
	b, err := buddyLink("events/"+evID, res)
	if err != nil {
		return store.Buddy{}, fmt.Errorf("decoding the buddy of %s: %w", rsvp, err)
	}
	return b, nil
}

// CheckOutRSVP implements store.SafetyStore with rsvp_checkout.lua.
func (s *Store) CheckOutRSVP(ctx context.Context, name string, now time.Time) (*store.Checkout, error) {
	evID, id, ok := rsvpID(name)
	if !ok {
		return nil, store.NotFoundError(name)
	}
	res, rep, err := s.runScript(ctx, rsvpCheckOutScript, s.rsvpKeys(evID), name,
		[]any{nowArg(now), s.rsvpRetention.Milliseconds(), id})
	if err != nil {
		return nil, err
	}
	if len(res) != 10 {
		return nil, fmt.Errorf("checking out %s: the script returned %d values", name, len(res))
	}
	first, _ := res[6].(int64)
	b, err := buddyLink("events/"+evID, res[7:])
	if err != nil {
		return nil, fmt.Errorf("decoding the buddy of %s: %w", name, err)
	}
	return &store.Checkout{Rsvp: rep.rsvp, Buddy: b, First: first == 1}, nil
}

// DeleteRSVP implements store.SafetyStore with rsvp_delete.lua.
func (s *Store) DeleteRSVP(ctx context.Context, name string, now time.Time) (store.DeletedRSVP, error) {
	evID, id, ok := rsvpID(name)
	if !ok {
		return store.DeletedRSVP{}, store.NotFoundError(name)
	}
	res, err := s.runStatus(ctx, rsvpDeleteScript, evID, name, nowArg(now), s.rsvpRetention.Milliseconds(), id)
	if err != nil {
		return store.DeletedRSVP{}, err
	}
	if len(res) != 2 {
		return store.DeletedRSVP{}, fmt.Errorf("deleting %s: the script returned %d values", name, len(res))
	}
	out := store.DeletedRSVP{}
	if bid, _ := res[0].(string); bid != "" {
		out.Buddy = "events/" + evID + "/rsvps/" + bid
	}
	promoted, _ := res[1].(int64)
	out.Promoted = promoted == 1
	return out, nil
}
