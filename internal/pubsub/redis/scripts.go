package redis

import (
	"context"
	_ "embed"
	"fmt"
	"strconv"
	"strings"

	goredis "github.com/redis/go-redis/v9"

	"github.com/rallyhq/rally/internal/pubsub"
	"github.com/rallyhq/rally/internal/pubsub/hub"
)

var (
	//go:embed lib.lua
	libSrc string
	//go:embed publish.lua
	publishSrc string
	//go:embed read.lua
	readSrc string

	// Redis scripts cannot import each other, so each carries its own copy of lib.lua.
	publishScript = goredis.NewScript(libSrc + "\n" + publishSrc)

	readScript = goredis.NewScript(libSrc + "\n" + readSrc)
)

// scriptCall is one script run, for runScripts.
type scriptCall struct {
	script *goredis.Script
	keys   []string
	args   []any
}

// runScripts runs calls in one pipeline (one round trip per node), after the commands
// that before adds, whose results are the caller's to check. Scripts run with EVALSHA;
// those a server does not know yet (it restarted, or this is a new node) run again with
// EVAL, which caches them. Only those: the others have run, and publishing twice would
// append twice. It returns the scripts' results and the first of their errors.
func runScripts(ctx context.Context, rdb goredis.UniversalClient, before func(goredis.Pipeliner), calls []scriptCall) ([]*goredis.Cmd, error) {
	cmds := make([]*goredis.Cmd, len(calls))
	// Errors are read from each command below.
	_, _ = rdb.Pipelined(ctx, func(p goredis.Pipeliner) error {
		if before != nil {
			before(p)
		}
		for i, c := range calls {
			cmds[i] = c.script.EvalSha(ctx, p, c.keys, c.args...)
		}
		return nil
	})
	var missing []int
	for i, c := range cmds {
		if goredis.HasErrorPrefix(c.Err(), "NOSCRIPT") {
			missing = append(missing, i)
		}
	}
	if len(missing) > 0 {
		_, _ = rdb.Pipelined(ctx, func(p goredis.Pipeliner) error {
			for _, i := range missing {
				cmds[i] = calls[i].script.Eval(ctx, p, calls[i].keys, calls[i].args...)
			}
			return nil
		})
	}
	for _, c := range cmds {
		if err := c.Err(); err != nil {
			return cmds, err
		}
	}
	return cmds, nil
}

// readReq asks for up to limit messages of topic after position after.
type readReq struct {
	topic string
	after uint64
	limit int
}

// readResult is what read.lua found: the topic's span, the entries, and the time on the
// stream's node (ms).
type readResult struct {
	span    hub.Span
	now     uint64
	entries []hub.Entry
}

// read runs read.lua for every request and reads the epoch, in one round trip. The
// epoch is read first on the same connection (in Cluster: the same pipeline), so if it
// is the broker's, the entries belong to that epoch: Redis cannot lose its data between
// the two without breaking the connection. The entries' cursors carry the epoch read;
// it is 0 if the key is missing.
func (b *Broker) read(ctx context.Context, reqs []readReq) (uint64, []readResult, error) {
	var get *goredis.StringCmd
	calls := make([]scriptCall, len(reqs))
	for i, r := range reqs {
		calls[i] = scriptCall{readScript, []string{b.streamKey(r.topic)}, []any{r.after, r.limit}}
	}
	cmds, err := runScripts(ctx, b.rdb, func(p goredis.Pipeliner) { get = p.Get(ctx, b.epochKey()) }, calls)
	if err != nil {
		return 0, nil, err
	}
	epoch, err := parseEpoch(get)
	if err != nil {
		return 0, nil, err
	}
	out := make([]readResult, len(reqs))
	for i, c := range cmds {
		if out[i], err = parseRead(c.Val(), epoch, reqs[i].topic); err != nil {
			return 0, nil, fmt.Errorf("reading %s: %w", b.streamKey(reqs[i].topic), err)
		}
	}
	return epoch, out, nil
}

// parseRead decodes read.lua's reply.
func parseRead(v any, epoch uint64, topic string) (readResult, error) {
	reply, ok := v.([]any)
	if !ok || len(reply) != 4 {
		return readResult{}, fmt.Errorf("unexpected reply %v", v)
	}
	last, ok1 := reply[0].(int64)
	rows, ok2 := reply[1].([]any)
	first, ok3 := reply[2].(int64)
	now, ok4 := reply[3].(int64)
	if !ok1 || !ok2 || !ok3 || !ok4 || last < 0 || first < 0 || first > last+1 || now <= 0 || (first == 0) != (last == 0) {
		return readResult{}, fmt.Errorf("unexpected reply %v", v)
	}
	res := readResult{span: hub.Span{First: uint64(first), Last: uint64(last)}, now: uint64(now), entries: make([]hub.Entry, 0, len(rows))}
	for _, row := range rows {
		e, err := parseEntry(row, epoch, topic, res.span.First)
		if err != nil {
			return readResult{}, err
		}
		res.entries = append(res.entries, e)
	}
	return res, nil
}

// parseEntry decodes one stream entry, {"0-<pos>", {"p", payload}}, of the life whose
// first entry is at position first.
func parseEntry(row any, epoch uint64, topic string, first uint64) (hub.Entry, error) {
	fields, ok := row.([]any)
	if !ok || len(fields) != 2 {
		return hub.Entry{}, fmt.Errorf("unexpected entry %v", row)
	}
	id, _ := fields[0].(string)
	kv, _ := fields[1].([]any)
	num, ok := strings.CutPrefix(id, "0-")
	pos, err := strconv.ParseUint(num, 10, 64)
	if !ok || err != nil || pos < first || len(kv) != 2 || kv[0] != "p" {
		return hub.Entry{}, fmt.Errorf("entry %v was not written by publish.lua", row)
	}
	payload, _ := kv[1].(string)
	return hub.Entry{Pos: pos, Msg: &pubsub.Message{
		Topic:   topic,
		Cursor:  hub.MessageCursor(epoch, topic, first, pos),
		Payload: []byte(payload),
	}}, nil
}
