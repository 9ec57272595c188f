package web

import (
	"bytes"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync"

	"github.com/klauspost/compress/gzip"
)

// The web client's files are sent gzip-compressed to browsers that accept it. Each file
// is compressed once per process, at the best level, the first time it is asked for, and
// kept: the files are embedded and never change while rallyd runs, so there is nothing to
// go stale, and no build step (which the web client has none of) or generated copy in
// the repository is needed. gzip only: every browser takes it, and on these files
// Brotli's best saves another 13% at forty times the CPU (a second per process, on the
// project's two-core machines), which is not worth its dependency.
//
// The gzip copy is a representation of its own (RFC 9110): it has its own ETag, the
// file's with "-gzip", so that If-None-Match and caches never mix the two, and every
// response says Vary: Accept-Encoding. The files hold no secret, so BREACH (see
// internal/gateway/compress.go) does not apply to them.

// gzipCopy is the compressed copy of one file, made once.
type gzipCopy struct {
	once sync.Once
	body []byte // nil when compression does not make it smaller
	etag string
}

// gzipCopies holds a gzipCopy per file content, by the file's ETag (a hash of it).
var gzipCopies sync.Map

// compressedTypes are the content types worth compressing: text. Images other than SVG
// are compressed already.
func compressedType(contentType string) bool {
	return strings.HasPrefix(contentType, "text/") || strings.HasPrefix(contentType, "application/json") ||
		strings.HasPrefix(contentType, "image/svg+xml") || strings.HasPrefix(contentType, "application/manifest+json")
}

// encoded picks what to send of a for r: its gzip copy, with Content-Encoding: gzip,
// when the client accepts gzip and the copy is smaller, else the file itself. It returns
// the body and its ETag.
func encoded(w http.ResponseWriter, r *http.Request, a asset) ([]byte, string) {
	if !compressedType(a.contentType) {
		return a.body, a.etag
	}
	if !slices.ContainsFunc(w.Header().Values("Vary"), func(v string) bool { return strings.Contains(v, "Accept-Encoding") }) {
		w.Header().Add("Vary", "Accept-Encoding") // unless the gateway's compressor said it
	}
	if !acceptsGzip(r.Header.Values("Accept-Encoding")) {
		return a.body, a.etag
	}
	v, _ := gzipCopies.LoadOrStore(a.etag, &gzipCopy{})
	c := v.(*gzipCopy)
	c.once.Do(func() {
		var b bytes.Buffer
		zw, _ := gzip.NewWriterLevel(&b, gzip.BestCompression) // a valid level
		_, _ = zw.Write(a.body)                                // a bytes.Buffer does not fail
		_ = zw.Close()
		if b.Len() < len(a.body) {
			c.body = b.Bytes()
			c.etag = strings.TrimSuffix(a.etag, `"`) + `-gzip"`
		}
	})
	if c.body == nil {
		return a.body, a.etag
	}
	w.Header().Set("Content-Encoding", "gzip")
	return c.body, c.etag
}

// acceptsGzip reads Accept-Encoding (RFC 9110, 12.5.3): whether gzip (or its alias
// x-gzip, or *) is listed with a q-value above 0. An explicit gzip entry wins over *.
func acceptsGzip(values []string) bool {
	star := false
	for _, v := range values {
		for entry := range strings.SplitSeq(v, ",") {
			coding, params, _ := strings.Cut(entry, ";")
			coding = strings.ToLower(strings.TrimSpace(coding))
			ok := qPositive(params)
			switch coding {
			case "gzip", "x-gzip":
				return ok
			case "*":
				star = ok
			}
		}
	}
	return star
}

// qPositive reports whether the parameters of an Accept-Encoding entry give it a q-value
// above 0 (no q means 1).
func qPositive(params string) bool {
	for p := range strings.SplitSeq(params, ";") {
		k, v, _ := strings.Cut(strings.TrimSpace(p), "=")
		if strings.EqualFold(strings.TrimSpace(k), "q") {
			q, err := strconv.ParseFloat(strings.TrimSpace(v), 64)
			return err == nil && q > 0
		}
	}
	return true
}
