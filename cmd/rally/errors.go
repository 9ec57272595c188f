package main

import (
	"errors"
	"fmt"
	"strings"

	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

// Exit codes, documented in rally --help and docs/cli.md. A script can tell "fix the
// command" from "log in again" from "it is not there" from "try again later".
const (
	exitOK          = 0
	exitError       = 1
	exitUsage       = 2
	exitDenied      = 3
	exitNotFound    = 4
	exitConflict    = 5
	exitUnavailable = 69 // EX_UNAVAILABLE of sysexits.h
)

// usageError is a mistake in the command line itself.
type usageError struct{ msg string }

func (e usageError) Error() string { return e.msg }

func usagef(format string, a ...any) error { return usageError{msg: fmt.Sprintf(format, a...)} }

func exitCode(code codes.Code) int {
	switch code {
	case codes.InvalidArgument, codes.OutOfRange:
		return exitUsage
	case codes.Unauthenticated, codes.PermissionDenied:
		return exitDenied
	case codes.NotFound:
		return exitNotFound
	case codes.AlreadyExists, codes.Aborted, codes.FailedPrecondition:
		return exitConflict
	case codes.Unavailable, codes.DeadlineExceeded:
		return exitUnavailable
	}
	return exitError
}

// fail prints err for a person at a shell (what went wrong, and what to do about it) and
// returns the exit code. Nothing printed here ever holds a token: the server never
// echoes one, and rally's own messages never include one.
func (c *cli) fail(err error) int {
	var usage usageError
	if errors.As(err, &usage) {
		fmt.Fprintf(c.stderr, "rally: %s\n", usage.msg)
		if c.usageOf != nil {
			fmt.Fprintf(c.stderr, "usage: %s\n(%s --help tells more)\n", c.usageOf.ShortUsage, commandPath(c.usageOf.ShortUsage))
		}
		return exitUsage
	}
	st, ok := status.FromError(err)
	if !ok {
		fmt.Fprintf(c.stderr, "rally: %v\n", err)
		return exitError
	}
	if v := c.violations(st); len(v) > 0 {
		fmt.Fprintln(c.stderr, "rally: invalid request:")
		for _, line := range v {
			fmt.Fprintf(c.stderr, "  %s\n", line)
		}
	} else {
		fmt.Fprintf(c.stderr, "rally: %s\n", st.Message())
	}
	h := c.hint(st.Code())
	if c.extraHint != nil {
		if x := c.extraHint(st); x != "" {
			h = x
		}
	}
	if h != "" {
		fmt.Fprintf(c.stderr, "hint: %s\n", h)
	}
	return exitCode(st.Code())
}

// violations returns the bad fields of an INVALID_ARGUMENT, one line each, naming the
// flag that sets the field where the running command has one.
func (c *cli) violations(st *status.Status) []string {
	var out []string
	for _, d := range st.Details() {
		br, ok := d.(*errdetails.BadRequest)
		if !ok {
			continue
		}
		for _, v := range br.GetFieldViolations() {
			field := v.GetField()
			if f := c.flagFor(field); f != "" {
				field += " (" + f + ")"
			}
			out = append(out, field+": "+v.GetDescription())
		}
	}
	return out
}

// fieldFlags names the flags that may set a field whose flag is not its name in kebab
// case, in the order to try; none for a field no flag sets. An entry for a list of
// messages (sources) names the flag that sets all of each item.
var fieldFlags = map[string][]string{
	"represented_country": {"represents"}, "address_lines": {"address"}, "start_time": {"start"},
	"end_time": {"end"}, "time_zone": {"tz"}, "attendance_visibility": {"visibility"},
	"meeting_point_reveal_time": {"reveal-at"}, "website_uri": {"website"}, "hashtags": {"hashtag"},
	"expire_time": {"expires"}, "event_id": {"id"}, "campaign_id": {"id"}, "organiser_id": {"id"},
	"start_after": {"after"}, "start_before": {"before"}, "show_cancelled": {"cancelled"},
	"parent": {"organiser"}, "display_name": {"display-name", "name"},
	"message_templates": {"template"}, "sources": {"source"}, "language_code": {"language"},
	"target_completions": {"target"}, "max_concurrent_claims": {"max-claims"},
	"open_only": {"open"}, "proof_url": {"proof"},
	"notes": {"safety-notes"}, "buddy_code": {"code"}, "signature": {"key"},
	"name": nil, // an argument: rsvp update's --name sets display_name
}

// flagFor returns the running command's flag that sets a field path such as
// event.venue.address_lines[1], or "" when it has none. The outermost field with an entry
// in fieldFlags decides (task.sources[0].title is --source, not --title); the innermost
// field's name in kebab case serves when none has one.
func (c *cli) flagFor(field string) string {
	parts := strings.Split(field, ".")
	for i, part := range parts {
		part, _, _ = strings.Cut(part, "[")
		names, ok := fieldFlags[part]
		if !ok && i == len(parts)-1 {
			names, ok = []string{strings.ReplaceAll(part, "_", "-")}, true
		}
		if !ok {
			continue
		}
		for _, name := range names {
			if c.flags != nil && c.flags.Lookup(name) != nil && !globalFlags[name] {
				return "--" + name
			}
		}
		return ""
	}
	return ""
}

// violates reports whether st is an INVALID_ARGUMENT with a violation of field or of a
// field within it.
func violates(st *status.Status, field string) bool {
	for _, d := range st.Details() {
		if br, ok := d.(*errdetails.BadRequest); ok {
			for _, v := range br.GetFieldViolations() {
				if f := v.GetField(); f == field || strings.HasPrefix(f, field+".") {
					return true
				}
			}
		}
	}
	return false
}

// commandPath returns "rally events get" of the usage line "rally events get EVENT [flags]".
func commandPath(usage string) string {
	words := strings.Fields(usage)
	n := 0
	for n < len(words) && words[n] != "" && words[n][0] >= 'a' && words[n][0] <= 'z' {
		n++
	}
	return strings.Join(words[:n], " ")
}

func (c *cli) hint(code codes.Code) string {
	t := c.target
	switch code {
	case codes.Unauthenticated:
		switch {
		case t.held != "" && t.tokenFrom == "":
			return fmt.Sprintf("no %s is saved for %s on %s: give it with --token or RALLY_TOKEN", t.holding.token, t.held, t.server)
		case t.tokenFrom == fromLogin:
			return "the saved token is no longer valid (revoked or expired?): run `rally login` with a new one"
		case t.tokenFrom == fromInput:
			return "check that you pasted the whole token; a revoked or expired one needs replacing (rally tokens create)"
		case t.tokenFrom == fromFlag:
			return "check --token or RALLY_TOKEN, which override the saved login, or unset them and run `rally login`"
		case t.savedServer != "":
			return fmt.Sprintf("you are logged in to %s, not to %s: run `rally login --server %s`", t.savedServer, t.server, t.server)
		}
		return "this needs a token: run `rally login`, or set RALLY_TOKEN"
	case codes.NotFound:
		if h := t.holding; t.held != "" {
			return fmt.Sprintf("%s is found only with its own %s, or by an organiser of %s: %s", h.one, h.token, h.organisers, heldTokenHint(t))
		}
	case codes.PermissionDenied:
		return "you are logged in as someone who may not do this (rally organisers get says who): organisers manage their own campaigns, events and tokens; the admin manages organisers"
	case codes.Unavailable:
		h := fmt.Sprintf("is rallyd running at %s? Choose the server with --server or RALLY_SERVER", t.server)
		if !t.secure() {
			h += "; if it uses TLS, add --tls or --tls-ca"
		}
		return h
	case codes.DeadlineExceeded:
		return fmt.Sprintf("rallyd at %s did not answer within %s; is it overloaded? Raise --timeout to wait longer", t.server, c.timeout)
	case codes.ResourceExhausted:
		return "too many requests: wait a moment and try again"
	case codes.AlreadyExists:
		if c.flags != nil && c.flags.Lookup("id") != nil {
			return "choose another --id, or leave it out for a random one"
		}
	case codes.Aborted:
		return "it changed meanwhile: read it again with get, then retry"
	}
	return ""
}

// heldTokenHint says why the token used may not be the RSVP's or claim's.
func heldTokenHint(t target) string {
	h := t.holding
	switch t.tokenFrom {
	case fromSaved:
		return fmt.Sprintf("the token saved for it does not match it (was the %s deleted, say after its %s? %s removes the token)", h.noun, h.parentNoun, h.forgets)
	case fromFlag:
		return fmt.Sprintf("check that --token or RALLY_TOKEN, which override the saved one, is this %s's", h.noun)
	}
	return fmt.Sprintf("no %s is saved for it on %s, and your login does not organise %s: give its token with --token or RALLY_TOKEN", h.token, t.server, h.organisers)
}
