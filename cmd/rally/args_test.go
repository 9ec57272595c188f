package main

import (
	"flag"
	"slices"
	"testing"
	"time"
)

func TestResourceName(t *testing.T) {
	for _, tc := range []struct{ collection, arg, want string }{
		{"events", "vigil", "events/vigil"},
		{"events", "events/vigil", "events/vigil"},
		{"organisers", "me", "organisers/me"},
		{"events", "campaigns/x", ""},
		{"events", "events/", ""},
		{"events", "", ""},
	} {
		got, err := resourceName(tc.collection, tc.arg)
		if got != tc.want || (err != nil) != (tc.want == "") {
			t.Errorf("resourceName(%q, %q) = %q, %v; want %q", tc.collection, tc.arg, got, err, tc.want)
		}
	}
	if got, _ := tokenName("abc", "organisers/me"); got != "organisers/me/apiTokens/abc" {
		t.Errorf("tokenName of an ID: %q", got)
	}
	for arg, ok := range map[string]bool{
		"events/vigil/rsvps/abc": true, "abc": false, "events/vigil": false, "events//rsvps/abc": false,
		"events/vigil/rsvps/": false, "events/vigil/tokens/abc": false, "events/vigil/rsvps/abc/x": false,
		"tasks/share/claims/abc": false,
	} {
		if _, err := heldName(rsvpHolding, arg); (err == nil) != ok {
			t.Errorf("heldName(rsvpHolding, %q): %v", arg, err)
		}
	}
	for arg, ok := range map[string]bool{
		"tasks/share/claims/abc": true, "abc": false, "tasks/share": false, "events/vigil/rsvps/abc": false,
	} {
		if _, err := heldName(claimHolding, arg); (err == nil) != ok {
			t.Errorf("heldName(claimHolding, %q): %v", arg, err)
		}
	}
}

func TestParseTime(t *testing.T) {
	berlin, err := time.LoadLocation("Europe/Berlin")
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		value string
		loc   *time.Location
		want  string // RFC 3339 in UTC; "" for an error
	}{
		{"2030-05-17T18:00:00+02:00", nil, "2030-05-17T16:00:00Z"},
		{"2030-05-17 18:00", berlin, "2030-05-17T16:00:00Z"},
		{"2030-01-17T18:00", berlin, "2030-01-17T17:00:00Z"}, // winter time
		{"2030-05-17", berlin, "2030-05-16T22:00:00Z"},
		{"2030-05-17 18:00", nil, ""}, // no zone to read it in
		{"tomorrow", berlin, ""},
	} {
		ts, err := parseTime("start", tc.value, tc.loc)
		got := ""
		if err == nil {
			got = ts.AsTime().Format(time.RFC3339)
		}
		if got != tc.want {
			t.Errorf("parseTime(%q) = %q, %v; want %q", tc.value, got, err, tc.want)
		}
	}
}

func TestParseExpiry(t *testing.T) {
	now := time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)
	for value, want := range map[string]string{
		"720h":                 "2030-01-31T00:00:00Z",
		"30d":                  "2030-01-31T00:00:00Z",
		"2030-06-01T00:00:00Z": "2030-06-01T00:00:00Z",
		"soon":                 "",
	} {
		ts, err := parseExpiry(value, now)
		got := ""
		if err == nil {
			got = ts.AsTime().Format(time.RFC3339)
		}
		if got != want {
			t.Errorf("parseExpiry(%q) = %q, %v; want %q", value, got, err, want)
		}
	}
}

func TestParseInterspersed(t *testing.T) {
	fs := flag.NewFlagSet("t", flag.ContinueOnError)
	capacity := fs.Int("capacity", 0, "")
	json := fs.Bool("json", false, "")
	args, err := parseInterspersed(fs, []string{"vigil", "--capacity", "200", "extra", "--json", "--", "--not-a-flag"})
	if err != nil || *capacity != 200 || !*json || !slices.Equal(args, []string{"vigil", "extra", "--not-a-flag"}) {
		t.Errorf("got %v %v capacity=%d json=%v", args, err, *capacity, *json)
	}
}

func TestIsLoopback(t *testing.T) {
	for server, want := range map[string]bool{
		"localhost:9090": true, "127.0.0.1:9090": true, "[::1]:9090": true, "dns:///localhost:9090": true,
		"rally.example.org:443": false, "10.0.0.1:9090": false,
	} {
		if got := isLoopback(server); got != want {
			t.Errorf("isLoopback(%q) = %v", server, got)
		}
	}
}
