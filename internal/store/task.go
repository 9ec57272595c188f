package store

import (
	"context"
	"errors"
	"time"

	rallyv1 "github.com/rallyhq/rally/gen/go/rally/v1"
)

// Tasks are stored with their claims (in Redis under the task's hash tag {tk:<id>}),
// because a claim must be decided against the task's limit and the other open claims
// atomically: never more open claims than max_concurrent_claims.
//
// A claim expires at its expire_time: from then on it no longer counts as claimed and
// frees its place. Backends apply expiry lazily, with the caller's clock (now), before
// every claim write and when they compute progress, so no timer is needed and tests
// control time.

// Errors of task and claim writes.
var (
	// ErrTaskClosed: the task is closed or past its deadline; it takes no claims.
	ErrTaskClosed = errors.New("the task is closed")
	// ErrClaimNotOpen: the claim was released or has expired; it cannot be completed.
	ErrClaimNotOpen = errors.New("the claim is no longer open")
)

// NewClaim is a claim to create.
type NewClaim struct {
	// Claim has its name (tasks/{t}/claims/{id}), display_name and create_time set; the
	// store sets state and expire_time (now + the task's claim TTL).
	Claim *rallyv1.Claim
	// TokenHash is the SHA-256 of the claim token.
	TokenHash []byte
	// RequestKey and SealedToken make retries idempotent, as for RSVPs.
	RequestKey  string
	SealedToken []byte
}

// Completion is what a claim is completed with: the proof URL and the note in plain
// (when the campaign has no keys), or sealed in Envelope; all optional.
type Completion struct {
	ProofURL, Note string
	Envelope       *rallyv1.Envelope
}

// CreatedClaim is the outcome of ClaimTask.
type CreatedClaim struct {
	Claim       *rallyv1.Claim
	Replayed    bool
	SealedToken []byte
}

// TaskQuery selects a page of tasks, ordered by deadline then ID. Empty fields do not
// filter.
type TaskQuery struct {
	Campaign     string            // campaigns/{id}
	Event        string            // events/{id}
	Kind         rallyv1.TaskKind  // unspecified: all
	LanguageCode string            // tasks with a template in this language
	State        rallyv1.TaskState // OPEN: open and before the deadline; CLOSED: stored closed or past it
	OpenOnly     bool              // the same as State OPEN
	Now          time.Time         // the clock that decides deadlines
	PageSize     int
	PageToken    string
}

// TaskStore is the part of Store that keeps tasks and claims. Tasks returned carry their
// progress (open claims, completions) as of now.
type TaskStore interface {
	// CreateTask stores a new task whose name is set. ErrAlreadyExists if taken.
	CreateTask(ctx context.Context, t *rallyv1.Task) error
	// GetTask returns a task with its progress at now.
	GetTask(ctx context.Context, name string, now time.Time) (*rallyv1.Task, error)
	// ListTasks returns a page of the tasks matching q, with their progress at q.Now.
	// A State CLOSED list may have short pages (see TaskQuery.Range).
	ListTasks(ctx context.Context, q TaskQuery) (Page[*rallyv1.Task], error)
	// UpdateTask changes a task through mutate (see the Store type comment). The task
	// passed to mutate and returned carries its progress as of the last claim write
	// (claims that expired since still count as claimed: the call has no clock); call
	// GetTask for the progress at a given time. Progress set by mutate is not stored.
	UpdateTask(ctx context.Context, name string, mutate func(*rallyv1.Task) error) (*rallyv1.Task, error)

	// ClaimTask takes a place on the task: ErrTaskClosed if it is closed or past its
	// deadline at now, ErrNoRoom if max_concurrent_claims claims are open. A RequestKey
	// seen before replays the first claim.
	ClaimTask(ctx context.Context, task string, n NewClaim, now time.Time) (CreatedClaim, error)
	// GetClaim returns a claim (EXPIRED if its time has passed at now) and its token hash.
	GetClaim(ctx context.Context, name string, now time.Time) (*rallyv1.Claim, []byte, error)
	// CompleteClaim completes an open claim with an optional proof URL and note.
	// Completing a completed claim returns it unchanged (counted once); a released or
	// expired claim: ErrClaimNotOpen.
	CompleteClaim(ctx context.Context, name string, done Completion, now time.Time) (*rallyv1.Claim, error)
	// ReleaseClaim gives an open claim's place back. Releasing twice returns it unchanged;
	// a completed or expired claim: ErrClaimNotOpen.
	ReleaseClaim(ctx context.Context, name string, now time.Time) (*rallyv1.Claim, error)
	// ListClaims returns a page of a task's claims in the order they were made.
	ListClaims(ctx context.Context, task string, pageSize int, pageToken string, now time.Time) (Page[*rallyv1.Claim], error)
}
