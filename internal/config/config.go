// Package config reads rallyd's configuration from flags and their RALLY_* environment
// equivalents (flag --grpc-addr is RALLY_GRPC_ADDR). Flags win over the environment.
package config

import (
	"flag"
	"fmt"
	"log/slog"
	"math"
	"net/netip"
	"net/url"
	"os"
	"strings"
	"time"

	"github.com/peterbourgon/ff/v3"

	"github.com/rallyhq/rally/internal/clientip"
	"github.com/rallyhq/rally/internal/ratelimit"
	"github.com/rallyhq/rally/internal/secret"
	"github.com/rallyhq/rally/internal/server"
)

// Config is everything rallyd needs to start.
type Config struct {
	GRPCAddr        string        // gRPC listen address
	HTTPAddr        string        // REST gateway and health listen address
	MetricsAddr     string        // Prometheus /metrics listen address; empty: none
	RedisURL        string        // empty: the embedded in-memory store
	RedisPrefix     string        // prefix of every Redis key, to share one Redis safely
	AdminToken      string        // bearer token for writes; generated at start-up when empty
	Demo            bool          // seed a demo campaign (memory store only)
	LogLevel        slog.Level    // debug, info, warn or error
	LogFormat       string        // json or text
	ShutdownTimeout time.Duration // grace period for in-flight requests on SIGINT/SIGTERM
	ShutdownDelay   time.Duration // unready but still serving, before draining, at shutdown
	CallTimeout     time.Duration // server-side deadline of every unary call (a client's shorter one wins)

	// Abuse limits: see docs/operations.md, "Limits".
	RateLimits            ratelimit.Rules  // per-method budgets, on top of ratelimit.DefaultRules
	RateLimitOnRedisError ratelimit.Policy // what a call gets when Redis cannot decide
	TrustedProxies        []netip.Prefix   // proxies whose X-Forwarded-For is believed
	CORSOrigins           []string         // exact origins whose pages may call the API
	MaxRequestBytes       int              // largest gRPC message and HTTP body accepted
	GRPCMaxStreams        uint32           // concurrent streams per gRPC connection
	MaxConnsPerAddr       int              // open connections per client address, on each port; 0: no cap
	MaxStreamsPerAddr     int              // calls in progress (gRPC streams) per client address; 0: no cap

	// RSVPs: see docs/api.md, "RSVPs, and what nobody else can learn".
	RSVPRetention time.Duration // RSVPs are deleted this long after their event ends, claims after their task (store.ClaimsDeleteAt)
	MaxGuests     int32         // most guests one RSVP may bring
	MaxWatches    int           // concurrent watch streams per caller
	// AttendanceWindow: public attendance changes are coalesced for this long plus a
	// random jitter of up to as long again, so that a public watcher cannot time RSVPs.
	AttendanceWindow time.Duration
	// OrganiserInterval paces an RSVP rush's attendance changes to the event's
	// organisers; 0: every RSVP's at once.
	OrganiserInterval time.Duration

	// Secrets key what must not be recoverable from a copy of Redis (client addresses in
	// rate-limit keys, etags, idempotent tokens): see package secret. Nil when none was
	// given: the memory store then makes one, and the Redis store refuses to start.
	Secrets *secret.Keyring

	// TLS on both ports when both are set: see docs/operations.md, "TLS".
	TLSCert string // PEM certificate (chain, leaf first)
	TLSKey  string // PEM private key of the certificate

	// PublicURL is where people reach this Rally, such as https://rally.example.org: the
	// base of the links it gives out (a calendar entry's URL), never taken from a
	// request's Host header, which any client can set. Empty: http(s)://localhost:<port>
	// of the HTTP listen address, right for one machine and wrong behind a proxy.
	PublicURL string
}

// minCallTimeout is the shortest --call-timeout accepted: below it, a Redis that is only
// busy (a fork, a slow replica link) would fail honest calls.
const minCallTimeout = 100 * time.Millisecond

// TLS reports whether both ports serve TLS.
func (c Config) TLS() bool { return c.TLSCert != "" }

// Parse reads the configuration from args (without the program name) and the environment.
func Parse(args []string) (Config, error) {
	var c Config
	fs := flag.NewFlagSet("rallyd", flag.ContinueOnError)
	fs.StringVar(&c.GRPCAddr, "grpc-addr", ":9090", "gRPC listen address (RALLY_GRPC_ADDR)")
	fs.StringVar(&c.HTTPAddr, "http-addr", ":8080", "HTTP listen address for REST, health and OpenAPI (RALLY_HTTP_ADDR)")
	fs.StringVar(&c.MetricsAddr, "metrics-addr", "127.0.0.1:9464", "Prometheus /metrics listen address, kept off the public port: the figures show activity; empty disables it (RALLY_METRICS_ADDR)")
	fs.StringVar(&c.RedisURL, "redis-url", "", "Redis URL: redis://host:6379/0, rediss://..., unix:///path, redis+cluster://host:port?addr=host2:port2 or redis+sentinel://host:26379?master_name=mymaster&addr=host2:26379 (also rediss+); empty uses the in-memory store (RALLY_REDIS_URL)")
	fs.StringVar(&c.RedisPrefix, "redis-prefix", "rally:", "prefix of every Redis key (RALLY_REDIS_PREFIX)")
	fs.StringVar(&c.AdminToken, "admin-token", "", "admin bearer token: rly_admin_ and at least 32 random characters, such as rly_admin_$(openssl rand -hex 32); generated and printed once when empty (RALLY_ADMIN_TOKEN)")
	fs.BoolVar(&c.Demo, "demo", false, "seed a demo campaign into the in-memory store (RALLY_DEMO)")
	level := fs.String("log-level", "info", "log level: debug, info, warn or error (RALLY_LOG_LEVEL)")
	fs.StringVar(&c.LogFormat, "log-format", "text", "log format: text or json (RALLY_LOG_FORMAT)")
	fs.DurationVar(&c.ShutdownTimeout, "shutdown-timeout", 10*time.Second, "grace period for in-flight requests at shutdown (RALLY_SHUTDOWN_TIMEOUT)")
	fs.DurationVar(&c.CallTimeout, "call-timeout", server.DefaultCallTimeout, "server-side deadline of every unary call, which reaches Redis: a call the store does not answer in time fails with UNAVAILABLE for the client to retry; a client's shorter deadline wins, watch streams are exempt (RALLY_CALL_TIMEOUT)")
	fs.DurationVar(&c.ShutdownDelay, "shutdown-delay", 0, "at shutdown, how long to report not ready while still serving, so that load balancers stop sending new requests first; within shutdown-timeout (RALLY_SHUTDOWN_DELAY)")
	rateLimits := fs.String("rate-limits", "", "per-method rate limits over the defaults ("+ratelimit.DefaultRules+"), such as 'write=1/s,burst=10; rally.v1.EventService/CreateEvent=10/m,burst=3' (RALLY_RATE_LIMITS)")
	onRedisErr := fs.String("rate-limit-on-redis-error", string(ratelimit.PolicyLocal), "when Redis cannot decide a rate limit: local (count in this process), open (allow) or closed (refuse) (RALLY_RATE_LIMIT_ON_REDIS_ERROR)")
	trusted := fs.String("trusted-proxies", "", "comma-separated CIDR prefixes of proxies whose X-Forwarded-For is believed (RALLY_TRUSTED_PROXIES)")
	fs.StringVar(&c.PublicURL, "public-url", "", "where people reach this Rally, such as https://rally.example.org (a path is kept: https://example.org/rally): the base of the links in calendar feeds, never taken from a request's Host header; empty: http://localhost:<port of http-addr>, which only works on this machine (RALLY_PUBLIC_URL)")
	origins := fs.String("cors-origins", "", "comma-separated exact origins, such as https://app.example.org, whose pages may call the API (RALLY_CORS_ORIGINS)")
	fs.IntVar(&c.MaxRequestBytes, "max-request-bytes", 1<<20, "largest gRPC message and HTTP request body accepted, in bytes (RALLY_MAX_REQUEST_BYTES)")
	maxStreams := fs.Uint("grpc-max-streams", 1000, "concurrent streams per gRPC connection; the REST gateway's calls share one (RALLY_GRPC_MAX_STREAMS)")
	fs.IntVar(&c.MaxConnsPerAddr, "max-conns-per-addr", ratelimit.DefaultMaxConnsPerAddr, "open connections per client address (IPv6 by /64) on each port, trusted proxies exempt; 0: no cap (RALLY_MAX_CONNS_PER_ADDR)")
	fs.IntVar(&c.MaxStreamsPerAddr, "max-streams-per-addr", ratelimit.DefaultMaxStreamsPerAddr, "calls in progress (unary or streaming, REST included) per client address (IPv6 by /64), behind trusted proxies by forwarded address; 0: no cap (RALLY_MAX_STREAMS_PER_ADDR)")
	fs.DurationVar(&c.RSVPRetention, "rsvp-retention", 72*time.Hour, "how long after an event ends its RSVPs (and their personal fields) are deleted, and after a task's deadline plus claim TTL its claims (RALLY_RSVP_RETENTION)")
	maxGuests := fs.Uint("max-guests", 5, "most guests one RSVP may bring (RALLY_MAX_GUESTS)")
	fs.IntVar(&c.MaxWatches, "max-watches", 20, "concurrent watch streams per caller (token, else client address) (RALLY_MAX_WATCHES)")
	secrets := fs.String("secrets", "", "server secrets, newest first, comma-separated: base64 of at least 32 random bytes each (head -c 32 /dev/urandom | base64), the same on every replica; required with Redis (RALLY_SECRETS)")
	secretsFile := fs.String("secrets-file", "", "file of server secrets, one per line, newest first (as --secrets) (RALLY_SECRETS_FILE)")
	fs.DurationVar(&c.AttendanceWindow, "attendance-window", server.DefaultAttendanceWindow, "public attendance changes are coalesced for this long plus a random jitter of up to as long again, so that public watchers cannot time RSVPs; organisers see every change at once (but see --organiser-interval) (RALLY_ATTENDANCE_WINDOW)")
	fs.DurationVar(&c.OrganiserInterval, "organiser-interval", server.DefaultOrganiserInterval, "during an RSVP rush (more than 10 RSVPs of an event within this interval on one replica) the event's organisers get its attendance changes about once per interval per replica rather than one per RSVP; 0: one per RSVP, always (RALLY_ORGANISER_INTERVAL)")
	fs.StringVar(&c.TLSCert, "tls-cert", "", "PEM certificate file: serve TLS on both ports (with --tls-key) (RALLY_TLS_CERT)")
	fs.StringVar(&c.TLSKey, "tls-key", "", "PEM private key file of --tls-cert (RALLY_TLS_KEY)")

	if err := ff.Parse(fs, args, ff.WithEnvVarPrefix("RALLY")); err != nil {
		return Config{}, err
	}
	if err := c.LogLevel.UnmarshalText([]byte(*level)); err != nil {
		return Config{}, fmt.Errorf("log-level: %w", err)
	}
	switch c.LogFormat {
	case "text", "json":
	default:
		return Config{}, fmt.Errorf("log-format: want text or json, got %q", c.LogFormat)
	}
	if c.Demo && c.RedisURL != "" {
		return Config{}, fmt.Errorf("demo: the demo data is only seeded into the in-memory store; unset RALLY_REDIS_URL or RALLY_DEMO")
	}
	if c.AdminToken != "" {
		if err := checkAdminToken(c.AdminToken); err != nil {
			return Config{}, err
		}
	}
	if *maxGuests > 100 {
		return Config{}, fmt.Errorf("max-guests: at most 100 (the API's own bound), got %d", *maxGuests)
	}
	c.MaxGuests = int32(*maxGuests)
	if c.MaxWatches < 1 {
		return Config{}, fmt.Errorf("max-watches: must be at least 1, got %d", c.MaxWatches)
	}
	if c.AttendanceWindow < 10*time.Millisecond {
		return Config{}, fmt.Errorf("attendance-window: must be at least 10ms, got %v", c.AttendanceWindow)
	}
	if c.OrganiserInterval < 0 {
		return Config{}, fmt.Errorf("organiser-interval: must not be negative, got %v", c.OrganiserInterval)
	}
	if c.CallTimeout < minCallTimeout {
		return Config{}, fmt.Errorf("call-timeout: must be at least %v, got %v", minCallTimeout, c.CallTimeout)
	}
	if c.RSVPRetention < 0 {
		return Config{}, fmt.Errorf("rsvp-retention: must not be negative, got %v", c.RSVPRetention)
	}
	if err := c.parseLimits(*rateLimits, *onRedisErr, *trusted, *origins, *maxStreams); err != nil {
		return Config{}, err
	}
	if err := c.parseSecrets(*secrets, *secretsFile); err != nil {
		return Config{}, err
	}
	if (c.TLSCert == "") != (c.TLSKey == "") {
		return Config{}, fmt.Errorf("tls-cert, tls-key: set both (a certificate and its key) or neither")
	}
	return c, nil
}

// parseSecrets reads --secrets or --secrets-file. With Redis, replicas must share the
// secrets: a random one per process would give each replica its own rate-limit budgets
// and make idempotent retries on another replica fail.
func (c *Config) parseSecrets(value, file string) error {
	switch {
	case value != "" && file != "":
		return fmt.Errorf("secrets, secrets-file: set one or the other")
	case file != "":
		b, err := os.ReadFile(file)
		if err != nil {
			return fmt.Errorf("secrets-file: %w", err)
		}
		if c.Secrets, err = secret.Parse(string(b)); err != nil {
			return fmt.Errorf("secrets-file: %w", err)
		}
	case value != "":
		var err error
		if c.Secrets, err = secret.Parse(value); err != nil {
			return fmt.Errorf("secrets: %w", err)
		}
	case c.RedisURL != "":
		return fmt.Errorf("secrets: required with redis-url, the same on every replica; create one with: head -c 32 /dev/urandom | base64")
	}
	return nil
}

// parseLimits checks and stores the abuse limits.
func (c *Config) parseLimits(rules, onRedisErr, trusted, origins string, maxStreams uint) error {
	var err error
	if c.RateLimits, err = ratelimit.ParseRules(rules); err != nil {
		return fmt.Errorf("rate-limits: %w", err)
	}
	if c.RateLimitOnRedisError, err = ratelimit.ParsePolicy(onRedisErr); err != nil {
		return fmt.Errorf("rate-limit-on-redis-error: %w", err)
	}
	if c.TrustedProxies, err = clientip.ParsePrefixes(trusted); err != nil {
		return fmt.Errorf("trusted-proxies: %w", err)
	}
	if c.CORSOrigins, err = parseOrigins(origins); err != nil {
		return fmt.Errorf("cors-origins: %w", err)
	}
	if c.PublicURL, err = parsePublicURL(c.PublicURL); err != nil {
		return fmt.Errorf("public-url: %w", err)
	}
	if c.MaxRequestBytes < 1024 {
		return fmt.Errorf("max-request-bytes: must be at least 1024, got %d", c.MaxRequestBytes)
	}
	if maxStreams < 1 || maxStreams > math.MaxUint32 {
		return fmt.Errorf("grpc-max-streams: must be between 1 and %d, got %d", uint32(math.MaxUint32), maxStreams)
	}
	c.GRPCMaxStreams = uint32(maxStreams)
	if c.MaxConnsPerAddr < 0 {
		return fmt.Errorf("max-conns-per-addr: must be 0 (no cap) or more, got %d", c.MaxConnsPerAddr)
	}
	if c.MaxStreamsPerAddr < 0 {
		return fmt.Errorf("max-streams-per-addr: must be 0 (no cap) or more, got %d", c.MaxStreamsPerAddr)
	}
	return nil
}

// parseOrigins reads a comma-separated list of exact origins: scheme, host and port, as a
// browser sends them in the Origin header.
func parseOrigins(s string) ([]string, error) {
	var out []string
	for _, o := range strings.Split(s, ",") {
		if o = strings.TrimSpace(o); o == "" {
			continue
		}
		if o == "*" || strings.Contains(o, "*") {
			return nil, fmt.Errorf("%q: list exact origins; wildcards are not accepted", o)
		}
		u, err := url.Parse(o)
		if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" || u.Path != "" || u.RawQuery != "" || u.User != nil || u.Fragment != "" {
			return nil, fmt.Errorf("%q is not an origin such as https://app.example.org (scheme and host, optional port, nothing after)", o)
		}
		if strings.ToLower(o) != o {
			return nil, fmt.Errorf("%q: write origins in lower case, as browsers send them", o)
		}
		out = append(out, o)
	}
	return out, nil
}

// parsePublicURL checks --public-url: an absolute http or https URL with a host, and
// nothing a link could not be built on (no user, query or fragment). A path is kept,
// for a Rally served under one behind a proxy; the trailing slash is dropped, so that
// links are the URL followed by /e/{id}.
func parsePublicURL(s string) (string, error) {
	if s == "" {
		return "", nil
	}
	u, err := url.Parse(s)
	if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" || u.User != nil || u.RawQuery != "" || u.ForceQuery || u.Fragment != "" || strings.ContainsAny(s, " \t\r\n") {
		return "", fmt.Errorf("%q is not a URL such as https://rally.example.org (scheme, host, optional port and path, nothing after)", s)
	}
	return strings.TrimRight(s, "/"), nil
}
