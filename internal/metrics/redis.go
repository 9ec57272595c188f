package metrics

import (
	"github.com/prometheus/client_golang/prometheus"
	goredis "github.com/redis/go-redis/v9"
)

// PoolStatser is what NewRedisPoolCollector reads: any go-redis client.
type PoolStatser interface {
	PoolStats() *goredis.PoolStats
}

// NewRedisPoolCollector returns a collector of the connection pool figures of a Redis
// client, read at each scrape (go-redis keeps them as running totals already).
func NewRedisPoolCollector(client PoolStatser) prometheus.Collector {
	return redisPool{client}
}

type redisPool struct{ client PoolStatser }

var (
	redisHits = prometheus.NewDesc("rally_redis_pool_hits_total",
		"Times a free connection was found in the Redis pool.", nil, nil)
	redisMisses = prometheus.NewDesc("rally_redis_pool_misses_total",
		"Times no free connection was found in the Redis pool, so one was opened or waited for.", nil, nil)
	redisTimeouts = prometheus.NewDesc("rally_redis_pool_timeouts_total",
		"Times waiting for a Redis pool connection timed out.", nil, nil)
	redisWaits = prometheus.NewDesc("rally_redis_pool_waits_total",
		"Times a caller waited for a Redis pool connection.", nil, nil)
	redisWaitSeconds = prometheus.NewDesc("rally_redis_pool_wait_seconds_total",
		"Time spent waiting for Redis pool connections.", nil, nil)
	redisStale = prometheus.NewDesc("rally_redis_pool_stale_connections_total",
		"Stale connections removed from the Redis pool.", nil, nil)
	redisConns = prometheus.NewDesc("rally_redis_pool_connections",
		"Connections in the Redis pool, idle or in use.", nil, nil)
	redisIdle = prometheus.NewDesc("rally_redis_pool_idle_connections",
		"Idle connections in the Redis pool.", nil, nil)
)

func (p redisPool) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{redisHits, redisMisses, redisTimeouts, redisWaits, redisWaitSeconds, redisStale, redisConns, redisIdle} {
		ch <- d
	}
}

func (p redisPool) Collect(ch chan<- prometheus.Metric) {
	s := p.client.PoolStats()
	if s == nil {
		return
	}
	counter := func(d *prometheus.Desc, v float64) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.CounterValue, v)
	}
	gauge := func(d *prometheus.Desc, v float64) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.GaugeValue, v)
	}
	counter(redisHits, float64(s.Hits))
	counter(redisMisses, float64(s.Misses))
	counter(redisTimeouts, float64(s.Timeouts))
	counter(redisWaits, float64(s.WaitCount))
	counter(redisWaitSeconds, float64(s.WaitDurationNs)/1e9)
	counter(redisStale, float64(s.StaleConns))
	gauge(redisConns, float64(s.TotalConns))
	gauge(redisIdle, float64(s.IdleConns))
}
