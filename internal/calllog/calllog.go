// Package calllog writes the log line of each finished gRPC call, and holds the redaction
// that every Rally log line goes through, so that the logs serve operators without
// becoming a record of the people who use Rally:
//
//   - No client address, at any level: the logging interceptor's peer.address is
//     dropped, and error texts lose any address (RedactAddrs).
//   - No participant's resource name (an RSVP, events/…/rsvps/…, or a task claim,
//     tasks/…/claims/…) and nothing shaped like a token: error texts are cut to
//     events/abc/rsvps/… (Redact). A name with its time in a log line would be a timeline
//     of who acted when that outlives the data's retention. The client's own response
//     keeps its full message; only the log line is cut.
//   - Refusals do not flood: calls that fail for the client's reasons (Refusal) are logged
//     at most Burst times per Every for each method and code, then once as a summary
//     ("N more refused calls suppressed"). A flood of over-limit reads, bad tokens or
//     denied calls costs a few lines a minute instead of one per call, which would both
//     fill the disk and record the traffic. Metrics count every call by method and code
//     (grpc_server_handled_total), so nothing is lost for monitoring.
//   - Server faults (Internal, Unknown, DataLoss) are logged one by one: each is a bug
//     or a broken store that an operator must see.
package calllog

import (
	"context"
	"fmt"
	"log/slog"
	"regexp"
	"strings"
	"time"

	"github.com/grpc-ecosystem/go-grpc-middleware/v2/interceptors/logging"
	"google.golang.org/grpc/codes"
)

// The sampling of refusals: at most Burst lines per Every for each method and code.
const (
	Burst = 5
	Every = time.Minute
)

// SuppressedMsg is the message of the summary line of a sampled method and code.
const SuppressedMsg = "more refused calls suppressed"

// Refusal reports whether a call that ended with code failed for the client's reasons
// (or is a symptom, such as an outage, that is logged elsewhere), so that its lines are
// sampled. Server faults are not refusals: Internal, Unknown and DataLoss each mean a bug
// or a damaged store, and are logged every time.
//
// Unavailable is sampled although the client is not to blame: it is what every call gets
// while the store is unreachable, which readiness ("the store does not answer") and the
// rate limiter's fallback already log once per transition or per 10 seconds; a line per
// failed call during an outage would be the flood this package prevents. DeadlineExceeded
// and Canceled are the client's deadline or departure; metrics have the rate of each.
func Refusal(code codes.Code) bool {
	switch code {
	case codes.OK, codes.Internal, codes.Unknown, codes.DataLoss:
		return false
	}
	return true
}

// Logger is the logging interceptor's logger (go-grpc-middleware's logging.Logger): it
// cleans every call's fields and samples the lines of refused calls.
type Logger struct {
	log     *slog.Logger
	sampler *Sampler
}

// New returns the logger of finished calls, writing to log.
func New(log *slog.Logger) *Logger {
	return &Logger{log: log, sampler: NewSampler(log, Burst, Every, SuppressedMsg)}
}

// Log implements logging.Logger.
func (l *Logger) Log(ctx context.Context, lvl logging.Level, msg string, fields ...any) {
	level := slog.Level(lvl)
	if !l.log.Enabled(ctx, level) {
		return
	}
	fields, service, method, code := clean(fields)
	if code != "" && codeRefused(code) {
		// One key per method and code: the service and method are the server's own
		// names (unknown methods never reach interceptors), so the keys are bounded.
		if !l.sampler.Allow(service+"/"+method+" "+code, level,
			logging.ServiceFieldKey, service, logging.MethodFieldKey, method, "grpc.code", code) {
			return
		}
	}
	l.log.Log(ctx, level, msg, fields...)
}

// codeRefused is Refusal for a code's name, as the logging interceptor writes it.
func codeRefused(name string) bool {
	for c := codes.OK; c <= codes.Unauthenticated; c++ {
		if c.String() == name {
			return Refusal(c)
		}
	}
	return false // a code unknown to this build: log it, as a fault would be
}

// clean drops the client's address from a call's fields and redacts its error text; it
// returns the service, method and code names for sampling.
func clean(fields []any) (out []any, service, method, code string) {
	out = make([]any, 0, len(fields))
	for i := 0; i+1 < len(fields); i += 2 {
		k, _ := fields[i].(string)
		v := fields[i+1]
		switch k {
		case "peer.address":
			// Personal data; the interceptor adds it unconditionally
			// (WithDisableLoggingFields does not cover it).
			continue
		case "grpc.error":
			v = RedactAddrs(Redact(fmt.Sprint(v)))
		case logging.ServiceFieldKey:
			service, _ = v.(string)
		case logging.MethodFieldKey:
			method, _ = v.(string)
		case "grpc.code":
			code, _ = v.(string)
		}
		out = append(out, k, v)
	}
	return out, service, method, code
}

// participantName matches the last segments of an RSVP's or a claim's resource name
// (events/{event}/rsvps/{rsvp}, tasks/{task}/claims/{claim}): the collection and the ID,
// up to whatever ends a name in a message.
var participantName = regexp.MustCompile(`\b(rsvps|claims)/[^/\s"'` + "`" + `,;:()\[\]{}<>]+`)

// tokenPattern matches Rally's bearer tokens (rly_org_…, rly_rsvp_…), should any error text
// ever quote one.
var tokenPattern = regexp.MustCompile(`(?i)\brly_[a-z]+_[A-Za-z0-9_-]+`)

// Redact cuts participants' resource names to their collection (events/abc/rsvps/…) and
// tokens to their kind's prefix, in a text bound for the logs.
func Redact(s string) string {
	if !strings.Contains(s, "rsvps/") && !strings.Contains(s, "claims/") && !strings.Contains(strings.ToLower(s), "rly_") {
		return s // the common case, without a regexp
	}
	s = participantName.ReplaceAllString(s, "$1/…")
	return tokenPattern.ReplaceAllStringFunc(s, func(t string) string {
		return t[:strings.Index(t[4:], "_")+5] + "…"
	})
}

// addrPattern matches IPv4 and IPv6 addresses, with a port, prefix length or zone where
// one follows: bracketed ([2001:db8::1]:443), with an IPv4 inside (::ffff:192.0.2.1), in
// full (eight groups), compressed (2001:db8::1, ::1), and dotted quads (192.0.2.1:443).
// The alternatives are tried in that order, longest forms first, so that no part of an
// address is left behind. It errs towards matching too much, which in a log line costs
// nothing; a clock time such as 12:30:45 has neither "::" nor eight groups, so it stays.
var addrPattern = regexp.MustCompile(`\[[0-9A-Fa-f:.]+(?:%[\w.-]+)?\](?::\d+)?` +
	`|(?:[0-9A-Fa-f]{0,4}:){2,6}\d{1,3}(?:\.\d{1,3}){3}(?:%[\w.-]+)?(?:/\d{1,3})?` +
	`|\b[0-9A-Fa-f]{1,4}(?::[0-9A-Fa-f]{1,4}){7}(?:%[\w.-]+)?(?:/\d{1,3})?` +
	`|(?:\b[0-9A-Fa-f]{1,4}(?::[0-9A-Fa-f]{1,4})*)?::(?:[0-9A-Fa-f]{1,4}(?::[0-9A-Fa-f]{1,4})*)?(?:%[\w.-]+)?(?:/\d{1,3})?` +
	`|\b\d{1,3}(?:\.\d{1,3}){3}(?::\d+|/\d{1,2})?`)

// RedactAddrs replaces every IP address (and its port) in s by <address>: for texts that
// may name a client, such as network errors.
func RedactAddrs(s string) string {
	return addrPattern.ReplaceAllString(s, "<address>")
}
