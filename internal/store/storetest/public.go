package storetest

import (
	"context"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/rallyhq/rally/internal/store"
)

// testSwapPublicView: the swap returns the view before it, and of concurrent swaps to one
// new view exactly one sees a different old view (so one replica publishes).
func testSwapPublicView(t *testing.T, s store.Store) {
	ctx := context.Background()
	const ev = "events/pv"
	if old, err := s.SwapPublicView(ctx, ev, "approx:1-9:0"); err != nil || old != "" {
		t.Fatalf("first swap = %q, %v; want \"\", nil", old, err)
	}
	if old, err := s.SwapPublicView(ctx, ev, "approx:1-9:0"); err != nil || old != "approx:1-9:0" {
		t.Fatalf("second swap = %q, %v; want the first view", old, err)
	}
	if old, _ := s.SwapPublicView(ctx, "events/other", "exact:3:0"); old != "" {
		t.Fatalf("another event's swap saw %q", old)
	}
	var changed atomic.Int32
	var wg sync.WaitGroup
	for range 20 {
		wg.Go(func() {
			old, err := s.SwapPublicView(ctx, ev, "approx:10-49:0")
			if err != nil {
				t.Error(err)
			}
			if old != "approx:10-49:0" {
				changed.Add(1)
			}
		})
	}
	wg.Wait()
	if n := changed.Load(); n != 1 {
		t.Errorf("%d of 20 concurrent swaps saw a change; want exactly 1", n)
	}
}
