// Package ratelimit keeps flooders from exhausting Rally: every call to a Rally method is
// counted against a budget of its caller (the organiser account whose token it used, else
// its client address) and refused with RESOURCE_EXHAUSTED, and a RetryInfo saying when to come back, once
// the budget is spent.
//
// Budgets follow GCRA, the generic cell rate algorithm: a limit of Rate calls per Period
// with a Burst lets Burst calls through at once, then one every Period/Rate. GCRA stores a
// single timestamp per budget (the theoretical arrival time of the next call), so it costs
// one small key in Redis and one map entry in memory, and it needs no background refill.
//
// Two Limiters implement it: Memory, in process, for the in-memory store and as a
// fallback; Redis (redis_rate), shared by every replica, for the Redis store. One
// conformance suite runs against both.
//
// # Keys
//
// A budget is kept under its rule and its caller:
//
//	<prefix>rl:<rule>:<mac>   STRING  redis_rate's GCRA state (the theoretical arrival time
//	                                  of the next call); expires when the budget has refilled
//
// <rule> is the rule's target (read, write, auth, a service or a method). <mac> is 32
// hex digits: HMAC-SHA256 of the caller's identity (an organiser's account, whichever
// token it used; else "addr:" and the client address, an IPv6 one by /64, for anonymous
// callers and holders of RSVP and claim tokens alike) under the deployment's secret
// (secret.ClientMAC), cut to 128 bits. Without the secret, which never reaches Redis, a
// dump reveals no address, not even by trying every IPv4 address. The in-process limiter
// (Memory) keys its map the same way, and so do the counts of concurrent watches and
// streams per caller (Interceptor.Caller) and of calls per address (guard.go). When the
// secret is rotated, budgets start afresh under the new key, once.
//
// Failed authentications have a budget of their own per client address (rule "auth"),
// counted before authentication (guard.go), and so do connections per address on both
// ports (LimitListener).
package ratelimit

import (
	"context"
	"errors"
	"fmt"
	"time"
)

// Limit is a GCRA budget: Rate calls per Period on average, and up to Burst at once. The
// zero Limit means no limit.
type Limit struct {
	Rate   int
	Period time.Duration
	Burst  int
}

// Unlimited reports whether the limit lets every call through.
func (l Limit) Unlimited() bool { return l.Rate == 0 }

// interval is GCRA's emission interval: the time one call uses up.
func (l Limit) interval() time.Duration { return l.Period / time.Duration(l.Rate) }

func (l Limit) String() string {
	if l.Unlimited() {
		return "off"
	}
	return fmt.Sprintf("%d/%s,burst=%d", l.Rate, periodString(l.Period), l.Burst)
}

// Result is the outcome of one call's check.
type Result struct {
	Allowed bool
	// RetryAfter is how long the caller must wait before the next call can pass, when
	// Allowed is false.
	RetryAfter time.Duration
}

// Limiter decides whether one more call fits in the budget stored under key.
type Limiter interface {
	Allow(ctx context.Context, key string, limit Limit) (Result, error)
}

// ErrUnavailable means the limiter could not decide (Redis is unreachable) and is
// configured to refuse calls rather than let them through unchecked.
var ErrUnavailable = errors.New("ratelimit: the rate limiter is unavailable")
