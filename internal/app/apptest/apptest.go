// Package apptest runs a real rallyd inside a test: the gRPC server, the gateway dialling
// it, and the store, on free loopback ports, shut down when the test ends.
package apptest

import (
	"context"
	"io"
	"log/slog"
	"testing"
	"time"

	"github.com/rallyhq/rally/internal/app"
	"github.com/rallyhq/rally/internal/config"
)

// Secrets is the server secret of test replicas: replicas sharing a Redis must share it.
const Secrets = "cmFsbHkgdGVzdCBzZWNyZXQgLSBub3QgZm9yIHByb2R1Y3Rpb24h"

// AttendanceWindow is the test replicas' coalescing window of public attendance changes:
// short, so that tests of public watchers take milliseconds, not seconds.
const AttendanceWindow = 50 * time.Millisecond

// CallTimeout is the test replicas' server-side deadline of a call: far longer than the
// shipped one, because under the race detector on a loaded two-core machine a burst of
// calls can take seconds each. Tests of the deadline itself pass the shipped one.
const CallTimeout = 30 * time.Second

// Start runs rallyd with the given admin token and configuration flags (which come last
// and win over the defaults: loopback ports, memory store, the test Secrets, AttendanceWindow, CallTimeout), logging
// nowhere.
func Start(t testing.TB, adminToken string, flags ...string) *app.App {
	t.Helper()
	cfg, err := config.Parse(append([]string{"--grpc-addr=127.0.0.1:0", "--http-addr=127.0.0.1:0", "--metrics-addr=127.0.0.1:0", "--admin-token=" + adminToken, "--secrets=" + Secrets, "--attendance-window=" + AttendanceWindow.String(),
		"--call-timeout=" + CallTimeout.String()}, flags...))
	if err != nil {
		t.Fatal(err)
	}
	a, err := app.Start(context.Background(), cfg, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		if err := a.Shutdown(ctx); err != nil {
			t.Errorf("shutdown: %v", err)
		}
	})
	return a
}
