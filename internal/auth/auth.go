// Package auth turns bearer tokens into principals and decides which RPCs need one.
//
// Tokens are 256 random bits, base64url-encoded behind a prefix that names their kind
// (rly_admin_, and later rly_org_, rly_rsvp_, rly_claim_), so that a leaked token is
// recognisable by secret scanners and a token of one kind is never mistaken for another.
// Only SHA-256 hashes of tokens are kept.
package auth

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/hex"
	"strings"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"

	"github.com/rallyhq/rally/internal/streamchain"
)

// Token kind prefixes.
const (
	// AdminPrefix marks the operator's admin token.
	AdminPrefix = "rly_admin_"
	// OrganiserPrefix marks an organiser's API token.
	OrganiserPrefix = "rly_org_"
	// RSVPPrefix marks the token that manages one RSVP.
	RSVPPrefix = "rly_rsvp_"
	// ClaimPrefix marks the token that completes or releases one task claim.
	ClaimPrefix = "rly_claim_"
)

// Kind says who a principal is.
type Kind int

const (
	// Anonymous callers sent no token; they may call public methods only.
	Anonymous Kind = iota
	// Admin is the operator, holding RALLY_ADMIN_TOKEN.
	Admin
	// Organiser holds one of an organiser's API tokens.
	Organiser
	// RSVPHolder holds the manage token of one RSVP. Which RSVP is only known when a
	// handler compares TokenHash with the RSVP it is asked about.
	RSVPHolder
	// ClaimHolder holds the token of one task claim; like RSVPHolder, which one is only
	// known when a handler compares TokenHash with the claim it is asked about.
	ClaimHolder
)

// Principal is the authenticated caller of one request.
type Principal struct {
	Kind Kind
	// Organiser is the caller's resource name, organisers/{id}, for Kind Organiser.
	Organiser string
	// Token is the resource name of the API token used, for Kind Organiser.
	Token string
	// TokenHash is the SHA-256 of the manage or claim token, for Kinds RSVPHolder and
	// ClaimHolder.
	TokenHash []byte
}

// IsAdmin reports whether the caller holds the admin token.
func (p Principal) IsAdmin() bool { return p.Kind == Admin }

// ID identifies the principal for scoping idempotency keys; it is never the token and
// never personal data.
func (p Principal) ID() string {
	switch p.Kind {
	case Admin:
		return "admin"
	case Organiser:
		return p.Organiser
	default:
		return "anonymous"
	}
}

// RateKey identifies the caller for rate limiting: the token used (by its resource name,
// never its secret), or empty for anonymous callers, who are limited by address.
func (p Principal) RateKey() string {
	switch p.Kind {
	case Admin:
		return "admin"
	case Organiser:
		return "token:" + p.Token
	case RSVPHolder:
		return "rsvp:" + hex.EncodeToString(p.TokenHash[:8])
	case ClaimHolder:
		return "claim:" + hex.EncodeToString(p.TokenHash[:8])
	default:
		return ""
	}
}

type ctxKey struct{}

// FromContext returns the caller of the request; Anonymous when none was authenticated.
func FromContext(ctx context.Context) Principal {
	p, _ := ctx.Value(ctxKey{}).(Principal)
	return p
}

// WithPrincipal returns a context carrying p.
func WithPrincipal(ctx context.Context, p Principal) context.Context {
	return context.WithValue(ctx, ctxKey{}, p)
}

// NewToken returns a fresh token of the given kind prefix with 256 bits of randomness.
func NewToken(prefix string) string {
	var b [32]byte
	if _, err := rand.Read(b[:]); err != nil {
		panic("crypto/rand failed: " + err.Error()) // cannot happen on supported platforms
	}
	return prefix + base64.RawURLEncoding.EncodeToString(b[:])
}

// Hash returns the SHA-256 of a token: what is stored and compared instead of the token.
func Hash(token string) [32]byte { return sha256.Sum256([]byte(token)) }

// Resolver returns the principal holding a token of one kind, for a call of the given
// method, or an UNAUTHENTICATED status when the token is not valid there.
type Resolver func(ctx context.Context, method, token string) (Principal, error)

// Authenticator resolves the bearer token of each request.
type Authenticator struct {
	adminHash [32]byte
	public    func(fullMethod string) bool // methods callable without a token
	resolvers map[string]Resolver          // by token prefix
}

// NewAuthenticator returns an Authenticator for the given admin token. public reports
// whether a full gRPC method name (/pkg.Service/Method) may be called anonymously;
// resolvers resolve the other kinds of token, by prefix (rly_org_, rly_rsvp_).
func NewAuthenticator(adminToken string, public func(fullMethod string) bool, resolvers map[string]Resolver) *Authenticator {
	return &Authenticator{adminHash: Hash(adminToken), public: public, resolvers: resolvers}
}

// Authenticate returns the principal for the request's metadata. A token that is present
// but not valid is rejected even on public methods, so that a client with a broken
// configuration finds out at once instead of silently acting anonymously.
func (a *Authenticator) Authenticate(ctx context.Context, method string) (Principal, error) {
	token, present, err := bearer(ctx)
	if err != nil {
		return Principal{}, err
	}
	if !present {
		if a.public(method) {
			return Principal{Kind: Anonymous}, nil
		}
		return Principal{}, status.Error(codes.Unauthenticated, "this method needs a bearer token: send the header authorization: Bearer <token>")
	}
	h := Hash(token)
	if subtle.ConstantTimeCompare(h[:], a.adminHash[:]) == 1 {
		return Principal{Kind: Admin}, nil
	}
	for prefix, resolve := range a.resolvers {
		if strings.HasPrefix(token, prefix) {
			return resolve(ctx, method, token)
		}
	}
	// Never echo the token: error messages may end up in client logs.
	return Principal{}, status.Error(codes.Unauthenticated, "the bearer token is not valid")
}

func bearer(ctx context.Context) (token string, present bool, err error) {
	// One key, not FromIncomingContext, which copies all the metadata (issue 19).
	vals := metadata.ValueFromIncomingContext(ctx, "authorization")
	if len(vals) == 0 {
		return "", false, nil
	}
	if len(vals) > 1 {
		return "", true, status.Error(codes.Unauthenticated, "send one authorization header, not several")
	}
	scheme, tok, ok := strings.Cut(vals[0], " ")
	if !ok || !strings.EqualFold(scheme, "Bearer") || strings.TrimSpace(tok) == "" {
		return "", true, status.Error(codes.Unauthenticated, "the authorization header must be: Bearer <token>")
	}
	return strings.TrimSpace(tok), true, nil
}

// UnaryInterceptor authenticates unary calls and puts the principal in their context.
func (a *Authenticator) UnaryInterceptor() grpc.UnaryServerInterceptor {
	return func(ctx context.Context, req any, info *grpc.UnaryServerInfo, handler grpc.UnaryHandler) (any, error) {
		p, err := a.Authenticate(ctx, info.FullMethod)
		if err != nil {
			return nil, err
		}
		return handler(WithPrincipal(ctx, p), req)
	}
}

// StreamInterceptor authenticates streaming calls and puts the principal in their context.
func (a *Authenticator) StreamInterceptor() grpc.StreamServerInterceptor {
	return new(streamchain.Chain).Stage(a.StreamStage()).StreamServerInterceptor()
}

// StreamStage is StreamInterceptor as a stage of a flat chain (streamchain).
func (a *Authenticator) StreamStage() streamchain.Stage {
	return func(c *streamchain.Call) (func(error) error, error) {
		p, err := a.Authenticate(c.Ctx, c.Info.FullMethod)
		if err != nil {
			return nil, err
		}
		c.Ctx = WithPrincipal(c.Ctx, p)
		return nil, nil
	}
}
