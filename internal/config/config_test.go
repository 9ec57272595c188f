package config

import (
	"fmt"
	"log/slog"
	"os"
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
	t.Setenv("RALLY_SECRETS", "cmFsbHkgY29uZmlnIHRlc3Qgc2VjcmV0LCAzMiBieXRlcyBvciBtb3Jl")
	t.Setenv("RALLY_ADMIN_TOKEN", testAdminToken)
	t.Setenv("RALLY_SHUTDOWN_TIMEOUT", "3s")
	c, err := Parse([]string{"--http-addr=127.0.0.1:28080", "--log-level=debug"})
	if err != nil {
		t.Fatal(err)
	}
	if c.GRPCAddr != "127.0.0.1:19090" || c.RedisURL != "redis://localhost:6379/2" || c.AdminToken != testAdminToken || c.ShutdownTimeout != 3*time.Second {
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

func TestLimitsDefaults(t *testing.T) {
	c, err := Parse(nil)
	if err != nil {
		t.Fatal(err)
	}
	if c.RateLimits.String() != "auth=1/m,burst=10; rally.v1.OrganiserService/CreateApiToken=10/h,burst=5; rally.v1.RsvpService/CreateRsvp=1/m,burst=5; rally.v1.RsvpService/JoinBuddy=20/h,burst=10; rally.v1.RsvpService/PairBuddy=20/h,burst=10; rally.v1.TaskService/ClaimTask=10/h,burst=5; read=20/s,burst=50; write=2/s,burst=20" ||
		c.RateLimitOnRedisError != "local" || c.RSVPRetention != 72*time.Hour || c.MaxGuests != 5 ||
		c.MaxRequestBytes != 1<<20 || c.GRPCMaxStreams != 1000 || len(c.TrustedProxies) != 0 || len(c.CORSOrigins) != 0 || c.TLS() ||
		c.MaxConnsPerAddr != 128 || c.MaxStreamsPerAddr != 128 {
		t.Errorf("defaults: %+v", c)
	}
}

func TestLimitsFromEnvironment(t *testing.T) {
	t.Setenv("RALLY_RATE_LIMITS", "write=1/s,burst=10; rally.v1.EventService/CreateEvent=10/m,burst=3")
	t.Setenv("RALLY_RATE_LIMIT_ON_REDIS_ERROR", "closed")
	t.Setenv("RALLY_TRUSTED_PROXIES", "10.0.0.0/8, 192.0.2.1")
	t.Setenv("RALLY_CORS_ORIGINS", "https://app.example.org, http://localhost:3000")
	t.Setenv("RALLY_MAX_REQUEST_BYTES", "65536")
	t.Setenv("RALLY_GRPC_MAX_STREAMS", "50")
	t.Setenv("RALLY_MAX_CONNS_PER_ADDR", "0")
	t.Setenv("RALLY_MAX_STREAMS_PER_ADDR", "500")
	t.Setenv("RALLY_TLS_CERT", "/etc/rally/cert.pem")
	t.Setenv("RALLY_TLS_KEY", "/etc/rally/key.pem")
	c, err := Parse(nil)
	if err != nil {
		t.Fatal(err)
	}
	if got := c.RateLimits.String(); got != "auth=1/m,burst=10; rally.v1.EventService/CreateEvent=10/m,burst=3; rally.v1.OrganiserService/CreateApiToken=10/h,burst=5; "+
		"rally.v1.RsvpService/CreateRsvp=1/m,burst=5; rally.v1.RsvpService/JoinBuddy=20/h,burst=10; rally.v1.RsvpService/PairBuddy=20/h,burst=10; rally.v1.TaskService/ClaimTask=10/h,burst=5; read=20/s,burst=50; write=1/s,burst=10" {
		t.Errorf("rate limits: %s", got)
	}
	if c.RateLimitOnRedisError != "closed" || fmt.Sprint(c.TrustedProxies) != "[10.0.0.0/8 192.0.2.1/32]" ||
		strings.Join(c.CORSOrigins, " ") != "https://app.example.org http://localhost:3000" ||
		c.MaxRequestBytes != 65536 || c.GRPCMaxStreams != 50 || !c.TLS() || c.TLSKey != "/etc/rally/key.pem" ||
		c.MaxConnsPerAddr != 0 || c.MaxStreamsPerAddr != 500 {
		t.Errorf("environment not applied: %+v", c)
	}
}

// Each invalid value is refused with an error that names its flag.
func TestLimitsInvalid(t *testing.T) {
	for _, tc := range []struct{ arg, field string }{
		{"--rate-limits=read=fast", "rate-limits"},
		{"--rate-limits=rally.v1.EventService/CreateEvent", "rate-limits"},
		{"--rate-limit-on-redis-error=maybe", "rate-limit-on-redis-error"},
		{"--trusted-proxies=10.0.0.0/33", "trusted-proxies"},
		{"--trusted-proxies=proxy.example.org", "trusted-proxies"},
		{"--cors-origins=*", "cors-origins"},
		{"--cors-origins=https://*.example.org", "cors-origins"},
		{"--cors-origins=app.example.org", "cors-origins"},
		{"--cors-origins=https://app.example.org/", "cors-origins"},
		{"--cors-origins=https://App.example.org", "cors-origins"},
		{"--max-request-bytes=10", "max-request-bytes"},
		{"--grpc-max-streams=0", "grpc-max-streams"},
		{"--max-conns-per-addr=-1", "max-conns-per-addr"},
		{"--max-streams-per-addr=-1", "max-streams-per-addr"},
		{"--tls-cert=/etc/rally/cert.pem", "tls-key"},
		{"--tls-key=/etc/rally/key.pem", "tls-cert"},
	} {
		_, err := Parse([]string{tc.arg})
		if err == nil || !strings.Contains(err.Error(), tc.field) {
			t.Errorf("Parse(%s) = %v, want an error naming %s", tc.arg, err, tc.field)
		}
	}
}

// TestSecrets: required with Redis (replicas must share them), optional on the memory
// store, from the flag or a file, never echoed in an error.
func TestSecrets(t *testing.T) {
	const secret = "cmFsbHkgY29uZmlnIHRlc3Qgc2VjcmV0LCAzMiBieXRlcyBvciBtb3Jl"
	if _, err := Parse([]string{"--redis-url=redis://localhost:6379"}); err == nil || !strings.HasPrefix(err.Error(), "secrets: required with redis-url") {
		t.Errorf("Redis without secrets: %v", err)
	}
	c, err := Parse(nil)
	if err != nil || c.Secrets != nil {
		t.Errorf("the memory store without secrets: %v, %v", c.Secrets, err)
	}
	c, err = Parse([]string{"--redis-url=redis://localhost:6379", "--secrets=" + secret})
	if err != nil || c.Secrets == nil || c.Secrets.Len() != 1 {
		t.Errorf("--secrets: %v, %v", c.Secrets, err)
	}
	file := t.TempDir() + "/secrets"
	if err := os.WriteFile(file, []byte("# newest first\n"+secret+"\n"+secret+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	c, err = Parse([]string{"--secrets-file=" + file})
	if err != nil || c.Secrets.Len() != 2 {
		t.Errorf("--secrets-file: %v, %v", c.Secrets, err)
	}
	for _, args := range [][]string{
		{"--secrets=" + secret, "--secrets-file=" + file},
		{"--secrets=c2hvcnQ"},
		{"--secrets=not base64 " + secret},
		{"--secrets-file=" + file + ".missing"},
	} {
		_, err := Parse(args)
		if err == nil {
			t.Errorf("Parse(%q) succeeded", args)
		} else if strings.Contains(err.Error(), secret) {
			t.Errorf("Parse(%q): the error echoes the secret: %v", args, err)
		}
	}
}

func TestAttendanceWindow(t *testing.T) {
	c, err := Parse([]string{"--attendance-window=5s"})
	if err != nil || c.AttendanceWindow != 5*time.Second {
		t.Errorf("--attendance-window=5s: %v, %v", c.AttendanceWindow, err)
	}
	if _, err := Parse([]string{"--attendance-window=1ms"}); err == nil {
		t.Error("a 1ms window was accepted")
	}
}
