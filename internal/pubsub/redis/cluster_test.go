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

// The conformance suite on a three-master Redis Cluster: topics' streams spread over the
// nodes, the channel is on one of them, and PUBLISH from a script on any node must reach
// the subscription. Brokers share the Cluster with a prefix each, as in TestConformance.
func TestClusterConformance(t *testing.T) {
	t.Parallel()
	c := redistest.StartCluster(t)
	var n atomic.Int64
	brokertest.Run(t, func(t *testing.T, cfg brokertest.Config) pubsub.Broker {
		b, err := New(context.Background(), c.Client(), fmt.Sprintf("cl%d:", n.Add(1)), conformanceOptions(cfg)...)
		if err != nil {
			t.Fatalf("New: %v", err)
		}
		t.Cleanup(func() { b.Close() })
		return b
	}, streamExists(c.Client()))
}
