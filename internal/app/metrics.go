package app

import (
	"errors"
	"fmt"
	"net"
	"net/http"
	"syscall"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	goredis "github.com/redis/go-redis/v9"

	"github.com/rallyhq/rally/internal/metrics"
)

// newMetrics returns this rallyd's metrics, served at /metrics on --metrics-addr: a
// registry of its own, so that each App (several in one test process) counts only its
// own calls. On Redis, they include the figures of its connection pool.
func newMetrics(client goredis.UniversalClient) *metrics.Metrics {
	var extra []prometheus.Collector
	if client != nil {
		extra = append(extra, metrics.NewRedisPoolCollector(client))
	}
	return metrics.New(extra...)
}

// openMetrics listens on --metrics-addr, if set. Metrics are not on the public HTTP port:
// counts of RSVPs and watchers over time tell how an event is going, which its
// attendance visibility may hide; only the operator's monitoring should read them.
func (a *App) openMetrics(m *metrics.Metrics) error {
	if a.cfg.MetricsAddr == "" {
		return nil
	}
	lis, err := net.Listen("tcp", a.cfg.MetricsAddr)
	if err != nil {
		return metricsListenError(a.cfg.MetricsAddr, err)
	}
	mux := http.NewServeMux()
	mux.Handle("GET /metrics", m.Handler())
	a.metLis = lis
	a.closers.push(lis.Close)
	a.metrics = &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second, ErrorLog: httpErrorLog(a.log)}
	return nil
}

// metricsListenError explains a metrics port that is taken. The usual cause is a second
// rallyd on the same host: its gRPC and HTTP ports are set apart by hand, while the metrics
// port keeps its default (127.0.0.1:9464) unnoticed. Falling back to another port would leave
// the monitoring scraping the first replica twice, so rallyd stops and says what to set.
func metricsListenError(addr string, err error) error {
	if errors.Is(err, syscall.EADDRINUSE) {
		return fmt.Errorf("metrics-addr: %s is already in use, perhaps by another rallyd on this host: "+
			"give each replica its own --metrics-addr (RALLY_METRICS_ADDR), such as 127.0.0.1:9465, "+
			"or set it empty to serve no metrics (%w)", addr, err)
	}
	return fmt.Errorf("metrics-addr: %w", err)
}
