package memory

import (
	"context"
	"fmt"
	"slices"
	"time"

	"google.golang.org/protobuf/types/known/timestamppb"

	rallyv1 "github.com/rallyhq/rally/gen/go/rally/v1"
	"github.com/rallyhq/rally/internal/store"
)

// board holds the claims of one task and its counts. Like the Redis store it applies
// expiry lazily, on every claim write: open holds the claims CLAIMED as of the last write,
// some of which may have expired since (reads compare their expiry with now).
type board struct {
	claims    map[string]*claimRecord // by claim ID
	byRequest map[string]request      // request key → the claim it made
	open      map[string]int64        // CLAIMED claims → expire time, ms since 1970
	seq       int64                   // last arrival number handed out
	completed int32
}

type claimRecord struct {
	claim     *rallyv1.Claim
	tokenHash []byte
	seq       int64
}

func (r *claimRecord) key() string { return store.ClaimKey(r.seq, store.ID(r.claim.GetName())) }

// boardOf returns the task's board, creating it. The caller holds the write lock.
func (s *Store) boardOf(taskID string) *board {
	b := s.boards[taskID]
	if b == nil {
		b = &board{claims: map[string]*claimRecord{}, byRequest: map[string]request{}, open: map[string]int64{}}
		s.boards[taskID] = b
	}
	return b
}

// progress returns the task's counts at now. With a zero now (UpdateTask, which has no
// clock) every claim open as of the last write counts. The caller holds a lock.
func (s *Store) progress(taskID string, now time.Time) *rallyv1.TaskProgress {
	p := &rallyv1.TaskProgress{}
	b := s.boards[taskID]
	if b == nil {
		return p
	}
	p.Completed = b.completed
	nowMS := now.UnixMilli()
	for _, exp := range b.open {
		if now.IsZero() || exp > nowMS {
			p.Claimed++
		}
	}
	return p
}

// expireDue marks the claims whose time has passed at now EXPIRED. The caller holds the
// write lock.
func (b *board) expireDue(now time.Time) {
	nowMS := now.UnixMilli()
	for id, exp := range b.open {
		if exp <= nowMS {
			b.claims[id].claim.State = rallyv1.ClaimState_CLAIM_STATE_EXPIRED
			delete(b.open, id)
		}
	}
}

// claimView returns a copy of a claim as seen at now: an open claim past its time is
// EXPIRED even before a write has marked it so.
func claimView(r *claimRecord, now time.Time) *rallyv1.Claim {
	c := clone(r.claim)
	if c.GetState() == rallyv1.ClaimState_CLAIM_STATE_CLAIMED && store.ClaimExpired(c.GetExpireTime().AsTime(), now) {
		c.State = rallyv1.ClaimState_CLAIM_STATE_EXPIRED
	}
	return c
}

// CreateTask implements store.TaskStore.
func (s *Store) CreateTask(_ context.Context, t *rallyv1.Task) error {
	t = clone(t)
	t.Progress = nil
	return create(s, s.tasks, t)
}

// GetTask implements store.TaskStore.
func (s *Store) GetTask(_ context.Context, name string, now time.Time) (*rallyv1.Task, error) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	t, ok := s.tasks.records[store.ID(name)]
	if !ok {
		return nil, store.NotFoundError(name)
	}
	out := clone(t)
	out.Progress = s.progress(store.ID(name), now)
	return out, nil
}

// ListTasks implements store.TaskStore.
func (s *Store) ListTasks(ctx context.Context, q store.TaskQuery) (store.Page[*rallyv1.Task], error) {
	r, err := q.Range()
	if err != nil {
		return store.Page[*rallyv1.Task]{}, err
	}
	s.mu.RLock()
	defer s.mu.RUnlock()
	return store.ReadPage(ctx, r, q.PageSize, s.scan, func(_ context.Context, keys []string) ([]*rallyv1.Task, error) {
		items := make([]*rallyv1.Task, 0, len(keys))
		for _, k := range keys {
			id := store.KeyID(k)
			if t, ok := s.tasks.records[id]; ok && q.Matches(t) {
				out := clone(t)
				out.Progress = s.progress(id, q.Now)
				items = append(items, out)
			}
		}
		return items, nil
	})
}

// UpdateTask implements store.TaskStore.
func (s *Store) UpdateTask(_ context.Context, name string, mutate func(*rallyv1.Task) error) (*rallyv1.Task, error) {
	id := store.ID(name)
	var progress *rallyv1.TaskProgress
	t, err := update(s, s.tasks, name, func(t *rallyv1.Task) error {
		// update holds the write lock.
		progress = s.progress(id, time.Time{})
		t.Progress = clone(progress)
		if err := mutate(t); err != nil {
			return err
		}
		t.Progress = nil // never stored: computed on every read
		return nil
	})
	if err != nil {
		return nil, err
	}
	t.Progress = progress
	return t, nil
}

// ClaimTask implements store.TaskStore.
func (s *Store) ClaimTask(_ context.Context, task string, n store.NewClaim, now time.Time) (store.CreatedClaim, error) {
	name := n.Claim.GetName()
	if store.TaskOfClaim(name) != task || store.ID(name) == "" || len(n.TokenHash) == 0 {
		return store.CreatedClaim{}, fmt.Errorf("store: claim %q is not one of %s, or has no token hash", name, task)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	taskID := store.ID(task)
	if b := s.boards[taskID]; b != nil {
		if req, ok := b.byRequest[n.RequestKey]; ok && n.RequestKey != "" {
			return store.CreatedClaim{Claim: claimView(b.claims[req.id], now), Replayed: true, SealedToken: slices.Clone(req.sealed)}, nil
		}
		if r, ok := b.claims[store.ID(name)]; ok {
			if slices.Equal(r.tokenHash, n.TokenHash) {
				return store.CreatedClaim{Claim: claimView(r, now), SealedToken: slices.Clone(n.SealedToken)}, nil
			}
			return store.CreatedClaim{}, store.AlreadyExistsError(name)
		}
	}
	t, ok := s.tasks.records[taskID]
	if !ok {
		return store.CreatedClaim{}, store.NotFoundError(task)
	}
	if store.TaskClosed(t, now) {
		return store.CreatedClaim{}, fmt.Errorf("%w: %s", store.ErrTaskClosed, task)
	}
	b := s.boardOf(taskID)
	b.expireDue(now)
	if limit := t.GetMaxConcurrentClaims(); limit > 0 && len(b.open) >= int(limit) {
		return store.CreatedClaim{}, fmt.Errorf("%w: %s", store.ErrNoRoom, task)
	}
	b.seq++
	c := clone(n.Claim)
	exp := now.UnixMilli() + store.ClaimTTL(t).Milliseconds()
	c.State = rallyv1.ClaimState_CLAIM_STATE_CLAIMED
	c.ExpireTime = timestamppb.New(time.UnixMilli(exp))
	r := &claimRecord{claim: c, tokenHash: slices.Clone(n.TokenHash), seq: b.seq}
	id := store.ID(name)
	b.claims[id] = r
	b.open[id] = exp
	if n.RequestKey != "" {
		b.byRequest[n.RequestKey] = request{id: id, sealed: slices.Clone(n.SealedToken)}
	}
	s.add(store.ClaimIndex(task), r.key())
	return store.CreatedClaim{Claim: claimView(r, now)}, nil
}

// lookupClaim returns the board and record of a claim. The caller holds a lock.
func (s *Store) lookupClaim(name string) (*board, *claimRecord, error) {
	b := s.boards[store.ID(store.TaskOfClaim(name))]
	if b == nil || b.claims[store.ID(name)] == nil {
		return nil, nil, store.NotFoundError(name)
	}
	return b, b.claims[store.ID(name)], nil
}

// GetClaim implements store.TaskStore.
func (s *Store) GetClaim(_ context.Context, name string, now time.Time) (*rallyv1.Claim, []byte, error) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	_, r, err := s.lookupClaim(name)
	if err != nil {
		return nil, nil, err
	}
	return claimView(r, now), slices.Clone(r.tokenHash), nil
}

// CompleteClaim implements store.TaskStore.
func (s *Store) CompleteClaim(_ context.Context, name string, done store.Completion, now time.Time) (*rallyv1.Claim, error) {
	return s.endClaim(name, rallyv1.ClaimState_CLAIM_STATE_COMPLETED, done, now)
}

// ReleaseClaim implements store.TaskStore.
func (s *Store) ReleaseClaim(_ context.Context, name string, now time.Time) (*rallyv1.Claim, error) {
	return s.endClaim(name, rallyv1.ClaimState_CLAIM_STATE_RELEASED, store.Completion{}, now)
}

// endClaim moves an open claim to state (COMPLETED, with its proof and note, or
// RELEASED), freeing its place; a claim already there is returned unchanged, so a retry
// counts once.
func (s *Store) endClaim(name string, state rallyv1.ClaimState, done store.Completion, now time.Time) (*rallyv1.Claim, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	b, r, err := s.lookupClaim(name)
	if err != nil {
		return nil, err
	}
	b.expireDue(now)
	switch r.claim.GetState() {
	case state:
	case rallyv1.ClaimState_CLAIM_STATE_CLAIMED:
		r.claim.State = state
		delete(b.open, store.ID(name))
		if state == rallyv1.ClaimState_CLAIM_STATE_COMPLETED {
			r.claim.ProofUrl, r.claim.Note = done.ProofURL, done.Note
			if done.Envelope != nil {
				r.claim.CompletionEnvelope = clone(done.Envelope)
			}
			b.completed++
		}
	default:
		return nil, fmt.Errorf("%w: %s", store.ErrClaimNotOpen, name)
	}
	return claimView(r, now), nil
}

// ListClaims implements store.TaskStore.
func (s *Store) ListClaims(ctx context.Context, task string, pageSize int, pageToken string, now time.Time) (store.Page[*rallyv1.Claim], error) {
	r, err := store.ClaimRange(task, pageToken)
	if err != nil {
		return store.Page[*rallyv1.Claim]{}, err
	}
	s.mu.RLock()
	defer s.mu.RUnlock()
	return store.ReadPage(ctx, r, pageSize, s.scan, func(_ context.Context, keys []string) ([]*rallyv1.Claim, error) {
		b := s.boards[store.ID(task)]
		items := make([]*rallyv1.Claim, 0, len(keys))
		for _, k := range keys {
			if c := b.claims[store.KeyID(k)]; c != nil {
				items = append(items, claimView(c, now))
			}
		}
		return items, nil
	})
}
