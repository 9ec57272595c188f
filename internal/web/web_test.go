package web

import (
	"bytes"
	"compress/gzip"
	"io/fs"
	"net/http"
	"net/http/httptest"
	"path"
	"regexp"
	"strings"
	"testing"
)

func get(t *testing.T, h http.Handler, target string, headers ...string) *httptest.ResponseRecorder {
	t.Helper()
	req := httptest.NewRequest(http.MethodGet, target, nil)
	for i := 0; i+1 < len(headers); i += 2 {
		req.Header.Set(headers[i], headers[i+1])
	}
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	return rec
}

func TestPagesServeIndexWithCSP(t *testing.T) {
	h := Handler()
	index, _ := static.ReadFile("static/index.html")
	for _, p := range []string{"/", "/c/demo-kazakhstan", "/e/demo-berlin", "/t/demo-kazakhstan", "/organise"} {
		rec := get(t, h, p)
		if rec.Code != http.StatusOK {
			t.Fatalf("GET %s: %d", p, rec.Code)
		}
		if got := rec.Header().Get("Content-Security-Policy"); got != CSP {
			t.Errorf("GET %s: CSP %q", p, got)
		}
		if got := rec.Header().Get("Content-Type"); got != "text/html; charset=utf-8" {
			t.Errorf("GET %s: Content-Type %q", p, got)
		}
		if got := rec.Header().Get("Cache-Control"); got != "no-cache" {
			t.Errorf("GET %s: Cache-Control %q", p, got)
		}
		if !bytes.Equal(rec.Body.Bytes(), index) {
			t.Errorf("GET %s: not index.html", p)
		}
	}
}

func TestAssets(t *testing.T) {
	h := Handler()
	for name, want := range map[string]string{
		"app.js":    "text/javascript; charset=utf-8",
		"event.js":  "text/javascript; charset=utf-8",
		"style.css": "text/css; charset=utf-8",
	} {
		rec := get(t, h, "/assets/"+name)
		if rec.Code != http.StatusOK || rec.Header().Get("Content-Type") != want {
			t.Errorf("GET /assets/%s: %d %q, want 200 %q", name, rec.Code, rec.Header().Get("Content-Type"), want)
		}
		// Unversioned names must be revalidated; the ETag makes that a 304.
		if got := rec.Header().Get("Cache-Control"); got != "no-cache" {
			t.Errorf("GET /assets/%s: Cache-Control %q", name, got)
		}
		again := get(t, h, "/assets/"+name, "If-None-Match", rec.Header().Get("ETag"))
		if again.Code != http.StatusNotModified {
			t.Errorf("GET /assets/%s with its ETag: %d, want 304", name, again.Code)
		}
	}
	if !hashed.MatchString("app.3f9a2c1d.js") || !hashed.MatchString("style.v2.css") || hashed.MatchString("app.js") {
		t.Error("the hashed-name pattern is wrong")
	}
}

// The handler sits at "/" behind the API: it must answer nothing that belongs to it, nor
// anything it does not know.
func TestNotFound(t *testing.T) {
	h := Handler()
	for _, p := range []string{"/v1/campaigns", "/v1/events/demo-berlin", "/healthz", "/openapi.json", "/api",
		"/assets/index.html", "/assets/missing.js", "/c/", "/c/a/b", "/organise/x", "/index.html"} {
		if rec := get(t, h, p); rec.Code != http.StatusNotFound {
			t.Errorf("GET %s: %d, want 404", p, rec.Code)
		}
	}
	// A browser asking for a page that does not exist gets the app shell, which says so,
	// with the status 404: an unknown path, or a route whose ID is not an ID.
	index, _ := static.ReadFile("static/index.html")
	for _, p := range []string{"/nope", "/e/", "/e/Bad_Shape", "/e/a/b", "/c/%20x", "/organise/x", "/t/x.y", "/index.html"} {
		rec := get(t, h, p, "Accept", "text/html,application/xhtml+xml,*/*;q=0.8")
		if rec.Code != http.StatusNotFound {
			t.Errorf("GET %s as a page: %d, want 404", p, rec.Code)
		}
		if !bytes.Equal(rec.Body.Bytes(), index) || rec.Header().Get("Content-Type") != "text/html; charset=utf-8" {
			t.Errorf("GET %s as a page: not the app shell", p)
		}
		if got := rec.Header().Get("Content-Security-Policy"); got != CSP {
			t.Errorf("GET %s as a page: CSP %q", p, got)
		}
	}
	// The routes still serve the shell with 200 for IDs of the API's shape.
	for _, p := range []string{"/e/demo-berlin", "/c/kz-2026", "/t/a"} {
		if rec := get(t, h, p, "Accept", "text/html"); rec.Code != http.StatusOK {
			t.Errorf("GET %s: %d, want 200", p, rec.Code)
		}
	}
	req := httptest.NewRequest(http.MethodPost, "/", nil)
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	if rec.Code != http.StatusMethodNotAllowed {
		t.Errorf("POST /: %d, want 405", rec.Code)
	}
}

// Every page loads from the same files, so their total is what a participant on a slow
// or metered connection pays for the client. A page loads one language (its catalogs,
// the base one and a namespace's, such as the console's, plus English as the fallback
// when the language is another): the budget counts the scripts and styles plus the
// heaviest language with English, not all languages, which no page ever loads at once.
func TestSizeBudget(t *testing.T) {
	const budget = 100 << 10
	gz := func(b []byte) int {
		var buf bytes.Buffer
		zw, _ := gzip.NewWriterLevel(&buf, gzip.DefaultCompression)
		zw.Write(b)
		zw.Close()
		return buf.Len()
	}
	var raw, zipped int
	perLang := map[string]int{} // gzipped catalogs of each language, all namespaces
	err := fs.WalkDir(static, "static", func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, _ := static.ReadFile(p)
		switch {
		case strings.HasPrefix(p, "static/i18n/") && path.Ext(p) == ".json":
			perLang[strings.TrimSuffix(path.Base(p), ".json")] += gz(b)
		case path.Ext(p) == ".js" || path.Ext(p) == ".css":
			raw += len(b)
			zipped += gz(b)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	heaviest, lang := 0, "en"
	for l, n := range perLang {
		if l != "en" && n > heaviest {
			heaviest, lang = n, l
		}
	}
	total := zipped + perLang["en"] + heaviest
	t.Logf("JavaScript and CSS: %d bytes, %d gzipped; catalogs of %s with English: %d gzipped; total %d",
		raw, zipped, lang, perLang["en"]+heaviest, total)
	if total > budget {
		t.Errorf("JavaScript, CSS and one language are %d bytes gzipped, over the budget of %d", total, budget)
	}
}

// No file may make the browser contact anyone but this server: no CDN, font, analytics
// or map tile. (Links the user follows, such as a task's sources, come from the API.)
func TestNoThirdPartyURLs(t *testing.T) {
	abs := regexp.MustCompile(`(?i)(https?:)?//[a-z0-9.-]+\.[a-z]{2,}`)
	err := fs.WalkDir(static, "static", func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, _ := static.ReadFile(p)
		for i, line := range strings.Split(string(b), "\n") {
			if m := abs.FindString(line); m != "" {
				t.Errorf("%s:%d: absolute URL %q", p, i+1, m)
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

// The service worker is served from the root, so that its scope covers the event pages,
// with the page policy and revalidated on every use (a stale worker would keep an old
// shell). Under /assets/ it would control nothing: it is not served there.
func TestServiceWorker(t *testing.T) {
	h := Handler()
	sw, _ := static.ReadFile("static/sw.js")
	rec := get(t, h, "/sw.js")
	if rec.Code != http.StatusOK {
		t.Fatalf("GET /sw.js: %d", rec.Code)
	}
	for k, want := range map[string]string{
		"Content-Security-Policy": CSP,
		"Content-Type":            "text/javascript; charset=utf-8",
		"Cache-Control":           "no-cache",
	} {
		if got := rec.Header().Get(k); got != want {
			t.Errorf("GET /sw.js: %s %q, want %q", k, got, want)
		}
	}
	if !bytes.Equal(rec.Body.Bytes(), sw) {
		t.Error("GET /sw.js: not static/sw.js")
	}
	if again := get(t, h, "/sw.js", "If-None-Match", rec.Header().Get("ETag")); again.Code != http.StatusNotModified {
		t.Errorf("GET /sw.js with its ETag: %d, want 304", again.Code)
	}
	if rec := get(t, h, "/assets/sw.js"); rec.Code != http.StatusNotFound {
		t.Errorf("GET /assets/sw.js: %d, want 404", rec.Code)
	}
	// Every file the worker keeps for offline use exists, or the offline page would
	// miss it.
	for _, m := range regexp.MustCompile(`"/assets/([a-z0-9./]+)"`).FindAllStringSubmatch(string(sw), -1) {
		if rec := get(t, h, "/assets/"+m[1]); rec.Code != http.StatusOK {
			t.Errorf("sw.js keeps /assets/%s, which is %d", m[1], rec.Code)
		}
	}
}
