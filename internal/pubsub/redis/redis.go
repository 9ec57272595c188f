// Package redis is the pubsub.Broker of the Redis store: any number of replicas share one
// Redis, and a message published on one reaches the subscribers of all.
//
// # Keys
//
// Every key starts with the deployment's prefix (as in the store):
//
//	<prefix>{<tag>}:changes    STREAM  one life of the topic's history: entries 0-<position>
//	                                   (0, then the message's position, numbered from
//	                                   the life's start in ms × 1024, see hub's Lives),
//	                                   each with one field p, the payload; capped with
//	                                   MAXLEN ~ (WithHistory); expires a lifetime after
//	                                   its newest entry (PEXPIRE on every append,
//	                                   WithHistoryTTL)
//	<prefix>changes:epoch      STRING  the epoch: 16 hex digits, set once (SET NX), no TTL
//	<prefix>changes            channel PUBLISH <topic> after each append
//
// A topic's stream is the only key its scripts touch, and its hash tag is the topic (or
// what WithTopicTag makes of it), so topics spread over a Cluster's slots and each script
// runs on one. The store tags an event's topic like the event's own keys, so that an
// RSVP and its change are written by one script (InScript). The epoch key and the
// channel are in no topic's slot; nothing needs them atomically with a stream.
//
// # Delivery
//
// Redis Pub/Sub alone loses messages (it is at most once, and a replica that reconnects
// misses what was sent meanwhile), so it only says "look at this topic": the stream is
// what is delivered. Each broker holds one subscription to the channel, whatever the
// number of its subscribers. On a signal for a topic with local subscribers it reads the
// topic's stream after the last position it delivered (XRANGE, non-blocking, through the
// client's pool) and hands the entries to the hub, which fans them out. After every
// reconnection of the subscription, and every poll interval anyway, it reads every topic
// it follows, so a lost signal delays a message by one poll interval at most and never
// loses it.
//
// # Cursors, lives and the epoch
//
// A cursor is the epoch, the life of the topic's history and the message's number in it
// (hub.Cursor). Positions number the messages of a life without gaps, so a cursor can be
// resumed exactly when the stream still holds the message after it (hub.Continues); a
// cursor equal to the last trimmed message is fine. Redis's own IDs, times, cannot say
// this: MAXLEN trimming does not move XINFO's max-deleted-entry-id, so the last trimmed
// ID is unknowable.
//
// A stream expires a lifetime after its newest entry (the store's RSVP retention, so
// that no change outlives by much the RSVP it was about), and the next message starts
// a new life with a new stream, numbered from the time on the stream's node (TIME):
// read.lua reports the life's first position (from XINFO's entries-added) and that
// time, and hub.Resume, hub.Follows and hub.Replays refuse every cursor, live feed and
// replay of an earlier life, which therefore get pubsub.ErrReset. Subscribing writes
// nothing, not even to a topic without history, whose Head is a cursor before its next
// life (hub.EmptyCursor): watching neither keeps a history alive nor leaves a trace in
// Redis. Such a subscription stands before the next life (hub.EmptyAfter) until it
// joins the live feed; a subscription reads and then joins, not atomically, so the feed
// may have gone into a life that began in between, and the subscription then replays
// that life from its first message (hub.Replays), as the feed took it.
//
// If Redis loses its data (a restart without persistence, a failover to an empty
// replica), cursors of the lost lives are refused as those of expired ones, but a live
// feed would not know whether it had read everything before the loss. The epoch key is
// lost with the data, the first broker to notice sets a new one, and every broker
// compares the key with its epoch on every read: a cursor of another epoch gets
// pubsub.ErrReset, and so do the live subscriptions of a broker that sees the epoch
// change. Redis must therefore evict neither the epoch key nor the streams, which have
// a TTL (maxmemory-policy noeviction; a volatile-* policy would evict streams early). In a Cluster the epoch key lives
// on one shard only: a shard that loses its data alone is noticed for its streams by
// their lives.
//
// Streams that an older Rally left without a lifetime get one when a broker starts
// (expire.go).
//
// It needs Redis 7.0 or newer (XADD with the ID 0-*, XINFO's entries-added, PEXPIRE LT).
package redis

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"strconv"
	"sync"
	"time"

	goredis "github.com/redis/go-redis/v9"

	"github.com/rallyhq/rally/internal/pubsub"
	"github.com/rallyhq/rally/internal/pubsub/hub"
)

// DefaultPollInterval is how often a broker reads every topic it follows, in case a
// signal was lost; also how long a silent subscription connection waits before a PING.
const DefaultPollInterval = time.Second

// Broker is a pubsub.Broker on Redis.
type Broker struct {
	rdb      goredis.UniversalClient
	prefix   string
	history  int
	lifetime uint64                    // of a history after its newest message, in ms
	tag      func(topic string) string // a topic's hash tag
	poll     time.Duration
	hub      *hub.Hub

	// mu guards epoch. It is held for reading while what was read under an epoch is
	// handed to the hub, and for writing while the epoch changes (adopt), so that no
	// message of an old epoch reaches a subscription of the new one.
	mu    sync.RWMutex
	epoch uint64

	// Topics to read: signalled, or (all) every topic followed.
	dirtyMu sync.Mutex
	dirty   map[string]struct{}
	all     bool
	wake    chan struct{} // one pending wake-up of fetchLoop

	psMu     sync.Mutex
	ps       *goredis.PubSub
	psClosed bool

	ctx    context.Context // ends at Close
	cancel context.CancelFunc
	wg     sync.WaitGroup
	once   sync.Once

	// joining, if set (by tests, before subscribing), runs in Subscribe between its read
	// and its joining the hub, to make the world move meanwhile.
	joining func(topic string)
}

var _ pubsub.Broker = (*Broker)(nil)

type config struct {
	history, queueLen int
	poll, lifetime    time.Duration
	tag               func(string) string
}

// WithTopicTag sets the hash tag of each topic's stream (default: the topic itself). A
// store that publishes with InScript in its own scripts tags a topic like the keys
// those scripts write, so that they share a Cluster slot.
func WithTopicTag(tag func(topic string) string) Option { return func(c *config) { c.tag = tag } }

// Option configures a Broker.
type Option func(*config)

// WithHistory sets how many messages each topic keeps at least (MAXLEN ~, so Redis may
// keep up to about a hundred more; default hub.DefaultHistory).
func WithHistory(n int) Option { return func(c *config) { c.history = max(n, 1) } }

// WithHistoryTTL sets how long a topic's history lasts after its newest message (at
// least hub.MinHistoryTTL; default hub.DefaultHistoryTTL). Subscribing does not extend
// it: watchers cannot keep a history alive.
func WithHistoryTTL(d time.Duration) Option {
	return func(c *config) { c.lifetime = max(d, hub.MinHistoryTTL) }
}

// WithQueueLen sets how many messages a subscriber may have waiting before it is dropped
// with pubsub.ErrSlow (default hub.DefaultQueueLen).
func WithQueueLen(n int) Option { return func(c *config) { c.queueLen = n } }

// WithPollInterval sets how often every followed topic is read even without a signal
// (default DefaultPollInterval): the most a lost signal can delay a message.
func WithPollInterval(d time.Duration) Option {
	return func(c *config) {
		if d > 0 {
			c.poll = d
		}
	}
}

// New returns a broker on rdb, with keys under prefix (e.g. "rally:"). It reads or sets
// the epoch and subscribes to the channel before it returns, so it fails if Redis is
// unreachable. The caller owns rdb: Close does not close it.
func New(ctx context.Context, rdb goredis.UniversalClient, prefix string, opts ...Option) (*Broker, error) {
	c := config{history: hub.DefaultHistory, queueLen: hub.DefaultQueueLen, poll: DefaultPollInterval,
		lifetime: hub.DefaultHistoryTTL, tag: func(topic string) string { return topic }}
	for _, o := range opts {
		o(&c)
	}
	b := &Broker{
		rdb:      rdb,
		prefix:   prefix,
		history:  c.history,
		lifetime: hub.Millis(c.lifetime),
		tag:      c.tag,
		poll:     c.poll,
		dirty:    map[string]struct{}{},
		wake:     make(chan struct{}, 1),
	}
	b.hub = hub.New(c.queueLen, b.markDirty)
	epoch, err := ensureEpoch(ctx, rdb, b.epochKey())
	if err != nil {
		return nil, fmt.Errorf("pubsub: reading the epoch: %w", err)
	}
	b.epoch = epoch
	// Receive returns the confirmation of SUBSCRIBE, or why there is none.
	ps := rdb.Subscribe(ctx, b.channel())
	if _, err := ps.Receive(ctx); err != nil {
		ps.Close()
		return nil, fmt.Errorf("pubsub: subscribing to %s: %w", b.channel(), err)
	}
	b.ps = ps
	b.ctx, b.cancel = context.WithCancel(context.Background())
	b.wg.Add(3)
	go b.listen(ps)
	go b.fetchLoop()
	go b.expireOld()
	return b, nil
}

func (b *Broker) streamKey(topic string) string { return b.prefix + "{" + b.tag(topic) + "}:changes" }

// InScript is what a script of another package needs to append a change to a topic in
// the same step as its own writes (the Redis store's rsvp_create.lua does): the Lua
// library, the topic's stream key and the arguments, in the order lib.lua reads them.
// The broker owns all three, so a caller never repeats its layout.
type InScript struct{ b *Broker }

// InScript returns the broker's way of publishing from other packages' scripts.
func (b *Broker) InScript() InScript { return InScript{b} }

// Lua defines publish_change(key, first) (see lib.lua): prepend it to the script.
func (InScript) Lua() string { return libSrc }

// ScriptLua is InScript.Lua for code that builds its scripts before it has a broker (the
// Redis store's library of functions, loaded once per server): the library is the same
// for every broker. In a Redis Functions library, publish_change reads the ARGV of a
// local that the including library declares before it and sets on every call.
func ScriptLua() string { return libSrc }

// ScriptChange is one change for a script to append with publish_change(key, first):
// Key is the topic's stream key, to pass among the script's KEYS, and Args its
// arguments, to pass from ARGV[first] on.
type ScriptChange struct {
	Key  string
	Args []any
}

// Change returns the key and arguments that append payload to topic.
func (p InScript) Change(topic string, payload []byte) ScriptChange {
	return ScriptChange{Key: p.b.streamKey(topic), Args: p.b.publishArgs(topic, payload)}
}

// publishArgs are the arguments of publish_change for payload on topic: five of them,
// the lifetime last.
func (b *Broker) publishArgs(topic string, payload []byte) []any {
	return []any{b.history, payload, b.channel(), topic, b.lifetime}
}
func (b *Broker) channel() string  { return b.prefix + "changes" }
func (b *Broker) epochKey() string { return b.prefix + "changes:epoch" }

// Publish appends payload to each topic's stream and signals it, one script per topic
// (each stream may be on another Cluster node), all in one pipeline.
func (b *Broker) Publish(ctx context.Context, topics []string, payload []byte) error {
	if b.ctx.Err() != nil {
		return pubsub.ErrClosed
	}
	if len(topics) == 0 {
		return nil
	}
	calls := make([]scriptCall, len(topics))
	for i, topic := range topics {
		calls[i] = scriptCall{publishScript, []string{b.streamKey(topic)}, b.publishArgs(topic, payload)}
	}
	if _, err := runScripts(ctx, b.rdb, nil, calls); err != nil {
		return fmt.Errorf("pubsub: publishing: %w", err)
	}
	return nil
}

// maxEpochRetries bounds how often Subscribe reads again because the epoch changed under
// it: more than once or twice means Redis keeps losing its data.
const maxEpochRetries = 3

// Subscribe subscribes to topic; see pubsub.Broker.
func (b *Broker) Subscribe(ctx context.Context, topic, cursor string) (pubsub.Subscription, error) {
	if b.ctx.Err() != nil {
		return nil, pubsub.ErrClosed
	}
	var c *hub.Cursor
	req := readReq{topic: topic} // without a cursor, only the span
	if cursor != "" {
		parsed, err := hub.ParseCursor(cursor, topic)
		if err != nil {
			return nil, err
		}
		c, req.after, req.limit = &parsed, parsed.ReadAfter(), b.hub.QueueLen()
	}
	for range maxEpochRetries {
		epoch, res, err := b.read(ctx, []readReq{req})
		if err != nil {
			return nil, fmt.Errorf("pubsub: subscribing: %w", err)
		}
		if b.joining != nil {
			b.joining(topic)
		}
		if sub, done, err := b.start(ctx, topic, c, epoch, res[0]); done {
			return sub, err
		}
		if err := b.adopt(ctx); err != nil {
			return nil, fmt.Errorf("pubsub: subscribing: %w", err)
		}
	}
	return nil, errors.New("pubsub: subscribing: the epoch keeps changing")
}

// start joins the hub with what Subscribe read, from cursor c (nil: none), if it was
// read in the broker's epoch; otherwise it reports done false, and the broker must adopt
// the epoch in Redis first.
func (b *Broker) start(ctx context.Context, topic string, c *hub.Cursor, epoch uint64, res readResult) (_ pubsub.Subscription, done bool, _ error) {
	b.mu.RLock()
	defer b.mu.RUnlock()
	if epoch != b.epoch {
		return nil, false, nil
	}
	after := res.span.Last
	if res.span.Last == 0 {
		after = hub.EmptyAfter(res.now, b.lifetime)
	}
	if c != nil {
		var ok bool
		if after, ok = hub.Resume(*c, res.span, res.entries, res.now, b.lifetime); !ok || c.Epoch != epoch {
			return nil, true, pubsub.ErrReset
		}
	}
	sub, err := b.hub.Subscribe(ctx, topic, after, hub.HeadCursor(epoch, topic, res.span, res.now), res.entries, b.replayRead)
	if err != nil {
		return nil, true, err
	}
	return sub, true, nil
}

// replayRead is the hub.Reader of the subscriptions: a read of one topic, valid only in
// the epoch the subscription started in, and judged by hub.Replays.
func (b *Broker) replayRead(ctx context.Context, topic string, after uint64, limit int) ([]hub.Entry, error) {
	epoch, res, err := b.read(ctx, []readReq{{topic, after, limit}})
	if err != nil {
		return nil, err
	}
	b.mu.RLock()
	same := epoch == b.epoch
	b.mu.RUnlock()
	if !same {
		// The history was lost under the subscription; adopt ends the others too.
		_ = b.adopt(ctx)
		return nil, pubsub.ErrReset
	}
	r := res[0]
	if !hub.Replays(after, r.span, r.entries, r.now, b.lifetime) {
		return nil, pubsub.ErrReset
	}
	return r.entries, nil
}

// Close ends every subscription with pubsub.ErrClosed and stops listening.
func (b *Broker) Close() error {
	b.once.Do(func() {
		b.hub.Close()
		b.cancel()
		b.psMu.Lock()
		b.psClosed = true
		_ = b.ps.Close() // interrupts listen's receive
		b.psMu.Unlock()
		b.wg.Wait()
	})
	return nil
}

// adopt makes the epoch in Redis the broker's, setting a new one if the key is gone
// (Redis lost its data). If it differs from the broker's, every subscription ends with
// pubsub.ErrReset: what they followed is gone.
func (b *Broker) adopt(ctx context.Context) error {
	b.mu.Lock()
	defer b.mu.Unlock()
	// Asked again, rather than trusting what a caller read: that may be older than what
	// another caller has adopted meanwhile.
	epoch, err := ensureEpoch(ctx, b.rdb, b.epochKey())
	if err != nil {
		return err
	}
	if epoch != b.epoch {
		b.epoch = epoch
		b.hub.EndAll(pubsub.ErrReset)
	}
	return nil
}

// ensureEpoch sets the epoch key to a new random epoch unless it exists, and returns it.
func ensureEpoch(ctx context.Context, rdb goredis.UniversalClient, key string) (uint64, error) {
	var get *goredis.StringCmd
	_, err := rdb.Pipelined(ctx, func(p goredis.Pipeliner) error {
		p.SetNX(ctx, key, fmt.Sprintf("%016x", newEpoch()), 0)
		get = p.Get(ctx, key)
		return nil
	})
	if err != nil {
		return 0, err
	}
	epoch, err := parseEpoch(get)
	if err == nil && epoch == 0 {
		err = fmt.Errorf("%s vanished right after SET NX", key)
	}
	return epoch, err
}

// parseEpoch returns the epoch that get read, 0 if the key is missing.
func parseEpoch(get *goredis.StringCmd) (uint64, error) {
	s, err := get.Result()
	if errors.Is(err, goredis.Nil) {
		return 0, nil
	}
	if err != nil {
		return 0, err
	}
	epoch, err := strconv.ParseUint(s, 16, 64)
	if err != nil || epoch == 0 {
		return 0, fmt.Errorf("the epoch key holds %q", s)
	}
	return epoch, nil
}

// newEpoch returns a random epoch; never 0, which stands for a missing key.
func newEpoch() uint64 {
	for {
		if e := rand.Uint64(); e != 0 {
			return e
		}
	}
}

// currentEpoch is the broker's epoch, for tests.
func (b *Broker) currentEpoch() uint64 {
	b.mu.RLock()
	defer b.mu.RUnlock()
	return b.epoch
}
