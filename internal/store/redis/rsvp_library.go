package redis

import (
	"context"
	"crypto/sha1"
	"encoding/hex"
	"fmt"
	"strings"
	"sync"

	goredis "github.com/redis/go-redis/v9"

	pubsubredis "github.com/rallyhq/rally/internal/pubsub/redis"
)

// The RSVP scripts run as Redis Functions (Redis 7): one library holds rsvp_lib.lua, the
// change broker's publish library and every RSVP script, each as the body of a
// function. Loading the library defines the helpers once per server; EVALSHA of a script
// with the helpers prepended ran all their definitions again on every call and left
// them to Lua's collector: about 3 µs of Redis CPU per call on the machine of
// docs/performance.md (issue 19).
//
// The library's name and its functions' names end in a hash of its source, so that
// replicas of two Rally versions sharing one Redis (a rolling upgrade) each call their
// own code; Redis function names are global across libraries, hence the hash in every
// one of them. A server that does not have the library (restarted without persistence,
// a new Cluster node, a failover to an empty replica) answers FCALL with "Function not
// found" without running anything: rsvpFunc.Run then loads the library and calls again.

// rsvpFunc is one RSVP script of the library.
type rsvpFunc struct{ base string }

var (
	rsvpFuncsMu sync.Mutex
	rsvpFuncs   []rsvpFuncSrc // in the order they were declared
	rsvpLib     struct {
		once   sync.Once
		src    string // the library, as FUNCTION LOAD takes it
		suffix string // of the library's and every function's name
	}
)

type rsvpFuncSrc struct{ base, src string }

// suffixMark stands for the suffix in the library's text until it is known.
const suffixMark = "@SUFFIX@"

// functionCaller is what calls and loads functions: a client or a Cluster client.
type functionCaller interface {
	FCall(ctx context.Context, function string, keys []string, args ...any) *goredis.Cmd
	FunctionLoad(ctx context.Context, code string) *goredis.StringCmd
}

// rsvpScript declares an RSVP script (package initialisation only) under a base name
// that is unique in the library.
func rsvpScript(base, src string) *rsvpFunc {
	rsvpFuncsMu.Lock()
	defer rsvpFuncsMu.Unlock()
	rsvpFuncs = append(rsvpFuncs, rsvpFuncSrc{base, src})
	return &rsvpFunc{base}
}

// library returns the library's source and the suffix of its names, built once.
func library() (src, suffix string) {
	rsvpLib.once.Do(func() {
		rsvpFuncsMu.Lock()
		defer rsvpFuncsMu.Unlock()
		var body strings.Builder
		body.WriteString(rsvpLibSrc)
		body.WriteString("\n")
		body.WriteString(pubsubredis.ScriptLua())
		body.WriteString("\n")
		for _, f := range rsvpFuncs {
			// The script's text is the function's body: its locals and returns are the
			// call's. The suffix goes in once the body is hashed.
			fmt.Fprintf(&body, "redis.register_function('%s_%s', function(keys, argv)\nbegin(keys, argv)\n%s\nend)\n", f.base, suffixMark, f.src)
		}
		sum := sha1.Sum([]byte(body.String()))
		rsvpLib.suffix = hex.EncodeToString(sum[:8])
		rsvpLib.src = "#!lua name=rally_rsvp_" + rsvpLib.suffix + "\n" + strings.ReplaceAll(body.String(), suffixMark, rsvpLib.suffix)
	})
	return rsvpLib.src, rsvpLib.suffix
}

// Name is the function's name in Redis.
func (f *rsvpFunc) Name() string {
	_, suffix := library()
	return f.base + "_" + suffix
}

// Run calls the function with FCALL, loading the library first if the server lacks it.
// The Store's rdb is its autoPipeline (pipeline.go), so concurrent calls share round
// trips; a call that finds the function missing reloads and calls again on its own.
func (f *rsvpFunc) Run(ctx context.Context, rdb functionCaller, keys []string, args ...any) *goredis.Cmd {
	cmd := rdb.FCall(ctx, f.Name(), keys, args...)
	if !isFunctionNotFound(cmd.Err()) {
		return cmd
	}
	if err := loadLibrary(ctx, rdb); err != nil {
		cmd.SetErr(fmt.Errorf("loading the RSVP functions: %w", err))
		return cmd
	}
	return rdb.FCall(ctx, f.Name(), keys, args...)
}

func isFunctionNotFound(err error) bool {
	return err != nil && strings.Contains(err.Error(), "Function not found")
}

// loadLibrary loads the library into rdb's server, or every master of a Cluster (which
// node lacks it is not worth finding out: this happens once per node and version). A
// library that is there already (another replica loaded it meanwhile) is fine.
func loadLibrary(ctx context.Context, rdb functionCaller) error {
	src, _ := library()
	load := func(ctx context.Context, c functionCaller) error {
		err := c.FunctionLoad(ctx, src).Err()
		if err != nil && strings.Contains(err.Error(), "already exists") {
			return nil
		}
		return err
	}
	if p, ok := rdb.(*autoPipeline); ok {
		rdb = p.rdb
	}
	if c, ok := rdb.(*goredis.ClusterClient); ok {
		return c.ForEachMaster(ctx, func(ctx context.Context, m *goredis.Client) error { return load(ctx, m) })
	}
	return load(ctx, rdb)
}
