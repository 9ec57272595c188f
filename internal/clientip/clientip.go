// Package clientip works out the address of the client behind a request, trusting
// X-Forwarded-For only from configured proxies, so that anonymous callers can be rate
// limited by address without letting them choose that address.
//
// Addresses are personal data: nothing here logs them, and Bucket turns one into the
// coarse identity that the rate limiter puts under a keyed MAC (ratelimit.Interceptor's
// Caller) before it stores anything. The only place an address travels in clear is the
// x-forwarded-for metadata from rallyd's own gateway to its gRPC port (see FromGRPC): on
// the loopback connection, TLS-protected when TLS is on, read by the rate limiter and
// never stored or logged (the call's log line drops the peer's address, and the logs of
// gRPC and grpc-gateway lose every address on the way to slog; see internal/calllog).
package clientip

import (
	"fmt"
	"net/netip"
	"strings"
)

// Resolver finds the client address of a request from the peer that connected and the
// X-Forwarded-For chain.
type Resolver struct {
	trusted []netip.Prefix
}

// NewResolver returns a Resolver that believes X-Forwarded-For only when it was added by
// one of the trusted proxies.
func NewResolver(trusted []netip.Prefix) Resolver { return Resolver{trusted: trusted} }

// Trusted reports whether addr is one of the trusted proxies.
func (r Resolver) Trusted(addr netip.Addr) bool {
	addr = addr.Unmap()
	for _, p := range r.trusted {
		if p.Contains(addr) {
			return true
		}
	}
	return false
}

// Resolve returns the client address: the peer itself unless the peer is a trusted
// proxy; then the chain is walked from the right (the entries the proxies appended) past
// every trusted proxy, and the first address that is not one is the client. Entries to its
// left were written by the client and are ignored, since anyone can send the header.
func (r Resolver) Resolve(peer netip.Addr, xff []string) netip.Addr {
	client := peer.Unmap()
	if !r.Trusted(client) {
		return client
	}
	chain := Chain(xff)
	for i := len(chain) - 1; i >= 0; i-- {
		a, err := netip.ParseAddr(chain[i])
		if err != nil {
			// Garbage where a proxy should have written an address: stop at the last
			// hop we could vouch for rather than believe anything further left.
			return client
		}
		client = a.Unmap()
		if !r.Trusted(client) {
			return client
		}
	}
	return client
}

// ParseAddrPort returns the address of a "host:port" string such as http.Request's
// RemoteAddr or a gRPC peer's address; the zero Addr when it is not one.
func ParseAddrPort(s string) netip.Addr {
	ap, err := netip.ParseAddrPort(s)
	if err != nil {
		return netip.Addr{}
	}
	return ap.Addr().Unmap()
}

// Chain splits the values of X-Forwarded-For headers into one list of entries, leftmost
// (the original client, as claimed) first.
func Chain(values []string) []string {
	var chain []string
	for _, v := range values {
		for _, e := range strings.Split(v, ",") {
			if e = strings.TrimSpace(e); e != "" {
				chain = append(chain, e)
			}
		}
	}
	return chain
}

// Bucket is the identity a rate limit counts an address under: the address itself for
// IPv4, and its /64 network for IPv6, because one subscriber usually holds a whole /64 and
// could otherwise take a fresh address for every request.
func Bucket(addr netip.Addr) string {
	addr = addr.Unmap()
	switch {
	case !addr.IsValid():
		return "unknown"
	case addr.Is4():
		return addr.String()
	default:
		return netip.PrefixFrom(addr, 64).Masked().String()
	}
}

// ParsePrefixes parses a comma-separated list of CIDR prefixes or bare addresses (which
// stand for themselves alone), as RALLY_TRUSTED_PROXIES holds.
func ParsePrefixes(s string) ([]netip.Prefix, error) {
	var out []netip.Prefix
	for _, item := range strings.Split(s, ",") {
		item = strings.TrimSpace(item)
		if item == "" {
			continue
		}
		if !strings.Contains(item, "/") {
			a, err := netip.ParseAddr(item)
			if err != nil {
				return nil, fmt.Errorf("%q is neither an address nor a CIDR prefix such as 10.0.0.0/8", item)
			}
			out = append(out, netip.PrefixFrom(a.Unmap(), a.Unmap().BitLen()))
			continue
		}
		p, err := netip.ParsePrefix(item)
		if err != nil {
			return nil, fmt.Errorf("%q is not a CIDR prefix such as 10.0.0.0/8 or fd00::/8", item)
		}
		if p.Addr().Is4In6() && p.Bits() >= 96 {
			p = netip.PrefixFrom(p.Addr().Unmap(), p.Bits()-96)
		}
		out = append(out, p.Masked())
	}
	return out, nil
}
