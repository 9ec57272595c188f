package app

import (
	"context"
	"errors"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"google.golang.org/grpc"
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
//
// The gRPC health service reports it under the overall name "" and under the name of each
// of Rally's services (rally.v1.EventService, …), as grpc-health-probe -service= and
// Kubernetes' gRPC probes with a service ask: every service is exactly as ready as the
// replica, since they share the store. Any other name is NOT_FOUND.
type readiness struct {
	grpc     *health.Server
	services []string // "" and the name of every Rally service
	ping     func(context.Context) error
	log      *slog.Logger

	storeOK  atomic.Bool
	stopping atomic.Bool
	stop     chan struct{}
	done     sync.WaitGroup
	report   sync.Mutex // one report at a time, each of the state as it is then
}

// newReadiness watches the store by ping and reports to srv under "" and each name in
// services.
func newReadiness(srv *health.Server, services []string, ping func(context.Context) error, log *slog.Logger) *readiness {
	r := &readiness{grpc: srv, services: append([]string{""}, services...), ping: ping, log: log, stop: make(chan struct{})}
	r.storeOK.Store(true) // Start has just pinged it
	r.publish()           // before the gRPC port serves: every name is known from the first call
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
			if !ok {
				r.log.Warn("the store does not answer: not ready", "err", err)
			} else {
				r.log.Info("the store answers again: ready")
			}
			r.publish()
		}
	}
}

// publish sets the gRPC health status of "" and of every Rally service to the present
// state: SERVING while the store answers, NOT_SERVING while it does not. After shutdown
// the health server keeps every name NOT_SERVING, whatever this sets.
func (r *readiness) publish() {
	r.report.Lock()
	defer r.report.Unlock()
	if r.stopping.Load() {
		return
	}
	status := healthpb.HealthCheckResponse_SERVING
	if !r.storeOK.Load() {
		status = healthpb.HealthCheckResponse_NOT_SERVING
	}
	for _, name := range r.services {
		r.grpc.SetServingStatus(name, status)
	}
}

// rallyServices are the names of the Rally services srv serves (rally.v1.EventService, …),
// sorted: those whose health follows readiness, besides "".
func rallyServices(srv interface {
	GetServiceInfo() map[string]grpc.ServiceInfo
}) []string {
	var names []string
	for name := range srv.GetServiceInfo() {
		if strings.HasPrefix(name, "rally.") {
			names = append(names, name)
		}
	}
	slices.Sort(names)
	return names
}
