package gateway

import (
	"net/http"
	"net/textproto"
	"strings"

	"github.com/grpc-ecosystem/grpc-gateway/v2/runtime"

	"github.com/rallyhq/rally/internal/requestid"
)

// outgoingHeaderMatcher says which metadata of the gRPC port's response headers reaches
// the HTTP client, and as what:
//   - the call's request ID, as X-Request-Id, the header HTTP clients and proxies know;
//   - nothing of the gRPC hop between the gateway and the gRPC port (see transportKey):
//     Content-Type: application/grpc described that hop, not the JSON the client gets;
//   - any other key as grpc-gateway does by default, Grpc-Metadata- and the key.
//
// Headers the gateway sets itself (Retry-After, Content-Type, Cache-Control) are not
// metadata and are not affected.
func outgoingHeaderMatcher(key string) (string, bool) {
	if key == requestid.Header {
		return textproto.CanonicalMIMEHeaderKey(requestid.Header), true
	}
	if transportKey(key) {
		return "", false
	}
	return runtime.MetadataHeaderPrefix + key, true
}

// outgoingTrailerMatcher is outgoingHeaderMatcher for trailers, which a client that sends
// TE: trailers gets as Grpc-Trailer- and the key: never a key of the gRPC hop.
func outgoingTrailerMatcher(key string) (string, bool) {
	if transportKey(key) {
		return "", false
	}
	return runtime.MetadataTrailerPrefix + key, true
}

// transportKey says whether a key of response metadata belongs to the gRPC transport
// rather than to Rally: the headers gRPC reserves for itself (content-type, te,
// user-agent, grpc-*: grpc-encoding, grpc-accept-encoding, grpc-status, …), HTTP/2
// pseudo-headers and connection headers, and Rally's own x-rally- keys between the
// gateway and the gRPC port.
func transportKey(key string) bool {
	key = strings.ToLower(key)
	switch key {
	case "content-type", "te", "user-agent", "trailer", "connection", "keep-alive", "transfer-encoding", "upgrade", "proxy-connection":
		return true
	}
	return strings.HasPrefix(key, "grpc-") || strings.HasPrefix(key, ":") || strings.HasPrefix(key, "x-rally-")
}

// securityHeaders sets the headers every response carries. The API serves JSON only, so
// the Content-Security-Policy forbids everything: a response that a browser is tricked
// into rendering can run nothing and load nothing. A handler that serves pages (the web
// client) sets its own policy over this one.
func securityHeaders(tls bool, next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h := w.Header()
		h.Set("X-Content-Type-Options", "nosniff")
		h.Set("Referrer-Policy", "no-referrer")
		h.Set("X-Frame-Options", "DENY")
		h.Set("Content-Security-Policy", "default-src 'none'; frame-ancestors 'none'")
		if tls {
			// Two years, the value browsers' preload lists ask for. Subdomains are not
			// included: they may be served by someone else.
			h.Set("Strict-Transport-Security", "max-age=63072000")
		}
		if strings.HasPrefix(r.URL.Path, "/v1/") {
			// API responses can hold what a caller's token entitles them to (the meeting
			// point): no cache, shared or private, may keep them.
			h.Set("Cache-Control", "no-store")
		}
		next.ServeHTTP(w, r)
	})
}
