package redis

import (
	"context"
	"errors"
	"time"

	goredis "github.com/redis/go-redis/v9"

	"github.com/rallyhq/rally/internal/store"
)

// publicViewTTL bounds how long an event's last public attendance view is kept after its
// last change. The view is public (a bucket or an EXACT event's counts) and is never
// stored for a HIDDEN event; an expired one only costs one more public message.
const publicViewTTL = 30 * 24 * time.Hour

// SwapPublicView implements store.PublicViewStore with one SET … GET, atomic in Redis.
func (s *Store) SwapPublicView(ctx context.Context, event, view string) (string, error) {
	evID, ok := eventIDOf(event)
	if !ok {
		return "", store.NotFoundError(event)
	}
	old, err := s.rdb.SetArgs(ctx, s.recordKey("ev", evID)+":pubview", view, goredis.SetArgs{Get: true, TTL: publicViewTTL}).Result()
	if errors.Is(err, goredis.Nil) {
		return "", nil
	}
	return old, err
}
