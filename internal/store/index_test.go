package store

import (
	"testing"
	"time"
)

// A page token only moves a range forward: one forged to point before the query's
// StartAfter (the fingerprint is not a secret) does not widen the range.
func TestPageTokenDoesNotWidenRange(t *testing.T) {
	start := time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC)
	q := EventQuery{StartAfter: start}
	first, err := q.Range()
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		after string
		want  string
	}{
		{timeKey(start.Add(-time.Hour)) + "x", first.Min},
		{timeKey(start) + "x", "(" + timeKey(start) + "x"},
		{timeKey(start.Add(time.Hour)) + "x", "(" + timeKey(start.Add(time.Hour)) + "x"},
	} {
		q.PageToken = first.NextPageToken(tc.after)
		r, err := q.Range()
		if err != nil {
			t.Fatal(err)
		}
		if r.Min != tc.want {
			t.Errorf("token after %q: Min = %q, want %q", tc.after, r.Min, tc.want)
		}
	}
}

// Keys hold milliseconds: a StartBefore between two milliseconds rounds up, so that the
// events of its millisecond reach Matches, which decides.
func TestStartBeforeRoundsUp(t *testing.T) {
	at := time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC)
	for _, tc := range []struct {
		before time.Time
		want   string
	}{
		{at, "(" + timeKey(at)},
		{at.Add(time.Nanosecond), "(" + timeKey(at.Add(time.Millisecond))},
		{at.Add(999 * time.Microsecond), "(" + timeKey(at.Add(time.Millisecond))},
		{time.Unix(0, -1), "(" + timeKey(time.Unix(0, 0))},
		{time.Unix(0, -int64(time.Millisecond)), "(" + timeKey(time.Unix(0, -int64(time.Millisecond)))},
	} {
		r, err := EventQuery{StartBefore: tc.before}.Range()
		if err != nil {
			t.Fatal(err)
		}
		if r.Max != tc.want {
			t.Errorf("StartBefore %v: Max = %q, want %q", tc.before, r.Max, tc.want)
		}
	}
}

func TestKeyID(t *testing.T) {
	for key, want := range map[string]string{
		timeKey(time.Unix(0, 0)) + "abc": "abc",
		"no-separator":                   "",
	} {
		if got := KeyID(key); got != want {
			t.Errorf("KeyID(%q) = %q, want %q", key, got, want)
		}
	}
}
