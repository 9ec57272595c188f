package redis

import (
	"context"
	"errors"
	"fmt"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	goredis "github.com/redis/go-redis/v9"

	"github.com/rallyhq/rally/internal/pubsub"
	"github.com/rallyhq/rally/internal/pubsub/brokertest"
	"github.com/rallyhq/rally/internal/pubsub/hub"
	"github.com/rallyhq/rally/internal/redistest"
)

// What only the Redis broker has: replicas, a connection that breaks, a Redis that loses
// its data, the number of connections.

// never is a poll interval that no test outlives: what arrives came by a signal, or by
// the catch-up after a reconnection.
const never = time.Hour

// appendSilently appends a message to topic's existing stream as publish.lua does, but
// without the signal: a signal lost on the way.
func appendSilently(t *testing.T, s *redistest.Server, b *Broker, topic string, payload string) {
	t.Helper()
	err := s.Client().XAdd(t.Context(), &goredis.XAddArgs{
		Stream: b.streamKey(topic), NoMkStream: true, ID: "0-*", Values: []string{"p", payload},
	}).Err()
	if err != nil {
		t.Fatal(err)
	}
}

func TestKeys(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	s := redistest.Start(t)
	b := newBroker(t, s, "rally:")
	if err := b.Publish(ctx, []string{"events/e1", "campaigns/c1"}, []byte("x")); err != nil {
		t.Fatal(err)
	}
	brokertest.Publish(t, b, "events/e1", "y")
	c := s.Client()
	keys, err := c.Keys(ctx, "*").Result()
	if err != nil {
		t.Fatal(err)
	}
	if got, want := strings.Join(slices.Sorted(slices.Values(keys)), " "), "rally:changes:epoch rally:{campaigns/c1}:changes rally:{events/e1}:changes"; got != want {
		t.Fatalf("keys %s, want %s", got, want)
	}
	entries, err := c.XRange(ctx, "rally:{events/e1}:changes", "-", "+").Result()
	if err != nil {
		t.Fatal(err)
	}
	if len(entries) != 2 || entries[1].Values["p"] != "y" {
		t.Fatalf("stream entries %v, want two with field p", entries)
	}
	// The life began when the first message was published, on Redis's clock.
	first := lifeStartOf(t, entries[0].ID)
	if id := fmt.Sprintf("0-%d", first+1); entries[1].ID != id {
		t.Fatalf("stream entries %v, want the second at %s", entries, id)
	}
	for _, key := range []string{"rally:{events/e1}:changes", "rally:{campaigns/c1}:changes"} {
		if ttl := c.PTTL(ctx, key).Val(); ttl <= hub.DefaultHistoryTTL-time.Minute || ttl > hub.DefaultHistoryTTL {
			t.Fatalf("%s expires in %v, want the default lifetime %v", key, ttl, hub.DefaultHistoryTTL)
		}
	}
	epoch, err := c.Get(ctx, "rally:changes:epoch").Result()
	if err != nil || !regexp.MustCompile(`^[0-9a-f]{16}$`).MatchString(epoch) {
		t.Fatalf("epoch %q (%v), want 16 hex digits", epoch, err)
	}
	if ttl := c.TTL(ctx, "rally:changes:epoch").Val(); ttl != -1 {
		t.Fatalf("the epoch key expires (TTL %v)", ttl)
	}
	chans, err := c.PubSubNumSub(ctx, "rally:changes").Result()
	if err != nil || chans["rally:changes"] != 1 {
		t.Fatalf("subscribers of rally:changes: %v (%v), want 1", chans, err)
	}
}

// Two replicas on one Redis: what one publishes reaches the other's subscribers at once
// (by the signal: nothing polls), and cursors are valid on both.
func TestAcrossReplicas(t *testing.T) {
	t.Parallel()
	s := redistest.Start(t)
	a := newBroker(t, s, "rally:", WithPollInterval(never))
	b := newBroker(t, s, "rally:", WithPollInterval(never))
	topic := "events/e1"
	onA, onB := brokertest.Subscribe(t, a, topic, ""), brokertest.Subscribe(t, b, topic, "")
	var slowest time.Duration
	var cursors []string
	for i := range 20 {
		// Alternately one replica publishes, and the other's subscriber is timed.
		from, local, remote := a, onA, onB
		if i%2 == 1 {
			from, local, remote = b, onB, onA
		}
		start := time.Now()
		brokertest.Publish(t, from, topic, fmt.Sprint(i))
		m := brokertest.Expect(t, remote, topic, fmt.Sprint(i))
		slowest = max(slowest, time.Since(start))
		brokertest.Expect(t, local, topic, fmt.Sprint(i))
		cursors = append(cursors, m[0].Cursor)
	}
	if slowest > time.Second {
		t.Errorf("a message took %v to reach the other replica; want under a second", slowest)
	}
	t.Logf("slowest delivery across replicas: %v", slowest)
	// A cursor given out by one replica resumes on the other.
	resumed := brokertest.Subscribe(t, a, topic, cursors[0])
	want := make([]string, 19)
	for i := range want {
		want[i] = fmt.Sprint(i + 1)
	}
	brokertest.Expect(t, resumed, topic, want...)
}

// The subscription connection is killed again and again while messages flow: every
// message arrives, including those published while it was down, with no poll to help.
func TestPubSubConnectionKilled(t *testing.T) {
	t.Parallel()
	s := redistest.Start(t)
	b := newBroker(t, s, "rally:", WithPollInterval(never))
	pub := newBroker(t, s, "rally:", WithPollInterval(never)) // another replica publishes
	topic := "events/e1"
	sub := brokertest.Subscribe(t, b, topic, "")
	const n, kills = 300, 10
	errs := make(chan error, 1)
	go func() {
		defer close(errs)
		for i := 1; i <= n; i++ {
			if i%(n/kills) == 0 {
				// Kill both replicas' subscriptions, once they are back from the last kill.
				if err := resubscribed(s, 2); err != nil {
					errs <- err
					return
				}
				k, err := s.Client().ClientKillByFilter(context.Background(), "TYPE", "pubsub").Result()
				if err != nil || k != 2 {
					errs <- fmt.Errorf("CLIENT KILL TYPE pubsub: %d killed, %v", k, err)
					return
				}
			}
			if err := pub.Publish(context.Background(), []string{topic}, []byte(strconv.Itoa(i))); err != nil {
				errs <- err
				return
			}
		}
	}()
	want := make([]string, n)
	for i := range want {
		want[i] = strconv.Itoa(i + 1)
	}
	brokertest.Expect(t, sub, topic, want...)
	if err := <-errs; err != nil {
		t.Fatal(err)
	}
}

// resubscribed waits until n connections are subscribed to rally:changes.
func resubscribed(s *redistest.Server, n int64) error {
	deadline := time.Now().Add(brokertest.Wait)
	for {
		subs, err := s.Client().PubSubNumSub(context.Background(), "rally:changes").Result()
		if err == nil && subs["rally:changes"] == n {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("%d subscribed connections after %v, want %d (%v)", subs["rally:changes"], brokertest.Wait, n, err)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// A message whose signal was lost (appended while the subscription connection was down)
// is delivered when the connection comes back, however long the poll interval.
func TestCatchUpAfterReconnect(t *testing.T) {
	t.Parallel()
	s := redistest.Start(t)
	b := newBroker(t, s, "rally:", WithPollInterval(never))
	topic := "events/e1"
	sub := brokertest.Subscribe(t, b, topic, "")
	brokertest.Publish(t, b, topic, "1")
	brokertest.Expect(t, sub, topic, "1")
	appendSilently(t, s, b, topic, "2")
	if err := s.Client().ClientKillByFilter(t.Context(), "TYPE", "pubsub").Err(); err != nil {
		t.Fatal(err)
	}
	brokertest.Expect(t, sub, topic, "2")
	brokertest.Publish(t, b, topic, "3") // and signals work again
	brokertest.Expect(t, sub, topic, "3")
}

// A message whose signal was lost while the connection stayed up arrives by the poll.
func TestPollDeliversLostSignals(t *testing.T) {
	t.Parallel()
	s := redistest.Start(t)
	const poll = 200 * time.Millisecond
	b := newBroker(t, s, "rally:", WithPollInterval(poll))
	topic := "events/e1"
	sub := brokertest.Subscribe(t, b, topic, "")
	brokertest.Publish(t, b, topic, "1")
	brokertest.Expect(t, sub, topic, "1")
	start := time.Now()
	appendSilently(t, s, b, topic, "2")
	brokertest.Expect(t, sub, topic, "2")
	t.Logf("a message without a signal arrived after %v (poll interval %v)", time.Since(start), poll)
}

// Redis restarts empty: live subscriptions on every replica end with ErrReset, old
// cursors get ErrReset, and new subscriptions work, on a new epoch.
func TestRedisRestarted(t *testing.T) {
	t.Parallel()
	s := redistest.Start(t)
	a := newBroker(t, s, "rally:")
	b := newBroker(t, s, "rally:")
	topic := "events/e1"
	liveA, liveB := brokertest.Subscribe(t, a, topic, ""), brokertest.Subscribe(t, b, topic, "")
	brokertest.Publish(t, a, topic, "1", "2", "3")
	old := brokertest.Expect(t, liveA, topic, "1", "2", "3")
	brokertest.Expect(t, liveB, topic, "1", "2", "3")
	epoch := a.currentEpoch()

	s.Restart(t)

	for name, sub := range map[string]pubsub.Subscription{"a": liveA, "b": liveB} {
		if err := brokertest.Ended(t, sub); !errors.Is(err, pubsub.ErrReset) {
			t.Fatalf("replica %s: live subscription ended with %v, want ErrReset", name, err)
		}
	}
	if a.currentEpoch() == epoch || a.currentEpoch() != b.currentEpoch() {
		t.Fatalf("epochs after the restart: %x and %x (before: %x)", a.currentEpoch(), b.currentEpoch(), epoch)
	}
	// Even once the new history is as long as the old one.
	brokertest.Publish(t, a, topic, "new1", "new2", "new3", "new4")
	for _, m := range old {
		brokertest.ExpectReset(t, b, topic, m.Cursor, "a cursor before the restart")
	}
	sub := brokertest.Subscribe(t, b, topic, "")
	brokertest.Publish(t, a, topic, "after")
	brokertest.Expect(t, sub, topic, "after")
}

// FLUSHALL loses the data without breaking a connection: the poll notices.
func TestFlushAll(t *testing.T) {
	t.Parallel()
	s := redistest.Start(t)
	b := newBroker(t, s, "rally:", WithPollInterval(100*time.Millisecond))
	topic := "events/e1"
	live := brokertest.Subscribe(t, b, topic, "")
	brokertest.Publish(t, b, topic, "1")
	old := brokertest.Expect(t, live, topic, "1")[0].Cursor
	if err := s.Client().FlushAll(t.Context()).Err(); err != nil {
		t.Fatal(err)
	}
	if err := brokertest.Ended(t, live); !errors.Is(err, pubsub.ErrReset) {
		t.Fatalf("live subscription ended with %v, want ErrReset", err)
	}
	brokertest.Publish(t, b, topic, "new1")
	brokertest.ExpectReset(t, b, topic, old, "a cursor before FLUSHALL")
}

// A thousand subscribers cost no more connections than one.
func TestConnectionsDoNotGrowWithSubscribers(t *testing.T) {
	t.Parallel()
	s := redistest.Start(t)
	b := newBroker(t, s, "rally:")
	topic := "events/e1"
	subs := []pubsub.Subscription{brokertest.Subscribe(t, b, topic, "")}
	brokertest.Publish(t, b, topic, "0")
	brokertest.Expect(t, subs[0], topic, "0")
	one := connectedClients(t, s)
	for range 999 {
		subs = append(subs, brokertest.Subscribe(t, b, topic, ""))
	}
	brokertest.Publish(t, b, topic, "1", "2")
	for _, sub := range subs[1:] {
		brokertest.Expect(t, sub, topic, "1", "2")
	}
	thousand := connectedClients(t, s)
	t.Logf("connected_clients: %d with 1 subscriber, %d with 1000", one, thousand)
	if thousand > one+2 {
		t.Fatalf("connected_clients grew from %d to %d with 999 more subscribers", one, thousand)
	}
	list, err := s.Client().ClientList(t.Context()).Result()
	if err != nil {
		t.Fatal(err)
	}
	if n := strings.Count(list, " sub=1 "); n != 1 {
		t.Fatalf("%d subscribed connections, want 1:\n%s", n, list)
	}
}

func connectedClients(t *testing.T, s *redistest.Server) int {
	t.Helper()
	info, err := s.Client().Info(t.Context(), "clients").Result()
	if err != nil {
		t.Fatal(err)
	}
	m := regexp.MustCompile(`connected_clients:(\d+)`).FindStringSubmatch(info)
	if m == nil {
		t.Fatalf("no connected_clients in %q", info)
	}
	n, _ := strconv.Atoi(m[1])
	return n
}

// The cursor of the last entry MAXLEN trimmed still resumes: the entry after it is the
// stream's first. The one before it does not.
func TestTrimBoundary(t *testing.T) {
	t.Parallel()
	s := redistest.Start(t)
	b := newBroker(t, s, "rally:", WithHistory(10))
	topic := "events/e1"
	for i := 1; i <= 250; i++ {
		brokertest.Publish(t, b, topic, strconv.Itoa(i))
	}
	position := func(xrange func(ctx context.Context, key, a, b string, n int64) *goredis.XMessageSliceCmd, a, z string) int {
		entries, err := xrange(t.Context(), b.streamKey(topic), a, z, 1).Result()
		if err != nil || len(entries) != 1 {
			t.Fatalf("XRANGE: %v %v", entries, err)
		}
		p, _ := strconv.Atoi(strings.TrimPrefix(entries[0].ID, "0-"))
		return p
	}
	last := position(s.Client().XRevRangeN, "+", "-")
	f := position(s.Client().XRangeN, "-", "+") - last + 250 // the first entry's message
	if f < 2 {
		t.Fatalf("nothing was trimmed: the first entry is message %d", f)
	}
	// Cursors of message n, of the life whose first message is at last-249.
	epoch, life := b.currentEpoch(), hub.LifeOf(uint64(last-249))
	cursor := func(n int) string { return hub.Cursor{Epoch: epoch, Life: life, N: uint64(n)}.Encode(topic) }
	sub := brokertest.Subscribe(t, b, topic, cursor(f-1))
	want := make([]string, 0, 250)
	for i := f; i <= 250; i++ {
		want = append(want, strconv.Itoa(i))
	}
	brokertest.Expect(t, sub, topic, want...)
	brokertest.ExpectReset(t, b, topic, cursor(f-2), "before the last trimmed entry")
	// A cursor beyond the end (from a history that was lost) is no better.
	brokertest.ExpectReset(t, b, topic, cursor(251), "beyond the end")
}

// Scripts run again after the server forgot them (SCRIPT FLUSH, as after a restart).
func TestScriptsForgotten(t *testing.T) {
	t.Parallel()
	s := redistest.Start(t)
	b := newBroker(t, s, "rally:")
	topic := "events/e1"
	sub := brokertest.Subscribe(t, b, topic, "")
	brokertest.Publish(t, b, topic, "1")
	brokertest.Expect(t, sub, topic, "1")
	if err := s.Client().ScriptFlush(t.Context()).Err(); err != nil {
		t.Fatal(err)
	}
	if err := b.Publish(t.Context(), []string{topic, "campaigns/c1"}, []byte("2")); err != nil {
		t.Fatal(err)
	}
	brokertest.Expect(t, sub, topic, "2")
	n, err := s.Client().XLen(t.Context(), b.streamKey(topic)).Result()
	if err != nil || n != 2 {
		t.Fatalf("XLEN = %d, %v; want 2 (each message appended once)", n, err)
	}
}

func TestNewFailsWithoutRedis(t *testing.T) {
	t.Parallel()
	s := redistest.Start(t)
	s.Stop()
	opts, err := goredis.ParseURL(s.URL())
	if err != nil {
		t.Fatal(err)
	}
	opts.MaxRetries, opts.DialerRetries = -1, 1 // fail at once
	c := goredis.NewClient(opts)
	defer c.Close()
	if b, err := New(t.Context(), c, "rally:"); err == nil {
		b.Close()
		t.Fatal("New succeeded without Redis")
	}
}

// TestStreamNumberedOtherwise: a stream whose IDs an older Rally wrote (<pos>-0) is
// started again by the next publication; any other failure of the append (here a key of
// another type) is an error and leaves the key alone.
func TestStreamNumberedOtherwise(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	s := redistest.Start(t)
	b := newBroker(t, s, "rally:")
	c := s.Client()
	if err := c.XAdd(ctx, &goredis.XAddArgs{Stream: b.streamKey("events/old"), ID: "57-0", Values: []string{"p", "x"}}).Err(); err != nil {
		t.Fatal(err)
	}
	if err := b.Publish(ctx, []string{"events/old"}, []byte("y")); err != nil {
		t.Fatalf("publishing to an old stream: %v", err)
	}
	entries, err := c.XRange(ctx, b.streamKey("events/old"), "-", "+").Result()
	if err != nil || len(entries) != 1 || entries[0].Values["p"] != "y" {
		t.Fatalf("old stream after a publication: %v (%v), want it started again", entries, err)
	}
	lifeStartOf(t, entries[0].ID)

	if err := c.Set(ctx, b.streamKey("events/string"), "not a stream", 0).Err(); err != nil {
		t.Fatal(err)
	}
	if err := b.Publish(ctx, []string{"events/string"}, []byte("z")); err == nil {
		t.Fatal("publishing over a key of another type succeeded")
	}
	if v, err := c.Get(ctx, b.streamKey("events/string")).Result(); err != nil || v != "not a stream" {
		t.Errorf("the key of another type became %q (%v)", v, err)
	}
}

// lifeStartOf checks that the ID of a life's first entry is 0-<the life's start in ms ×
// hub.PerMilli>, a start within the last minute, and returns its position.
func lifeStartOf(t *testing.T, id string) uint64 {
	t.Helper()
	pos, err := strconv.ParseUint(strings.TrimPrefix(id, "0-"), 10, 64)
	life := hub.LifeOf(pos)
	now := uint64(time.Now().UnixMilli())
	if err != nil || hub.LifeStart(life) != pos || life > now+1000 || life < now-60_000 {
		t.Fatalf("entry %s does not start a life at the time (%d ms)", id, now)
	}
	return pos
}
