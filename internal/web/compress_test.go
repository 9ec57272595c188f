package web

import (
	"compress/gzip"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

func TestAcceptsGzip(t *testing.T) {
	for ae, want := range map[string]bool{
		"":                          false,
		"gzip":                      true,
		"GZip":                      true,
		"x-gzip":                    true,
		"gzip, deflate, br, zstd":   true,
		"br;q=1.0, gzip;q=0.5":      true,
		"gzip;q=0":                  false,
		"gzip; q=0.000":             false,
		"*":                         true,
		"*;q=0":                     false,
		"*, gzip;q=0":               false,
		"gzip;q=0, *":               false,
		"identity":                  false,
		"br, zstd":                  false,
		"deflate;q=0.5, gzip;q=0.1": true,
	} {
		if got := acceptsGzip([]string{ae}); got != want {
			t.Errorf("acceptsGzip(%q) = %v, want %v", ae, got, want)
		}
	}
}

// Every text file is served gzip-compressed when asked, decoding to the file itself,
// with an ETag of its own that 304s, and plain when not asked; both say Vary.
func TestCompressedFiles(t *testing.T) {
	h := Handler()
	get := func(path string, header ...string) *httptest.ResponseRecorder {
		req := httptest.NewRequest("GET", path, nil)
		for i := 0; i+1 < len(header); i += 2 {
			req.Header.Set(header[i], header[i+1])
		}
		w := httptest.NewRecorder()
		h.ServeHTTP(w, req)
		return w
	}
	paths := []string{"/", "/e/x", "/sw.js"}
	entries, err := static.ReadDir("static")
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		if !e.IsDir() && e.Name() != "index.html" && e.Name() != "sw.js" {
			paths = append(paths, "/assets/"+e.Name())
		}
	}
	for _, path := range paths {
		plain := get(path)
		gz := get(path, "Accept-Encoding", "gzip, deflate, br, zstd")
		if plain.Code != 200 || gz.Code != 200 || plain.Header().Get("Content-Encoding") != "" {
			t.Fatalf("%s: %d, %d, %q", path, plain.Code, gz.Code, plain.Header().Get("Content-Encoding"))
		}
		if !compressedType(plain.Header().Get("Content-Type")) {
			continue
		}
		for _, w := range []*httptest.ResponseRecorder{plain, gz} {
			if w.Header().Values("Vary") == nil || w.Header().Get("Vary") != "Accept-Encoding" {
				t.Errorf("%s: Vary %q", path, w.Header().Values("Vary"))
			}
		}
		if gz.Header().Get("Content-Encoding") != "gzip" || gz.Body.Len() >= plain.Body.Len() {
			t.Errorf("%s: asked for gzip: Content-Encoding %q, %d bytes for %d", path, gz.Header().Get("Content-Encoding"), gz.Body.Len(), plain.Body.Len())
			continue
		}
		zr, err := gzip.NewReader(gz.Body)
		if err != nil {
			t.Fatal(err)
		}
		body, err := io.ReadAll(zr)
		if err != nil || string(body) != plain.Body.String() {
			t.Errorf("%s: the gzip copy does not decode to the file (%v)", path, err)
		}
		etag := gz.Header().Get("ETag")
		if etag == "" || etag == plain.Header().Get("ETag") || !strings.HasSuffix(etag, `-gzip"`) {
			t.Errorf("%s: gzip ETag %q, plain %q", path, etag, plain.Header().Get("ETag"))
		}
		if w := get(path, "Accept-Encoding", "gzip", "If-None-Match", etag); w.Code != http.StatusNotModified {
			t.Errorf("%s: If-None-Match of the gzip copy: %d", path, w.Code)
		}
		if w := get(path, "Accept-Encoding", "gzip;q=0"); w.Header().Get("Content-Encoding") != "" {
			t.Errorf("%s: gzip;q=0: Content-Encoding %q", path, w.Header().Get("Content-Encoding"))
		}
	}
}
