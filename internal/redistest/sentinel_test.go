package redistest

import (
	"context"
	"strings"
	"testing"

	goredis "github.com/redis/go-redis/v9"
)

func TestStartSentinel(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s := StartSentinel(t)
	addr, err := s.Sentinel().Client().Do(ctx, "SENTINEL", "get-master-addr-by-name", SentinelMaster).StringSlice()
	if err != nil {
		t.Fatal(err)
	}
	if got := strings.Join(addr, ":"); got != s.Master().Addr() {
		t.Fatalf("Sentinel names %s as the master, want %s", got, s.Master().Addr())
	}
	opts, err := goredis.ParseFailoverURL(strings.Replace(s.URL(), "redis+sentinel://", "redis://", 1))
	if err != nil {
		t.Fatalf("ParseFailoverURL(%q): %v", s.URL(), err)
	}
	c := goredis.NewFailoverClient(opts)
	defer c.Close()
	if err := c.Set(ctx, "k", "v", 0).Err(); err != nil {
		t.Fatalf("SET through Sentinel: %v", err)
	}
	if got, err := s.Master().Client().Get(ctx, "k").Result(); err != nil || got != "v" {
		t.Fatalf("GET k on the master = %q, %v; want v", got, err)
	}
}
