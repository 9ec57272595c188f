// Package redis is the production store: any number of stateless Rally replicas share one
// Redis (standalone, Sentinel or Cluster).
//
// # Keys
//
// Every key starts with a configurable prefix, so that several deployments can share one
// Redis. In Redis Cluster a key's slot is chosen by the first {…} in it (its hash tag), so
// the prefix should not contain braces.
//
//	<prefix>{ev:<id>}            HASH  one event: pb, rev, campaign, state, capacity, start_ms, end_ms;
//	                                   going, waitlisted (people, guests included),
//	                                   rsvp_seq (arrivals), checked_in (RSVPs checked in)
//	                                   and checked_out_in (of those, the ones checked out),
//	                                   written by the RSVP scripts only
//	<prefix>{ev:<id>}:rsvp…      the event's RSVPs: records with the token and request-key
//	                                   maps, buddy codes (their SHA-256) and buddy links,
//	                                   indexes by state (see rsvp_lib.lua); they expire
//	                                   at the event's end plus the RSVP retention
//	<prefix>{ev:<id>}:changes    STREAM the organisers' history of the event's changes
//	                                   (pubsub/redis), written by the broker and, for RSVPs, by
//	                                   rsvp_create.lua; expires the RSVP retention after its
//	                                   last change. The public and RSVP holders' histories
//	                                   ({events/<id>/public}:changes, …/holders) are the
//	                                   broker's own keys (server/publish.go)
//	<prefix>{ev:<id>}:pubview    STRING the public attendance view last published (a bucket or
//	                                   an EXACT event's counts; never set for HIDDEN), so that
//	                                   replicas publish public changes only when it changes;
//	                                   expires 30 days after its last change
//	<prefix>{ev:<id>}:audit      LIST  organisers' reads of the event's RSVPs, newest first,
//	                                   capped; kept with the event
//	<prefix>{ev:<id>}:ann        LIST  announcements, newest first, capped
//	<prefix>{tk:<id>}            HASH  one task: pb, rev, state, deadline_ms, max_claims,
//	                                   ttl_ms, and claim_seq, claimed, completed (claims)
//	<prefix>{tk:<id>}:claim…     the task's claims: records, open claims by expiry, arrival
//	                             order, request keys (see task.go and task_lib.lua); they
//	                             expire at store.ClaimsDeleteAt
//	<prefix>{tk:<id>}:audit      LIST  organisers' reads of the task's claims, newest first,
//	                                   capped; kept with the task
//	<prefix>{cp:<id>}            HASH  one campaign: pb, rev
//	<prefix>{org:<id>}           HASH  one organiser: pb, rev
//	<prefix>{tok:<id>}           HASH  one API token: pb, rev (the ID is derived from the
//	                                   token's SHA-256, so a bearer token is found in one read)
//	<prefix>{okey:<id>}          HASH  one organiser key (public half only): pb, rev; key IDs
//	                                   are random and unique across organisers
//	<prefix>{idx}:<index name>   ZSET  one index (store.EventIndexes, store.CampaignIndexes:
//	                                   all campaigns, and per organiser the campaigns
//	                                   that invite it to co-organise them)
//	<prefix>{idx}:m:ev:<id>      HASH  the index entries of one event: rev, key, idx
//	<prefix>{idx}:m:cp:<id>      HASH  the same for one campaign (m:tok:<id> for tokens,
//	                                   m:tk:<id> for tasks, m:okey:<id> for organiser keys)
//
// All keys of one event share the hash tag {ev:<id>}, so that the Lua scripts that enforce
// an event's invariants (capacity, waitlist) touch one Cluster slot. pb is the resource
// itself (deterministic protobuf); the plain fields copy what those scripts need, so that
// they never have to decode protobuf. rev counts the writes of the record. An event's
// attendance is not in its pb but in its going, waitlisted, checked_in and
// checked_out_in fields, which event writes (cas.lua sets only the fields it is given)
// leave alone and reads return with pb.
//
// # Indexes
//
// An index is a sorted set with every score 0, whose members are index keys (start or
// create time, then ID), read with ZRANGE BYLEX … LIMIT: a page costs one range read and
// one pipeline of record reads, whatever the number of stored resources. Nothing ever
// SCANs, intersects or sorts.
//
// All indexes share the hash tag {idx}, so one script can move all the entries of a
// record atomically. The price is that in Cluster they live on one shard (the records
// spread over all of them).
//
// # Writes and consistency
//
// A record and its indexes are in different slots, so no single script can write both.
// A write first changes the record (create.lua, or cas.lua which only writes if the
// revision is the one that was read), then moves the index entries (index.lua), which
// applies a revision only if it is newer than the last one applied: concurrent or
// reordered index updates of one record converge on its newest revision.
//
// If the process dies or loses Redis between the two steps, the indexes stay at the older
// revision (or, after a create, without the record) until the record's next write. Reads
// stay correct anyway: a list verifies every record against the query and drops index
// entries that no longer hold, so a stale entry can hide a resource from a list but never
// show a wrong one.
package redis

import (
	"context"
	_ "embed"
	"fmt"
	"math/rand/v2"
	"strconv"
	"time"

	goredis "github.com/redis/go-redis/v9"
	"google.golang.org/protobuf/proto"

	rallyv1 "github.com/rallyhq/rally/gen/go/rally/v1"
	pubsubredis "github.com/rallyhq/rally/internal/pubsub/redis"
	"github.com/rallyhq/rally/internal/store"
)

var (
	//go:embed create.lua
	createSrc string
	//go:embed cas.lua
	casSrc string
	//go:embed index.lua
	indexSrc string

	// Scripts run with EVALSHA, falling back to EVAL (which caches them) the first time a
	// server does not know them, so each script's source crosses the network once per
	// server.
	createScript = goredis.NewScript(createSrc)
	casScript    = goredis.NewScript(casSrc)
	indexScript  = goredis.NewScript(indexSrc)
)

// maxAttempts bounds how many times an update reads, mutates and tries to write before it
// gives up with store.ErrContention. Between attempts it waits a random, growing delay
// (see backoff), so dozens of concurrent writers of one record all get through.
const maxAttempts = 16

// marshal encodes deterministically, so that one message always gives the same bytes.
var marshal = proto.MarshalOptions{Deterministic: true}

// Store is a store.Store on Redis.
type Store struct {
	rdb    goredis.UniversalClient
	prefix string
	// rsvpRetention is how long after an event's end its RSVPs are kept.
	rsvpRetention time.Duration
	// now is the clock of the promotions that Rebalance makes (their update_time); the
	// other RSVP writes are given the time by their caller.
	now func() time.Time
	// changes, if set, lets CreateRSVP append the event's change to its topic in the
	// same script as the write; createScript is rsvp_create.lua.
	changes      *pubsubredis.InScript
	createScript *rsvpFunc
	// fcalls runs the RSVP functions, concurrent callers' FCALLs sharing round trips
	// (pipeline.go).
	fcalls *autoPipeline
}

var (
	_ store.Store     = (*Store)(nil)
	_ store.RSVPStore = (*Store)(nil)
)

// DefaultRSVPRetention is how long an event's RSVPs are kept after it ends unless
// WithRSVPRetention says otherwise: long enough for organisers to follow up (thank,
// report), short enough that a seized server holds little about past actions.
const DefaultRSVPRetention = 72 * time.Hour

// Option configures a Store.
type Option func(*Store)

// WithRSVPRetention sets how long after an event's end its RSVPs (with their personal
// fields, tokens and idempotency keys) are kept before Redis deletes them. Zero or
// negative deletes them as the event ends.
func WithRSVPRetention(d time.Duration) Option {
	return func(s *Store) { s.rsvpRetention = max(d, 0) }
}

// WithChanges makes CreateRSVP publish the change it is given (store.NewRSVP.Change) in
// its own script, through the broker that shares this Redis: one round trip on the hot
// path, and no RSVP whose change could be lost between two calls. The broker must tag
// topics with TopicTag, so that an event's topic is in the event's Cluster slot.
func WithChanges(in pubsubredis.InScript) Option {
	return func(s *Store) { s.changes = &in }
}

// TopicTag is the hash tag of a topic's keys for a broker sharing Redis with the store:
// an event's topic ("events/<id>") shares the event's tag, so that its stream is in the
// event's slot; any other topic is its own tag.
func TopicTag(topic string) string {
	if id, ok := eventIDOf(topic); ok {
		return "ev:" + id
	}
	return topic
}

// WithClock sets the clock that stamps the promotions made by Rebalance, for tests.
// Deletion does not follow it: Redis expires RSVPs by its own clock.
func WithClock(now func() time.Time) Option {
	return func(s *Store) { s.now = now }
}

// New returns a store that keeps its data in rdb under keys that start with prefix
// (e.g. "rally:"). The caller owns rdb: Close does not close it.
func New(rdb goredis.UniversalClient, prefix string, opts ...Option) *Store {
	s := &Store{rdb: rdb, prefix: prefix, rsvpRetention: DefaultRSVPRetention, now: time.Now}
	for _, o := range opts {
		o(s)
	}
	s.createScript = rsvpCreateScript
	s.fcalls = newAutoPipeline(rdb)
	return s
}

// kind describes how one resource type is stored, so that campaigns and events share
// the code below.
type kind[T resource] struct {
	tag     string           // hash tag prefix of the record key: "ev" or "cp"
	new     func() T         // an empty message to unmarshal into
	fields  func(T) []any    // plain fields stored next to pb, as field, value pairs
	key     func(T) string   // the record's index key
	indexes func(T) []string // the indexes that hold the key; nil for types never listed

	// Output-only fields that other writers keep as plain fields of the record (an
	// event's attendance counts, kept by the RSVP scripts): derived names them, read in
	// the same HMGET as pb; fill sets them on a decoded message from their values (nil
	// for a missing field); strip clears them before pb is encoded, so that pb never
	// holds a stale copy. All nil for kinds without such fields.
	derived []string
	fill    func(T, []any)
	strip   func(T)
	// seed returns the derived fields' first values, as field, value pairs, written by
	// create only: later writes of the record must leave them to their own writers.
	seed func(T) []any
}

// resource is what the generic code needs of a stored message: its encoding and its name.
type resource interface {
	proto.Message
	GetName() string
}

var eventKind = kind[*rallyv1.Event]{
	tag: "ev",
	new: func() *rallyv1.Event { return new(rallyv1.Event) },
	fields: func(e *rallyv1.Event) []any {
		// Plain copies for the RSVP scripts. Unset times read as 0 (1970), like in
		// store.EventKey; validation requires both times anyway.
		return []any{
			"campaign", e.GetCampaign(),
			"state", int32(e.GetState()),
			"capacity", e.GetCapacity(),
			"start_ms", e.GetStartTime().AsTime().UnixMilli(),
			"end_ms", e.GetEndTime().AsTime().UnixMilli(),
		}
	},
	key:     store.EventKey,
	indexes: store.EventIndexes,
	// The RSVP scripts count people (guests included) in going and waitlisted, and
	// RSVPs checked in, and of those the ones checked out, in checked_in and
	// checked_out_in; cas.lua only HSETs the fields it is given, so event writes keep
	// them.
	derived: []string{"going", "waitlisted", "checked_in", "checked_out_in"},
	fill: func(e *rallyv1.Event, vals []any) {
		// Like the memory store: no attendance until something was counted (which
		// leaves the fields in place, at zero if everyone cancelled).
		e.Attendance = nil
		if vals[0] != nil || vals[1] != nil || vals[2] != nil || vals[3] != nil {
			checkedIn := count(vals[2])
			e.Attendance = &rallyv1.Attendance{
				Going:         count(vals[0]),
				Waitlisted:    count(vals[1]),
				CheckedIn:     checkedIn,
				NotCheckedOut: checkedIn - count(vals[3]),
			}
		}
	},
	strip: func(e *rallyv1.Event) { e.Attendance = nil },
	// An event is created with the attendance it is given (none, from the server), as
	// in the memory store; from then on only the RSVP scripts change it.
	seed: func(e *rallyv1.Event) []any {
		if e.GetAttendance() == nil {
			return nil
		}
		a := e.GetAttendance()
		return []any{"going", a.GetGoing(), "waitlisted", a.GetWaitlisted(),
			"checked_in", a.GetCheckedIn(), "checked_out_in", a.GetCheckedIn() - a.GetNotCheckedOut()}
	},
}

// count reads a counter field returned by HMGET: nil (never counted) is 0.
func count(v any) int32 {
	s, _ := v.(string)
	n, _ := strconv.ParseInt(s, 10, 32)
	return int32(n)
}

var organiserKind = kind[*rallyv1.Organiser]{
	tag:    "org",
	new:    func() *rallyv1.Organiser { return new(rallyv1.Organiser) },
	fields: func(*rallyv1.Organiser) []any { return nil },
	// Organisers are never listed: no index.
}

var tokenKind = kind[*rallyv1.ApiToken]{
	tag:     "tok",
	new:     func() *rallyv1.ApiToken { return new(rallyv1.ApiToken) },
	fields:  func(*rallyv1.ApiToken) []any { return nil },
	key:     store.APITokenKey,
	indexes: store.APITokenIndexes,
}

var organiserKeyKind = kind[*rallyv1.OrganiserKey]{
	tag:     "okey",
	new:     func() *rallyv1.OrganiserKey { return new(rallyv1.OrganiserKey) },
	fields:  func(*rallyv1.OrganiserKey) []any { return nil },
	key:     store.OrganiserKeyKey,
	indexes: store.OrganiserKeyIndexes,
}

var campaignKind = kind[*rallyv1.Campaign]{
	tag:     "cp",
	new:     func() *rallyv1.Campaign { return new(rallyv1.Campaign) },
	fields:  func(*rallyv1.Campaign) []any { return nil },
	key:     store.CampaignKey,
	indexes: store.CampaignIndexes,
}

// recordKey is the key of a record: <prefix>{ev:<id>} or <prefix>{cp:<id>}.
func (s *Store) recordKey(tag, id string) string { return s.prefix + "{" + tag + ":" + id + "}" }

// indexPrefix starts the key of every index and membership: <prefix>{idx}:.
func (s *Store) indexPrefix() string { return s.prefix + "{idx}:" }

// indexKey is the key of the sorted set of the named index.
func (s *Store) indexKey(name string) string { return s.indexPrefix() + name }

// membershipKey is the key of the hash that lists a record's index entries.
func (s *Store) membershipKey(tag, id string) string { return s.indexPrefix() + "m:" + tag + ":" + id }

// CreateCampaign implements store.Store.
func (s *Store) CreateCampaign(ctx context.Context, c *rallyv1.Campaign) error {
	return create(ctx, s, campaignKind, c)
}

// GetCampaign implements store.Store.
func (s *Store) GetCampaign(ctx context.Context, name string) (*rallyv1.Campaign, error) {
	return get(ctx, s, campaignKind, name)
}

// ListCampaigns implements store.Store.
func (s *Store) ListCampaigns(ctx context.Context, q store.CampaignQuery) (store.Page[*rallyv1.Campaign], error) {
	r, err := q.Range()
	if err != nil {
		return store.Page[*rallyv1.Campaign]{}, err
	}
	return list(ctx, s, campaignKind, r, q.PageSize, nil)
}

// UpdateCampaign implements store.Store.
func (s *Store) UpdateCampaign(ctx context.Context, name string, mutate func(*rallyv1.Campaign) error) (*rallyv1.Campaign, error) {
	return update(ctx, s, campaignKind, name, mutate)
}

// ListInvitedCampaigns implements store.Store.
func (s *Store) ListInvitedCampaigns(ctx context.Context, q store.InvitationQuery) (store.Page[*rallyv1.Campaign], error) {
	r, err := q.Range()
	if err != nil {
		return store.Page[*rallyv1.Campaign]{}, err
	}
	return list(ctx, s, campaignKind, r, q.PageSize, q.Matches)
}

// CreateEvent implements store.Store.
func (s *Store) CreateEvent(ctx context.Context, e *rallyv1.Event) error {
	store.NewEventRevision(e)
	return create(ctx, s, eventKind, e)
}

// GetEvent implements store.Store.
func (s *Store) GetEvent(ctx context.Context, name string) (*rallyv1.Event, error) {
	return get(ctx, s, eventKind, name)
}

// ListEvents implements store.Store.
func (s *Store) ListEvents(ctx context.Context, q store.EventQuery) (store.Page[*rallyv1.Event], error) {
	r, err := q.Range()
	if err != nil {
		return store.Page[*rallyv1.Event]{}, err
	}
	return list(ctx, s, eventKind, r, q.PageSize, q.Matches)
}

// UpdateEvent implements store.Store.
func (s *Store) UpdateEvent(ctx context.Context, name string, mutate func(*rallyv1.Event) error) (*rallyv1.Event, error) {
	// The revision is in pb, which cas.lua writes only over the record it was read from:
	// a lost race reads again and counts from the winner's revision.
	return update(ctx, s, eventKind, name, store.ReviseEvent(mutate))
}

// CreateOrganiser implements store.Store.
func (s *Store) CreateOrganiser(ctx context.Context, o *rallyv1.Organiser) error {
	return create(ctx, s, organiserKind, o)
}

// GetOrganiser implements store.Store.
func (s *Store) GetOrganiser(ctx context.Context, name string) (*rallyv1.Organiser, error) {
	return get(ctx, s, organiserKind, name)
}

// CreateAPIToken implements store.Store.
func (s *Store) CreateAPIToken(ctx context.Context, t *rallyv1.ApiToken) error {
	return create(ctx, s, tokenKind, t)
}

// GetAPIToken implements store.Store.
func (s *Store) GetAPIToken(ctx context.Context, name string) (*rallyv1.ApiToken, error) {
	return get(ctx, s, tokenKind, name)
}

// ListAPITokens implements store.Store.
func (s *Store) ListAPITokens(ctx context.Context, q store.APITokenQuery) (store.Page[*rallyv1.ApiToken], error) {
	all, err := list(ctx, s, tokenKind, store.APITokenRange(q.Organiser), store.MaxAPITokens, nil)
	if err != nil {
		return store.Page[*rallyv1.ApiToken]{}, err
	}
	return store.PageNewestFirst("tok|"+q.Organiser, all.Items, store.APITokenKey, nil, q.PageSize, q.PageToken)
}

// UpdateAPIToken implements store.Store.
func (s *Store) UpdateAPIToken(ctx context.Context, name string, mutate func(*rallyv1.ApiToken) error) (*rallyv1.ApiToken, error) {
	return update(ctx, s, tokenKind, name, mutate)
}

// CreateOrganiserKey implements store.Store.
func (s *Store) CreateOrganiserKey(ctx context.Context, k *rallyv1.OrganiserKey) error {
	return create(ctx, s, organiserKeyKind, k)
}

// GetOrganiserKey implements store.Store.
func (s *Store) GetOrganiserKey(ctx context.Context, name string) (*rallyv1.OrganiserKey, error) {
	return get(ctx, s, organiserKeyKind, name)
}

// ListOrganiserKeys implements store.Store.
func (s *Store) ListOrganiserKeys(ctx context.Context, q store.OrganiserKeyQuery) (store.Page[*rallyv1.OrganiserKey], error) {
	r, err := q.Range()
	if err != nil {
		return store.Page[*rallyv1.OrganiserKey]{}, err
	}
	return list(ctx, s, organiserKeyKind, r, q.PageSize, nil)
}

// UpdateOrganiserKey implements store.Store.
func (s *Store) UpdateOrganiserKey(ctx context.Context, name string, mutate func(*rallyv1.OrganiserKey) error) (*rallyv1.OrganiserKey, error) {
	return update(ctx, s, organiserKeyKind, name, mutate)
}

// Ping implements store.Store with a PING.
func (s *Store) Ping(ctx context.Context) error {
	return s.rdb.Ping(ctx).Err()
}

// Close implements store.Store. It does nothing: the client belongs to the caller, who
// may share it with other users (rate limiting, pub/sub) and closes it last.
func (s *Store) Close() error { return nil }

// record returns the arguments of create.lua and cas.lua that store msg: pb and the
// kind's plain fields.
func record[T resource](k kind[T], msg T) ([]any, error) {
	stored := msg
	if k.strip != nil {
		// A copy: the caller's message keeps its output-only fields.
		stored = proto.Clone(msg).(T)
		k.strip(stored)
	}
	pb, err := marshal.Marshal(stored)
	if err != nil {
		return nil, fmt.Errorf("encoding %s: %w", msg.GetName(), err)
	}
	return append([]any{"pb", pb}, k.fields(msg)...), nil
}

func create[T resource](ctx context.Context, s *Store, k kind[T], msg T) error {
	name := msg.GetName()
	id := store.ID(name)
	args, err := record(k, msg)
	if err != nil {
		return err
	}
	if k.seed != nil {
		args = append(args, k.seed(msg)...)
	}
	created, err := createScript.Run(ctx, s.rdb, []string{s.recordKey(k.tag, id)}, args...).Int64()
	if err != nil {
		return fmt.Errorf("creating %s: %w", name, err)
	}
	if created == 0 {
		return store.AlreadyExistsError(name)
	}
	if k.indexes == nil {
		return nil
	}
	// If this fails the record exists but no list shows it until its next update (see
	// the package comment). The error tells the caller that the create did not finish.
	return s.applyIndex(ctx, k.tag, id, 1, k.key(msg), k.indexes(msg))
}

func get[T resource](ctx context.Context, s *Store, k kind[T], name string) (T, error) {
	var zero T
	vals, err := s.rdb.HMGet(ctx, s.recordKey(k.tag, store.ID(name)), append([]string{"pb"}, k.derived...)...).Result()
	if err != nil {
		return zero, fmt.Errorf("reading %s: %w", name, err)
	}
	msg, ok, err := decode(k, vals[0], vals[1:])
	if err != nil {
		return zero, fmt.Errorf("decoding %s: %w", name, err)
	}
	if !ok {
		return zero, store.NotFoundError(name)
	}
	return msg, nil
}

// decode decodes pb as returned by HMGET (nil when the record is missing: ok false)
// and fills in the kind's derived fields from their values.
func decode[T resource](k kind[T], pb any, derived []any) (msg T, ok bool, err error) {
	s, ok := pb.(string)
	if !ok {
		return msg, false, nil
	}
	msg = k.new()
	if err := proto.Unmarshal([]byte(s), msg); err != nil {
		return msg, false, err
	}
	if k.fill != nil {
		k.fill(msg, derived)
	}
	return msg, true, nil
}

// update is an optimistic read-modify-write: mutate runs in Go, between two round trips,
// and cas.lua writes its result only if nobody wrote the record in between. Holding a lock
// across mutate instead would let one slow or dead replica block a record.
func update[T resource](ctx context.Context, s *Store, k kind[T], name string, mutate func(T) error) (T, error) {
	var zero T
	id := store.ID(name)
	key := s.recordKey(k.tag, id)
	for attempt := 0; attempt < maxAttempts; attempt++ {
		if attempt > 0 {
			if err := backoff(ctx, attempt); err != nil {
				return zero, err
			}
		}
		vals, err := s.rdb.HMGet(ctx, key, append([]string{"rev", "pb"}, k.derived...)...).Result()
		if err != nil {
			return zero, fmt.Errorf("reading %s: %w", name, err)
		}
		rev, ok := vals[0].(string)
		if !ok {
			return zero, store.NotFoundError(name)
		}
		// The derived fields (attendance) are as of this read: mutate may look at them,
		// and the caller gets them back, but they are not written (see record).
		msg, ok, err := decode(k, vals[1], vals[2:])
		if err != nil {
			return zero, fmt.Errorf("decoding %s: %w", name, err)
		}
		if !ok {
			return zero, store.NotFoundError(name)
		}
		before := msg.GetName()
		if err := mutate(msg); err != nil {
			return zero, err
		}
		if err := store.CheckRename(before, msg.GetName()); err != nil {
			return zero, err
		}
		args, err := record(k, msg)
		if err != nil {
			return zero, err
		}
		newRev, err := casScript.Run(ctx, s.rdb, []string{key}, append([]any{rev}, args...)...).Int64()
		if err != nil {
			return zero, fmt.Errorf("writing %s: %w", name, err)
		}
		switch {
		case newRev < 0:
			return zero, store.NotFoundError(name)
		case newRev == 0:
			continue // written by someone else since we read it: read it again
		}
		// As after a create, a failure here leaves the indexes one revision behind.
		if k.indexes != nil {
			if err := s.applyIndex(ctx, k.tag, id, newRev, k.key(msg), k.indexes(msg)); err != nil {
				return zero, err
			}
		}
		return msg, nil
	}
	return zero, fmt.Errorf("%w: updating %s", store.ErrContention, name)
}

// backoff waits before attempt number attempt (1 or more) of an update: a random delay
// up to a bound that doubles from 1ms to 64ms. Randomness spreads the writers that lost
// the same race, so they do not collide again; the cap keeps the total under a second.
func backoff(ctx context.Context, attempt int) error {
	limit := time.Millisecond << min(attempt-1, 6)
	t := time.NewTimer(rand.N(limit) + 1)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}

// applyIndex makes the entries of record id at revision rev, key in each of the named
// indexes, the record's only index entries, unless a revision at least as new was
// applied already. One index.lua on the {idx} slot, so the move is atomic.
func (s *Store) applyIndex(ctx context.Context, tag, id string, rev int64, key string, names []string) error {
	keys := make([]string, 0, 1+len(names))
	keys = append(keys, s.membershipKey(tag, id))
	args := make([]any, 0, 3+len(names))
	args = append(args, rev, key, s.indexPrefix())
	for _, n := range names {
		keys = append(keys, s.indexKey(n))
		args = append(args, n)
	}
	if err := indexScript.Run(ctx, s.rdb, keys, args...).Err(); err != nil {
		return fmt.Errorf("indexing %s:%s at revision %d: %w", tag, id, rev, err)
	}
	return nil
}

// list reads one page of r. Index entries are verified against the records they name:
// an entry whose record is gone, has another index key, or fails keep (the query's
// filters) is stale, left by an unfinished or reordered write, and dropped.
func list[T resource](ctx context.Context, s *Store, k kind[T], r store.Range, pageSize int, keep func(T) bool) (store.Page[T], error) {
	return store.ReadPage(ctx, r, pageSize, s.scan, func(ctx context.Context, keys []string) ([]T, error) {
		// One pipeline of HGETs, one per record. Not MGET, and not a script: in Cluster
		// the records are in different slots, and a pipeline works on any topology (the
		// cluster client splits it by node).
		pipe := s.rdb.Pipeline()
		cmds := make([]*goredis.SliceCmd, len(keys))
		fields := append([]string{"pb"}, k.derived...)
		for i, key := range keys {
			cmds[i] = pipe.HMGet(ctx, s.recordKey(k.tag, store.KeyID(key)), fields...)
		}
		// Exec reports the first failed command: look at each command instead.
		_, _ = pipe.Exec(ctx)
		items := make([]T, 0, len(keys))
		for i, cmd := range cmds {
			vals, err := cmd.Result()
			if err != nil {
				return nil, fmt.Errorf("reading %s:%s: %w", k.tag, store.KeyID(keys[i]), err)
			}
			msg, ok, err := decode(k, vals[0], vals[1:])
			if err != nil {
				return nil, fmt.Errorf("decoding %s:%s: %w", k.tag, store.KeyID(keys[i]), err)
			}
			if !ok {
				continue // a stale entry: the record is gone
			}
			if k.key(msg) != keys[i] || (keep != nil && !keep(msg)) {
				continue
			}
			items = append(items, msg)
		}
		return items, nil
	})
}

// scan reads up to limit keys of r with ZRANGE … BYLEX LIMIT 0 limit: the lexicographic
// range notation of store.Range is Redis's own.
func (s *Store) scan(ctx context.Context, r store.Range, limit int) ([]string, error) {
	return s.scanKey(ctx, s.indexKey(r.Index), r, limit)
}

// scanKey is scan of the sorted set at key, for indexes that live elsewhere than under
// {idx} (an event's RSVP indexes, under the event's hash tag).
func (s *Store) scanKey(ctx context.Context, key string, r store.Range, limit int) ([]string, error) {
	keys, err := s.rdb.ZRangeArgs(ctx, goredis.ZRangeArgs{
		Key:   key,
		Start: r.Min,
		Stop:  r.Max,
		ByLex: true,
		Count: int64(limit),
	}).Result()
	if err != nil {
		return nil, fmt.Errorf("reading index %s: %w", r.Index, err)
	}
	return keys, nil
}
