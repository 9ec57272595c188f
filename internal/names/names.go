// Package names parses and builds Rally's resource names, the patterns of the protos'
// google.api.resource annotations, so that their shape is known in one place in Go:
//
//	campaigns/{campaign}          organisers/{organiser}
//	events/{event}                organisers/{organiser}/keys/{key}
//	events/{event}/rsvps/{rsvp}   organisers/{organiser}/apiTokens/{api_token}
//	tasks/{task}                  tasks/{task}/claims/{claim}
//
// Chosen IDs (campaigns, events, tasks, organisers, keys, tokens) are 1 to 63 lowercase
// letters, digits and hyphens, not starting with a hyphen; RSVP and claim IDs are 1 to 64
// lowercase letters and digits (random, or chosen by a client that seals for them). The
// protos' request validation checks the same patterns at the edge; the parsers here
// refuse anything else, so that no name that could break a key layout or a path gets
// further.
package names

import "strings"

// Collections of top-level resources.
const (
	Campaigns  = "campaigns"
	Events     = "events"
	Tasks      = "tasks"
	Organisers = "organisers"
)

// chosen reports whether id is a chosen ID: [a-z0-9][a-z0-9-]{0,62}.
func chosen(id string) bool {
	if id == "" || len(id) > 63 || id[0] == '-' {
		return false
	}
	for i := 0; i < len(id); i++ {
		if c := id[i]; !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '-') {
			return false
		}
	}
	return true
}

// random reports whether id is an RSVP's or a claim's ID: [a-z0-9]{1,64}.
func random(id string) bool {
	if id == "" || len(id) > 64 {
		return false
	}
	for i := 0; i < len(id); i++ {
		if c := id[i]; !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9') {
			return false
		}
	}
	return true
}

// top parses collection/{id} with a chosen ID.
func top(collection, name string) (string, bool) {
	id, ok := strings.CutPrefix(name, collection+"/")
	return id, ok && chosen(id)
}

// child parses collection/{parent}/sub/{id}.
func child(collection, sub, name string, valid func(string) bool) (parent, id string, ok bool) {
	rest, ok := strings.CutPrefix(name, collection+"/")
	if !ok {
		return "", "", false
	}
	parent, id, ok = strings.Cut(rest, "/"+sub+"/")
	return parent, id, ok && chosen(parent) && valid(id)
}

// Campaign returns the ID of a campaign's name, campaigns/{campaign}.
func Campaign(name string) (id string, ok bool) { return top(Campaigns, name) }

// Event returns the ID of an event's name, events/{event}.
func Event(name string) (id string, ok bool) { return top(Events, name) }

// Task returns the ID of a task's name, tasks/{task}.
func Task(name string) (id string, ok bool) { return top(Tasks, name) }

// Organiser returns the ID of an organiser's name, organisers/{organiser}.
func Organiser(name string) (id string, ok bool) { return top(Organisers, name) }

// RSVP returns the IDs of an RSVP's event and of the RSVP, events/{event}/rsvps/{rsvp}.
func RSVP(name string) (event, id string, ok bool) { return child(Events, "rsvps", name, random) }

// Claim returns the IDs of a claim's task and of the claim, tasks/{task}/claims/{claim}.
func Claim(name string) (task, id string, ok bool) { return child(Tasks, "claims", name, random) }

// EventName returns events/{id}.
func EventName(id string) string { return Events + "/" + id }

// TaskName returns tasks/{id}.
func TaskName(id string) string { return Tasks + "/" + id }

// RSVPName returns the name of the RSVP id of event (events/{e}).
func RSVPName(event, id string) string { return event + "/rsvps/" + id }

// ClaimName returns the name of the claim id of task (tasks/{t}).
func ClaimName(task, id string) string { return task + "/claims/" + id }

// EventOfRSVP returns the event, events/{event}, of an RSVP's name; "" for another name.
func EventOfRSVP(name string) string {
	event, _, ok := RSVP(name)
	if !ok {
		return ""
	}
	return EventName(event)
}

// TaskOfClaim returns the task, tasks/{task}, of a claim's name; "" for another name.
func TaskOfClaim(name string) string {
	task, _, ok := Claim(name)
	if !ok {
		return ""
	}
	return TaskName(task)
}

// ID returns the last segment of a resource name: "abc" for "events/abc".
func ID(name string) string { return name[strings.LastIndexByte(name, '/')+1:] }
