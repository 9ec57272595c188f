package ratelimit

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/rallyhq/rally/internal/redistest"
)

// What each policy does while Redis is down, tested against a real redis-server that is
// stopped and started again.
func TestFallbackPolicies(t *testing.T) {
	limit := Limit{Rate: 1, Period: time.Hour, Burst: 2}
	for _, tc := range []struct {
		policy  Policy
		allowed []bool // the decisions of four calls while Redis is down
		err     error
	}{
		{PolicyLocal, []bool{true, true, false, false}, nil},
		{PolicyOpen, []bool{true, true, true, true}, nil},
		{PolicyClosed, []bool{false, false, false, false}, ErrUnavailable},
	} {
		t.Run(string(tc.policy), func(t *testing.T) {
			t.Parallel()
			ctx := context.Background()
			s := redistest.Start(t)
			var logs bytes.Buffer // written by Allow, on this goroutine
			f := NewFallback(NewRedis(s.Client(), "rally:"), NewMemory(nil), tc.policy, slog.New(slog.NewTextHandler(&logs, nil)))
			f.coolDown = 100 * time.Millisecond

			s.Stop()
			for i, want := range tc.allowed {
				res, err := f.Allow(ctx, "k", limit)
				if !errors.Is(err, tc.err) || res.Allowed != want {
					t.Fatalf("call %d: %+v, %v; want allowed=%v, err %v", i+1, res, err, want, tc.err)
				}
			}
			if f.Failures() != 4 {
				t.Errorf("Failures() = %d, want 4", f.Failures())
			}
			if n := strings.Count(logs.String(), "Redis is unreachable"); n != 1 {
				t.Errorf("%d warnings for 4 failures within %v, want 1:\n%s", n, warnEvery, logs.String())
			}
			if !strings.Contains(logs.String(), "policy="+string(tc.policy)) {
				t.Errorf("the warning does not name the policy: %s", logs.String())
			}

			// Once Redis is back and the cool-down over, it decides again: its budget is
			// untouched.
			s.Restart(t)
			time.Sleep(f.coolDown)
			for i := range limit.Burst {
				if res, err := f.Allow(ctx, "k", limit); err != nil || !res.Allowed {
					t.Fatalf("call %d after Redis came back: %+v, %v", i+1, res, err)
				}
			}
			if f.Failures() != 4 {
				t.Errorf("Failures() = %d after recovery, want still 4", f.Failures())
			}
		})
	}
}

func TestParsePolicy(t *testing.T) {
	for _, ok := range []string{"local", "open", "closed"} {
		if _, err := ParsePolicy(ok); err != nil {
			t.Errorf("ParsePolicy(%q): %v", ok, err)
		}
	}
	if _, err := ParsePolicy("sometimes"); err == nil {
		t.Error("ParsePolicy accepted sometimes")
	}
}
