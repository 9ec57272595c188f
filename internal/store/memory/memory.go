// Package memory is the embedded store: everything lives in this process and is lost
// when it exits. It is the default, so that Rally runs without Redis, and it keeps the
// same indexes as the Redis store, so both order and paginate identically.
package memory

import (
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/google/btree"
	"google.golang.org/protobuf/proto"

	rallyv1 "github.com/rallyhq/rally/gen/go/rally/v1"
	"github.com/rallyhq/rally/internal/store"
)

// Store is an in-process store.Store. The zero value is not usable: call New.
//
// One RWMutex guards everything: reads share it, writes are short (a clone, a map write
// and a few dozen index moves), and a single lock makes every write atomic with its index
// updates, so unlike Redis this backend never sees a stale index entry.
type Store struct {
	mu         sync.RWMutex
	campaigns  *table[*rallyv1.Campaign]
	events     *table[*rallyv1.Event]
	organisers *table[*rallyv1.Organiser]
	tokens     *table[*rallyv1.ApiToken]
	keys       *table[*rallyv1.OrganiserKey]
	tasks      *table[*rallyv1.Task]
	// indexes holds one ordered set of keys per index name (store.EventIndexes,
	// store.CampaignIndexes, ...). An index that becomes empty is removed.
	indexes map[string]*btree.BTreeG[string]
	books   map[string]*book           // RSVPs by event ID
	boards  map[string]*board          // claims by task ID
	logs    map[string][]proto.Message // capped logs (audit, announcements), newest first
	// publicViews is each event's last published public attendance view (SwapPublicView).
	publicViews map[string]string

	retention  time.Duration    // how long RSVPs outlive their event
	sweepEvery time.Duration    // how often the sweeper runs; 0: never
	now        func() time.Time // the clock of promotions made by Rebalance
	stop       chan struct{}    // closed by Close to end the sweeper
	closeOnce  sync.Once
}

// Option configures a Store.
type Option func(*Store)

// WithRSVPRetention sets how long after an event's end its RSVPs are deleted (72h by
// default).
func WithRSVPRetention(d time.Duration) Option { return func(s *Store) { s.retention = d } }

// WithClock sets the store's clock, for tests.
func WithClock(now func() time.Time) Option { return func(s *Store) { s.now = now } }

// WithSweepInterval sets how often expired RSVPs are deleted (every minute by default);
// 0 disables the sweeper, for tests that call Sweep themselves.
func WithSweepInterval(d time.Duration) Option { return func(s *Store) { s.sweepEvery = d } }

var (
	_ store.Store     = (*Store)(nil)
	_ store.TaskStore = (*Store)(nil)
)

// New returns an empty store. Close it to stop its sweeper.
func New(opts ...Option) *Store {
	s := &Store{
		campaigns:  newTable(store.CampaignKey, store.CampaignIndexes),
		events:     newTable(store.EventKey, store.EventIndexes),
		organisers: newTable[*rallyv1.Organiser](nil, nil),
		tokens:     newTable(store.APITokenKey, store.APITokenIndexes),
		keys:       newTable(store.OrganiserKeyKey, store.OrganiserKeyIndexes),
		tasks:      newTable(store.TaskKey, store.TaskIndexes),
		indexes:    make(map[string]*btree.BTreeG[string]),
		books:      make(map[string]*book),
		boards:     make(map[string]*board),
		logs:       make(map[string][]proto.Message),
		retention:  72 * time.Hour,
		now:        time.Now,
		sweepEvery: time.Minute,
		stop:       make(chan struct{}),
	}
	for _, o := range opts {
		o(s)
	}
	if s.sweepEvery > 0 {
		go s.sweeper()
	}
	return s
}

// sweeper deletes expired RSVPs periodically until Close.
func (s *Store) sweeper() {
	t := time.NewTicker(s.sweepEvery)
	defer t.Stop()
	for {
		select {
		case <-s.stop:
			return
		case <-t.C:
			s.Sweep(s.now())
		}
	}
}

// resource is what the generic table needs of a stored message.
type resource interface {
	proto.Message
	GetName() string
}

// table holds the records of one resource type, by ID (the last segment of the name,
// like in Redis, so that both backends agree on which names collide), and says how they
// are indexed: key is the record's index key, indexes the names of the indexes holding it
// (both nil for a type that is never listed).
type table[T resource] struct {
	records map[string]T
	key     func(T) string
	indexes func(T) []string
}

func newTable[T resource](key func(T) string, indexes func(T) []string) *table[T] {
	return &table[T]{records: make(map[string]T), key: key, indexes: indexes}
}

func clone[T proto.Message](m T) T { return proto.Clone(m).(T) }

// index adds (or, with remove, deletes) the record's entries. The caller holds the write lock.
func (s *Store) index(key string, names []string, remove bool) {
	for _, name := range names {
		if remove {
			s.remove(name, key)
		} else {
			s.add(name, key)
		}
	}
}

func create[T resource](s *Store, t *table[T], msg T) error {
	msg = clone(msg)
	id := store.ID(msg.GetName())
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := t.records[id]; ok {
		return store.AlreadyExistsError(msg.GetName())
	}
	t.records[id] = msg
	if t.indexes != nil {
		s.index(t.key(msg), t.indexes(msg), false)
	}
	return nil
}

func get[T resource](s *Store, t *table[T], name string) (T, error) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	msg, ok := t.records[store.ID(name)]
	if !ok {
		var zero T
		return zero, store.NotFoundError(name)
	}
	return clone(msg), nil
}

// update runs mutate under the write lock, on a copy, so it never races with another
// writer and needs no retry.
func update[T resource](s *Store, t *table[T], name string, mutate func(T) error) (T, error) {
	var zero T
	s.mu.Lock()
	defer s.mu.Unlock()
	id := store.ID(name)
	old, ok := t.records[id]
	if !ok {
		return zero, store.NotFoundError(name)
	}
	msg := clone(old)
	if err := mutate(msg); err != nil {
		return zero, err
	}
	if err := store.CheckRename(old.GetName(), msg.GetName()); err != nil {
		return zero, err
	}
	// Keep a copy: mutate may have kept a reference to its argument.
	t.records[id] = clone(msg)
	if t.indexes != nil {
		s.index(t.key(old), t.indexes(old), true)
		s.index(t.key(msg), t.indexes(msg), false)
	}
	return msg, nil
}

// list reads one page of r. keep, when not nil, settles the records at the boundary
// milliseconds of a time filter: keys hold milliseconds and the filters are exact, as in
// the Redis store.
func list[T resource](ctx context.Context, s *Store, t *table[T], r store.Range, pageSize int, keep func(T) bool) (store.Page[T], error) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return store.ReadPage(ctx, r, pageSize, s.scan, func(_ context.Context, keys []string) ([]T, error) {
		items := make([]T, 0, len(keys))
		for _, k := range keys {
			if msg, ok := t.records[store.KeyID(k)]; ok && (keep == nil || keep(msg)) {
				items = append(items, clone(msg))
			}
		}
		return items, nil
	})
}

// CreateCampaign implements store.Store.
func (s *Store) CreateCampaign(_ context.Context, c *rallyv1.Campaign) error {
	return create(s, s.campaigns, c)
}

// GetCampaign implements store.Store.
func (s *Store) GetCampaign(_ context.Context, name string) (*rallyv1.Campaign, error) {
	return get(s, s.campaigns, name)
}

// ListCampaigns implements store.Store.
func (s *Store) ListCampaigns(ctx context.Context, q store.CampaignQuery) (store.Page[*rallyv1.Campaign], error) {
	r, err := q.Range()
	if err != nil {
		return store.Page[*rallyv1.Campaign]{}, err
	}
	return list(ctx, s, s.campaigns, r, q.PageSize, nil)
}

// UpdateCampaign implements store.Store.
func (s *Store) UpdateCampaign(_ context.Context, name string, mutate func(*rallyv1.Campaign) error) (*rallyv1.Campaign, error) {
	return update(s, s.campaigns, name, mutate)
}

// ListInvitedCampaigns implements store.Store.
func (s *Store) ListInvitedCampaigns(ctx context.Context, q store.InvitationQuery) (store.Page[*rallyv1.Campaign], error) {
	r, err := q.Range()
	if err != nil {
		return store.Page[*rallyv1.Campaign]{}, err
	}
	return list(ctx, s, s.campaigns, r, q.PageSize, q.Matches)
}

// CreateEvent implements store.Store.
func (s *Store) CreateEvent(_ context.Context, e *rallyv1.Event) error {
	store.NewEventRevision(e)
	return create(s, s.events, e)
}

// GetEvent implements store.Store.
func (s *Store) GetEvent(_ context.Context, name string) (*rallyv1.Event, error) {
	return get(s, s.events, name)
}

// ListEvents implements store.Store.
func (s *Store) ListEvents(ctx context.Context, q store.EventQuery) (store.Page[*rallyv1.Event], error) {
	r, err := q.Range()
	if err != nil {
		return store.Page[*rallyv1.Event]{}, err
	}
	return list(ctx, s, s.events, r, q.PageSize, q.Matches)
}

// UpdateEvent implements store.Store.
func (s *Store) UpdateEvent(_ context.Context, name string, mutate func(*rallyv1.Event) error) (*rallyv1.Event, error) {
	return update(s, s.events, name, store.ReviseEvent(mutate))
}

// CreateOrganiser implements store.Store.
func (s *Store) CreateOrganiser(_ context.Context, o *rallyv1.Organiser) error {
	return create(s, s.organisers, o)
}

// GetOrganiser implements store.Store.
func (s *Store) GetOrganiser(_ context.Context, name string) (*rallyv1.Organiser, error) {
	return get(s, s.organisers, name)
}

// CreateAPIToken implements store.Store.
func (s *Store) CreateAPIToken(_ context.Context, t *rallyv1.ApiToken) error {
	return create(s, s.tokens, t)
}

// GetAPIToken implements store.Store.
func (s *Store) GetAPIToken(_ context.Context, name string) (*rallyv1.ApiToken, error) {
	return get(s, s.tokens, name)
}

// ListAPITokens implements store.Store.
func (s *Store) ListAPITokens(ctx context.Context, q store.APITokenQuery) (store.Page[*rallyv1.ApiToken], error) {
	all, err := list(ctx, s, s.tokens, store.APITokenRange(q.Organiser), store.MaxAPITokens, nil)
	if err != nil {
		return store.Page[*rallyv1.ApiToken]{}, err
	}
	return store.PageNewestFirst("tok|"+q.Organiser, all.Items, store.APITokenKey, nil, q.PageSize, q.PageToken)
}

// UpdateAPIToken implements store.Store.
func (s *Store) UpdateAPIToken(_ context.Context, name string, mutate func(*rallyv1.ApiToken) error) (*rallyv1.ApiToken, error) {
	return update(s, s.tokens, name, mutate)
}

// CreateOrganiserKey implements store.Store.
func (s *Store) CreateOrganiserKey(_ context.Context, k *rallyv1.OrganiserKey) error {
	return create(s, s.keys, k)
}

// GetOrganiserKey implements store.Store.
func (s *Store) GetOrganiserKey(_ context.Context, name string) (*rallyv1.OrganiserKey, error) {
	return get(s, s.keys, name)
}

// ListOrganiserKeys implements store.Store.
func (s *Store) ListOrganiserKeys(ctx context.Context, q store.OrganiserKeyQuery) (store.Page[*rallyv1.OrganiserKey], error) {
	r, err := q.Range()
	if err != nil {
		return store.Page[*rallyv1.OrganiserKey]{}, err
	}
	return list(ctx, s, s.keys, r, q.PageSize, nil)
}

// UpdateOrganiserKey implements store.Store.
func (s *Store) UpdateOrganiserKey(_ context.Context, name string, mutate func(*rallyv1.OrganiserKey) error) (*rallyv1.OrganiserKey, error) {
	return update(s, s.keys, name, mutate)
}

// Ping implements store.Store: the memory store is always ready.
func (s *Store) Ping(ctx context.Context) error { return nil }

// Close implements store.Store. It stops the sweeper and keeps the data: the store stays
// usable.
func (s *Store) Close() error {
	s.closeOnce.Do(func() { close(s.stop) })
	return nil
}

// add inserts key into the named index. The caller holds the write lock.
func (s *Store) add(index, key string) {
	t, ok := s.indexes[index]
	if !ok {
		t = btree.NewOrderedG[string](16)
		s.indexes[index] = t
	}
	t.ReplaceOrInsert(key)
}

// remove deletes key from the named index, and the index when it becomes empty, so that
// indexes of past filter values do not pile up. The caller holds the write lock.
func (s *Store) remove(index, key string) {
	t, ok := s.indexes[index]
	if !ok {
		return
	}
	t.Delete(key)
	if t.Len() == 0 {
		delete(s.indexes, index)
	}
}

// scan returns up to limit keys of r in order. The caller holds a lock.
func (s *Store) scan(_ context.Context, r store.Range, limit int) ([]string, error) {
	t, ok := s.indexes[r.Index]
	if !ok {
		return nil, nil
	}
	lo, err := parseBound(r.Min, "-")
	if err != nil {
		return nil, err
	}
	hi, err := parseBound(r.Max, "+")
	if err != nil {
		return nil, err
	}
	var keys []string
	visit := func(k string) bool {
		if !hi.aboveOrAt(k) {
			return false // past the end
		}
		if lo.belowOrAt(k) { // false only for the excluded start "(k"
			keys = append(keys, k)
		}
		return len(keys) < limit
	}
	if lo.open {
		t.Ascend(visit)
	} else {
		t.AscendGreaterOrEqual(lo.key, visit)
	}
	return keys, nil
}

// bound is one end of a range in ZRANGE BYLEX notation.
type bound struct {
	open      bool // "-" or "+": no bound
	key       string
	inclusive bool // "[key" rather than "(key"
}

// parseBound parses s, whose open form is open ("-" for a lower bound, "+" for an upper).
func parseBound(s, open string) (bound, error) {
	switch {
	case s == open:
		return bound{open: true}, nil
	case len(s) > 0 && s[0] == '[':
		return bound{key: s[1:], inclusive: true}, nil
	case len(s) > 0 && s[0] == '(':
		return bound{key: s[1:]}, nil
	}
	return bound{}, fmt.Errorf("memory: malformed range bound %q", s)
}

// belowOrAt reports whether k is at or after the lower bound b.
func (b bound) belowOrAt(k string) bool {
	return b.open || k > b.key || (b.inclusive && k == b.key)
}

// aboveOrAt reports whether k is at or before the upper bound b.
func (b bound) aboveOrAt(k string) bool {
	return b.open || k < b.key || (b.inclusive && k == b.key)
}
