package gateway

import (
	"context"
	"net/http"
	"net/url"
	"regexp"
	"slices"
	"strings"
	"unicode/utf8"

	"github.com/grpc-ecosystem/grpc-gateway/v2/runtime"
	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/rallyhq/rally/internal/server"
)

// Bad bytes are the client's mistake. A path variable or query parameter that is not
// valid UTF-8 becomes a protobuf string that grpc-go refuses to marshal, which
// grpc-gateway answers with 500 (INTERNAL, "string field contains invalid UTF-8"); and a
// header value that is not printable ASCII cannot be gRPC metadata, so grpc-gateway drops
// it without a word: an Authorization header would be as if not sent, an Idempotency-Key
// would leave a retried create unprotected. So before grpc-gateway decodes a request, the
// gateway answers 400 (INVALID_ARGUMENT) with a google.rpc.BadRequest naming each such
// field, as the server names fields: path variables and query parameters by their
// protobuf path (name, request_id for ?requestId=), headers by their metadata key.

// Descriptions of the violations.
const (
	reasonUTF8      = "must be valid UTF-8"
	reasonEscape    = "is not validly percent-encoded"
	reasonPrintable = "must be printable ASCII, as gRPC metadata"
)

// checkedHeaders are the metadata the server reads from a client, whose HTTP headers
// must reach it whole.
var checkedHeaders = map[string]bool{"authorization": true, server.IdempotencyKeyHeader: true}

// badBytes is the gateway's middleware (runtime.WithMiddlewares) and routing error
// handler; mux is the gateway, for answers in its shape.
type badBytes struct{ mux *runtime.ServeMux }

func (b *badBytes) middleware(next runtime.HandlerFunc) runtime.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request, pathParams map[string]string) {
		if err := byteViolations(r, pathParams, true); err != nil {
			_, m := runtime.MarshalerForRequest(b.mux, r)
			errorHandler(r.Context(), b.mux, m, w, r, err)
			return
		}
		next(w, r, pathParams)
	}
}

// routingError is grpc-gateway's handler of requests no route takes, except that:
//   - a path that is not valid UTF-8 is 400 rather than 404: a client that sent those bytes
//     made that mistake, whatever the route;
//   - a method the path does not take is 405, as grpc-gateway means it, rather than the
//     501 Not Implemented its code UNIMPLEMENTED becomes: a client's mistake is no 5xx.
func routingError(ctx context.Context, mux *runtime.ServeMux, m runtime.Marshaler, w http.ResponseWriter, r *http.Request, httpStatus int) {
	switch {
	case !utf8.ValidString(r.URL.Path):
		errorHandler(ctx, mux, m, w, r, server.InvalidArgument(&errdetails.BadRequest_FieldViolation{Field: "path", Description: reasonUTF8}))
		return
	case httpStatus == http.StatusMethodNotAllowed:
		w = &statusOverride{ResponseWriter: w, code: http.StatusMethodNotAllowed}
	}
	runtime.DefaultRoutingErrorHandler(ctx, mux, m, w, r, httpStatus)
}

// byteViolations returns the INVALID_ARGUMENT for a request whose path variables
// (pathParams, by protobuf path), query parameters or, with headers, checked headers hold
// bad bytes, or nil.
func byteViolations(r *http.Request, pathParams map[string]string, headers bool) error {
	var out []*errdetails.BadRequest_FieldViolation
	add := func(field, description string) {
		out = append(out, &errdetails.BadRequest_FieldViolation{Field: field, Description: description})
	}
	for name, v := range pathParams {
		if !utf8.ValidString(v) {
			add(name, reasonUTF8)
		}
	}
	for key, vals := range r.Header {
		name := metadataKey(key)
		if !headers || !checkedHeaders[name] {
			continue
		}
		for _, v := range vals {
			if !metadataText(v) {
				add(name, reasonPrintable)
			}
		}
	}
	if r.Form != nil {
		// Parsed already: a POST with a form body that grpc-gateway takes as a GET
		// (its path length fallback) holds the query and the form.
		for key, vals := range r.Form {
			for _, v := range vals {
				if !utf8.ValidString(key) || !utf8.ValidString(v) {
					add(queryField(key), reasonUTF8)
				}
			}
		}
	} else {
		out = append(out, queryViolations(r.URL.RawQuery)...)
	}
	if len(out) == 0 {
		return nil
	}
	slices.SortFunc(out, func(a, b *errdetails.BadRequest_FieldViolation) int { return strings.Compare(a.Field, b.Field) })
	out = slices.CompactFunc(out, func(a, b *errdetails.BadRequest_FieldViolation) bool { return a.Field == b.Field })
	return server.InvalidArgument(out...)
}

// queryViolations checks a raw query as url.ParseQuery (which grpc-gateway uses) reads
// it, parameter by parameter: ParseQuery's error names no parameter, and it keeps values
// that are not UTF-8.
func queryViolations(raw string) []*errdetails.BadRequest_FieldViolation {
	var out []*errdetails.BadRequest_FieldViolation
	for raw != "" {
		var param string
		param, raw, _ = strings.Cut(raw, "&")
		if param == "" {
			continue
		}
		rawKey, rawValue, _ := strings.Cut(param, "=")
		key, kerr := url.QueryUnescape(rawKey)
		if kerr != nil {
			key = rawKey
		}
		field := queryField(key)
		value, verr := url.QueryUnescape(rawValue)
		switch {
		case kerr != nil || verr != nil:
			out = append(out, &errdetails.BadRequest_FieldViolation{Field: field, Description: reasonEscape})
		case !utf8.ValidString(key) || !utf8.ValidString(value):
			out = append(out, &errdetails.BadRequest_FieldViolation{Field: field, Description: reasonUTF8})
		}
	}
	return out
}

// queryField is the protobuf path of a query parameter, as the server names the field
// it sets (request_id for requestId; grpc-gateway takes either spelling).
func queryField(key string) string {
	if key == "" {
		return "query"
	}
	var b strings.Builder
	for _, c := range key {
		if 'A' <= c && c <= 'Z' {
			b.WriteByte('_')
			c += 'a' - 'A'
		}
		b.WriteRune(c)
	}
	return b.String()
}

// metadataKey is the metadata key an HTTP header reaches the gRPC port as, or "" for one
// that does not: Authorization is passed as authorization, others by headerMatcher.
func metadataKey(header string) string {
	if strings.EqualFold(header, "Authorization") {
		return "authorization"
	}
	if md, ok := headerMatcher(header); ok {
		return strings.ToLower(md)
	}
	return ""
}

// metadataText reports whether v can be the value of gRPC metadata: printable ASCII.
func metadataText(v string) bool {
	for i := 0; i < len(v); i++ {
		if v[i] < 0x20 || v[i] > 0x7e {
			return false
		}
	}
	return true
}

// queryParseError matches grpc-gateway's errors for a query value it cannot parse into its
// field (runtime/query.go), which name the field only in their text.
var queryParseError = regexp.MustCompile(`^(?:parsing (?:field|list)|too many values for field) "([^"]+)": (.*)$`)

// badQuery replaces such an error by an INVALID_ARGUMENT with a BadRequest naming the
// field; it returns any other error unchanged.
func badQuery(err error) error {
	st, ok := status.FromError(err)
	if !ok || st.Code() != codes.InvalidArgument || len(st.Details()) > 0 {
		return err
	}
	m := queryParseError.FindStringSubmatch(st.Message())
	if m == nil {
		return err
	}
	return server.InvalidArgument(&errdetails.BadRequest_FieldViolation{Field: m[1], Description: m[2]})
}
