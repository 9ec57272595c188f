package server_test

import (
	"context"
	"io"
	"log/slog"
	"testing"
	"time"

	rallyv1 "github.com/rallyhq/rally/gen/go/rally/v1"
	"github.com/rallyhq/rally/internal/redistest"
	"github.com/rallyhq/rally/internal/secret"
	"github.com/rallyhq/rally/internal/server"
	"github.com/rallyhq/rally/internal/store"
	"github.com/rallyhq/rally/internal/store/memory"
	"github.com/rallyhq/rally/internal/store/redis"
)

// stores are the stores that the privacy tests of the server run on: what the server
// decides must not depend on which store keeps the data.
var stores = map[string]func(t *testing.T, now func() time.Time) store.Store{
	"memory": func(*testing.T, func() time.Time) store.Store { return memory.New() },
	"redis": func(t *testing.T, now func() time.Time) store.Store {
		// The tests play on a fixed calendar in 2026, while Redis deletes RSVPs by its
		// own clock: a retention reaching a year past today keeps them.
		retention := time.Since(newClock().Now()) + 365*24*time.Hour
		return redis.New(redistest.Start(t).Client(), "rally-test:", redis.WithRSVPRetention(retention), redis.WithClock(now))
	},
}

// onStores runs test once per store, in parallel.
func onStores(t *testing.T, test func(t *testing.T, h *harness)) {
	for name, open := range stores {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			test(t, newHarnessOn(t, open, nil))
		})
	}
}

// newHarnessOn is newHarness on the store that open returns, with the given secrets
// (nil: random ones).
func newHarnessOn(t *testing.T, open func(*testing.T, func() time.Time) store.Store, secrets *secret.Keyring) *harness {
	t.Helper()
	clk := newClock()
	conn := serve(t, server.Options{Store: open(t, clk.Now), AdminToken: adminToken, Now: clk.Now, Secrets: secrets,
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	t.Cleanup(cancel)
	return &harness{
		conn:      conn,
		campaigns: rallyv1.NewCampaignServiceClient(conn),
		events:    rallyv1.NewEventServiceClient(conn),
		clock:     clk,
		ctx:       ctx,
		admin:     admin(ctx),
	}
}
