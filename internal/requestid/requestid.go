// Package requestid gives every gRPC call an ID that ties together the log lines of that
// call and what its client saw: the client's own x-request-id when it is a short, safe
// token, a random one otherwise. The ID goes back to the client in the x-request-id
// response header (the gateway turns it into the HTTP header X-Request-Id).
//
// The ID is the only per-call value the logs carry, so it must not become a way to get
// other data into them: anything longer than 64 characters, outside [A-Za-z0-9._-], or
// shaped like one of Rally's tokens is replaced.
package requestid

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"log/slog"
	"strings"

	"google.golang.org/grpc"
	"google.golang.org/grpc/metadata"

	"github.com/rallyhq/rally/internal/streamchain"
)

// Header is the metadata key (and, canonicalised, the HTTP header) carrying the ID both
// ways.
const Header = "x-request-id"

// LogKey is the slog attribute under which log lines carry the ID.
const LogKey = "request_id"

// maxLen bounds a client's ID: enough for a UUID or a trace ID, too short for prose.
const maxLen = 64

// tokenPrefix starts every Rally bearer token (rly_org_, rly_rsvp_, …). A client that
// pastes its token into the wrong header must not have it written to the logs.
const tokenPrefix = "rly_"

type ctxKey struct{}

// NewContext returns ctx carrying id.
func NewContext(ctx context.Context, id string) context.Context {
	return context.WithValue(ctx, ctxKey{}, id)
}

// FromContext returns the call's ID, or "" outside a call.
func FromContext(ctx context.Context) string {
	id, _ := ctx.Value(ctxKey{}).(string)
	return id
}

// Valid reports whether a client's ID may be kept as it is.
func Valid(id string) bool {
	if id == "" || len(id) > maxLen || strings.HasPrefix(strings.ToLower(id), tokenPrefix) {
		return false
	}
	for _, c := range []byte(id) {
		switch {
		case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z', '0' <= c && c <= '9', c == '.', c == '_', c == '-':
		default:
			return false
		}
	}
	return true
}

// New returns a random ID: 16 bytes, in hex.
func New() string {
	var b [16]byte
	_, _ = rand.Read(b[:]) // never fails (crypto/rand panics rather than return an error)
	return hex.EncodeToString(b[:])
}

// fromIncoming returns the client's ID if it sent a valid one, else a new one. Only the
// first value counts: several would be a client or proxy bug, not several IDs.
func fromIncoming(ctx context.Context) string {
	// One key, not FromIncomingContext, which copies all the metadata (issue 19).
	if v := metadata.ValueFromIncomingContext(ctx, Header); len(v) > 0 && Valid(v[0]) {
		return v[0]
	}
	return New()
}

// UnaryServerInterceptor puts the call's ID in its context and its response headers. It
// belongs first in the chain, so that every later interceptor's log lines carry the ID.
func UnaryServerInterceptor() grpc.UnaryServerInterceptor {
	return func(ctx context.Context, req any, _ *grpc.UnaryServerInfo, handler grpc.UnaryHandler) (any, error) {
		id := fromIncoming(ctx)
		// Set now rather than after the handler: a failed call needs its ID the most.
		_ = grpc.SetHeader(ctx, metadata.Pairs(Header, id))
		return handler(NewContext(ctx, id), req)
	}
}

// StreamServerInterceptor is UnaryServerInterceptor for streams.
func StreamServerInterceptor() grpc.StreamServerInterceptor {
	return new(streamchain.Chain).Stage(StreamStage()).StreamServerInterceptor()
}

// StreamStage is StreamServerInterceptor as a stage of a flat chain (streamchain).
func StreamStage() streamchain.Stage {
	return func(c *streamchain.Call) (func(error) error, error) {
		id := fromIncoming(c.Ctx)
		_ = c.Stream.SetHeader(metadata.Pairs(Header, id))
		c.Ctx = NewContext(c.Ctx, id)
		return nil, nil
	}
}

// Handler adds the call's ID, from the context of each record, to the records it passes
// on to next. Records logged without a call's context are passed on unchanged.
func Handler(next slog.Handler) slog.Handler { return handler{next} }

// Logger returns l logging through Handler, unless it already does.
func Logger(l *slog.Logger) *slog.Logger {
	if _, ok := l.Handler().(handler); ok {
		return l
	}
	return slog.New(Handler(l.Handler()))
}

type handler struct{ next slog.Handler }

func (h handler) Enabled(ctx context.Context, level slog.Level) bool {
	return h.next.Enabled(ctx, level)
}

func (h handler) Handle(ctx context.Context, r slog.Record) error {
	if id := FromContext(ctx); id != "" {
		r = r.Clone()
		r.AddAttrs(slog.String(LogKey, id))
	}
	return h.next.Handle(ctx, r)
}

func (h handler) WithAttrs(attrs []slog.Attr) slog.Handler { return handler{h.next.WithAttrs(attrs)} }

func (h handler) WithGroup(name string) slog.Handler { return handler{h.next.WithGroup(name)} }
