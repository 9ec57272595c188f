package ratelimit

import (
	"context"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"
)

// Policy says what happens to a call when the shared limiter (Redis) cannot decide.
type Policy string

const (
	// PolicyLocal counts the call in this process's own budgets instead: limits still
	// hold, per replica rather than across them. The default: a Redis outage neither
	// lets a flood through nor refuses every honest caller.
	PolicyLocal Policy = "local"
	// PolicyOpen lets the call through unchecked.
	PolicyOpen Policy = "open"
	// PolicyClosed refuses the call with UNAVAILABLE.
	PolicyClosed Policy = "closed"
)

// ParsePolicy checks a policy name from the configuration.
func ParsePolicy(s string) (Policy, error) {
	switch p := Policy(s); p {
	case PolicyLocal, PolicyOpen, PolicyClosed:
		return p, nil
	}
	return "", fmt.Errorf("want local, open or closed, got %q", s)
}

// warnEvery spaces out the warnings about a failing shared limiter: one per interval is
// enough to be noticed, and a flood of calls must not become a flood of log lines.
const warnEvery = 10 * time.Second

// coolDown is how long Fallback stops asking a shared limiter that just failed: while Redis
// is down each check would otherwise wait for its own timeout, slowing every call.
const coolDown = time.Second

// Fallback asks the shared limiter and applies its Policy when that fails.
type Fallback struct {
	shared   Limiter
	local    Limiter
	policy   Policy
	log      *slog.Logger
	coolDown time.Duration

	failures  atomic.Uint64
	downUntil atomic.Int64 // unix nanoseconds until which shared is not asked
	warnMu    sync.Mutex
	lastWarn  time.Time
	warned    uint64 // failures counted at the last warning
}

// NewFallback returns a limiter that asks shared and, when it fails, applies policy
// (with local as the stand-in for PolicyLocal), logging a warning to log.
func NewFallback(shared, local Limiter, policy Policy, log *slog.Logger) *Fallback {
	return &Fallback{shared: shared, local: local, policy: policy, log: log, coolDown: coolDown}
}

// Failures is how many checks the shared limiter could not decide since start-up (failed,
// or skipped while it was cooling down after a failure).
func (f *Fallback) Failures() uint64 { return f.failures.Load() }

// Allow asks the shared limiter, and applies the policy when it cannot answer.
func (f *Fallback) Allow(ctx context.Context, key string, limit Limit) (Result, error) {
	if time.Now().UnixNano() >= f.downUntil.Load() {
		res, err := f.shared.Allow(ctx, key, limit)
		if err == nil {
			return res, nil
		}
		if ctx.Err() != nil {
			return Result{}, ctx.Err() // the caller gave up; Redis is not to blame
		}
		f.downUntil.Store(time.Now().Add(f.coolDown).UnixNano())
		f.warn(ctx, err)
	}
	f.failures.Add(1)
	switch f.policy {
	case PolicyOpen:
		return Result{Allowed: true}, nil
	case PolicyClosed:
		return Result{}, ErrUnavailable
	default:
		return f.local.Allow(ctx, key, limit)
	}
}

// warn logs a failure at most once per warnEvery. The error names Redis's address at
// most, never the caller's key.
func (f *Fallback) warn(ctx context.Context, err error) {
	n := f.failures.Load() + 1
	f.warnMu.Lock()
	defer f.warnMu.Unlock()
	if now := time.Now(); now.Sub(f.lastWarn) >= warnEvery {
		f.log.WarnContext(ctx, "rate limiter: Redis is unreachable; applying the failure policy",
			"policy", string(f.policy), "failures", n, "since_last_warning", n-f.warned, "err", err)
		f.lastWarn, f.warned = now, n
	}
}
