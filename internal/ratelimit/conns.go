package ratelimit

import (
	"log/slog"
	"net"
	"net/netip"
	"sync"
	"sync/atomic"
	"time"

	"github.com/rallyhq/rally/internal/clientip"
)

// Defaults of the caps on what one client address may hold at once. docs/operations.md's
// "Limits" gives the reasoning.
const (
	// DefaultMaxConnsPerAddr caps the open connections of one client address, on each
	// port. A browser opens at most 6 HTTP/1.1 connections to a host (one over HTTP/2) and
	// a gRPC client one, so 128 leaves room for a café or an office behind one NAT, while
	// one address holds at most 128 connections' buffers and goroutines (a few MB).
	DefaultMaxConnsPerAddr = 128
	// DefaultMaxStreamsPerAddr caps the calls in progress (unary calls and streams, of
	// every service, REST calls included) of one client address. Anonymous callers behind
	// one address already share one watch cap (server's MaxWatches, 20); 128 leaves room
	// for several organisers there with their own watches and unary calls in flight.
	DefaultMaxStreamsPerAddr = 128
)

// LimitListener caps the open connections of each client address at max (an IPv6 address
// counts by its /64, as rate limits do; 0: no cap), closing any connection over the cap as
// soon as it is accepted. Connections from exempt addresses (the trusted proxies, whose
// clients are counted by their forwarded address at the call level instead) are not
// counted. Refusals are logged as a warning at most every warnEvery, with their number
// and never an address.
//
// Hand-written because golang.org/x/net/netutil.LimitListener caps all connections
// together, which would let one client take every place; there is no per-address one in
// the Go project's libraries.
//
// The counts are held in process memory only, by address: like the connections
// themselves, which hold the same addresses, and for no longer.
func LimitListener(l net.Listener, max int, exempt func(netip.Addr) bool, log *slog.Logger) net.Listener {
	if max <= 0 {
		return l
	}
	if log == nil {
		log = slog.Default()
	}
	return &connLimiter{Listener: l, conns: newCounter(max), exempt: exempt, log: log}
}

type connLimiter struct {
	net.Listener
	conns  *counter
	exempt func(netip.Addr) bool
	log    *slog.Logger

	refused  atomic.Uint64
	warnMu   sync.Mutex
	lastWarn time.Time
	warned   uint64
}

// Accept returns the next connection within its address's cap; those over it are closed
// here, and never reach the server.
func (l *connLimiter) Accept() (net.Conn, error) {
	for {
		c, err := l.Listener.Accept()
		if err != nil {
			return nil, err
		}
		addr := clientip.ParseAddrPort(c.RemoteAddr().String())
		if l.exempt != nil && l.exempt(addr) {
			return c, nil
		}
		release, ok := l.conns.acquire(clientip.Bucket(addr))
		if !ok {
			c.Close()
			l.warn()
			continue
		}
		return &countedConn{Conn: c, release: release}, nil
	}
}

// warn logs the refusals at most once per warnEvery: an operator whose honest users
// share an address (a large NAT) learns to raise the cap.
func (l *connLimiter) warn() {
	n := l.refused.Add(1)
	l.warnMu.Lock()
	defer l.warnMu.Unlock()
	if now := time.Now(); now.Sub(l.lastWarn) >= warnEvery {
		l.log.Warn("connections refused: a client address holds as many as the cap allows",
			"cap", l.conns.max, "refused", n, "since_last_warning", n-l.warned)
		l.lastWarn, l.warned = now, n
	}
}

// countedConn gives its address's place back when closed, once. gRPC sets
// TCP_USER_TIMEOUT only on a bare *net.TCPConn; behind this wrapper, its keepalive pings
// (internal/app's limits) are what drops the connections of vanished clients.
type countedConn struct {
	net.Conn
	release func()
}

func (c *countedConn) Close() error {
	c.release()
	return c.Conn.Close()
}

// CloseWrite lets net/http half-close a plain TCP connection before closing it (so that
// the client reads the last response rather than a reset), as it does when it holds the
// *net.TCPConn itself.
func (c *countedConn) CloseWrite() error {
	if cw, ok := c.Conn.(interface{ CloseWrite() error }); ok {
		return cw.CloseWrite()
	}
	return nil
}
