package memory

import (
	"testing"

	"github.com/rallyhq/rally/internal/pubsub"
	"github.com/rallyhq/rally/internal/pubsub/brokertest"
)

func TestConformance(t *testing.T) {
	brokertest.Run(t, func(t *testing.T, cfg brokertest.Config) pubsub.Broker {
		opts := []Option{WithHistory(cfg.History), WithQueueLen(cfg.QueueLen)}
		if cfg.HistoryTTL > 0 {
			// Below hub.MinHistoryTTL, which WithHistoryTTL would impose.
			opts = append(opts, func(c *config) { c.lifetime = cfg.HistoryTTL })
		}
		b := New(opts...)
		t.Cleanup(func() { b.Close() })
		return b
	}, func(t *testing.T, b pubsub.Broker, topic string) bool {
		m := b.(*Broker)
		m.mu.Lock()
		defer m.mu.Unlock()
		_, ok := m.topics[topic]
		return ok
	})
}
