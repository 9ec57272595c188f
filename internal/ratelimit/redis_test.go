package ratelimit

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/rallyhq/rally/internal/redistest"
)

// Budgets live under Rally's key prefix (not redis_rate's own "rate:") and expire once
// refilled, so Redis holds only the callers of the last moments.
func TestRedisKeys(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s := redistest.Start(t)
	l := NewRedis(s.Client(), "rally:")
	if _, err := l.Allow(ctx, "read:abc", Limit{Rate: 1, Period: time.Minute, Burst: 2}); err != nil {
		t.Fatal(err)
	}
	keys, err := s.Client().Keys(ctx, "*").Result()
	if err != nil {
		t.Fatal(err)
	}
	if len(keys) != 1 || keys[0] != "rally:rl:read:abc" {
		t.Fatalf("keys %q, want [rally:rl:read:abc]", keys)
	}
	ttl, err := s.Client().TTL(ctx, keys[0]).Result()
	if err != nil || ttl <= 0 || ttl > time.Minute {
		t.Fatalf("TTL %v (%v), want at most the time to refill (1m)", ttl, err)
	}
}

func TestRedisUnreachable(t *testing.T) {
	t.Parallel()
	s := redistest.Start(t)
	l := NewRedis(s.Client(), "rally:")
	s.Stop()
	start := time.Now()
	_, err := l.Allow(context.Background(), "k", Limit{Rate: 1, Period: time.Second, Burst: 1})
	if err == nil {
		t.Fatal("Allow succeeded with Redis stopped")
	}
	if strings.Contains(err.Error(), "k") && strings.Contains(err.Error(), "rl:") {
		t.Errorf("the error names the key: %v", err)
	}
	if took := time.Since(start); took > redisTimeout+time.Second {
		t.Errorf("failing took %v; the check is bounded by %v", took, redisTimeout)
	}
}
