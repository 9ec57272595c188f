package ratelimit

import (
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"math"
	"time"

	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/durationpb"

	"github.com/rallyhq/rally/internal/auth"
	"github.com/rallyhq/rally/internal/clientip"
	"github.com/rallyhq/rally/internal/secret"
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
}

// Interceptor counts every call against its caller's budget. It runs after
// authentication, so it knows who the caller is.
type Interceptor struct {
	opts Options
}

// NewInterceptor returns the rate-limiting interceptors' common part.
func NewInterceptor(opts Options) *Interceptor {
	if opts.Secrets == nil {
		opts.Secrets = secret.Random()
	}
	return &Interceptor{opts: opts}
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

// Stream limits the opening of streams (a watch costs one call, however long it lasts).
func (i *Interceptor) Stream() grpc.StreamServerInterceptor {
	return func(srv any, ss grpc.ServerStream, info *grpc.StreamServerInfo, handler grpc.StreamHandler) error {
		if err := i.check(ss.Context(), info.FullMethod); err != nil {
			return err
		}
		return handler(srv, ss)
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
// others such as concurrent watches): its token, else its client address, under a keyed
// MAC (see macCaller). Authentication must have run.
func (i *Interceptor) Caller(ctx context.Context) string {
	caller := auth.FromContext(ctx).RateKey()
	if caller == "" {
		caller = "addr:" + clientip.Bucket(i.opts.Resolver.FromGRPC(ctx, i.opts.GatewayKey))
	}
	return macCaller(i.opts.Secrets, caller)
}

// macCaller turns the caller's identity into the key of its budget: HMAC-SHA256 under the
// deployment's secret (secret.ClientMAC), hex, cut to 128 bits (plenty against collisions
// between callers). An unkeyed hash would not do: there are only 2^32 IPv4 addresses, so
// anyone holding a dump of Redis, its AOF or MONITOR output could recover every address
// by hashing them all; without the secret, which never reaches Redis, the key says
// nothing.
//
// Token-derived identities (an API token's resource name, the first bytes of an RSVP's or
// claim's token hash) go through the same MAC: the RSVP token's hash is also what the
// store keeps of that token, so an unkeyed hash of it in a rate-limit key would tie a
// caller's traffic to their RSVP in a dump.
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
