package gateway

import (
	"context"
	"net"
	"net/http"
	"strings"

	"github.com/grpc-ecosystem/grpc-gateway/v2/runtime"
	"google.golang.org/grpc/metadata"

	"github.com/rallyhq/rally/internal/clientip"
	"github.com/rallyhq/rally/internal/requestid"
	"github.com/rallyhq/rally/internal/server"
)

// The gRPC port limits anonymous REST callers by the HTTP client's address, which only the
// gateway knows. grpc-gateway forwards it as x-forwarded-for, built from the request's
// X-Forwarded-For header and its RemoteAddr; both are under the client's control unless
// the gateway settles them first, which resolveClient does.

// resolveClient replaces the request's address by the client's, as the trusted proxies
// report it, and drops X-Forwarded-For, so that what grpc-gateway forwards is that one
// address and nothing a client wrote.
func resolveClient(resolver clientip.Resolver, next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		client := resolver.Resolve(clientip.ParseAddrPort(r.RemoteAddr), r.Header.Values("X-Forwarded-For"))
		r = r.Clone(r.Context())
		r.Header.Del("X-Forwarded-For")
		r.RemoteAddr = ""
		if client.IsValid() {
			r.RemoteAddr = net.JoinHostPort(client.String(), "0")
		}
		next.ServeHTTP(w, r)
	})
}

// rallyHeaderPrefix starts the metadata keys rallyd's parts set for each other.
const rallyHeaderPrefix = "x-rally-"

// headerMatcher is grpc-gateway's default, except that a client cannot pass metadata the
// gRPC port reads as the gateway's own (Grpc-Metadata-X-Forwarded-For,
// Grpc-Metadata-X-Rally-Gateway-Key), and that X-Request-Id passes as it is, for the gRPC
// port to check and log (see requestid), and Idempotency-Key too, for the server to fill
// request_id with (server.IdempotencyKeyHeader).
func headerMatcher(key string) (string, bool) {
	for _, h := range []string{requestid.Header, server.IdempotencyKeyHeader} {
		if strings.EqualFold(key, h) {
			return h, true
		}
	}
	md, ok := runtime.DefaultHeaderMatcher(key)
	if !ok {
		return "", false
	}
	// Compared without case rather than lowered: this runs for every header of every
	// request.
	if strings.EqualFold(md, clientip.ForwardedForHeader) || len(md) >= len(rallyHeaderPrefix) && strings.EqualFold(md[:len(rallyHeaderPrefix)], rallyHeaderPrefix) {
		return "", false
	}
	return md, true
}

// gatewayKey adds the key that tells the gRPC port this call is the gateway's, so that it
// believes the forwarded address.
func gatewayKey(key string) func(context.Context, *http.Request) metadata.MD {
	return func(context.Context, *http.Request) metadata.MD {
		if key == "" {
			return nil
		}
		return metadata.Pairs(clientip.GatewayKeyHeader, key)
	}
}
