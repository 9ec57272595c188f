package hub

import (
	"errors"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/rallyhq/rally/internal/pubsub"
)

// Deliver to many subscriptions sends from several goroutines (Hub.send). Forced on
// for 90 subscriptions: those that read get every message once and in order, those that
// do not are dropped with ErrSlow (their hook called once, inside Deliver), with exactly
// a full queue, and the hub lets go of them; a subscriber that joins or leaves between
// two deliveries is in or out of the next one. Run with -race, this is also the proof
// that the senders share nothing.
func TestParallelSend(t *testing.T) {
	defer func(f func(int) int) { sendWorkers = f }(sendWorkers)
	sendWorkers = func(n int) int { return min(4, n) }

	const queueLen, messages = 8, 300
	h := New(queueLen, nil)
	var drops atomic.Int64
	var slow, readers []*Sub
	for i := range 90 {
		ctx := t.Context()
		if i%3 == 0 {
			ctx = pubsub.WithSlowHook(ctx, func() { drops.Add(1) })
		}
		s, err := h.Subscribe(ctx, "t", 0, "", nil, nil)
		if err != nil {
			t.Fatal(err)
		}
		if i%3 == 0 {
			slow = append(slow, s)
		} else {
			readers = append(readers, s)
		}
	}
	var wg sync.WaitGroup
	var received atomic.Int64 // by all readers: Deliver waits for them, so none falls behind
	got := make([][]uint64, len(readers))
	for i, s := range readers {
		wg.Go(func() {
			for m := range s.C() {
				var p uint64
				for _, c := range string(m.Payload[1:]) {
					p = 10*p + uint64(c-'0')
				}
				got[i] = append(got[i], p)
				received.Add(1)
			}
		})
	}
	late := (*Sub)(nil)
	expect := int64(0)
	for p := uint64(1); p <= messages; p += 3 {
		if p == 151 { // a newcomer, live from here on
			late, _ = h.Subscribe(t.Context(), "t", p-1, "", nil, nil)
		}
		if p == 202 { // one of the readers leaves
			readers[0].Close()
		}
		if !h.Deliver("t", p-1, entries("t", p, p+2)) {
			t.Fatalf("Deliver refused %d", p)
		}
		if late != nil {
			want(t, late, p, p+2)
		}
		expect += 3 * int64(len(readers))
		if p >= 202 {
			expect -= 3 // readers[0] has left
		}
		for deadline := time.Now().Add(10 * time.Second); received.Load() < expect; {
			if time.Now().After(deadline) {
				t.Fatalf("readers received %d messages, want %d", received.Load(), expect)
			}
			time.Sleep(100 * time.Microsecond)
		}
	}
	for _, s := range readers {
		s.Close()
	}
	wg.Wait()

	for i, ps := range got {
		n := messages
		if i == 0 {
			n = 201 // closed before the delivery of 202
		}
		if len(ps) != n {
			t.Fatalf("reader %d got %d messages, want %d", i, len(ps), n)
		}
		for j, p := range ps {
			if p != uint64(j+1) {
				t.Fatalf("reader %d: message %d is m%d", i, j+1, p)
			}
		}
	}
	for _, s := range slow {
		if !errors.Is(s.Err(), pubsub.ErrSlow) || len(s.C()) != queueLen {
			t.Fatalf("slow subscriber: %v with %d queued, want ErrSlow with %d", s.Err(), len(s.C()), queueLen)
		}
	}
	if drops.Load() != int64(len(slow)) {
		t.Fatalf("%d slow hooks called, want %d", drops.Load(), len(slow))
	}
	late.Close()
	h.mu.Lock()
	defer h.mu.Unlock()
	if len(h.topics) != 0 {
		t.Fatalf("the hub still holds %d topics", len(h.topics))
	}
}

// BenchmarkDeliver times Deliver of one message to 20,000 subscriptions that read
// nothing meanwhile (their queues are emptied between deliveries, timer stopped), with
// the senders Deliver chooses (sub-benchmark "auto") and with one ("serial"): the
// send loop that Hub.send splits over cores. ns/op is a whole Deliver.
func BenchmarkDeliver(b *testing.B) {
	for _, mode := range []string{"serial", "auto"} {
		b.Run(mode, func(b *testing.B) {
			if mode == "serial" {
				defer func(f func(int) int) { sendWorkers = f }(sendWorkers)
				sendWorkers = func(int) int { return 1 }
			}
			h := New(DefaultQueueLen, nil)
			subs := make([]*Sub, 20000)
			for i := range subs {
				subs[i], _ = h.Subscribe(b.Context(), "t", 0, "", nil, nil)
			}
			es := entries("t", 1, uint64(b.N))
			b.ResetTimer()
			for i := range b.N {
				h.Deliver("t", uint64(i), es[i:i+1])
				if len(subs[0].C()) == DefaultQueueLen {
					b.StopTimer()
					for _, s := range subs {
						for len(s.C()) > 0 {
							<-s.C()
						}
					}
					b.StartTimer()
				}
			}
		})
	}
}
