package main

import (
	"flag"
	"slices"
	"strconv"
	"strings"
	"time"

	"google.golang.org/protobuf/types/known/fieldmaskpb"
	"google.golang.org/protobuf/types/known/timestamppb"
)

// resourceName accepts an ID or a full name of the collection: "vigil" and
// "events/vigil" both give "events/vigil", and "me" gives "organisers/me".
func resourceName(collection, arg string) (string, error) {
	if id, ok := strings.CutPrefix(arg, collection+"/"); ok && id != "" && !strings.Contains(id, "/") {
		return arg, nil
	}
	if arg == "" || strings.Contains(arg, "/") {
		return "", usagef("%q is not the name of one of the %s: give its ID or %s/ID", arg, collection, collection)
	}
	return collection + "/" + arg, nil
}

// optionalName is resourceName for a flag that may be left out: "" stays "".
func optionalName(collection, arg string) (string, error) {
	if arg == "" {
		return "", nil
	}
	return resourceName(collection, arg)
}

// tokenName accepts a token's ID or its full name organisers/{o}/apiTokens/{t}; an ID
// belongs to the organiser given (organisers/me by default).
func tokenName(arg, organiser string) (string, error) {
	if strings.Contains(arg, "/apiTokens/") {
		return arg, nil // the server checks the rest of its shape
	}
	if arg == "" || strings.Contains(arg, "/") {
		return "", usagef("%q is not a token: give its ID or organisers/ID/apiTokens/ID (see rally tokens list)", arg)
	}
	return organiser + "/apiTokens/" + arg, nil
}

// localLayouts are the wall-clock forms a person may type, read in a time zone.
var localLayouts = []string{"2006-01-02 15:04", "2006-01-02T15:04", "2006-01-02 15:04:05", "2006-01-02T15:04:05", "2006-01-02"}

// parseTime reads the value of a time flag: RFC 3339, or a wall-clock time such as
// "2030-05-17 18:00" in loc. An empty value gives nil, which clears the field on an
// update. loc nil means wall-clock times are refused, because the zone is unknown.
func parseTime(flagName, value string, loc *time.Location) (*timestamppb.Timestamp, error) {
	if value == "" {
		return nil, nil
	}
	if t, err := time.Parse(time.RFC3339, value); err == nil {
		return timestamppb.New(t), nil
	}
	for _, layout := range localLayouts {
		if _, err := time.Parse(layout, value); err != nil {
			continue
		}
		if loc == nil {
			return nil, usagef("--%s %q: a time without a UTC offset needs --tz, such as --tz Europe/Berlin", flagName, value)
		}
		t, _ := time.ParseInLocation(layout, value, loc)
		return timestamppb.New(t), nil
	}
	return nil, usagef("--%s %q: want RFC 3339 (2030-05-17T18:00:00+02:00) or \"2030-05-17 18:00\"", flagName, value)
}

// loadZone reads the value of --tz: an IANA time zone such as Europe/Berlin.
func loadZone(name string) (*time.Location, error) {
	if name == "" {
		return nil, nil
	}
	loc, err := time.LoadLocation(name)
	if err != nil {
		return nil, usagef("--tz %q: not an IANA time zone such as Europe/Berlin", name)
	}
	return loc, nil
}

// parseDuration is time.ParseDuration that also takes whole days, such as 30d.
func parseDuration(value string) (time.Duration, error) {
	if days, ok := strings.CutSuffix(value, "d"); ok {
		n, err := strconv.Atoi(days)
		if err != nil {
			return 0, err
		}
		return time.Duration(n) * 24 * time.Hour, nil
	}
	return time.ParseDuration(value)
}

// parseExpiry reads --expires: a duration from now (720h, 30d) or an RFC 3339 time.
func parseExpiry(value string, now time.Time) (*timestamppb.Timestamp, error) {
	if value == "" {
		return nil, nil
	}
	if d, err := parseDuration(value); err == nil {
		return timestamppb.New(now.Add(d)), nil
	}
	if t, err := time.Parse(time.RFC3339, value); err == nil {
		return timestamppb.New(t), nil
	}
	return nil, usagef("--expires %q: want a duration such as 720h or 30d, or an RFC 3339 time", value)
}

// parseEnum reads a flag whose values are the lower-case keys of choices.
func parseEnum[T any](flagName, value string, choices map[string]T) (T, error) {
	v, ok := choices[strings.ToLower(value)]
	if !ok {
		keys := make([]string, 0, len(choices))
		for k := range choices {
			keys = append(keys, k)
		}
		slices.Sort(keys)
		return v, usagef("--%s %q: want one of %s", flagName, value, strings.Join(keys, ", "))
	}
	return v, nil
}

// int32Flag checks that an int flag's value fits the int32 field it sets.
func int32Flag(flagName string, value int) (int32, error) {
	if int(int32(value)) != value {
		return 0, usagef("--%s %d: too large", flagName, value)
	}
	return int32(value), nil
}

// listFlag is a flag that may be given several times, such as --hashtag.
type listFlag []string

func (l *listFlag) String() string { return strings.Join(*l, ", ") }

func (l *listFlag) Set(v string) error {
	*l = append(*l, v)
	return nil
}

// given returns the names of the flags set on the command line.
func given(fs *flag.FlagSet) map[string]bool {
	set := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { set[f.Name] = true })
	return set
}

// updateMask returns the field paths of the flags given, in the order of fields: only
// they go into an update, so that a flag left out leaves its field alone. Giving none is
// a usage error.
func updateMask(fields []maskField, set map[string]bool) (*fieldmaskpb.FieldMask, error) {
	var paths, names []string
	for _, f := range fields {
		names = append(names, "--"+f.flag)
		if set[f.flag] && !slices.Contains(paths, f.path) {
			paths = append(paths, f.path)
		}
	}
	if len(paths) == 0 {
		return nil, usagef("nothing to change: give one or more of %s", strings.Join(names, ", "))
	}
	return &fieldmaskpb.FieldMask{Paths: paths}, nil
}

// maskField ties a flag to the field path it changes.
type maskField struct{ flag, path string }

// listFlags are the flags of a list command.
type listFlags struct{ limit, pageSize int }

func (f *listFlags) register(fs *flag.FlagSet) {
	fs.IntVar(&f.limit, "limit", 0, "show at most `N`; all when 0")
	fs.IntVar(&f.pageSize, "page-size", 100, "how many (`N`) to fetch per request, 1 to 1000 (smaller pages suit slow connections)")
}

// collect follows page tokens until the list ends or --limit items are in. The page size
// stays the same on every page, as AIP asks of everything but the page token.
func collect[T any](f listFlags, page func(size int32, token string) ([]T, string, error)) ([]T, error) {
	if f.pageSize < 1 || f.pageSize > 1000 || f.limit < 0 {
		return nil, usagef("--page-size must be 1 to 1000, and --limit 0 or more")
	}
	var all []T
	token := ""
	for {
		items, next, err := page(int32(f.pageSize), token)
		if err != nil {
			return nil, err
		}
		all = append(all, items...)
		if f.limit > 0 && len(all) >= f.limit {
			return all[:f.limit], nil
		}
		if next == "" {
			return all, nil
		}
		token = next
	}
}

// etagFlag adds --etag to a command that changes a resource.
func etagFlag(fs *flag.FlagSet, etag *string) {
	fs.StringVar(etag, "etag", "", "fail (exit 5) instead of overwriting if the resource changed since you read this `etag`")
}
