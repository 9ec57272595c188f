package ratelimit

import (
	"context"
	"crypto/sha256"
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
}

// Interceptor counts every call against its caller's budget. It runs after
// authentication, so it knows who the caller is.
type Interceptor struct {
	opts Options
}

// NewInterceptor returns the rate-limiting interceptors' common part.
func NewInterceptor(opts Options) *Interceptor { return &Interceptor{opts: opts} }

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
// others such as concurrent watches): its token, else its client address, hashed (see
// hashCaller). Authentication must have run.
func (i *Interceptor) Caller(ctx context.Context) string {
	caller := auth.FromContext(ctx).RateKey()
	if caller == "" {
		caller = "addr:" + clientip.Bucket(i.opts.Resolver.FromGRPC(ctx, i.opts.GatewayKey))
	}
	return hashCaller(caller)
}

// hashCaller turns the caller's identity into the key of its budget. Hashing keeps client
// addresses and token names out of Redis in plain text: a dump or MONITOR shows opaque
// keys. (An IPv4 address can be recovered from its hash by trying them all; what limits
// exposure is that a key expires as soon as its budget has refilled.)
func hashCaller(caller string) string {
	sum := sha256.Sum256([]byte("rally-ratelimit\x00" + caller))
	return hex.EncodeToString(sum[:16])
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
