package ratelimit

import (
	"context"
	"fmt"
	"testing"
	"time"
)

// GCRA's arithmetic, step by step on a fake clock: what the conformance suite cannot check
// in real time without being at the mercy of the machine's load.
func TestMemoryArithmetic(t *testing.T) {
	ctx := context.Background()
	clock := newFakeClock()
	m := NewMemory(clock.Now)
	limit := Limit{Rate: 10, Period: time.Second, Burst: 3} // one call per 100ms
	step := func(wantAllowed bool, wantRetry time.Duration) {
		t.Helper()
		res, _ := m.Allow(ctx, "k", limit)
		if res.Allowed != wantAllowed || res.RetryAfter != wantRetry {
			t.Fatalf("got %+v, want allowed=%v retry=%v", res, wantAllowed, wantRetry)
		}
	}
	step(true, 0)
	step(true, 0)
	step(true, 0)
	step(false, 100*time.Millisecond)
	clock.Advance(40 * time.Millisecond)
	step(false, 60*time.Millisecond) // partly refilled: not yet a whole call
	clock.Advance(60 * time.Millisecond)
	step(true, 0)
	step(false, 100*time.Millisecond)
	// Idle for long: the budget is full again, and no fuller than the burst.
	clock.Advance(time.Hour)
	step(true, 0)
	step(true, 0)
	step(true, 0)
	step(false, 100*time.Millisecond)
}

func TestMemoryForgetsRefilledBudgets(t *testing.T) {
	ctx := context.Background()
	clock := newFakeClock()
	m := NewMemory(clock.Now)
	limit := Limit{Rate: 1, Period: time.Second, Burst: 1}
	for i := range 1000 {
		m.Allow(ctx, fmt.Sprint("caller-", i), limit)
	}
	if m.size() != 1000 {
		t.Fatalf("size %d, want 1000", m.size())
	}
	clock.Advance(sweepEvery)
	m.Allow(ctx, "late", limit)
	if m.size() != 1 {
		t.Fatalf("size %d after the sweep, want 1: refilled budgets are kept", m.size())
	}
}
