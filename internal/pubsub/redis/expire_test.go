package redis

import (
	"testing"
	"time"

	goredis "github.com/redis/go-redis/v9"

	"github.com/rallyhq/rally/internal/pubsub/brokertest"
	"github.com/rallyhq/rally/internal/pubsub/hub"
	"github.com/rallyhq/rally/internal/redistest"
)

// A script of another package that publishes with InScript, as the
// store's CreateRsvp does, gives the stream its lifetime too, and its message reaches
// the subscribers.
func TestInScriptExpires(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	s := redistest.Start(t)
	b := newBroker(t, s, "rally:", WithHistoryTTL(2*time.Hour))
	topic := "events/e1"
	sub := brokertest.Subscribe(t, b, topic, "")
	// Like rsvp_create.lua: its own KEYS and ARGV first, the change after them.
	in := b.InScript()
	script := goredis.NewScript(in.Lua() + "\nredis.call('SET', KEYS[1], ARGV[1])\nreturn publish_change(KEYS[2], 2)")
	c := in.Change(topic, []byte("change"))
	args := append([]any{"own value"}, c.Args...)
	if err := script.Run(ctx, s.Client(), []string{"rally:{events/e1}:own", c.Key}, args...).Err(); err != nil {
		t.Fatal(err)
	}
	brokertest.Expect(t, sub, topic, "change")
	if ttl := s.Client().PTTL(ctx, b.streamKey(topic)).Val(); ttl <= time.Hour || ttl > 2*time.Hour {
		t.Fatalf("the stream expires in %v, want 2h", ttl)
	}
}

// WithHistoryTTL keeps a lifetime of at least hub.MinHistoryTTL: a retention of 0 still
// leaves watchers the time to read a change.
func TestHistoryTTLMinimum(t *testing.T) {
	t.Parallel()
	s := redistest.Start(t)
	b := newBroker(t, s, "rally:", WithHistoryTTL(0))
	brokertest.Publish(t, b, "events/e1", "x")
	if ttl := s.Client().PTTL(t.Context(), b.streamKey("events/e1")).Val(); ttl <= hub.MinHistoryTTL-10*time.Second || ttl > hub.MinHistoryTTL {
		t.Fatalf("the stream expires in %v, want %v", ttl, hub.MinHistoryTTL)
	}
}

// Streams that an older Rally wrote without a TTL, or with a longer one than today's
// lifetime, expire a lifetime after a broker starts; other keys, another deployment's
// streams and streams that expire sooner are left alone.
func TestOldStreamsGetALifetime(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	s := redistest.Start(t)
	c := s.Client()
	add := func(key string) {
		if err := c.XAdd(ctx, &goredis.XAddArgs{Stream: key, ID: "0-*", Values: []string{"p", "x"}}).Err(); err != nil {
			t.Fatal(err)
		}
	}
	add("rally*:{events/old}:changes")                   // no TTL, and a prefix MATCH must escape
	add("rally*:{campaigns/old}:changes")                // a TTL too long
	add("rally*:{events/soon}:changes")                  // a TTL shorter than the lifetime
	add("other:{events/old}:changes")                    // another deployment
	c.Set(ctx, "rally*:{events/string}:changes", "x", 0) // not a stream
	c.Expire(ctx, "rally*:{campaigns/old}:changes", 100*time.Hour)
	c.Expire(ctx, "rally*:{events/soon}:changes", time.Minute)

	newBroker(t, s, "rally*:", WithHistoryTTL(time.Hour))
	brokertest.Eventually(t, "the old streams expire within the lifetime", func() bool {
		for _, key := range []string{"rally*:{events/old}:changes", "rally*:{campaigns/old}:changes"} {
			if ttl := c.PTTL(ctx, key).Val(); ttl <= 0 || ttl > time.Hour {
				return false
			}
		}
		return true
	})
	if ttl := c.PTTL(ctx, "rally*:{events/soon}:changes").Val(); ttl <= 0 || ttl > time.Minute {
		t.Errorf("a stream that expires sooner now expires in %v", ttl)
	}
	for _, key := range []string{"other:{events/old}:changes", "rally*:{events/string}:changes"} {
		if ttl := c.PTTL(ctx, key).Val(); ttl != -1 {
			t.Errorf("%s was given an expiry (%v)", key, ttl)
		}
	}
}

// The same on a Cluster, whose streams are spread over the masters.
func TestOldStreamsGetALifetimeInCluster(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	cl := redistest.StartCluster(t)
	c := cl.Client()
	keys := []string{"old:{events/a}:changes", "old:{events/b}:changes", "old:{events/c}:changes", "old:{campaigns/d}:changes"}
	for _, key := range keys {
		if err := c.XAdd(ctx, &goredis.XAddArgs{Stream: key, ID: "0-*", Values: []string{"p", "x"}}).Err(); err != nil {
			t.Fatal(err)
		}
	}
	b, err := New(ctx, c, "old:", WithHistoryTTL(time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { b.Close() })
	brokertest.Eventually(t, "the old streams expire within the lifetime", func() bool {
		for _, key := range keys {
			if ttl := c.PTTL(ctx, key).Val(); ttl <= 0 || ttl > time.Hour {
				return false
			}
		}
		return true
	})
}
