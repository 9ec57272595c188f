package main

import (
	"context"
	"fmt"
	"time"

	"google.golang.org/protobuf/types/known/timestamppb"

	rallyv1 "github.com/rallyhq/rally/gen/go/rally/v1"
)

// countries the seeded events are spread over; ListEvents filters on the first.
var countries = []string{"DE", "FR", "NL", "BE", "AT", "CH", "PL", "CZ", "SE", "DK"}

func newEvent(i int, capacity int32, campaign string) *rallyv1.Event {
	start := time.Date(2030, 1, 1, 12, 0, 0, 0, time.UTC).Add(time.Duration(i%5000) * time.Hour)
	return &rallyv1.Event{
		Campaign:             campaign,
		Title:                fmt.Sprintf("Vigil %d", i),
		Venue:                &rallyv1.Venue{Kind: rallyv1.VenueKind_VENUE_KIND_EMBASSY, RepresentedCountry: "KZ", Locality: "City", Country: countries[i%len(countries)]},
		StartTime:            timestamppb.New(start),
		EndTime:              timestamppb.New(start.Add(2 * time.Hour)),
		TimeZone:             "Europe/Berlin",
		Capacity:             capacity,
		AttendanceVisibility: rallyv1.AttendanceVisibility_ATTENDANCE_VISIBILITY_EXACT,
	}
}

// createEvents creates n events of the benchmark's campaign through the API as the
// admin, concurrently, numbered from first, and returns their names. Like real ones they
// belong to a campaign, whose watchers hear of their changes too.
func (e *env) createEvents(ctx context.Context, first, n int, capacity int32) ([]string, error) {
	return e.createEventsShowing(ctx, first, n, capacity, rallyv1.AttendanceVisibility_ATTENDANCE_VISIBILITY_EXACT)
}

// createEventsShowing is createEvents with the attendance visibility of the events.
func (e *env) createEventsShowing(ctx context.Context, first, n int, capacity int32, vis rallyv1.AttendanceVisibility) ([]string, error) {
	if e.campaign == "" {
		c, err := rallyv1.NewCampaignServiceClient(e.conn(0)).CreateCampaign(admin(ctx), &rallyv1.CreateCampaignRequest{
			Campaign: &rallyv1.Campaign{Title: "Benchmark campaign"},
		})
		if err != nil {
			return nil, fmt.Errorf("CreateCampaign: %w", err)
		}
		e.campaign = c.GetName()
	}
	names := make([]string, n)
	err := parallel(ctx, n, 64, func(ctx context.Context, i int) error {
		in := newEvent(first+i, capacity, e.campaign)
		in.AttendanceVisibility = vis
		ev, err := e.events(i).CreateEvent(admin(ctx), &rallyv1.CreateEventRequest{Event: in})
		if err != nil {
			return fmt.Errorf("CreateEvent: %w", err)
		}
		names[i] = ev.GetName()
		return nil
	})
	return names, err
}
