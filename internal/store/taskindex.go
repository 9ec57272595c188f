package store

import (
	"fmt"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	rallyv1 "github.com/rallyhq/rally/gen/go/rally/v1"
	"github.com/rallyhq/rally/internal/names"
)

// Tasks are listed like events, from precomputed indexes (see the comment at the top of
// index.go): a task belongs to one index per combination of the filters it could be
// listed by (campaign, event, kind and, once per message template language, language),
// each in the "all" variant and in the variant of its stored state, "open" or "closed".
// With 30 languages that is 8 × 31 × 2 = 496 entries, written only when the task is
// created or updated; a list reads exactly one index.
//
// Times are compared in whole milliseconds everywhere (keys, Lua scripts, the memory
// store): a deadline or claim expiry is past when its millisecond is at or before now's.

// DefaultClaimTTL is how long a claim lasts when its task has no claim_ttl.
const DefaultClaimTTL = 48 * time.Hour

// ClaimTTL returns how long the task's claims last.
func ClaimTTL(t *rallyv1.Task) time.Duration {
	if d := t.GetClaimTtl(); d != nil && d.AsDuration() > 0 {
		return d.AsDuration()
	}
	return DefaultClaimTTL
}

// ClaimsDeleteAt is when a task's claims (pseudonyms, proofs, notes, tokens) are deleted:
// the retention after the last moment a claim can be open, which is the deadline (no claim
// starts after it) plus the claim TTL. The task's counts stay. Both stores apply it: the
// memory store's sweeper, and Redis by PEXPIREAT (task_lib.lua's expire_claims).
func ClaimsDeleteAt(t *rallyv1.Task, retention time.Duration) time.Time {
	return t.GetDeadline().AsTime().Add(ClaimTTL(t) + max(retention, 0))
}

// NormalizeLanguage returns the form in which language codes are indexed and compared,
// so that "de-AT", "de-at" and " DE-AT " match.
func NormalizeLanguage(code string) string {
	return strings.ToLower(strings.TrimSpace(code))
}

// TaskLanguages returns the normalised languages of the task's message templates,
// sorted, without duplicates or empty codes.
func TaskLanguages(t *rallyv1.Task) []string {
	var langs []string
	for _, m := range t.GetMessageTemplates() {
		if l := NormalizeLanguage(m.GetLanguageCode()); l != "" {
			langs = append(langs, l)
		}
	}
	slices.Sort(langs)
	return slices.Compact(langs)
}

// TaskClosed reports whether the task takes no claims at now: it is stored CLOSED or its
// deadline has passed (to the millisecond). A task stored in any other state is open
// until its deadline.
func TaskClosed(t *rallyv1.Task, now time.Time) bool {
	return t.GetState() == rallyv1.TaskState_TASK_STATE_CLOSED ||
		t.GetDeadline().AsTime().UnixMilli() <= now.UnixMilli()
}

// TaskKey is the task's key in each of its indexes: deadline, then ID.
func TaskKey(t *rallyv1.Task) string {
	return timeKey(t.GetDeadline().AsTime()) + ID(t.GetName())
}

// taskDims are the filterable dimensions of a task, in the fixed order of index names.
type taskDims struct {
	campaign, event, kind, language string
}

const (
	taskVariantAll    = "all"
	taskVariantOpen   = "open"
	taskVariantClosed = "closed"
)

func taskIndexName(d taskDims, mask int, variant string) string {
	var b strings.Builder
	b.WriteString("tk")
	part := func(bit int, label, v string) {
		if mask&bit != 0 {
			b.WriteString("|" + label + "=" + url.QueryEscape(v))
		}
	}
	part(1, "c", d.campaign)
	part(2, "e", d.event)
	part(4, "k", d.kind)
	part(8, "l", d.language)
	b.WriteString("|" + variant)
	return b.String()
}

func kindDim(k rallyv1.TaskKind) string {
	if k == rallyv1.TaskKind_TASK_KIND_UNSPECIFIED {
		return ""
	}
	return strconv.Itoa(int(k))
}

// TaskIndexes returns the names of every index the task belongs to.
func TaskIndexes(t *rallyv1.Task) []string {
	d := taskDims{campaign: t.GetCampaign(), event: t.GetEvent(), kind: kindDim(t.GetKind())}
	present := 0
	for bit, v := range map[int]string{1: d.campaign, 2: d.event, 4: d.kind} {
		if v != "" {
			present |= bit
		}
	}
	variant := taskVariantOpen
	if t.GetState() == rallyv1.TaskState_TASK_STATE_CLOSED {
		variant = taskVariantClosed
	}
	langs := append([]string{""}, TaskLanguages(t)...)
	var names []string
	for mask := 0; mask < 8; mask++ {
		if mask&present != mask {
			continue // the task has no value for a dimension of this index
		}
		for _, l := range langs {
			d.language = l
			m := mask
			if l != "" {
				m |= 8
			}
			names = append(names, taskIndexName(d, m, taskVariantAll), taskIndexName(d, m, variant))
		}
	}
	return names
}

// wantOpen and wantClosed say which state the query asks for. OpenOnly and State CLOSED
// together match nothing.
func (q TaskQuery) wantOpen() bool   { return q.OpenOnly || q.State == rallyv1.TaskState_TASK_STATE_OPEN }
func (q TaskQuery) wantClosed() bool { return q.State == rallyv1.TaskState_TASK_STATE_CLOSED }

// Matches reports whether the task satisfies the query's filters at q.Now. Backends use
// it to drop index entries that a concurrent or interrupted write left stale, and to
// answer State CLOSED (see Range).
func (q TaskQuery) Matches(t *rallyv1.Task) bool {
	if q.Campaign != "" && q.Campaign != t.GetCampaign() ||
		q.Event != "" && q.Event != t.GetEvent() ||
		q.Kind != rallyv1.TaskKind_TASK_KIND_UNSPECIFIED && q.Kind != t.GetKind() {
		return false
	}
	if l := NormalizeLanguage(q.LanguageCode); l != "" && !slices.Contains(TaskLanguages(t), l) {
		return false
	}
	closed := TaskClosed(t, q.Now)
	return !(q.wantOpen() && closed) && !(q.wantClosed() && !closed)
}

// Range returns the slice of the one index that answers the query, after its page token.
//
//   - Open tasks (OpenOnly or State OPEN) are read from the "open" variant from the
//     first deadline after Now on. That bound is not part of the page token's
//     fingerprint, so the pages of one list stay valid while Now moves on between them.
//   - Closed tasks (State CLOSED) are those stored CLOSED and those past their deadline,
//     which no single index holds: they are read from the "all" variant and Matches
//     keeps the closed ones. Pages of such a list may therefore be short, or even empty
//     while a next page token follows (ReadPage); the cost of a page stays bounded by
//     its size.
//   - Otherwise the "all" variant.
func (q TaskQuery) Range() (Range, error) {
	d := taskDims{
		campaign: q.Campaign,
		event:    q.Event,
		kind:     kindDim(q.Kind),
		language: NormalizeLanguage(q.LanguageCode),
	}
	mask := 0
	for bit, v := range map[int]string{1: d.campaign, 2: d.event, 4: d.kind, 8: d.language} {
		if v != "" {
			mask |= bit
		}
	}
	variant := taskVariantAll
	if q.wantOpen() {
		variant = taskVariantOpen
	}
	r := Range{Index: taskIndexName(d, mask, variant), Min: "-", Max: "+"}
	if q.wantClosed() {
		r.filter = "closed"
	}
	r, err := r.after(q.PageToken)
	if err != nil || !q.wantOpen() {
		return r, err
	}
	// Deadline after now, in milliseconds: at or after now's millisecond plus one.
	lo := msKey(q.Now.UnixMilli() + 1)
	if r.Min == "-" || lo > r.Min[1:] {
		r.Min = "[" + lo
	}
	return r, nil
}

// ClaimKey is a claim's key in its task's claim index: the arrival sequence number in
// fixed-width hex, then the ID, so that byte order is arrival order.
func ClaimKey(seq int64, id string) string { return fmt.Sprintf("%016x|%s", seq, id) }

// ClaimIndex names the index of a task's claims, in arrival order. Backends keep it with
// the task's claims.
func ClaimIndex(task string) string { return "claim|" + ID(task) }

// ClaimRange returns the task's whole claim index after the page token's position. The
// token is bound to the task: another task's token is ErrInvalidPageToken.
func ClaimRange(task, pageToken string) (Range, error) {
	return Range{Index: ClaimIndex(task), Min: "-", Max: "+"}.after(pageToken)
}

// TaskOfClaim returns the task `tasks/{t}` of a claim name `tasks/{t}/claims/{c}`, ""
// for another name (names.TaskOfClaim).
func TaskOfClaim(name string) string { return names.TaskOfClaim(name) }

// ClaimExpired reports whether an open claim that expires at expire has expired at now,
// in whole milliseconds like the rest of the task code.
func ClaimExpired(expire, now time.Time) bool {
	return expire.UnixMilli() <= now.UnixMilli()
}
