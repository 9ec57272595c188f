package redis

import (
	"errors"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	goredis "github.com/redis/go-redis/v9"
	"google.golang.org/protobuf/types/known/timestamppb"

	rallyv1 "github.com/rallyhq/rally/gen/go/rally/v1"
	"github.com/rallyhq/rally/internal/redistest"
	"github.com/rallyhq/rally/internal/store"
	"github.com/rallyhq/rally/internal/store/storetest"
)

// TestTaskKeys: every key of a task and its claims carries the prefix and the task's
// hash tag, except the index entries under {idx}; the task hash holds the plain fields
// the claim scripts decide on.
func TestTaskKeys(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	rdb := redistest.Start(t).Client()
	s := New(rdb, "tenant-t:", WithRSVPRetention(farRetention()))
	if err := s.CreateTask(ctx, storetest.Task("x", base.Add(24*time.Hour),
		storetest.TaskFor("e"), storetest.InLanguages("en", "kk"), storetest.WithMaxClaims(5), storetest.WithClaimTTL(time.Hour))); err != nil {
		t.Fatal(err)
	}
	a := storetest.NewClaim("x", "a")
	a.RequestKey, a.SealedToken = "rk", []byte("sealed")
	if _, err := s.ClaimTask(ctx, "tasks/x", a, base); err != nil {
		t.Fatal(err)
	}
	if _, err := s.ClaimTask(ctx, "tasks/x", storetest.NewClaim("x", "b"), base); err != nil {
		t.Fatal(err)
	}
	if _, err := s.CompleteClaim(ctx, "tasks/x/claims/a", store.Completion{ProofURL: "https://example.org/p", Note: "n"}, base); err != nil {
		t.Fatal(err)
	}
	if _, err := s.UpdateTask(ctx, "tasks/x", func(t *rallyv1.Task) error {
		storetest.ClosedTask(t)
		return nil
	}); err != nil {
		t.Fatal(err)
	}

	keys, err := rdb.Keys(ctx, "*").Result()
	if err != nil {
		t.Fatal(err)
	}
	var claimKeys []string
	for _, k := range keys {
		rest, ok := strings.CutPrefix(k, "tenant-t:")
		switch {
		case !ok:
			t.Errorf("key %q lacks the prefix", k)
		case strings.HasPrefix(rest, "{tk:x}"):
			if strings.Contains(rest, "claim") {
				claimKeys = append(claimKeys, rest)
			}
		case strings.HasPrefix(rest, "{idx}:tk|") || rest == "{idx}:m:tk:x":
		default:
			t.Errorf("key %q is neither the task's ({tk:x}) nor a task index ({idx}:tk|…)", k)
		}
	}
	slices.Sort(claimKeys)
	if want := []string{"{tk:x}:claim", "{tk:x}:claim:all", "{tk:x}:claim:open", "{tk:x}:claim:req"}; !slices.Equal(claimKeys, want) {
		t.Errorf("claim keys %v, want %v", claimKeys, want)
	}
	got, err := rdb.HGetAll(ctx, "tenant-t:{tk:x}").Result()
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]string{
		"state":       "2",
		"deadline_ms": strconv.FormatInt(base.Add(24*time.Hour).UnixMilli(), 10),
		"max_claims":  "5",
		"ttl_ms":      "3600000",
		"claim_seq":   "2",
		"claimed":     "1",
		"completed":   "1",
		"rev":         "2",
	}
	for f, v := range want {
		if got[f] != v {
			t.Errorf("task field %s = %q, want %q", f, got[f], v)
		}
	}
	if n := len(store.TaskIndexes(storetest.Task("x", base, storetest.TaskFor("e"), storetest.InLanguages("en", "kk")))); n != 8*3*2 {
		t.Errorf("%d index entries for a task with campaign, event, kind and 2 languages, want 48", n)
	}
}

// TestClaimScriptsRunTwice: go-redis resends a command when the connection breaks before
// the reply, so a claim script can run twice with the same arguments. The second run
// must count nothing and answer like the first.
func TestClaimScriptsRunTwice(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	s, rdb := newStore(t)
	if err := s.CreateTask(ctx, storetest.Task("x", base.Add(24*time.Hour), storetest.WithMaxClaims(10))); err != nil {
		t.Fatal(err)
	}
	keys := s.taskKeys("x")
	withKey := storetest.NewClaim("x", "keyed")
	withKey.RequestKey, withKey.SealedToken = "request-key", []byte("sealed\x00token")
	noKey := storetest.NewClaim("x", "plain")
	for _, n := range []store.NewClaim{withKey, noKey} {
		pb, err := claimPB(n.Claim)
		if err != nil {
			t.Fatal(err)
		}
		args := []any{nowArg(base), farRetention().Milliseconds(), store.ID(n.Claim.GetName()), pb, n.TokenHash, n.RequestKey, n.SealedToken}
		first, err := taskClaimScript.Run(ctx, rdb, keys, args...).Slice()
		if err != nil {
			t.Fatal(err)
		}
		second, err := taskClaimScript.Run(ctx, rdb, keys, args...).Slice()
		if err != nil {
			t.Fatal(err)
		}
		if first[0] != "ok" || !reflect.DeepEqual(first, second) {
			t.Errorf("%s: first run %q, second %q; want the same ok", n.Claim.GetName(), first, second)
		}
	}
	for range 2 {
		res, err := taskEndScript.Run(ctx, rdb, keys, nowArg(base), farRetention().Milliseconds(), "keyed", int32(rallyv1.ClaimState_CLAIM_STATE_COMPLETED), "https://example.org/p", "note", "").Slice()
		if err != nil || res[0] != "ok" {
			t.Fatalf("complete: %v, %v", res, err)
		}
	}
	for range 2 {
		res, err := taskEndScript.Run(ctx, rdb, keys, nowArg(base), farRetention().Milliseconds(), "plain", int32(rallyv1.ClaimState_CLAIM_STATE_RELEASED), "", "", "").Slice()
		if err != nil || res[0] != "ok" {
			t.Fatalf("release: %v, %v", res, err)
		}
	}
	got, err := rdb.HMGet(ctx, keys[0], "claim_seq", "claimed", "completed").Result()
	if err != nil {
		t.Fatal(err)
	}
	if want := []any{"2", "0", "1"}; !reflect.DeepEqual(got, want) {
		t.Errorf("claim_seq, claimed, completed = %v, want %v", got, want)
	}
	if n, _ := rdb.ZCard(ctx, keys[4]).Result(); n != 2 {
		t.Errorf("%d claims indexed, want 2", n)
	}
}

// TestStaleTaskEntriesAreDropped: an index entry whose task is gone or has moved (left by
// an interrupted write) is not listed.
func TestStaleTaskEntriesAreDropped(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	s, rdb := newStore(t)
	tk := storetest.Task("x", base.Add(time.Hour))
	if err := s.CreateTask(ctx, tk); err != nil {
		t.Fatal(err)
	}
	all := s.indexKey(store.TaskIndexes(tk)[0])
	moved := storetest.Task("x", base.Add(2*time.Hour))
	gone := storetest.Task("gone", base.Add(3*time.Hour))
	if err := rdb.ZAdd(ctx, all, goredisZ(store.TaskKey(moved)), goredisZ(store.TaskKey(gone))).Err(); err != nil {
		t.Fatal(err)
	}
	p, err := s.ListTasks(ctx, store.TaskQuery{Now: base, PageSize: 10})
	if err != nil {
		t.Fatal(err)
	}
	if len(p.Items) != 1 || p.Items[0].GetName() != "tasks/x" {
		t.Errorf("listed %v, want only tasks/x once", p.Items)
	}
}

func goredisZ(member string) goredis.Z { return goredis.Z{Member: member} }

// farRetention keeps the claims of tasks on the suite's fixed calendar (2026) for a year
// past today: Redis deletes them by its own clock (see TestConformance).
func farRetention() time.Duration { return time.Since(base) + 365*24*time.Hour }

// TestClaimsDeletedAfterRetention: Redis deletes a task's claims by itself at
// store.ClaimsDeleteAt (deadline plus claim TTL plus retention), keeping the counts; an
// update that moves the deadline moves the deletion too.
func TestClaimsDeletedAfterRetention(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	srv := redistest.Start(t)
	s := New(srv.Client(), testPrefix, WithRSVPRetention(500*time.Millisecond))
	now := time.Now()
	task := storetest.Task("soon", now.Add(time.Hour), storetest.WithClaimTTL(time.Second))
	if err := s.CreateTask(ctx, task); err != nil {
		t.Fatal(err)
	}
	if _, err := s.ClaimTask(ctx, "tasks/soon", storetest.NewClaim("soon", "a"), now); err != nil {
		t.Fatal(err)
	}
	if _, err := s.CompleteClaim(ctx, "tasks/soon/claims/a", store.Completion{ProofURL: "https://example.org/proof", Note: "done"}, now); err != nil {
		t.Fatal(err)
	}
	keys := s.taskKeys("soon")[1:]
	ttl, err := srv.Client().PTTL(ctx, keys[0]).Result()
	if err != nil || ttl < 59*time.Minute {
		t.Fatalf("claims expire in %v (%v), want about an hour and a second and a half", ttl, err)
	}
	// The deadline moves to now: the claims go 1.5s from now.
	if _, err := s.UpdateTask(ctx, "tasks/soon", func(t *rallyv1.Task) error {
		t.Deadline = timestamppb.New(time.Now())
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	waitGone(t, srv.Client(), keys, time.Now().Add(10*time.Second), "claim keys after the deadline, claim TTL and retention")
	if _, _, err := s.GetClaim(ctx, "tasks/soon/claims/a", time.Now()); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("GetClaim after deletion: %v, want ErrNotFound", err)
	}
	got, err := s.GetTask(ctx, "tasks/soon", time.Now())
	if err != nil || got.GetProgress().GetCompleted() != 1 {
		t.Errorf("counts must outlive the claims: %v, %v", got.GetProgress(), err)
	}
}

// waitGone waits until none of keys exists, failing at deadline: Redis expires keys by
// its own clock, a little after their time.
func waitGone(t *testing.T, rdb *goredis.Client, keys []string, deadline time.Time, what string) {
	t.Helper()
	for {
		n, err := rdb.Exists(t.Context(), keys...).Result()
		if err != nil {
			t.Fatal(err)
		}
		if n == 0 {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d %s still exist", n, what)
		}
		time.Sleep(50 * time.Millisecond)
	}
}
