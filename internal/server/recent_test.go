package server

import (
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
)

// TestRecentComputesOnce: many goroutines asking for one key at once, and later ones,
// get one computation; errors are not remembered; old keys are forgotten.
func TestRecentComputesOnce(t *testing.T) {
	r := newRecent(2)
	var calls atomic.Int32
	release := make(chan struct{})
	var wg sync.WaitGroup
	for range 100 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			v, err := r.Do("a", func() (any, error) { calls.Add(1); <-release; return "A", nil })
			if v != "A" || err != nil {
				t.Errorf("got %v, %v", v, err)
			}
		}()
	}
	close(release)
	wg.Wait()
	if v, _ := r.Do("a", func() (any, error) { calls.Add(1); return "again", nil }); v != "A" || calls.Load() != 1 {
		t.Errorf("a straggler got %v after %d computations, want the remembered A after 1", v, calls.Load())
	}

	boom := errors.New("boom")
	if _, err := r.Do("b", func() (any, error) { return nil, boom }); !errors.Is(err, boom) {
		t.Fatalf("error %v", err)
	}
	if v, err := r.Do("b", func() (any, error) { return "B", nil }); v != "B" || err != nil {
		t.Errorf("after an error: %v, %v; want a new computation", v, err)
	}

	for i := range 3 {
		r.Do(fmt.Sprint(i), func() (any, error) { return i, nil })
	}
	if v, _ := r.Do("a", func() (any, error) { return "new", nil }); v != "new" {
		t.Errorf("a key older than the last two is still remembered: %v", v)
	}
	if len(r.vals) > 2 || len(r.order) > 2 {
		t.Errorf("%d values, %d keys remembered, want at most 2", len(r.vals), len(r.order))
	}
}
