package ratelimit

import (
	"context"
	"strings"
	"time"

	"github.com/go-redis/redis_rate/v10"
	goredis "github.com/redis/go-redis/v9"
)

// redisTimeout bounds one check in Redis, so that a Redis that stopped answering delays
// each call by this much at most before the failure policy (see Fallback) decides.
const redisTimeout = 500 * time.Millisecond

// libraryPrefix is what redis_rate puts in front of every key; see prefixedClient.
const libraryPrefix = "rate:"

// Redis is GCRA in Redis (redis_rate's Lua script, one round trip per check), so that
// every replica sharing the Redis shares the budgets.
type Redis struct {
	limiter *redis_rate.Limiter
	prefix  string
}

// NewRedis returns a limiter that keeps its budgets in client under keys starting with
// prefix (Rally's --redis-prefix) followed by "rl:".
func NewRedis(client goredis.UniversalClient, prefix string) *Redis {
	return &Redis{limiter: redis_rate.NewLimiter(prefixedClient{client}), prefix: prefix + "rl:"}
}

// Allow takes one call from the budget under key.
func (r *Redis) Allow(ctx context.Context, key string, limit Limit) (Result, error) {
	if limit.Unlimited() {
		return Result{Allowed: true}, nil
	}
	ctx, cancel := context.WithTimeout(ctx, redisTimeout)
	defer cancel()
	res, err := r.limiter.Allow(ctx, r.prefix+key, redis_rate.Limit{Rate: limit.Rate, Period: limit.Period, Burst: limit.Burst})
	if err != nil {
		return Result{}, err
	}
	return Result{Allowed: res.Allowed > 0, RetryAfter: max(res.RetryAfter, 0)}, nil
}

// prefixedClient removes the "rate:" that redis_rate puts in front of every key, so
// that all of Rally's keys start with the operator's --redis-prefix as docs/operations.md
// promises (one Redis can then be shared, and ACLs can match the prefix). redis_rate runs
// its script with EVALSHA, falling back to EVAL; those are the calls it makes with keys.
type prefixedClient struct {
	goredis.UniversalClient
}

func (c prefixedClient) Eval(ctx context.Context, script string, keys []string, args ...any) *goredis.Cmd {
	return c.UniversalClient.Eval(ctx, script, unprefixed(keys), args...)
}

func (c prefixedClient) EvalSha(ctx context.Context, sha1 string, keys []string, args ...any) *goredis.Cmd {
	return c.UniversalClient.EvalSha(ctx, sha1, unprefixed(keys), args...)
}

func unprefixed(keys []string) []string {
	out := make([]string, len(keys))
	for i, k := range keys {
		out[i] = strings.TrimPrefix(k, libraryPrefix)
	}
	return out
}
