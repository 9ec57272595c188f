// Package gateway serves Rally over HTTP: the REST/JSON API (grpc-gateway, dialling the
// gRPC port so that every interceptor applies to REST calls too), iCalendar feeds of events
// and campaigns, health, the OpenAPI document and a page listing the endpoints (/api).
package gateway

import (
	"context"
	"encoding/json"
	"net/http"
	"strconv"
	"time"

	"github.com/grpc-ecosystem/grpc-gateway/v2/runtime"
	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/encoding/protojson"

	rallyv1 "github.com/rallyhq/rally/gen/go/rally/v1"
	openapi "github.com/rallyhq/rally/gen/openapiv2"
	"github.com/rallyhq/rally/internal/clientip"
	"github.com/rallyhq/rally/internal/ratelimit"
)

// Options configures the HTTP handler.
type Options struct {
	// GRPCTarget is the address of rallyd's own gRPC port, such as 127.0.0.1:9090.
	GRPCTarget string
	// DialOptions override the default of a plaintext loopback connection.
	DialOptions []grpc.DialOption
	// Local, when set, returns the connection the REST routes call through, given the
	// one dialled to GRPCTarget: server.Server.Local, which takes unary calls through the
	// gRPC port's interceptors and handlers in process, and the watch streams too
	// (localwatch.go). Nil: every call goes over the dialled connection.
	Local func(remote *grpc.ClientConn) grpc.ClientConnInterface
	// Ready reports whether the service can take requests, for /healthz.
	Ready func(ctx context.Context) error

	// Resolver finds the HTTP client's address (trusting X-Forwarded-For only from the
	// configured proxies), which the gRPC port rate-limits anonymous callers by.
	Resolver clientip.Resolver
	// GatewayKey proves to the gRPC port that a call comes from this gateway, so that it
	// believes the forwarded address; see clientip.FromGRPC.
	GatewayKey string
	// MaxBodyBytes caps request bodies (413 above it); 0 means DefaultMaxBodyBytes.
	MaxBodyBytes int64
	// BodyTimeout is how long a request body may take to arrive; 0 means no limit.
	BodyTimeout time.Duration
	// CORSOrigins are the exact origins (https://app.example.org) whose pages may call
	// the API.
	CORSOrigins []string
	// TLS says the gateway is served over HTTPS, which turns on Strict-Transport-Security.
	TLS bool
	// Web, when set, serves every path no other route takes (the web client).
	Web http.Handler
	// PublicURL is the base of the links the gateway gives out (config.Config.PublicURL,
	// or the caller's default), never the request's Host header.
	PublicURL string
}

// DefaultMaxBodyBytes is the default cap of a request body: 1 MiB, as the gRPC port's
// default message size.
const DefaultMaxBodyBytes = 1 << 20

// Gateway is the HTTP handler and the gRPC connection it forwards on.
type Gateway struct {
	http.Handler
	conn    *grpc.ClientConn
	watches *watchConns
}

// Close ends the REST watches that own their connections (watchconn.go: http.Server's
// Shutdown and Close do not know them), waits for them, and closes the connection to
// the gRPC port.
func (g *Gateway) Close() error {
	g.watches.close()
	return g.conn.Close()
}

// New returns the HTTP handler.
func New(ctx context.Context, opts Options) (*Gateway, error) {
	dial := opts.DialOptions
	if dial == nil {
		dial = []grpc.DialOption{grpc.WithTransportCredentials(insecure.NewCredentials())}
	}
	conn, err := grpc.NewClient(opts.GRPCTarget, dial...)
	if err != nil {
		return nil, err
	}
	guard := &badBytes{}
	gw := runtime.NewServeMux(
		runtime.WithMarshalerOption(runtime.MIMEWildcard, &runtime.HTTPBodyMarshaler{
			Marshaler: fieldMarshaler{&runtime.JSONPb{
				MarshalOptions: protojson.MarshalOptions{EmitUnpopulated: true},
				// Unknown fields are rejected so that a misspelt field is a clear 400
				// rather than a silently ignored value.
				UnmarshalOptions: protojson.UnmarshalOptions{DiscardUnknown: false},
			}},
		}),
		runtime.WithErrorHandler(errorHandler),
		runtime.WithIncomingHeaderMatcher(headerMatcher),
		runtime.WithOutgoingHeaderMatcher(outgoingHeaderMatcher),
		runtime.WithOutgoingTrailerMatcher(outgoingTrailerMatcher),
		runtime.WithMetadata(gatewayKey(opts.GatewayKey)),
		runtime.WithMiddlewares(guard.middleware),
		runtime.WithRoutingErrorHandler(routingError),
	)
	guard.mux = gw
	var cc grpc.ClientConnInterface = conn
	if opts.Local != nil {
		cc = opts.Local(conn)
	}
	for _, err := range []error{
		rallyv1.RegisterCampaignServiceHandlerClient(ctx, gw, rallyv1.NewCampaignServiceClient(cc)),
		rallyv1.RegisterEventServiceHandlerClient(ctx, gw, rallyv1.NewEventServiceClient(cc)),
		rallyv1.RegisterOrganiserServiceHandlerClient(ctx, gw, rallyv1.NewOrganiserServiceClient(cc)),
		rallyv1.RegisterRsvpServiceHandlerClient(ctx, gw, rallyv1.NewRsvpServiceClient(cc)),
		rallyv1.RegisterTaskServiceHandlerClient(ctx, gw, rallyv1.NewTaskServiceClient(cc)),
	} {
		if err != nil {
			conn.Close()
			return nil, err
		}
	}
	// Watch streams in process, in the HTTP request's goroutine: localwatch.go. Without
	// it (no Local) they go over the one connection, where the gRPC port's
	// --grpc-max-streams caps them.
	watches := new(watchConns)
	if ls, ok := cc.(localStreamer); ok {
		if err := serveWatchesLocally(gw, ls, watches); err != nil {
			conn.Close()
			return nil, err
		}
	}

	page, err := apiPage()
	if err != nil {
		conn.Close()
		return nil, err
	}

	mux := http.NewServeMux()
	mux.Handle("/v1/", gw)
	// The calendar feeds, /v1/events/{id}.ics and /v1/campaigns/{id}.ics: these patterns
	// are more specific than /v1/, and pass every other request on to the gateway.
	ics := newFeeds(conn, gw, opts.GatewayKey, opts.PublicURL)
	mux.Handle("GET /v1/events/{file}", icsOr(ics.event, gw))
	mux.Handle("GET /v1/campaigns/{file}", icsOr(ics.campaign, gw))
	mux.Handle("GET /api", page)
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, r *http.Request) {
		ctx, cancel := context.WithTimeout(r.Context(), 2*time.Second)
		defer cancel()
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("Cache-Control", "no-store")
		if opts.Ready != nil {
			if err := opts.Ready(ctx); err != nil {
				w.WriteHeader(http.StatusServiceUnavailable)
				_ = json.NewEncoder(w).Encode(map[string]string{"status": "NOT_SERVING"})
				return
			}
		}
		_ = json.NewEncoder(w).Encode(map[string]string{"status": "SERVING"})
	})
	mux.HandleFunc("GET /openapi.json", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write(openapi.JSON)
	})
	if opts.Web != nil {
		mux.Handle("/", opts.Web)
	}
	maxBody := opts.MaxBodyBytes
	if maxBody <= 0 {
		maxBody = DefaultMaxBodyBytes
	}
	var h http.Handler = mux
	h = compress(h) // compress.go: anonymous GETs only, never a secret
	h = limitBody(maxBody, opts.BodyTimeout, h)
	h = resolveClient(opts.Resolver, h)
	h = cors(opts.CORSOrigins, h)
	h = securityHeaders(opts.TLS, h)
	return &Gateway{Handler: h, conn: conn, watches: watches}, nil
}

// errorHandler is grpc-gateway's default, except that:
//   - ABORTED (a stale etag) becomes 412 Precondition Failed, the HTTP status for a failed
//     If-Match, instead of 409;
//   - a body over the size limit, which grpc-gateway reports as a JSON decoding error, is
//     413 Content Too Large with code RESOURCE_EXHAUSTED (what the gRPC port answers to
//     an oversized message);
//   - a JSON body that cannot be decoded is InvalidArgument with a BadRequest naming the
//     field where decoding stopped (decode.go), as any other bad field is, and so is a
//     query value grpc-gateway cannot parse into its field (badbytes.go);
//   - a refusal by the rate limiter (RESOURCE_EXHAUSTED, 429) carries Retry-After, in
//     whole seconds, from its RetryInfo.
func errorHandler(ctx context.Context, mux *runtime.ServeMux, m runtime.Marshaler, w http.ResponseWriter, r *http.Request, err error) {
	if tooLarge, msg := bodyTooLarge(r); tooLarge {
		err = status.Error(codes.ResourceExhausted, msg)
		w = &statusOverride{ResponseWriter: w, code: http.StatusRequestEntityTooLarge}
	}
	state, _ := r.Context().Value(bodyStateKey{}).(*bodyState)
	err = badQuery(badBody(state, err))
	switch st := status.Convert(err); st.Code() {
	case codes.Aborted:
		w = &statusOverride{ResponseWriter: w, code: http.StatusPreconditionFailed}
	case codes.ResourceExhausted:
		for _, d := range st.Details() {
			if retry, ok := d.(*errdetails.RetryInfo); ok {
				w.Header().Set("Retry-After", strconv.FormatInt(ratelimit.RetrySeconds(retry.GetRetryDelay().AsDuration()), 10))
			}
		}
	}
	runtime.DefaultHTTPErrorHandler(ctx, mux, m, w, r, err)
}

type statusOverride struct {
	http.ResponseWriter
	code int
}

func (s *statusOverride) WriteHeader(int) { s.ResponseWriter.WriteHeader(s.code) }
