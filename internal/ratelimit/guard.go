package ratelimit

import (
	"context"
	"strings"
	"sync"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"

	"github.com/rallyhq/rally/internal/auth"
	"github.com/rallyhq/rally/internal/streamchain"
)

// Before authentication, a call is known only by its client address. BeforeAuthUnary and
// BeforeAuthStream run there, for every service on the port, and bound two things that
// the budgets of Unary and Stream cannot, since those run after authentication:
//
//   - Calls in progress per client address (MaxStreamsPerAddr). Each holds a goroutine and
//     its buffers; gRPC's own cap is per connection, and connections are many.
//   - Failed authentications per client address (the "auth" budget, Rules.FailedAuth). A
//     call that fails authentication never reaches the budgets of Unary and Stream, and
//     an RSVP or claim token is only found wrong by the handler: without this, every
//     guess would be free, and each would cost the store a lookup and the log a line.
//
// When an address has spent its auth budget, its calls that carry a token are refused
// with RESOURCE_EXHAUSTED before authentication, until the budget has room for one more
// failure. This replica remembers that in process (blocklist), so that a guesser's
// further tries cost neither Redis nor the store anything; other replicas learn it from
// the shared budget at their first failure from that address. Calls without a token are
// not held up: anonymous readers behind the guesser's NAT carry on.

// BeforeAuthUnary bounds unary calls before authentication; see above.
func (i *Interceptor) BeforeAuthUnary() grpc.UnaryServerInterceptor {
	return func(ctx context.Context, req any, _ *grpc.UnaryServerInfo, handler grpc.UnaryHandler) (any, error) {
		ctx, token, release, err := i.admit(ctx)
		if err != nil {
			return nil, err
		}
		defer release() // deferred: a handler's panic unwinds through here to the recovery
		resp, err := handler(ctx, req)
		if err = i.settle(ctx, token, err); err != nil {
			return nil, err
		}
		return resp, nil
	}
}

// BeforeAuthStream bounds streams before authentication; see above. A stream is one call
// in progress for as long as it lasts.
func (i *Interceptor) BeforeAuthStream() grpc.StreamServerInterceptor {
	return new(streamchain.Chain).Stage(i.BeforeAuthStreamStage()).StreamServerInterceptor()
}

// BeforeAuthStreamStage is BeforeAuthStream as a stage of a flat chain (streamchain).
func (i *Interceptor) BeforeAuthStreamStage() streamchain.Stage {
	return func(c *streamchain.Call) (func(error) error, error) {
		ctx, token, release, err := i.admit(c.Ctx)
		if err != nil {
			return nil, err
		}
		c.Ctx = ctx
		// The chain runs this after a handler's panic too (as a recovered error), so the
		// place is always given back.
		return func(err error) error {
			defer release()
			return i.settle(ctx, token, err)
		}, nil
	}
}

// admit lets a call in, or refuses it: over its address's cap of calls in progress, or
// carrying a token from an address blocked for failed authentications. release gives the
// call's place back.
func (i *Interceptor) admit(ctx context.Context) (_ context.Context, token tokenKind, release func(), _ error) {
	key := i.addrKey(ctx)
	ctx = context.WithValue(ctx, addrKeyCtx{}, key)
	release, ok := i.calls.acquire(key)
	if !ok {
		return nil, noToken, nil, status.Errorf(codes.ResourceExhausted, "at most %d calls at once per client address; wait for one to finish", i.calls.max)
	}
	token = presented(ctx)
	if token != noToken && !i.opts.Rules.FailedAuth().Unlimited() {
		if wait := i.blocked.wait(key); wait > 0 {
			release()
			return nil, noToken, nil, exhausted(ClassAuth, wait)
		}
	}
	return ctx, token, release, nil
}

// settle returns what a call that carried token and ended with err answers: err, unless
// the call failed authentication and so spent the last of its address's auth budget.
func (i *Interceptor) settle(ctx context.Context, token tokenKind, err error) error {
	if token == noToken || !authFailed(token, err) {
		return err
	}
	return i.failedAuth(ctx, i.addrKey(ctx), err)
}

// failedAuth counts a failed authentication against the address's auth budget. The call
// that finds the budget spent is refused with RESOURCE_EXHAUSTED (and a RetryInfo)
// instead of its UNAUTHENTICATED, and the address is remembered as blocked until the
// budget has room again.
func (i *Interceptor) failedAuth(ctx context.Context, key string, err error) error {
	limit := i.opts.Rules.FailedAuth()
	if limit.Unlimited() {
		return err
	}
	// The failure is owed even when the caller has gone (a stream it cancelled).
	res, lerr := i.opts.Limiter.Allow(context.WithoutCancel(ctx), ClassAuth+":"+key, limit)
	if lerr != nil || res.Allowed {
		// A limiter that cannot decide (see Fallback) leaves the refusal as it was.
		return err
	}
	i.blocked.block(key, res.RetryAfter)
	return exhausted(ClassAuth, res.RetryAfter)
}

// tokenKind is the kind of bearer token a call carries, as far as can be told before
// authentication.
type tokenKind int

const (
	noToken      tokenKind = iota
	accountToken           // the admin's or an organiser's, or garbage
	holderToken            // an RSVP's manage token or a claim token, checked by the handler
)

// presented tells what kind of token the call carries, from its authorization metadata.
func presented(ctx context.Context) tokenKind {
	values := metadata.ValueFromIncomingContext(ctx, "authorization") // not a copy of all of it
	if len(values) == 0 {
		return noToken
	}
	_, token, _ := strings.Cut(values[0], " ")
	token = strings.TrimSpace(token)
	if strings.HasPrefix(token, auth.RSVPPrefix) || strings.HasPrefix(token, auth.ClaimPrefix) {
		return holderToken
	}
	return accountToken
}

// authFailed reports whether a call that carried a token failed to authenticate:
// UNAUTHENTICATED; or, for an RSVP or claim token, NOT_FOUND, which is what the handler
// answers when the token matches no RSVP or claim of that name (so that nobody learns
// whether it exists).
func authFailed(token tokenKind, err error) bool {
	switch status.Code(err) {
	case codes.Unauthenticated:
		return true
	case codes.NotFound:
		return token == holderToken
	}
	return false
}

// maxBlocked bounds the addresses a replica remembers as blocked. Beyond it (a guesser
// with tens of thousands of addresses), further addresses are not remembered: their
// failures are still counted and refused, only not spared the lookup.
const maxBlocked = 1 << 16

// blocklist remembers until when each blocked address's token-bearing calls are refused.
type blocklist struct {
	now func() time.Time

	mu        sync.Mutex
	until     map[string]time.Time
	lastSweep time.Time
}

func newBlocklist(now func() time.Time) *blocklist {
	return &blocklist{now: now, until: map[string]time.Time{}, lastSweep: now()}
}

// wait returns how long the address under key remains blocked; 0 if it is not.
func (b *blocklist) wait(key string) time.Duration {
	b.mu.Lock()
	defer b.mu.Unlock()
	until, ok := b.until[key]
	if !ok {
		return 0
	}
	d := until.Sub(b.now())
	if d <= 0 {
		delete(b.until, key)
		return 0
	}
	return d
}

// block blocks the address under key for d.
func (b *blocklist) block(key string, d time.Duration) {
	now := b.now()
	b.mu.Lock()
	defer b.mu.Unlock()
	if now.Sub(b.lastSweep) >= sweepEvery {
		b.lastSweep = now
		for k, until := range b.until {
			if !until.After(now) {
				delete(b.until, k)
			}
		}
	}
	if _, ok := b.until[key]; ok || len(b.until) < maxBlocked {
		b.until[key] = now.Add(d)
	}
}

// counter counts what each key holds at once (calls of an address, streams of a
// caller), up to max.
type counter struct {
	max int // 0: no cap

	mu sync.Mutex
	n  map[string]int
}

func newCounter(max int) *counter { return &counter{max: max, n: map[string]int{}} }

// acquire takes one place for key, and returns the function that gives it back; ok is
// false, and nothing is taken, when key holds max already.
func (c *counter) acquire(key string) (release func(), ok bool) {
	if c.max <= 0 {
		return func() {}, true
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.n[key] >= c.max {
		return nil, false
	}
	c.n[key]++
	var once sync.Once
	return func() {
		once.Do(func() {
			c.mu.Lock()
			defer c.mu.Unlock()
			if c.n[key]--; c.n[key] <= 0 {
				delete(c.n, key)
			}
		})
	}, true
}

// serviceOf is the service of a full method name, /pkg.Service/Method.
func serviceOf(fullMethod string) string {
	service, _, _ := strings.Cut(strings.TrimPrefix(fullMethod, "/"), "/")
	return service
}
