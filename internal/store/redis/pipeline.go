package redis

import (
	"context"
	"sync"

	goredis "github.com/redis/go-redis/v9"
)

// autoPipeline sends the FCALLs of concurrent callers together: while a batch is in
// flight, the calls that arrive queue up, and go as one pipeline (one write, one read
// of the replies) when it returns. A caller that finds no batch in flight sends its
// call at once, alone, so an idle store adds no latency; under load, many calls share
// one round trip.
//
// Why (issue 19): unpipelined, every call costs redis-server a read and a write
// syscall and an event-loop turn (about 4 µs of its CPU on the machine of
// docs/performance.md, against under 1 µs per call in pipelines of 8), and rallyd a
// pool checkout, a write and a read. Clients like rueidis pipeline every command this
// way, but switching clients for the RSVP calls alone is not worth a second Redis
// client and its configuration; this covers the one call site, rsvpFunc.Run.
//
// A Cluster client's pipeline sends each command to the node of its first key (FCALL's
// is its first KEYS entry, which go-redis's FCall sets), so a batch may span nodes;
// each command still runs on its own slot's node, and the scripts touch one slot.
//
// Calls are independent: each gets its own reply or error, and a caller whose context
// ends stops waiting and gets its context's error. A call that is still queued then is
// never sent; one already sent may still run, as a single FCALL whose reply was lost
// would (the scripts recognise a resent create by ID and token or request key).
type autoPipeline struct {
	rdb goredis.UniversalClient
	// maxInFlight batches may be in flight at once: a second lets Redis work on one
	// batch while the next one's replies are read and the one after gathered.
	maxInFlight int
	maxBatch    int // calls per batch at most

	mu       sync.Mutex
	inFlight int
	queue    []*pipelinedCall
}

// pipelinedCall is one queued FCALL. done is closed once cmd holds its reply.
type pipelinedCall struct {
	ctx      context.Context
	function string
	keys     []string
	args     []any
	cmd      *goredis.Cmd
	gone     bool // its caller stopped waiting before it was sent (under mu)
	done     chan struct{}
}

func newAutoPipeline(rdb goredis.UniversalClient) *autoPipeline {
	return &autoPipeline{rdb: rdb, maxInFlight: 2, maxBatch: 128}
}

// FCall runs FCALL function with keys and args, in a batch with other callers' calls
// when some are in flight.
func (p *autoPipeline) FCall(ctx context.Context, function string, keys []string, args ...any) *goredis.Cmd {
	p.mu.Lock()
	if p.inFlight < p.maxInFlight && len(p.queue) == 0 {
		// Nothing to wait for: the call goes now, alone, as it would without batching,
		// and ends with its caller's context.
		p.inFlight++
		p.mu.Unlock()
		cmd := p.rdb.FCall(ctx, function, keys, args...)
		p.mu.Lock()
		if batch := p.take(); len(batch) > 0 {
			go p.run(batch) // what queued meanwhile; this caller returns with its reply
		} else {
			p.inFlight--
		}
		p.mu.Unlock()
		return cmd
	}
	c := &pipelinedCall{ctx: ctx, function: function, keys: keys, args: args, done: make(chan struct{})}
	p.queue = append(p.queue, c)
	if p.inFlight < p.maxInFlight {
		p.inFlight++
		go p.run(p.take())
	}
	p.mu.Unlock()
	select {
	case <-c.done:
		return c.cmd
	case <-ctx.Done():
		p.mu.Lock()
		c.gone = true
		p.mu.Unlock()
		cmd := goredis.NewCmd(ctx, "fcall", function)
		cmd.SetErr(ctx.Err())
		return cmd
	}
}

// FunctionLoad is the client's.
func (p *autoPipeline) FunctionLoad(ctx context.Context, code string) *goredis.StringCmd {
	return p.rdb.FunctionLoad(ctx, code)
}

// take removes up to maxBatch calls from the queue, dropping those whose callers have
// gone. Called with mu held.
func (p *autoPipeline) take() []*pipelinedCall {
	n := 0
	var batch []*pipelinedCall
	for n < len(p.queue) && len(batch) < p.maxBatch {
		c := p.queue[n]
		n++
		if !c.gone {
			batch = append(batch, c)
		}
	}
	rest := copy(p.queue, p.queue[n:])
	clear(p.queue[rest:])
	p.queue = p.queue[:rest]
	return batch
}

// run sends batch, then whatever queued while it was in flight, until the queue is
// empty; it holds one of the in-flight places (inFlight) until then.
func (p *autoPipeline) run(batch []*pipelinedCall) {
	for len(batch) > 0 {
		p.send(batch)
		p.mu.Lock()
		batch = p.take()
		if len(batch) == 0 {
			p.inFlight--
		}
		p.mu.Unlock()
	}
}

// send runs batch as one pipeline and hands every call its reply. The pipeline does not
// end with any one caller's context: the others still wait for their replies (the
// client's read and write timeouts bound the wait).
func (p *autoPipeline) send(batch []*pipelinedCall) {
	pipe := p.rdb.Pipeline()
	for _, c := range batch {
		c.cmd = pipe.FCall(c.ctx, c.function, c.keys, c.args...)
	}
	_, _ = pipe.Exec(context.WithoutCancel(batch[0].ctx)) // each command holds its error
	for _, c := range batch {
		close(c.done)
	}
}
