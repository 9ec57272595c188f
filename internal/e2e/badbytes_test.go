package e2e_test

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/binary"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	spb "google.golang.org/genproto/googleapis/rpc/status"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/mem"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/encoding/protowire"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/reflect/protoregistry"

	"github.com/rallyhq/rally/internal/gateway/gatewaytest"
)

// Bad bytes are the client's mistake (issue 14): bytes that are not UTF-8 in any path
// variable or query parameter of any REST route, the calendar feeds included, and in the
// headers the server reads, are 400 with a google.rpc.BadRequest naming the field; gRPC
// messages that protobuf cannot decode are INVALID_ARGUMENT naming the field; nothing is
// ever a 5xx or INTERNAL. Real rallyd, on both stores.

// snakeCase is the protobuf name of a query parameter's field: request_id for requestId.
func snakeCase(s string) string {
	return regexp.MustCompile(`[A-Z]`).ReplaceAllStringFunc(s, func(c string) string { return "_" + strings.ToLower(c) })
}

func TestBadBytesREST(t *testing.T) {
	for name, redisURL := range backends(t) {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			a := startApp(t, redisURL(t))
			base := "http://" + a.HTTPAddr()
			bad := []string{"\xff", "\xc3\x28", "events-\xed\xa0\x80", "a\xc0\xafb"} // cut, overlong, surrogate
			want := func(t *testing.T, res restResult, what string, fields ...string) {
				t.Helper()
				if res.code != http.StatusBadRequest || !slices.Equal(res.fields, fields) || res.body["code"] != float64(codes.InvalidArgument) {
					t.Errorf("%s: %d %v (%s), want 400 naming %v", what, res.code, res.fields, res.raw, fields)
				}
			}
			for _, r := range gatewaytest.Routes(t) {
				body := ""
				if r.Method != "GET" {
					body = "{}"
				}
				for i, field := range r.Vars {
					target := base + r.PathWith(i, url.PathEscape(bad[i%len(bad)]))
					want(t, restCall(t, r.Method, target, body, "Authorization", "Bearer "+token), r.Method+" "+target, field)
				}
				for i, q := range r.Query {
					target := base + r.Path("x") + "?" + q + "=" + url.QueryEscape(bad[i%len(bad)])
					want(t, restCall(t, r.Method, target, body, "Authorization", "Bearer "+token), r.Method+" "+target, snakeCase(q))
				}
				// A parameter no route reads, and one not percent-encoded validly.
				target := base + r.Path("x") + "?nosuchparam=%ff"
				want(t, restCall(t, r.Method, target, body), r.Method+" "+target, "nosuchparam")
				target = base + r.Path("x") + "?pageToken=%zz"
				want(t, restCall(t, r.Method, target, body), r.Method+" "+target, "page_token")
			}

			// Every bad thing at once: every field named, once.
			target := base + "/v1/events/%FF/rsvps?requestId=%FF&nosuchparam=%C3%28"
			want(t, restCall(t, "POST", target, "{}", "Authorization", "Bearer \xff", "Idempotency-Key", "k\xffy"), "POST "+target,
				"authorization", "idempotency-key", "nosuchparam", "parent", "request_id")

			// Forms, which grpc-gateway reads as the query of a GET sent as a POST.
			form := []string{"Content-Type", "application/x-www-form-urlencoded"}
			want(t, restCall(t, "POST", base+"/v1/organisers/x", "foo=%ff", form...), "POST a form to GET /v1/organisers/x", "foo")
			want(t, restCall(t, "POST", base+"/v1/events", "campaign=%C3%28", append(form, "X-HTTP-Method-Override", "GET")...),
				"POST a form to /v1/events as a GET", "campaign")

			// A method the path does not take is the client's mistake too: 405, not 501.
			for _, r := range []struct{ method, path string }{{"DELETE", "/v1/events/x"}, {"PUT", "/v1/campaigns/x"}, {"PATCH", "/v1/organisers/x"}} {
				if res := restCall(t, r.method, base+r.path, "{}"); res.code != http.StatusMethodNotAllowed {
					t.Errorf("%s %s: %d %s, want 405", r.method, r.path, res.code, res.raw)
				}
			}

			// A path that is no route, with bad bytes in it.
			want(t, restCall(t, "GET", base+"/v1/%FF/rsvps", ""), "GET /v1/%FF/rsvps", "path")

			// The headers the server reads: a bad Authorization is refused rather than
			// dropped (which made the call anonymous), and so is a bad Idempotency-Key
			// (which made a retry create again).
			for _, h := range []struct{ name, value, field string }{
				{"Authorization", "Bearer rly_admin_\xff", "authorization"},
				{"authorization", "Bearer a\tb", "authorization"},
				{"Grpc-Metadata-Authorization", "Bearer \xfe", "authorization"},
				{"Idempotency-Key", "0123456789abcdef-\xc3\xa9", "idempotency-key"},
				{"Grpc-Metadata-Idempotency-Key", "\xff", "idempotency-key"},
			} {
				for _, r := range []struct{ method, path string }{{"GET", "/v1/events/x"}, {"POST", "/v1/events/x/rsvps"}, {"GET", "/v1/events/x:watch"}} {
					want(t, restCall(t, r.method, base+r.path, "{}", h.name, h.value), fmt.Sprintf("%s %s with %s %q", r.method, r.path, h.name, h.value), h.field)
				}
			}
			// Headers read leniently: a bad X-Request-Id is replaced by a generated ID, a
			// bad X-Forwarded-For is not believed. Neither fails the call.
			res := restCall(t, "GET", base+"/v1/events/x", "", "X-Request-Id", "\xff\xfe", "X-Forwarded-For", "\xff, 10.0.0.1")
			if res.code != http.StatusNotFound || !generatedID.MatchString(res.header.Get("X-Request-Id")) {
				t.Errorf("GET with a bad X-Request-Id and X-Forwarded-For: %d, X-Request-Id %q", res.code, res.header.Get("X-Request-Id"))
			}

			// Query values grpc-gateway cannot parse name their field too.
			want(t, restCall(t, "GET", base+"/v1/events?pageSize=many", ""), "GET ?pageSize=many", "page_size")
		})
	}
}

// rawCodec sends the bytes it is given as the message: what a client other than grpc-go,
// or a broken one, may put on the wire.
type rawCodec struct{}

func (rawCodec) Marshal(v any) (mem.BufferSlice, error) {
	return mem.BufferSlice{mem.SliceBuffer(v.([]byte))}, nil
}

func (rawCodec) Unmarshal(data mem.BufferSlice, v any) error {
	*v.(*[]byte) = data.Materialize()
	return nil
}

func (rawCodec) Name() string { return "proto" }

// rpcMethod is one RPC of the rally.v1 services or a standard one.
type rpcMethod struct {
	path   string
	in     protoreflect.MessageDescriptor
	stream bool
}

func rpcMethods(t *testing.T) []rpcMethod {
	var out []rpcMethod
	add := func(fd protoreflect.FileDescriptor) bool {
		for i := range fd.Services().Len() {
			sd := fd.Services().Get(i)
			for j := range sd.Methods().Len() {
				md := sd.Methods().Get(j)
				out = append(out, rpcMethod{path: "/" + string(sd.FullName()) + "/" + string(md.Name()), in: md.Input(), stream: md.IsStreamingServer()})
			}
		}
		return true
	}
	protoregistry.GlobalFiles.RangeFilesByPackage("rally.v1", add)
	protoregistry.GlobalFiles.RangeFilesByPackage("grpc.health.v1", add)
	if len(out) < 30 {
		t.Fatalf("%d methods", len(out))
	}
	slices.SortFunc(out, func(a, b rpcMethod) int { return strings.Compare(a.path, b.path) })
	return out
}

// callRaw sends b as the request of m and returns the call's error.
func callRaw(ctx context.Context, conn *grpc.ClientConn, m rpcMethod, b []byte) error {
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	raw := grpc.ForceCodecV2(rawCodec{})
	var out []byte
	if !m.stream {
		return conn.Invoke(ctx, m.path, b, &out, raw)
	}
	s, err := conn.NewStream(ctx, &grpc.StreamDesc{ServerStreams: true}, m.path, raw)
	if err == nil {
		if err = s.SendMsg(b); err == nil {
			if err = s.CloseSend(); err == nil {
				err = s.RecvMsg(&out)
			}
		}
	}
	if err == io.EOF {
		return fmt.Errorf("%s: the stream ended without a status", m.path)
	}
	return err
}

// firstString is the first string field of md, or nil.
func firstString(md protoreflect.MessageDescriptor) protoreflect.FieldDescriptor {
	for i := range md.Fields().Len() {
		if fd := md.Fields().Get(i); fd.Kind() == protoreflect.StringKind && !fd.IsList() {
			return fd
		}
	}
	return nil
}

func TestBadBytesGRPC(t *testing.T) {
	for name, redisURL := range backends(t) {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			a := startApp(t, redisURL(t))
			conn, err := grpc.NewClient(a.GRPCAddr(), grpc.WithTransportCredentials(insecure.NewCredentials()))
			if err != nil {
				t.Fatal(err)
			}
			defer conn.Close()
			admin := withToken(t.Context(), token)
			for _, m := range rpcMethods(t) {
				// Cut short: field 1's length promises five bytes, two follow.
				err := callRaw(admin, conn, m, []byte{0x0a, 0x05, 'e', 'v'})
				if fields := violations(err); len(fields) != 1 || fields[0] == "" {
					t.Errorf("%s, cut short: %v, want INVALID_ARGUMENT naming a field", m.path, err)
				}
				// Not a message at all.
				err = callRaw(admin, conn, m, []byte{0xff, 0xff, 0xff})
				if fields := violations(err); !slices.Equal(fields, []string{"request"}) {
					t.Errorf("%s, garbage: %v, want INVALID_ARGUMENT naming the request", m.path, err)
				}
				// A string that is not UTF-8, which protobuf refuses in proto3.
				if fd := firstString(m.in); fd != nil {
					b := protowire.AppendString(protowire.AppendTag(nil, fd.Number(), protowire.BytesType), "events/\xc3\x28")
					err = callRaw(admin, conn, m, b)
					if fields := violations(err); !slices.Equal(fields, []string{string(fd.Name())}) {
						t.Errorf("%s, %s not UTF-8: %v, want INVALID_ARGUMENT naming it", m.path, fd.Name(), err)
					}
				}
				// Anonymous: refused for want of a token where one is needed, or for the
				// bytes; never INTERNAL.
				err = callRaw(t.Context(), conn, m, []byte{0x0a, 0x05, 'e', 'v'})
				if c := status.Code(err); c != codes.InvalidArgument && c != codes.Unauthenticated {
					t.Errorf("%s, anonymous, cut short: %v", m.path, err)
				}
			}
			// Deeper: the path of the field, as validation names fields.
			event := protowire.AppendString(protowire.AppendTag(nil, 3, protowire.BytesType), "Vigil \xff")
			b := protowire.AppendBytes(protowire.AppendTag(nil, 1, protowire.BytesType), event)
			err = callRaw(admin, conn, rpcMethod{path: "/rally.v1.EventService/CreateEvent"}, b)
			if fields := violations(err); !slices.Equal(fields, []string{"event.title"}) {
				t.Errorf("CreateEvent with a title not UTF-8: %v", err)
			}

			testBadHeadersGRPC(t, "http://"+a.GRPCAddr())
		})
	}
}

// grpcOverHTTP2 calls method on the gRPC port at base with a hand-built HTTP/2 request, so
// that header values grpc-go's client refuses to send (bytes outside printable ASCII)
// reach the server as a client of another make may send them. It returns the call's
// status and response headers.
func grpcOverHTTP2(t *testing.T, base, method string, msg []byte, header ...string) (*status.Status, http.Header) {
	t.Helper()
	var p http.Protocols
	p.SetUnencryptedHTTP2(true)
	client := &http.Client{Transport: &http.Transport{Protocols: &p}, Timeout: 10 * time.Second}
	defer client.CloseIdleConnections()
	frame := binary.BigEndian.AppendUint32([]byte{0}, uint32(len(msg)))
	req, err := http.NewRequest("POST", base+method, bytes.NewReader(append(frame, msg...)))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/grpc")
	req.Header.Set("TE", "trailers")
	for i := 0; i+1 < len(header); i += 2 {
		req.Header[header[i]] = append(req.Header[header[i]], header[i+1])
	}
	resp, err := client.Do(req)
	if err != nil {
		t.Fatalf("%s: %v", method, err)
	}
	defer resp.Body.Close()
	_, _ = io.Copy(io.Discard, resp.Body)
	get := func(k string) string {
		if v := resp.Trailer.Get(k); v != "" {
			return v
		}
		return resp.Header.Get(k) // a trailers-only answer
	}
	code, err := strconv.Atoi(get("Grpc-Status"))
	if err != nil {
		t.Fatalf("%s: no grpc-status: %d %v %v", method, resp.StatusCode, resp.Header, resp.Trailer)
	}
	st := status.New(codes.Code(code), get("Grpc-Message"))
	if details := get("Grpc-Status-Details-Bin"); details != "" {
		raw, err := base64.RawStdEncoding.DecodeString(strings.TrimRight(details, "="))
		var pb spb.Status
		if err != nil || proto.Unmarshal(raw, &pb) != nil {
			t.Fatalf("%s: grpc-status-details-bin %q", method, details)
		}
		st = status.FromProto(&pb)
	}
	return st, resp.Header
}

// Over gRPC, header values outside printable ASCII (which HTTP/2 carries) are refused as
// the client's mistake, or read leniently, never INTERNAL.
func testBadHeadersGRPC(t *testing.T, base string) {
	getEvent := protowire.AppendString(protowire.AppendTag(nil, 1, protowire.BytesType), "events/nothing")
	createRsvp := protowire.AppendString(protowire.AppendTag(nil, 1, protowire.BytesType), "events/nothing")
	for _, tc := range []struct {
		what, method string
		msg          []byte
		header       []string
		code         codes.Code
		field        string
	}{
		{"authorization on a public read", "/rally.v1.EventService/GetEvent", getEvent, []string{"authorization", "Bearer rly_org_\xff\xfe"}, codes.Unauthenticated, ""},
		{"authorization on a write", "/rally.v1.EventService/CreateEvent", nil, []string{"authorization", "Bearer \xc3\x28"}, codes.Unauthenticated, ""},
		{"idempotency-key", "/rally.v1.RsvpService/CreateRsvp", createRsvp, []string{"idempotency-key", "0123456789abcdef-\xff"}, codes.InvalidArgument, "idempotency-key"},
		{"x-request-id", "/rally.v1.EventService/GetEvent", getEvent, []string{"x-request-id", "\xff\xfe"}, codes.NotFound, ""},
		{"x-forwarded-for", "/rally.v1.EventService/GetEvent", getEvent, []string{"x-forwarded-for", "\xff"}, codes.NotFound, ""},
	} {
		st, header := grpcOverHTTP2(t, base, tc.method, tc.msg, tc.header...)
		if st.Code() != tc.code {
			t.Errorf("%s: %v, want %v", tc.what, st.Proto(), tc.code)
			continue
		}
		if tc.field != "" {
			if fields := violations(st.Err()); !slices.Equal(fields, []string{tc.field}) {
				t.Errorf("%s: %v, want a BadRequest naming %s", tc.what, st.Proto(), tc.field)
			}
		}
		if id := header.Get("X-Request-Id"); !generatedID.MatchString(id) {
			t.Errorf("%s: x-request-id %q, want a generated one", tc.what, id)
		}
	}
}
