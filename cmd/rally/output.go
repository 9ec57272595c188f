package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strings"
	"text/tabwriter"
	"time"

	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"
)

// field is one line of a single resource's human output.
type field struct{ label, value string }

// printJSON prints m as the API's JSON, the same as the REST gateway returns.
// protojson varies its whitespace on purpose; json.Indent makes it the same every time,
// so that scripts can diff it.
func (c *cli) printJSON(m proto.Message) error {
	out, err := protojson.Marshal(m)
	if err != nil {
		return err
	}
	var b bytes.Buffer
	if err := json.Indent(&b, out, "", "  "); err != nil {
		return err
	}
	b.WriteByte('\n')
	_, err = b.WriteTo(c.stdout)
	return err
}

// printFields prints one resource: as JSON with --json, else a label and value a line,
// leaving out the empty ones.
func (c *cli) printFields(m proto.Message, fields []field) error {
	if c.json {
		return c.printJSON(m)
	}
	tw := tabwriter.NewWriter(c.stdout, 0, 4, 2, ' ', 0)
	for _, f := range fields {
		if f.value != "" {
			// Multi-line values (descriptions) are indented under their label.
			fmt.Fprintf(tw, "%s:\t%s\n", f.label, strings.ReplaceAll(f.value, "\n", "\n\t"))
		}
	}
	return tw.Flush()
}

// printTable prints a list: as JSON with --json, else a table with a header.
func (c *cli) printTable(m proto.Message, header []string, rows [][]string) error {
	if c.json {
		return c.printJSON(m)
	}
	if len(rows) == 0 {
		_, err := fmt.Fprintln(c.stdout, "(none)")
		return err
	}
	tw := tabwriter.NewWriter(c.stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, strings.Join(header, "\t"))
	for _, r := range rows {
		fmt.Fprintln(tw, strings.Join(r, "\t"))
	}
	return tw.Flush()
}

// note tells the person at the terminal something that is not the command's output (so
// it goes to stderr, and not at all with --json).
func (c *cli) note(format string, a ...any) {
	if !c.json {
		fmt.Fprintf(c.stderr, format+"\n", a...)
	}
}

const timeLayout = "2006-01-02 15:04 MST"

// formatTime shows ts in loc; loc nil means this computer's time zone.
func formatTime(ts *timestamppb.Timestamp, loc *time.Location) string {
	if ts == nil {
		return ""
	}
	if loc == nil {
		loc = time.Local
	}
	return ts.AsTime().In(loc).Format(timeLayout)
}

// zone returns the IANA time zone of an event, or UTC when it is unknown here.
func zone(name string) *time.Location {
	loc, err := time.LoadLocation(name)
	if err != nil {
		return time.UTC
	}
	return loc
}

// timeRange shows an event's start and end in its own time zone, the end without its
// date when it is the same day: "2030-05-17 18:00 to 20:00 CEST".
func timeRange(start, end *timestamppb.Timestamp, loc *time.Location) string {
	if start == nil {
		return ""
	}
	s := start.AsTime().In(loc)
	if end == nil {
		return s.Format(timeLayout)
	}
	e := end.AsTime().In(loc)
	if s.Format("2006-01-02") == e.Format("2006-01-02") {
		return s.Format("2006-01-02 15:04") + " to " + e.Format("15:04 MST")
	}
	return s.Format(timeLayout) + " to " + e.Format(timeLayout)
}

// enumName shows an enum value as a word: VENUE_KIND_EMBASSY as "embassy".
func enumName(v fmt.Stringer, prefix string) string {
	name := strings.TrimPrefix(v.String(), prefix)
	if name == "UNSPECIFIED" {
		return ""
	}
	return strings.ToLower(name)
}
