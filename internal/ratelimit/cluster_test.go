package ratelimit

import (
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	"github.com/rallyhq/rally/internal/redistest"
)

// The conformance suite on a three-master Redis Cluster, where redis_rate's script (one
// key) runs on whichever node holds each budget. The subtests share the Cluster, each
// under a prefix of its own.
func TestRedisClusterConformance(t *testing.T) {
	t.Parallel()
	c := redistest.StartCluster(t)
	var n atomic.Int64
	runConformance(t, func(t *testing.T) harness {
		return harness{NewRedis(c.Client(), fmt.Sprintf("cl%d:", n.Add(1))), time.Sleep}
	})
}
