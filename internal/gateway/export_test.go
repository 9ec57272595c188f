package gateway

import "slices"

// WatchRoutes lists the routes served in process, as "method pattern".
func WatchRoutes() []string {
	var out []string
	for _, r := range watchRoutes {
		out = append(out, r.method+" "+r.pattern)
	}
	slices.Sort(out)
	return out
}

// WatchVerb is the suffix every watch route's path ends in.
const WatchVerb = watchVerb
