// Package config reads rallyd's configuration from flags and their RALLY_* environment
// equivalents (flag --grpc-addr is RALLY_GRPC_ADDR). Flags win over the environment.
package config

import (
	"flag"
	"fmt"
	"log/slog"
	"strings"
	"time"

	"github.com/peterbourgon/ff/v3"
)

// Config is everything rallyd needs to start.
type Config struct {
	GRPCAddr        string        // gRPC listen address
	HTTPAddr        string        // REST gateway and health listen address
	RedisURL        string        // empty: the embedded in-memory store
	RedisPrefix     string        // prefix of every Redis key, to share one Redis safely
	AdminToken      string        // bearer token for writes; generated at start-up when empty
	Demo            bool          // seed a demo campaign (memory store only)
	LogLevel        slog.Level    // debug, info, warn or error
	LogFormat       string        // json or text
	ShutdownTimeout time.Duration // grace period for in-flight requests on SIGINT/SIGTERM
}

// Parse reads the configuration from args (without the program name) and the environment.
func Parse(args []string) (Config, error) {
	var c Config
	fs := flag.NewFlagSet("rallyd", flag.ContinueOnError)
	fs.StringVar(&c.GRPCAddr, "grpc-addr", ":9090", "gRPC listen address (RALLY_GRPC_ADDR)")
	fs.StringVar(&c.HTTPAddr, "http-addr", ":8080", "HTTP listen address for REST, health and OpenAPI (RALLY_HTTP_ADDR)")
	fs.StringVar(&c.RedisURL, "redis-url", "", "Redis URL, such as redis://localhost:6379/0; empty uses the in-memory store (RALLY_REDIS_URL)")
	fs.StringVar(&c.RedisPrefix, "redis-prefix", "rally:", "prefix of every Redis key (RALLY_REDIS_PREFIX)")
	fs.StringVar(&c.AdminToken, "admin-token", "", "admin bearer token for writes; generated and printed once when empty (RALLY_ADMIN_TOKEN)")
	fs.BoolVar(&c.Demo, "demo", false, "seed a demo campaign into the in-memory store (RALLY_DEMO)")
	level := fs.String("log-level", "info", "log level: debug, info, warn or error (RALLY_LOG_LEVEL)")
	fs.StringVar(&c.LogFormat, "log-format", "text", "log format: text or json (RALLY_LOG_FORMAT)")
	fs.DurationVar(&c.ShutdownTimeout, "shutdown-timeout", 10*time.Second, "grace period for in-flight requests at shutdown (RALLY_SHUTDOWN_TIMEOUT)")

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
	if c.AdminToken != "" && len(strings.TrimSpace(c.AdminToken)) < 32 {
		return Config{}, fmt.Errorf("admin-token: must be at least 32 characters")
	}
	return c, nil
}
