package gateway

import (
	"bytes"
	"encoding/json"
	"fmt"
	"html/template"
	"net/http"
	"slices"
	"strings"

	openapi "github.com/rallyhq/rally/gen/openapiv2"
)

// GET /api is a page for developers of other clients: every REST endpoint, by service,
// with its method, path and what it does, taken from the embedded OpenAPI document so that
// it cannot drift from the API. It is one self-contained HTML page: inline CSS, no script,
// nothing loaded from anywhere, so its Content-Security-Policy allows inline styles only.

// apiPageCSP is the policy of the page: the API's own (securityHeaders), plus inline
// styles.
const apiPageCSP = "default-src 'none'; style-src 'unsafe-inline'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"

// apiPage serves the page, rendered once.
func apiPage() (http.Handler, error) {
	groups, err := apiGroups(openapi.JSON)
	if err != nil {
		return nil, fmt.Errorf("api page: %w", err)
	}
	var buf bytes.Buffer
	if err := apiPageTemplate.Execute(&buf, groups); err != nil {
		return nil, fmt.Errorf("api page: %w", err)
	}
	page := buf.Bytes()
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		w.Header().Set("Content-Security-Policy", apiPageCSP)
		_, _ = w.Write(page)
	}), nil
}

// apiGroup is one service's endpoints.
type apiGroup struct {
	Name, Description string
	Endpoints         []apiEndpoint
}

// apiEndpoint is one REST operation.
type apiEndpoint struct {
	Method, Path, Summary, Description string
	Query                              []string // query parameters
	Body                               bool     // takes a JSON body
}

// openAPIOperation is what the page uses of an OpenAPI v2 operation.
type openAPIOperation struct {
	Summary     string   `json:"summary"`
	Description string   `json:"description"`
	Tags        []string `json:"tags"`
	Parameters  []struct {
		Name    string `json:"name"`
		In      string `json:"in"`
		Pattern string `json:"pattern"`
	} `json:"parameters"`
}

var httpMethods = []string{"get", "post", "put", "patch", "delete"}

// apiGroups lists the document's operations by tag, in the document's order of tags,
// each group by path and then method.
func apiGroups(doc []byte) ([]apiGroup, error) {
	var d struct {
		Tags []struct {
			Name        string `json:"name"`
			Description string `json:"description"`
		} `json:"tags"`
		Paths map[string]map[string]json.RawMessage `json:"paths"`
	}
	if err := json.Unmarshal(doc, &d); err != nil {
		return nil, err
	}
	var groups []apiGroup
	index := map[string]int{}
	group := func(name, desc string) int {
		i, ok := index[name]
		if !ok {
			i = len(groups)
			index[name] = i
			groups = append(groups, apiGroup{Name: name, Description: desc})
		}
		return i
	}
	for _, t := range d.Tags {
		group(t.Name, t.Description)
	}
	for path, ops := range d.Paths {
		for _, method := range httpMethods {
			raw, ok := ops[method]
			if !ok {
				continue
			}
			var op openAPIOperation
			if err := json.Unmarshal(raw, &op); err != nil {
				return nil, fmt.Errorf("%s %s: %w", method, path, err)
			}
			ep := apiEndpoint{Method: strings.ToUpper(method), Path: path, Summary: op.Summary, Description: op.Description}
			for _, p := range op.Parameters {
				switch p.In {
				case "path":
					ep.Path = strings.Replace(ep.Path, "{"+p.Name+"}", resourcePattern(p.Name, p.Pattern), 1)
				case "query":
					ep.Query = append(ep.Query, p.Name)
				case "body":
					ep.Body = true
				}
			}
			tag := "Other"
			if len(op.Tags) > 0 {
				tag = op.Tags[0]
			}
			i := group(tag, "")
			groups[i].Endpoints = append(groups[i].Endpoints, ep)
		}
	}
	groups = slices.DeleteFunc(groups, func(g apiGroup) bool { return len(g.Endpoints) == 0 })
	for _, g := range groups {
		slices.SortFunc(g.Endpoints, func(a, b apiEndpoint) int {
			if c := strings.Compare(a.Path, b.Path); c != 0 {
				return c
			}
			return slices.Index(httpMethods, strings.ToLower(a.Method)) - slices.Index(httpMethods, strings.ToLower(b.Method))
		})
	}
	return groups, nil
}

// resourcePattern renders a path parameter by the resource names it takes: pattern
// events/[^/]+/rsvps/[^/]+ becomes events/{event}/rsvps/{rsvp}. Without a pattern it is
// {name}.
func resourcePattern(name, pattern string) string {
	if pattern == "" {
		return "{" + name + "}"
	}
	// Each variable segment, [^/]+, is named after the collection before it.
	parts := strings.Split(pattern, "[^/]+")
	var b strings.Builder
	for i, p := range parts {
		b.WriteString(p)
		if i < len(parts)-1 {
			collection := p[strings.LastIndex(strings.TrimSuffix(p, "/"), "/")+1:]
			b.WriteString("{" + strings.TrimSuffix(strings.TrimSuffix(collection, "/"), "s") + "}")
		}
	}
	return b.String()
}

var apiPageTemplate = template.Must(template.New("api").Parse(`<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>Rally REST API</title>
<style>
body { font: 16px/1.5 system-ui, sans-serif; max-width: 60rem; margin: 0 auto; padding: 1rem; color: #222; background: #fff; }
h1, h2 { line-height: 1.2; }
h2 { margin-top: 2rem; border-bottom: 1px solid #ccc; }
code { font-family: ui-monospace, monospace; font-size: 0.95em; }
table { border-collapse: collapse; width: 100%; }
th, td { text-align: left; vertical-align: top; padding: 0.4rem 0.5rem; border-bottom: 1px solid #eee; }
td.ep { white-space: nowrap; }
.m { display: inline-block; min-width: 3.5rem; font-weight: bold; }
.q { color: #555; font-size: 0.9em; }
p.d { white-space: pre-line; }
@media (prefers-color-scheme: dark) { body { color: #eee; background: #111; } th, td { border-color: #333; } .q { color: #aaa; } a { color: #8cf; } }
</style>
</head>
<body>
<h1>Rally REST API</h1>
<p>Every endpoint of the REST/JSON API, generated from its OpenAPI document,
<a href="/openapi.json"><code>/openapi.json</code></a> (OpenAPI v2). The API is defined in
Protocol Buffers: the <code>.proto</code> files in <code>proto/rally/v1</code> of Rally's
source document every message and field, and its docs/api.md explains
the semantics. The same services are served over gRPC, with reflection.</p>
<p>Requests and responses are JSON with camelCase field names. Writes and private reads take
a bearer token: <code>Authorization: Bearer &lt;token&gt;</code>. Path parameters such as
<code>{event}</code> are IDs; errors are <code>{"code", "message", "details"}</code> with the
gRPC status code.</p>
{{range .}}
<h2 id="{{.Name}}">{{.Name}}</h2>
{{if .Description}}<p class="d">{{.Description}}</p>{{end}}
<table>
<thead><tr><th>Endpoint</th><th>What it does</th></tr></thead>
<tbody>
{{range .Endpoints}}<tr>
<td class="ep"><code><span class="m">{{.Method}}</span> {{.Path}}</code></td>
<td>{{.Summary}}{{if .Description}}<p class="d">{{.Description}}</p>{{end}}
{{- if .Body}}<div class="q">Body: JSON</div>{{end}}
{{- if .Query}}<div class="q">Query: {{range $i, $q := .Query}}{{if $i}}, {{end}}<code>{{$q}}</code>{{end}}</div>{{end}}</td>
</tr>
{{end}}</tbody>
</table>
{{end}}
</body>
</html>
`))
