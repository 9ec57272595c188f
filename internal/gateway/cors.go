package gateway

import (
	"net/http"
)

// CORS lets the web clients of the listed origins call the API from a browser. Origins
// are compared exactly: no wildcard, and no credentials mode either, since the API's
// credential is the Authorization header a client sets itself, never a cookie.

const (
	corsMethods = "GET, POST, PATCH, DELETE"
	corsHeaders = "Authorization, Content-Type, Idempotency-Key, X-Request-Id"
	// corsMaxAge lets a browser reuse a preflight for ten minutes.
	corsMaxAge = "600"
)

// cors answers preflight requests and marks the responses to the allowed origins. A
// request from another origin is served without CORS headers, so the browser keeps its
// response from the page; a preflight from one is refused outright.
func cors(origins []string, next http.Handler) http.Handler {
	allowed := make(map[string]bool, len(origins))
	for _, o := range origins {
		allowed[o] = true
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		origin := r.Header.Get("Origin")
		if origin == "" {
			next.ServeHTTP(w, r)
			return
		}
		h := w.Header()
		h.Add("Vary", "Origin")
		preflight := r.Method == http.MethodOptions && r.Header.Get("Access-Control-Request-Method") != ""
		if preflight {
			h.Add("Vary", "Access-Control-Request-Method")
			h.Add("Vary", "Access-Control-Request-Headers")
		}
		switch {
		case !allowed[origin] && preflight:
			http.Error(w, "origin not allowed", http.StatusForbidden)
			return
		case !allowed[origin]:
			next.ServeHTTP(w, r)
			return
		}
		h.Set("Access-Control-Allow-Origin", origin)
		if preflight {
			h.Set("Access-Control-Allow-Methods", corsMethods)
			h.Set("Access-Control-Allow-Headers", corsHeaders)
			h.Set("Access-Control-Max-Age", corsMaxAge)
			w.WriteHeader(http.StatusNoContent)
			return
		}
		// Scripts may read Retry-After, to back off when rate limited, and X-Request-Id,
		// to report a failed call.
		h.Set("Access-Control-Expose-Headers", "Retry-After, X-Request-Id")
		next.ServeHTTP(w, r)
	})
}
