// Package store defines how Rally persists its resources: the Store interface that every
// backend implements, the errors they return, and the index and page-token encoding that
// the backends share so that they order and paginate identically.
//
// Backends live in subpackages: memory (embedded, the default) and redis (production).
// storetest holds the conformance suite that both must pass.
package store

import (
	"context"
	"errors"
	"fmt"
	"time"

	rallyv1 "github.com/rallyhq/rally/gen/go/rally/v1"
)

// Errors returned by every backend. They are wrapped with the resource name, so test
// them with errors.Is. The server maps them to gRPC codes in one place.
var (
	// ErrNotFound: the named resource does not exist.
	ErrNotFound = errors.New("not found")
	// ErrAlreadyExists: a resource with that name exists already.
	ErrAlreadyExists = errors.New("already exists")
	// ErrInvalidPageToken: the page token is malformed or belongs to another query.
	ErrInvalidPageToken = errors.New("invalid page token")
	// ErrContention: an update lost the race against concurrent writers of the same
	// resource too many times in a row and gave up. Retrying later may succeed.
	ErrContention = errors.New("too much contention")
)

// NotFoundError returns ErrNotFound for the named resource.
func NotFoundError(name string) error { return fmt.Errorf("%w: %s", ErrNotFound, name) }

// AlreadyExistsError returns ErrAlreadyExists for the named resource.
func AlreadyExistsError(name string) error { return fmt.Errorf("%w: %s", ErrAlreadyExists, name) }

// Store persists campaigns, events, organisers and their API tokens, and (RSVPStore,
// TaskStore) RSVPs, tasks and claims.
//
// Resources are passed and returned as their API messages: the protobuf schema is the
// storage schema, which keeps one definition of every field. Backends never return a
// message that the caller could mutate in their own state: they hand out copies.
//
// Update methods read the current resource, pass a copy to mutate, and store the result
// only if nobody changed the resource in between (compared by its etag); on such a race
// they read again and call mutate again, so mutate must depend only on its argument. An
// error from mutate aborts the update and is returned unchanged. mutate is responsible
// for setting the new etag and update_time.
type Store interface {
	// CreateCampaign stores a new campaign whose name is set. ErrAlreadyExists if taken.
	CreateCampaign(ctx context.Context, c *rallyv1.Campaign) error
	// GetCampaign returns the campaign with the given name (`campaigns/{id}`).
	GetCampaign(ctx context.Context, name string) (*rallyv1.Campaign, error)
	// ListCampaigns returns a page of campaigns ordered by create_time, then name.
	ListCampaigns(ctx context.Context, q CampaignQuery) (Page[*rallyv1.Campaign], error)
	// UpdateCampaign changes a campaign through mutate (see the type comment).
	UpdateCampaign(ctx context.Context, name string, mutate func(*rallyv1.Campaign) error) (*rallyv1.Campaign, error)
	// ListInvitedCampaigns returns a page of the campaigns whose invitations include one
	// for q.Organiser, ordered like ListCampaigns. Its cost depends on the page size, not
	// on how many campaigns are stored.
	ListInvitedCampaigns(ctx context.Context, q InvitationQuery) (Page[*rallyv1.Campaign], error)

	// CreateEvent stores a new event whose name is set, at revision 0 (NewEventRevision).
	// ErrAlreadyExists if taken.
	CreateEvent(ctx context.Context, e *rallyv1.Event) error
	// GetEvent returns the event with the given name (`events/{id}`).
	GetEvent(ctx context.Context, name string) (*rallyv1.Event, error)
	// ListEvents returns a page of the events matching q, ordered by start_time, then
	// name. Its cost depends on the page size, not on how many events are stored.
	ListEvents(ctx context.Context, q EventQuery) (Page[*rallyv1.Event], error)
	// UpdateEvent changes an event through mutate (see the type comment), one revision up
	// (ReviseEvent).
	UpdateEvent(ctx context.Context, name string, mutate func(*rallyv1.Event) error) (*rallyv1.Event, error)

	// CreateOrganiser stores a new organiser whose name is set. ErrAlreadyExists if taken.
	CreateOrganiser(ctx context.Context, o *rallyv1.Organiser) error
	// GetOrganiser returns the organiser with the given name (`organisers/{id}`).
	GetOrganiser(ctx context.Context, name string) (*rallyv1.Organiser, error)

	// CreateAPIToken stores a new API token whose name is set. Token IDs are derived from
	// the token's hash and unique across organisers.
	CreateAPIToken(ctx context.Context, t *rallyv1.ApiToken) error
	// GetAPIToken returns a token by name (`organisers/{o}/apiTokens/{id}`) or bare ID:
	// tokens are stored by ID, so that a bearer token is found from its hash alone. The
	// caller checks that the returned name is the one it expects.
	GetAPIToken(ctx context.Context, name string) (*rallyv1.ApiToken, error)
	// ListAPITokens returns a page of an organiser's tokens, newest first, of the first
	// MaxAPITokens (PageNewestFirst).
	ListAPITokens(ctx context.Context, q APITokenQuery) (Page[*rallyv1.ApiToken], error)
	// UpdateAPIToken changes a token through mutate (see the type comment).
	UpdateAPIToken(ctx context.Context, name string, mutate func(*rallyv1.ApiToken) error) (*rallyv1.ApiToken, error)

	// CreateOrganiserKey stores a new organiser key whose name is set
	// (`organisers/{o}/keys/{id}`). Key IDs are unique across organisers:
	// ErrAlreadyExists if the ID is taken by any organiser's key.
	CreateOrganiserKey(ctx context.Context, k *rallyv1.OrganiserKey) error
	// GetOrganiserKey returns a key by name or bare ID: keys are stored by ID, so that an
	// envelope's recipient (a key ID) is found in one read. The caller checks that the
	// returned name is the one it expects.
	GetOrganiserKey(ctx context.Context, name string) (*rallyv1.OrganiserKey, error)
	// ListOrganiserKeys returns a page of an organiser's keys, oldest first.
	ListOrganiserKeys(ctx context.Context, q OrganiserKeyQuery) (Page[*rallyv1.OrganiserKey], error)
	// UpdateOrganiserKey changes a key through mutate (see the type comment).
	UpdateOrganiserKey(ctx context.Context, name string, mutate func(*rallyv1.OrganiserKey) error) (*rallyv1.OrganiserKey, error)

	RSVPStore
	TaskStore
	PublicViewStore

	// Ping reports whether the backend can serve requests, for health checks.
	Ping(ctx context.Context) error
	// Close releases the backend's resources.
	Close() error
}

// Page is one page of a list.
type Page[T any] struct {
	// Items of this page, in order.
	Items []T
	// NextPageToken continues the list; empty on the last page.
	NextPageToken string
}

// OrganiserKeyQuery selects a page of an organiser's keys.
type OrganiserKeyQuery struct {
	Organiser string // organisers/{id}
	PageSize  int    // 1 or more; the server applies defaults and bounds
	PageToken string // from the previous page, or empty
}

// CampaignQuery selects a page of campaigns.
type CampaignQuery struct {
	PageSize  int    // 1 or more; the server applies defaults and bounds
	PageToken string // from the previous page, or empty
}

// EventQuery selects a page of events. Empty fields do not filter.
type EventQuery struct {
	Campaign           string    // campaigns/{id}
	Country            string    // ISO 3166-1 alpha-2
	Locality           string    // compared after NormalizeLocality
	RepresentedCountry string    // ISO 3166-1 alpha-2
	StartAfter         time.Time // inclusive; zero means unbounded
	StartBefore        time.Time // exclusive; zero means unbounded
	ShowCancelled      bool
	PageSize           int    // 1 or more; the server applies defaults and bounds
	PageToken          string // from the previous page, or empty
}
