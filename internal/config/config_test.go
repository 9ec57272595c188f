package config

import (
	"log/slog"
	"strings"
	"testing"
	"time"
)

func TestDefaults(t *testing.T) {
	c, err := Parse(nil)
	if err != nil {
		t.Fatal(err)
	}
	if c.GRPCAddr != ":9090" || c.HTTPAddr != ":8080" || c.RedisURL != "" || c.RedisPrefix != "rally:" || c.LogLevel != slog.LevelInfo {
		t.Errorf("defaults: %+v", c)
	}
}

func TestEnvironmentAndFlags(t *testing.T) {
	t.Setenv("RALLY_GRPC_ADDR", "127.0.0.1:19090")
	t.Setenv("RALLY_HTTP_ADDR", "127.0.0.1:18080")
	t.Setenv("RALLY_REDIS_URL", "redis://localhost:6379/2")
	t.Setenv("RALLY_ADMIN_TOKEN", strings.Repeat("t", 40))
	t.Setenv("RALLY_SHUTDOWN_TIMEOUT", "3s")
	c, err := Parse([]string{"--http-addr=127.0.0.1:28080", "--log-level=debug"})
	if err != nil {
		t.Fatal(err)
	}
	if c.GRPCAddr != "127.0.0.1:19090" || c.RedisURL != "redis://localhost:6379/2" || c.AdminToken != strings.Repeat("t", 40) || c.ShutdownTimeout != 3*time.Second {
		t.Errorf("environment not applied: %+v", c)
	}
	if c.HTTPAddr != "127.0.0.1:28080" || c.LogLevel != slog.LevelDebug {
		t.Errorf("flags must win over the environment: %+v", c)
	}
}

func TestInvalid(t *testing.T) {
	for _, args := range [][]string{
		{"--log-level=loud"},
		{"--log-format=xml"},
		{"--admin-token=short"},
		{"--demo", "--redis-url=redis://localhost:6379"},
		{"--no-such-flag"},
	} {
		if _, err := Parse(args); err == nil {
			t.Errorf("Parse(%v) accepted invalid configuration", args)
		}
	}
}
