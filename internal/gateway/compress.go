package gateway

import (
	"net/http"
	"strings"

	"github.com/grpc-ecosystem/grpc-gateway/v2/runtime"
	"github.com/klauspost/compress/gzhttp"
)

// compress compresses (zstd or gzip, as the client's Accept-Encoding prefers) the
// responses that carry no secret: those to GET requests without a credential. They are
// the public JSON of the API, the calendar feeds, the OpenAPI document and the web
// client (whose files come compressed already, internal/web: they pass through as they
// are). The work is github.com/klauspost/compress/gzhttp's, a maintained middleware
// that negotiates the coding, sets Vary: Accept-Encoding, skips small bodies and formats
// that are compressed already, and leaves responses that carry a Content-Encoding alone.
//
// Never a watch stream (GET …:watch, watchVerb): a compressor lives as long as its
// response, and gzhttp's holds about a megabyte of state, forty times the rest of a REST
// watcher, and triples the CPU of each message (docs/performance.md). Every browser asks
// for compression, so every web client watching an event would cost that, for messages
// of a few hundred bytes that arrive minutes apart.
//
// Never a response to a request that carries a credential, nor to any other method
// (CreateRsvp, CreateApiToken, every write): BREACH. An attacker who can make a victim's
// browser send requests, and can see the length of the encrypted responses, learns a
// secret in a compressed response byte by byte when the response also reflects input of
// theirs (a query, a field echoed back): a guess that matches the secret compresses
// better. The responses that carry secrets are exactly those to callers with a token
// (an RSVP's manage token and an API token's secret when created, the meeting point and
// contacts that organisers and holders read), and those to writes; a response to an
// anonymous read is the same for everyone and holds nothing to guess. Excluding them
// also keeps the write path (CreateRsvp above all) free of any cost here: one method
// comparison.
//
// Credentials reach the API in the Authorization header, or as gRPC metadata in a
// Grpc-Metadata- header (grpc-gateway's convention, which the gateway forwards): either
// makes a request non-anonymous.
//
// ETags: the feeds send weak ETags (ical.go), which RFC 9110 lets the plain and the
// compressed body share, so the wrapper leaves ETags as they are; no other dynamic
// response has one, and the web client's compressed files have their own.
func compress(next http.Handler) http.Handler {
	wrap, err := gzhttp.NewWrapper()
	if err != nil {
		panic(err) // the defaults are valid
	}
	compressed := wrap(next)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !compressible(r) {
			next.ServeHTTP(w, r)
			return
		}
		compressed.ServeHTTP(w, r)
	})
}

// compressible says whether the response to r may be compressed: a GET (HEAD has no
// body to compress) with no credential, and not a watch stream.
func compressible(r *http.Request) bool {
	if r.Method != http.MethodGet || r.Header.Get("Accept-Encoding") == "" || strings.HasSuffix(r.URL.Path, watchVerb) {
		return false
	}
	for k := range r.Header {
		// Canonical keys: Authorization, Grpc-Metadata-Authorization, …
		if k == "Authorization" || strings.HasPrefix(k, runtime.MetadataHeaderPrefix) {
			return false
		}
	}
	return true
}
