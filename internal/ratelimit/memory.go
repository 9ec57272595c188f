package ratelimit

import (
	"context"
	"sync"
	"time"
)

// sweepEvery is how often Memory forgets budgets that have refilled completely. Such a
// budget is the same as one never used, so forgetting it changes no decision; it only
// keeps a stream of one-off callers from growing the map without bound.
const sweepEvery = time.Minute

// Memory is GCRA in process: budgets are shared by the calls this process serves only.
// It is the limiter of the in-memory store and the fallback when Redis is unreachable.
type Memory struct {
	now func() time.Time

	mu        sync.Mutex
	tat       map[string]time.Time // key -> theoretical arrival time of the next call
	lastSweep time.Time
}

// NewMemory returns an empty in-process limiter. now is the clock (nil: time.Now); tests
// pass a fake one.
func NewMemory(now func() time.Time) *Memory {
	if now == nil {
		now = time.Now
	}
	return &Memory{now: now, tat: make(map[string]time.Time), lastSweep: now()}
}

// Allow takes one call from the budget under key. The arithmetic is redis_rate's, so both
// limiters make the same decisions.
func (m *Memory) Allow(_ context.Context, key string, limit Limit) (Result, error) {
	if limit.Unlimited() {
		return Result{Allowed: true}, nil
	}
	now := m.now()
	m.mu.Lock()
	defer m.mu.Unlock()
	m.sweep(now)

	tat := m.tat[key]
	if tat.Before(now) {
		tat = now // an idle budget is full, however long it has been idle
	}
	next := tat.Add(limit.interval())
	// The call fits if, after it, the budget would still be no more than Burst intervals
	// ahead of now.
	allowAt := next.Add(-time.Duration(limit.Burst) * limit.interval())
	if now.Before(allowAt) {
		return Result{RetryAfter: allowAt.Sub(now)}, nil
	}
	m.tat[key] = next
	return Result{Allowed: true}, nil
}

// sweep drops the budgets that have refilled; m.mu is held.
func (m *Memory) sweep(now time.Time) {
	if now.Sub(m.lastSweep) < sweepEvery {
		return
	}
	m.lastSweep = now
	for k, tat := range m.tat {
		if !tat.After(now) {
			delete(m.tat, k)
		}
	}
}

// size is the number of budgets held, for tests.
func (m *Memory) size() int {
	m.mu.Lock()
	defer m.mu.Unlock()
	return len(m.tat)
}
