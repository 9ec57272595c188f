package hub

import "testing"

const testLifetime = 10_000 // ms

// lifeEntries returns the messages from to to (numbers in the life) of the life that
// began at start.
func lifeEntries(start uint64, from, to uint64) []Entry {
	first := LifeStart(start)
	return entries("t", first+from-1, first+to-1)
}

// span is the span of a life that began at start and has n messages.
func span(start, n uint64) Span {
	first := LifeStart(start)
	return Span{First: first, Last: first + n - 1}
}

func TestResume(t *testing.T) {
	const t0 = 5_000_000 // when life one began
	one := span(t0, 5)
	msg := func(life, n uint64) Cursor { return Cursor{Epoch: 1, Life: life, N: n} }
	empty := func(at uint64) Cursor { return Cursor{Epoch: 1, Life: at} }
	later := uint64(t0 + 3*testLifetime) // long after life one expired
	for _, tc := range []struct {
		name    string
		c       Cursor
		span    Span
		entries []Entry
		now     uint64
		after   uint64 // 0: refused
	}{
		{"message of the life", msg(t0, 3), one, lifeEntries(t0, 4, 5), t0 + 10, one.First + 2},
		{"newest message", msg(t0, 5), one, nil, t0 + 10, one.First + 4},
		{"beyond the end", msg(t0, 6), one, nil, t0 + 10, 0},
		{"trimmed", msg(t0, 1), one, lifeEntries(t0, 3, 5), t0 + 10, 0},
		{"last trimmed", msg(t0, 2), one, lifeEntries(t0, 3, 5), t0 + 10, one.First + 1},
		{"expired, no history", msg(t0, 3), Span{}, nil, later, 0},
		{"expired, history started again", msg(t0, 3), span(later, 5), lifeEntries(later, 1, 5), later + 10, 0},
		{"same number, another life", msg(later, 3), one, lifeEntries(t0, 4, 5), t0 + 10, 0},
		{"an older Rally's history", msg(0, 3), Span{First: 1, Last: 5}, entries("t", 4, 5), t0, 3},
		{"empty head, still empty", empty(t0), Span{}, nil, t0 + testLifetime - 1, EmptyAfter(t0+testLifetime-1, testLifetime)},
		{"empty head, empty too long", empty(t0), Span{}, nil, t0 + testLifetime, 0},
		{"empty head, life begun after it", empty(t0 - 100), one, lifeEntries(t0, 1, 5), t0 + 10, one.First - 1},
		{"empty head, life dated before it (clock)", empty(t0 + 5), one, lifeEntries(t0, 1, 5), t0 + 10, one.First - 1},
		{"empty head, life begun a lifetime after", empty(t0 - testLifetime), one, lifeEntries(t0, 1, 5), t0 + 10, 0},
		{"empty head, life trimmed", empty(t0 - 100), one, lifeEntries(t0, 2, 5), t0 + 10, 0},
		{"empty head from the future", empty(t0 + 2*testLifetime), one, lifeEntries(t0, 1, 5), t0 + 10, 0},
	} {
		after, ok := Resume(tc.c, tc.span, tc.entries, tc.now, testLifetime)
		if ok != (tc.after != 0) || (ok && after != tc.after) {
			t.Errorf("%s: Resume = %d, %v; want %d", tc.name, after, ok, tc.after)
		}
	}
}

func TestFollows(t *testing.T) {
	const t0 = 5_000_000
	one := span(t0, 5)
	later := uint64(t0 + 3*testLifetime)
	emptyAt := EmptyAfter(t0-100, testLifetime)
	for _, tc := range []struct {
		name    string
		after   uint64
		span    Span
		entries []Entry
		now     uint64
		want    bool
	}{
		{"carries on", one.First + 2, one, lifeEntries(t0, 4, 5), t0 + 10, true},
		{"up to date", one.Last, one, nil, t0 + 10, true},
		{"fell behind the history", one.First, one, lifeEntries(t0, 3, 5), t0 + 10, false},
		{"history expired", one.Last, Span{}, nil, t0 + testLifetime + 1, false},
		{"history started again", one.Last, span(later, 2), lifeEntries(later, 1, 2), later, false},
		{"empty topic, still empty", emptyAt, Span{}, nil, t0, true},
		{"empty topic for a lifetime", emptyAt, Span{}, nil, t0 - 100 + testLifetime, false},
		{"empty topic, then a life", emptyAt, one, lifeEntries(t0, 1, 5), t0 + 10, true},
		{"empty topic, then a trimmed life", emptyAt, one, lifeEntries(t0, 2, 5), t0 + 10, false},
		{"empty topic, a life a lifetime later", emptyAt, span(later, 2), lifeEntries(later, 1, 2), later, false},
	} {
		if got := Follows(tc.after, tc.span, tc.entries, tc.now, testLifetime); got != tc.want {
			t.Errorf("%s: Follows = %v, want %v", tc.name, got, tc.want)
		}
	}
}

// A life's positions are beyond those of the lives before it, which expired at least a
// lifetime after their last message.
func TestLivesDoNotOverlap(t *testing.T) {
	const t0 = 5_000_000
	last := LifeStart(t0) + testLifetime*PerMilli/2 // half a message per position a ms, for half a lifetime
	if next := LifeStart(t0 + testLifetime); next <= last {
		t.Fatalf("the next life starts at %d, within the last one (up to %d)", next, last)
	}
	if LifeOf(LifeStart(t0)) != t0 || LifeOf(LifeStart(0)) != 0 || Before(t0)+1 != LifeStart(t0) {
		t.Fatal("LifeStart, LifeOf and Before disagree")
	}
}

func TestReplays(t *testing.T) {
	const t0 = 5_000_000
	one := span(t0, 5)
	later := uint64(t0 + 3*testLifetime)
	// A subscription that read the topic without history at t0-100, whose live feed went
	// into life one (begun at t0) before it joined.
	emptyAt := EmptyAfter(t0-100, testLifetime)
	for _, tc := range []struct {
		name    string
		after   uint64
		span    Span
		entries []Entry
		now     uint64
		want    bool
	}{
		{"carries on", one.First + 2, one, lifeEntries(t0, 4, 5), t0 + 10, true},
		{"fell behind the history", one.First, one, lifeEntries(t0, 3, 5), t0 + 10, false},
		{"history gone", one.First + 2, Span{}, nil, t0 + 10, false},
		{"history started again", one.Last, span(later, 2), lifeEntries(later, 1, 2), later, false},
		{"empty topic, then a life", emptyAt, one, lifeEntries(t0, 1, 5), t0 + 10, true},
		{"empty topic, then a life read in part", emptyAt, one, lifeEntries(t0, 1, 2), t0 + 10, true},
		{"empty topic, then a trimmed life", emptyAt, one, lifeEntries(t0, 2, 5), t0 + 10, false},
		{"empty topic, a life a lifetime later", emptyAt, span(later, 2), lifeEntries(later, 1, 2), later, false},
		{"empty topic, history gone", emptyAt, Span{}, nil, t0, false},
	} {
		if got := Replays(tc.after, tc.span, tc.entries, tc.now, testLifetime); got != tc.want {
			t.Errorf("%s: Replays = %v, want %v", tc.name, got, tc.want)
		}
	}
	// What the replay used to ask, and why it reset such a subscription: the life does not
	// begin right after its position.
	if Continues(emptyAt, one.Last, lifeEntries(t0, 1, 5)) {
		t.Error("Continues carries a position before a life into it; the case above tests nothing")
	}
}
