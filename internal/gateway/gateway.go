// Package gateway serves Rally over HTTP: the REST/JSON API (grpc-gateway, dialling the
// gRPC port so that every interceptor applies to REST calls too), health and the OpenAPI
// document.
package gateway

import (
	"context"
	"encoding/json"
	"net/http"
	"time"

	"github.com/grpc-ecosystem/grpc-gateway/v2/runtime"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/encoding/protojson"

	rallyv1 "github.com/rallyhq/rally/gen/go/rally/v1"
	openapi "github.com/rallyhq/rally/gen/openapiv2"
)

// Options configures the HTTP handler.
type Options struct {
	// GRPCTarget is the address of rallyd's own gRPC port, such as 127.0.0.1:9090.
	GRPCTarget string
	// DialOptions override the default of a plaintext loopback connection.
	DialOptions []grpc.DialOption
	// Ready reports whether the service can take requests, for /healthz.
	Ready func(ctx context.Context) error
}

// Gateway is the HTTP handler and the gRPC connection it forwards on.
type Gateway struct {
	http.Handler
	conn *grpc.ClientConn
}

// Close closes the connection to the gRPC port.
func (g *Gateway) Close() error { return g.conn.Close() }

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
	gw := runtime.NewServeMux(
		runtime.WithMarshalerOption(runtime.MIMEWildcard, &runtime.HTTPBodyMarshaler{
			Marshaler: &runtime.JSONPb{
				MarshalOptions: protojson.MarshalOptions{EmitUnpopulated: true},
				// Unknown fields are rejected so that a misspelt field is a clear 400
				// rather than a silently ignored value.
				UnmarshalOptions: protojson.UnmarshalOptions{DiscardUnknown: false},
			},
		}),
		runtime.WithErrorHandler(errorHandler),
	)
	for _, register := range []func(context.Context, *runtime.ServeMux, *grpc.ClientConn) error{
		rallyv1.RegisterCampaignServiceHandler,
		rallyv1.RegisterEventServiceHandler,
		rallyv1.RegisterOrganiserServiceHandler,
	} {
		if err := register(ctx, gw, conn); err != nil {
			conn.Close()
			return nil, err
		}
	}

	mux := http.NewServeMux()
	mux.Handle("/v1/", gw)
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
	return &Gateway{Handler: mux, conn: conn}, nil
}

// errorHandler is grpc-gateway's default, except that ABORTED (a stale etag) becomes 412
// Precondition Failed, the HTTP status for a failed If-Match, instead of 409.
func errorHandler(ctx context.Context, mux *runtime.ServeMux, m runtime.Marshaler, w http.ResponseWriter, r *http.Request, err error) {
	if status.Code(err) == codes.Aborted {
		w = &statusOverride{ResponseWriter: w, code: http.StatusPreconditionFailed}
	}
	runtime.DefaultHTTPErrorHandler(ctx, mux, m, w, r, err)
}

type statusOverride struct {
	http.ResponseWriter
	code int
}

func (s *statusOverride) WriteHeader(int) { s.ResponseWriter.WriteHeader(s.code) }
