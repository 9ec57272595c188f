// Package memory is the embedded store: everything lives in this process and is lost
// when it exits. It is the default, so that Rally runs without Redis, and it keeps the
// same indexes as the Redis store, so both order and paginate identically.
package memory

import (
	"context"
	"fmt"
	"sync"

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
	mu        sync.RWMutex
	campaigns map[string]*rallyv1.Campaign // by ID, the last segment of the name
	events    map[string]*rallyv1.Event    // by ID
	// indexes holds one ordered set of keys per index name (store.EventIndexes and
	// store.CampaignIndex). An index that becomes empty is removed.
	indexes map[string]*btree.BTreeG[string]
}

var _ store.Store = (*Store)(nil)

// New returns an empty store.
func New() *Store {
	return &Store{
		campaigns: make(map[string]*rallyv1.Campaign),
		events:    make(map[string]*rallyv1.Event),
		indexes:   make(map[string]*btree.BTreeG[string]),
	}
}

// Records are keyed by ID, like in Redis, so that both backends agree on which names
// collide.

func notFound(name string) error      { return fmt.Errorf("%w: %s", store.ErrNotFound, name) }
func alreadyExists(name string) error { return fmt.Errorf("%w: %s", store.ErrAlreadyExists, name) }

// CreateCampaign implements store.Store.
func (s *Store) CreateCampaign(ctx context.Context, c *rallyv1.Campaign) error {
	c = proto.Clone(c).(*rallyv1.Campaign)
	id := store.ID(c.GetName())
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.campaigns[id]; ok {
		return alreadyExists(c.GetName())
	}
	s.campaigns[id] = c
	s.add(store.CampaignIndex, store.CampaignKey(c))
	return nil
}

// GetCampaign implements store.Store.
func (s *Store) GetCampaign(ctx context.Context, name string) (*rallyv1.Campaign, error) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	c, ok := s.campaigns[store.ID(name)]
	if !ok {
		return nil, notFound(name)
	}
	return proto.Clone(c).(*rallyv1.Campaign), nil
}

// ListCampaigns implements store.Store.
func (s *Store) ListCampaigns(ctx context.Context, q store.CampaignQuery) (store.Page[*rallyv1.Campaign], error) {
	r, err := q.Range()
	if err != nil {
		return store.Page[*rallyv1.Campaign]{}, err
	}
	s.mu.RLock()
	defer s.mu.RUnlock()
	return store.ReadPage(ctx, r, q.PageSize, s.scan,
		func(_ context.Context, keys []string) ([]*rallyv1.Campaign, error) {
			items := make([]*rallyv1.Campaign, 0, len(keys))
			for _, k := range keys {
				if c, ok := s.campaigns[store.KeyID(k)]; ok {
					items = append(items, proto.Clone(c).(*rallyv1.Campaign))
				}
			}
			return items, nil
		})
}

// UpdateCampaign implements store.Store. mutate runs under the write lock, on a copy, so
// it never races with another writer and needs no retry.
func (s *Store) UpdateCampaign(ctx context.Context, name string, mutate func(*rallyv1.Campaign) error) (*rallyv1.Campaign, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	id := store.ID(name)
	old, ok := s.campaigns[id]
	if !ok {
		return nil, notFound(name)
	}
	c := proto.Clone(old).(*rallyv1.Campaign)
	if err := mutate(c); err != nil {
		return nil, err
	}
	if err := store.CheckRename(old.GetName(), c.GetName()); err != nil {
		return nil, err
	}
	// Keep a copy: mutate may have kept a reference to its argument.
	s.campaigns[id] = proto.Clone(c).(*rallyv1.Campaign)
	if oldKey, newKey := store.CampaignKey(old), store.CampaignKey(c); oldKey != newKey {
		s.remove(store.CampaignIndex, oldKey)
		s.add(store.CampaignIndex, newKey)
	}
	return c, nil
}

// CreateEvent implements store.Store.
func (s *Store) CreateEvent(ctx context.Context, e *rallyv1.Event) error {
	e = proto.Clone(e).(*rallyv1.Event)
	id := store.ID(e.GetName())
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.events[id]; ok {
		return alreadyExists(e.GetName())
	}
	s.events[id] = e
	key := store.EventKey(e)
	for _, idx := range store.EventIndexes(e) {
		s.add(idx, key)
	}
	return nil
}

// GetEvent implements store.Store.
func (s *Store) GetEvent(ctx context.Context, name string) (*rallyv1.Event, error) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	e, ok := s.events[store.ID(name)]
	if !ok {
		return nil, notFound(name)
	}
	return proto.Clone(e).(*rallyv1.Event), nil
}

// ListEvents implements store.Store.
func (s *Store) ListEvents(ctx context.Context, q store.EventQuery) (store.Page[*rallyv1.Event], error) {
	r, err := q.Range()
	if err != nil {
		return store.Page[*rallyv1.Event]{}, err
	}
	s.mu.RLock()
	defer s.mu.RUnlock()
	return store.ReadPage(ctx, r, q.PageSize, s.scan,
		func(_ context.Context, keys []string) ([]*rallyv1.Event, error) {
			items := make([]*rallyv1.Event, 0, len(keys))
			for _, k := range keys {
				// The index is always in step with the records here, but keys hold
				// milliseconds and the time filters are exact: Matches settles the
				// events of the boundary milliseconds, as in the Redis store.
				if e, ok := s.events[store.KeyID(k)]; ok && q.Matches(e) {
					items = append(items, proto.Clone(e).(*rallyv1.Event))
				}
			}
			return items, nil
		})
}

// UpdateEvent implements store.Store. See UpdateCampaign.
func (s *Store) UpdateEvent(ctx context.Context, name string, mutate func(*rallyv1.Event) error) (*rallyv1.Event, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	id := store.ID(name)
	old, ok := s.events[id]
	if !ok {
		return nil, notFound(name)
	}
	e := proto.Clone(old).(*rallyv1.Event)
	if err := mutate(e); err != nil {
		return nil, err
	}
	if err := store.CheckRename(old.GetName(), e.GetName()); err != nil {
		return nil, err
	}
	s.events[id] = proto.Clone(e).(*rallyv1.Event) // see UpdateCampaign
	oldKey, newKey := store.EventKey(old), store.EventKey(e)
	for _, idx := range store.EventIndexes(old) {
		s.remove(idx, oldKey)
	}
	for _, idx := range store.EventIndexes(e) {
		s.add(idx, newKey)
	}
	return e, nil
}

// Ping implements store.Store: the memory store is always ready.
func (s *Store) Ping(ctx context.Context) error { return nil }

// Close implements store.Store. It keeps the data: the store stays usable.
func (s *Store) Close() error { return nil }

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
