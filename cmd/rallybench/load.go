package main

import (
	"context"
	"fmt"
	"slices"
	"sync"
	"sync/atomic"
	"time"
)

// loadResult is what one load produced.
type loadResult struct {
	Ops     int64   `json:"ops"`
	Errors  int64   `json:"errors"`
	PerSec  float64 `json:"per_sec"`
	P50ms   float64 `json:"p50_ms"`
	P99ms   float64 `json:"p99_ms"`
	FirstEr string  `json:"first_error,omitempty"`
}

// load runs op from conc goroutines for warm-up plus dur, counting only the calls that
// start and end within dur. op gets the worker and a sequence number unique in the load.
func load(ctx context.Context, conc int, dur time.Duration, op func(ctx context.Context, worker int, seq int64) error) loadResult {
	warm := dur / 5
	start := time.Now()
	from, until := start.Add(warm), start.Add(warm+dur)
	var seq, ops, errs atomic.Int64
	var mu sync.Mutex
	var lats []time.Duration
	var firstErr error
	var wg sync.WaitGroup
	for w := range conc {
		wg.Add(1)
		go func() {
			defer wg.Done()
			var mine []time.Duration
			for {
				t0 := time.Now()
				if !t0.Before(until) || ctx.Err() != nil {
					break
				}
				err := op(ctx, w, seq.Add(1))
				t1 := time.Now()
				if t0.Before(from) || t1.After(until) {
					continue
				}
				if err != nil {
					if errs.Add(1) == 1 {
						mu.Lock()
						firstErr = err
						mu.Unlock()
					}
					continue
				}
				ops.Add(1)
				mine = append(mine, t1.Sub(t0))
			}
			mu.Lock()
			lats = append(lats, mine...)
			mu.Unlock()
		}()
	}
	wg.Wait()
	r := loadResult{Ops: ops.Load(), Errors: errs.Load(), PerSec: float64(ops.Load()) / dur.Seconds()}
	r.P50ms, r.P99ms = ms(quantile(lats, 0.5)), ms(quantile(lats, 0.99))
	if firstErr != nil {
		r.FirstEr = firstErr.Error()
	}
	return r
}

func (r loadResult) String() string {
	s := fmt.Sprintf("%.0f/s (%d ok, %d errors, p50 %.2fms, p99 %.2fms)", r.PerSec, r.Ops, r.Errors, r.P50ms, r.P99ms)
	if r.FirstEr != "" {
		s += " first error: " + r.FirstEr
	}
	return s
}

func quantile(d []time.Duration, q float64) time.Duration {
	if len(d) == 0 {
		return 0
	}
	slices.Sort(d)
	i := int(q * float64(len(d)-1))
	return d[i]
}

func ms(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }

// parallel runs op(i) for i in [0, n) from conc goroutines and returns the first error.
func parallel(ctx context.Context, n, conc int, op func(ctx context.Context, i int) error) error {
	var next atomic.Int64
	var once sync.Once
	var first error
	var wg sync.WaitGroup
	for range conc {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				i := int(next.Add(1) - 1)
				if i >= n || ctx.Err() != nil {
					return
				}
				if err := op(ctx, i); err != nil {
					once.Do(func() { first = err })
					return
				}
			}
		}()
	}
	wg.Wait()
	if first == nil {
		first = ctx.Err()
	}
	return first
}
