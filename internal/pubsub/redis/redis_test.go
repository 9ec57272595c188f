package redis

import (
	"context"
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	goredis "github.com/redis/go-redis/v9"

	"github.com/rallyhq/rally/internal/pubsub"
	"github.com/rallyhq/rally/internal/pubsub/brokertest"
	"github.com/rallyhq/rally/internal/redistest"
)

// The conformance suite on one private Redis; every broker has a prefix of its own, so
// two brokers are two deployments (two epochs) sharing the server.
func TestConformance(t *testing.T) {
	s := redistest.Start(t)
	var n atomic.Int64
	brokertest.Run(t, func(t *testing.T, cfg brokertest.Config) pubsub.Broker {
		prefix := fmt.Sprintf("t%d:", n.Add(1))
		return newBroker(t, s, prefix, conformanceOptions(cfg)...)
	}, streamExists(s.Client()))
}

// conformanceOptions are the options of a broker of the conformance suite.
func conformanceOptions(cfg brokertest.Config) []Option {
	opts := []Option{WithHistory(cfg.History), WithQueueLen(cfg.QueueLen)}
	if cfg.HistoryTTL > 0 {
		// Below hub.MinHistoryTTL, which WithHistoryTTL would impose.
		opts = append(opts, withLifetime(cfg.HistoryTTL))
	}
	return opts
}

// withLifetime sets the history lifetime without WithHistoryTTL's minimum.
func withLifetime(d time.Duration) Option { return func(c *config) { c.lifetime = d } }

// streamExists is the suite's HistoryExists: whether the topic's stream key exists.
func streamExists(rdb goredis.UniversalClient) brokertest.HistoryExists {
	return func(t *testing.T, b pubsub.Broker, topic string) bool {
		n, err := rdb.Exists(t.Context(), b.(*Broker).streamKey(topic)).Result()
		if err != nil {
			t.Fatalf("EXISTS: %v", err)
		}
		return n == 1
	}
}

// newBroker returns a broker on s, closed when t ends.
func newBroker(t *testing.T, s *redistest.Server, prefix string, opts ...Option) *Broker {
	t.Helper()
	b, err := New(context.Background(), s.Client(), prefix, opts...)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	t.Cleanup(func() { b.Close() })
	return b
}
