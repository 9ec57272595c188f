// Package server implements Rally's gRPC services. The handlers live in one file per
// service (campaign.go, event.go, rsvp.go, task.go, organiser.go, keys.go, watch.go,
// announcement.go); the rules that cut across them each live in one file:
//
//   - server.go: the request pipeline (interceptors) and the wiring;
//   - access.go: who may call what (methodAccess) and every authorisation check
//     (authorize*);
//   - errors.go: the table from store error to status (storeErrors);
//   - view.go: what a caller sees of a resource (present*, viewEvent);
//   - publish.go: who learns of a change, and when;
//   - idempotency.go: idempotency keys and the sealed tokens of retried creates;
//   - mask.go: update masks, derived from the protos' field_behavior;
//   - validate.go, codec.go, deadline.go: validation, undecodable requests, call timeouts;
//   - sealing.go, oracle.go: personal fields sealed to organisers' keys, and what a
//     HIDDEN event's RSVP holder may learn.
package server

import (
	"context"
	"fmt"
	"log/slog"
	"runtime"
	"sync/atomic"
	"time"

	"buf.build/go/protovalidate"
	"github.com/grpc-ecosystem/go-grpc-middleware/v2/interceptors/logging"
	"github.com/grpc-ecosystem/go-grpc-middleware/v2/interceptors/recovery"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/health"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/reflection"
	"google.golang.org/grpc/status"

	rallyv1 "github.com/rallyhq/rally/gen/go/rally/v1"
	"github.com/rallyhq/rally/internal/auth"
	"github.com/rallyhq/rally/internal/calllog"
	"github.com/rallyhq/rally/internal/metrics"
	"github.com/rallyhq/rally/internal/pubsub"
	"github.com/rallyhq/rally/internal/requestid"
	"github.com/rallyhq/rally/internal/secret"
	"github.com/rallyhq/rally/internal/store"
	"github.com/rallyhq/rally/internal/streamchain"
)

// Options configures the gRPC server.
type Options struct {
	Store      store.Store
	AdminToken string
	Logger     *slog.Logger
	// Now returns the current time; tests replace it to control the clock.
	Now func() time.Time
	// ServerOptions are appended to the server's own (limits, credentials).
	ServerOptions []grpc.ServerOption
	// MaxGuests caps the guests of one RSVP (default 5).
	MaxGuests int32
	// Broker carries changes to watch streams; nil disables them.
	Broker pubsub.Broker
	// MaxWatches caps the concurrent watch streams of one caller (default 20).
	MaxWatches int
	// CallerKey identifies the caller of a request for per-caller limits (its token, else
	// its client address); nil counts everyone as one caller.
	CallerKey func(context.Context) string
	// UnaryInterceptors and StreamInterceptors run after authentication and before
	// validation: they see the caller (auth.FromContext), as rate limits need to.
	UnaryInterceptors  []grpc.UnaryServerInterceptor
	StreamInterceptors []grpc.StreamServerInterceptor
	// BeforeAuthUnary and BeforeAuthStream run just before authentication, around it:
	// they know the client's address only, and see whether authentication failed (caps
	// per address, the budget of failed authentications).
	BeforeAuthUnary  []grpc.UnaryServerInterceptor
	BeforeAuthStream []grpc.StreamServerInterceptor
	// BeforeAuthStreamStages and StreamStages are BeforeAuthStream and
	// StreamInterceptors in the flat form of the stream chain (streamchain), which keeps
	// a watch stream's handler stack shallow; they run after the interceptors of their
	// place.
	BeforeAuthStreamStages []streamchain.Stage
	StreamStages           []streamchain.Stage
	// Unavailable reports whether an error means the store cannot be reached (the
	// store's own judgement, e.g. redis.IsUnavailable); such calls fail with
	// UNAVAILABLE, which clients retry. Nil: none does.
	Unavailable func(error) bool
	// Metrics records calls (by method and code), watch streams and the outcomes of RSVPs
	// and claims; nil records nothing.
	Metrics *metrics.Metrics
	// AttendanceWindow is how long public attendance changes are coalesced at least
	// (default DefaultAttendanceWindow; see publish.go).
	AttendanceWindow time.Duration
	// OrganiserInterval paces the attendance changes an RSVP rush publishes to the
	// event's organisers (default DefaultOrganiserInterval; negative: none is paced,
	// every RSVP carries its own; see throttle.go).
	OrganiserInterval time.Duration
	// Secrets key etags and sealed idempotent tokens; nil: a random keyring (one process).
	Secrets *secret.Keyring
	// CallTimeout bounds every unary call on the server's side (default
	// DefaultCallTimeout; see deadline.go).
	CallTimeout time.Duration
}

// Server is the gRPC server with its health service, which the caller flips to
// NOT_SERVING when shutting down.
type Server struct {
	GRPC   *grpc.Server
	Health *health.Server
	svc    *service
	// methods, chain and streamChain are the methods and interceptors, for Local.
	methods     map[string]localMethod
	chain       grpc.UnaryServerInterceptor
	streamChain grpc.StreamServerInterceptor
}

// Close publishes the attendance changes still being coalesced or paced. Call it at
// shutdown, before the broker closes.
func (s *Server) Close() {
	s.svc.organisers.close()
	s.svc.coalescer.close()
}

// callLevel is the level of a finished call's log line: as go-grpc-middleware's default
// (client mistakes info, unavailability warn, server faults error), except that
// successful calls are debug. Metrics count them; a line per RSVP in the logs would be a
// timeline of who acted when, which this service should not keep, and formatting it was
// a tenth of the CPU of an RSVP.
func callLevel(code codes.Code) logging.Level {
	if code == codes.OK {
		return logging.LevelDebug
	}
	return logging.DefaultServerCodeToLevel(code)
}

// New builds the gRPC server with every Rally service registered behind the interceptor
// chain: request ID, metrics, deadline (unary), log, recover, authenticate, validate,
// map errors.
func New(opts Options) (*Server, error) {
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	validator, err := protovalidate.New()
	if err != nil {
		return nil, err
	}
	if opts.MaxGuests == 0 {
		opts.MaxGuests = 5
	}
	if opts.MaxWatches == 0 {
		opts.MaxWatches = 20
	}
	if opts.Secrets == nil {
		opts.Secrets = secret.Random()
	}
	if opts.CallerKey == nil {
		opts.CallerKey = func(context.Context) string { return "" }
	}
	svc := &service{store: opts.Store, now: opts.Now, reads: newRecent(256), validator: validator, log: opts.Logger, maxGuests: opts.MaxGuests,
		broker: opts.Broker, callerKey: opts.CallerKey, watches: &watchers{max: opts.MaxWatches, n: map[string]int{}},
		metrics: opts.Metrics, secrets: opts.Secrets}
	if opts.AttendanceWindow <= 0 {
		opts.AttendanceWindow = DefaultAttendanceWindow
	}
	svc.coalescer = newCoalescer(opts.AttendanceWindow, svc.publishPublicAttendance)
	switch {
	case opts.OrganiserInterval == 0:
		opts.OrganiserInterval = DefaultOrganiserInterval
	case opts.OrganiserInterval < 0:
		opts.OrganiserInterval = 0
	}
	svc.organisers = newThrottle(opts.OrganiserInterval, svc.publishOrganiserAttendance)
	authn := auth.NewAuthenticator(opts.AdminToken, isPublic, map[string]auth.Resolver{
		auth.OrganiserPrefix: svc.resolveToken,
		auth.RSVPPrefix:      resolveRSVPToken,
		auth.ClaimPrefix:     resolveClaimToken,
	})
	// calllog drops the client's address, redacts participants' names and tokens from
	// error texts, and samples the lines of refused calls (a few a minute per method and
	// code); server faults are logged one by one.
	logger := calllog.New(opts.Logger)
	onPanic := func(ctx context.Context, p any) error {
		opts.Logger.ErrorContext(ctx, "panic in handler", "panic", calllog.Redact(fmt.Sprint(p)))
		return status.Error(codes.Internal, "internal error")
	}
	recoverOpt := recovery.WithRecoveryHandlerContext(onPanic)

	// The request ID comes first so that every log line of the call carries it, and
	// metrics before authentication so that refused calls are counted too.
	unary := []grpc.UnaryServerInterceptor{
		requestid.UnaryServerInterceptor(),
		opts.Metrics.UnaryServerInterceptor(),
		deadlineUnaryInterceptor(opts.CallTimeout),
		logger.UnaryServerInterceptor(callLevel), // go-grpc-middleware's logging line, built only when written
		recovery.UnaryServerInterceptor(recoverOpt),
		localizeUnary, // the caller's language for refusals, the limits' included (localized.go)
	}
	unary = append(unary, opts.BeforeAuthUnary...)
	unary = append(unary, authn.UnaryInterceptor())
	unary = append(unary, opts.UnaryInterceptors...)
	errs := errorMapper{log: opts.Logger, unavailable: opts.Unavailable}
	// Requests protobuf could not decode (codec.go) are refused before validation or a
	// handler reads them; the idempotency-key metadata fills request_id before validation
	// checks it (idempotency.go).
	unary = append(unary, decodeErrorUnary, idempotencyKeyUnary, validateUnaryInterceptor(validator), errs.unary)
	// Streams run the same pipeline, in the same order, flat (streamchain): a watch
	// stream's handler then sits a few frames above the transport rather than 29, and
	// its goroutine's stack shrinks to 8 KB while it waits (issue 19).
	stream := new(streamchain.Chain).
		Stage(requestid.StreamStage(), opts.Metrics.StreamStage(), logger.StreamStage(callLevel)).
		Recover(onPanic).
		Stage(localizeStage).
		Interceptor(opts.BeforeAuthStream...).Stage(opts.BeforeAuthStreamStages...).
		Stage(authn.StreamStage()).
		Interceptor(opts.StreamInterceptors...).Stage(opts.StreamStages...).
		Stage(requestStage(validator), errs.streamStage)
	grpcOpts := append([]grpc.ServerOption{
		grpc.ForceServerCodecV2(newRequestCodec()), // bad bytes are INVALID_ARGUMENT: see codec.go
		grpc.NumStreamWorkers(streamWorkers()),
		grpc.ChainUnaryInterceptor(unary...),
		grpc.StreamInterceptor(stream.StreamServerInterceptor()),
	}, opts.ServerOptions...)

	gs := grpc.NewServer(grpcOpts...)
	// Rally's services are registered for the in-process path (local.go) as well.
	reg := &localRegistrar{gs: gs, methods: map[string]localMethod{}}
	rallyv1.RegisterCampaignServiceServer(reg, &campaignServer{service: svc})
	rallyv1.RegisterOrganiserServiceServer(reg, &organiserServer{service: svc})
	rallyv1.RegisterRsvpServiceServer(reg, &rsvpServer{service: svc})
	rallyv1.RegisterTaskServiceServer(reg, &taskServer{service: svc})
	rallyv1.RegisterEventServiceServer(reg, &eventServer{service: svc})

	hs := health.NewServer()
	healthpb.RegisterHealthServer(gs, hs)
	reflection.Register(gs)
	return &Server{GRPC: gs, Health: hs, svc: svc, methods: reg.methods, chain: chainUnary(unary),
		streamChain: stream.StreamServerInterceptor()}, nil
}

// streamWorkers is how many goroutines serve calls, kept between calls (grpc-go's
// NumStreamWorkers). Without them every call runs on a new goroutine whose stack grows,
// by copying, to the depth of the interceptor chain and the handler: 6% of the CPU of a
// CreateRsvp under load (issue 19's profile, runtime.copystack). A call that finds every
// worker busy still gets a goroutine of its own, so the number bounds nothing; a watch
// stream holds its worker until it ends. Enough for the unary calls in flight at once
// on a busy replica; each idle worker costs a few KiB.
func streamWorkers() uint32 {
	return uint32(max(128, 32*runtime.GOMAXPROCS(0)))
}

// service holds what every handler needs.
type service struct {
	store     store.Store
	now       func() time.Time
	validator protovalidate.Validator
	log       *slog.Logger
	maxGuests int32
	broker    pubsub.Broker
	callerKey func(context.Context) string
	watches   *watchers
	reads     *recent // see readEvent
	// What the watchers of the latest message ask for, one after another (see latest).
	lastChange latest[*rallyv1.Change]       // decoded, by topic and cursor (decodeChange)
	lastEvent  latest[*rallyv1.Event]        // read, by name and cursor (sharedEvent)
	lastView   latest[*rallyv1.Event]        // shaped, by view and position (sharedView)
	lastWire   atomic.Pointer[encodedChange] // the Change last encoded (encodeChange)
	metrics    *metrics.Metrics
	secrets    *secret.Keyring
	coalescer  *coalescer // public attendance changes, see publish.go
	organisers *throttle  // the event organisers' attendance changes, see throttle.go
}
