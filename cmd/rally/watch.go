package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"time"

	"github.com/peterbourgon/ff/v3/ffcli"
	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/encoding/protojson"

	rallyv1 "github.com/rallyhq/rally/gen/go/rally/v1"
)

// watchEventCommand prints an event's changes as they come. It resumes by itself after a
// dropped connection or a server restart, from the cursor of the last change it printed,
// so that a phone-tethered laptop at the embassy misses nothing.
func (c *cli) watchEventCommand() *ffcli.Command {
	var cursor string
	return c.leaf(leaf{
		name: "watch", usage: "events watch EVENT [--cursor C]", minArgs: 1, maxArgs: 1,
		short: "print an event's changes as they happen (Ctrl-C to stop)",
		long:  "With --json, prints one JSON Change a line.",
		flags: func(fs *flag.FlagSet) {
			fs.StringVar(&cursor, "cursor", "", "resume after this `cursor` (printed with --json)")
		},
		run: func(ctx context.Context, args []string) error {
			name, err := resourceName("events", args[0])
			if err != nil {
				return err
			}
			var loc *time.Location
			received := false
			for wait := time.Second; ; {
				stream, err := c.eventsClient().WatchEvent(ctx, &rallyv1.WatchEventRequest{Name: name, Cursor: cursor})
				for err == nil {
					var ch *rallyv1.Change
					if ch, err = stream.Recv(); err == nil {
						if ch.GetEvent().GetTimeZone() != "" {
							loc = zone(ch.GetEvent().GetTimeZone())
						}
						if err = c.printChange(ch, loc); err != nil {
							return err
						}
						cursor, wait, received = ch.GetCursor(), time.Second, true
					}
				}
				switch {
				case ctx.Err() != nil, errors.Is(err, io.EOF):
					return nil
				case status.Code(err) != codes.Unavailable:
					return err
				}
				// The server went away (shutting down, or the network dropped): resume on
				// whichever replica answers, from the last change printed.
				next := shutdownCursor(err)
				if !received && next == "" {
					return err // never connected: a wrong address, not a dropped connection
				}
				if next != "" {
					cursor = next
				}
				fmt.Fprintf(c.stderr, "rally: connection lost (%s); resuming in %v\n", status.Convert(err).Message(), wait)
				select {
				case <-ctx.Done():
					return nil
				case <-time.After(wait):
				}
				wait = min(2*wait, 30*time.Second)
			}
		},
	})
}

// shutdownCursor returns the cursor a shutting-down server handed back, if any.
func shutdownCursor(err error) string {
	for _, d := range status.Convert(err).Details() {
		if info, ok := d.(*errdetails.ErrorInfo); ok {
			return info.GetMetadata()["cursor"]
		}
	}
	return ""
}

// printChange prints one change: a JSON line with --json, else a readable line.
func (c *cli) printChange(ch *rallyv1.Change, loc *time.Location) error {
	if c.json {
		out, err := protojson.Marshal(ch)
		if err != nil {
			return err
		}
		_, err = fmt.Fprintf(c.stdout, "%s\n", out)
		return err
	}
	what := enumName(ch.GetKind(), "CHANGE_KIND_")
	if ch.GetReset_() {
		what += " (reset: some changes could not be replayed)"
	}
	detail := ""
	switch e := ch.GetEvent(); {
	case ch.GetAnnouncement() != nil:
		detail = fmt.Sprintf("%q", ch.GetAnnouncement().GetText())
	case ch.GetRsvp() != nil: // BUDDY, on a stream opened with the RSVP's manage token
		detail = "buddy: " + buddyLine(ch.GetRsvp().GetBuddy())
		if ch.GetRsvp().GetBuddy() == nil {
			detail = "buddy: none any more"
		}
	case e != nil:
		detail = fmt.Sprintf("%s, %s", eventState(e), e.GetTitle())
		if a := e.GetAttendance(); a != nil {
			detail += fmt.Sprintf(", %d going, %d waitlisted", a.GetGoing(), a.GetWaitlisted())
		}
		if e.GetMeetingPoint() != "" {
			detail += ", meeting point: " + e.GetMeetingPoint()
		}
	}
	_, err := fmt.Fprintf(c.stdout, "%s  %-12s %s\n", formatTime(ch.GetChangeTime(), loc), what, detail)
	return err
}
