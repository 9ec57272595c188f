package app_test

import (
	"context"
	"io"
	"log/slog"
	"strings"
	"testing"

	"github.com/rallyhq/rally/internal/app"
	"github.com/rallyhq/rally/internal/app/apptest"
	"github.com/rallyhq/rally/internal/config"
)

// TestSecondReplicaMetricsPort: a second rallyd on one host, with its own gRPC and HTTP
// ports but the metrics address of the first, refuses to start with an error that names
// the address, the flag and its environment variable (issue 18: "nothing says so").
func TestSecondReplicaMetricsPort(t *testing.T) {
	first := apptest.Start(t, "rly_admin_srDucs1aLvHAaAUJABuUdRilySVhX3Q_cuvZ8N4LFwQ")
	taken := first.MetricsAddr()
	cfg, err := config.Parse([]string{"--grpc-addr=127.0.0.1:0", "--http-addr=127.0.0.1:0",
		"--metrics-addr=" + taken, "--secrets=" + apptest.Secrets})
	if err != nil {
		t.Fatal(err)
	}
	a, err := app.Start(context.Background(), cfg, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err == nil {
		a.Shutdown(context.Background())
		t.Fatal("a second rallyd started on a metrics address in use")
	}
	for _, want := range []string{taken, "already in use", "--metrics-addr", "RALLY_METRICS_ADDR", "empty"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not say %q", err, want)
		}
	}
	// Another address, or none, starts.
	for _, addr := range []string{"127.0.0.1:0", ""} {
		cfg.MetricsAddr = addr
		a, err := app.Start(context.Background(), cfg, slog.New(slog.NewTextHandler(io.Discard, nil)))
		if err != nil {
			t.Fatalf("--metrics-addr=%q: %v", addr, err)
		}
		if got := a.MetricsAddr(); (addr == "") != (got == "") {
			t.Errorf("--metrics-addr=%q: listening on %q", addr, got)
		}
		a.Shutdown(context.Background())
	}
}
