package gateway_test

import (
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"path"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	openapi "github.com/rallyhq/rally/gen/openapiv2"
	"github.com/rallyhq/rally/internal/app/apptest"
)

// The REST path and query fuzz tests send arbitrary bytes, percent-encoded, in the path
// variables and query parameters of every route of the OpenAPI document and of the
// calendar feeds, to a real rallyd, and check that no answer is a 5xx and that bytes that
// are not UTF-8 are always 400 with a google.rpc.BadRequest naming the field. `go test`
// runs the seeds; to explore:
//
//	go test -run '^$' -fuzz '^FuzzRESTPath$' -fuzztime 1m ./internal/gateway
//	go test -run '^$' -fuzz '^FuzzRESTQuery$' -fuzztime 1m ./internal/gateway

// route is one REST operation: its method and its path with each variable segment
// (the [^/]+ of a resource name's pattern) marked as {}.
type route struct {
	method, path string
	fields       []string // the path variables' fields, as violations name them
}

// build returns the route's path with segment, percent-encoded, in every variable.
func (r route) build(segment string) string {
	return strings.ReplaceAll(r.path, "{}", url.PathEscape(segment))
}

// restRoutes lists every operation of the OpenAPI document, and the calendar feeds, in a
// fixed order.
func restRoutes(tb testing.TB) []route {
	var doc struct {
		Paths map[string]map[string]struct {
			Parameters []struct{ Name, In, Pattern string } `json:"parameters"`
		} `json:"paths"`
	}
	if err := json.Unmarshal(openapi.JSON, &doc); err != nil {
		tb.Fatal(err)
	}
	// OpenAPI names a path variable met twice name_1, name_2...: the field is name.
	dedup := regexp.MustCompile(`_[0-9]+$`)
	var out []route
	for p, ops := range doc.Paths {
		for method, op := range ops {
			r := route{method: strings.ToUpper(method), path: p}
			for _, param := range op.Parameters {
				if param.In != "path" {
					continue
				}
				value := param.Pattern
				if value == "" {
					value = "[^/]+"
				}
				r.path = strings.Replace(r.path, "{"+param.Name+"}", strings.ReplaceAll(value, "[^/]+", "{}"), 1)
				r.fields = append(r.fields, dedup.ReplaceAllString(param.Name, ""))
			}
			out = append(out, r)
		}
	}
	out = append(out,
		route{method: "GET", path: "/v1/events/{}.ics", fields: []string{"name"}},
		route{method: "GET", path: "/v1/campaigns/{}.ics", fields: []string{"name"}})
	slices.SortFunc(out, func(a, b route) int { return strings.Compare(a.method+a.path, b.method+b.path) })
	if len(out) < 30 {
		tb.Fatalf("%d routes in the OpenAPI document", len(out))
	}
	return out
}

// fuzzRally is a rallyd for the fuzz tests, with rate limits off: one address calls as
// fast as it can.
type fuzzRally struct {
	base   string
	client *http.Client
	routes []route
}

func startFuzzRally(f *testing.F) *fuzzRally {
	a := apptest.Start(f, adminToken, "--rate-limits=read=off;write=off;rally.v1.RsvpService/CreateRsvp=off")
	return &fuzzRally{
		base: "http://" + a.HTTPAddr(),
		// No route streams: no resource exists, so a watch is NOT_FOUND at once.
		client: &http.Client{Timeout: 10 * time.Second, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }},
		routes: restRoutes(f),
	}
}

// send sends method target (a path and query, already encoded) and returns the status and
// the BadRequest's fields, if any.
func (fr *fuzzRally) send(t *testing.T, method, target string) (int, []string) {
	t.Helper()
	var body io.Reader
	if method != "GET" {
		body = strings.NewReader("{}")
	}
	req, err := http.NewRequest(method, fr.base+target, body)
	if err != nil {
		t.Skipf("not a request Go's client sends: %v", err)
	}
	resp, err := fr.client.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, target, err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	if resp.StatusCode >= 500 {
		t.Fatalf("%s %s: %d %s", method, target, resp.StatusCode, raw)
	}
	var st struct {
		Details []struct {
			FieldViolations []struct{ Field, Description string } `json:"fieldViolations"`
		} `json:"details"`
	}
	_ = json.Unmarshal(raw, &st)
	var fields []string
	for _, d := range st.Details {
		for _, v := range d.FieldViolations {
			if v.Field == "" || v.Description == "" {
				t.Fatalf("%s %s: a field violation without field or description: %s", method, target, raw)
			}
			fields = append(fields, v.Field)
		}
	}
	return resp.StatusCode, fields
}

// FuzzRESTPath puts segment in every path variable of the route numbered n (of those
// with a variable).
func FuzzRESTPath(f *testing.F) {
	fr := startFuzzRally(f)
	routes := slices.DeleteFunc(slices.Clone(fr.routes), func(r route) bool { return len(r.fields) == 0 })
	for i := range routes {
		f.Add(uint8(i), "\xff")
		f.Add(uint8(i), "vigil-berlin")
	}
	for _, s := range []string{"\xc3\x28", "a\xc0\xafb", "\xed\xa0\x80", "x/\xff", "\xff:watch", "\xff.ics", "Қазақ", "%ff", "..", "\xff/..", "a b?c#d", ""} {
		f.Add(uint8(0), s)
		f.Add(uint8(9), s)
	}
	f.Fuzz(func(t *testing.T, n uint8, segment string) {
		r := routes[int(n)%len(routes)]
		target := r.build(segment)
		code, fields := fr.send(t, r.method, target)
		if utf8.ValidString(segment) {
			return
		}
		// Dot segments are resolved by net/http (a redirect) before any route is
		// chosen: the bytes they remove were never read.
		if decoded, _ := url.PathUnescape(target); code/100 == 3 && path.Clean(decoded) != decoded {
			return
		}
		if code != http.StatusBadRequest || len(fields) == 0 {
			t.Fatalf("%s %s: %d %v, want 400 naming a field", r.method, target, code, fields)
		}
		for _, field := range fields {
			if field != "path" && !slices.Contains(r.fields, field) {
				t.Fatalf("%s %s: names %q, want one of %v or path", r.method, target, field, r.fields)
			}
		}
	})
}

// FuzzRESTQuery adds the query parameter key=value, percent-encoded, to the route
// numbered n.
func FuzzRESTQuery(f *testing.F) {
	fr := startFuzzRally(f)
	for i := range fr.routes {
		f.Add(uint8(i), "requestId", "\xff")
	}
	for _, kv := range [][2]string{
		{"campaign", "\xc3\x28"}, {"pageToken", "\xff"}, {"updateMask", "title,\xff"}, {"cursor", "\xed\xa0\x80"},
		{"requestId", "0123456789abcdef-ok"}, {"pageSize", "abc"}, {"\xff", "x"}, {"nosuchfield", "\xff"},
		{"event.venue.locality", "\xff"}, {"hashtags[0]", "\xff"}, {"", "\xff"}, {"country", "DE"},
	} {
		f.Add(uint8(0), kv[0], kv[1])
		f.Add(uint8(3), kv[0], kv[1])
	}
	f.Fuzz(func(t *testing.T, n uint8, key, value string) {
		r := fr.routes[int(n)%len(fr.routes)]
		target := r.build("x") + "?" + url.QueryEscape(key) + "=" + url.QueryEscape(value)
		code, fields := fr.send(t, r.method, target)
		if utf8.ValidString(key) && utf8.ValidString(value) {
			return
		}
		if code != http.StatusBadRequest || len(fields) != 1 {
			t.Fatalf("%s %s: %d %v, want 400 naming the parameter", r.method, target, code, fields)
		}
	})
}
