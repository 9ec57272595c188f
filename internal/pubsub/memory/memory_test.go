package memory

import (
	"testing"

	"github.com/rallyhq/rally/internal/pubsub"
	"github.com/rallyhq/rally/internal/pubsub/brokertest"
)

func TestConformance(t *testing.T) {
	brokertest.Run(t, func(t *testing.T, cfg brokertest.Config) pubsub.Broker {
		b := New(WithHistory(cfg.History), WithQueueLen(cfg.QueueLen))
		t.Cleanup(func() { b.Close() })
		return b
	})
}
