package ratelimit

import (
	"fmt"
	"maps"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"google.golang.org/grpc"
)

// DefaultRules are the limits that apply unless RALLY_RATE_LIMITS overrides them: reads
// generous (a page view is a few calls, and many people can share one address behind a
// carrier's NAT), writes tighter (a flood of writes is what fills events with fake RSVPs).
// docs/operations.md ("Limits") gives the reasoning behind each figure; in short:
//
//   - auth: failed authentications per client address (a token that is unknown, revoked
//     or expired, or an RSVP or claim token that matches nothing). Ten at once, then one a
//     minute: a person retyping a token or a phone with an expired one stays well
//     inside it, while a guesser gets ten tries and then one a minute, each refused before
//     any lookup (see guard.go).
//   - CreateRsvp: anyone may RSVP without an account, and the flooder of the threat model
//     fills an event with fake RSVPs. Per address (or per organiser account) five at once,
//     then one a minute: a family RSVPs once with its guests, and a shared flat or a group
//     in a café gets five at once and the rest within minutes, while one address takes at
//     most five RSVPs (with MaxGuests each) in a rush.
//   - ClaimTask: a claim holds one of a task's few places for the claim TTL (48 h), so a
//     hoarder gains more per call than a flooder of RSVPs: five at once, like CreateRsvp,
//     then ten an hour.
//   - CreateApiToken: tokens share their account's budgets, so minting them buys nothing;
//     the limit only bounds the tokens kept for an account (a few devices at once, ten an
//     hour).
//   - JoinBuddy: the guesser of buddy codes (issue 17). Every call counts, a refused code
//     as much as an accepted one, since the limit runs before the handler. Ten at once,
//     then twenty an hour per address: a group at the meeting point sharing one phone
//     network pairs up within it, while 60-bit codes that live ten minutes leave a guesser
//     nothing to gain.
//   - PairBuddy: each call replaces the RSVP's code, so it bounds how many codes one
//     address keeps alive; as JoinBuddy.
const DefaultRules = "read=20/s,burst=50; write=2/s,burst=20; auth=1/m,burst=10; " +
	"rally.v1.RsvpService/CreateRsvp=1/m,burst=5; rally.v1.TaskService/ClaimTask=10/h,burst=5; " +
	"rally.v1.OrganiserService/CreateApiToken=10/h,burst=5; " +
	"rally.v1.RsvpService/JoinBuddy=20/h,burst=10; rally.v1.RsvpService/PairBuddy=20/h,burst=10"

// Classes of methods, for rules that do not name a service or method, and the budget of
// failed authentications.
const (
	ClassRead  = "read"  // Get*, List*, Watch*, Search*, BatchGet*, and every method of the standard services
	ClassWrite = "write" // every other Rally method
	// ClassAuth is the budget of failed authentications per client address; it names no
	// method.
	ClassAuth = "auth"
)

// rallyPackage is Rally's own API, whose methods are classed by their verbs. The standard
// services on the port (health checks, reflection) only read, and are counted as reads
// like any other call: a stream of theirs is as costly as a watch.
const rallyPackage = "rally."

// Rules give each method its budget. A rule names a target: a full method
// (rally.v1.EventService/CreateEvent), a service (rally.v1.EventService) or a class
// (read, write). Each rule is one budget per caller, shared by the methods it covers: a
// method uses its own rule if there is one, else its service's, else its class's.
type Rules struct {
	limits map[string]Limit
}

// target is a read/write class, a service or a service/method.
var targetRE = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)+(/[A-Za-z_][A-Za-z0-9_]*)?$`)

// ParseRules reads RALLY_RATE_LIMITS: rules separated by ";", each TARGET=RATE[,burst=N],
// where RATE is N/s, N/m, N/h, N/<Go duration> (such as 5/10s) or off, and burst defaults
// to N. The rules apply on top of DefaultRules, replacing those with the same target.
//
//	read=50/s,burst=100; rally.v1.EventService/CreateEvent=10/m,burst=3; rally.v1.CampaignService=off
func ParseRules(s string) (Rules, error) {
	r, err := parseRules(DefaultRules, Rules{limits: map[string]Limit{}})
	if err != nil {
		panic("ratelimit: DefaultRules: " + err.Error())
	}
	return parseRules(s, r)
}

func parseRules(s string, base Rules) (Rules, error) {
	seen := map[string]bool{}
	for _, entry := range strings.Split(s, ";") {
		entry = strings.TrimSpace(entry)
		if entry == "" {
			continue
		}
		target, spec, ok := strings.Cut(entry, "=")
		target = strings.TrimPrefix(strings.TrimSpace(target), "/")
		if !ok {
			return Rules{}, fmt.Errorf("%q: want TARGET=RATE[,burst=N], such as write=2/s,burst=20", entry)
		}
		if !isClass(target) && !targetRE.MatchString(target) {
			return Rules{}, fmt.Errorf("%q: the target must be read, write, auth, a service such as rally.v1.EventService or a method such as rally.v1.EventService/CreateEvent", entry)
		}
		if seen[target] {
			return Rules{}, fmt.Errorf("%q: %s has a rule already", entry, target)
		}
		seen[target] = true
		limit, err := parseLimit(strings.TrimSpace(spec))
		if err != nil {
			return Rules{}, fmt.Errorf("%q: %w", entry, err)
		}
		base.limits[target] = limit
	}
	return base, nil
}

// parseLimit reads RATE[,burst=N] or off.
func parseLimit(spec string) (Limit, error) {
	if spec == "off" {
		return Limit{}, nil
	}
	rate, opts, _ := strings.Cut(spec, ",")
	n, per, ok := strings.Cut(strings.TrimSpace(rate), "/")
	count, err := strconv.Atoi(n)
	if !ok || err != nil || count < 1 {
		return Limit{}, fmt.Errorf("the rate must be off or N/PERIOD with N at least 1, such as 20/s, 100/m or 5/10s")
	}
	period, err := parsePeriod(per)
	if err != nil {
		return Limit{}, err
	}
	if period/time.Duration(count) < time.Microsecond {
		return Limit{}, fmt.Errorf("%d per %v is more than one call per microsecond; use off for no limit", count, period)
	}
	l := Limit{Rate: count, Period: period, Burst: count}
	if opts = strings.TrimSpace(opts); opts != "" {
		b, ok := strings.CutPrefix(opts, "burst=")
		burst, err := strconv.Atoi(b)
		if !ok || err != nil || burst < 1 {
			return Limit{}, fmt.Errorf("after the rate, want burst=N with N at least 1, got %q", opts)
		}
		l.Burst = burst
	}
	return l, nil
}

func parsePeriod(s string) (time.Duration, error) {
	switch s {
	case "s":
		return time.Second, nil
	case "m":
		return time.Minute, nil
	case "h":
		return time.Hour, nil
	}
	d, err := time.ParseDuration(s)
	if err != nil || d <= 0 {
		return 0, fmt.Errorf("the period %q must be s, m, h or a duration such as 10s", s)
	}
	return d, nil
}

func periodString(d time.Duration) string {
	switch d {
	case time.Second:
		return "s"
	case time.Minute:
		return "m"
	case time.Hour:
		return "h"
	}
	return d.String()
}

// For returns the budget of a method, by its full gRPC name (/rally.v1.EventService/GetEvent):
// the target of the rule that applies, which names the budget, and its limit. An
// unlimited Limit means the call is not counted.
func (r Rules) For(fullMethod string) (target string, limit Limit) {
	m := strings.TrimPrefix(fullMethod, "/")
	service, method, _ := strings.Cut(m, "/")
	for _, t := range []string{m, service} {
		if l, ok := r.limits[t]; ok {
			return t, l
		}
	}
	class := ClassWrite
	if isRead(method) || !strings.HasPrefix(service, rallyPackage) {
		class = ClassRead
	}
	return class, r.limits[class]
}

// FailedAuth is the budget of failed authentications of one client address.
func (r Rules) FailedAuth() Limit { return r.limits[ClassAuth] }

func isClass(target string) bool {
	return target == ClassRead || target == ClassWrite || target == ClassAuth
}

// isRead tells reads from writes by the AIP verbs that begin method names.
func isRead(method string) bool {
	for _, verb := range []string{"Get", "List", "Watch", "Search", "BatchGet"} {
		if strings.HasPrefix(method, verb) {
			return true
		}
	}
	return false
}

// Check reports rules that name a service or method the server does not have: most
// likely a typo, which would otherwise silently leave the intended method at its class's
// limit.
func (r Rules) Check(services map[string]grpc.ServiceInfo) error {
	for _, t := range slices.Sorted(maps.Keys(r.limits)) {
		if isClass(t) {
			continue
		}
		service, method, isMethod := strings.Cut(t, "/")
		info, ok := services[service]
		if !ok {
			return fmt.Errorf("%s: the server has no service %s", t, service)
		}
		if isMethod && !slices.ContainsFunc(info.Methods, func(m grpc.MethodInfo) bool { return m.Name == method }) {
			return fmt.Errorf("%s: %s has no method %s", t, service, method)
		}
	}
	return nil
}

// String lists the rules in the syntax ParseRules reads, sorted by target.
func (r Rules) String() string {
	var parts []string
	for t, l := range r.limits {
		parts = append(parts, t+"="+l.String())
	}
	slices.Sort(parts)
	return strings.Join(parts, "; ")
}
