package hub

import (
	"errors"
	"testing"

	"github.com/rallyhq/rally/internal/pubsub"
)

// The hook in a subscriber's context is called once, when the hub drops it for falling
// behind, and not for the subscriptions made without it or ended otherwise.
func TestSlowHook(t *testing.T) {
	h := New(2, nil)
	var hs history
	drops := 0
	slow, err := h.Subscribe(pubsub.WithSlowHook(t.Context(), func() { drops++ }), "t", 0, "", nil, hs.read)
	if err != nil {
		t.Fatal(err)
	}
	quiet, err := h.Subscribe(t.Context(), "t", 0, "", nil, hs.read)
	if err != nil {
		t.Fatal(err)
	}
	closed, err := h.Subscribe(pubsub.WithSlowHook(t.Context(), func() { t.Error("the hook of a closed subscription was called") }), "t", 0, "", nil, hs.read)
	if err != nil {
		t.Fatal(err)
	}
	closed.Close()
	// drops is read after Deliver returns: the hook runs inside it, with the hub locked.
	if !h.Deliver("t", 0, entries("t", 1, 5)) {
		t.Fatal("Deliver refused the history from the start")
	}
	if err := slow.Err(); !errors.Is(err, pubsub.ErrSlow) || drops != 1 {
		t.Fatalf("slow subscriber: %v, %d drops counted; want ErrSlow and 1", err, drops)
	}
	if err := quiet.Err(); !errors.Is(err, pubsub.ErrSlow) {
		t.Fatalf("subscriber without a hook: %v, want ErrSlow all the same", err)
	}
	h.Close()
	if drops != 1 {
		t.Fatalf("%d drops counted after Close, want still 1", drops)
	}
}
