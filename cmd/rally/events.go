package main

import (
	"context"
	"flag"
	"fmt"
	"strings"
	"time"

	"github.com/peterbourgon/ff/v3/ffcli"
	"google.golang.org/protobuf/types/known/timestamppb"

	rallyv1 "github.com/rallyhq/rally/gen/go/rally/v1"
)

func (c *cli) eventsCommand() *ffcli.Command {
	return c.group("events", "create, list, show, change, cancel and watch events, and post and read their announcements", "",
		c.createEventCommand(), c.listEventsCommand(), c.getEventCommand(),
		c.updateEventCommand(), c.cancelEventCommand(), c.watchEventCommand(),
		c.announceCommand(), c.announcementsCommand())
}

// eventMask ties each event flag to the field it sets.
var eventMask = []maskField{
	{"title", "title"}, {"description", "description"},
	{"kind", "venue.kind"}, {"represents", "venue.represented_country"},
	{"address", "venue.address_lines"}, {"locality", "venue.locality"}, {"country", "venue.country"},
	{"start", "start_time"}, {"end", "end_time"}, {"duration", "end_time"}, {"tz", "time_zone"},
	{"capacity", "capacity"}, {"visibility", "attendance_visibility"},
	{"meeting-point", "meeting_point"}, {"reveal-at", "meeting_point_reveal_time"},
	{"legal-hotline", "safety.legal_hotline"}, {"emergency-number", "safety.emergency_number"},
	{"legal-observers", "safety.legal_observers"}, {"safety-notes", "safety.notes"},
}

var venueKinds = map[string]rallyv1.VenueKind{
	"embassy":   rallyv1.VenueKind_VENUE_KIND_EMBASSY,
	"consulate": rallyv1.VenueKind_VENUE_KIND_CONSULATE,
	"other":     rallyv1.VenueKind_VENUE_KIND_OTHER,
}

var visibilities = map[string]rallyv1.AttendanceVisibility{
	"exact":       rallyv1.AttendanceVisibility_ATTENDANCE_VISIBILITY_EXACT,
	"approximate": rallyv1.AttendanceVisibility_ATTENDANCE_VISIBILITY_APPROXIMATE,
	"hidden":      rallyv1.AttendanceVisibility_ATTENDANCE_VISIBILITY_HIDDEN,
}

// eventFlags are the flags that describe an event, for create and update alike.
type eventFlags struct {
	title, description, kind, represents, locality, country string
	address                                                 listFlag
	start, end, duration, tz, revealAt                      string
	capacity                                                int
	visibility, meetingPoint                                string
	legalHotline, emergencyNumber, safetyNotes              string
	legalObservers                                          bool
}

func (f *eventFlags) register(fs *flag.FlagSet, defaultKind string) {
	fs.StringVar(&f.title, "title", "", "public `title`, such as \"Vigil at the Embassy of Kazakhstan\"")
	fs.StringVar(&f.description, "description", "", "public description `text`")
	fs.StringVar(&f.kind, "kind", defaultKind, "`kind` of venue: embassy, consulate or other")
	fs.StringVar(&f.represents, "represents", "", "for an embassy or consulate: the state it represents, an ISO `country` code such as KZ")
	fs.Var(&f.address, "address", "street address `line`, without city and country; repeat for more (on update: replaces them all)")
	fs.StringVar(&f.locality, "locality", "", "`city` or town, such as Berlin")
	fs.StringVar(&f.country, "country", "", "ISO `country` code where the event takes place, such as DE")
	fs.StringVar(&f.start, "start", "", "start `time`: RFC 3339, or \"2030-05-17 18:00\" in the event's time zone")
	fs.StringVar(&f.end, "end", "", "end `time`, like --start")
	fs.StringVar(&f.duration, "duration", "", "instead of --end: how long it lasts, a `duration`, such as 2h or 90m")
	fs.StringVar(&f.tz, "tz", "", "the event's IANA time `zone`, such as Europe/Berlin: times are shown in it, and read in it when they have no offset")
	fs.IntVar(&f.capacity, "capacity", 0, "most `N` people who can attend, guests included; 0 for no limit")
	fs.StringVar(&f.visibility, "visibility", "", "what the public sees of the attendance (`visibility`): exact, approximate (the server's default) or hidden")
	fs.StringVar(&f.meetingPoint, "meeting-point", "", "exact meeting `point`, shown only to organisers and to people going, once --reveal-at has passed")
	fs.StringVar(&f.revealAt, "reveal-at", "", "`time` when the meeting point is revealed to people going, like --start; at once when empty")
	// The safety information is public (the event page, its calendar entry and the
	// offline card show it), so the help says so where it is typed.
	fs.StringVar(&f.legalHotline, "legal-hotline", "", "public: the legal support hotline to call when someone is detained, a `phone` number as it should be dialled, such as \"+49 30 1234567\"")
	fs.StringVar(&f.emergencyNumber, "emergency-number", "", "public: the local emergency `number`, such as 112")
	fs.BoolVar(&f.legalObservers, "legal-observers", false, "public: trained legal observers will be present (on update, --legal-observers=false says they will not)")
	fs.StringVar(&f.safetyNotes, "safety-notes", "", "public safety notes, plain `text`: a dispersal plan, where to regroup, what to bring")
}

// event builds the event the flags describe. stored is the event being updated, when it
// had to be read: its time zone reads wall-clock times when --tz is not given, and its
// start anchors --duration when --start is not.
func (f *eventFlags) event(set map[string]bool, stored *rallyv1.Event) (*rallyv1.Event, error) {
	if set["end"] && set["duration"] {
		return nil, usagef("give --end or --duration, not both")
	}
	capacity, err := int32Flag("capacity", f.capacity)
	if err != nil {
		return nil, err
	}
	zoneName := f.tz
	if zoneName == "" {
		zoneName = stored.GetTimeZone()
	}
	loc, err := loadZone(zoneName)
	if err != nil {
		return nil, err
	}
	e := &rallyv1.Event{
		Title: f.title, Description: f.description, TimeZone: f.tz, Capacity: capacity,
		MeetingPoint: f.meetingPoint,
		Venue: &rallyv1.Venue{
			// Country codes are upper case in the API; accept "kz" as well.
			RepresentedCountry: strings.ToUpper(f.represents), Locality: f.locality,
			Country: strings.ToUpper(f.country), AddressLines: nonEmpty(f.address),
		},
	}
	if set["legal-hotline"] || set["emergency-number"] || set["legal-observers"] || set["safety-notes"] {
		e.Safety = &rallyv1.EventSafety{
			LegalHotline: f.legalHotline, EmergencyNumber: f.emergencyNumber,
			LegalObservers: f.legalObservers, Notes: f.safetyNotes,
		}
	}
	if e.StartTime, err = parseTime("start", f.start, loc); err != nil {
		return nil, err
	}
	if e.EndTime, err = parseTime("end", f.end, loc); err != nil {
		return nil, err
	}
	if e.MeetingPointRevealTime, err = parseTime("reveal-at", f.revealAt, loc); err != nil {
		return nil, err
	}
	if f.duration != "" {
		d, err := parseDuration(f.duration)
		if err != nil || d <= 0 {
			return nil, usagef("--duration %q: want a positive duration such as 2h or 90m", f.duration)
		}
		from := e.StartTime
		if from == nil {
			from = stored.GetStartTime()
		}
		if from == nil {
			return nil, usagef("--duration needs --start")
		}
		e.EndTime = timestamppb.New(from.AsTime().Add(d))
	}
	if f.kind != "" {
		if e.Venue.Kind, err = parseEnum("kind", f.kind, venueKinds); err != nil {
			return nil, err
		}
	}
	if f.visibility != "" {
		if e.AttendanceVisibility, err = parseEnum("visibility", f.visibility, visibilities); err != nil {
			return nil, err
		}
	}
	return e, nil
}

// nonEmpty drops empty values, so that a repeated flag given once as ” clears the list.
func nonEmpty(values []string) []string {
	var out []string
	for _, v := range values {
		if v != "" {
			out = append(out, v)
		}
	}
	return out
}

func (c *cli) createEventCommand() *ffcli.Command {
	var f eventFlags
	var campaign, id, requestID string
	return c.leaf(leaf{
		name:  "create",
		usage: "events create --title TITLE --country CC --locality CITY --start TIME (--end TIME | --duration D) --tz ZONE [flags]",
		short: "create an event, in a campaign you organise or on its own",
		long: `Example:
  rally events create --campaign kz-berlin --title "Vigil at the Embassy of Kazakhstan" \
    --represents KZ --locality Berlin --country DE \
    --start "2030-05-17 18:00" --duration 2h --tz Europe/Berlin --capacity 150 \
    --meeting-point "North corner of the square" --reveal-at "2030-05-17 12:00"`,
		flags: func(fs *flag.FlagSet) {
			f.register(fs, "embassy")
			fs.StringVar(&campaign, "campaign", "", "the `campaign` it belongs to (ID or campaigns/ID); none when empty")
			fs.StringVar(&id, "id", "", "`ID` giving events/ID; random (and unguessable: prefer it) when empty")
			fs.StringVar(&requestID, "request-id", "", "idempotency `key`, such as a UUID: running the same command again returns the first event instead of a second one")
		},
		run: func(ctx context.Context, _ []string) error {
			e, err := f.event(given(c.flags), nil)
			if err != nil {
				return err
			}
			if e.Campaign, err = optionalName("campaigns", campaign); err != nil {
				return err
			}
			e, err = c.eventsClient().CreateEvent(withIdempotencyKey(ctx, requestID), &rallyv1.CreateEventRequest{Event: e, EventId: id})
			if err != nil {
				return err
			}
			return c.printFields(e, eventFields(e))
		},
	})
}

func (c *cli) listEventsCommand() *ffcli.Command {
	var list listFlags
	var req rallyv1.ListEventsRequest
	var campaign, after, before, tz string
	return c.leaf(leaf{
		name: "list", usage: "events list [flags]", short: "list events by start time; filters combine",
		flags: func(fs *flag.FlagSet) {
			list.register(fs)
			fs.StringVar(&campaign, "campaign", "", "only events of this `campaign`")
			fs.StringVar(&req.Country, "country", "", "only events in this `country` (ISO code such as DE)")
			fs.StringVar(&req.Locality, "locality", "", "only events in this `city` (ignoring case)")
			fs.StringVar(&req.RepresentedCountry, "represents", "", "only events at embassies or consulates of this `country` (ISO code such as KZ)")
			fs.StringVar(&after, "after", "", "only events starting at or after this `time`")
			fs.StringVar(&before, "before", "", "only events starting before this `time`")
			fs.StringVar(&tz, "tz", "", "time `zone` of --after and --before when they have no offset; this computer's by default")
			fs.BoolVar(&req.ShowCancelled, "cancelled", false, "include cancelled events")
		},
		run: func(ctx context.Context, _ []string) error {
			loc, err := time.Local, error(nil)
			if tz != "" {
				if loc, err = loadZone(tz); err != nil {
					return err
				}
			}
			if req.Campaign, err = optionalName("campaigns", campaign); err != nil {
				return err
			}
			if req.StartAfter, err = parseTime("after", after, loc); err != nil {
				return err
			}
			if req.StartBefore, err = parseTime("before", before, loc); err != nil {
				return err
			}
			req.Country, req.RepresentedCountry = strings.ToUpper(req.Country), strings.ToUpper(req.RepresentedCountry)
			events, err := collect(list, func(size int32, token string) ([]*rallyv1.Event, string, error) {
				req.PageSize, req.PageToken = size, token
				resp, err := c.eventsClient().ListEvents(ctx, &req)
				return resp.GetEvents(), resp.GetNextPageToken(), err
			})
			if err != nil {
				return err
			}
			var rows [][]string
			for _, e := range events {
				rows = append(rows, []string{e.GetName(), timeRange(e.GetStartTime(), e.GetEndTime(), zone(e.GetTimeZone())), place(e.GetVenue()), eventState(e), e.GetTitle()})
			}
			return c.printTable(&rallyv1.ListEventsResponse{Events: events}, []string{"NAME", "WHEN (LOCAL TIME)", "WHERE", "STATE", "TITLE"}, rows)
		},
	})
}

func (c *cli) getEventCommand() *ffcli.Command {
	return c.leaf(leaf{
		name: "get", usage: "events get EVENT", minArgs: 1, maxArgs: 1,
		short: "show an event (its meeting point only to its organisers)",
		run: func(ctx context.Context, args []string) error {
			e, err := c.getEvent(ctx, args[0])
			if err != nil {
				return err
			}
			return c.printFields(e, eventFields(e))
		},
	})
}

func (c *cli) getEvent(ctx context.Context, arg string) (*rallyv1.Event, error) {
	name, err := resourceName("events", arg)
	if err != nil {
		return nil, err
	}
	return c.eventsClient().GetEvent(ctx, &rallyv1.GetEventRequest{Name: name})
}

func (c *cli) updateEventCommand() *ffcli.Command {
	var f eventFlags
	var etag string
	return c.leaf(leaf{
		name: "update", usage: "events update EVENT [flags]", minArgs: 1, maxArgs: 1,
		short: "change an event: only the fields whose flags are given",
		long:  "Example: rally events update vigil-berlin --capacity 200 --start \"2030-05-17 19:00\" --duration 2h",
		flags: func(fs *flag.FlagSet) {
			f.register(fs, "")
			etagFlag(fs, &etag)
		},
		run: func(ctx context.Context, args []string) error {
			name, err := resourceName("events", args[0])
			if err != nil {
				return err
			}
			set := given(c.flags)
			mask, err := updateMask(eventMask, set)
			if err != nil {
				return err
			}
			var stored *rallyv1.Event
			if anyTime := set["start"] || set["end"] || set["reveal-at"] || set["duration"]; (anyTime && f.tz == "") || (set["duration"] && !set["start"]) {
				if stored, err = c.getEvent(ctx, name); err != nil {
					return err
				}
				if etag == "" {
					// The new times were worked out from this read: fail rather than
					// apply them to an event that changed since.
					etag = stored.GetEtag()
				}
			}
			e, err := f.event(set, stored)
			if err != nil {
				return err
			}
			e.Name, e.Etag = name, etag
			e, err = c.eventsClient().UpdateEvent(ctx, &rallyv1.UpdateEventRequest{Event: e, UpdateMask: mask})
			if err != nil {
				return err
			}
			return c.printFields(e, eventFields(e))
		},
	})
}

func (c *cli) cancelEventCommand() *ffcli.Command {
	var reason, etag string
	return c.leaf(leaf{
		name: "cancel", usage: "events cancel EVENT [--reason TEXT]", minArgs: 1, maxArgs: 1,
		short: "call an event off (safe to repeat)",
		flags: func(fs *flag.FlagSet) {
			fs.StringVar(&reason, "reason", "", "why, shown to participants (`text`)")
			etagFlag(fs, &etag)
		},
		run: func(ctx context.Context, args []string) error {
			name, err := resourceName("events", args[0])
			if err != nil {
				return err
			}
			e, err := c.eventsClient().CancelEvent(ctx, &rallyv1.CancelEventRequest{Name: name, Reason: reason, Etag: etag})
			if err != nil {
				return err
			}
			return c.printFields(e, eventFields(e))
		},
	})
}

func eventState(e *rallyv1.Event) string {
	return enumName(e.GetState(), "EVENT_STATE_")
}

// place shows where an event is: "Berlin, DE (embassy of KZ)".
func place(v *rallyv1.Venue) string {
	s := v.GetLocality() + ", " + v.GetCountry()
	if kind := enumName(v.GetKind(), "VENUE_KIND_"); kind != "" && kind != "other" {
		s += " (" + kind + " of " + v.GetRepresentedCountry() + ")"
	}
	return s
}

func eventFields(e *rallyv1.Event) []field {
	loc := zone(e.GetTimeZone())
	state := eventState(e)
	if e.GetCancelReason() != "" {
		state += ": " + e.GetCancelReason()
	}
	capacity := "unlimited"
	if e.GetCapacity() > 0 {
		capacity = fmt.Sprint(e.GetCapacity())
	}
	visibility := enumName(e.GetAttendanceVisibility(), "ATTENDANCE_VISIBILITY_")
	if visibility == "" {
		visibility = "approximate" // what the API does with an unset visibility
	}
	attendance := "shown to the public: " + visibility
	if a := e.GetAttendance(); a != nil {
		attendance = fmt.Sprintf("%d going, %d waitlisted (shown to the public: %s)", a.GetGoing(), a.GetWaitlisted(), visibility)
		// The counts below are the organisers' alone; zero is also what others get.
		if n := a.GetCheckedIn(); n > 0 {
			attendance += fmt.Sprintf("; %d checked in", n)
		}
		if n := a.GetNotCheckedOut(); n > 0 {
			attendance += fmt.Sprintf("; %d checked in and not yet home safe (not checked out): rally rsvps list shows who", n)
		}
	}
	s := e.GetSafety()
	observers := ""
	if s.GetLegalObservers() {
		observers = "yes"
	} else if s.GetLegalHotline() != "" || s.GetEmergencyNumber() != "" || s.GetNotes() != "" {
		observers = "no" // said only where the organisers gave safety information at all
	}
	return []field{
		{"Name", e.GetName()},
		{"Title", e.GetTitle()},
		{"Campaign", e.GetCampaign()},
		{"State", state},
		{"When", timeRange(e.GetStartTime(), e.GetEndTime(), loc)},
		{"Time zone", e.GetTimeZone()},
		{"Where", place(e.GetVenue())},
		{"Address", strings.Join(e.GetVenue().GetAddressLines(), ", ")},
		{"Capacity", capacity},
		{"Attendance", attendance},
		{"Meeting point", e.GetMeetingPoint()},
		{"Revealed from", formatTime(e.GetMeetingPointRevealTime(), loc)},
		{"Legal hotline", s.GetLegalHotline()},
		{"Emergency number", s.GetEmergencyNumber()},
		{"Legal observers", observers},
		{"Safety notes", s.GetNotes()},
		{"Description", e.GetDescription()},
		{"Owner", e.GetOwner()},
		{"Created", formatTime(e.GetCreateTime(), loc)},
		{"Updated", formatTime(e.GetUpdateTime(), loc)},
		{"Etag", e.GetEtag()},
	}
}
