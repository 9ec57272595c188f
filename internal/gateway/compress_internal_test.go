package gateway

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

// The policy alone, on a handler whose every response is worth compressing: only a GET
// without a credential is compressed; a write, a HEAD, a watch stream and a request
// carrying a token in Authorization or in gRPC metadata never are, whatever the client
// accepts.
func TestCompressible(t *testing.T) {
	body := strings.Repeat(`{"field":"a value that compresses well"}`, 200)
	h := compress(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write([]byte(body))
	}))
	for _, tc := range []struct {
		method string
		path   string
		header []string
		want   string
	}{
		{"GET", "/v1/x", nil, "gzip"},
		{"GET", "/v1/events/x:watch", nil, ""},
		{"GET", "/v1/campaigns/x:watch", nil, ""},
		{"GET", "/v1/x", []string{"Authorization", "Bearer rly_rsvp_x"}, ""},
		{"GET", "/v1/x", []string{"authorization", "Bearer rly_rsvp_x"}, ""},
		{"GET", "/v1/x", []string{"Grpc-Metadata-Authorization", "Bearer rly_rsvp_x"}, ""},
		{"GET", "/v1/x", []string{"Grpc-Metadata-X-Anything", "1"}, ""},
		{"POST", "/v1/x", nil, ""},
		{"PATCH", "/v1/x", nil, ""},
		{"DELETE", "/v1/x", nil, ""},
		{"HEAD", "/v1/x", nil, ""},
	} {
		req := httptest.NewRequest(tc.method, tc.path, nil)
		req.Header.Set("Accept-Encoding", "gzip")
		for i := 0; i+1 < len(tc.header); i += 2 {
			req.Header.Set(tc.header[i], tc.header[i+1])
		}
		w := httptest.NewRecorder()
		h.ServeHTTP(w, req)
		if got := w.Header().Get("Content-Encoding"); got != tc.want {
			t.Errorf("%s %s %v: Content-Encoding %q, want %q", tc.method, tc.path, tc.header, got, tc.want)
		}
	}
}

// What the wrapper costs a write such as CreateRsvp, which it passes on untouched:
// compare with BenchmarkNoWrapper.
func BenchmarkCompressWrapperPOST(b *testing.B) {
	benchmarkPOST(b, compress(http.HandlerFunc(func(http.ResponseWriter, *http.Request) {})))
}

func BenchmarkNoWrapper(b *testing.B) {
	benchmarkPOST(b, http.HandlerFunc(func(http.ResponseWriter, *http.Request) {}))
}

func benchmarkPOST(b *testing.B, h http.Handler) {
	req := httptest.NewRequest("POST", "/v1/events/e/rsvps", nil)
	req.Header.Set("Accept-Encoding", "gzip, deflate, br, zstd")
	w := httptest.NewRecorder()
	b.ReportAllocs()
	for b.Loop() {
		h.ServeHTTP(w, req)
	}
}
