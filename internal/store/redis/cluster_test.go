package redis

import (
	"context"
	"crypto/sha1"
	"encoding/hex"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	goredis "github.com/redis/go-redis/v9"

	pubsubredis "github.com/rallyhq/rally/internal/pubsub/redis"
	"github.com/rallyhq/rally/internal/redistest"
	"github.com/rallyhq/rally/internal/store"
	"github.com/rallyhq/rally/internal/store/storetest"
)

// TestCluster runs the store on a three-master Redis Cluster, where a command, script or
// MULTI whose keys are in several slots fails with CROSSSLOT, and a pipeline is split
// over the nodes. The subtests share one Cluster (it takes seconds to form), each store
// under a prefix of its own.
func TestCluster(t *testing.T) {
	t.Parallel()
	c := redistest.StartCluster(t)
	scripts := &scriptRecorder{}
	c.Client().AddHook(scripts)
	var n atomic.Int64
	prefix := func() string { return fmt.Sprintf("cl%d:", n.Add(1)) }
	var published *Store // with the change broker's publish_change in rsvp_create.lua

	// group returns once its parallel subtests are done, so that the checks below see
	// every script they ran.
	t.Run("group", func(t *testing.T) {
		t.Run("Conformance", func(t *testing.T) {
			t.Parallel()
			// A retention that keeps the suite's RSVPs, as in TestConformance.
			retention := time.Since(base) + 365*24*time.Hour
			storetest.Run(t, func(t *testing.T) store.Store {
				return New(c.Client(), prefix(), WithRSVPRetention(retention))
			})
		})
		t.Run("RSVPConcurrentCreates", func(t *testing.T) {
			t.Parallel()
			testRSVPConcurrentCreates(t, New(c.Client(), prefix()))
		})
		t.Run("PublishedRSVPCreate", func(t *testing.T) {
			t.Parallel()
			published = testPublishedRSVPCreate(t, c.Client(), prefix())
		})
	})

	// Every script ran on the Cluster, and with keys of one hash tag only: the rule that
	// lets a script run at all on a Cluster, checked here even for keys that happen to
	// share a slot by chance.
	if t.Failed() {
		return
	}
	s := New(c.Client(), "unused:")
	// Scripts by SHA-1, functions (the RSVP library's) by name: what EVALSHA and FCALL name.
	for name, called := range map[string]string{
		"create.lua":                          createScript.Hash(),
		"cas.lua":                             casScript.Hash(),
		"index.lua":                           indexScript.Hash(),
		"rsvp_create.lua":                     s.createScript.Name(),
		"rsvp_create.lua with publish_change": published.createScript.Name(),
		"rsvp_update.lua":                     rsvpUpdateScript.Name(),
		"rsvp_cancel.lua":                     rsvpCancelScript.Name(),
		"rsvp_checkin.lua":                    rsvpCheckInScript.Name(),
		"rsvp_rebalance.lua":                  rsvpRebalanceScript.Name(),
		"rsvp_read.lua":                       rsvpReadScript.Name(),
		"rsvp_buddy_code.lua":                 rsvpBuddyCodeScript.Name(),
		"rsvp_buddy_join.lua":                 rsvpBuddyJoinScript.Name(),
		"rsvp_buddy.lua":                      rsvpBuddyScript.Name(),
		"rsvp_checkout.lua":                   rsvpCheckOutScript.Name(),
		"rsvp_delete.lua":                     rsvpDeleteScript.Name(),
		"task_claim.lua":                      taskClaimScript.Hash(),
		"task_end.lua":                        taskEndScript.Hash(),
		"task_expire.lua":                     taskExpireScript.Hash(),
	} {
		if scripts.runs(called) == 0 {
			t.Errorf("%s never ran on the Cluster", name)
		}
	}
	for _, bad := range scripts.crossTag() {
		t.Errorf("a script ran with keys of several hash tags: %v", bad)
	}
}

// testPublishedRSVPCreate creates an RSVP with a store that appends the change for the
// event's watchers in the same script, as rallyd's does, and returns the store. The
// script then writes the event's keys and its topic's stream, which must share a slot,
// and PUBLISHes on a channel that the broker may be subscribed to on another node.
func testPublishedRSVPCreate(t *testing.T, rdb goredis.UniversalClient, prefix string) *Store {
	ctx := t.Context()
	b, err := pubsubredis.New(ctx, rdb, prefix, pubsubredis.WithTopicTag(TopicTag))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { b.Close() })
	s := New(rdb, prefix, WithChanges(b.InScript()))
	futureEvent(t, s, "pub", 10)
	sub, err := b.Subscribe(ctx, "events/pub", "")
	if err != nil {
		t.Fatal(err)
	}
	defer sub.Close()
	n := storetest.NewRSVP("pub", "r1", 2)
	n.Change = &store.Publication{Topic: "events/pub", Payload: []byte("change of r1")}
	created, err := s.CreateRSVP(ctx, "events/pub", n, time.Now())
	if err != nil || created.Unpublished != nil {
		t.Fatalf("CreateRSVP = %+v, %v; want it published", created, err)
	}
	select {
	case m := <-sub.C():
		if string(m.Payload) != "change of r1" {
			t.Errorf("the watcher got %q", m.Payload)
		}
	case <-time.After(5 * time.Second):
		t.Fatalf("the change did not arrive: %v", sub.Err())
	}
	return s
}

// scriptRecorder is a go-redis hook that records the script calls: their SHA-1 (or a
// function's name) and whether all their keys share one hash tag.
type scriptRecorder struct {
	mu    sync.Mutex
	count map[string]int
	cross [][]string
}

func (r *scriptRecorder) record(cmd goredis.Cmder) {
	args := cmd.Args()
	name := strings.ToLower(cmd.Name())
	if (name != "eval" && name != "evalsha" && name != "eval_ro" && name != "evalsha_ro" && name != "fcall") || len(args) < 3 {
		return
	}
	sha := fmt.Sprint(args[1])
	if strings.HasPrefix(name, "eval") && !strings.HasPrefix(name, "evalsha") {
		sum := sha1.Sum([]byte(sha))
		sha = hex.EncodeToString(sum[:])
	}
	numKeys, _ := strconv.Atoi(fmt.Sprint(args[2]))
	keys := make([]string, 0, numKeys)
	for _, k := range args[3:min(len(args), 3+numKeys)] {
		keys = append(keys, fmt.Sprint(k))
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.count == nil {
		r.count = map[string]int{}
	}
	r.count[sha]++
	for _, k := range keys[1:] {
		if hashTag(k) != hashTag(keys[0]) {
			r.cross = append(r.cross, keys)
			break
		}
	}
}

func (r *scriptRecorder) runs(sha string) int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.count[sha]
}

func (r *scriptRecorder) crossTag() [][]string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.cross
}

func (r *scriptRecorder) DialHook(next goredis.DialHook) goredis.DialHook { return next }

func (r *scriptRecorder) ProcessHook(next goredis.ProcessHook) goredis.ProcessHook {
	return func(ctx context.Context, cmd goredis.Cmder) error {
		r.record(cmd)
		return next(ctx, cmd)
	}
}

func (r *scriptRecorder) ProcessPipelineHook(next goredis.ProcessPipelineHook) goredis.ProcessPipelineHook {
	return func(ctx context.Context, cmds []goredis.Cmder) error {
		for _, cmd := range cmds {
			r.record(cmd)
		}
		return next(ctx, cmds)
	}
}

// hashTag is what Redis Cluster hashes of key: the part between the first '{' and the
// first '}' after it, if not empty; otherwise the whole key.
func hashTag(key string) string {
	if i := strings.IndexByte(key, '{'); i >= 0 {
		if j := strings.IndexByte(key[i+1:], '}'); j > 0 {
			return key[i+1 : i+1+j]
		}
	}
	return key
}
