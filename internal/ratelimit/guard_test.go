package ratelimit

import (
	"context"
	"strconv"
	"sync/atomic"
	"testing"
	"time"

	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"

	"github.com/rallyhq/rally/internal/auth"
	"github.com/rallyhq/rally/internal/clientip"
)

// countingLimiter counts the checks that reach it.
type countingLimiter struct {
	Limiter
	n atomic.Int64
}

func (c *countingLimiter) Allow(ctx context.Context, key string, l Limit) (Result, error) {
	c.n.Add(1)
	return c.Limiter.Allow(ctx, key, l)
}

// guarded is a server's chain in miniature: BeforeAuthUnary, then an authenticator that
// knows one organiser token ("rly_org_good") and accepts any RSVP token for the handler
// to check, then Unary, then the handler, which counts its calls and refuses RSVP
// tokens as the server does (NOT_FOUND, so that nobody learns whether an RSVP exists).
type guarded struct {
	ic       *Interceptor
	limiter  *countingLimiter
	handled  atomic.Int64
	inFlight chan struct{} // when set, the handler waits for it to close
}

func newGuarded(t *testing.T, rules string, maxStreams int) *guarded {
	t.Helper()
	r, err := ParseRules(rules)
	if err != nil {
		t.Fatal(err)
	}
	g := &guarded{limiter: &countingLimiter{Limiter: NewMemory(nil)}}
	g.ic = NewInterceptor(Options{Limiter: g.limiter, Rules: r, Resolver: clientip.NewResolver(nil), MaxStreamsPerAddr: maxStreams})
	return g
}

func (g *guarded) call(from, token, method string) error {
	ctx := call(from, auth.Principal{})
	if token != "" {
		ctx = metadata.NewIncomingContext(ctx, metadata.Pairs("authorization", "Bearer "+token))
	}
	authn := func(ctx context.Context, req any, info *grpc.UnaryServerInfo, handler grpc.UnaryHandler) (any, error) {
		switch {
		case token == "":
		case token == "rly_org_good":
			ctx = auth.WithPrincipal(ctx, auth.Principal{Kind: auth.Organiser, Organiser: "organisers/o", Token: "organisers/o/apiTokens/t"})
		case len(token) > len(auth.RSVPPrefix) && token[:len(auth.RSVPPrefix)] == auth.RSVPPrefix:
			ctx = auth.WithPrincipal(ctx, auth.Principal{Kind: auth.RSVPHolder, TokenHash: []byte("0123456789abcdef0123456789abcdef")})
		default:
			return nil, status.Error(codes.Unauthenticated, "the bearer token is not valid")
		}
		return handler(ctx, req)
	}
	handler := func(ctx context.Context, _ any) (any, error) {
		g.handled.Add(1)
		if g.inFlight != nil {
			<-g.inFlight
		}
		if auth.FromContext(ctx).Kind == auth.RSVPHolder {
			return nil, status.Error(codes.NotFound, "no such RSVP")
		}
		return "ok", nil
	}
	info := &grpc.UnaryServerInfo{FullMethod: method}
	_, err := g.ic.BeforeAuthUnary()(ctx, nil, info, func(ctx context.Context, req any) (any, error) {
		return authn(ctx, req, info, func(ctx context.Context, req any) (any, error) {
			return g.ic.Unary()(ctx, req, info, handler)
		})
	})
	return err
}

func retryDelay(err error) time.Duration {
	for _, d := range status.Convert(err).Details() {
		if r, ok := d.(*errdetails.RetryInfo); ok {
			return r.GetRetryDelay().AsDuration()
		}
	}
	return 0
}

// Failed authentications spend the address's auth budget; once it is spent, calls with a
// token are refused before authentication, without asking the limiter again, while calls
// without one, and other addresses, carry on.
func TestFailedAuthBudget(t *testing.T) {
	g := newGuarded(t, "auth=1/h,burst=3; read=off", 0)
	const guesser = "203.0.113.1:1000"
	for i := range 3 {
		if err := g.call(guesser, "rly_org_guess", getEvent); status.Code(err) != codes.Unauthenticated {
			t.Fatalf("guess %d: %v, want UNAUTHENTICATED", i+1, err)
		}
	}
	err := g.call(guesser, "rly_org_guess", getEvent)
	if status.Code(err) != codes.ResourceExhausted || retryDelay(err) < 59*time.Minute {
		t.Fatalf("the guess over the budget: %v (retry %v), want RESOURCE_EXHAUSTED with a RetryInfo of about an hour", err, retryDelay(err))
	}
	checks := g.limiter.n.Load()
	for _, token := range []string{"rly_org_guess", "rly_rsvp_guess", "rly_org_good", "rly_admin_whatever"} {
		if err := g.call(guesser, token, getEvent); status.Code(err) != codes.ResourceExhausted {
			t.Errorf("blocked address, token %s: %v, want RESOURCE_EXHAUSTED", token, err)
		}
	}
	if n := g.limiter.n.Load() - checks; n != 0 {
		t.Errorf("a blocked address's calls cost %d limiter checks, want none", n)
	}
	if err := g.call(guesser, "", getEvent); err != nil {
		t.Errorf("a call without a token from a blocked address: %v", err)
	}
	if err := g.call("203.0.113.2:1000", "rly_org_good", getEvent); err != nil {
		t.Errorf("another address: %v", err)
	}
	if err := g.call("203.0.113.2:1000", "rly_org_guess", getEvent); status.Code(err) != codes.Unauthenticated {
		t.Errorf("another address's first guess: %v, want UNAUTHENTICATED", err)
	}
}

// An RSVP token that matches nothing is a failed authentication too (the handler answers
// NOT_FOUND), and RSVP holders share their address's budgets: made-up tokens get no fresh
// budget and create no key of their own.
func TestFailedAuthHolders(t *testing.T) {
	g := newGuarded(t, "auth=1/h,burst=2; read=1/h,burst=100", 0)
	for i := range 2 {
		if err := g.call("203.0.113.1:1000", "rly_rsvp_guess"+string(rune('a'+i)), getEvent); status.Code(err) != codes.NotFound {
			t.Fatalf("guess %d: %v, want NOT_FOUND", i+1, err)
		}
	}
	if err := g.call("203.0.113.1:1000", "rly_rsvp_guessc", getEvent); status.Code(err) != codes.ResourceExhausted {
		t.Fatalf("the guess over the budget: %v, want RESOURCE_EXHAUSTED", err)
	}
	if n := g.handled.Load(); n != 3 {
		t.Errorf("handled %d calls, want 3", n)
	}
	if err := g.call("203.0.113.1:1000", "rly_rsvp_guessd", getEvent); status.Code(err) != codes.ResourceExhausted || g.handled.Load() != 3 {
		t.Errorf("blocked: %v after %d handled, want RESOURCE_EXHAUSTED before the handler", err, g.handled.Load())
	}
	// One budget per rule and address: the read budget and the auth budget, whatever
	// the tokens.
	mem := g.limiter.Limiter.(*Memory)
	if n := mem.size(); n != 2 {
		t.Errorf("%d budgets held, want 2 (read and auth of one address)", n)
	}
	// An organiser's NOT_FOUND is an answer, not a failed authentication.
	g2 := newGuarded(t, "auth=1/h,burst=1; read=off", 0)
	for range 3 {
		if err := g2.call("203.0.113.1:1000", "rly_org_good", getEvent); err != nil {
			t.Fatal(err)
		}
	}
}

// With auth=off, failures are neither counted nor blocked.
func TestFailedAuthOff(t *testing.T) {
	g := newGuarded(t, "auth=off; read=off", 0)
	for i := range 20 {
		if err := g.call("203.0.113.1:1000", "rly_org_guess", getEvent); status.Code(err) != codes.Unauthenticated {
			t.Fatalf("guess %d: %v, want UNAUTHENTICATED", i+1, err)
		}
	}
}

// Calls in progress are capped per address, before authentication, and a place is given
// back when a call ends.
func TestCallsPerAddress(t *testing.T) {
	g := newGuarded(t, "read=off", 2)
	g.inFlight = make(chan struct{})
	errs := make(chan error, 3)
	for range 2 {
		go func() { errs <- g.call("203.0.113.1:1000", "", getEvent) }()
	}
	for g.handled.Load() < 2 {
		time.Sleep(time.Millisecond)
	}
	if err := g.call("203.0.113.1:2000", "", getEvent); status.Code(err) != codes.ResourceExhausted {
		t.Errorf("a third call from the address: %v, want RESOURCE_EXHAUSTED", err)
	}
	// Another address is let in (its call reaches the handler, and waits there too).
	go func() { errs <- g.call("[2001:db8::1]:1000", "", getEvent) }()
	for deadline := time.Now().Add(5 * time.Second); g.handled.Load() < 3; time.Sleep(time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("a call from another address did not reach the handler")
		}
	}
	close(g.inFlight)
	for range 3 {
		if err := <-errs; err != nil {
			t.Error(err)
		}
	}
	g.inFlight = nil
	if err := g.call("203.0.113.1:1000", "", getEvent); err != nil {
		t.Errorf("after the calls ended: %v", err)
	}
}

// fakeStream is a ServerStream with a context, for interceptors.
type fakeStream struct {
	grpc.ServerStream
	ctx context.Context
}

func (s fakeStream) Context() context.Context { return s.ctx }

// Streams of the standard services (health Watch, reflection) are capped per caller like
// watches; Rally's own streams are capped by their handlers, not here.
func TestStandardStreamsPerCaller(t *testing.T) {
	r, _ := ParseRules("read=off")
	ic := NewInterceptor(Options{Limiter: NewMemory(nil), Rules: r, MaxWatches: 2})
	release := make(chan struct{})
	open := func(method string) chan error {
		done := make(chan error, 1)
		started := make(chan struct{})
		go func() {
			done <- ic.Stream()(nil, fakeStream{ctx: call("203.0.113.1:1000", auth.Principal{})}, &grpc.StreamServerInfo{FullMethod: method, IsServerStream: true},
				func(any, grpc.ServerStream) error { close(started); <-release; return nil })
		}()
		select {
		case <-started:
		case err := <-done:
			done <- err
		}
		return done
	}
	a, b := open("/grpc.health.v1.Health/Watch"), open("/grpc.reflection.v1.ServerReflection/ServerReflectionInfo")
	over := open("/grpc.health.v1.Health/Watch")
	if err := <-over; status.Code(err) != codes.ResourceExhausted {
		t.Errorf("a third standard stream: %v, want RESOURCE_EXHAUSTED", err)
	}
	rally := open("/rally.v1.EventService/WatchEvent")
	close(release)
	for _, ch := range []chan error{a, b, rally} {
		if err := <-ch; err != nil {
			t.Error(err)
		}
	}
}

func TestBlocklist(t *testing.T) {
	now := time.Unix(1000, 0)
	b := newBlocklist(func() time.Time { return now })
	b.block("a", time.Minute)
	if d := b.wait("a"); d != time.Minute {
		t.Errorf("wait = %v, want 1m", d)
	}
	if d := b.wait("b"); d != 0 {
		t.Errorf("an address never blocked waits %v", d)
	}
	now = now.Add(time.Minute)
	if d := b.wait("a"); d != 0 {
		t.Errorf("after the block: wait %v", d)
	}
	// Expired blocks are swept; the list never holds more than maxBlocked.
	for i := range maxBlocked + 10 {
		b.block(strconv.Itoa(i), time.Second)
	}
	if n := len(b.until); n != maxBlocked {
		t.Errorf("%d blocked, want the bound %d", n, maxBlocked)
	}
	now = now.Add(2 * sweepEvery)
	b.block("late", time.Second)
	if n := len(b.until); n != 1 {
		t.Errorf("%d blocked after the sweep, want 1", n)
	}
}

// A handler's panic unwinds through the interceptor to the server's recovery: the call's
// place is given back all the same.
func TestCallsPerAddressPanic(t *testing.T) {
	r, _ := ParseRules("read=off")
	ic := NewInterceptor(Options{Limiter: NewMemory(nil), Rules: r, MaxStreamsPerAddr: 1})
	for range 3 {
		func() {
			defer func() { _ = recover() }()
			_, _ = ic.BeforeAuthUnary()(call("203.0.113.1:1000", auth.Principal{}), nil, &grpc.UnaryServerInfo{FullMethod: getEvent},
				func(context.Context, any) (any, error) { panic("handler bug") })
		}()
	}
	if n := len(ic.calls.n); n != 0 {
		t.Errorf("%d addresses still hold places after their calls panicked", n)
	}
}
