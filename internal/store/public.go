package store

import "context"

// PublicViewStore remembers what the public was last shown of each event's attendance, so
// that the replicas together publish a public attendance change only when that view
// changes (an APPROXIMATE event's bucket, an EXACT event's counts), never once per RSVP:
// a public watcher must not be able to count or time RSVPs (see server's publish.go).
type PublicViewStore interface {
	// SwapPublicView records view as the event's last published public attendance view and
	// returns the one recorded before ("" if none). It is atomic: of replicas swapping the
	// same new view, exactly one sees an old view that differs.
	SwapPublicView(ctx context.Context, event, view string) (old string, err error)
}
