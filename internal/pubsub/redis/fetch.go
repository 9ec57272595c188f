package redis

import (
	"context"
	"errors"
	"net"
	"os"
	"time"

	goredis "github.com/redis/go-redis/v9"

	"github.com/rallyhq/rally/internal/pubsub"
	"github.com/rallyhq/rally/internal/pubsub/hub"
)

// fetchTimeout bounds one round of reads, so that a Redis that stopped answering holds up
// the next round (and Close) only this long.
const fetchTimeout = 5 * time.Second

// listen receives the channel's signals for as long as the broker runs. go-redis redials
// and subscribes again by itself after the connection breaks; every confirmation of the
// subscription (the first came in New) therefore means that signals may have been lost
// since, and every followed topic is read.
func (b *Broker) listen(ps *goredis.PubSub) {
	defer b.wg.Done()
	pinged := false // a PING is unanswered
	retry := minRetry
	for {
		msg, err := ps.ReceiveTimeout(b.ctx, b.poll)
		if b.ctx.Err() != nil {
			return
		}
		switch m := msg.(type) {
		case *goredis.Subscription:
			b.markAll()
		case *goredis.Message:
			if b.hub.Live(m.Payload) {
				b.markDirty(m.Payload)
			}
		}
		switch {
		case err == nil:
			pinged, retry = false, minRetry
		case isTimeout(err) && !pinged:
			// Silence: make sure the connection is alive. A broken one is redialled by
			// go-redis; an unanswered PING is found at the next timeout.
			_ = ps.Ping(b.ctx)
			pinged = true
		case isTimeout(err):
			// The connection is dead without knowing it (a peer or a middlebox vanished):
			// start another subscription, whose confirmation makes everything read.
			if ps = b.resubscribe(ps); ps == nil {
				return
			}
			pinged = false
		default:
			// Redis is unreachable: go-redis dials again at the next receive; pace it.
			select {
			case <-b.ctx.Done():
				return
			case <-time.After(retry):
			}
			retry = min(2*retry, maxRetry)
		}
	}
}

// Retry pacing of listen while Redis is unreachable.
const (
	minRetry = 50 * time.Millisecond
	maxRetry = time.Second
)

// resubscribe replaces ps with a new subscription, or returns nil if the broker closed.
func (b *Broker) resubscribe(ps *goredis.PubSub) *goredis.PubSub {
	b.psMu.Lock()
	defer b.psMu.Unlock()
	if b.psClosed {
		return nil
	}
	_ = ps.Close()
	b.ps = b.rdb.Subscribe(b.ctx, b.channel())
	return b.ps
}

func isTimeout(err error) bool {
	var ne net.Error
	return errors.Is(err, os.ErrDeadlineExceeded) || (errors.As(err, &ne) && ne.Timeout())
}

// markDirty asks fetchLoop to read topic.
func (b *Broker) markDirty(topic string) {
	b.dirtyMu.Lock()
	b.dirty[topic] = struct{}{}
	b.dirtyMu.Unlock()
	b.kick()
}

// markAll asks fetchLoop to read every followed topic.
func (b *Broker) markAll() {
	b.setAll()
	b.kick()
}

// setAll makes the next round of fetchLoop read every followed topic.
func (b *Broker) setAll() {
	b.dirtyMu.Lock()
	b.all = true
	b.dirtyMu.Unlock()
}

func (b *Broker) kick() {
	select {
	case b.wake <- struct{}{}:
	default: // a wake-up is pending already; it will see this topic too
	}
}

// fetchLoop reads the topics asked for, and every followed topic each poll interval. One
// goroutine does all reads, each round in one pipeline, so signals that come in a burst
// cost one round trip, and the connections used never depend on the subscribers.
func (b *Broker) fetchLoop() {
	defer b.wg.Done()
	tick := time.NewTicker(b.poll)
	defer tick.Stop()
	for {
		select {
		case <-b.ctx.Done():
			return
		case <-b.wake:
		case <-tick.C:
			b.setAll()
		}
		b.catchUp()
	}
}

// catchUp reads the dirty topics after the positions their live feeds are at and
// delivers what it finds. It checks the epoch every round, even with nothing to read,
// so that a Redis that lost its data is noticed within a poll interval.
func (b *Broker) catchUp() {
	b.dirtyMu.Lock()
	dirty, all := b.dirty, b.all
	b.dirty, b.all = map[string]struct{}{}, false
	b.dirtyMu.Unlock()

	var reqs []readReq
	for topic, pos := range b.hub.Positions() {
		if _, ok := dirty[topic]; all || ok {
			reqs = append(reqs, readReq{topic, pos, b.hub.QueueLen()})
		}
	}
	ctx, cancel := context.WithTimeout(b.ctx, fetchTimeout)
	defer cancel()
	epoch, res, err := b.read(ctx, reqs)
	if err != nil {
		// Redis is unreachable or slow; try again at the next tick, not at once.
		b.dirtyMu.Lock()
		for topic := range dirty {
			b.dirty[topic] = struct{}{}
		}
		b.all = b.all || all
		b.dirtyMu.Unlock()
		return
	}
	if !b.deliver(reqs, epoch, res) {
		// Read everything again once the epoch is settled: at once, unless Redis failed.
		err := b.adopt(ctx)
		b.setAll()
		if err == nil {
			b.kick()
		}
	}
}

// deliver hands what catchUp read to the hub, if it was read in the broker's epoch, and
// asks for another round for topics that have more. It reports false if the epoch is not
// the broker's.
func (b *Broker) deliver(reqs []readReq, epoch uint64, res []readResult) bool {
	b.mu.RLock()
	defer b.mu.RUnlock()
	if epoch != b.epoch {
		return false
	}
	for i, r := range reqs {
		switch {
		case !hub.Follows(r.after, res[i].span, res[i].entries, res[i].now, b.lifetime):
			// This replica fell behind by more than the history (it could not reach Redis
			// for that long), or the history expired (and may have started again): its
			// subscribers cannot be given what they missed.
			b.hub.EndTopic(r.topic, pubsub.ErrReset)
		case !b.hub.Deliver(r.topic, r.after, res[i].entries), len(res[i].entries) == r.limit:
			// The feed moved meanwhile (a subscription ended and another began), or there is
			// more to read.
			b.markDirty(r.topic)
		}
	}
	return true
}
