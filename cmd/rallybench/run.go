package main

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"strings"
	"time"
)

func run(args []string) error {
	o, err := parseOptions(args)
	if err != nil {
		return err
	}
	if o.watchChild {
		return watchChild(o)
	}
	if o.rushChild {
		return rushChild(o)
	}
	if o.conn.child {
		return connChild(o)
	}
	if err := o.machine.apply(); err != nil {
		return err
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	start := time.Now()
	e, err := startEnv(ctx, o)
	if err != nil {
		return err
	}
	defer e.close()
	r := &report{Mode: "full", Loads: map[string]any{}, Seconds: map[string]float64{}}
	if o.smoke {
		r.Mode = "smoke"
	}
	steps := []struct {
		name string
		fn   func(context.Context, *env, options, *report) error
	}{
		{"throughput and Redis commands (1-3)", throughput},
		{"reads with many events (4)", reads},
		{"fan-out (5)", fanout},
		{"correctness (6)", correctness},
		{"RSVP rush, every change vs coalesced (7)", rush},
		{"fan-out over real connections (8)", connFanout},
	}
	for _, s := range steps {
		if !strings.Contains(s.name, o.only) {
			continue
		}
		fmt.Fprintf(os.Stderr, "rallybench: %s...\n", s.name)
		t0 := time.Now()
		if err := s.fn(ctx, e, o, r); err != nil {
			return fmt.Errorf("%s: %w", s.name, err)
		}
		r.Seconds[s.name] = time.Since(t0).Seconds()
	}
	r.Seconds["total"] = time.Since(start).Seconds()
	r.note("time", "%.1fs in all", r.Seconds["total"])
	r.note("machine", "%s", o.machine.describe())
	r.print(os.Stdout)
	return r.write(o.jsonPath)
}
