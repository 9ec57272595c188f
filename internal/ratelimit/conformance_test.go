package ratelimit

import (
	"context"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/rallyhq/rally/internal/redistest"
)

// The conformance suite: every Limiter makes the same decisions. It runs against Memory
// with a fake clock, and against Redis (a private redis-server) in real time; the checks
// are written so that a slow, loaded machine cannot make them fail: a budget that must
// stay empty has a refill period of an hour, and a wait for a refill waits at least as
// long as the limiter said.

// harness is one limiter under test and the way to let time pass for it.
type harness struct {
	limiter Limiter
	// wait lets d pass. The fake clock of Memory moves at once; Redis reads its own
	// clock, so the test sleeps.
	wait func(d time.Duration)
}

func TestMemoryConformance(t *testing.T) {
	runConformance(t, func(t *testing.T) harness {
		clock := newFakeClock()
		return harness{NewMemory(clock.Now), clock.Advance}
	})
}

func TestRedisConformance(t *testing.T) {
	runConformance(t, func(t *testing.T) harness {
		return harness{NewRedis(redistest.Start(t).Client(), "test:"), time.Sleep}
	})
}

func runConformance(t *testing.T, newHarness func(t *testing.T) harness) {
	ctx := context.Background()
	hourly := Limit{Rate: 1, Period: time.Hour, Burst: 3}

	allow := func(t *testing.T, l Limiter, key string, limit Limit) Result {
		t.Helper()
		res, err := l.Allow(ctx, key, limit)
		if err != nil {
			t.Fatalf("Allow(%s): %v", key, err)
		}
		return res
	}

	t.Run("burst then refuse", func(t *testing.T) {
		t.Parallel()
		h := newHarness(t)
		for i := range hourly.Burst {
			if res := allow(t, h.limiter, "k", hourly); !res.Allowed {
				t.Fatalf("call %d of a burst of %d refused", i+1, hourly.Burst)
			}
		}
		res := allow(t, h.limiter, "k", hourly)
		if res.Allowed {
			t.Fatal("the call after the burst was allowed")
		}
		// The next call fits one emission interval (an hour) after the first.
		if res.RetryAfter <= 59*time.Minute || res.RetryAfter > time.Hour {
			t.Errorf("RetryAfter = %v, want just under 1h", res.RetryAfter)
		}
	})

	t.Run("keys are independent", func(t *testing.T) {
		t.Parallel()
		h := newHarness(t)
		for range hourly.Burst + 1 {
			allow(t, h.limiter, "a", hourly)
		}
		if res := allow(t, h.limiter, "b", hourly); !res.Allowed {
			t.Fatal("another key's spent budget refused this one")
		}
	})

	t.Run("refill", func(t *testing.T) {
		t.Parallel()
		h := newHarness(t)
		fast := Limit{Rate: 1, Period: 200 * time.Millisecond, Burst: 2}
		var refused Result
		for i := 0; ; i++ {
			if refused = allow(t, h.limiter, "k", fast); !refused.Allowed {
				break
			}
			if i > 20 { // only a machine frozen for seconds lets this many through
				t.Fatal("never refused")
			}
		}
		if refused.RetryAfter <= 0 || refused.RetryAfter > fast.interval() {
			t.Fatalf("RetryAfter = %v, want within one interval (%v)", refused.RetryAfter, fast.interval())
		}
		h.wait(refused.RetryAfter + 5*time.Millisecond)
		if res := allow(t, h.limiter, "k", fast); !res.Allowed {
			t.Fatalf("refused after waiting RetryAfter: %+v", res)
		}
	})

	t.Run("off", func(t *testing.T) {
		t.Parallel()
		h := newHarness(t)
		for range 100 {
			if res := allow(t, h.limiter, "k", Limit{}); !res.Allowed {
				t.Fatal("an unlimited call was refused")
			}
		}
	})

	t.Run("concurrent calls are counted exactly", func(t *testing.T) {
		t.Parallel()
		h := newHarness(t)
		limit := Limit{Rate: 1, Period: time.Hour, Burst: 10}
		var allowed atomic.Int32
		var wg sync.WaitGroup
		for g := range 10 {
			wg.Go(func() {
				for range 5 {
					res, err := h.limiter.Allow(ctx, "shared", limit)
					if err != nil {
						t.Errorf("goroutine %d: %v", g, err)
						return
					}
					if res.Allowed {
						allowed.Add(1)
					}
				}
			})
		}
		wg.Wait()
		if got := allowed.Load(); got != int32(limit.Burst) {
			t.Fatalf("%d of 50 concurrent calls allowed, want exactly the burst of %d", got, limit.Burst)
		}
	})
}

// fakeClock is a clock that moves only when told to.
type fakeClock struct {
	mu  sync.Mutex
	now time.Time
}

func newFakeClock() *fakeClock { return &fakeClock{now: time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)} }

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *fakeClock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
}
