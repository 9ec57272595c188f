package gateway_test

import (
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"path"
	"slices"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/rallyhq/rally/internal/app/apptest"
	"github.com/rallyhq/rally/internal/gateway/gatewaytest"
)

// The REST path and query fuzz tests send arbitrary bytes, percent-encoded, in the path
// variables and query parameters of every route of the OpenAPI document and of the
// calendar feeds, to a real rallyd, and check that no answer is a 5xx and that bytes that
// are not UTF-8 are always 400 with a google.rpc.BadRequest naming the field. `go test`
// runs the seeds; to explore:
//
//	go test -run '^$' -fuzz '^FuzzRESTPath$' -fuzztime 1m ./internal/gateway
//	go test -run '^$' -fuzz '^FuzzRESTQuery$' -fuzztime 1m ./internal/gateway

// fuzzRally is a rallyd for the fuzz tests, with rate limits off: one address calls as
// fast as it can.
type fuzzRally struct {
	base   string
	client *http.Client
	routes []gatewaytest.Route
}

func startFuzzRally(f *testing.F) *fuzzRally {
	a := apptest.Start(f, adminToken, "--rate-limits=read=off;write=off;rally.v1.RsvpService/CreateRsvp=off")
	return &fuzzRally{
		base: "http://" + a.HTTPAddr(),
		// No route streams: no resource exists, so a watch is NOT_FOUND at once.
		client: &http.Client{Timeout: 10 * time.Second, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }},
		routes: gatewaytest.Routes(f),
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
	routes := slices.DeleteFunc(slices.Clone(fr.routes), func(r gatewaytest.Route) bool { return len(r.Vars) == 0 })
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
		target := r.Path(url.PathEscape(segment))
		code, fields := fr.send(t, r.Method, target)
		if utf8.ValidString(segment) {
			return
		}
		// Dot segments are resolved by net/http (a redirect) before any route is
		// chosen: the bytes they remove were never read.
		if decoded, _ := url.PathUnescape(target); code/100 == 3 && path.Clean(decoded) != decoded {
			return
		}
		if code != http.StatusBadRequest || len(fields) == 0 {
			t.Fatalf("%s %s: %d %v, want 400 naming a field", r.Method, target, code, fields)
		}
		for _, field := range fields {
			if field != "path" && !slices.Contains(r.Vars, field) {
				t.Fatalf("%s %s: names %q, want one of %v or path", r.Method, target, field, r.Vars)
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
		target := r.Path("x") + "?" + url.QueryEscape(key) + "=" + url.QueryEscape(value)
		code, fields := fr.send(t, r.Method, target)
		if utf8.ValidString(key) && utf8.ValidString(value) {
			return
		}
		if code != http.StatusBadRequest || len(fields) != 1 {
			t.Fatalf("%s %s: %d %v, want 400 naming the parameter", r.Method, target, code, fields)
		}
	})
}
