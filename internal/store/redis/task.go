package redis

import (
	"context"
	_ "embed"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	goredis "github.com/redis/go-redis/v9"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"

	rallyv1 "github.com/rallyhq/rally/gen/go/rally/v1"
	"github.com/rallyhq/rally/internal/names"
	"github.com/rallyhq/rally/internal/store"
)

// Tasks are records like events (kind taskKind, tag "tk", indexed under {idx} by
// store.TaskIndexes), and their claims live under the task's hash tag {tk:<id>} (see
// task_lib.lua for the keys and the record format). Every claim write is one script that
// expires the due claims and decides against the task's state, deadline and limit: 300
// volunteers racing for the last places of a task with a limit of 50 get exactly 50.
//
//	<prefix>{tk:<id>}              HASH  one task: pb, rev, state, deadline_ms,
//	                                     max_claims, ttl_ms; claim_seq, claimed, completed
//	                                     (written by the claim scripts only)
//	<prefix>{tk:<id>}:claim…       the task's claims (task_lib.lua)
//	<prefix>{idx}:tk|…             ZSET  the task indexes (store.TaskIndexes)
//	<prefix>{idx}:m:tk:<id>        HASH  the index entries of one task

var (
	//go:embed task_lib.lua
	taskLibSrc string
	//go:embed task_claim.lua
	taskClaimSrc string
	//go:embed task_end.lua
	taskEndSrc string
	//go:embed task_expire.lua
	taskExpireSrc string

	taskClaimScript  = goredis.NewScript(taskLibSrc + "\n" + taskClaimSrc)
	taskEndScript    = goredis.NewScript(taskLibSrc + "\n" + taskEndSrc)
	taskExpireScript = goredis.NewScript(taskLibSrc + "\n" + taskExpireSrc)
)

var _ store.TaskStore = (*Store)(nil)

var taskKind = kind[*rallyv1.Task]{
	tag: "tk",
	new: func() *rallyv1.Task { return new(rallyv1.Task) },
	fields: func(t *rallyv1.Task) []any {
		// Plain copies for the claim scripts. ttl_ms is the effective TTL (the default
		// applied), so the scripts need not know it.
		return []any{
			"state", int32(t.GetState()),
			"deadline_ms", t.GetDeadline().AsTime().UnixMilli(),
			"max_claims", t.GetMaxConcurrentClaims(),
			"ttl_ms", store.ClaimTTL(t).Milliseconds(),
		}
	},
	key:     store.TaskKey,
	indexes: store.TaskIndexes,
	// The claim scripts keep the counts in these fields; cas.lua leaves them alone.
	// claimed is as of the last claim write: reads at a given time recount.
	derived: []string{"claimed", "completed"},
	fill: func(t *rallyv1.Task, vals []any) {
		t.Progress = &rallyv1.TaskProgress{Claimed: count(vals[0]), Completed: count(vals[1])}
	},
	strip: func(t *rallyv1.Task) { t.Progress = nil },
}

// taskKeys returns the KEYS of every claim script of a task, in the order that
// task_lib.lua documents.
func (s *Store) taskKeys(taskID string) []string {
	tk := s.recordKey("tk", taskID)
	return []string{tk, tk + ":claim", tk + ":claim:req", tk + ":claim:open", tk + ":claim:all"}
}

// Task and claim IDs in keys, as eventIDOf and rsvpID.
var (
	taskIDOf = names.Task
	claimID  = names.Claim
)

// openSince is the ZCOUNT lower bound of the claims open at now: expiring after it.
func openSince(now time.Time) string { return "(" + nowArg(now) }

// CreateTask implements store.TaskStore.
func (s *Store) CreateTask(ctx context.Context, t *rallyv1.Task) error {
	if _, ok := taskIDOf(t.GetName()); !ok {
		return fmt.Errorf("store: malformed task name %q", t.GetName())
	}
	return create(ctx, s, taskKind, t)
}

// GetTask implements store.TaskStore: the record and the count of claims open at now,
// in one MULTI (both keys are in the task's slot).
func (s *Store) GetTask(ctx context.Context, name string, now time.Time) (*rallyv1.Task, error) {
	id, ok := taskIDOf(name)
	if !ok {
		return nil, store.NotFoundError(name)
	}
	keys := s.taskKeys(id)
	pipe := s.rdb.TxPipeline()
	hm := pipe.HMGet(ctx, keys[0], append([]string{"pb"}, taskKind.derived...)...)
	zc := pipe.ZCount(ctx, keys[3], openSince(now), "+inf")
	if _, err := pipe.Exec(ctx); err != nil {
		return nil, fmt.Errorf("reading %s: %w", name, err)
	}
	vals := hm.Val()
	t, ok, err := decode(taskKind, vals[0], vals[1:])
	if err != nil {
		return nil, fmt.Errorf("decoding %s: %w", name, err)
	}
	if !ok {
		return nil, store.NotFoundError(name)
	}
	t.Progress.Claimed = int32(zc.Val())
	return t, nil
}

// ListTasks implements store.TaskStore: one ZRANGE BYLEX of the query's index, then one
// pipeline of a record read and an open-claim count per task. Entries are verified like
// those of the event list: a stale one is dropped.
func (s *Store) ListTasks(ctx context.Context, q store.TaskQuery) (store.Page[*rallyv1.Task], error) {
	r, err := q.Range()
	if err != nil {
		return store.Page[*rallyv1.Task]{}, err
	}
	load := func(ctx context.Context, keys []string) ([]*rallyv1.Task, error) {
		pipe := s.rdb.Pipeline()
		hms := make([]*goredis.SliceCmd, len(keys))
		zcs := make([]*goredis.IntCmd, len(keys))
		fields := append([]string{"pb"}, taskKind.derived...)
		for i, key := range keys {
			tk := s.taskKeys(store.KeyID(key))
			hms[i] = pipe.HMGet(ctx, tk[0], fields...)
			zcs[i] = pipe.ZCount(ctx, tk[3], openSince(q.Now), "+inf")
		}
		_, _ = pipe.Exec(ctx) // errors are looked at per command
		items := make([]*rallyv1.Task, 0, len(keys))
		for i, key := range keys {
			vals, err := hms[i].Result()
			if err != nil {
				return nil, fmt.Errorf("reading tk:%s: %w", store.KeyID(key), err)
			}
			claimed, err := zcs[i].Result()
			if err != nil {
				return nil, fmt.Errorf("reading the claims of tk:%s: %w", store.KeyID(key), err)
			}
			t, ok, err := decode(taskKind, vals[0], vals[1:])
			if err != nil {
				return nil, fmt.Errorf("decoding tk:%s: %w", store.KeyID(key), err)
			}
			if !ok || store.TaskKey(t) != key || !q.Matches(t) {
				continue // a stale entry
			}
			t.Progress.Claimed = int32(claimed)
			items = append(items, t)
		}
		return items, nil
	}
	return store.ReadPage(ctx, r, q.PageSize, s.scan, load)
}

// UpdateTask implements store.TaskStore with the generic compare-and-set update. The
// progress passed to mutate and returned is the one read (as of the last claim write).
func (s *Store) UpdateTask(ctx context.Context, name string, mutate func(*rallyv1.Task) error) (*rallyv1.Task, error) {
	if _, ok := taskIDOf(name); !ok {
		return nil, store.NotFoundError(name)
	}
	var progress *rallyv1.TaskProgress
	t, err := update(ctx, s, taskKind, name, func(t *rallyv1.Task) error {
		progress = proto.Clone(t.GetProgress()).(*rallyv1.TaskProgress)
		return mutate(t)
	})
	if err != nil {
		return nil, err
	}
	// The deadline or the claim TTL may have moved, and with them when the claims go.
	id, _ := taskIDOf(name)
	if err := taskExpireScript.Run(ctx, s.rdb, s.taskKeys(id), s.rsvpRetention.Milliseconds()).Err(); err != nil {
		return nil, fmt.Errorf("moving the deletion time of the claims of %s: %w", name, err)
	}
	t.Progress = progress
	return t, nil
}

// runClaim runs a claim write script of the task with now and then args, and decodes its
// reply. A status other than ok or replay becomes the matching store error, about name.
func (s *Store) runClaim(ctx context.Context, script *goredis.Script, taskID, name string, now time.Time, args ...any) (status string, c *rallyv1.Claim, sealed []byte, err error) {
	args = append([]any{nowArg(now), s.rsvpRetention.Milliseconds()}, args...)
	res, err := script.Run(ctx, s.rdb, s.taskKeys(taskID), args...).Slice()
	if err != nil {
		return "", nil, nil, fmt.Errorf("writing %s: %w", name, err)
	}
	status, _ = res[0].(string)
	switch status {
	case "ok", "replay":
	case "nf":
		return "", nil, nil, store.NotFoundError(name)
	case "closed":
		return "", nil, nil, fmt.Errorf("%w: %s", store.ErrTaskClosed, name)
	case "noroom":
		return "", nil, nil, fmt.Errorf("%w: %s", store.ErrNoRoom, name)
	case "notopen":
		return "", nil, nil, fmt.Errorf("%w: %s", store.ErrClaimNotOpen, name)
	case "exists":
		return "", nil, nil, store.AlreadyExistsError(name)
	default:
		return "", nil, nil, fmt.Errorf("store: unexpected reply %q of a claim script about %s", status, name)
	}
	if len(res) != 8 {
		return "", nil, nil, fmt.Errorf("writing %s: the script returned %d values", name, len(res))
	}
	c, _, err = decodeClaim(res[1:7], now)
	if err != nil {
		return "", nil, nil, fmt.Errorf("decoding %s: %w", name, err)
	}
	sealedStr, _ := res[7].(string)
	return status, c, []byte(sealedStr), nil
}

// claimFields are the fields of the claim hash that make one claim, in the order of
// task_lib.lua's view().
func claimFields(id string) []string {
	return []string{id, id + ":s", id + ":t", id + ":p", id + ":n", id + ":e"}
}

// decodeClaim builds a claim from its view ({pb, plain record, token hash, proof URL,
// note, completion envelope}) as seen at now: an open claim past its time is EXPIRED even before a write has
// marked it so. A missing claim (nil pb or plain record) is nil, without error.
func decodeClaim(v []any, now time.Time) (*rallyv1.Claim, []byte, error) {
	pb, ok1 := v[0].(string)
	plain, ok2 := v[1].(string)
	if !ok1 || !ok2 {
		return nil, nil, nil
	}
	th, _ := v[2].(string)
	proof, _ := v[3].(string)
	note, _ := v[4].(string)
	sealed, _ := v[5].(string)
	c := new(rallyv1.Claim)
	if err := proto.Unmarshal([]byte(pb), c); err != nil {
		return nil, nil, err
	}
	if sealed != "" {
		c.CompletionEnvelope = new(rallyv1.Envelope)
		if err := proto.Unmarshal([]byte(sealed), c.CompletionEnvelope); err != nil {
			return nil, nil, err
		}
	}
	f := strings.Split(plain, ":")
	if len(f) != 3 {
		return nil, nil, fmt.Errorf("malformed claim record %q", plain)
	}
	state, err1 := strconv.ParseInt(f[0], 10, 32)
	exp, err2 := strconv.ParseInt(f[1], 10, 64)
	if err := errors.Join(err1, err2); err != nil {
		return nil, nil, fmt.Errorf("malformed claim record %q: %w", plain, err)
	}
	c.State = rallyv1.ClaimState(state)
	c.ExpireTime = timestamppb.New(time.UnixMilli(exp))
	c.ProofUrl, c.Note = proof, note
	if c.State == rallyv1.ClaimState_CLAIM_STATE_CLAIMED && exp <= now.UnixMilli() {
		c.State = rallyv1.ClaimState_CLAIM_STATE_EXPIRED
	}
	return c, []byte(th), nil
}

// claimPB encodes what pb keeps of a claim: everything but what the scripts own (state,
// expire_time, proof_url, note, completion_envelope).
func claimPB(c *rallyv1.Claim) ([]byte, error) {
	c = proto.Clone(c).(*rallyv1.Claim)
	c.State, c.ExpireTime, c.ProofUrl, c.Note, c.CompletionEnvelope = 0, nil, "", "", nil
	return marshal.Marshal(c)
}

// ClaimTask implements store.TaskStore with one task_claim.lua.
func (s *Store) ClaimTask(ctx context.Context, task string, n store.NewClaim, now time.Time) (store.CreatedClaim, error) {
	taskID, ok := taskIDOf(task)
	if !ok {
		return store.CreatedClaim{}, store.NotFoundError(task)
	}
	name := n.Claim.GetName()
	if t, id, ok := claimID(name); !ok || t != taskID || len(id) > 64 || len(n.TokenHash) == 0 {
		return store.CreatedClaim{}, fmt.Errorf("store: claim %q is not one of %s, or has no token hash", name, task)
	}
	pb, err := claimPB(n.Claim)
	if err != nil {
		return store.CreatedClaim{}, fmt.Errorf("encoding %s: %w", name, err)
	}
	status, c, sealed, err := s.runClaim(ctx, taskClaimScript, taskID, task, now,
		store.ID(name), pb, n.TokenHash, n.RequestKey, n.SealedToken)
	if err != nil {
		return store.CreatedClaim{}, err
	}
	return store.CreatedClaim{Claim: c, Replayed: status == "replay", SealedToken: sealed}, nil
}

// GetClaim implements store.TaskStore with one HMGET.
func (s *Store) GetClaim(ctx context.Context, name string, now time.Time) (*rallyv1.Claim, []byte, error) {
	taskID, id, ok := claimID(name)
	if !ok {
		return nil, nil, store.NotFoundError(name)
	}
	vals, err := s.rdb.HMGet(ctx, s.taskKeys(taskID)[1], claimFields(id)...).Result()
	if err != nil {
		return nil, nil, fmt.Errorf("reading %s: %w", name, err)
	}
	c, th, err := decodeClaim(vals, now)
	if err != nil {
		return nil, nil, fmt.Errorf("decoding %s: %w", name, err)
	}
	if c == nil {
		return nil, nil, store.NotFoundError(name)
	}
	return c, th, nil
}

// CompleteClaim implements store.TaskStore with one task_end.lua.
func (s *Store) CompleteClaim(ctx context.Context, name string, done store.Completion, now time.Time) (*rallyv1.Claim, error) {
	return s.endClaim(ctx, name, rallyv1.ClaimState_CLAIM_STATE_COMPLETED, done, now)
}

// ReleaseClaim implements store.TaskStore with one task_end.lua.
func (s *Store) ReleaseClaim(ctx context.Context, name string, now time.Time) (*rallyv1.Claim, error) {
	return s.endClaim(ctx, name, rallyv1.ClaimState_CLAIM_STATE_RELEASED, store.Completion{}, now)
}

// endClaim moves an open claim to state (COMPLETED or RELEASED).
func (s *Store) endClaim(ctx context.Context, name string, state rallyv1.ClaimState, done store.Completion, now time.Time) (*rallyv1.Claim, error) {
	taskID, id, ok := claimID(name)
	if !ok {
		return nil, store.NotFoundError(name)
	}
	var sealed []byte
	if done.Envelope != nil {
		var err error
		if sealed, err = marshal.Marshal(done.Envelope); err != nil {
			return nil, fmt.Errorf("encoding %s: %w", name, err)
		}
	}
	_, c, _, err := s.runClaim(ctx, taskEndScript, taskID, name, now, id, int32(state), done.ProofURL, done.Note, sealed)
	return c, err
}

// ListClaims implements store.TaskStore: one ZRANGE BYLEX of the task's claim index, then
// one HMGET of the page's claims (one hash, in the task's slot).
func (s *Store) ListClaims(ctx context.Context, task string, pageSize int, pageToken string, now time.Time) (store.Page[*rallyv1.Claim], error) {
	r, err := store.ClaimRange(task, pageToken)
	if err != nil {
		return store.Page[*rallyv1.Claim]{}, err
	}
	taskID, ok := taskIDOf(task)
	if !ok {
		return store.Page[*rallyv1.Claim]{}, nil
	}
	keys := s.taskKeys(taskID)
	scan := func(ctx context.Context, r store.Range, limit int) ([]string, error) {
		return s.scanKey(ctx, keys[4], r, limit)
	}
	load := func(ctx context.Context, ks []string) ([]*rallyv1.Claim, error) {
		fields := make([]string, 0, 5*len(ks))
		for _, k := range ks {
			fields = append(fields, claimFields(store.KeyID(k))...)
		}
		vals, err := s.rdb.HMGet(ctx, keys[1], fields...).Result()
		if err != nil {
			return nil, fmt.Errorf("reading the claims of %s: %w", task, err)
		}
		items := make([]*rallyv1.Claim, 0, len(ks))
		for i := range ks {
			c, _, err := decodeClaim(vals[6*i:6*i+6], now)
			if err != nil {
				return nil, fmt.Errorf("decoding a claim of %s: %w", task, err)
			}
			if c != nil {
				items = append(items, c)
			}
		}
		return items, nil
	}
	return store.ReadPage(ctx, r, pageSize, scan, load)
}
