package store

import (
	"cmp"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"slices"

	rallyv1 "github.com/rallyhq/rally/gen/go/rally/v1"
)

// Some lists are short by construction and kept newest first: an event's announcements
// (MaxAnnouncements), an event's or a task's audit log (MaxAuditEntries), an organiser's
// API tokens (MaxAPITokens). A backend reads such a list whole and serves one page of it
// with PageNewestFirst, the same way in every backend.

// AnnouncementQuery asks for one page of an event's announcements, newest first.
type AnnouncementQuery struct {
	Event string // `events/{id}`
	// Keep, when set, drops the announcements that the caller may not read before the
	// page is cut, so that a page holds page size readable announcements when there are.
	Keep      func(*rallyv1.Announcement) bool
	PageSize  int
	PageToken string
}

// AuditQuery asks for one page of an event's or a task's audit log, newest first.
type AuditQuery struct {
	Parent    string // `events/{id}` or `tasks/{id}`
	PageSize  int
	PageToken string
}

// APITokenQuery asks for one page of an organiser's API tokens, newest first.
type APITokenQuery struct {
	Organiser string // `organisers/{id}`
	PageSize  int
	PageToken string
}

// AnnouncementKey orders announcements: create time alone. Announcements of the same
// millisecond keep the order of their log, newest first.
func AnnouncementKey(a *rallyv1.Announcement) string {
	return timeKey(a.GetCreateTime().AsTime())
}

// AuditKey orders audit entries: create time alone, as AnnouncementKey.
func AuditKey(e *rallyv1.AuditEntry) string {
	return timeKey(e.GetCreateTime().AsTime())
}

// logToken is the decoded form of a page token of PageNewestFirst: base64url of this JSON.
// The position is the key of the last entry returned and how many entries of that key
// were left for the next pages. Entries added since, newer, sort before the position (an
// entry of the same key before those of its key already there), so that they do not
// shift the pages that follow.
type logToken struct {
	After string `json:"a"`           // key of the last entry of the previous page
	Left  int    `json:"n,omitempty"` // entries of key After not returned yet, the oldest of that key
	List  string `json:"q"`           // fingerprint of the list, so a token is not reused for another
}

func listFingerprint(list string) string {
	sum := sha256.Sum256([]byte("newest-first\x00" + list))
	return base64.RawURLEncoding.EncodeToString(sum[:9])
}

// PageNewestFirst returns the page of items that follows the page token's position, in
// descending order of key (entries of equal key in the order of items), leaving out the
// items that keep (when set) rejects. list names the list (such as "audit|events/e"):
// a token of another list is ErrInvalidPageToken, as is a malformed one. A page size
// below 1 is read as 1.
func PageNewestFirst[T any](list string, items []T, key func(T) string, keep func(T) bool, pageSize int, token string) (Page[T], error) {
	pageSize = min(max(pageSize, 1), maxPageSize)
	fp := listFingerprint(list)
	var pos logToken
	if token != "" {
		raw, err := base64.RawURLEncoding.DecodeString(token)
		if err != nil {
			return Page[T]{}, ErrInvalidPageToken
		}
		if err := json.Unmarshal(raw, &pos); err != nil || pos.After == "" || pos.Left < 0 || pos.List != fp {
			return Page[T]{}, ErrInvalidPageToken
		}
	}
	type entry struct {
		item T
		key  string
	}
	sorted := make([]entry, 0, len(items))
	for _, it := range items {
		if keep == nil || keep(it) {
			sorted = append(sorted, entry{it, key(it)})
		}
	}
	slices.SortStableFunc(sorted, func(a, b entry) int { return cmp.Compare(b.key, a.key) })
	// Skip what the previous pages returned: every key above the position, and all but
	// the last Left entries of its key.
	start := 0
	if token != "" {
		for start < len(sorted) && sorted[start].key > pos.After {
			start++
		}
		end := start
		for end < len(sorted) && sorted[end].key == pos.After {
			end++
		}
		start = max(start, end-pos.Left)
	}
	end := min(start+pageSize, len(sorted))
	p := Page[T]{Items: make([]T, 0, end-start)}
	for _, e := range sorted[start:end] {
		p.Items = append(p.Items, e.item)
	}
	if end < len(sorted) {
		last := sorted[end-1].key
		left := 0
		for i := end; i < len(sorted) && sorted[i].key == last; i++ {
			left++
		}
		raw, _ := json.Marshal(logToken{After: last, Left: left, List: fp})
		p.NextPageToken = base64.RawURLEncoding.EncodeToString(raw)
	}
	return p, nil
}
