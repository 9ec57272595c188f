// Package metrics defines rallyd's Prometheus metrics and the registry that serves them.
//
// Labels hold only what is fixed when rallyd is built: gRPC method names and status codes,
// kinds of watch stream and outcome words. Never a resource name, token, address or
// anything a person typed: the people Rally serves may be watched, and whoever can scrape
// the metrics must learn nothing about any one of them. The outcome and kind types are
// closed (their values are this package's variables) so that no caller can label a
// series with a string from a request.
package metrics

import (
	"context"
	"net/http"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/reflection"
	"google.golang.org/grpc/status"

	"github.com/rallyhq/rally/internal/streamchain"
)

// Metrics are one rallyd's metrics, in a registry of their own (not the global one, so
// that several rallyd in one test process do not collide). A nil *Metrics records
// nothing: code built without metrics, such as unit tests of the server, need not check.
type Metrics struct {
	registry *prometheus.Registry
	grpc     serverCounters // grpc_server_* counters, of every call
	latency  *prometheus.HistogramVec
	watches  *prometheus.GaugeVec
	slow     *prometheus.CounterVec
	rsvps    *prometheus.CounterVec
	claims   *prometheus.CounterVec
}

// latencyBuckets extend Prometheus's defaults below 5 ms: an RSVP on the memory store
// takes well under a millisecond, and the defaults would lump every call in one bucket.
var latencyBuckets = []float64{.0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10}

// New returns the metrics in a new registry, with the Go runtime's, the process's and
// those of the given collectors of rallyd's (such as NewRedisPoolCollector).
func New(extra ...prometheus.Collector) *Metrics {
	m := &Metrics{
		registry: prometheus.NewRegistry(),
		grpc:     newServerCounters(),
		// The usual name and labels of go-grpc-middleware's histogram, so that its
		// dashboards work, but of unary calls only. A watch stream's "handling time" is how
		// long someone kept a page open: minutes or hours that would swamp the top bucket
		// and every quantile of the calls whose latency matters.
		latency: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "grpc_server_handling_seconds",
			Help:    "Histogram of response latency (seconds) of unary gRPC calls that had been application-level handled by the server. Streams are not observed.",
			Buckets: latencyBuckets,
		}, []string{"grpc_type", "grpc_service", "grpc_method"}),
		watches: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "rally_watch_streams",
			Help: "Watch streams open on this replica, by kind (event, campaign).",
		}, []string{"kind"}),
		slow: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "rally_watch_slow_drops_total",
			Help: "Times a watch stream fell behind, had its queue of changes dropped by the broker, and resumed from its last cursor, by kind.",
		}, []string{"kind"}),
		rsvps: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "rally_rsvps_total",
			Help: "RSVP requests by outcome: created going or waitlisted, replayed, updated, cancelled, checked in, or refused (closed, too_large, too_many_guests, no_room).",
		}, []string{"outcome"}),
		claims: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "rally_claims_total",
			Help: "Task claim requests by outcome: claimed, replayed, completed, released, or refused (closed, full, not_open).",
		}, []string{"outcome"}),
	}
	// Every series exists from the start, at zero, so that rates and alerts work before
	// the first occurrence.
	for _, k := range []WatchKind{WatchEvent, WatchCampaign} {
		m.watches.WithLabelValues(k.name)
		m.slow.WithLabelValues(k.name)
	}
	for _, o := range rsvpOutcomes {
		m.rsvps.WithLabelValues(o.word)
	}
	for _, o := range claimOutcomes {
		m.claims.WithLabelValues(o.word)
	}
	m.registry.MustRegister(
		collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
		m.grpc.started, m.grpc.handled, m.grpc.received, m.grpc.sent, m.latency, m.watches, m.slow, m.rsvps, m.claims,
	)
	m.registry.MustRegister(extra...) // a clash of names is a bug that any test shows
	return m
}

// Handler serves the registry in Prometheus's exposition formats.
func (m *Metrics) Handler() http.Handler {
	return promhttp.HandlerFor(m.registry, promhttp.HandlerOpts{
		// One failing collector (Redis unreachable) must not hide all the others.
		ErrorHandling: promhttp.ContinueOnError,
		Registry:      m.registry,
	})
}

// InitializeMethods creates every series of every method srv serves at zero: started,
// handled by each status code, messages received and sent, and the latency histogram of
// each unary method, so that rates and alerts (an error ratio, say) work before a
// method's first call, or its first call that fails. Call it once the services are
// registered, before serving.
func (m *Metrics) InitializeMethods(srv reflection.ServiceInfoProvider) {
	if m == nil {
		return
	}
	for service, info := range srv.GetServiceInfo() {
		for _, method := range info.Methods {
			typ := methodType(method.IsClientStream, method.IsServerStream)
			m.grpc.started.WithLabelValues(typ, service, method.Name)
			m.grpc.received.WithLabelValues(typ, service, method.Name)
			m.grpc.sent.WithLabelValues(typ, service, method.Name)
			for _, code := range allCodes {
				m.grpc.handled.WithLabelValues(typ, service, method.Name, code.String())
			}
			if typ == unary {
				m.latency.WithLabelValues(unary, service, method.Name)
			}
		}
	}
}

// unary is the grpc_type of a unary call, as go-grpc-middleware labels it.
const unary = "unary"

// UnaryServerInterceptor counts and times unary calls by method and status code
// (grpc_server_*). It belongs before authentication in the chain, so that refused calls
// count too.
func (m *Metrics) UnaryServerInterceptor() grpc.UnaryServerInterceptor {
	if m == nil {
		return func(ctx context.Context, req any, _ *grpc.UnaryServerInfo, handler grpc.UnaryHandler) (any, error) {
			return handler(ctx, req)
		}
	}
	return func(ctx context.Context, req any, info *grpc.UnaryServerInfo, handler grpc.UnaryHandler) (any, error) {
		start := time.Now()
		service, method := splitMethod(info.FullMethod)
		m.grpc.started.WithLabelValues(unary, service, method).Inc()
		m.grpc.received.WithLabelValues(unary, service, method).Inc()
		resp, err := handler(ctx, req)
		if err == nil {
			m.grpc.sent.WithLabelValues(unary, service, method).Inc()
		}
		m.grpc.handled.WithLabelValues(unary, service, method, codeOf(err).String()).Inc()
		m.latency.WithLabelValues(unary, service, method).Observe(time.Since(start).Seconds())
		return resp, err
	}
}

// splitMethod splits /rally.v1.EventService/GetEvent into its service and method, as
// go-grpc-middleware does for its labels.
func splitMethod(full string) (service, method string) {
	full = strings.TrimPrefix(full, "/")
	if i := strings.Index(full, "/"); i >= 0 {
		return full[:i], full[i+1:]
	}
	return "unknown", "unknown"
}

// StreamServerInterceptor counts streams by method and status code, and their messages
// (grpc_server_*), but does not time them: see grpc_server_handling_seconds.
func (m *Metrics) StreamServerInterceptor() grpc.StreamServerInterceptor {
	return new(streamchain.Chain).Stage(m.StreamStage()).StreamServerInterceptor()
}

// StreamStage is StreamServerInterceptor as a stage of a flat chain (streamchain).
func (m *Metrics) StreamStage() streamchain.Stage {
	return func(c *streamchain.Call) (func(error) error, error) {
		if m == nil {
			return nil, nil
		}
		service, method := splitMethod(c.Info.FullMethod)
		typ := methodType(c.Info.IsClientStream, c.Info.IsServerStream)
		m.grpc.started.WithLabelValues(typ, service, method).Inc()
		// The counters of the stream's messages are looked up once, not per message.
		c.Stream = &countedStream{ServerStream: c.Wrapped(),
			received: m.grpc.received.WithLabelValues(typ, service, method),
			sent:     m.grpc.sent.WithLabelValues(typ, service, method)}
		return func(err error) error {
			m.grpc.handled.WithLabelValues(typ, service, method, codeOf(err).String()).Inc()
			return err
		}, nil
	}
}

// countedStream counts the messages a stream sends and receives.
type countedStream struct {
	grpc.ServerStream
	received, sent prometheus.Counter
}

func (s *countedStream) SendMsg(m any) error {
	err := s.ServerStream.SendMsg(m)
	if err == nil {
		s.sent.Inc()
	}
	return err
}

func (s *countedStream) RecvMsg(m any) error {
	err := s.ServerStream.RecvMsg(m)
	if err == nil {
		s.received.Inc()
	}
	return err
}

// serverCounters are go-grpc-middleware's grpc_server_* counters, by the same names,
// help and labels, so that its dashboards work. They were its prometheus provider's
// until streams were chained flat (streamchain), which its interceptor cannot be.
type serverCounters struct {
	started, handled, received, sent *prometheus.CounterVec
}

func newServerCounters() serverCounters {
	labels := []string{"grpc_type", "grpc_service", "grpc_method"}
	return serverCounters{
		started: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "grpc_server_started_total",
			Help: "Total number of RPCs started on the server.",
		}, labels),
		handled: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "grpc_server_handled_total",
			Help: "Total number of RPCs completed on the server, regardless of success or failure.",
		}, append(labels[:3:3], "grpc_code")),
		received: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "grpc_server_msg_received_total",
			Help: "Total number of RPC stream messages received on the server.",
		}, labels),
		sent: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "grpc_server_msg_sent_total",
			Help: "Total number of gRPC stream messages sent by the server.",
		}, labels),
	}
}

// allCodes are the codes whose series exist from the start (go-grpc-middleware's list).
var allCodes = []codes.Code{
	codes.OK, codes.Canceled, codes.Unknown, codes.InvalidArgument, codes.DeadlineExceeded, codes.NotFound,
	codes.AlreadyExists, codes.PermissionDenied, codes.Unauthenticated, codes.ResourceExhausted,
	codes.FailedPrecondition, codes.Aborted, codes.OutOfRange, codes.Unimplemented, codes.Internal,
	codes.Unavailable, codes.DataLoss,
}

// codeOf is the code of a call's error as grpc-go reports it (a context's error as its
// status), as go-grpc-middleware counts it.
func codeOf(err error) codes.Code {
	if s, ok := status.FromError(err); ok {
		return s.Code()
	}
	return status.FromContextError(err).Code()
}

// methodType is a method's grpc_type label.
func methodType(clientStream, serverStream bool) string {
	switch {
	case !clientStream && !serverStream:
		return unary
	case clientStream && !serverStream:
		return "client_stream"
	case !clientStream:
		return "server_stream"
	}
	return "bidi_stream"
}

// WatchKind is what a watch stream follows.
type WatchKind struct{ name string }

// The kinds of watch stream.
var (
	WatchEvent    = WatchKind{"event"}
	WatchCampaign = WatchKind{"campaign"}
)

// WatchOpened counts a watch stream as open until the returned func is called.
func (m *Metrics) WatchOpened(k WatchKind) (closed func()) {
	if m == nil || k.name == "" {
		return func() {}
	}
	g := m.watches.WithLabelValues(k.name)
	g.Inc()
	return g.Dec
}

// WatchDropped counts a watch stream dropped by its broker for falling behind.
func (m *Metrics) WatchDropped(k WatchKind) {
	if m == nil || k.name == "" {
		return
	}
	m.slow.WithLabelValues(k.name).Inc()
}

// RSVPOutcome is what became of an RSVP request. The zero value is no outcome: not
// counted.
type RSVPOutcome struct{ word string }

// The outcomes of RSVP requests. Failures other than these refusals (not found, denied,
// invalid input) are not counted here: grpc_server_handled_total has them by code.
var (
	RSVPGoing         = RSVPOutcome{"going"}           // created, holding a place
	RSVPWaitlisted    = RSVPOutcome{"waitlisted"}      // created, on the waitlist
	RSVPReplayed      = RSVPOutcome{"replayed"}        // a retried create, answered with the first RSVP
	RSVPUpdated       = RSVPOutcome{"updated"}         // changed by its holder or an organiser
	RSVPCancelled     = RSVPOutcome{"cancelled"}       // cancelled
	RSVPCheckedIn     = RSVPOutcome{"checked_in"}      // checked in by an organiser
	RSVPClosed        = RSVPOutcome{"closed"}          // refused: the event is cancelled or over
	RSVPTooLarge      = RSVPOutcome{"too_large"}       // refused: the party exceeds the whole capacity
	RSVPTooManyGuests = RSVPOutcome{"too_many_guests"} // refused: more guests than rallyd allows
	RSVPNoRoom        = RSVPOutcome{"no_room"}         // refused: no free places for more guests
)

var rsvpOutcomes = []RSVPOutcome{RSVPGoing, RSVPWaitlisted, RSVPReplayed, RSVPUpdated, RSVPCancelled,
	RSVPCheckedIn, RSVPClosed, RSVPTooLarge, RSVPTooManyGuests, RSVPNoRoom}

// RSVP counts an RSVP request's outcome.
func (m *Metrics) RSVP(o RSVPOutcome) {
	if m == nil || o.word == "" {
		return
	}
	m.rsvps.WithLabelValues(o.word).Inc()
}

// ClaimOutcome is what became of a task claim request. The zero value is no outcome: not
// counted.
type ClaimOutcome struct{ word string }

// The outcomes of claim requests; other failures are counted by grpc_server_handled_total
// only.
var (
	ClaimClaimed   = ClaimOutcome{"claimed"}   // a new claim
	ClaimReplayed  = ClaimOutcome{"replayed"}  // a retried claim, answered with the first
	ClaimCompleted = ClaimOutcome{"completed"} // completed
	ClaimReleased  = ClaimOutcome{"released"}  // released
	ClaimClosed    = ClaimOutcome{"closed"}    // refused: the task is closed or past its deadline
	ClaimFull      = ClaimOutcome{"full"}      // refused: every place on the task is taken
	ClaimNotOpen   = ClaimOutcome{"not_open"}  // refused: the claim was released or has expired
)

var claimOutcomes = []ClaimOutcome{ClaimClaimed, ClaimReplayed, ClaimCompleted, ClaimReleased,
	ClaimClosed, ClaimFull, ClaimNotOpen}

// Claim counts a claim request's outcome.
func (m *Metrics) Claim(o ClaimOutcome) {
	if m == nil || o.word == "" {
		return
	}
	m.claims.WithLabelValues(o.word).Inc()
}
