// Package web serves Rally's web client: a few hand-written HTML, CSS and JavaScript files
// (plain ES modules, no build step) embedded in the binary. The client uses only the
// public REST API, from the same origin, and loads nothing from anywhere else.
package web

import (
	"bytes"
	"crypto/sha256"
	"embed"
	"encoding/base64"
	"io/fs"
	"mime"
	"net/http"
	"path"
	"regexp"
	"strconv"
	"strings"
	"time"
)

//go:embed static
var static embed.FS

// CSP is the policy of every response of the web client. Scripts, styles and API calls
// come from this origin only, so an injected tag can neither run foreign code nor send
// anything to a third party; no inline script or style is allowed either.
const CSP = "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; " +
	"img-src 'self' data:; form-action 'self'; base-uri 'none'; frame-ancestors 'none'"

// asset is one embedded file, read once at start-up.
type asset struct {
	body        []byte
	contentType string
	etag        string
}

// hashed matches names that carry a content hash or version (app.3f9a2c1d.js,
// style.v2.css): their content never changes under that name, so browsers may keep them
// for a year. Other names must be revalidated (cheaply, by ETag) on every use, or a
// release would leave browsers running old code against a new API.
var hashed = regexp.MustCompile(`\.(v\d+|[0-9a-f]{8,})\.[a-z]+$`)

// Handler serves the client: index.html for the app's routes (the page picks what to
// show from location.pathname), the files under /assets/, and 404 for anything else, so
// that it can sit at "/" behind the API's more specific routes without hiding any. A
// browser's page request for an unknown path (or a route whose ID is not an ID) gets the
// app shell with the 404 status: the page then says, in its language, that there is no
// such page, where the status alone would leave the person on a bare error.
func Handler() http.Handler {
	assets := map[string]asset{}
	err := fs.WalkDir(static, "static", func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		body, err := static.ReadFile(p)
		if err != nil {
			return err
		}
		sum := sha256.Sum256(body)
		assets[p[len("static/"):]] = asset{
			body:        body,
			contentType: contentType(p),
			etag:        `"` + base64.RawURLEncoding.EncodeToString(sum[:12]) + `"`,
		}
		return nil
	})
	if err != nil {
		panic(err) // the files are compiled in: this cannot fail at run time
	}
	index := assets["index.html"]
	page := func(w http.ResponseWriter, r *http.Request) {
		if id := r.PathValue("id"); id != "" && !pageID.MatchString(id) {
			notFound(w, r, index)
			return
		}
		serve(w, r, index, "no-cache")
	}

	mux := http.NewServeMux()
	mux.HandleFunc("GET /{$}", page)
	mux.HandleFunc("GET /c/{id}", page)
	mux.HandleFunc("GET /e/{id}", page)
	mux.HandleFunc("GET /t/{id}", page)
	mux.HandleFunc("GET /organise", page)
	// The service worker of the offline event card. A worker controls only the pages under
	// the path it is served from, so it is served from the root, where its scope covers
	// /e/{id}; under /assets/ it would control nothing. no-cache, as the pages: browsers
	// check a worker for updates at most daily anyway, and a stale one would keep serving
	// an old shell against a new API. The page policy (CSP) covers it too: with
	// connect-src 'self' the worker itself can fetch only from this origin. No worker-src
	// is needed: it falls back to script-src 'self', which allows this one and no other.
	sw := assets["sw.js"]
	mux.HandleFunc("GET /sw.js", func(w http.ResponseWriter, r *http.Request) { serve(w, r, sw, "no-cache") })
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		// Not a route of the client; GET and HEAD only, as the mux's own 405 says for
		// the routes above.
		if r.Method != http.MethodGet && r.Method != http.MethodHead {
			if r.URL.Path == "/" || pageRoute.MatchString(r.URL.Path) {
				w.Header().Set("Allow", "GET, HEAD")
				http.Error(w, http.StatusText(http.StatusMethodNotAllowed), http.StatusMethodNotAllowed)
				return
			}
		}
		notFound(w, r, index)
	})
	mux.HandleFunc("GET /assets/{name...}", func(w http.ResponseWriter, r *http.Request) {
		name := r.PathValue("name")
		a, ok := assets[name]
		// index.html and sw.js have routes of their own.
		if !ok || name == "index.html" || name == "sw.js" {
			http.NotFound(w, r)
			return
		}
		cache := "no-cache"
		if hashed.MatchString(name) {
			cache = "public, max-age=31536000, immutable"
		}
		serve(w, r, a, cache)
	})
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		// Set over the gateway's API policy (default-src 'none'), which would block the
		// page's own scripts; every response here, 404s included, gets the page policy.
		w.Header().Set("Content-Security-Policy", CSP)
		mux.ServeHTTP(w, r)
	})
}

// pageID is the shape of the IDs in the client's routes (/c/{id}, /e/{id}, /t/{id}): the
// API's resource IDs, as app.js's routes match them.
var pageID = regexp.MustCompile(`^[a-z0-9-]+$`)

// pageRoute matches the client's routes other than "/", for the 405 of other methods.
var pageRoute = regexp.MustCompile(`^/([cet]/[^/]+|organise)$`)

// notFound answers 404: with the app shell to a browser asking for a page (it says "page
// not found" in the person's language, with a way on), plain text to anything else (an
// API client, a missing asset).
func notFound(w http.ResponseWriter, r *http.Request, index asset) {
	if !strings.Contains(r.Header.Get("Accept"), "text/html") {
		http.NotFound(w, r)
		return
	}
	h := w.Header()
	h.Set("Content-Type", index.contentType)
	h.Set("Cache-Control", "no-cache")
	h.Set("Content-Length", strconv.Itoa(len(index.body)))
	w.WriteHeader(http.StatusNotFound)
	if r.Method != http.MethodHead {
		w.Write(index.body)
	}
}

func serve(w http.ResponseWriter, r *http.Request, a asset, cache string) {
	h := w.Header()
	h.Set("Content-Type", a.contentType)
	h.Set("Cache-Control", cache)
	body, etag := encoded(w, r, a) // compress.go: the gzip copy when the client takes it
	h.Set("ETag", etag)
	// ServeContent answers If-None-Match with 304 and handles HEAD and ranges.
	http.ServeContent(w, r, "", time.Time{}, bytes.NewReader(body))
}

// contentType does not rely on the system's MIME tables, which differ between machines
// (some map .js to text/plain, which browsers refuse to run as a module).
func contentType(name string) string {
	switch path.Ext(name) {
	case ".html":
		return "text/html; charset=utf-8"
	case ".js":
		return "text/javascript; charset=utf-8"
	case ".css":
		return "text/css; charset=utf-8"
	case ".svg":
		return "image/svg+xml"
	case ".json":
		return "application/json; charset=utf-8"
	}
	if t := mime.TypeByExtension(path.Ext(name)); t != "" {
		return t
	}
	return "application/octet-stream"
}
