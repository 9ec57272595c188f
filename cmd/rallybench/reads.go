package main

import (
	"context"
	"fmt"
	"math/rand/v2"
	"time"

	rallyv1 "github.com/rallyhq/rally/gen/go/rally/v1"
)

// reads measures item 4: median GetEvent and ListEvents (page size 50, country filter)
// latency with many events stored against few.
func reads(ctx context.Context, e *env, o options, r *report) error {
	t0 := time.Now()
	names, err := e.createEvents(ctx, 0, o.smallEvents, 0)
	if err != nil {
		return err
	}
	r.Seconds["seed_small"] = time.Since(t0).Seconds()
	smallGet, smallList, err := readLatencies(ctx, e, o, names)
	if err != nil {
		return err
	}
	t0 = time.Now()
	more, err := e.createEvents(ctx, o.smallEvents, o.largeEvents-o.smallEvents, 0)
	if err != nil {
		return err
	}
	seed := time.Since(t0)
	r.Seconds["seed_large"] = seed.Seconds()
	r.note("seeding", "%d events in %.1fs (%.0f/s, CreateEvent over gRPC, 64 concurrent)", len(more), seed.Seconds(), float64(len(more))/seed.Seconds())
	largeGet, largeList, err := readLatencies(ctx, e, o, append(names, more...))
	if err != nil {
		return err
	}
	n := fmt.Sprintf("%dk vs %dk events", o.largeEvents/1000, o.smallEvents/1000)
	r.add(newFigure("4a GetEvent p50 large/small", div(ms(largeGet), ms(smallGet)), 1.5, true,
		fmt.Sprintf("%.3fms vs %.3fms, %s", ms(largeGet), ms(smallGet), n)))
	r.add(newFigure("4b ListEvents p50 large/small", div(ms(largeList), ms(smallList)), 1.5, true,
		fmt.Sprintf("%.3fms vs %.3fms, %s, page 50, country=%s", ms(largeList), ms(smallList), n, countries[0])))
	return nil
}

// readLatencies returns the median latencies of sequential GetEvent calls on random events
// and of ListEvents calls filtered by country.
func readLatencies(ctx context.Context, e *env, o options, names []string) (get, list time.Duration, err error) {
	var gets, lists []time.Duration
	for i := range o.samples {
		t0 := time.Now()
		if _, err := e.events(i).GetEvent(ctx, &rallyv1.GetEventRequest{Name: names[rand.IntN(len(names))]}); err != nil {
			return 0, 0, fmt.Errorf("GetEvent: %w", err)
		}
		gets = append(gets, time.Since(t0))
		t0 = time.Now()
		resp, err := e.events(i).ListEvents(ctx, &rallyv1.ListEventsRequest{PageSize: 50, Country: countries[0]})
		if err != nil {
			return 0, 0, fmt.Errorf("ListEvents: %w", err)
		}
		lists = append(lists, time.Since(t0))
		if len(resp.GetEvents()) != 50 {
			return 0, 0, fmt.Errorf("ListEvents: %d events, want 50", len(resp.GetEvents()))
		}
	}
	return quantile(gets, 0.5), quantile(lists, 0.5), nil
}
