// Package demo seeds a running rallyd with a clearly labelled demo campaign, so that a
// newcomer who runs `make run` has something real to look at. It goes through the public
// gRPC API, exactly like any client, so the demo exercises the real validation and store.
package demo

import (
	"context"
	"fmt"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/metadata"
	"google.golang.org/protobuf/types/known/timestamppb"

	rallyv1 "github.com/rallyhq/rally/gen/go/rally/v1"
)

// CampaignID is the ID of the demo campaign: campaigns/demo-kazakhstan.
const CampaignID = "demo-kazakhstan"

type embassy struct {
	id, city, country, tz string
	kind                  rallyv1.VenueKind
	capacity              int32
	visibility            rallyv1.AttendanceVisibility
	weekOffset            int
}

// Places in front of Kazakhstan's missions in European capitals. Street addresses are left
// out on purpose: demo data must not look like a real, verified call to action.
var embassies = []embassy{
	{"demo-berlin", "Berlin", "DE", "Europe/Berlin", rallyv1.VenueKind_VENUE_KIND_EMBASSY, 200, rallyv1.AttendanceVisibility_ATTENDANCE_VISIBILITY_EXACT, 0},
	{"demo-london", "London", "GB", "Europe/London", rallyv1.VenueKind_VENUE_KIND_EMBASSY, 0, rallyv1.AttendanceVisibility_ATTENDANCE_VISIBILITY_APPROXIMATE, 0},
	{"demo-paris", "Paris", "FR", "Europe/Paris", rallyv1.VenueKind_VENUE_KIND_EMBASSY, 150, rallyv1.AttendanceVisibility_ATTENDANCE_VISIBILITY_APPROXIMATE, 1},
	{"demo-vienna", "Vienna", "AT", "Europe/Vienna", rallyv1.VenueKind_VENUE_KIND_EMBASSY, 50, rallyv1.AttendanceVisibility_ATTENDANCE_VISIBILITY_HIDDEN, 1},
	{"demo-warsaw", "Warsaw", "PL", "Europe/Warsaw", rallyv1.VenueKind_VENUE_KIND_EMBASSY, 100, rallyv1.AttendanceVisibility_ATTENDANCE_VISIBILITY_EXACT, 2},
	{"demo-frankfurt", "Frankfurt am Main", "DE", "Europe/Berlin", rallyv1.VenueKind_VENUE_KIND_CONSULATE, 80, rallyv1.AttendanceVisibility_ATTENDANCE_VISIBILITY_APPROXIMATE, 2},
}

// Seed creates the demo campaign and its events on the rallyd listening at grpcAddr,
// dialled with dial (default: plaintext).
func Seed(ctx context.Context, grpcAddr, adminToken string, now time.Time, dial ...grpc.DialOption) error {
	if len(dial) == 0 {
		dial = []grpc.DialOption{grpc.WithTransportCredentials(insecure.NewCredentials())}
	}
	conn, err := grpc.NewClient(grpcAddr, dial...)
	if err != nil {
		return err
	}
	defer conn.Close()
	ctx = metadata.AppendToOutgoingContext(ctx, "authorization", "Bearer "+adminToken)
	campaigns := rallyv1.NewCampaignServiceClient(conn)
	events := rallyv1.NewEventServiceClient(conn)

	c, err := campaigns.CreateCampaign(ctx, &rallyv1.CreateCampaignRequest{
		CampaignId: CampaignID,
		Campaign: &rallyv1.Campaign{
			Title: "[DEMO] Solidarity with LGBTI people in Kazakhstan",
			Description: "DEMO DATA, created by `make run`: not a real call to action.\n\n" +
				"On 30 December 2025 Kazakhstan signed a law banning \"LGBT propaganda\" in media, " +
				"online, in education, art and health information. Human rights organisations call " +
				"for solidarity actions in front of Kazakhstan's embassies and consulates, for " +
				"amplifying the voices of Kazakh LGBTI people in the media, and for sharing " +
				"fact-based information against disinformation.",
			Hashtags:  []string{"#SolidarityWithKazakhstan", "#LoveIsNotPropaganda"},
			StartTime: timestamppb.New(now),
			EndTime:   timestamppb.New(now.AddDate(0, 3, 0)),
		},
	})
	if err != nil {
		return fmt.Errorf("demo campaign: %w", err)
	}

	saturday := nextSaturday(now)
	for _, e := range embassies {
		loc, err := time.LoadLocation(e.tz)
		if err != nil {
			return err
		}
		day := saturday.AddDate(0, 0, 7*e.weekOffset)
		start := time.Date(day.Year(), day.Month(), day.Day(), 14, 0, 0, 0, loc)
		_, err = events.CreateEvent(ctx, &rallyv1.CreateEventRequest{
			EventId: e.id,
			Event: &rallyv1.Event{
				Campaign:    c.GetName(),
				Title:       fmt.Sprintf("[DEMO] Solidarity vigil in front of the %s of Kazakhstan, %s", missionName(e.kind), e.city),
				Description: "DEMO DATA. A peaceful vigil with rainbow flags and candles. Bring a sign; no party symbols.",
				Venue: &rallyv1.Venue{
					Kind:               e.kind,
					RepresentedCountry: "KZ",
					AddressLines:       []string{"In front of the " + missionName(e.kind) + " of the Republic of Kazakhstan"},
					Locality:           e.city,
					Country:            e.country,
				},
				StartTime:              timestamppb.New(start),
				EndTime:                timestamppb.New(start.Add(2 * time.Hour)),
				TimeZone:               e.tz,
				Capacity:               e.capacity,
				AttendanceVisibility:   e.visibility,
				MeetingPoint:           "DEMO: at the corner opposite the entrance; look for the rainbow umbrella.",
				MeetingPointRevealTime: timestamppb.New(start.Add(-3 * time.Hour)),
			},
		})
		if err != nil {
			return fmt.Errorf("demo event %s: %w", e.id, err)
		}
	}
	return nil
}

func missionName(k rallyv1.VenueKind) string {
	if k == rallyv1.VenueKind_VENUE_KIND_CONSULATE {
		return "Consulate General"
	}
	return "Embassy"
}

// nextSaturday returns the first Saturday at least two days away, at midnight UTC.
func nextSaturday(now time.Time) time.Time {
	d := now.UTC().AddDate(0, 0, 2)
	for d.Weekday() != time.Saturday {
		d = d.AddDate(0, 0, 1)
	}
	return time.Date(d.Year(), d.Month(), d.Day(), 0, 0, 0, 0, time.UTC)
}
