package app

import (
	"context"
	"errors"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"google.golang.org/grpc/health"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
)

// Readiness asks the store whether it answers every healthInterval, and counts an answer
// that takes longer than pingTimeout as none: a load balancer learns that Redis is gone
// or hung within about a second (the two together), and that it is back within
// healthInterval. /healthz never waits for Redis itself. Redis answers a PING in well
// under a millisecond; the timeout leaves room for a busy machine, so that a replica does
// not flap between ready and not.
const (
	healthInterval = 250 * time.Millisecond
	pingTimeout    = 750 * time.Millisecond
)

var (
	errNotReady     = errors.New("the store does not answer")
	errShuttingDown = errors.New("shutting down")
)

// readiness is what both health endpoints report: the gRPC health service and /healthz.
// A replica is ready while its store answers and it is not shutting down; it becomes
// ready again by itself when the store comes back.
type readiness struct {
	grpc *health.Server
	ping func(context.Context) error
	log  *slog.Logger

	storeOK  atomic.Bool
	stopping atomic.Bool
	stop     chan struct{}
	done     sync.WaitGroup
}

func newReadiness(srv *health.Server, ping func(context.Context) error, log *slog.Logger) *readiness {
	r := &readiness{grpc: srv, ping: ping, log: log, stop: make(chan struct{})}
	r.storeOK.Store(true) // Start has just pinged it
	r.done.Add(1)
	go r.watch()
	return r
}

// Ready is /healthz's check: no store call, the state of the last check.
func (r *readiness) Ready(context.Context) error {
	switch {
	case r.stopping.Load():
		return errShuttingDown
	case !r.storeOK.Load():
		return errNotReady
	}
	return nil
}

// shutdown makes the replica unready for good, first thing in a shutdown, so that load
// balancers stop sending it new work while it drains.
func (r *readiness) shutdown() {
	if r.stopping.Swap(true) {
		return
	}
	close(r.stop)
	r.done.Wait()
	r.grpc.Shutdown()
}

func (r *readiness) watch() {
	defer r.done.Done()
	t := time.NewTicker(healthInterval)
	defer t.Stop()
	for {
		select {
		case <-r.stop:
			return
		case <-t.C:
		}
		ctx, cancel := context.WithTimeout(context.Background(), pingTimeout)
		err := r.ping(ctx)
		cancel()
		if ok := err == nil; r.storeOK.Swap(ok) != ok {
			status := healthpb.HealthCheckResponse_SERVING
			if !ok {
				status = healthpb.HealthCheckResponse_NOT_SERVING
				r.log.Warn("the store does not answer: not ready", "err", err)
			} else {
				r.log.Info("the store answers again: ready")
			}
			if !r.stopping.Load() {
				r.grpc.SetServingStatus("", status)
			}
		}
	}
}
