package app

import (
	"crypto/tls"
	"log/slog"
	"math"
	"net"
	"net/http"
	"time"

	goredis "github.com/redis/go-redis/v9"
	"google.golang.org/grpc"
	"google.golang.org/grpc/keepalive"

	"github.com/rallyhq/rally/internal/clientip"
	"github.com/rallyhq/rally/internal/config"
	"github.com/rallyhq/rally/internal/ratelimit"
)

// Limits on connections and requests, so that a client cannot hold the server's memory,
// connections or goroutines. docs/operations.md ("Limits") documents them.
const (
	// connectionTimeout bounds the handshakes (TCP accept to HTTP/2 settings, TLS
	// included) of a new gRPC connection.
	connectionTimeout = 10 * time.Second
	// keepaliveMinTime is the shortest ping interval a gRPC client may use; faster pingers
	// are disconnected. Mobile clients commonly ping every 30s or more.
	keepaliveMinTime = 20 * time.Second
	// keepaliveTime and keepaliveTimeout: the server pings a connection idle that long and
	// drops it when the ping is not answered in time, freeing the streams of vanished
	// clients (a phone that lost its network never closes its watch).
	keepaliveTime    = 5 * time.Minute
	keepaliveTimeout = 20 * time.Second
	// maxConnectionIdle closes gRPC connections without calls for that long.
	maxConnectionIdle = 15 * time.Minute

	// readHeaderTimeout bounds how long an HTTP client may take to send its headers
	// (slowloris); bodyTimeout how long its body may take (see gateway.Options).
	readHeaderTimeout = 10 * time.Second
	bodyTimeout       = 30 * time.Second
	// idleTimeout closes keep-alive HTTP connections left idle that long.
	idleTimeout = 2 * time.Minute
	// maxHeaderBytes caps request headers; an API request needs a few hundred bytes.
	maxHeaderBytes = 64 << 10
)

// grpcWriteBuffer is how much a gRPC connection gathers before it writes. grpc-go takes
// the buffer from a pool for each write and returns it after, so it is held only while
// a connection writes; but an announcement to thousands of watchers writes to all their
// connections at once, and grpc-go's default, 32 KiB, made the first one after a garbage
// collection (which empties the pool) allocate 32 KiB per gRPC watcher: 160 MB for
// 5,000, and a collection in the middle of the fan-out. A watch's message, and most
// answers, are a few hundred bytes; a larger answer takes a write per 8 KiB instead of
// one per 32 KiB. docs/performance.md has the measurements.
const grpcWriteBuffer = 8 << 10

// grpcLimits are the gRPC server's limits.
func grpcLimits(cfg config.Config) []grpc.ServerOption {
	return []grpc.ServerOption{
		grpc.MaxRecvMsgSize(cfg.MaxRequestBytes),
		grpc.MaxConcurrentStreams(cfg.GRPCMaxStreams),
		grpc.KeepaliveEnforcementPolicy(keepalive.EnforcementPolicy{MinTime: keepaliveMinTime, PermitWithoutStream: true}),
		grpc.KeepaliveParams(keepalive.ServerParameters{
			MaxConnectionIdle: maxConnectionIdle,
			Time:              keepaliveTime,
			Timeout:           keepaliveTimeout,
		}),
		grpc.ConnectionTimeout(connectionTimeout),
		// Static flow-control windows of one whole request, stream and connection alike,
		// instead of grpc-go's dynamic ones, which are sized by BDP estimation: a PING on a
		// DATA frame received while none is outstanding. A request that waits on Redis gets
		// that PING, and the client's acknowledgement, in writes and reads of their own, on
		// both sides (and a phone wakes its radio to answer). No request may exceed
		// MaxRequestBytes, so a window that holds one never makes a client wait; a larger one
		// (dynamic windows grow to 16 MiB) only lets a client park more unread data in
		// rallyd's memory. docs/performance.md has the measurements.
		grpc.StaticStreamWindowSize(requestWindow(cfg.MaxRequestBytes)),
		grpc.StaticConnWindowSize(requestWindow(cfg.MaxRequestBytes)),
		grpc.WriteBufferSize(grpcWriteBuffer),
	}
}

// requestWindow is an HTTP/2 flow-control window that holds a gRPC message of max bytes
// and its 5-byte prefix. grpc-go raises anything below 64 KiB to 64 KiB.
func requestWindow(max int) int32 {
	return int32(min(max+5, math.MaxInt32))
}

// newHTTPServer is the HTTP port's server. It sets no ReadTimeout and no WriteTimeout:
// net/http cancels a request when either expires, which would cut off server-streaming
// responses (watch endpoints) that legitimately last hours. Slow clients are bounded by
// readHeaderTimeout, the gateway's per-request body timeout and idleTimeout instead.
func newHTTPServer(h http.Handler, tlsConfig *tls.Config, log *slog.Logger) *http.Server {
	return &http.Server{
		Handler:           h,
		TLSConfig:         tlsConfig,
		ErrorLog:          httpErrorLog(log),
		ReadHeaderTimeout: readHeaderTimeout,
		IdleTimeout:       idleTimeout,
		MaxHeaderBytes:    maxHeaderBytes,
	}
}

// limitConns caps the connections of each client address on a port, trusted proxies
// exempt (their clients are counted by forwarded address, call by call). The gateway's
// own connection to the gRPC port comes from loopback and counts as one connection of
// that address: only a local proxy shares it, and one that relays outside clients must be
// a trusted proxy anyway, or all its clients would share one budget.
func limitConns(cfg config.Config, l net.Listener, log *slog.Logger) net.Listener {
	return ratelimit.LimitListener(l, cfg.MaxConnsPerAddr, clientip.NewResolver(cfg.TrustedProxies).Trusted, log)
}

// newLimiter returns the rate limiter for the store: in process for the memory store;
// in Redis, shared by all replicas, for the Redis store, with the configured policy for
// when Redis cannot answer.
func newLimiter(cfg config.Config, client goredis.UniversalClient, log *slog.Logger) ratelimit.Limiter {
	if client == nil {
		return ratelimit.NewMemory(nil)
	}
	return ratelimit.NewFallback(ratelimit.NewRedis(client, cfg.RedisPrefix), ratelimit.NewMemory(nil), cfg.RateLimitOnRedisError, log)
}
