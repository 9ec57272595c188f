package redis

import (
	"context"
	"errors"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/rallyhq/rally/internal/redistest"
)

// A library of test functions: echo returns its argument and counts its calls in
// KEYS[1]; spin keeps Redis busy for ARGV[1] ms (Lua cannot sleep).
const pipelineTestLib = `#!lua name=pipeline_test
redis.register_function('pt_echo', function(keys, argv)
  redis.call('INCR', keys[1])
  return argv[1]
end)
redis.register_function('pt_spin', function(keys, argv)
  local t = redis.call('TIME')
  local until_us = (t[1] * 1000000 + t[2]) + argv[1] * 1000
  repeat
    t = redis.call('TIME')
  until t[1] * 1000000 + t[2] >= until_us
  return 1
end)
`

// TestAutoPipeline: concurrent calls share batches yet each gets its own reply, and a
// caller whose context ends while its call is queued returns at once with the
// context's error, the call never sent.
func TestAutoPipeline(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	rdb := redistest.Start(t).Client()
	if err := rdb.FunctionLoad(ctx, pipelineTestLib).Err(); err != nil {
		t.Fatal(err)
	}
	p := newAutoPipeline(rdb)
	p.maxInFlight = 1

	var wg sync.WaitGroup
	const callers = 200
	for i := range callers {
		wg.Go(func() {
			want := strconv.Itoa(i)
			got, err := p.FCall(ctx, "pt_echo", []string{"echoes"}, want).Text()
			if err != nil || got != want {
				t.Errorf("call %s: %q, %v", want, got, err)
			}
		})
	}
	wg.Wait()
	if n, err := rdb.Get(ctx, "echoes").Int(); err != nil || n != callers {
		t.Errorf("%d calls ran, %v; want %d", n, err, callers)
	}

	// One batch in flight at a time: while spin runs, the next call queues.
	spun := make(chan error, 1)
	go func() { spun <- p.FCall(ctx, "pt_spin", []string{"spin"}, 300).Err() }()
	time.Sleep(50 * time.Millisecond)
	short, cancel := context.WithTimeout(ctx, 20*time.Millisecond)
	defer cancel()
	start := time.Now()
	err := p.FCall(short, "pt_echo", []string{"late"}, "x").Err()
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("queued call with an ended context: %v, want its context's error", err)
	}
	if d := time.Since(start); d > 200*time.Millisecond {
		t.Errorf("queued call with an ended context returned after %v, not when it ended", d)
	}
	if err := <-spun; err != nil {
		t.Fatal(err)
	}
	// After the batch in flight, the queue is sent: the late call is not in it.
	if err := p.FCall(ctx, "pt_echo", []string{"after"}, "y").Err(); err != nil {
		t.Fatal(err)
	}
	if n, err := rdb.Exists(ctx, "late").Result(); err != nil || n != 0 {
		t.Errorf("the abandoned call ran (%d, %v)", n, err)
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.inFlight != 0 || len(p.queue) != 0 {
		t.Errorf("idle pipeline with %d batches in flight and %d calls queued", p.inFlight, len(p.queue))
	}
}
