package brokertest

import (
	"bytes"
	"slices"
	"sync"
	"testing"

	"github.com/rallyhq/rally/internal/pubsub"
)

// Live delivery: order, fan-out, isolation.

func testLiveInOrder(t *testing.T, nb NewBroker) {
	b := nb(t, defaults)
	topic := topicName(t, "a")
	sub := Subscribe(t, b, topic, "")
	Publish(t, b, topic, msgs(1, 100)...)
	checkCursors(t, Expect(t, sub, topic, msgs(1, 100)...))
}

func testTwoSubscribers(t *testing.T, nb NewBroker) {
	b := nb(t, defaults)
	topic := topicName(t, "a")
	s1, s2 := Subscribe(t, b, topic, ""), Subscribe(t, b, topic, "")
	Publish(t, b, topic, msgs(1, 50)...)
	m1 := Expect(t, s1, topic, msgs(1, 50)...)
	m2 := Expect(t, s2, topic, msgs(1, 50)...)
	// A cursor names a position in the topic, whoever received it.
	for i := range m1 {
		if m1[i].Cursor != m2[i].Cursor {
			t.Fatalf("message %d: cursors %q and %q differ between subscribers", i, m1[i].Cursor, m2[i].Cursor)
		}
	}
}

func testTopicsIsolated(t *testing.T, nb NewBroker) {
	b := nb(t, defaults)
	a, c := topicName(t, "a"), topicName(t, "c")
	sa, sc := Subscribe(t, b, a, ""), Subscribe(t, b, c, "")
	Publish(t, b, a, msgs(1, 3)...)
	Publish(t, b, c, msgs(1, 2)...)
	Publish(t, b, a, msgs(4, 4)...)
	Expect(t, sa, a, msgs(1, 4)...) // c's messages did not come in between
	Expect(t, sc, c, msgs(1, 2)...)
	Publish(t, b, c, msgs(3, 3)...)
	Expect(t, sc, c, msgs(3, 3)...) // nor a's fourth
}

func testSeveralTopics(t *testing.T, nb NewBroker) {
	b := nb(t, defaults)
	a, c := topicName(t, "a"), topicName(t, "c")
	sa, sc := Subscribe(t, b, a, ""), Subscribe(t, b, c, "")
	if err := b.Publish(t.Context(), []string{a, c}, []byte(msg(1))); err != nil {
		t.Fatal(err)
	}
	ma := Expect(t, sa, a, msgs(1, 1)...)[0]
	mc := Expect(t, sc, c, msgs(1, 1)...)[0]
	// Each topic has its own positions: a cursor of one is no cursor of the other.
	ExpectReset(t, b, c, ma.Cursor, "a cursor of another topic")
	ExpectReset(t, b, a, mc.Cursor, "a cursor of another topic")
}

// Messages published concurrently reach every subscriber in one order: the history's.
func testConcurrentPublishers(t *testing.T, nb NewBroker) {
	b := nb(t, Config{History: defaultHistory, QueueLen: 1024})
	topic := topicName(t, "a")
	s1, s2 := Subscribe(t, b, topic, ""), Subscribe(t, b, topic, "")
	const publishers, each = 8, 40
	var wg sync.WaitGroup
	for p := range publishers {
		wg.Go(func() {
			for i := range each {
				if err := b.Publish(t.Context(), []string{topic}, []byte(msg(p*each+i))); err != nil {
					t.Error(err)
					return
				}
			}
		})
	}
	wg.Wait()
	m1, m2 := recv(t, s1, publishers*each), recv(t, s2, publishers*each)
	seen := map[string]bool{}
	for i := range m1 {
		if !bytes.Equal(m1[i].Payload, m2[i].Payload) || m1[i].Cursor != m2[i].Cursor {
			t.Fatalf("message %d: %q and %q: subscribers disagree on the order", i, m1[i].Payload, m2[i].Payload)
		}
		seen[string(m1[i].Payload)] = true
	}
	if len(seen) != publishers*each {
		t.Fatalf("%d distinct messages of %d", len(seen), publishers*each)
	}
	// Each publisher's messages keep their order.
	last := make([]int, publishers)
	for i := range last {
		last[i] = -1
	}
	for _, m := range m1 {
		i := msgIndex(t, m)
		if p := i / each; i <= last[p] {
			t.Fatalf("publisher %d: %s after %s", p, m.Payload, msg(last[p]))
		} else {
			last[p] = i
		}
	}
	// And a resumption replays the same order.
	r := Subscribe(t, b, topic, s1.Head())
	m3 := recv(t, r, len(m1))
	if !slices.EqualFunc(m1, m3, func(x, y *pubsub.Message) bool { return x.Cursor == y.Cursor && bytes.Equal(x.Payload, y.Payload) }) {
		t.Fatal("the replay's order differs from the live order")
	}
}

// Payloads are bytes, not text.
func testPayloads(t *testing.T, nb NewBroker) {
	b := nb(t, defaults)
	topic := topicName(t, "a")
	sub := Subscribe(t, b, topic, "")
	payloads := [][]byte{{}, {0, 1, 2, 0xff, 0xfe}, []byte("p\x00\r\n" + string(make([]byte, 10000)))}
	buf := make([]byte, 0, 64)
	for _, p := range payloads {
		buf = append(buf[:0], p...)
		if err := b.Publish(t.Context(), []string{topic}, buf); err != nil {
			t.Fatal(err)
		}
		clear(buf) // the broker must not keep the caller's buffer
	}
	for i, m := range recv(t, sub, len(payloads)) {
		if !bytes.Equal(m.Payload, payloads[i]) {
			t.Fatalf("payload %d: got %q, want %q", i, m.Payload, payloads[i])
		}
	}
}
