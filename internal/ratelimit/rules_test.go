package ratelimit

import (
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc"
)

func TestParseRules(t *testing.T) {
	r, err := ParseRules(" read=50/s,burst=100 ; /rally.v1.EventService/CreateEvent=10/m,burst=3;rally.v1.CampaignService=off; rally.v1.EventService/CancelEvent=5/10s ;")
	if err != nil {
		t.Fatal(err)
	}
	want := "auth=1/m,burst=10; rally.v1.CampaignService=off; rally.v1.EventService/CancelEvent=5/10s,burst=5; rally.v1.EventService/CreateEvent=10/m,burst=3; " +
		"rally.v1.OrganiserService/CreateApiToken=10/h,burst=5; rally.v1.RsvpService/CreateRsvp=1/m,burst=5; rally.v1.RsvpService/JoinBuddy=20/h,burst=10; rally.v1.RsvpService/PairBuddy=20/h,burst=10; rally.v1.TaskService/ClaimTask=10/h,burst=5; read=50/s,burst=100; write=2/s,burst=20"
	if got := r.String(); got != want {
		t.Errorf("rules:\n got %s\nwant %s", got, want)
	}
	for method, want := range map[string]struct {
		target string
		limit  Limit
	}{
		"/rally.v1.EventService/CreateEvent":    {"rally.v1.EventService/CreateEvent", Limit{10, time.Minute, 3}},
		"/rally.v1.EventService/GetEvent":       {"read", Limit{50, time.Second, 100}},
		"/rally.v1.EventService/WatchEvent":     {"read", Limit{50, time.Second, 100}},
		"/rally.v1.EventService/UpdateEvent":    {"write", Limit{2, time.Second, 20}},
		"/rally.v1.CampaignService/GetCampaign": {"rally.v1.CampaignService", Limit{}},
		// The standard services are reads like any other: a health Watch or a reflection
		// stream costs as much as a watch.
		"/grpc.health.v1.Health/Check":                              {"read", Limit{50, time.Second, 100}},
		"/grpc.health.v1.Health/Watch":                              {"read", Limit{50, time.Second, 100}},
		"/grpc.reflection.v1.ServerReflection/ServerReflectionInfo": {"read", Limit{50, time.Second, 100}},
		"/rally.v1.TaskService/ClaimTask":                           {"rally.v1.TaskService/ClaimTask", Limit{10, time.Hour, 5}},
		// Guessing buddy codes has a budget of its own, apart from the other writes.
		"/rally.v1.RsvpService/JoinBuddy": {"rally.v1.RsvpService/JoinBuddy", Limit{20, time.Hour, 10}},
		"/rally.v1.RsvpService/PairBuddy": {"rally.v1.RsvpService/PairBuddy", Limit{20, time.Hour, 10}},
	} {
		target, limit := r.For(method)
		if target != want.target || limit != want.limit {
			t.Errorf("For(%s) = %s %v, want %s %v", method, target, limit, want.target, want.limit)
		}
	}
}

func TestParseRulesDefaults(t *testing.T) {
	r, err := ParseRules("")
	if err != nil {
		t.Fatal(err)
	}
	if r.String() != "auth=1/m,burst=10; rally.v1.OrganiserService/CreateApiToken=10/h,burst=5; rally.v1.RsvpService/CreateRsvp=1/m,burst=5; "+
		"rally.v1.RsvpService/JoinBuddy=20/h,burst=10; rally.v1.RsvpService/PairBuddy=20/h,burst=10; rally.v1.TaskService/ClaimTask=10/h,burst=5; read=20/s,burst=50; write=2/s,burst=20" {
		t.Errorf("defaults: %s", r)
	}
	if got := r.FailedAuth(); got != (Limit{1, time.Minute, 10}) {
		t.Errorf("FailedAuth() = %v", got)
	}
	off, _ := ParseRules("auth=off")
	if !off.FailedAuth().Unlimited() {
		t.Errorf("auth=off: FailedAuth() = %v", off.FailedAuth())
	}
}

func TestParseRulesErrors(t *testing.T) {
	for in, mention := range map[string]string{
		"read":                       "TARGET=RATE",
		"reads=1/s":                  "the target must be",
		"authn=1/s":                  "the target must be",
		"rally.v1.EventService/=1/s": "the target must be",
		"read=1/s;read=2/s":          "has a rule already",
		"read=0/s":                   "N at least 1",
		"read=ten/s":                 "N at least 1",
		"read=5":                     "N/PERIOD",
		"read=5/fortnight":           "the period",
		"read=5/-1s":                 "the period",
		"read=5/s,burst=0":           "burst=N",
		"read=5/s,bust=3":            "burst=N",
		"read=2000000/s":             "microsecond",
	} {
		_, err := ParseRules(in)
		if err == nil {
			t.Errorf("ParseRules(%q) accepted it", in)
			continue
		}
		if !strings.Contains(err.Error(), mention) {
			t.Errorf("ParseRules(%q): %v; want a mention of %q", in, err, mention)
		}
	}
}

func TestRulesCheck(t *testing.T) {
	services := map[string]grpc.ServiceInfo{
		"rally.v1.EventService": {Methods: []grpc.MethodInfo{{Name: "CreateEvent"}, {Name: "GetEvent"}}},
		// named by DefaultRules
		"rally.v1.RsvpService":      {Methods: []grpc.MethodInfo{{Name: "CreateRsvp"}, {Name: "JoinBuddy"}, {Name: "PairBuddy"}}},
		"rally.v1.TaskService":      {Methods: []grpc.MethodInfo{{Name: "ClaimTask"}}},
		"rally.v1.OrganiserService": {Methods: []grpc.MethodInfo{{Name: "CreateApiToken"}}},
	}
	for in, wantErr := range map[string]string{
		"rally.v1.EventService/CreateEvent=1/s": "",
		"rally.v1.EventService=1/s":             "",
		"rally.v1.EventService/CreatEvent=1/s":  "has no method CreatEvent",
		"rally.v1.EvntService=1/s":              "no service rally.v1.EvntService",
	} {
		r, err := ParseRules(in)
		if err != nil {
			t.Fatal(err)
		}
		err = r.Check(services)
		if (err == nil) != (wantErr == "") || err != nil && !strings.Contains(err.Error(), wantErr) {
			t.Errorf("Check(%s) = %v, want %q", in, err, wantErr)
		}
	}
}
