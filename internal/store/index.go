package store

import (
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/url"
	"strings"
	"time"

	rallyv1 "github.com/rallyhq/rally/gen/go/rally/v1"
	"github.com/rallyhq/rally/internal/names"
)

// Lists are served from ordered indexes so that a page costs the same whatever the number
// of stored resources. An index is a named, ordered set of keys. A key sorts a resource
// by time and then by ID and is fixed-width hex, so that byte order equals time order;
// in Redis an index is a sorted set with every score 0, read with ZRANGE BYLEX.
//
// Every event belongs to one index per combination of the filters it could be listed by
// (campaign, country, locality, represented country), and to the "all" and, while it is
// scheduled, "active" variant of each: at most 32 index entries. An event write updates
// them; a list reads exactly one. Writes are rare and reads frequent, so the trade is
// worth it, and no read ever intersects or scans sets.

// Range is a slice of one index, in Redis ZRANGE BYLEX notation: "-" and "+" are the
// open ends, "[k" includes k and "(k" excludes it.
type Range struct {
	Index string // index name, without the backend's key prefix
	Min   string
	Max   string
	query string // fingerprint of the query's first range, carried by its page tokens
	// filter names a filter applied after the read (TaskQuery's State CLOSED), so that
	// the fingerprint tells apart two queries that read the same index; usually empty.
	filter string
}

// eventDims are the filterable dimensions of an event, in the fixed order of index names.
type eventDims struct {
	campaign, country, locality, represented string
}

// NormalizeLocality returns the form in which localities are indexed and compared, so
// that "Berlin", "berlin" and " BERLIN " match.
func NormalizeLocality(s string) string {
	return strings.ToLower(strings.Join(strings.Fields(s), " "))
}

func indexName(d eventDims, mask int, active bool) string {
	var b strings.Builder
	b.WriteString("ev")
	part := func(bit int, label, v string) {
		if mask&bit != 0 {
			b.WriteString("|" + label + "=" + url.QueryEscape(v))
		}
	}
	part(1, "c", d.campaign)
	part(2, "co", d.country)
	part(4, "lo", d.locality)
	part(8, "rc", d.represented)
	if active {
		b.WriteString("|active")
	} else {
		b.WriteString("|all")
	}
	return b.String()
}

func dimsOf(e *rallyv1.Event) (eventDims, int) {
	d := eventDims{
		campaign:    e.GetCampaign(),
		country:     e.GetVenue().GetCountry(),
		locality:    NormalizeLocality(e.GetVenue().GetLocality()),
		represented: e.GetVenue().GetRepresentedCountry(),
	}
	present := 0
	for bit, v := range map[int]string{1: d.campaign, 2: d.country, 4: d.locality, 8: d.represented} {
		if v != "" {
			present |= bit
		}
	}
	return d, present
}

// EventIndexes returns the names of every index the event belongs to.
func EventIndexes(e *rallyv1.Event) []string {
	d, present := dimsOf(e)
	active := e.GetState() != rallyv1.EventState_EVENT_STATE_CANCELLED
	var names []string
	for mask := 0; mask < 16; mask++ {
		if mask&present != mask {
			continue // the event has no value for a dimension of this index
		}
		names = append(names, indexName(d, mask, false))
		if active {
			names = append(names, indexName(d, mask, true))
		}
	}
	return names
}

// timeKey is the fixed-width, order-preserving prefix of an index key.
func timeKey(t time.Time) string {
	return msKey(t.UnixMilli())
}

// msKey is timeKey of a time in milliseconds since 1970. UnixMilli rounds down (towards
// the past, also before 1970), so a key may hold a time up to 1ms later than it says.
func msKey(ms int64) string {
	// Flipping the sign bit maps int64 order onto uint64 order, so times before 1970
	// still sort correctly.
	return fmt.Sprintf("%016x|", uint64(ms)^(1<<63))
}

// EventKey is the event's key in each of its indexes: start time, then ID.
func EventKey(e *rallyv1.Event) string {
	return timeKey(e.GetStartTime().AsTime()) + ID(e.GetName())
}

// CampaignIndex is the index of all campaigns.
const CampaignIndex = "cp|all"

// CampaignIndexes returns the names of every index the campaign belongs to: CampaignIndex,
// and the invitation index of each organiser it invites (InvitationQuery), so that an
// organiser's pending invitations are listed without reading every campaign.
func CampaignIndexes(c *rallyv1.Campaign) []string {
	names := []string{CampaignIndex}
	for _, inv := range c.GetInvitations() {
		names = append(names, invitationIndex(inv.GetInvitee()))
	}
	return names
}

func invitationIndex(organiser string) string { return "cp|inv=" + url.QueryEscape(ID(organiser)) }

// InvitationQuery selects a page of the campaigns that invite an organiser.
type InvitationQuery struct {
	Organiser string // organisers/{id}
	PageSize  int    // 1 or more; the server applies defaults and bounds
	PageToken string // from the previous page, or empty
}

// Range returns the slice of the organiser's invitation index after the page token's
// position.
func (q InvitationQuery) Range() (Range, error) {
	return Range{Index: invitationIndex(q.Organiser), Min: "-", Max: "+"}.after(q.PageToken)
}

// Matches reports whether the campaign still invites the query's organiser. Backends use
// it to drop index entries that a concurrent or interrupted write left stale.
func (q InvitationQuery) Matches(c *rallyv1.Campaign) bool {
	for _, inv := range c.GetInvitations() {
		if inv.GetInvitee() == q.Organiser {
			return true
		}
	}
	return false
}

// CampaignKey is the campaign's key in CampaignIndex: create time, then ID.
func CampaignKey(c *rallyv1.Campaign) string {
	return timeKey(c.GetCreateTime().AsTime()) + ID(c.GetName())
}

// KeyID returns the resource ID held by an index key (EventKey or CampaignKey): the part
// after the time.
func KeyID(key string) string {
	_, id, _ := strings.Cut(key, "|")
	return id
}

// MaxAPITokens bounds how many tokens of an organiser ListAPITokens reads, oldest first,
// to page through.
const MaxAPITokens = 1000

// APITokenKey is a token's key in its organiser's token index: create time, then ID.
func APITokenKey(t *rallyv1.ApiToken) string {
	return timeKey(t.GetCreateTime().AsTime()) + ID(t.GetName())
}

// APITokenIndexes returns the one index of a token: its organiser's tokens.
func APITokenIndexes(t *rallyv1.ApiToken) []string {
	org, _, _ := strings.Cut(t.GetName(), "/apiTokens/")
	return []string{apiTokenIndex(org)}
}

func apiTokenIndex(organiser string) string { return "tok|o=" + url.QueryEscape(ID(organiser)) }

// APITokenRange is the whole token index of an organiser (`organisers/{id}`).
func APITokenRange(organiser string) Range {
	r, _ := Range{Index: apiTokenIndex(organiser), Min: "-", Max: "+"}.after("")
	return r
}

// OrganiserKeyKey is a key's key in its organiser's key index: create time, then ID.
func OrganiserKeyKey(k *rallyv1.OrganiserKey) string {
	return timeKey(k.GetCreateTime().AsTime()) + ID(k.GetName())
}

// OrganiserKeyIndexes returns the one index of an organiser key: its organiser's keys.
func OrganiserKeyIndexes(k *rallyv1.OrganiserKey) []string {
	org, _, _ := strings.Cut(k.GetName(), "/keys/")
	return []string{organiserKeyIndex(org)}
}

func organiserKeyIndex(organiser string) string {
	return "okey|o=" + url.QueryEscape(ID(organiser))
}

// Range returns the slice of the organiser's key index after the page token's position.
func (q OrganiserKeyQuery) Range() (Range, error) {
	return Range{Index: organiserKeyIndex(q.Organiser), Min: "-", Max: "+"}.after(q.PageToken)
}

// ID returns the last segment of a resource name: "abc" for "events/abc" (names.ID).
func ID(name string) string { return names.ID(name) }

// Matches reports whether the event satisfies the query's filters. Backends use it to
// drop index entries that a concurrent or interrupted write left stale.
func (q EventQuery) Matches(e *rallyv1.Event) bool {
	start := e.GetStartTime().AsTime()
	return (q.Campaign == "" || q.Campaign == e.GetCampaign()) &&
		(q.Country == "" || q.Country == e.GetVenue().GetCountry()) &&
		(q.Locality == "" || NormalizeLocality(q.Locality) == NormalizeLocality(e.GetVenue().GetLocality())) &&
		(q.RepresentedCountry == "" || q.RepresentedCountry == e.GetVenue().GetRepresentedCountry()) &&
		(q.StartAfter.IsZero() || !start.Before(q.StartAfter)) &&
		(q.StartBefore.IsZero() || start.Before(q.StartBefore)) &&
		(q.ShowCancelled || e.GetState() != rallyv1.EventState_EVENT_STATE_CANCELLED)
}

// Range returns the slice of the one index that answers the query, starting after the
// page token's position.
func (q EventQuery) Range() (Range, error) {
	d := eventDims{
		campaign:    q.Campaign,
		country:     q.Country,
		locality:    NormalizeLocality(q.Locality),
		represented: q.RepresentedCountry,
	}
	mask := 0
	for bit, v := range map[int]string{1: d.campaign, 2: d.country, 4: d.locality, 8: d.represented} {
		if v != "" {
			mask |= bit
		}
	}
	r := Range{Index: indexName(d, mask, !q.ShowCancelled), Min: "-", Max: "+"}
	if !q.StartAfter.IsZero() {
		r.Min = "[" + timeKey(q.StartAfter)
	}
	if !q.StartBefore.IsZero() {
		// Keys round start times down to the millisecond, so an event a fraction of a
		// millisecond before a bound that is not a whole millisecond has the bound's key:
		// round the exclusive bound up to keep it in range. Matches then drops the events
		// of that last millisecond that start at or after the bound. (StartAfter needs no
		// such care: rounding it down only lets in events that Matches drops.)
		ms := q.StartBefore.UnixMilli()
		if !time.UnixMilli(ms).Equal(q.StartBefore) {
			ms++
		}
		r.Max = "(" + msKey(ms)
	}
	return r.after(q.PageToken)
}

// Range returns the slice of CampaignIndex after the page token's position.
func (q CampaignQuery) Range() (Range, error) {
	return Range{Index: CampaignIndex, Min: "-", Max: "+"}.after(q.PageToken)
}

// pageToken is the decoded form of a page token. It is opaque to clients: base64url of
// this JSON. It holds no personal data, only the position in an index.
type pageToken struct {
	After string `json:"a"` // last index key of the previous page
	Query string `json:"q"` // fingerprint of the range, so a token is not reused for another query
}

func (r Range) fingerprint() string {
	fp := r.Index + "\x00" + r.Min + "\x00" + r.Max
	if r.filter != "" {
		fp += "\x00" + r.filter
	}
	sum := sha256.Sum256([]byte(fp))
	return base64.RawURLEncoding.EncodeToString(sum[:9])
}

func (r Range) after(token string) (Range, error) {
	r.query = r.fingerprint()
	if token == "" {
		return r, nil
	}
	raw, err := base64.RawURLEncoding.DecodeString(token)
	if err != nil {
		return Range{}, ErrInvalidPageToken
	}
	var t pageToken
	if err := json.Unmarshal(raw, &t); err != nil || t.After == "" || t.Query != r.query {
		return Range{}, ErrInvalidPageToken
	}
	// The token only ever moves the start of the range forward: a forged token that
	// points before the query's own lower bound (StartAfter) must not widen the range.
	if r.Min == "-" || t.After >= r.Min[1:] {
		r.Min = "(" + t.After
	}
	return r, nil
}

// NextPageToken returns the token that continues the list after the given key. Every
// page of one list carries the fingerprint of the list's first range.
func (r Range) NextPageToken(lastKey string) string {
	raw, _ := json.Marshal(pageToken{After: lastKey, Query: r.query})
	return base64.RawURLEncoding.EncodeToString(raw)
}
