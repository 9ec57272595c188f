package ratelimit

import (
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"math"
	"strings"
	"time"

	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/durationpb"

	"github.com/rallyhq/rally/internal/auth"
	"github.com/rallyhq/rally/internal/clientip"
	"github.com/rallyhq/rally/internal/secret"
	"github.com/rallyhq/rally/internal/streamchain"
)

// Options configures the interceptors.
type Options struct {
	Limiter Limiter
	Rules   Rules
	// Resolver finds the address of anonymous callers.
	Resolver clientip.Resolver
	// GatewayKey identifies calls from this process's REST gateway, whose forwarded
	// client address is believed (see clientip.FromGRPC).
	GatewayKey string
	// Secrets key the MAC of callers' identities (secret.ClientMAC); replicas sharing a
	// Redis must share them, or each counts its own budgets. Nil: a random keyring, for
	// one process.
	Secrets *secret.Keyring
	// MaxStreamsPerAddr caps the calls in progress (unary calls and streams, of every
	// service) per client address on this replica; 0: no cap. See BeforeAuthUnary.
	MaxStreamsPerAddr int
	// MaxWatches caps the streams of the standard services (health Watch, reflection)
	// per caller, as server.Options.MaxWatches caps Rally's own watches; 0: no cap.
	MaxWatches int
}

// Interceptor counts every call against its caller's budget. Its Unary and Stream run
// after authentication, so that they know who the caller is; BeforeAuthUnary and
// BeforeAuthStream run before it, and bound what a caller can make the server do before
// anyone knows who it is (see guard.go).
type Interceptor struct {
	opts Options
	// calls counts the calls in progress per client address, streams the standard
	// services' streams per caller.
	calls, streams *counter
	// blocked remembers, per client address, until when failed authentications are
	// refused without asking the limiter or the store (see guard.go).
	blocked *blocklist
}

// NewInterceptor returns the rate-limiting interceptors' common part.
func NewInterceptor(opts Options) *Interceptor {
	if opts.Secrets == nil {
		opts.Secrets = secret.Random()
	}
	return &Interceptor{
		opts:    opts,
		calls:   newCounter(opts.MaxStreamsPerAddr),
		streams: newCounter(opts.MaxWatches),
		blocked: newBlocklist(time.Now),
	}
}

// Unary limits unary calls.
func (i *Interceptor) Unary() grpc.UnaryServerInterceptor {
	return func(ctx context.Context, req any, info *grpc.UnaryServerInfo, handler grpc.UnaryHandler) (any, error) {
		if err := i.check(ctx, info.FullMethod); err != nil {
			return nil, err
		}
		return handler(ctx, req)
	}
}

// Stream limits the opening of streams (a watch costs one call, however long it lasts),
// and caps the concurrent streams of the standard services per caller: a health Watch or
// a reflection stream holds a goroutine and its buffers as long as a Rally watch does,
// whose cap (server.Options.MaxWatches) lives with the watch handlers.
func (i *Interceptor) Stream() grpc.StreamServerInterceptor {
	return new(streamchain.Chain).Stage(i.StreamStage()).StreamServerInterceptor()
}

// StreamStage is Stream as a stage of a flat chain (streamchain).
func (i *Interceptor) StreamStage() streamchain.Stage {
	return func(c *streamchain.Call) (func(error) error, error) {
		if err := i.check(c.Ctx, c.Info.FullMethod); err != nil {
			return nil, err
		}
		if strings.HasPrefix(c.Info.FullMethod, "/"+rallyPackage) {
			return nil, nil
		}
		release, ok := i.streams.acquire(i.Caller(c.Ctx))
		if !ok {
			return nil, status.Errorf(codes.ResourceExhausted, "at most %d streams of %s at once per caller; close one first", i.streams.max, serviceOf(c.Info.FullMethod))
		}
		return func(err error) error {
			release()
			return err
		}, nil
	}
}

// check takes one call from the caller's budget for method, or returns the status to
// refuse it with.
func (i *Interceptor) check(ctx context.Context, method string) error {
	target, limit := i.opts.Rules.For(method)
	// The operator's admin token is not limited: whoever holds it can change the limits
	// anyway, and it seeds data in bulk.
	if limit.Unlimited() || auth.FromContext(ctx).IsAdmin() {
		return nil
	}
	res, err := i.opts.Limiter.Allow(ctx, target+":"+i.Caller(ctx), limit)
	switch {
	case err != nil && ctx.Err() != nil:
		return status.FromContextError(ctx.Err()).Err()
	case errors.Is(err, ErrUnavailable):
		return status.Error(codes.Unavailable, "the rate limiter is unavailable; retry shortly")
	case err != nil:
		return status.Error(codes.Internal, "the rate limiter failed")
	case !res.Allowed:
		return exhausted(target, res.RetryAfter)
	}
	return nil
}

// Caller identifies the caller of a request for per-caller limits (rate limits here, and
// others such as concurrent watches), under a keyed MAC (see macCaller). Authentication
// must have run.
//
//   - An organiser is its account, whichever of its tokens it used: tokens are minted at
//     will, and a budget per token would let one organiser multiply its budgets by
//     minting more.
//   - Everyone else (anonymous callers, and holders of RSVP and claim tokens) is their
//     client address. RSVP and claim tokens are only checked by the handler, after the
//     limiter, so a budget per such token would give every made-up token a fresh budget
//     and a fresh key in Redis.
func (i *Interceptor) Caller(ctx context.Context) string {
	switch p := auth.FromContext(ctx); p.Kind {
	case auth.Organiser:
		return macCaller(i.opts.Secrets, "organiser:"+p.Organiser)
	case auth.Admin:
		return macCaller(i.opts.Secrets, "admin")
	}
	return i.addrKey(ctx)
}

type addrKeyCtx struct{}

// addrKey is the client address's identity under the MAC: "addr:" and its bucket (an
// IPv6 address by /64). BeforeAuthUnary and BeforeAuthStream work it out once per call
// and leave it in the context for the rest of the call.
func (i *Interceptor) addrKey(ctx context.Context) string {
	if k, ok := ctx.Value(addrKeyCtx{}).(string); ok {
		return k
	}
	return macCaller(i.opts.Secrets, "addr:"+clientip.Bucket(i.opts.Resolver.FromGRPC(ctx, i.opts.GatewayKey)))
}

// macCaller turns the caller's identity into the key of its budget: HMAC-SHA256 under the
// deployment's secret (secret.ClientMAC), hex, cut to 128 bits (plenty against collisions
// between callers). An unkeyed hash would not do: there are only 2^32 IPv4 addresses, so
// anyone holding a dump of Redis, its AOF or MONITOR output could recover every address
// by hashing them all; without the secret, which never reaches Redis, the key says
// nothing.
//
// Organisers' identities (their account's resource name) go through the same MAC, so
// that a dump does not show which organiser was busy when.
func macCaller(secrets *secret.Keyring, caller string) string {
	return hex.EncodeToString(secrets.MAC(secret.ClientMAC, []byte(caller))[:16])
}

// exhausted is the refusal of a call over its budget: RESOURCE_EXHAUSTED (HTTP 429) with
// a RetryInfo that says when the next call will pass (the gateway copies it into
// Retry-After) and an ErrorInfo naming the limit.
func exhausted(target string, retry time.Duration) error {
	msg := fmt.Sprintf("rate limit exceeded (%s); retry in %ds", target, RetrySeconds(retry))
	st, err := status.New(codes.ResourceExhausted, msg).WithDetails(
		&errdetails.RetryInfo{RetryDelay: durationpb.New(retry)},
		&errdetails.ErrorInfo{Reason: "RATE_LIMIT_EXCEEDED", Domain: "rally.v1", Metadata: map[string]string{"limit": target}},
	)
	if err != nil {
		return status.Error(codes.ResourceExhausted, msg)
	}
	return st.Err()
}

// RetrySeconds rounds a retry delay up to whole seconds, at least 1, as HTTP's
// Retry-After wants: rounding down would invite a retry that is refused again.
func RetrySeconds(d time.Duration) int64 {
	return max(1, int64(math.Ceil(d.Seconds())))
}
