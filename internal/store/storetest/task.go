package storetest

import (
	"crypto/sha256"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/durationpb"
	"google.golang.org/protobuf/types/known/timestamppb"

	rallyv1 "github.com/rallyhq/rally/gen/go/rally/v1"
	"github.com/rallyhq/rally/internal/store"
)

// taskTests are the task and claim tests of the suite, registered in Run.
var taskTests = []struct {
	name string
	fn   func(t *testing.T, s store.Store)
}{
	{"TaskRoundTrip", testTaskRoundTrip},
	{"TaskListOrder", testTaskListOrder},
	{"TaskListFilters", testTaskListFilters},
	{"TaskListPagination", testTaskListPagination},
	{"TaskListOpenOnlyMovingNow", testTaskListOpenMovingNow},
	{"TaskListClosed", testTaskListClosed},
	{"TaskUpdateMovesIndexEntries", testTaskUpdateMovesIndexEntries},
	{"ClaimLimitUnderConcurrency", testClaimLimitConcurrent},
	{"ClaimExpiry", testClaimExpiry},
	{"ClaimCompleteIdempotent", testClaimComplete},
	{"ClaimRelease", testClaimRelease},
	{"ClaimClosedTask", testClaimClosedTask},
	{"ClaimRequestKeyReplay", testClaimReplay},
	{"ListClaims", testListClaims},
}

// Task builds an open test task `tasks/<id>` in campaigns/kz with the given deadline and
// no claim limit; options change it.
func Task(id string, deadline time.Time, opts ...func(*rallyv1.Task)) *rallyv1.Task {
	t := &rallyv1.Task{
		Name:         "tasks/" + id,
		Campaign:     "campaigns/kz",
		Kind:         rallyv1.TaskKind_TASK_KIND_SHARE_POST,
		Title:        "Share the fact-checked statement " + id,
		Instructions: "Share it with your followers.",
		Deadline:     timestamppb.New(deadline),
		State:        rallyv1.TaskState_TASK_STATE_OPEN,
		CreateTime:   timestamppb.New(base.Add(-24 * time.Hour)),
		UpdateTime:   timestamppb.New(base.Add(-24 * time.Hour)),
		Etag:         "1",
	}
	for _, o := range opts {
		o(t)
	}
	return t
}

// TaskIn sets the task's campaign `campaigns/<id>`.
func TaskIn(campaign string) func(*rallyv1.Task) {
	return func(t *rallyv1.Task) { t.Campaign = "campaigns/" + campaign }
}

// TaskFor ties the task to `events/<id>` ("" for none).
func TaskFor(event string) func(*rallyv1.Task) {
	return func(t *rallyv1.Task) {
		t.Event = ""
		if event != "" {
			t.Event = "events/" + event
		}
	}
}

// OfKind sets the task's kind.
func OfKind(k rallyv1.TaskKind) func(*rallyv1.Task) {
	return func(t *rallyv1.Task) { t.Kind = k }
}

// InLanguages gives the task one message template per language code.
func InLanguages(codes ...string) func(*rallyv1.Task) {
	return func(t *rallyv1.Task) {
		t.MessageTemplates = nil
		for _, c := range codes {
			t.MessageTemplates = append(t.MessageTemplates, &rallyv1.MessageTemplate{LanguageCode: c, Text: "Solidarity (" + c + ")"})
		}
	}
}

// WithMaxClaims sets max_concurrent_claims.
func WithMaxClaims(n int32) func(*rallyv1.Task) {
	return func(t *rallyv1.Task) { t.MaxConcurrentClaims = n }
}

// WithClaimTTL sets claim_ttl.
func WithClaimTTL(d time.Duration) func(*rallyv1.Task) {
	return func(t *rallyv1.Task) { t.ClaimTtl = durationpb.New(d) }
}

// ClosedTask stores the task CLOSED.
func ClosedTask(t *rallyv1.Task) { t.State = rallyv1.TaskState_TASK_STATE_CLOSED }

// NewClaim builds a claim `tasks/<task>/claims/<id>` made at base, with a token hash
// derived from the id.
func NewClaim(task, id string) store.NewClaim {
	h := sha256.Sum256([]byte("claim-token-" + id))
	return store.NewClaim{
		Claim: &rallyv1.Claim{
			Name:        "tasks/" + task + "/claims/" + id,
			DisplayName: "volunteer " + id,
			CreateTime:  timestamppb.New(base),
		},
		TokenHash: h[:],
	}
}

func createTasks(t *testing.T, s store.Store, tasks ...*rallyv1.Task) {
	t.Helper()
	for _, tk := range tasks {
		if err := s.CreateTask(t.Context(), tk); err != nil {
			t.Fatalf("CreateTask(%s): %v", tk.GetName(), err)
		}
	}
}

func claim(t *testing.T, s store.Store, task, id string, now time.Time) *rallyv1.Claim {
	t.Helper()
	c, err := s.ClaimTask(t.Context(), "tasks/"+task, NewClaim(task, id), now)
	if err != nil {
		t.Fatalf("ClaimTask(%s, %s): %v", task, id, err)
	}
	if c.Replayed || c.Claim.GetState() != rallyv1.ClaimState_CLAIM_STATE_CLAIMED {
		t.Fatalf("ClaimTask(%s, %s) = %v, replayed %v; want a new CLAIMED claim", task, id, c.Claim, c.Replayed)
	}
	return c.Claim
}

// wantProgress fails unless GetTask at now reports the counts.
func wantProgress(t *testing.T, s store.Store, task string, now time.Time, claimed, completed int32) {
	t.Helper()
	got, err := s.GetTask(t.Context(), "tasks/"+task, now)
	if err != nil {
		t.Fatal(err)
	}
	if got.GetProgress().GetClaimed() != claimed || got.GetProgress().GetCompleted() != completed {
		t.Errorf("progress of %s at %v: %v, want claimed %d, completed %d", task, now, got.GetProgress(), claimed, completed)
	}
}

// wantClaim fails unless GetClaim at now returns the state.
func wantClaim(t *testing.T, s store.Store, task, id string, now time.Time, state rallyv1.ClaimState) *rallyv1.Claim {
	t.Helper()
	c, th, err := s.GetClaim(t.Context(), "tasks/"+task+"/claims/"+id, now)
	if err != nil {
		t.Fatal(err)
	}
	if c.GetState() != state {
		t.Errorf("claim %s of %s at %v: %v, want %v", id, task, now, c.GetState(), state)
	}
	if want := NewClaim(task, id).TokenHash; !slices.Equal(th, want) {
		t.Errorf("claim %s: token hash %x, want %x", id, th, want)
	}
	return c
}

// listTasks walks every page of q and returns the IDs in order. Pages are full while a
// token follows, except for State CLOSED lists, which filter (store.TaskQuery.Range).
func listTasks(t *testing.T, s store.Store, q store.TaskQuery, pageSize int) []string {
	t.Helper()
	q.PageSize = pageSize
	var ids []string
	for pages := 1; ; pages++ {
		p, err := s.ListTasks(t.Context(), q)
		if err != nil {
			t.Fatalf("ListTasks(%+v): %v", q, err)
		}
		for _, tk := range p.Items {
			ids = append(ids, store.ID(tk.GetName()))
		}
		if p.NextPageToken == "" {
			return ids
		}
		if len(p.Items) != pageSize && q.State != rallyv1.TaskState_TASK_STATE_CLOSED {
			t.Errorf("ListTasks(%+v): page %d has %d items and a next page, want %d", q, pages, len(p.Items), pageSize)
		}
		if pages > 10000 {
			t.Fatalf("ListTasks(%+v): the pages do not end", q)
		}
		q.PageToken = p.NextPageToken
	}
}

const (
	claimed   = rallyv1.ClaimState_CLAIM_STATE_CLAIMED
	completed = rallyv1.ClaimState_CLAIM_STATE_COMPLETED
	released  = rallyv1.ClaimState_CLAIM_STATE_RELEASED
	expired   = rallyv1.ClaimState_CLAIM_STATE_EXPIRED
)

func testTaskRoundTrip(t *testing.T, s store.Store) {
	ctx := t.Context()
	tk := Task("share-statement", base.Add(72*time.Hour),
		TaskFor("vigil"), InLanguages("en", "kk", "ru"), WithMaxClaims(10), WithClaimTTL(2*time.Hour),
		func(t *rallyv1.Task) {
			t.TargetCompletions = 500
			t.Sources = []*rallyv1.Source{{
				Url: "https://www.hrw.org/news/kz", Title: "Kazakhstan: propaganda law", Publisher: "Human Rights Watch",
				PublishTime: timestamppb.New(base.Add(-60 * 24 * time.Hour)),
			}}
		})
	want := proto.Clone(tk).(*rallyv1.Task)
	want.Progress = &rallyv1.TaskProgress{}
	if err := s.CreateTask(ctx, tk); err != nil {
		t.Fatal(err)
	}
	tk.Title = "changed by the caller after Create"
	if err := s.CreateTask(ctx, Task("share-statement", base)); !errors.Is(err, store.ErrAlreadyExists) {
		t.Errorf("second CreateTask: %v, want ErrAlreadyExists", err)
	}
	if _, err := s.GetTask(ctx, "tasks/missing", base); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("GetTask of a missing task: %v, want ErrNotFound", err)
	}
	if _, err := s.UpdateTask(ctx, "tasks/missing", func(*rallyv1.Task) error { return nil }); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("UpdateTask of a missing task: %v, want ErrNotFound", err)
	}
	got, err := s.GetTask(ctx, want.GetName(), base)
	if err != nil {
		t.Fatal(err)
	}
	if d := diffProto(want, got); d != "" {
		t.Errorf("GetTask (-want +got):\n%s", d)
	}
	got.Sources[0].Title = "changed by the caller after Get"

	claim(t, s, "share-statement", "a", base)
	claim(t, s, "share-statement", "b", base)
	if _, err := s.CompleteClaim(ctx, "tasks/share-statement/claims/b", store.Completion{}, base); err != nil {
		t.Fatal(err)
	}
	want.Progress = &rallyv1.TaskProgress{Claimed: 1, Completed: 1}
	p, err := s.ListTasks(ctx, store.TaskQuery{Now: base, PageSize: 10})
	if err != nil || len(p.Items) != 1 {
		t.Fatalf("ListTasks: %v, %v", p.Items, err)
	}
	if d := diffProto(want, p.Items[0]); d != "" {
		t.Errorf("ListTasks (-want +got):\n%s", d)
	}

	upd, err := s.UpdateTask(ctx, want.GetName(), func(t *rallyv1.Task) error {
		if t.GetProgress().GetClaimed() != 1 || t.GetProgress().GetCompleted() != 1 {
			return fmt.Errorf("mutate sees progress %v, want claimed 1, completed 1", t.GetProgress())
		}
		t.Title, t.Etag = "New title", "2"
		t.Progress = &rallyv1.TaskProgress{Claimed: 99, Completed: 99} // not stored
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	want.Title, want.Etag = "New title", "2"
	if d := diffProto(want, upd); d != "" {
		t.Errorf("UpdateTask (-want +got):\n%s", d)
	}
	upd.Title = "changed by the caller after Update"
	got, err = s.GetTask(ctx, want.GetName(), base)
	if err != nil {
		t.Fatal(err)
	}
	if d := diffProto(want, got); d != "" {
		t.Errorf("GetTask after UpdateTask (-want +got):\n%s", d)
	}
	// Progress is computed at the time asked: once claim a expires, it no longer counts.
	wantProgress(t, s, "share-statement", base.Add(2*time.Hour), 0, 1)
}

func testTaskListOrder(t *testing.T, s store.Store) {
	h := time.Hour
	createTasks(t, s,
		Task("k", base.Add(3*h)),
		Task("b", base.Add(2*h)),
		Task("a", base.Add(2*h)), // same deadline as b: by ID
		Task("z", base.Add(h)),
		Task("m", base.Add(2*h+time.Millisecond)),
		Task("old", time.Date(1969, 7, 20, 20, 17, 0, 0, time.UTC)),
	)
	want := []string{"old", "z", "a", "b", "m", "k"}
	for _, size := range []int{1, 2, 5, 1000} {
		if got := listTasks(t, s, store.TaskQuery{Now: base}, size); !slices.Equal(got, want) {
			t.Errorf("page size %d: %v, want %v", size, got, want)
		}
	}
}

// taskSpec is a task of the filter tests, with what the expected results are computed from.
type taskSpec struct {
	id, campaign, event string
	kind                rallyv1.TaskKind
	langs               []string
	closed              bool
	deadline            time.Duration // after base
}

var (
	share   = rallyv1.TaskKind_TASK_KIND_SHARE_POST
	media   = rallyv1.TaskKind_TASK_KIND_CONTACT_MEDIA
	transl  = rallyv1.TaskKind_TASK_KIND_TRANSLATE
	taskOpn = rallyv1.TaskState_TASK_STATE_OPEN
	taskCls = rallyv1.TaskState_TASK_STATE_CLOSED
)

func filterTasks() []taskSpec {
	h := time.Hour
	return []taskSpec{
		{"a", "c1", "e1", share, []string{"en", "kk"}, false, h},
		{"b", "c1", "", share, []string{"EN"}, false, 2 * h},
		{"c", "c2", "e2", media, []string{"ru", "de-AT"}, false, h},
		{"d", "c1", "e1", media, nil, true, 3 * h},
		{"e", "c2", "", share, []string{"kk"}, false, -h}, // past its deadline
		{"f", "c1", "e1", share, []string{"en"}, true, -2 * h},
		{"g", "c2", "e2", transl, []string{"en", "ru", "En"}, false, 5 * h},
		{"h", "c1", "", media, []string{" de-at "}, false, 0}, // deadline is now: closed
	}
}

func (sp taskSpec) task() *rallyv1.Task {
	opts := []func(*rallyv1.Task){TaskIn(sp.campaign), TaskFor(sp.event), OfKind(sp.kind), InLanguages(sp.langs...)}
	if sp.closed {
		opts = append(opts, ClosedTask)
	}
	return Task(sp.id, base.Add(sp.deadline), opts...)
}

// matches is the expected result of the filters, written independently of the store's.
func (sp taskSpec) matches(q store.TaskQuery) bool {
	hasLang := q.LanguageCode == ""
	for _, l := range sp.langs {
		hasLang = hasLang || strings.EqualFold(strings.TrimSpace(l), q.LanguageCode)
	}
	isClosed := sp.closed || sp.deadline <= 0 // the queries run at base
	return (q.Campaign == "" || q.Campaign == "campaigns/"+sp.campaign) &&
		(q.Event == "" || sp.event != "" && q.Event == "events/"+sp.event) &&
		(q.Kind == 0 || q.Kind == sp.kind) && hasLang &&
		(!(q.OpenOnly || q.State == taskOpn) || !isClosed) &&
		(q.State != taskCls || isClosed)
}

func testTaskListFilters(t *testing.T, s store.Store) {
	specs := filterTasks()
	for _, sp := range specs {
		createTasks(t, s, sp.task())
	}
	// Expected order: by deadline, then ID.
	slices.SortFunc(specs, func(a, b taskSpec) int {
		if a.deadline != b.deadline {
			return int(a.deadline - b.deadline)
		}
		return strings.Compare(a.id, b.id)
	})
	n := 0
	for _, c := range []string{"", "campaigns/c1", "campaigns/c2", "campaigns/none"} {
		for _, e := range []string{"", "events/e1", "events/e2"} {
			for _, k := range []rallyv1.TaskKind{0, share, media, transl} {
				for _, l := range []string{"", "en", "KK", "de-at", "fr"} {
					for _, st := range []rallyv1.TaskState{0, taskOpn, taskCls} {
						for _, open := range []bool{false, true} {
							q := store.TaskQuery{Campaign: c, Event: e, Kind: k, LanguageCode: l, State: st, OpenOnly: open, Now: base}
							var want []string
							for _, sp := range specs {
								if sp.matches(q) {
									want = append(want, sp.id)
								}
							}
							size := 1000
							if n%7 == 0 {
								size = 2 // some pagination across every kind of index
							}
							n++
							if got := listTasks(t, s, q, size); !slices.Equal(got, want) {
								t.Errorf("ListTasks(%+v) = %v, want %v", q, got, want)
							}
						}
					}
				}
			}
		}
	}
}

func testTaskListPagination(t *testing.T, s store.Store) {
	ctx := t.Context()
	var all []string
	for i := range 23 {
		id := fmt.Sprintf("t%02d", i)
		all = append(all, id)
		// Pairs share a deadline, so that pages split ties.
		createTasks(t, s, Task(id, base.Add(time.Duration(1+i/2)*time.Hour), InLanguages("en")))
	}
	for _, size := range []int{1, 2, 3, 10, 22, 23, 24} {
		for _, q := range []store.TaskQuery{{Now: base}, {Now: base, OpenOnly: true}, {Now: base, LanguageCode: "en", Campaign: "campaigns/kz"}} {
			if got := listTasks(t, s, q, size); !slices.Equal(got, all) {
				t.Errorf("size %d, %+v: %v, want %v", size, q, got, all)
			}
		}
	}
	// A token belongs to its query: another filter, another state, another task's claims.
	p, err := s.ListTasks(ctx, store.TaskQuery{Now: base, PageSize: 2})
	if err != nil {
		t.Fatal(err)
	}
	for _, q := range []store.TaskQuery{
		{Now: base, OpenOnly: true},
		{Now: base, State: taskCls},
		{Now: base, LanguageCode: "en"},
		{Now: base, Kind: share},
	} {
		q.PageSize, q.PageToken = 2, p.NextPageToken
		if _, err := s.ListTasks(ctx, q); !errors.Is(err, store.ErrInvalidPageToken) {
			t.Errorf("token of another query used for %+v: %v, want ErrInvalidPageToken", q, err)
		}
	}
	if _, err := s.ListTasks(ctx, store.TaskQuery{Now: base, PageSize: 1, PageToken: "garbage"}); !errors.Is(err, store.ErrInvalidPageToken) {
		t.Errorf("garbage token: %v, want ErrInvalidPageToken", err)
	}
	// OPEN and open_only are the same list: their tokens are interchangeable.
	p, err = s.ListTasks(ctx, store.TaskQuery{Now: base, OpenOnly: true, PageSize: 2})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.ListTasks(ctx, store.TaskQuery{Now: base, State: taskOpn, PageSize: 2, PageToken: p.NextPageToken}); err != nil {
		t.Errorf("open_only token used for State OPEN: %v", err)
	}
}

// testTaskListOpenMovingNow: the pages of an open_only list stay valid while time moves
// on between them, and tasks that pass their deadline meanwhile drop out.
func testTaskListOpenMovingNow(t *testing.T, s store.Store) {
	ctx := t.Context()
	for i := 1; i <= 10; i++ {
		createTasks(t, s, Task(fmt.Sprintf("t%02d", i), base.Add(time.Duration(i)*time.Hour)))
	}
	page := func(q store.TaskQuery) ([]string, string) {
		t.Helper()
		p, err := s.ListTasks(ctx, q)
		if err != nil {
			t.Fatalf("ListTasks(%+v): %v", q, err)
		}
		var ids []string
		for _, tk := range p.Items {
			ids = append(ids, store.ID(tk.GetName()))
		}
		return ids, p.NextPageToken
	}
	q := store.TaskQuery{OpenOnly: true, Now: base, PageSize: 3}
	ids, tok := page(q)
	if want := []string{"t01", "t02", "t03"}; !slices.Equal(ids, want) || tok == "" {
		t.Fatalf("first page at base: %v (token %q), want %v and a token", ids, tok, want)
	}
	// Five hours later: t04 and t05 have passed (t05's deadline is now: closed).
	q.Now, q.PageToken = base.Add(5*time.Hour), tok
	ids, tok = page(q)
	if want := []string{"t06", "t07", "t08"}; !slices.Equal(ids, want) || tok == "" {
		t.Fatalf("second page at base+5h: %v (token %q), want %v and a token", ids, tok, want)
	}
	q.Now, q.PageToken = base.Add(9*time.Hour+time.Millisecond), tok
	ids, tok = page(q)
	if want := []string{"t10"}; !slices.Equal(ids, want) || tok != "" {
		t.Errorf("last page at base+9h: %v (token %q), want %v and no token", ids, tok, want)
	}
	// From the start at a later time: only what is still open.
	for _, st := range []store.TaskQuery{{OpenOnly: true}, {State: taskOpn}} {
		st.Now = base.Add(6 * time.Hour)
		if got, want := listTasks(t, s, st, 2), []string{"t07", "t08", "t09", "t10"}; !slices.Equal(got, want) {
			t.Errorf("%+v: %v, want %v", st, got, want)
		}
	}
	// Without a state filter every task is listed, open or not.
	if got := listTasks(t, s, store.TaskQuery{Now: base.Add(6 * time.Hour)}, 4); len(got) != 10 {
		t.Errorf("all tasks at base+6h: %v, want 10", got)
	}
}

// testTaskListClosed: State CLOSED lists the tasks stored CLOSED and those past their
// deadline.
func testTaskListClosed(t *testing.T, s store.Store) {
	ctx := t.Context()
	for i := 1; i <= 10; i++ {
		createTasks(t, s, Task(fmt.Sprintf("t%02d", i), base.Add(time.Duration(i)*time.Hour)))
	}
	if _, err := s.UpdateTask(ctx, "tasks/t08", func(t *rallyv1.Task) error {
		ClosedTask(t)
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	now := base.Add(5 * time.Hour)
	for _, size := range []int{1, 2, 3, 100} {
		got := listTasks(t, s, store.TaskQuery{State: taskCls, Now: now}, size)
		if want := []string{"t01", "t02", "t03", "t04", "t05", "t08"}; !slices.Equal(got, want) {
			t.Errorf("closed at base+5h, page size %d: %v, want %v", size, got, want)
		}
		got = listTasks(t, s, store.TaskQuery{OpenOnly: true, Now: now}, size)
		if want := []string{"t06", "t07", "t09", "t10"}; !slices.Equal(got, want) {
			t.Errorf("open at base+5h, page size %d: %v, want %v", size, got, want)
		}
	}
	// open_only and State CLOSED contradict each other.
	if got := listTasks(t, s, store.TaskQuery{State: taskCls, OpenOnly: true, Now: now}, 10); len(got) != 0 {
		t.Errorf("open_only with State CLOSED: %v, want nothing", got)
	}
	// The tasks carry their state as stored; closed ones past their deadline included.
	p, err := s.ListTasks(ctx, store.TaskQuery{State: taskCls, Now: now, PageSize: 100})
	if err != nil {
		t.Fatal(err)
	}
	for _, tk := range p.Items {
		if want := map[bool]rallyv1.TaskState{true: taskCls, false: taskOpn}[tk.GetName() == "tasks/t08"]; tk.GetState() != want {
			t.Errorf("%s: state %v, want %v as stored", tk.GetName(), tk.GetState(), want)
		}
	}
}

func testTaskUpdateMovesIndexEntries(t *testing.T, s store.Store) {
	ctx := t.Context()
	createTasks(t, s, Task("x", base.Add(time.Hour), TaskIn("c1"), TaskFor("e1"), OfKind(share), InLanguages("en", "kk")))
	if _, err := s.UpdateTask(ctx, "tasks/x", func(t *rallyv1.Task) error {
		TaskIn("c2")(t)
		TaskFor("")(t)
		OfKind(media)(t)
		InLanguages("ru")(t)
		t.Deadline = timestamppb.New(base.Add(3 * time.Hour))
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		q    store.TaskQuery
		want int
	}{
		{store.TaskQuery{Campaign: "campaigns/c1"}, 0},
		{store.TaskQuery{Event: "events/e1"}, 0},
		{store.TaskQuery{Kind: share}, 0},
		{store.TaskQuery{LanguageCode: "en"}, 0},
		{store.TaskQuery{LanguageCode: "kk", OpenOnly: true}, 0},
		{store.TaskQuery{Campaign: "campaigns/c2", Kind: media, LanguageCode: "RU", OpenOnly: true}, 1},
		{store.TaskQuery{OpenOnly: true, Now: base.Add(2 * time.Hour)}, 1}, // the new deadline
		{store.TaskQuery{}, 1},
	} {
		if tc.q.Now.IsZero() {
			tc.q.Now = base
		}
		if got := listTasks(t, s, tc.q, 10); len(got) != tc.want {
			t.Errorf("ListTasks(%+v) after the update = %v, want %d tasks", tc.q, got, tc.want)
		}
	}
}

// testClaimLimitConcurrent: 300 volunteers claim a task of 50 places at once: exactly 50
// get one.
func testClaimLimitConcurrent(t *testing.T, s store.Store) {
	const n, limit = 300, 50
	ctx := t.Context()
	createTasks(t, s, Task("x", base.Add(24*time.Hour), WithMaxClaims(limit)))
	var wg sync.WaitGroup
	errs := make(chan error, n)
	for i := range n {
		wg.Go(func() {
			_, err := s.ClaimTask(ctx, "tasks/x", NewClaim("x", fmt.Sprintf("c%03d", i)), base)
			errs <- err
		})
	}
	wg.Wait()
	close(errs)
	ok, full := 0, 0
	for err := range errs {
		switch {
		case err == nil:
			ok++
		case errors.Is(err, store.ErrNoRoom):
			full++
		default:
			t.Fatal(err)
		}
	}
	if ok != limit || full != n-limit {
		t.Errorf("%d claims made, %d refused; want %d and %d", ok, full, limit, n-limit)
	}
	wantProgress(t, s, "x", base, limit, 0)
	var all []*rallyv1.Claim
	tok := ""
	for {
		p, err := s.ListClaims(ctx, "tasks/x", 20, tok, base)
		if err != nil {
			t.Fatal(err)
		}
		all = append(all, p.Items...)
		if tok = p.NextPageToken; tok == "" {
			break
		}
	}
	if len(all) != limit {
		t.Errorf("%d claims listed, want %d", len(all), limit)
	}
}

// testClaimExpiry: a claim lasts the task's claim TTL, then expires and frees its place.
func testClaimExpiry(t *testing.T, s store.Store) {
	ctx := t.Context()
	t0 := base
	createTasks(t, s, Task("x", t0.Add(48*time.Hour), WithMaxClaims(1), WithClaimTTL(time.Hour)))
	c := claim(t, s, "x", "a", t0)
	if !c.GetExpireTime().AsTime().Equal(t0.Add(time.Hour)) {
		t.Errorf("expire_time %v, want %v", c.GetExpireTime().AsTime(), t0.Add(time.Hour))
	}
	at59 := t0.Add(59 * time.Minute)
	wantClaim(t, s, "x", "a", at59, claimed)
	wantProgress(t, s, "x", at59, 1, 0)
	if _, err := s.ClaimTask(ctx, "tasks/x", NewClaim("x", "b"), at59); !errors.Is(err, store.ErrNoRoom) {
		t.Errorf("claim while the place is taken: %v, want ErrNoRoom", err)
	}

	at60 := t0.Add(time.Hour)
	wantClaim(t, s, "x", "a", at60, expired)
	wantProgress(t, s, "x", at60, 0, 0)
	b := claim(t, s, "x", "b", at60)
	if !b.GetExpireTime().AsTime().Equal(at60.Add(time.Hour)) {
		t.Errorf("second claim expires at %v, want %v", b.GetExpireTime().AsTime(), at60.Add(time.Hour))
	}
	if _, err := s.CompleteClaim(ctx, "tasks/x/claims/a", store.Completion{ProofURL: "https://example.org/post"}, at60); !errors.Is(err, store.ErrClaimNotOpen) {
		t.Errorf("completing an expired claim: %v, want ErrClaimNotOpen", err)
	}
	if _, err := s.ReleaseClaim(ctx, "tasks/x/claims/a", at60); !errors.Is(err, store.ErrClaimNotOpen) {
		t.Errorf("releasing an expired claim: %v, want ErrClaimNotOpen", err)
	}
	// Even read at an earlier time, a claim that a write has expired stays expired.
	wantClaim(t, s, "x", "a", at59, expired)
	wantProgress(t, s, "x", at60, 1, 0)
	p, err := s.ListClaims(ctx, "tasks/x", 10, "", at60)
	if err != nil {
		t.Fatal(err)
	}
	var states []rallyv1.ClaimState
	for _, c := range p.Items {
		states = append(states, c.GetState())
	}
	if want := []rallyv1.ClaimState{expired, claimed}; !slices.Equal(states, want) {
		t.Errorf("ListClaims states %v, want %v", states, want)
	}
	// Without a claim_ttl a claim lasts 48 hours.
	createTasks(t, s, Task("y", t0.Add(96*time.Hour)))
	if c := claim(t, s, "y", "a", t0); !c.GetExpireTime().AsTime().Equal(t0.Add(store.DefaultClaimTTL)) {
		t.Errorf("default expiry %v, want %v", c.GetExpireTime().AsTime(), t0.Add(store.DefaultClaimTTL))
	}
	wantClaim(t, s, "y", "a", t0.Add(48*time.Hour-time.Millisecond), claimed)
	wantClaim(t, s, "y", "a", t0.Add(48*time.Hour), expired)
}

// testClaimComplete: completing twice counts once; the first proof stays.
func testClaimComplete(t *testing.T, s store.Store) {
	ctx := t.Context()
	createTasks(t, s, Task("x", base.Add(24*time.Hour), WithMaxClaims(1)))
	claim(t, s, "x", "a", base)
	now := base.Add(time.Minute)
	c, err := s.CompleteClaim(ctx, "tasks/x/claims/a", store.Completion{ProofURL: "https://example.org/post/1", Note: "sent to 3 papers"}, now)
	if err != nil {
		t.Fatal(err)
	}
	if c.GetState() != completed || c.GetProofUrl() != "https://example.org/post/1" || c.GetNote() != "sent to 3 papers" {
		t.Errorf("CompleteClaim = %v", c)
	}
	again, err := s.CompleteClaim(ctx, "tasks/x/claims/a", store.Completion{ProofURL: "https://example.org/other", Note: "again"}, now.Add(time.Minute))
	if err != nil {
		t.Fatal(err)
	}
	if d := diffProto(c, again); d != "" {
		t.Errorf("second CompleteClaim changed the claim (-first +second):\n%s", d)
	}
	wantProgress(t, s, "x", now, 0, 1)
	got := wantClaim(t, s, "x", "a", base.Add(100*time.Hour), completed) // completed claims never expire
	if d := diffProto(c, got); d != "" {
		t.Errorf("GetClaim after CompleteClaim (-want +got):\n%s", d)
	}
	// The place is free again.
	claim(t, s, "x", "b", now)
	if _, err := s.ReleaseClaim(ctx, "tasks/x/claims/a", now); !errors.Is(err, store.ErrClaimNotOpen) {
		t.Errorf("releasing a completed claim: %v, want ErrClaimNotOpen", err)
	}
	if _, err := s.CompleteClaim(ctx, "tasks/x/claims/missing", store.Completion{}, now); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("completing a missing claim: %v, want ErrNotFound", err)
	}
	if _, err := s.CompleteClaim(ctx, "tasks/missing/claims/a", store.Completion{}, now); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("completing a claim of a missing task: %v, want ErrNotFound", err)
	}
	// Completing after the task closed is allowed: the work was done while it was open.
	if _, err := s.UpdateTask(ctx, "tasks/x", func(t *rallyv1.Task) error {
		ClosedTask(t)
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	if _, err := s.CompleteClaim(ctx, "tasks/x/claims/b", store.Completion{}, now); err != nil {
		t.Errorf("completing a claim of a closed task: %v", err)
	}
	wantProgress(t, s, "x", now, 0, 2)
}

// testClaimRelease: releasing frees the place; twice is harmless; released claims cannot
// be completed.
func testClaimRelease(t *testing.T, s store.Store) {
	ctx := t.Context()
	createTasks(t, s, Task("x", base.Add(24*time.Hour), WithMaxClaims(1)))
	claim(t, s, "x", "a", base)
	if _, err := s.ClaimTask(ctx, "tasks/x", NewClaim("x", "b"), base); !errors.Is(err, store.ErrNoRoom) {
		t.Fatalf("claim of a full task: %v, want ErrNoRoom", err)
	}
	r, err := s.ReleaseClaim(ctx, "tasks/x/claims/a", base)
	if err != nil || r.GetState() != released {
		t.Fatalf("ReleaseClaim = %v, %v", r, err)
	}
	again, err := s.ReleaseClaim(ctx, "tasks/x/claims/a", base.Add(time.Minute))
	if err != nil {
		t.Fatal(err)
	}
	if d := diffProto(r, again); d != "" {
		t.Errorf("second ReleaseClaim changed the claim (-first +second):\n%s", d)
	}
	wantProgress(t, s, "x", base, 0, 0)
	claim(t, s, "x", "b", base)
	wantProgress(t, s, "x", base, 1, 0)
	if _, err := s.CompleteClaim(ctx, "tasks/x/claims/a", store.Completion{}, base); !errors.Is(err, store.ErrClaimNotOpen) {
		t.Errorf("completing a released claim: %v, want ErrClaimNotOpen", err)
	}
	if _, err := s.ReleaseClaim(ctx, "tasks/x/claims/zzz", base); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("releasing a missing claim: %v, want ErrNotFound", err)
	}
	if _, _, err := s.GetClaim(ctx, "tasks/x/claims/zzz", base); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("GetClaim of a missing claim: %v, want ErrNotFound", err)
	}
}

func testClaimClosedTask(t *testing.T, s store.Store) {
	ctx := t.Context()
	deadline := base.Add(time.Hour)
	createTasks(t, s, Task("closed", base.Add(24*time.Hour), ClosedTask), Task("due", deadline), Task("later", base.Add(24*time.Hour)))
	for _, tc := range []struct {
		task string
		now  time.Time
	}{
		{"closed", base},
		{"due", deadline},
		{"due", deadline.Add(time.Hour)},
	} {
		if _, err := s.ClaimTask(ctx, "tasks/"+tc.task, NewClaim(tc.task, "a"), tc.now); !errors.Is(err, store.ErrTaskClosed) {
			t.Errorf("claim of %s at %v: %v, want ErrTaskClosed", tc.task, tc.now, err)
		}
	}
	claim(t, s, "due", "b", deadline.Add(-time.Millisecond))
	if _, err := s.UpdateTask(ctx, "tasks/later", func(t *rallyv1.Task) error {
		ClosedTask(t)
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	if _, err := s.ClaimTask(ctx, "tasks/later", NewClaim("later", "a"), base); !errors.Is(err, store.ErrTaskClosed) {
		t.Errorf("claim after CloseTask: %v, want ErrTaskClosed", err)
	}
	if _, err := s.ClaimTask(ctx, "tasks/missing", NewClaim("missing", "a"), base); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("claim of a missing task: %v, want ErrNotFound", err)
	}
	wantProgress(t, s, "closed", base, 0, 0)
	wantProgress(t, s, "later", base, 0, 0)
}

// testClaimReplay: a retry with the same request key gets the first claim and token and
// counts nothing, even once the task is full or closed.
func testClaimReplay(t *testing.T, s store.Store) {
	ctx := t.Context()
	createTasks(t, s, Task("x", base.Add(24*time.Hour), WithMaxClaims(1)))
	first := NewClaim("x", "a")
	first.RequestKey, first.SealedToken = "request-key-1", []byte("sealed\x00token")
	c, err := s.ClaimTask(ctx, "tasks/x", first, base)
	if err != nil || c.Replayed {
		t.Fatalf("first ClaimTask = %+v, %v", c, err)
	}
	retry := NewClaim("x", "b") // a retry picks a new ID and token; the key is the same
	retry.RequestKey, retry.SealedToken = first.RequestKey, []byte("other")
	for _, now := range []time.Time{base.Add(time.Minute), base.Add(25 * time.Hour)} { // full, then closed
		r, err := s.ClaimTask(ctx, "tasks/x", retry, now)
		if err != nil {
			t.Fatalf("retry at %v: %v", now, err)
		}
		if !r.Replayed || r.Claim.GetName() != "tasks/x/claims/a" || string(r.SealedToken) != string(first.SealedToken) {
			t.Errorf("retry at %v = %v, replayed %v, sealed %q; want claim a replayed with %q", now, r.Claim, r.Replayed, r.SealedToken, first.SealedToken)
		}
	}
	wantProgress(t, s, "x", base.Add(time.Minute), 1, 0)
	if _, _, err := s.GetClaim(ctx, "tasks/x/claims/b", base); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("the retry's claim was stored: %v", err)
	}
	// Another key is another claim: the task is full.
	other := NewClaim("x", "c")
	other.RequestKey = "request-key-2"
	if _, err := s.ClaimTask(ctx, "tasks/x", other, base); !errors.Is(err, store.ErrNoRoom) {
		t.Errorf("claim with another key: %v, want ErrNoRoom", err)
	}
	// The same claim sent again without a key (a resent call) answers the same; another
	// token under that ID is a collision.
	if r, err := s.ClaimTask(ctx, "tasks/x", NewClaim("x", "a"), base); err != nil || r.Claim.GetName() != "tasks/x/claims/a" {
		t.Errorf("resent claim a: %v, %v", r.Claim, err)
	}
	clash := NewClaim("x", "a")
	clash.TokenHash = []byte("another token hash, 32 bytes lng")
	if _, err := s.ClaimTask(ctx, "tasks/x", clash, base); !errors.Is(err, store.ErrAlreadyExists) {
		t.Errorf("claim a with another token: %v, want ErrAlreadyExists", err)
	}
	wantProgress(t, s, "x", base, 1, 0)
}

func testListClaims(t *testing.T, s store.Store) {
	ctx := t.Context()
	createTasks(t, s, Task("x", base.Add(24*time.Hour)), Task("y", base.Add(24*time.Hour)))
	// IDs in an order other than arrival's, to tell the two apart.
	arrival := []string{"m", "c", "z", "a", "q"}
	for i, id := range arrival {
		claim(t, s, "x", id, base.Add(time.Duration(i)*time.Minute))
	}
	claim(t, s, "y", "other", base)
	if _, err := s.ReleaseClaim(ctx, "tasks/x/claims/z", base); err != nil {
		t.Fatal(err)
	}
	for _, size := range []int{1, 2, 5, 100} {
		var got []string
		tok := ""
		for {
			p, err := s.ListClaims(ctx, "tasks/x", size, tok, base)
			if err != nil {
				t.Fatal(err)
			}
			for _, c := range p.Items {
				got = append(got, store.ID(c.GetName()))
			}
			if tok = p.NextPageToken; tok == "" {
				break
			}
			if len(p.Items) != size {
				t.Errorf("page of %d claims with a token, want %d", len(p.Items), size)
			}
		}
		if !slices.Equal(got, arrival) {
			t.Errorf("page size %d: %v, want %v", size, got, arrival)
		}
	}
	p, err := s.ListClaims(ctx, "tasks/x", 2, "", base)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.ListClaims(ctx, "tasks/y", 2, p.NextPageToken, base); !errors.Is(err, store.ErrInvalidPageToken) {
		t.Errorf("token of another task: %v, want ErrInvalidPageToken", err)
	}
	if _, err := s.ListClaims(ctx, "tasks/x", 2, "garbage", base); !errors.Is(err, store.ErrInvalidPageToken) {
		t.Errorf("garbage token: %v, want ErrInvalidPageToken", err)
	}
	if p, err := s.ListClaims(ctx, "tasks/none", 2, "", base); err != nil || len(p.Items) != 0 {
		t.Errorf("claims of a task without claims: %v, %v", p.Items, err)
	}
	// States as seen at the time asked.
	p, err = s.ListClaims(ctx, "tasks/x", 100, "", base.Add(49*time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range p.Items {
		want := expired
		if c.GetName() == "tasks/x/claims/z" {
			want = released
		}
		if c.GetState() != want {
			t.Errorf("%s at base+49h: %v, want %v", c.GetName(), c.GetState(), want)
		}
	}
}
