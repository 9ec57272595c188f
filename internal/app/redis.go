package app

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"regexp"
	"strings"
	"time"

	goredis "github.com/redis/go-redis/v9"

	"github.com/rallyhq/rally/internal/config"
	"github.com/rallyhq/rally/internal/server"
)

// redisForms names the URL forms that --redis-url takes, for error messages.
const redisForms = "redis://, rediss://, unix://, redis+cluster://, rediss+cluster://, redis+sentinel:// or rediss+sentinel://"

// redisOptions is what a --redis-url asks for: exactly one of the three is set.
type redisOptions struct {
	single   *goredis.Options
	cluster  *goredis.ClusterOptions
	sentinel *goredis.FailoverOptions
	// callTimeout is the server's --call-timeout, which bounds each Redis command too
	// (see failFast); 0: server.DefaultCallTimeout.
	callTimeout time.Duration
}

// Failing fast: with Redis unreachable, a call should fail with UNAVAILABLE well within
// its deadline rather than spend it on go-redis's default five dial attempts of up to
// five seconds each (per retry of the command). The URL's own dial_timeout and
// dialer_retries win. Callers' deadlines reach every Redis call
// (ContextTimeoutEnabled), so a paused or slow Redis costs a call its deadline, no more.
//
// With Redis hung rather than gone (stopped by a long fork, behind a partition), dialling
// may well succeed and only the replies never come. Every unary call has a deadline (the
// server's --call-timeout), but some Redis work runs without one; the read and write
// timeouts bound each command there, so that a hung Redis never holds a pooled connection
// for ever: the connection is dropped when its timeout passes, and a new one dialled once
// Redis answers again. The pool timeout bounds the wait for a free connection when a hung
// Redis holds all of them. All three are the call timeout: a call's own deadline is what
// ends its wait (go-redis takes the earlier of the two), and no Redis command waits longer
// than a whole call may. The URL's read_timeout, write_timeout and pool_timeout win.
const (
	defaultDialTimeout   = time.Second
	defaultDialerRetries = 1
)

// timeouts points at the fields of one of go-redis's option types that failFast sets.
type timeouts struct {
	dial, read, write, pool *time.Duration
	dialerRetries           *int
	contextTimeout          *bool
}

// failFast applies the defaults above to options that do not set them, with
// commandTimeout as the read and pool timeouts. The write timeout follows the read
// timeout, as in go-redis.
func failFast(t timeouts, commandTimeout time.Duration) {
	setDefault(t.dial, defaultDialTimeout)
	setDefault(t.read, commandTimeout)
	setDefault(t.write, *t.read)
	setDefault(t.pool, commandTimeout)
	if *t.dialerRetries == 0 {
		*t.dialerRetries = defaultDialerRetries
	}
	*t.contextTimeout = true
}

// setDefault sets d to def if it is unset (zero).
func setDefault(d *time.Duration, def time.Duration) {
	if *d == 0 {
		*d = def
	}
}

// newClient returns the client that the options describe.
func (o redisOptions) newClient() goredis.UniversalClient {
	cmd := o.callTimeout
	if cmd <= 0 {
		cmd = server.DefaultCallTimeout
	}
	switch {
	case o.cluster != nil:
		c := o.cluster
		failFast(timeouts{&c.DialTimeout, &c.ReadTimeout, &c.WriteTimeout, &c.PoolTimeout, &c.DialerRetries, &c.ContextTimeoutEnabled}, cmd)
		return goredis.NewClusterClient(c)
	case o.sentinel != nil:
		s := o.sentinel
		failFast(timeouts{&s.DialTimeout, &s.ReadTimeout, &s.WriteTimeout, &s.PoolTimeout, &s.DialerRetries, &s.ContextTimeoutEnabled}, cmd)
		return goredis.NewFailoverClient(s)
	default:
		s := o.single
		failFast(timeouts{&s.DialTimeout, &s.ReadTimeout, &s.WriteTimeout, &s.PoolTimeout, &s.DialerRetries, &s.ContextTimeoutEnabled}, cmd)
		return goredis.NewClient(s)
	}
}

// kind is how the start-up messages name the topology.
func (o redisOptions) kind() string {
	switch {
	case o.cluster != nil:
		return "Redis Cluster"
	case o.sentinel != nil:
		return "Redis Sentinel"
	default:
		return "Redis"
	}
}

// schemeSyntax is RFC 3986's scheme: only what matches it is ever quoted back, since a
// mistyped URL could put a password where the scheme should be.
var schemeSyntax = regexp.MustCompile(`^[A-Za-z][A-Za-z0-9+.-]{0,30}$`)

// parseRedisURL reads --redis-url. go-redis parses each form; the +cluster and
// +sentinel schemes, which go-redis does not know, only choose which parser and client,
// and become redis or rediss for it. Errors never contain the URL, which may hold a
// password (in its user info, or in ?password= for Sentinel).
func parseRedisURL(raw string) (redisOptions, error) {
	scheme, rest, ok := strings.Cut(raw, "://")
	if !ok || !schemeSyntax.MatchString(scheme) {
		return redisOptions{}, fmt.Errorf("redis-url: not a URL; want %s", redisForms)
	}
	var o redisOptions
	var err error
	switch base, topology, _ := strings.Cut(strings.ToLower(scheme), "+"); {
	case topology == "" && (base == "redis" || base == "rediss" || base == "unix"):
		o.single, err = goredis.ParseURL(raw)
	case topology == "cluster" && (base == "redis" || base == "rediss"):
		o.cluster, err = goredis.ParseClusterURL(base + "://" + rest)
		if err == nil {
			err = checkClusterPath(base + "://" + rest)
		}
	case topology == "sentinel" && (base == "redis" || base == "rediss"):
		o.sentinel, err = goredis.ParseFailoverURL(base + "://" + rest)
		if err == nil && o.sentinel.MasterName == "" {
			err = errors.New("a Sentinel URL needs ?master_name=, the name Sentinel monitors the master under")
		}
	default:
		return redisOptions{}, fmt.Errorf("redis-url: unknown scheme %q; want %s", scheme, redisForms)
	}
	if err != nil {
		return redisOptions{}, fmt.Errorf("redis-url: not a valid %s:// URL: %s", strings.ToLower(scheme), redact(raw, err))
	}
	return o, nil
}

// checkClusterPath refuses a database number in a Cluster URL, which ParseClusterURL
// would silently ignore: a Cluster has database 0 only.
func checkClusterPath(raw string) error {
	u, err := url.Parse(raw)
	if err != nil {
		return err
	}
	if p := strings.Trim(u.Path, "/"); p != "" && p != "0" {
		return errors.New("a Cluster has only database 0: remove the /<db> path")
	}
	return nil
}

// redact returns what go-redis said about raw, without anything that could be a secret.
// url.Parse quotes the whole URL in its errors, so those are not repeated at all; the
// others name options, addresses and database numbers, and have any password the URL
// holds cut out in case a malformed URL put it somewhere unexpected.
func redact(raw string, err error) string {
	if _, ok := errors.AsType[*url.Error](err); ok {
		return "malformed URL"
	}
	msg := strings.TrimPrefix(err.Error(), "redis: ")
	u, perr := url.Parse(raw)
	if perr != nil {
		return "malformed URL"
	}
	secrets := u.Query()["password"]
	if pw, ok := u.User.Password(); ok {
		secrets = append(secrets, pw)
	}
	if u.User != nil {
		secrets = append(secrets, u.User.Username()) // may be a password, as in redis://secret@host
	}
	for _, s := range secrets {
		if s != "" && strings.Contains(msg, s) {
			return "malformed URL"
		}
	}
	return msg
}

// openRedis connects to the configured Redis (a server, a Cluster or a master found
// through Sentinel) and checks that it answers.
func openRedis(ctx context.Context, cfg config.Config) (goredis.UniversalClient, error) {
	opts, err := parseRedisURL(cfg.RedisURL)
	if err != nil {
		return nil, err
	}
	opts.callTimeout = cfg.CallTimeout
	client := opts.newClient()
	pingCtx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	if err := client.Ping(pingCtx).Err(); err != nil {
		client.Close()
		return nil, fmt.Errorf("redis: cannot reach %s: %w", opts.kind(), err)
	}
	return client, nil
}
