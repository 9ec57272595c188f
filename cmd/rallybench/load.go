package main

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
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
	// CPU time per successful op, in µs: this process (rallyd and the load generator) and
	// redis-server. Where the time goes tells which side a change must make cheaper.
	GoCPUus    float64 `json:"go_cpu_us_per_op"`
	RedisCPUus float64 `json:"redis_cpu_us_per_op"`
	// Heap objects this process allocated per successful op (rallyd and the load
	// generator): what the garbage collector's share of GoCPUus follows.
	GoAllocs float64 `json:"go_allocs_per_op"`

	lats []time.Duration // each call's latency, for combining turns
}

// loadOp is one call of a load: the worker and a sequence number unique in the load.
type loadOp func(ctx context.Context, worker int, seq int64) error

// interleaved runs the loads in turns, rounds times, each turn a share of o.duration, and
// returns their combined results with the CPU spent per op. A shared machine's speed
// drifts over seconds (neighbours come and go): loads measured one after the other would
// put that drift into their ratio; taking turns shares it out. profiles[i], if set, is
// where the profiles of load i go (see profileFiles.start).
func (e *env) interleaved(ctx context.Context, o options, rounds int, profiles []profileFiles, ops ...loadOp) ([]loadResult, error) {
	rounds = max(rounds, 1)
	turn := o.duration / time.Duration(rounds)
	out := make([]loadResult, len(ops))
	goCPU := make([]time.Duration, len(ops))
	redisCPU := make([]time.Duration, len(ops))
	allocs := make([]uint64, len(ops))
	for round := range rounds {
		for i, op := range ops {
			stop := func() error { return nil }
			if i < len(profiles) {
				var err error
				if stop, err = profiles[i].start(round, rounds); err != nil {
					return nil, err
				}
			}
			goBefore, redisBefore, allocsBefore := processCPU(), e.redisCPU(ctx), heapObjects()
			r := load(ctx, o.concurrency, turn, op)
			goCPU[i] += processCPU() - goBefore
			allocs[i] += heapObjects() - allocsBefore
			redisCPU[i] += e.redisCPU(ctx) - redisBefore
			if err := stop(); err != nil {
				return nil, err
			}
			out[i].add(r)
		}
	}
	for i := range out {
		out[i].finish(o.duration)
		if n := float64(out[i].Ops) * 1.2; n > 0 { // the warm-ups (a fifth of each turn) ran too
			out[i].GoCPUus = goCPU[i].Seconds() * 1e6 / n
			out[i].RedisCPUus = redisCPU[i].Seconds() * 1e6 / n
			out[i].GoAllocs = float64(allocs[i]) / n
		}
	}
	return out, nil
}

// add accumulates one turn's calls.
func (r *loadResult) add(turn loadResult) {
	r.Ops += turn.Ops
	r.Errors += turn.Errors
	if r.FirstEr == "" {
		r.FirstEr = turn.FirstEr
	}
	r.lats = append(r.lats, turn.lats...)
}

// finish computes the rates and quantiles of the accumulated turns, dur in all.
func (r *loadResult) finish(dur time.Duration) {
	r.PerSec = float64(r.Ops) / dur.Seconds()
	r.P50ms, r.P99ms = ms(quantile(r.lats, 0.5)), ms(quantile(r.lats, 0.99))
}

// processCPU is the user and system CPU time this process has used.
func processCPU() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// childCPU is the user and system CPU time the process pid has used (/proc/PID/stat, in
// clock ticks of 10 ms), 0 if unknown.
func childCPU(pid int) time.Duration {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return 0
	}
	// The command's name, in parentheses, may hold spaces: count fields after it.
	i := bytes.LastIndexByte(b, ')')
	if i < 0 {
		return 0
	}
	f := strings.Fields(string(b[i+1:]))
	if len(f) < 13 {
		return 0
	}
	utime, _ := strconv.ParseInt(f[11], 10, 64) // field 14 of stat
	stime, _ := strconv.ParseInt(f[12], 10, 64) // field 15
	return time.Duration(utime+stime) * 10 * time.Millisecond
}

// redisCPU is the user and system CPU time redis-server has used (INFO cpu), 0 if unknown.
func (e *env) redisCPU(ctx context.Context) time.Duration {
	m, err := e.info(ctx, "cpu")
	if err != nil {
		return 0
	}
	sys, _ := strconv.ParseFloat(m["used_cpu_sys"], 64)
	user, _ := strconv.ParseFloat(m["used_cpu_user"], 64)
	return time.Duration((sys + user) * float64(time.Second))
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
	r := loadResult{Ops: ops.Load(), Errors: errs.Load(), lats: lats}
	r.finish(dur)
	if firstErr != nil {
		r.FirstEr = firstErr.Error()
	}
	return r
}

func (r loadResult) String() string {
	s := fmt.Sprintf("%.0f/s (%d ok, %d errors, p50 %.2fms, p99 %.2fms; CPU per op: %.0fµs Go, %.0fµs Redis; %.0f Go allocations per op)",
		r.PerSec, r.Ops, r.Errors, r.P50ms, r.P99ms, r.GoCPUus, r.RedisCPUus, r.GoAllocs)
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
