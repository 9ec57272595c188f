// Package redisbatch sends Redis script calls made at the same time by many requests in
// shared pipelines. Under load, one write and one read system call on each side carry
// tens of calls instead of one each: on a two-core machine that roughly halves what an
// RSVP costs Redis and rallyd. A call made alone goes out at once, so a quiet server
// adds no latency.
//
// go-redis has no automatic pipelining (rueidis has, but the project is on go-redis
// throughout), so this small piece is written here: a few workers each take one waiting
// call, then every other call already waiting, up to a batch size, and send them as one
// pipeline (go-redis splits it per node in a Cluster).
package redisbatch

import (
	"context"
	"errors"
	"sync"

	goredis "github.com/redis/go-redis/v9"
)

// ErrClosed is the error of calls made after Close.
var ErrClosed = errors.New("redisbatch: closed")

// Defaults of New.
const (
	// DefaultWorkers is how many pipelines may be in flight at once: enough that one
	// slow round trip does not hold everyone up, few enough that calls queue and batch.
	DefaultWorkers = 4
	// DefaultMaxBatch bounds a pipeline, so that a burst is spread over the workers.
	DefaultMaxBatch = 64
)

// Batcher runs script calls in shared pipelines.
type Batcher struct {
	rdb      goredis.UniversalClient
	calls    chan *call // unbuffered: a call is only taken by a worker that will send it
	maxBatch int
	quit     chan struct{}
	once     sync.Once
	wg       sync.WaitGroup
}

type call struct {
	script *goredis.Script
	keys   []string
	args   []any
	cmd    *goredis.Cmd
	done   chan struct{}
}

// New starts a batcher of workers workers (DefaultWorkers if not positive) on rdb.
func New(rdb goredis.UniversalClient, workers int) *Batcher {
	if workers <= 0 {
		workers = DefaultWorkers
	}
	b := &Batcher{rdb: rdb, calls: make(chan *call), maxBatch: DefaultMaxBatch, quit: make(chan struct{})}
	b.wg.Add(workers)
	for range workers {
		go b.work()
	}
	return b
}

// Call is one script call.
type Call struct {
	Script *goredis.Script
	Keys   []string
	Args   []any
}

// Run runs script like Script.Run (EVALSHA, then EVAL if the server does not know it),
// in a pipeline shared with other calls. It returns when the reply is in or ctx ends;
// in the second case the call may still run, as any Redis call whose reply was not
// awaited may have.
func (b *Batcher) Run(ctx context.Context, script *goredis.Script, keys []string, args ...any) *goredis.Cmd {
	return b.RunMany(ctx, Call{script, keys, args})[0]
}

// RunMany is Run for several independent calls at once (they may share a pipeline or
// not), returning their replies in order.
func (b *Batcher) RunMany(ctx context.Context, calls ...Call) []*goredis.Cmd {
	out := make([]*goredis.Cmd, len(calls))
	sent := make([]*call, 0, len(calls))
	for i, c := range calls {
		cl := &call{script: c.Script, keys: c.Keys, args: c.Args, done: make(chan struct{})}
		select {
		case b.calls <- cl:
			sent = append(sent, cl)
			continue
		case <-b.quit:
			out[i] = failed(ctx, ErrClosed)
		case <-ctx.Done():
			out[i] = failed(ctx, ctx.Err())
		}
		// The rest are not sent either.
		for j := i + 1; j < len(calls); j++ {
			out[j] = out[i]
		}
		break
	}
	for i, c := range sent {
		select {
		case <-c.done:
			out[i] = c.cmd
		case <-ctx.Done():
			out[i] = failed(ctx, ctx.Err())
		}
	}
	return out
}

// Close stops the workers once their pipelines are back; later calls fail with ErrClosed.
// It does not close rdb.
func (b *Batcher) Close() {
	b.once.Do(func() { close(b.quit) })
	b.wg.Wait()
}

func failed(ctx context.Context, err error) *goredis.Cmd {
	cmd := goredis.NewCmd(ctx)
	cmd.SetErr(err)
	return cmd
}

func (b *Batcher) work() {
	defer b.wg.Done()
	batch := make([]*call, 0, b.maxBatch)
	for {
		select {
		case c := <-b.calls:
			batch = append(batch[:0], c)
		case <-b.quit:
			return
		}
	more:
		for len(batch) < b.maxBatch {
			select {
			case c := <-b.calls:
				batch = append(batch, c)
			default:
				break more
			}
		}
		b.exec(batch)
		clear(batch)
	}
}

// exec sends a batch: EVALSHA for every call, then EVAL for those the server did not
// know (it restarted, or is a new Cluster node). Only those: the others have run.
func (b *Batcher) exec(batch []*call) {
	// The callers' contexts are theirs to abandon; the pipeline is bounded by the
	// client's read and write timeouts instead, so that one caller's cancellation does
	// not fail the calls of the others.
	ctx := context.Background()
	_, _ = b.rdb.Pipelined(ctx, func(p goredis.Pipeliner) error {
		for _, c := range batch {
			c.cmd = c.script.EvalSha(ctx, p, c.keys, c.args...)
		}
		return nil
	})
	var missing []*call
	for _, c := range batch {
		if goredis.HasErrorPrefix(c.cmd.Err(), "NOSCRIPT") {
			missing = append(missing, c)
		}
	}
	if len(missing) > 0 {
		_, _ = b.rdb.Pipelined(ctx, func(p goredis.Pipeliner) error {
			for _, c := range missing {
				c.cmd = c.script.Eval(ctx, p, c.keys, c.args...)
			}
			return nil
		})
	}
	for _, c := range batch {
		close(c.done)
	}
}
