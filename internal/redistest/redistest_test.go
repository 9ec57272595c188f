package redistest

import (
	"context"
	"errors"
	"fmt"
	"runtime"
	"strings"
	"testing"

	goredis "github.com/redis/go-redis/v9"
)

func TestStart(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s := Start(t)
	c := s.Client()
	if err := c.Set(ctx, "k", "v", 0).Err(); err != nil {
		t.Fatal(err)
	}
	if got, err := c.Get(ctx, "k").Result(); err != nil || got != "v" {
		t.Fatalf("GET k = %q, %v; want v", got, err)
	}
	// No persistence and no TCP port: the server is private to this test.
	cfg, err := c.ConfigGet(ctx, "*").Result()
	if err != nil {
		t.Fatal(err)
	}
	for k, want := range map[string]string{"port": "0", "save": "", "appendonly": "no"} {
		if cfg[k] != want {
			t.Errorf("config %s = %q, want %q", k, cfg[k], want)
		}
	}
}

func TestURL(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s := Start(t)
	if !strings.HasPrefix(s.URL(), "unix://") {
		t.Fatalf("URL() = %q, want a unix:// URL", s.URL())
	}
	opts, err := goredis.ParseURL(s.URL())
	if err != nil {
		t.Fatalf("ParseURL(%q): %v", s.URL(), err)
	}
	c := goredis.NewClient(opts)
	defer c.Close()
	if err := c.Ping(ctx).Err(); err != nil {
		t.Fatalf("PING through URL(): %v", err)
	}
}

// Servers of parallel tests are independent: a key written in one is absent in the other.
func TestIsolation(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	a, b := Start(t), Start(t)
	if a.URL() == b.URL() {
		t.Fatalf("two servers share %s", a.URL())
	}
	if err := a.Client().Set(ctx, "k", "a", 0).Err(); err != nil {
		t.Fatal(err)
	}
	if err := b.Client().Get(ctx, "k").Err(); !errors.Is(err, goredis.Nil) {
		t.Fatalf("GET k on the second server: %v, want redis.Nil", err)
	}
}

func TestRestart(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s := Start(t)
	c := s.Client()
	if err := c.Set(ctx, "k", "v", 0).Err(); err != nil {
		t.Fatal(err)
	}
	s.Restart(t)
	// The same client reconnects, and the data is gone.
	if err := c.Get(ctx, "k").Err(); !errors.Is(err, goredis.Nil) {
		t.Fatalf("GET k after Restart: %v, want redis.Nil", err)
	}
	if err := c.Set(ctx, "k", "w", 0).Err(); err != nil {
		t.Fatalf("SET after Restart: %v", err)
	}
}

func TestStop(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s := Start(t)
	s.Stop()
	opts, err := goredis.ParseURL(s.URL())
	if err != nil {
		t.Fatal(err)
	}
	opts.MaxRetries = -1 // fail at once rather than after the default retries
	c := goredis.NewClient(opts)
	defer c.Close()
	if err := c.Ping(ctx).Err(); err == nil {
		t.Fatal("PING after Stop succeeded")
	}
	s.Stop() // harmless, and the cleanup stops it a third time
}

// fatalRecorder is a testing.TB whose Fatalf records the message and ends the goroutine,
// as the real one does, without failing the test.
type fatalRecorder struct {
	testing.TB
	msg string
}

func (f *fatalRecorder) Fatalf(format string, args ...any) {
	f.msg = fmt.Sprintf(format, args...)
	runtime.Goexit()
}

func TestMissingBinaryFailsWithInstallHint(t *testing.T) {
	t.Parallel()
	rec := &fatalRecorder{TB: t}
	done := make(chan *Server)
	go func() {
		defer close(done)
		done <- start(rec, "redis-server-that-does-not-exist")
	}()
	if s := <-done; s != nil {
		t.Fatal("start succeeded without the binary")
	}
	for _, want := range []string{"redis-server", "make test"} {
		if !strings.Contains(rec.msg, want) {
			t.Errorf("message %q does not mention %q", rec.msg, want)
		}
	}
	if t.Skipped() {
		t.Fatal("skipped")
	}
}
