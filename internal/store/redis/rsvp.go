package redis

import (
	"bytes"
	"context"
	_ "embed"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	goredis "github.com/redis/go-redis/v9"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"

	rallyv1 "github.com/rallyhq/rally/gen/go/rally/v1"
	"github.com/rallyhq/rally/internal/names"
	pubsubredis "github.com/rallyhq/rally/internal/pubsub/redis"
	"github.com/rallyhq/rally/internal/store"
)

// RSVPs live under their event's hash tag (see rsvp_lib.lua for the keys and the record
// format), and every write is one script that decides against the event's capacity,
// state and waitlist and records the outcome, counts included: two replicas racing for
// the last place cannot both get it, and a crash cannot leave counts that disagree with
// the records.

var (
	//go:embed rsvp_lib.lua
	rsvpLibSrc string
	//go:embed rsvp_create.lua
	rsvpCreateSrc string
	//go:embed rsvp_update.lua
	rsvpUpdateSrc string
	//go:embed rsvp_cancel.lua
	rsvpCancelSrc string
	//go:embed rsvp_checkin.lua
	rsvpCheckInSrc string
	//go:embed rsvp_rebalance.lua
	rsvpRebalanceSrc string
	//go:embed rsvp_read.lua
	rsvpReadSrc string

	rsvpCreateScript    = rsvpScript("rsvp_create", rsvpCreateSrc)
	rsvpUpdateScript    = rsvpScript("rsvp_update", rsvpUpdateSrc)
	rsvpCancelScript    = rsvpScript("rsvp_cancel", rsvpCancelSrc)
	rsvpCheckInScript   = rsvpScript("rsvp_checkin", rsvpCheckInSrc)
	rsvpRebalanceScript = rsvpScript("rsvp_rebalance", rsvpRebalanceSrc)
	rsvpReadScript      = rsvpScript("rsvp_read", rsvpReadSrc)
)

// (rsvp_library.go builds the library of Redis Functions from these scripts.)

// rsvpKeys returns the KEYS of every RSVP script of an event, in the order that
// rsvp_lib.lua documents. Every key has the event's hash tag.
func (s *Store) rsvpKeys(eventID string) []string {
	// Every RSVP call builds these, so they are cut from one string (one allocation
	// rather than a dozen), and the slice has room for the change's key that a write
	// appends (runCreate).
	ev := s.recordKey("ev", eventID)
	parts := rsvpKeySuffixes
	var b strings.Builder
	b.Grow(len(parts)*len(ev) + 64)
	ends := make([]int, 0, len(parts))
	for _, p := range parts {
		b.WriteString(ev)
		b.WriteString(p)
		ends = append(ends, b.Len())
	}
	all := b.String()
	keys := make([]string, len(parts), len(parts)+1)
	start := 0
	for i, end := range ends {
		keys[i] = all[start:end]
		start = end
	}
	return keys
}

// rsvpKeySuffixes end the KEYS of every RSVP script (rsvpKeys) after the event's record
// key: the event, its records, and its indexes of all RSVPs and of each state.
var rsvpKeySuffixes = [...]string{"", ":rsvp",
	rsvpIndexSuffix(rallyv1.RsvpState_RSVP_STATE_UNSPECIFIED),
	rsvpIndexSuffix(rallyv1.RsvpState_RSVP_STATE_GOING),
	rsvpIndexSuffix(rallyv1.RsvpState_RSVP_STATE_WAITLISTED),
	rsvpIndexSuffix(rallyv1.RsvpState_RSVP_STATE_CANCELLED),
}

// rsvpIndexKey is the key of the sorted set holding the index keys (store.RSVPKey) of an
// event's RSVPs in one state, or of all of them for RSVP_STATE_UNSPECIFIED. Unlike the
// event indexes these are not under {idx}: they must be in the event's slot, for the
// scripts to change them together with the records.
func (s *Store) rsvpIndexKey(eventID string, state rallyv1.RsvpState) string {
	return s.recordKey("ev", eventID) + rsvpIndexSuffix(state)
}

// rsvpIndexSuffix ends rsvpIndexKey after the event's record key: ":rsvp:all", or
// ":rsvp:" and the state's name in lower case (":rsvp:going").
func rsvpIndexSuffix(state rallyv1.RsvpState) string {
	if state == rallyv1.RsvpState_RSVP_STATE_UNSPECIFIED {
		return ":rsvp:all"
	}
	return ":rsvp:" + strings.ToLower(strings.TrimPrefix(state.String(), "RSVP_STATE_"))
}

// The IDs in keys come from names' parsers, which refuse anything but the names'
// patterns: no ID can end a hash tag early ({, }) or split a field (:, |).
var (
	eventIDOf = names.Event
	rsvpID    = names.RSVP
)

// nowArg is the scripts' argument for the current time, in ms since 1970. It is the
// caller's clock, as in the memory store, that decides whether an event is over and
// stamps update_time; only deletion goes by Redis's clock (PEXPIREAT).
func nowArg(now time.Time) string { return strconv.FormatInt(now.UnixMilli(), 10) }

// rsvpReply is the decoded reply() of a write script (rsvp_lib.lua).
type rsvpReply struct {
	status string
	rsvp   *rallyv1.Rsvp // nil when status is an error
	sealed []byte
}

// runRSVP runs an RSVP write script of the event with the arguments that every write
// script takes first (now and the retention) and then args, and decodes its reply. A
// status other than ok, replay or retry becomes the matching store error, about name.
func (s *Store) runRSVP(ctx context.Context, script *rsvpFunc, eventID, name string, now time.Time, args ...any) (rsvpReply, error) {
	_, rep, err := s.runScript(ctx, script, s.rsvpKeys(eventID), name, append([]any{nowArg(now), s.rsvpRetention.Milliseconds()}, args...))
	return rep, err
}

// runScript runs an RSVP write script and decodes the reply() it starts with; it returns
// the raw reply too, for a script that adds to it (rsvp_checkout.lua).
func (s *Store) runScript(ctx context.Context, script *rsvpFunc, keys []string, name string, args []any) ([]any, rsvpReply, error) {
	res, err := script.Run(ctx, s.fcalls, keys, args...).Slice()
	if err != nil {
		return nil, rsvpReply{}, fmt.Errorf("writing %s: %w", name, err)
	}
	rep, err := decodeReply(res, name)
	return res, rep, err
}

// decodeReply decodes the reply() a write script's answer starts with.
func decodeReply(res []any, name string) (rsvpReply, error) {
	status, _ := res[0].(string)
	switch status {
	case "ok", "replay":
	case "retry":
		return rsvpReply{status: status}, nil
	default:
		return rsvpReply{}, rsvpError(status, name)
	}
	if len(res) < 6 {
		return rsvpReply{}, fmt.Errorf("writing %s: the script returned %d values", name, len(res))
	}
	r, _, err := decodeView(res[1:5])
	if err != nil {
		return rsvpReply{}, fmt.Errorf("decoding %s: %w", name, err)
	}
	sealed, _ := res[5].(string)
	return rsvpReply{status: status, rsvp: r, sealed: []byte(sealed)}, nil
}

// rsvpError maps a script's error status to the store's errors.
func rsvpError(status, name string) error {
	switch status {
	case "nf":
		return store.NotFoundError(name)
	case "closed":
		return fmt.Errorf("%w: %s", store.ErrEventClosed, name)
	case "noroom":
		return fmt.Errorf("%w: %s", store.ErrNoRoom, name)
	case "notgoing":
		return fmt.Errorf("%w: %s", store.ErrNotGoing, name)
	case "exists":
		return store.AlreadyExistsError(name)
	case "toolarge":
		return fmt.Errorf("%w: %s", store.ErrPartyTooLarge, name)
	case "cancelled":
		return fmt.Errorf("%w: %s", store.ErrRSVPCancelled, name)
	case "hasbuddy":
		return fmt.Errorf("%w: %s", store.ErrHasBuddy, name)
	case "code":
		return fmt.Errorf("%w: %s", store.ErrBuddyCode, name)
	case "self":
		return fmt.Errorf("%w: %s", store.ErrBuddySelf, name)
	case "notstarted":
		return fmt.Errorf("%w: %s", store.ErrNotStarted, name)
	}
	return fmt.Errorf("store: unexpected reply %q of an RSVP script about %s", status, name)
}

// decodeView builds an RSVP from a script's view() ({pb, plain record, token hash,
// rank}): the personal fields from pb, the rest from the plain record, which is the
// truth about them.
func decodeView(v []any) (*rallyv1.Rsvp, string, error) {
	pb, _ := v[0].(string)
	plain, _ := v[1].(string)
	th, _ := v[2].(string)
	rank, _ := v[3].(int64)
	r := new(rallyv1.Rsvp)
	if err := proto.Unmarshal([]byte(pb), r); err != nil {
		return nil, "", err
	}
	if err := applyPlain(r, plain, rank); err != nil {
		return nil, "", err
	}
	return r, th, nil
}

// applyPlain sets r's fields that the plain record holds, and its waitlist position from
// its 0-based rank (-1: none).
func applyPlain(r *rallyv1.Rsvp, plain string, rank int64) error {
	f := strings.Split(plain, ":")
	if len(f) != 5 && len(f) != 6 { // 6: with the check-out time
		return fmt.Errorf("malformed record %q", plain)
	}
	state, err1 := strconv.ParseInt(f[0], 10, 32)
	guests, err2 := strconv.ParseInt(f[1], 10, 32)
	updated, err3 := strconv.ParseInt(f[4], 10, 64)
	if err := errors.Join(err1, err2, err3); err != nil {
		return fmt.Errorf("malformed record %q: %w", plain, err)
	}
	r.State = rallyv1.RsvpState(state)
	r.Guests = int32(guests)
	r.CheckedIn = f[3] == "1"
	r.UpdateTime = timestamppb.New(time.UnixMilli(updated))
	if len(f) == 6 {
		out, err := strconv.ParseInt(f[5], 10, 64)
		if err != nil {
			return fmt.Errorf("malformed record %q: %w", plain, err)
		}
		r.CheckOutTime = timestamppb.New(time.UnixMilli(out))
	}
	if r.State == rallyv1.RsvpState_RSVP_STATE_WAITLISTED && rank >= 0 {
		r.WaitlistPosition = int32(rank) + 1
	}
	return nil
}

// personal encodes what pb keeps of an RSVP: everything but the fields that the plain
// record holds (state, guests, checked_in, update_time, check_out_time) or that reads
// compute (waitlist_position; buddy, the server's from GetBuddy), so that no stale copy
// of those is ever stored.
func personal(r *rallyv1.Rsvp) ([]byte, error) {
	pb, _, err := personalCopy(r)
	return pb, err
}

// personalCopy is personal, with the copy of r that pb encodes: what decoding pb would
// give.
func personalCopy(r *rallyv1.Rsvp) ([]byte, *rallyv1.Rsvp, error) {
	c := proto.Clone(r).(*rallyv1.Rsvp)
	c.State, c.Guests, c.WaitlistPosition, c.CheckedIn, c.UpdateTime = 0, 0, 0, false, nil
	c.CheckOutTime, c.Buddy = nil, nil
	pb, err := marshal.Marshal(c)
	return pb, c, err
}

// CreateRSVP implements store.RSVPStore with one rsvp_create.lua.
func (s *Store) CreateRSVP(ctx context.Context, event string, n store.NewRSVP, now time.Time) (store.CreatedRSVP, error) {
	evID, ok := eventIDOf(event)
	if !ok {
		return store.CreatedRSVP{}, store.NotFoundError(event)
	}
	name := n.Rsvp.GetName()
	if e, id, ok := rsvpID(name); !ok || e != evID || len(id) > 64 {
		return store.CreatedRSVP{}, fmt.Errorf("store: RSVP name %q is not one of %s", name, event)
	}
	if n.Rsvp.GetGuests() < 0 || len(n.TokenHash) != tokenHashLen {
		return store.CreatedRSVP{}, fmt.Errorf("store: RSVP %s needs a %d-byte token hash and guests >= 0", name, tokenHashLen)
	}
	pb, rsvp, err := personalCopy(n.Rsvp)
	if err != nil {
		return store.CreatedRSVP{}, fmt.Errorf("encoding %s: %w", name, err)
	}
	_, id, _ := rsvpID(name)
	// The change goes with the write only into the event's slot: its topic must share
	// the event's hash tag.
	var change *pubsubredis.ScriptChange
	unpublished := n.Change
	if n.Change != nil && s.changes != nil && TopicTag(n.Change.Topic) == "ev:"+evID {
		c := s.changes.Change(n.Change.Topic, n.Change.Payload)
		change, unpublished = &c, nil
	}
	res, err := s.runCreate(ctx, evID, now, createArgs{id, pb, n.Rsvp.GetGuests(), n.TokenHash, n.RequestKey, n.SealedToken}, change)
	if err != nil {
		return store.CreatedRSVP{}, fmt.Errorf("writing %s: %w", event, err)
	}
	// This call's own RSVP: the script answers with what only it knows, the plain record
	// and the rank; the personal fields are rsvp, which is what pb decodes to.
	if status, _ := res[0].(string); status == "created" && len(res) == 3 {
		plain, _ := res[1].(string)
		rank, _ := res[2].(int64)
		if err := applyPlain(rsvp, plain, rank); err != nil {
			return store.CreatedRSVP{}, fmt.Errorf("decoding %s: %w", name, err)
		}
		return store.CreatedRSVP{Rsvp: rsvp, Unpublished: unpublished}, nil
	}
	rep, err := decodeReply(res, event)
	if err != nil {
		return store.CreatedRSVP{}, err
	}
	if rep.status != "replay" {
		return store.CreatedRSVP{}, fmt.Errorf("writing %s: unexpected reply %q", event, rep.status)
	}
	return store.CreatedRSVP{Rsvp: rep.rsvp, Replayed: true, SealedToken: rep.sealed}, nil
}

// createArgs are rsvp_create.lua's own arguments after now and the retention (ARGV[3] to
// ARGV[8] of its table); a change to publish with the write follows them, from
// ARGV[createArgc+1] on, where the script's OWN_ARGS says it starts.
type createArgs struct {
	id          string
	pb          []byte
	guests      int32
	tokenHash   []byte
	requestKey  string
	sealedToken []byte
}

// createArgc is the number of rsvp_create.lua's arguments before a change's: now, the
// retention and createArgs. rsvp_create.lua's OWN_ARGS is the same number (a test
// checks).
const createArgc = 8

// createArgv is the ARGV of rsvp_create.lua without a change: createArgc values.
func (s *Store) createArgv(now time.Time, a createArgs) []any {
	return []any{nowArg(now), s.rsvpRetention.Milliseconds(), a.id, storedRecord(a.tokenHash, a.pb), a.guests, a.tokenHash, a.requestKey, a.sealedToken}
}

// tokenHashLen is the size of an RSVP's token hash (SHA-256), which the record <rid>
// holds before pb.
const tokenHashLen = 32

// recordMark starts a record <rid> that holds its token's hash (rsvp_lib.lua's key
// table): a zero byte, with which no protobuf encoding starts (field 0 does not exist),
// so a record stored before, pb alone, is told apart.
const recordMark = 0

// storedRecord is the record <rid> of an RSVP: recordMark, its token's hash, pb.
func storedRecord(tokenHash, pb []byte) []byte {
	v := make([]byte, 0, 1+len(tokenHash)+len(pb))
	return append(append(append(v, recordMark), tokenHash...), pb...)
}

// splitRecord returns pb and the token's hash of the record v; hash is nil for a record
// stored before records held it (its hash is in <rid>:t).
func splitRecord(v []byte) (pb, hash []byte) {
	if len(v) > tokenHashLen && v[0] == recordMark {
		return v[1+tokenHashLen:], v[1 : 1+tokenHashLen]
	}
	return v, nil
}

// runCreate runs rsvp_create.lua on the event's RSVP keys, appending change to its topic
// in the same step when it is not nil, and returns its raw reply.
func (s *Store) runCreate(ctx context.Context, evID string, now time.Time, a createArgs, change *pubsubredis.ScriptChange) ([]any, error) {
	keys, args := s.rsvpKeys(evID), s.createArgv(now, a)
	if change != nil {
		keys = append(keys, change.Key)
		args = append(args, change.Args...)
	}
	res, err := s.createScript.Run(ctx, s.fcalls, keys, args...).Slice()
	if err == nil && len(res) == 0 {
		err = errors.New("an empty reply")
	}
	return res, err
}

// readRSVPs runs rsvp_read.lua: the RSVPs with the given IDs, or the one whose token has
// the given hash. Missing ones are nil, with a nil hash.
func (s *Store) readRSVPs(ctx context.Context, eventID string, tokenHash []byte, ids ...string) ([]*rallyv1.Rsvp, [][]byte, error) {
	args := make([]any, 0, 1+len(ids))
	args = append(args, tokenHash)
	for _, id := range ids {
		args = append(args, id)
	}
	res, err := rsvpReadScript.Run(ctx, s.fcalls, s.rsvpKeys(eventID), args...).Slice()
	if err != nil {
		return nil, nil, fmt.Errorf("reading RSVPs of events/%s: %w", eventID, err)
	}
	rsvps := make([]*rallyv1.Rsvp, len(res))
	hashes := make([][]byte, len(res))
	for i, v := range res {
		view, ok := v.([]any)
		if !ok {
			continue
		}
		if len(view) != 4 {
			return nil, nil, fmt.Errorf("reading RSVPs of events/%s: a view of %d values", eventID, len(view))
		}
		r, th, err := decodeView(view)
		if err != nil {
			return nil, nil, fmt.Errorf("decoding an RSVP of events/%s: %w", eventID, err)
		}
		rsvps[i], hashes[i] = r, []byte(th)
	}
	return rsvps, hashes, nil
}

// GetRSVP implements store.RSVPStore.
func (s *Store) GetRSVP(ctx context.Context, name string) (*rallyv1.Rsvp, []byte, error) {
	evID, id, ok := rsvpID(name)
	if !ok {
		return nil, nil, store.NotFoundError(name)
	}
	rsvps, hashes, err := s.readRSVPs(ctx, evID, nil, id)
	if err != nil {
		return nil, nil, err
	}
	if rsvps[0] == nil {
		return nil, nil, store.NotFoundError(name)
	}
	return rsvps[0], hashes[0], nil
}

// FindRSVPByToken implements store.RSVPStore.
func (s *Store) FindRSVPByToken(ctx context.Context, event string, tokenHash []byte) (*rallyv1.Rsvp, error) {
	evID, ok := eventIDOf(event)
	if !ok || len(tokenHash) == 0 {
		return nil, store.NotFoundError(event + "/rsvps/(by token)")
	}
	rsvps, _, err := s.readRSVPs(ctx, evID, tokenHash)
	if err != nil {
		return nil, err
	}
	if len(rsvps) == 0 || rsvps[0] == nil {
		// Not the token hash: error messages end up in logs.
		return nil, store.NotFoundError(event + "/rsvps/(by token)")
	}
	return rsvps[0], nil
}

// UpdateRSVP implements store.RSVPStore with rsvp_update.lua. Changes of the guests
// need no read: the script decides on them. Changes of the personal fields are a
// compare-and-set of pb (which Lua does not decode), retried like update when a
// concurrent update changed pb in between.
func (s *Store) UpdateRSVP(ctx context.Context, name string, c store.RSVPChange, now time.Time) (*rallyv1.Rsvp, error) {
	evID, id, ok := rsvpID(name)
	if !ok {
		return nil, store.NotFoundError(name)
	}
	guests := ""
	if c.Guests != nil {
		if *c.Guests < 0 {
			return nil, fmt.Errorf("store: update of %s to %d guests", name, *c.Guests)
		}
		guests = strconv.Itoa(int(*c.Guests))
	}
	recordsKey := s.rsvpKeys(evID)[1]
	for attempt := 0; attempt < maxAttempts; attempt++ {
		if attempt > 0 {
			if err := backoff(ctx, attempt); err != nil {
				return nil, err
			}
		}
		var oldPB, newPB []byte
		if c.DisplayName != nil || c.Contact != nil || c.Envelope != nil {
			stored, err := s.rdb.HGet(ctx, recordsKey, id).Bytes()
			if errors.Is(err, goredis.Nil) {
				return nil, store.NotFoundError(name)
			}
			if err != nil {
				return nil, fmt.Errorf("reading %s: %w", name, err)
			}
			cur, hash := splitRecord(stored)
			r := new(rallyv1.Rsvp)
			if err := proto.Unmarshal(cur, r); err != nil {
				return nil, fmt.Errorf("decoding %s: %w", name, err)
			}
			if c.DisplayName != nil {
				r.DisplayName = *c.DisplayName
			}
			if c.Contact != nil {
				r.Contact = *c.Contact
			}
			r.Envelope = c.ApplyEnvelope(r.GetEnvelope())
			next, err := personal(r)
			if err != nil {
				return nil, fmt.Errorf("encoding %s: %w", name, err)
			}
			if !bytes.Equal(cur, next) {
				// An empty old record tells the script to leave it alone: only a real
				// change needs the compare-and-set (and can lose a race). The record
				// keeps the form it was stored in.
				oldPB, newPB = stored, next
				if hash != nil {
					newPB = storedRecord(hash, next)
				}
			}
		}
		rep, err := s.runRSVP(ctx, rsvpUpdateScript, evID, name, now, id, guests, oldPB, newPB)
		if err != nil {
			return nil, err
		}
		if rep.status == "retry" {
			continue
		}
		return rep.rsvp, nil
	}
	return nil, fmt.Errorf("%w: updating %s", store.ErrContention, name)
}

// CancelRSVP implements store.RSVPStore with rsvp_cancel.lua.
func (s *Store) CancelRSVP(ctx context.Context, name string, now time.Time) (*rallyv1.Rsvp, error) {
	evID, id, ok := rsvpID(name)
	if !ok {
		return nil, store.NotFoundError(name)
	}
	rep, err := s.runRSVP(ctx, rsvpCancelScript, evID, name, now, id)
	if err != nil {
		return nil, err
	}
	return rep.rsvp, nil
}

// CheckInRSVP implements store.RSVPStore with rsvp_checkin.lua.
func (s *Store) CheckInRSVP(ctx context.Context, name string, now time.Time) (*rallyv1.Rsvp, error) {
	evID, id, ok := rsvpID(name)
	if !ok {
		return nil, store.NotFoundError(name)
	}
	rep, err := s.runRSVP(ctx, rsvpCheckInScript, evID, name, now, id)
	if err != nil {
		return nil, err
	}
	return rep.rsvp, nil
}

// ListRSVPs implements store.RSVPStore: one ZRANGE BYLEX of the state's index (of the
// three state indexes in one MULTI, for every state: scanRSVPs), then one rsvp_read.lua
// for the page, whatever the number of RSVPs.
func (s *Store) ListRSVPs(ctx context.Context, q store.RSVPQuery) (store.Page[*rallyv1.Rsvp], error) {
	evID, ok := eventIDOf(q.Event)
	if !ok {
		return store.Page[*rallyv1.Rsvp]{}, store.NotFoundError(q.Event)
	}
	r, err := q.Range()
	if err != nil {
		return store.Page[*rallyv1.Rsvp]{}, err
	}
	index := s.rsvpIndexKey(evID, q.State)
	scan := func(ctx context.Context, r store.Range, limit int) ([]string, error) {
		if q.State == rallyv1.RsvpState_RSVP_STATE_UNSPECIFIED {
			return s.scanRSVPs(ctx, evID, r, limit)
		}
		return s.scanKey(ctx, index, r, limit)
	}
	load := func(ctx context.Context, keys []string) ([]*rallyv1.Rsvp, error) {
		ids := make([]string, len(keys))
		for i, k := range keys {
			ids[i] = store.KeyID(k)
		}
		rsvps, _, err := s.readRSVPs(ctx, evID, nil, ids...)
		if err != nil {
			return nil, err
		}
		items := make([]*rallyv1.Rsvp, 0, len(rsvps))
		for _, r := range rsvps {
			// Gone (deleted after the event) or moved to another state (promoted or
			// cancelled) between the range read and this one: not part of this page.
			if r == nil || (q.State != rallyv1.RsvpState_RSVP_STATE_UNSPECIFIED && r.GetState() != q.State) {
				continue
			}
			items = append(items, r)
		}
		return items, nil
	}
	return store.ReadPage(ctx, r, q.PageSize, scan, load)
}

// rsvpStates are the states that have an index (rsvp_lib.lua's KEYS[4] to KEYS[6]).
var rsvpStates = []rallyv1.RsvpState{
	rallyv1.RsvpState_RSVP_STATE_GOING,
	rallyv1.RsvpState_RSVP_STATE_WAITLISTED,
	rallyv1.RsvpState_RSVP_STATE_CANCELLED,
}

// scanRSVPs is scan over the RSVPs of every state: the first limit index keys in r of
// the three state indexes together, in order, as a ZRANGE BYLEX of one index of them
// all would give. There is no such index: rsvp_create.lua, the hot path, would need a
// ZADD and a PEXPIREAT more per RSVP for it (rsvp:all, KEYS[3], which Rally wrote until
// issue 19 and now only cleans). The three ranges are read in one MULTI, so that an
// RSVP moving between states is seen in exactly one of them.
func (s *Store) scanRSVPs(ctx context.Context, evID string, r store.Range, limit int) ([]string, error) {
	cmds := make([]*goredis.StringSliceCmd, len(rsvpStates))
	_, err := s.rdb.TxPipelined(ctx, func(p goredis.Pipeliner) error {
		for i, state := range rsvpStates {
			cmds[i] = p.ZRangeArgs(ctx, goredis.ZRangeArgs{
				Key:   s.rsvpIndexKey(evID, state),
				Start: r.Min,
				Stop:  r.Max,
				ByLex: true,
				Count: int64(limit),
			})
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("reading the RSVP indexes of events/%s: %w", evID, err)
	}
	var keys []string
	for _, c := range cmds {
		keys = append(keys, c.Val()...)
	}
	// ZRANGE BYLEX's order is byte order; index keys are unique (arrival number, ID).
	slices.Sort(keys)
	if limit > 0 && len(keys) > limit {
		keys = keys[:limit]
	}
	return keys, nil
}

// Rebalance implements store.RSVPStore with rsvp_rebalance.lua.
func (s *Store) Rebalance(ctx context.Context, event string) error {
	evID, ok := eventIDOf(event)
	if !ok {
		return store.NotFoundError(event)
	}
	res, err := rsvpRebalanceScript.Run(ctx, s.fcalls, s.rsvpKeys(evID), nowArg(s.now()), s.rsvpRetention.Milliseconds()).Slice()
	if err != nil {
		return fmt.Errorf("rebalancing %s: %w", event, err)
	}
	if status, _ := res[0].(string); status != "ok" {
		return rsvpError(status, event)
	}
	return nil
}

// AppendAudit implements store.RSVPStore, in the list <record>:audit of the event or the
// task. The audit list has no expiry, unlike the RSVPs and claims: it says which
// organiser read personal data, which the campaign's organisers need to be able to
// check after the event too; it names no participant.
func (s *Store) AppendAudit(ctx context.Context, parent string, e *rallyv1.AuditEntry) error {
	key, ok := s.auditKey(parent)
	if !ok {
		return store.NotFoundError(parent)
	}
	return pushList(ctx, s, key, "audit entry of "+parent, e, store.MaxAuditEntries)
}

// ListAudit implements store.RSVPStore.
func (s *Store) ListAudit(ctx context.Context, q store.AuditQuery) (store.Page[*rallyv1.AuditEntry], error) {
	key, ok := s.auditKey(q.Parent)
	if !ok {
		return store.Page[*rallyv1.AuditEntry]{}, store.NotFoundError(q.Parent)
	}
	all, err := readList(ctx, s, key, "audit entries of "+q.Parent, store.MaxAuditEntries, func() *rallyv1.AuditEntry { return new(rallyv1.AuditEntry) })
	if err != nil {
		return store.Page[*rallyv1.AuditEntry]{}, err
	}
	return store.PageNewestFirst("audit|"+q.Parent, all, store.AuditKey, nil, q.PageSize, q.PageToken)
}

// auditKey is the audit list of an event or a task, under its record's hash tag.
func (s *Store) auditKey(parent string) (string, bool) {
	if id, ok := eventIDOf(parent); ok {
		return s.recordKey("ev", id) + ":audit", true
	}
	if id, ok := taskIDOf(parent); ok {
		return s.recordKey("tk", id) + ":audit", true
	}
	return "", false
}

// AppendAnnouncement implements store.RSVPStore. Announcements are the organisers' public
// (or RSVP holders') messages and, like the audit log, are kept with the event.
func (s *Store) AppendAnnouncement(ctx context.Context, event string, a *rallyv1.Announcement) error {
	return pushLog(ctx, s, event, "ann", a, store.MaxAnnouncements)
}

// ListAnnouncements implements store.RSVPStore.
func (s *Store) ListAnnouncements(ctx context.Context, q store.AnnouncementQuery) (store.Page[*rallyv1.Announcement], error) {
	all, err := readLog(ctx, s, q.Event, "ann", store.MaxAnnouncements, func() *rallyv1.Announcement { return new(rallyv1.Announcement) })
	if err != nil {
		return store.Page[*rallyv1.Announcement]{}, err
	}
	return store.PageNewestFirst("ann|"+store.ID(q.Event), all, store.AnnouncementKey, q.Keep, q.PageSize, q.PageToken)
}

// pushLog prepends msg to the event's capped list <record>:<suffix>, newest first.
func pushLog(ctx context.Context, s *Store, event, suffix string, msg proto.Message, max int) error {
	evID, ok := eventIDOf(event)
	if !ok {
		return store.NotFoundError(event)
	}
	return pushList(ctx, s, s.recordKey("ev", evID)+":"+suffix, suffix+" entry of "+event, msg, max)
}

// pushList prepends msg, what it names, to the capped list at key, newest first.
func pushList(ctx context.Context, s *Store, key, what string, msg proto.Message, max int) error {
	pb, err := marshal.Marshal(msg)
	if err != nil {
		return fmt.Errorf("encoding an %s: %w", what, err)
	}
	_, err = s.rdb.TxPipelined(ctx, func(p goredis.Pipeliner) error {
		p.LPush(ctx, key, pb)
		p.LTrim(ctx, key, 0, int64(max)-1)
		return nil
	})
	if err != nil {
		return fmt.Errorf("recording an %s: %w", what, err)
	}
	return nil
}

// readLog returns the entries of the event's capped list <record>:<suffix>, newest first.
func readLog[T proto.Message](ctx context.Context, s *Store, event, suffix string, max int, newT func() T) ([]T, error) {
	evID, ok := eventIDOf(event)
	if !ok {
		return nil, store.NotFoundError(event)
	}
	return readList(ctx, s, s.recordKey("ev", evID)+":"+suffix, suffix+" entries of "+event, max, newT)
}

// readList returns the entries, what it names, of the capped list at key, newest first.
func readList[T proto.Message](ctx context.Context, s *Store, key, what string, max int, newT func() T) ([]T, error) {
	raw, err := s.rdb.LRange(ctx, key, 0, int64(max)-1).Result()
	if err != nil {
		return nil, fmt.Errorf("reading the %s: %w", what, err)
	}
	out := make([]T, len(raw))
	for i, pb := range raw {
		out[i] = newT()
		if err := proto.Unmarshal([]byte(pb), out[i]); err != nil {
			return nil, fmt.Errorf("decoding the %s: %w", what, err)
		}
	}
	return out, nil
}
