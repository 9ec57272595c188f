//go:build unix

package redistest

import (
	"context"
	"testing"
	"time"

	goredis "github.com/redis/go-redis/v9"
)

// TestFreeze: a frozen server answers nothing, not even an error, until thawed; then it
// answers again, with its data.
func TestFreeze(t *testing.T) {
	t.Parallel()
	s := Start(t)
	// A client that honours the context's deadline: the shared one waits for its read
	// timeout, seconds.
	opts := s.options()
	opts.ContextTimeoutEnabled = true
	c := goredis.NewClient(opts)
	defer c.Close()
	if err := c.Set(t.Context(), "k", "v", 0).Err(); err != nil {
		t.Fatal(err)
	}
	s.Freeze(t)
	ctx, cancel := context.WithTimeout(t.Context(), 200*time.Millisecond)
	start := time.Now()
	err := c.Get(ctx, "k").Err()
	cancel()
	if err == nil {
		t.Fatal("GET on a frozen server succeeded")
	}
	if d := time.Since(start); d < 150*time.Millisecond {
		t.Errorf("GET on a frozen server failed after %v (%v): want silence until the deadline, not a refusal", d, err)
	}
	s.Thaw(t)
	ctx, cancel = context.WithTimeout(t.Context(), 5*time.Second)
	defer cancel()
	if v, err := c.Get(ctx, "k").Result(); err != nil || v != "v" {
		t.Fatalf("GET after Thaw = %q, %v; want v", v, err)
	}
	s.Thaw(t) // harmless
}

// TestFreezeUntilTheEnd: a server still frozen when its test ends is thawed, then stopped
// by the cleanups, not left behind nor waited on.
func TestFreezeUntilTheEnd(t *testing.T) {
	t.Parallel()
	var s *Server
	start := time.Now()
	t.Run("frozen", func(t *testing.T) {
		s = Start(t)
		s.Freeze(t)
	})
	if d := time.Since(start); d > 4*time.Second {
		t.Errorf("starting, freezing and stopping a server took %v: was the frozen server killed only after Stop's grace period?", d)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.cmd != nil {
		t.Error("the frozen server still runs after its test")
	}
}

// TestFreezeStopped: freezing a stopped server fails the test with a message.
func TestFreezeStopped(t *testing.T) {
	t.Parallel()
	s := Start(t)
	s.Stop()
	rec := &fatalRecorder{TB: t}
	done := make(chan struct{})
	go func() {
		defer close(done)
		s.Freeze(rec)
	}()
	<-done
	if rec.msg == "" {
		t.Fatal("freezing a stopped server did not fail")
	}
}
