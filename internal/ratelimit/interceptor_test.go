package ratelimit

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"net"
	"net/netip"
	"strings"
	"testing"
	"time"

	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/peer"
	"google.golang.org/grpc/status"

	"github.com/rallyhq/rally/internal/auth"
	"github.com/rallyhq/rally/internal/clientip"
	"github.com/rallyhq/rally/internal/secret"
)

const (
	getEvent    = "/rally.v1.EventService/GetEvent"
	createEvent = "/rally.v1.EventService/CreateEvent"
	gatewayKey  = "the-gateway-key"
)

// call is one call's context: who it comes from, over which connection, with which
// metadata.
func call(from string, principal auth.Principal, md ...string) context.Context {
	ctx := peer.NewContext(context.Background(), &peer.Peer{Addr: net.TCPAddrFromAddrPort(netip.MustParseAddrPort(from))})
	ctx = metadata.NewIncomingContext(ctx, metadata.Pairs(md...))
	return auth.WithPrincipal(ctx, principal)
}

func newTestInterceptor(t *testing.T, rules string, trusted string) grpc.UnaryServerInterceptor {
	t.Helper()
	r, err := ParseRules(rules)
	if err != nil {
		t.Fatal(err)
	}
	prefixes, err := clientip.ParsePrefixes(trusted)
	if err != nil {
		t.Fatal(err)
	}
	return NewInterceptor(Options{
		Limiter: NewMemory(nil), Rules: r, Resolver: clientip.NewResolver(prefixes), GatewayKey: gatewayKey,
	}).Unary()
}

// budget counts how many calls in ctx pass before the first refusal (at most 10).
func budget(t *testing.T, ic grpc.UnaryServerInterceptor, method string, ctx context.Context) int {
	t.Helper()
	handler := func(context.Context, any) (any, error) { return "ok", nil }
	for n := range 10 {
		if _, err := ic(ctx, nil, &grpc.UnaryServerInfo{FullMethod: method}, handler); err != nil {
			if status.Code(err) != codes.ResourceExhausted {
				t.Fatalf("call %d: %v, want RESOURCE_EXHAUSTED", n+1, err)
			}
			return n
		}
	}
	return 10
}

func TestInterceptorCallers(t *testing.T) {
	anon := auth.Principal{Kind: auth.Anonymous}
	org := func(token string) auth.Principal {
		return auth.Principal{Kind: auth.Organiser, Organiser: "organisers/o", Token: token}
	}
	ic := newTestInterceptor(t, "read=1/h,burst=3; write=1/h,burst=2", "10.0.0.0/8")

	if n := budget(t, ic, getEvent, call("203.0.113.1:1000", anon)); n != 3 {
		t.Fatalf("anonymous reads: %d passed, want the burst of 3", n)
	}
	// The same address on another connection, or claiming another address: same budget.
	if n := budget(t, ic, getEvent, call("203.0.113.1:2000", anon, "x-forwarded-for", "198.51.100.9")); n != 0 {
		t.Errorf("a spoofed x-forwarded-for from an untrusted peer bought %d more calls", n)
	}
	// Writes are another budget; another address is another caller.
	if n := budget(t, ic, createEvent, call("203.0.113.1:1000", anon)); n != 2 {
		t.Errorf("writes after spent reads: %d passed, want 2", n)
	}
	if n := budget(t, ic, getEvent, call("203.0.113.2:1000", anon)); n != 3 {
		t.Errorf("another address: %d passed, want 3", n)
	}
	// IPv6 callers are counted by /64.
	budget(t, ic, getEvent, call("[2001:db8:1:2::1]:1000", anon))
	if n := budget(t, ic, getEvent, call("[2001:db8:1:2::ffff]:1000", anon)); n != 0 {
		t.Errorf("another address in the same /64 bought %d more calls", n)
	}
	// Behind a trusted proxy, the forwarded address is the caller.
	if n := budget(t, ic, getEvent, call("10.1.1.1:1000", anon, "x-forwarded-for", "198.51.100.1")); n != 3 {
		t.Errorf("first client behind a trusted proxy: %d passed, want 3", n)
	}
	if n := budget(t, ic, getEvent, call("10.1.1.1:1000", anon, "x-forwarded-for", "198.51.100.2")); n != 3 {
		t.Errorf("second client behind a trusted proxy: %d passed, want 3", n)
	}
	// The gateway, on loopback with its key, forwards the HTTP client's address.
	if n := budget(t, ic, getEvent, call("127.0.0.1:1000", anon, "x-forwarded-for", "198.51.100.3", clientip.GatewayKeyHeader, gatewayKey)); n != 3 {
		t.Errorf("first REST client: %d passed, want 3", n)
	}
	if n := budget(t, ic, getEvent, call("127.0.0.1:1000", anon, "x-forwarded-for", "198.51.100.4", clientip.GatewayKeyHeader, gatewayKey)); n != 3 {
		t.Errorf("second REST client: %d passed, want 3", n)
	}
	// Without the key, a local process is one caller, whatever it forwards.
	budget(t, ic, getEvent, call("127.0.0.1:1000", anon, "x-forwarded-for", "198.51.100.5", clientip.GatewayKeyHeader, "guess"))
	if n := budget(t, ic, getEvent, call("127.0.0.1:1000", anon, "x-forwarded-for", "198.51.100.6")); n != 0 {
		t.Errorf("a local process without the gateway key bought %d more calls by forwarding", n)
	}
	// Organisers are counted by account, whichever token they use and wherever they
	// come from: minting tokens buys no budget. The admin is not counted.
	if n := budget(t, ic, createEvent, call("203.0.113.1:1000", org("organisers/o/apiTokens/a"))); n != 2 {
		t.Errorf("token a: %d passed, want 2", n)
	}
	if n := budget(t, ic, createEvent, call("203.0.113.9:1000", org("organisers/o/apiTokens/b"))); n != 0 {
		t.Errorf("another token of the same organiser: %d more passed, want 0", n)
	}
	other := auth.Principal{Kind: auth.Organiser, Organiser: "organisers/p", Token: "organisers/p/apiTokens/a"}
	if n := budget(t, ic, createEvent, call("203.0.113.1:1000", other)); n != 2 {
		t.Errorf("another organiser: %d passed, want 2", n)
	}
	if n := budget(t, ic, createEvent, call("203.0.113.1:1000", auth.Principal{Kind: auth.Admin})); n != 10 {
		t.Errorf("admin: refused after %d", n)
	}
	// RSVP and claim tokens are checked by the handler, after the limiter: their holders
	// are counted by address, so that made-up tokens buy nothing.
	rsvp := auth.Principal{Kind: auth.RSVPHolder, TokenHash: bytes.Repeat([]byte{1}, 32)}
	claim := auth.Principal{Kind: auth.ClaimHolder, TokenHash: bytes.Repeat([]byte{2}, 32)}
	if n := budget(t, ic, getEvent, call("203.0.113.3:1000", rsvp)); n != 3 {
		t.Errorf("RSVP holder: %d passed, want 3", n)
	}
	if n := budget(t, ic, getEvent, call("203.0.113.3:1000", claim)); n != 0 {
		t.Errorf("a claim token from the same address: %d more passed, want 0", n)
	}
	if n := budget(t, ic, getEvent, call("203.0.113.3:1000", anon)); n != 0 {
		t.Errorf("anonymous from the same address: %d more passed, want 0", n)
	}
	// Health checks and reflection are reads like any other.
	if n := budget(t, ic, "/grpc.health.v1.Health/Check", call("203.0.113.4:1000", anon)); n != 3 {
		t.Errorf("health: %d passed, want the read burst of 3", n)
	}
}

func TestInterceptorRefusal(t *testing.T) {
	ic := newTestInterceptor(t, "read=1/m,burst=1", "")
	ctx := call("203.0.113.1:1000", auth.Principal{})
	info := &grpc.UnaryServerInfo{FullMethod: getEvent}
	handler := func(context.Context, any) (any, error) { return "ok", nil }
	if _, err := ic(ctx, nil, info, handler); err != nil {
		t.Fatal(err)
	}
	_, err := ic(ctx, nil, info, handler)
	st := status.Convert(err)
	if st.Code() != codes.ResourceExhausted {
		t.Fatalf("got %v, want RESOURCE_EXHAUSTED", err)
	}
	var retry *errdetails.RetryInfo
	for _, d := range st.Details() {
		if r, ok := d.(*errdetails.RetryInfo); ok {
			retry = r
		}
	}
	if d := retry.GetRetryDelay().AsDuration(); d <= 59*time.Second || d > time.Minute {
		t.Errorf("RetryInfo delay %v, want just under 1m; details %v", d, st.Details())
	}
}

// failing is a limiter whose backend is down.
type failing struct{ err error }

func (f failing) Allow(context.Context, string, Limit) (Result, error) { return Result{}, f.err }

func TestInterceptorLimiterDown(t *testing.T) {
	r, _ := ParseRules("")
	for err, want := range map[error]codes.Code{
		ErrUnavailable:         codes.Unavailable,
		errors.New("whatever"): codes.Internal,
	} {
		ic := NewInterceptor(Options{Limiter: failing{err}, Rules: r}).Unary()
		_, got := ic(call("203.0.113.1:1000", auth.Principal{}), nil, &grpc.UnaryServerInfo{FullMethod: getEvent},
			func(context.Context, any) (any, error) { return "ok", nil })
		if status.Code(got) != want {
			t.Errorf("limiter error %v: got %v, want %v", err, got, want)
		}
	}
}

func TestRetrySeconds(t *testing.T) {
	for d, want := range map[time.Duration]int64{0: 1, time.Millisecond: 1, time.Second: 1, 1001 * time.Millisecond: 2, time.Minute: 60} {
		if got := RetrySeconds(d); got != want {
			t.Errorf("RetrySeconds(%v) = %d, want %d", d, got, want)
		}
	}
}

// Caller keys are a keyed MAC: the same caller gets the same key under one secret (so
// replicas sharing the secret share budgets) and another under another secret, and the
// key is no unkeyed hash of the address that a dump could be searched for.
func TestCallerKeyedMAC(t *testing.T) {
	k1, err := secret.New(bytes.Repeat([]byte{1}, secret.MinBytes))
	if err != nil {
		t.Fatal(err)
	}
	k2, _ := secret.New(bytes.Repeat([]byte{2}, secret.MinBytes))
	caller := func(k *secret.Keyring, from string, p auth.Principal) string {
		return NewInterceptor(Options{Limiter: NewMemory(nil), Secrets: k}).Caller(call(from, p))
	}
	anon := auth.Principal{}
	a := caller(k1, "203.0.113.77:1000", anon)
	if b := caller(k1, "203.0.113.77:2000", anon); a != b {
		t.Errorf("one address, one secret: keys %q and %q", a, b)
	}
	if b := caller(k2, "203.0.113.77:1000", anon); a == b {
		t.Error("two secrets give one key")
	}
	if b := caller(k1, "203.0.113.78:1000", anon); a == b {
		t.Error("two addresses give one key")
	}
	if len(a) != 32 {
		t.Errorf("key %q, want 32 hex digits", a)
	}
	for _, pre := range []string{"203.0.113.77", "addr:203.0.113.77", "rally-ratelimit\x00addr:203.0.113.77"} {
		sum := sha256.Sum256([]byte(pre))
		if strings.Contains(hex.EncodeToString(sum[:]), a[:16]) || strings.Contains(a, "203.0.113.77") {
			t.Errorf("key %q is an unkeyed hash of %q", a, pre)
		}
	}
	// Tokens are MACed too.
	org := auth.Principal{Kind: auth.Organiser, Organiser: "organisers/o", Token: "organisers/o/apiTokens/t"}
	if o1, o2 := caller(k1, "203.0.113.77:1000", org), caller(k2, "203.0.113.77:1000", org); o1 == o2 || o1 == a || strings.Contains(o1, "apiTokens") {
		t.Errorf("token keys %q and %q", o1, o2)
	}
}
