// Package demo seeds a running rallyd with a clearly labelled example campaign, so that a
// newcomer who runs `make run` has something real to look at. It goes through the public
// gRPC API, exactly like any client, so the demo exercises the real validation and store.
//
// Its texts are read by people who open the web client, not by developers: they say that
// this is an example and that nobody will be there, in plain words, and never how it was
// made (issue 18: no "created by `make run`").
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
			Title: "Example: Solidarity with LGBTI people in Kazakhstan",
			Description: "This is an example campaign, to show how Rally works. It is not a real call to action: " +
				"nobody is organising these vigils, and an RSVP here reaches no one.\n\n" +
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
				Title:       fmt.Sprintf("Example: solidarity vigil in front of the %s of Kazakhstan, %s", missionName(e.kind), e.city),
				Description: "An example event: nobody will be there. It shows what a real one looks like: a peaceful vigil with rainbow flags and candles. Bring a sign; no party symbols.",
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
				MeetingPoint:           "(Example) At the corner opposite the entrance; look for the rainbow umbrella.",
				MeetingPointRevealTime: timestamppb.New(start.Add(-3 * time.Hour)),
			},
		})
		if err != nil {
			return fmt.Errorf("demo event %s: %w", e.id, err)
		}
	}
	return seedTasks(ctx, rallyv1.NewTaskServiceClient(conn), c.GetName(), now)
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

// Sources of the demo tasks: the organisations whose calls to action Rally follows. The
// links are to their pages on Kazakhstan rather than to specific articles, so that demo
// data never puts words in anyone's mouth.
var demoSources = []*rallyv1.Source{
	{Url: "https://www.ilga-europe.org/", Title: "Example: ILGA-Europe on the Kazakh \"LGBT propaganda\" law", Publisher: "ILGA-Europe"},
	{Url: "https://www.hrw.org/europe/central-asia/kazakhstan", Title: "Example: Human Rights Watch: Kazakhstan", Publisher: "Human Rights Watch"},
	{Url: "https://www.amnesty.org/en/location/europe-and-central-asia/central-asia/kazakhstan/", Title: "Example: Amnesty International: Kazakhstan", Publisher: "Amnesty International"},
	{Url: "https://www.ohchr.org/en/countries/kazakhstan", Title: "Example: UN Human Rights Office: Kazakhstan", Publisher: "OHCHR"},
	{Url: "https://edition.cnn.com/", Title: "Example: CNN coverage of the law", Publisher: "CNN"},
}

// seedTasks creates tasks modelled on the real calls to action: share fact-based
// information citing its sources, amplify Kazakh LGBTI voices in the media, show
// solidarity, and come to the embassy actions.
func seedTasks(ctx context.Context, tasks rallyv1.TaskServiceClient, campaign string, now time.Time) error {
	deadline := timestamppb.New(now.AddDate(0, 1, 0))
	for _, t := range []*rallyv1.Task{
		{
			Kind:  rallyv1.TaskKind_TASK_KIND_SHARE_POST,
			Title: "Example: Share the fact-based statement on Kazakhstan's \"LGBT propaganda\" law",
			Instructions: "An example task. Share the statement below on your social media, with a link to at least one of the sources. " +
				"Stick to the facts in the sources; do not add claims of your own.",
			MessageTemplates: []*rallyv1.MessageTemplate{
				{LanguageCode: "en", Text: "Kazakhstan's new law bans \"LGBT propaganda\" in media, education, art and health information. Human rights groups warn it silences LGBTI people. #LoveIsNotPropaganda"},
				{LanguageCode: "ru", Text: "Новый закон Казахстана запрещает «ЛГБТ-пропаганду» в СМИ, образовании, искусстве и медицинской информации. #LoveIsNotPropaganda"},
				{LanguageCode: "kk", Text: "Қазақстанның жаңа заңы ЛГБТ адамдардың дауысын өшіреді. #LoveIsNotPropaganda"},
				{LanguageCode: "de", Text: "Kasachstans neues Gesetz verbietet \"LGBT-Propaganda\" in Medien, Bildung, Kunst und Gesundheitsinformation. #LoveIsNotPropaganda"},
			},
			Sources:           demoSources,
			TargetCompletions: 500,
		},
		{
			Kind:  rallyv1.TaskKind_TASK_KIND_CONTACT_MEDIA,
			Title: "Example: Pitch your local newspaper to amplify Kazakh LGBTI voices",
			Instructions: "An example task. Write to the letters or opinion editor of a local paper. Ask them to give space to Kazakh " +
				"LGBTI people and activists, in their own words; point them to the sources for the facts.",
			MessageTemplates: []*rallyv1.MessageTemplate{
				{LanguageCode: "en", Text: "Dear editor, since Kazakhstan banned \"LGBT propaganda\", LGBTI people there risk being silenced. Would you publish their voices?"},
			},
			Sources:             demoSources[:3],
			TargetCompletions:   50,
			MaxConcurrentClaims: 20,
		},
		{
			Kind:         rallyv1.TaskKind_TASK_KIND_SOLIDARITY_MESSAGE,
			Title:        "Example: Write a solidarity message to LGBTI people in Kazakhstan",
			Instructions: "An example task. A few warm sentences; no names or photos of people in Kazakhstan, for their safety.",
			MessageTemplates: []*rallyv1.MessageTemplate{
				{LanguageCode: "en", Text: "You are not alone. We see you, and we stand with you."},
				{LanguageCode: "ru", Text: "Вы не одни. Мы с вами."},
			},
			TargetCompletions: 1000,
		},
		{
			Kind:                rallyv1.TaskKind_TASK_KIND_OTHER,
			Event:               "events/demo-berlin",
			Title:               "Example: Bring a friend to the vigil at the embassy in Berlin",
			Instructions:        "An example task. Invite one friend, RSVP together (as guests), and come.",
			TargetCompletions:   100,
			MaxConcurrentClaims: 100,
		},
	} {
		t.Campaign, t.Deadline = campaign, deadline
		if _, err := tasks.CreateTask(ctx, &rallyv1.CreateTaskRequest{Task: t}); err != nil {
			return fmt.Errorf("demo task %q: %w", t.GetTitle(), err)
		}
	}
	return nil
}
