package clientip

import (
	"context"
	"crypto/rand"
	"crypto/subtle"
	"net/netip"

	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/peer"
)

// GatewayKeyHeader is the metadata key under which rallyd's own REST gateway proves that
// a call comes from it: the gateway reaches the gRPC port over loopback, and so may any
// other local process (a sidecar proxy relaying outside clients, say), so being on
// loopback alone proves nothing.
const GatewayKeyHeader = "x-rally-gateway-key"

// ForwardedForHeader carries the client's address from the gateway to the gRPC port (grpc-gateway
// sets it from the HTTP request's address) and from trusted proxies.
const ForwardedForHeader = "x-forwarded-for"

// NewGatewayKey returns a fresh random key for one process's gateway; it never leaves the
// process except on its loopback connection to itself.
func NewGatewayKey() string { return rand.Text() }

// FromGRPC returns the client address of a gRPC call. A call from the gateway (on
// loopback, carrying gatewayKey) is an HTTP client's, whose address the gateway resolved
// already and grpc-gateway put last in x-forwarded-for. Any other call is resolved like an
// HTTP request: the peer, or behind a trusted proxy the address the proxies forwarded.
func (r Resolver) FromGRPC(ctx context.Context, gatewayKey string) netip.Addr {
	var from netip.Addr
	if p, ok := peer.FromContext(ctx); ok && p.Addr != nil {
		from = ParseAddrPort(p.Addr.String())
	}
	// One key at a time, not FromIncomingContext, which copies all the metadata.
	xff := metadata.ValueFromIncomingContext(ctx, ForwardedForHeader)
	if from.IsLoopback() && hasKey(metadata.ValueFromIncomingContext(ctx, GatewayKeyHeader), gatewayKey) {
		if chain := Chain(xff); len(chain) > 0 {
			if a, err := netip.ParseAddr(chain[len(chain)-1]); err == nil {
				return a.Unmap()
			}
		}
	}
	return r.Resolve(from, xff)
}

// hasKey reports whether one of the values is the key, in constant time per value.
func hasKey(values []string, key string) bool {
	if key == "" {
		return false
	}
	found := false
	for _, v := range values {
		if subtle.ConstantTimeCompare([]byte(v), []byte(key)) == 1 {
			found = true
		}
	}
	return found
}
