package redis

import (
	"context"
	"fmt"
	"sync/atomic"
	"testing"

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
		return newBroker(t, s, prefix, WithHistory(cfg.History), WithQueueLen(cfg.QueueLen))
	})
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
