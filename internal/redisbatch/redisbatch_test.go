package redisbatch_test

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	goredis "github.com/redis/go-redis/v9"

	"github.com/rallyhq/rally/internal/redisbatch"
	"github.com/rallyhq/rally/internal/redistest"
)

// pipelines counts the pipelines a client sends and the commands in them.
type pipelines struct{ n, cmds atomic.Int64 }

func (p *pipelines) DialHook(next goredis.DialHook) goredis.DialHook          { return next }
func (p *pipelines) ProcessHook(next goredis.ProcessHook) goredis.ProcessHook { return next }
func (p *pipelines) ProcessPipelineHook(next goredis.ProcessPipelineHook) goredis.ProcessPipelineHook {
	return func(ctx context.Context, cmds []goredis.Cmder) error {
		p.n.Add(1)
		p.cmds.Add(int64(len(cmds)))
		return next(ctx, cmds)
	}
}

var incr = goredis.NewScript(`return redis.call('INCRBY', KEYS[1], ARGV[1])`)

// TestConcurrentCallsSharePipelines: every call gets its own reply, and calls made at
// the same time travel together, in fewer pipelines than calls. The script is unknown to
// the server at first, so the first batch also exercises the EVAL fallback.
func TestConcurrentCallsSharePipelines(t *testing.T) {
	t.Parallel()
	srv := redistest.Start(t)
	rdb := srv.Client()
	count := &pipelines{}
	rdb.AddHook(count)
	b := redisbatch.New(rdb, 2)
	defer b.Close()

	const callers, each = 64, 50
	var wg sync.WaitGroup
	errs := make(chan error, callers)
	for c := range callers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			key := fmt.Sprintf("counter:%d", c)
			for i := 1; i <= each; i++ {
				got, err := b.Run(t.Context(), incr, []string{key}, 1).Int()
				if err != nil || got != i {
					errs <- fmt.Errorf("caller %d call %d: %d, %v", c, i, got, err)
					return
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	calls := int64(callers * each)
	// Every call is one EVALSHA, plus one EVAL per call that met NOSCRIPT: at most the
	// first batch of each of the two workers.
	if n := count.cmds.Load(); n < calls || n > calls+2*redisbatch.DefaultMaxBatch {
		t.Errorf("%d commands for %d calls", n, calls)
	}
	if n := count.n.Load(); n >= calls/2 {
		t.Errorf("%d pipelines for %d concurrent calls: they are not shared", n, calls)
	}
	t.Logf("%d calls in %d pipelines", calls, count.n.Load())
}

// TestCallerDeadline: a caller whose context ends gets its error at once, even while
// Redis does not answer, and the batcher serves other calls when Redis is back.
func TestCallerDeadline(t *testing.T) {
	t.Parallel()
	srv := redistest.Start(t)
	rdb := srv.Client()
	b := redisbatch.New(rdb, 1)
	defer b.Close()
	if err := rdb.Do(t.Context(), "CLIENT", "PAUSE", "500", "ALL").Err(); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(t.Context(), 50*time.Millisecond)
	defer cancel()
	start := time.Now()
	err := b.Run(ctx, incr, []string{"k"}, 1).Err()
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("paused Redis: %v, want DeadlineExceeded", err)
	}
	if d := time.Since(start); d > 300*time.Millisecond {
		t.Errorf("the caller waited %v past its 50ms deadline", d)
	}
	got, err := b.Run(t.Context(), incr, []string{"k"}, 1).Int()
	if err != nil || got < 1 {
		t.Errorf("after the pause: %d, %v", got, err)
	}
}

// TestClose: calls after Close fail with ErrClosed rather than hang.
func TestClose(t *testing.T) {
	t.Parallel()
	srv := redistest.Start(t)
	b := redisbatch.New(srv.Client(), 0)
	if err := b.Run(t.Context(), incr, []string{"k"}, 1).Err(); err != nil {
		t.Fatal(err)
	}
	b.Close()
	if err := b.Run(t.Context(), incr, []string{"k"}, 1).Err(); !errors.Is(err, redisbatch.ErrClosed) {
		t.Errorf("after Close: %v, want ErrClosed", err)
	}
}
