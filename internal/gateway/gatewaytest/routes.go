// Package gatewaytest lists the REST routes of the API for tests that call every one of
// them (the bad-bytes and fuzz tests of internal/gateway and internal/e2e).
package gatewaytest

import (
	"encoding/json"
	"fmt"
	"regexp"
	"slices"
	"strings"
	"testing"

	"google.golang.org/genproto/googleapis/api/annotations"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/reflect/protoregistry"

	_ "github.com/rallyhq/rally/gen/go/rally/v1" // registers the services' descriptors
	openapi "github.com/rallyhq/rally/gen/openapiv2"
)

// Route is one REST operation: its HTTP method; its path as the literal Parts around
// each variable segment, and the request field that segment belongs to (Vars, as a
// google.rpc.BadRequest names it: a resource name of two segments, such as
// events/{}/rsvps/{}, gives two variable segments of one field); and its query
// parameters, as the OpenAPI document lists them.
type Route struct {
	Method string
	Parts  []string // len(Vars)+1
	Vars   []string
	Query  []string
}

// Path returns the route's path with segment in every variable (already escaped by the
// caller, or not, as it needs).
func (r Route) Path(segment string) string { return strings.Join(r.Parts, segment) }

// PathWith returns the route's path with segment in variable i and "x" in every other.
func (r Route) PathWith(i int, segment string) string {
	var b strings.Builder
	for j, p := range r.Parts {
		b.WriteString(p)
		switch {
		case j == len(r.Vars):
		case j == i:
			b.WriteString(segment)
		default:
			b.WriteString("x")
		}
	}
	return b.String()
}

func (r Route) String() string { return r.Method + " " + strings.Join(r.Parts, "{}") }

// Routes lists every operation of the OpenAPI document, sorted. The path variables'
// fields come from the methods' google.api.http rules, not from the document, whose
// expanded paths name parameters after resources ({event}) rather than fields (name).
// The calendar feeds, which are not gRPC methods, take the event's or campaign's name.
func Routes(tb testing.TB) []Route {
	tb.Helper()
	var doc struct {
		Paths map[string]map[string]struct {
			OperationID string                      `json:"operationId"`
			Parameters  []struct{ Name, In string } `json:"parameters"`
		} `json:"paths"`
	}
	if err := json.Unmarshal(openapi.JSON, &doc); err != nil {
		tb.Fatal(err)
	}
	var out []Route
	for path, ops := range doc.Paths {
		for method, op := range ops {
			var r Route
			var err error
			if strings.HasSuffix(path, ".ics") {
				r = Route{Method: "GET", Parts: []string{path[:strings.Index(path, "{")], ".ics"}, Vars: []string{"name"}}
			} else if r, err = fromRule(op.OperationID, strings.ToUpper(method), path); err != nil {
				tb.Fatalf("%s %s: %v", method, path, err)
			}
			for _, p := range op.Parameters {
				if p.In == "query" {
					r.Query = append(r.Query, p.Name)
				}
			}
			out = append(out, r)
		}
	}
	slices.SortFunc(out, func(a, b Route) int { return strings.Compare(a.String(), b.String()) })
	if len(out) < 30 {
		tb.Fatalf("%d routes in the OpenAPI document", len(out))
	}
	return out
}

// param is an OpenAPI path parameter, to compare a document's path with a rule's.
var param = regexp.MustCompile(`\{[^}]+\}`)

// fromRule builds the route of the gRPC method that an OpenAPI operation ID names
// (Service_Method, with a number after the method for its additional bindings) from the
// binding of its google.api.http rule for the HTTP method and the document's path.
func fromRule(operationID, httpMethod, path string) (Route, error) {
	service, method, ok := strings.Cut(operationID, "_")
	if !ok {
		return Route{}, fmt.Errorf("operation ID %q is not Service_Method", operationID)
	}
	method = strings.TrimRight(method, "0123456789")
	d, err := protoregistry.GlobalFiles.FindDescriptorByName(protoreflect.FullName("rally.v1." + service + "." + method))
	if err != nil {
		return Route{}, err
	}
	m, ok := d.(protoreflect.MethodDescriptor)
	if !ok {
		return Route{}, fmt.Errorf("%s is not a method", d.FullName())
	}
	rule, _ := proto.GetExtension(m.Options(), annotations.E_Http).(*annotations.HttpRule)
	for _, b := range append([]*annotations.HttpRule{rule}, rule.GetAdditionalBindings()...) {
		var template string
		switch httpMethod {
		case "GET":
			template = b.GetGet()
		case "POST":
			template = b.GetPost()
		case "PATCH":
			template = b.GetPatch()
		case "PUT":
			template = b.GetPut()
		case "DELETE":
			template = b.GetDelete()
		}
		if template == "" {
			continue
		}
		r, err := parseTemplate(httpMethod, template)
		if err != nil || strings.Join(r.Parts, "{}") == param.ReplaceAllString(path, "{}") {
			return r, err
		}
	}
	return Route{}, fmt.Errorf("%s has no %s rule for %s", m.FullName(), httpMethod, path)
}

// parseTemplate splits a path template, such as /v1/{name=events/*/rsvps/*}:cancel,
// into literal parts around each variable segment (each * of a variable's pattern, or
// the variable itself when it has none), naming the variable's field for each.
func parseTemplate(method, template string) (Route, error) {
	r := Route{Method: method}
	var lit strings.Builder
	for rest := template; rest != ""; {
		open := strings.IndexByte(rest, '{')
		if open < 0 {
			lit.WriteString(rest)
			break
		}
		lit.WriteString(rest[:open])
		end := strings.IndexByte(rest, '}')
		if end < open {
			return Route{}, fmt.Errorf("malformed template %q", template)
		}
		field, pattern, ok := strings.Cut(rest[open+1:end], "=")
		if !ok {
			pattern = "*"
		}
		for i, seg := range strings.Split(pattern, "/") {
			if i > 0 {
				lit.WriteString("/")
			}
			if seg != "*" {
				lit.WriteString(seg)
				continue
			}
			r.Parts = append(r.Parts, lit.String())
			r.Vars = append(r.Vars, field)
			lit.Reset()
		}
		rest = rest[end+1:]
	}
	r.Parts = append(r.Parts, lit.String())
	return r, nil
}
