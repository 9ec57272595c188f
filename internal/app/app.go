// Package app wires rallyd together: the store chosen by the configuration, the gRPC
// server, the HTTP gateway, and their start-up and graceful shutdown.
package app

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"sync"
	"time"

	goredis "github.com/redis/go-redis/v9"
	"google.golang.org/grpc"
	// gzip, registered, is what a client that compresses its requests (grpc.UseCompressor,
	// grpc-js's grpc.default_compression_algorithm) needs: without it such a call fails
	// with UNIMPLEMENTED. A compressed message is held to the same size limit as a plain
	// one once inflated (--max-request-bytes).
	_ "google.golang.org/grpc/encoding/gzip"

	"github.com/rallyhq/rally/internal/auth"
	"github.com/rallyhq/rally/internal/clientip"
	"github.com/rallyhq/rally/internal/config"
	"github.com/rallyhq/rally/internal/demo"
	"github.com/rallyhq/rally/internal/gateway"
	"github.com/rallyhq/rally/internal/pubsub"
	pubsubmemory "github.com/rallyhq/rally/internal/pubsub/memory"
	pubsubredis "github.com/rallyhq/rally/internal/pubsub/redis"
	"github.com/rallyhq/rally/internal/ratelimit"
	"github.com/rallyhq/rally/internal/requestid"
	"github.com/rallyhq/rally/internal/secret"
	"github.com/rallyhq/rally/internal/server"
	"github.com/rallyhq/rally/internal/store"
	"github.com/rallyhq/rally/internal/store/memory"
	redisstore "github.com/rallyhq/rally/internal/store/redis"
	"github.com/rallyhq/rally/internal/streamchain"
	"github.com/rallyhq/rally/internal/web"
)

// App is a running rallyd.
type App struct {
	cfg     config.Config
	log     *slog.Logger
	store   store.Store
	redis   goredis.UniversalClient // nil on the memory store; store, broker and limits share it
	grpc    *server.Server
	http    *http.Server
	gw      *gateway.Gateway
	grpcLis net.Listener
	httpLis net.Listener
	metrics *http.Server // nil without --metrics-addr
	metLis  net.Listener
	dial    []grpc.DialOption // how to dial the gRPC port (plaintext or TLS)
	served  chan error
	broker  pubsub.Broker
	// closeBroker closes the broker once, whoever calls it first.
	closeBroker func() error
	ready       *readiness
	// closers close what open opened, newest first: after a failed open, and at the end
	// of Shutdown, once the servers have drained.
	closers closers

	shutdownOnce sync.Once
	shutdownErr  error
}

// Start opens the store, listens on both ports and serves in the background. The
// returned App must be shut down with Shutdown.
func Start(ctx context.Context, cfg config.Config, log *slog.Logger) (*App, error) {
	a := &App{cfg: cfg, log: log, served: make(chan error, 3)}
	if err := a.open(ctx); err != nil {
		_ = a.closers.close()
		return nil, err
	}
	go func() { a.served <- a.grpc.GRPC.Serve(a.grpcLis) }()
	if a.metrics != nil {
		go func() {
			if err := a.metrics.Serve(a.metLis); !errors.Is(err, http.ErrServerClosed) {
				a.served <- err
			}
		}()
	}
	go func() {
		var err error
		if cfg.TLS() {
			err = a.http.ServeTLS(a.httpLis, "", "") // the certificate is in a.http.TLSConfig
		} else {
			err = a.http.Serve(a.httpLis)
		}
		if !errors.Is(err, http.ErrServerClosed) {
			a.served <- err
			return
		}
		a.served <- nil
	}()
	log.Info("rallyd started", "grpc", a.grpcLis.Addr().String(), "http", a.httpLis.Addr().String(), "store", storeKind(cfg), "tls", cfg.TLS())
	return a, nil
}

// open builds everything Start serves, pushing onto a.closers what must be closed.
func (a *App) open(ctx context.Context) error {
	cfg := a.cfg
	// Every line logged in a gRPC call's context carries the call's request ID, whichever
	// logger the caller of Start built.
	a.log = requestid.Logger(a.log)
	routeLibraryLogs(a.log) // gRPC's and grpc-gateway's own lines, without addresses
	transport, err := newTransport(cfg)
	if err != nil {
		return err
	}
	a.dial = transport.dial
	if cfg.RedisURL != "" {
		if a.redis, err = openRedis(ctx, cfg); err != nil {
			return err
		}
		a.closers.push(a.redis.Close) // last: the store, broker and limiter all use it
	}
	redisClient := a.redis
	if a.broker, err = openBroker(ctx, redisClient, cfg); err != nil {
		return err
	}
	// Shutdown closes the broker early, to end watch streams; the stack closes it after a
	// failed start.
	a.closeBroker = sync.OnceValue(a.broker.Close)
	a.closers.push(a.closeBroker)
	a.store = openStore(cfg, redisClient, a.broker)
	a.closers.push(a.store.Close)
	if cfg.Secrets == nil {
		cfg.Secrets = secret.Random() // one process on the memory store (config requires them with Redis)
	}
	metrics := newMetrics(redisClient)
	gatewayKey := clientip.NewGatewayKey()
	limits := ratelimit.NewInterceptor(ratelimit.Options{
		Limiter:           newLimiter(cfg, redisClient, a.log),
		Rules:             cfg.RateLimits,
		Resolver:          clientip.NewResolver(cfg.TrustedProxies),
		GatewayKey:        gatewayKey,
		Secrets:           cfg.Secrets,
		MaxStreamsPerAddr: cfg.MaxStreamsPerAddr,
		MaxWatches:        cfg.MaxWatches,
	})
	if a.grpc, err = server.New(server.Options{
		Store: a.store, AdminToken: cfg.AdminToken, Logger: a.log, MaxGuests: cfg.MaxGuests,
		Broker: a.broker, MaxWatches: cfg.MaxWatches, CallerKey: limits.Caller, Unavailable: redisstore.IsUnavailable,
		ServerOptions:          append(grpcLimits(cfg), transport.server...),
		UnaryInterceptors:      []grpc.UnaryServerInterceptor{limits.Unary()},
		StreamStages:           []streamchain.Stage{limits.StreamStage()},
		BeforeAuthUnary:        []grpc.UnaryServerInterceptor{limits.BeforeAuthUnary()},
		BeforeAuthStreamStages: []streamchain.Stage{limits.BeforeAuthStreamStage()},
		Metrics:                metrics,
		Secrets:                cfg.Secrets,
		AttendanceWindow:       cfg.AttendanceWindow,
		OrganiserInterval:      organiserInterval(cfg.OrganiserInterval),
		CallTimeout:            cfg.CallTimeout,
	}); err != nil {
		return err
	}
	if err := cfg.RateLimits.Check(a.grpc.GRPC.GetServiceInfo()); err != nil {
		return fmt.Errorf("rate-limits: %w", err)
	}
	metrics.InitializeMethods(a.grpc.GRPC)
	if a.grpcLis, err = net.Listen("tcp", cfg.GRPCAddr); err != nil {
		return fmt.Errorf("grpc-addr: %w", err)
	}
	a.closers.push(a.grpcLis.Close)
	if a.httpLis, err = net.Listen("tcp", cfg.HTTPAddr); err != nil {
		return fmt.Errorf("http-addr: %w", err)
	}
	a.closers.push(a.httpLis.Close)
	a.grpcLis, a.httpLis = limitConns(cfg, a.grpcLis, a.log), limitConns(cfg, a.httpLis, a.log)
	a.ready = newReadiness(a.grpc.Health, rallyServices(a.grpc.GRPC), a.store.Ping, a.log)
	a.closers.push(func() error { a.ready.shutdown(); return nil })
	target := loopback(a.grpcLis.Addr())
	a.gw, err = gateway.New(ctx, gateway.Options{
		GRPCTarget:  target,
		DialOptions: transport.dial,
		// REST calls and watches take the gRPC port's interceptors and handlers in
		// process, as if on the gateway's loopback connection (a third of a REST call's
		// CPU was that hop, and a REST watcher held a gRPC stream besides its HTTP
		// one); the connection carries only what the port serves and New did not
		// register.
		Local: func(remote *grpc.ClientConn) grpc.ClientConnInterface {
			return a.grpc.Local(server.LocalOptions{
				Remote: remote, Authority: target, MaxRecvMsgSize: cfg.MaxRequestBytes,
				Peer: &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1)},
			})
		},
		Ready:        a.ready.Ready,
		Resolver:     clientip.NewResolver(cfg.TrustedProxies),
		GatewayKey:   gatewayKey,
		MaxBodyBytes: int64(cfg.MaxRequestBytes),
		BodyTimeout:  bodyTimeout,
		CORSOrigins:  cfg.CORSOrigins,
		TLS:          cfg.TLS(),
		Web:          web.Handler(),
		PublicURL:    publicURL(cfg, a.httpLis.Addr(), a.log),
	})
	if err != nil {
		return err
	}
	a.closers.push(a.gw.Close)
	a.http = newHTTPServer(a.gw, transport.http, a.log)
	return a.openMetrics(metrics)
}

// closers is a stack of close functions, so that a failed start and a shutdown close the
// same things in the same order: the reverse of their opening.
type closers []func() error

func (c *closers) push(close func() error) { *c = append(*c, close) }

// close runs the stack, newest first, once. A listener that its server already closed
// is not an error.
func (c *closers) close() error {
	var errs []error
	for i := len(*c) - 1; i >= 0; i-- {
		if err := (*c)[i](); err != nil && !errors.Is(err, net.ErrClosed) {
			errs = append(errs, err)
		}
	}
	*c = nil
	return errors.Join(errs...)
}

// openBroker returns the broker of live changes that goes with the store: in process for
// the memory store, on the same Redis for the Redis store (so that every replica sees
// every change). An event's topic is tagged like the event's keys, so that the store
// can publish an RSVP's change in the script that writes it.
func openBroker(ctx context.Context, client goredis.UniversalClient, cfg config.Config) (pubsub.Broker, error) {
	if client == nil {
		return pubsubmemory.New(pubsubmemory.WithHistoryTTL(cfg.RSVPRetention)), nil
	}
	b, err := pubsubredis.New(ctx, client, cfg.RedisPrefix, pubsubredis.WithTopicTag(redisstore.TopicTag), pubsubredis.WithHistoryTTL(cfg.RSVPRetention))
	if err != nil {
		return nil, fmt.Errorf("redis: starting the change broker: %w", err)
	}
	return b, nil
}

// openStore returns the configured store: in memory, or on client with the broker's way
// of publishing from inside its scripts.
func openStore(cfg config.Config, client goredis.UniversalClient, broker pubsub.Broker) store.Store {
	if client == nil {
		return memory.New(memory.WithRSVPRetention(cfg.RSVPRetention))
	}
	opts := []redisstore.Option{redisstore.WithRSVPRetention(cfg.RSVPRetention)}
	if b, ok := broker.(*pubsubredis.Broker); ok {
		opts = append(opts, redisstore.WithChanges(b.InScript()))
	}
	return redisstore.New(client, cfg.RedisPrefix, opts...)
}

func storeKind(cfg config.Config) string {
	if cfg.RedisURL == "" {
		return "memory"
	}
	return "redis"
}

// loopback returns the address to dial a listener on this host: the gateway reaches the
// gRPC port over loopback even when it listens on all interfaces.
func loopback(addr net.Addr) string {
	tcp := addr.(*net.TCPAddr)
	if tcp.IP.IsUnspecified() {
		return net.JoinHostPort("127.0.0.1", fmt.Sprint(tcp.Port))
	}
	return tcp.String()
}

// GRPCAddr is the address the gRPC server listens on.
func (a *App) GRPCAddr() string { return a.grpcLis.Addr().String() }

// HTTPAddr is the address the HTTP server listens on.
func (a *App) HTTPAddr() string { return a.httpLis.Addr().String() }

// MetricsAddr is the address of the metrics listener, empty without one.
func (a *App) MetricsAddr() string {
	if a.metLis == nil {
		return ""
	}
	return a.metLis.Addr().String()
}

// Shutdown stops taking new requests, lets in-flight ones finish until ctx expires, then
// closes everything.
func (a *App) Shutdown(ctx context.Context) error {
	a.shutdownOnce.Do(func() { a.shutdownErr = a.shutdown(ctx) })
	return a.shutdownErr
}

// shutdown does Shutdown's work, once.
func (a *App) shutdown(ctx context.Context) error {
	// Unready first, everywhere: load balancers stop sending new calls while everything
	// in flight carries on, for the configured delay.
	a.ready.shutdown()
	if d := a.cfg.ShutdownDelay; d > 0 {
		select {
		case <-time.After(d):
		case <-ctx.Done():
		}
	}
	// Watch streams last until closed: closing the broker ends each with UNAVAILABLE and
	// the cursor to resume from on another replica, so the servers can then stop quickly.
	a.grpc.Close() // publishes the coalesced public changes while the broker still runs
	brokerErr := a.closeBroker()
	httpErr := a.http.Shutdown(ctx)
	stopped := make(chan struct{})
	go func() { a.grpc.GRPC.GracefulStop(); close(stopped) }()
	select {
	case <-stopped:
	case <-ctx.Done():
		a.grpc.GRPC.Stop()
		<-stopped
	}
	// Metrics last, so that the drain itself can be watched.
	var metricsErr error
	if a.metrics != nil {
		metricsErr = a.metrics.Shutdown(ctx)
	}
	return errors.Join(brokerErr, httpErr, metricsErr, a.closers.close())
}

// Run starts rallyd, prints where it listens, seeds the demo data if asked, and serves
// until ctx is cancelled (SIGINT or SIGTERM) or a server fails.
func Run(ctx context.Context, cfg config.Config, log *slog.Logger, out io.Writer) error {
	generated := cfg.AdminToken == ""
	if generated {
		cfg.AdminToken = auth.NewToken(auth.AdminPrefix)
	}
	a, err := Start(ctx, cfg, log)
	if err != nil {
		return err
	}
	if cfg.Demo {
		if err := demo.Seed(ctx, a.GRPCAddr(), cfg.AdminToken, time.Now(), a.dial...); err != nil {
			log.Error("seeding demo data failed", "err", err)
		}
	}
	printBanner(out, a, cfg, generated)

	var serveErr error
	select {
	case <-ctx.Done():
		log.Info("shutting down")
	case serveErr = <-a.served:
		log.Error("server stopped", "err", serveErr)
	}
	sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), cfg.ShutdownTimeout)
	defer cancel()
	return errors.Join(serveErr, a.Shutdown(sctx))
}

// printBanner tells a person at the terminal how to reach the service. It writes to out
// directly, not to the log: the generated admin token must never reach a log line.
func printBanner(out io.Writer, a *App, cfg config.Config, generated bool) {
	scheme, grpcurl := "http://", "grpcurl -plaintext"
	if cfg.TLS() {
		scheme, grpcurl = "https://", "grpcurl -cacert "+cfg.TLSCert
	}
	httpURL := scheme + displayAddr(a.httpLis.Addr())
	fmt.Fprintf(out, "\nRally is running.\n")
	if cfg.RedisURL == "" {
		fmt.Fprintf(out, "  Store:    in memory: all data is lost when rallyd exits\n")
	} else {
		fmt.Fprintf(out, "  Store:    Redis\n")
	}
	fmt.Fprintf(out, "  Web:      %s/\n", httpURL)
	fmt.Fprintf(out, "  REST:     %s/v1/campaigns\n", httpURL)
	fmt.Fprintf(out, "  OpenAPI:  %s/openapi.json\n", httpURL)
	fmt.Fprintf(out, "  Health:   %s/healthz\n", httpURL)
	if a.metLis != nil {
		fmt.Fprintf(out, "  Metrics:  http://%s/metrics (operators only: keep it off public networks)\n", displayAddr(a.metLis.Addr()))
	}
	fmt.Fprintf(out, "  gRPC:     %s (reflection on: %s %s list)\n", displayAddr(a.grpcLis.Addr()), grpcurl, displayAddr(a.grpcLis.Addr()))
	if generated {
		fmt.Fprintf(out, "\nAdmin token, generated for this run and shown only once. Use it for writes:\n\n")
		fmt.Fprintf(out, "  export RALLY_TOKEN=%s\n\n", cfg.AdminToken)
	}
}

func displayAddr(addr net.Addr) string {
	tcp := addr.(*net.TCPAddr)
	if tcp.IP.IsUnspecified() || tcp.IP.IsLoopback() {
		return net.JoinHostPort("localhost", fmt.Sprint(tcp.Port))
	}
	return tcp.String()
}

// organiserInterval is --organiser-interval as server.Options takes it: 0 (off) is
// negative there, where 0 is the default.
func organiserInterval(d time.Duration) time.Duration {
	if d == 0 {
		return -1
	}
	return d
}
