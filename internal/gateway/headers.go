package gateway

import (
	"net/http"
	"strings"
)

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
